-- What was already refunded of a payment is summed over its refunds when an
-- admin refunds it (inside the write lock); without an index that read walked
-- the whole ledger, years of it in a clinic, every time.
CREATE INDEX ledger_refunds ON ledger (refund_of) WHERE refund_of IS NOT NULL;
