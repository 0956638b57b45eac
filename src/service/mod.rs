//! The operations the desk performs, one module per area. Each public method:
//! checks the actor's permission, validates and parses its input, does any slow
//! work (hashing, formatting) outside the lock, then makes its change in exactly
//! one write transaction together with an audit row.

pub mod demo;
pub mod export;
pub mod session;
pub mod settings;

mod appointments;
mod audit_log;
mod backup;
mod clinic;
mod diagnostics;
mod doctors;
mod generate;
mod keys;
mod move_to;
mod otp;
mod outbox;
mod overbook;
mod patients;
pub(crate) mod payments;
mod reminders;
mod reports;
mod series;
mod sign_in;
mod slots;
mod staff;
mod templates;
mod undo;
mod waitlist;

pub use appointments::BookRequest;
pub use backup::{BackupList, BACKUP_INTERVAL_SECS};
pub use generate::{GenerationSteps, PART_WRITES};
pub use keys::{Encryption, RecoveryKey};
pub(crate) use move_to::moved_away;
pub use move_to::{MoveReport, MOVED_TO_KEY};
pub use otp::{check_text_capable, generate_code, OtpRequested, PhoneVerified};
pub use outbox::{DeliveryReport, SenderStatus};
pub use patients::PatientUpdate;
pub use payments::{
    keys as payment_keys, Account, Booked, CashCount, CashUpLine, ClosingEffect, DepositPolicy,
    NewAppointmentType, NewPayment, PaymentSettings, Receipt, ReceiptItem, Till, TillLine,
    CASH_UP_COLUMNS, DEFAULT_CURRENCY,
};
pub(crate) use reminders::reminders_of;
pub use reminders::{limits as reminder_limits, ReminderReport};
pub(crate) use reports::range_bounds;
pub use reports::{Report, ReportPeriod, ReportRow};
pub use series::MAX_OCCURRENCES;
pub use slots::DayView;
pub use staff::{DemoAccount, NewStaff};
pub use undo::{Undo, Undone, UNDO_LIMIT_SECS, UNDO_WINDOW_SECS};

use crate::domain::auth::Actor;
use crate::storage;
use crate::storage::Conn;

/// Appends the audit row for a change, inside the change's transaction.
pub(crate) fn audit(
    conn: &Conn,
    now: i64,
    actor: &Actor,
    action: &str,
    entity: &str,
    entity_id: Option<i64>,
    detail: &str,
) -> crate::Result<()> {
    storage::audit::record(conn, now, &actor.label(), action, entity, entity_id, detail)?;
    Ok(())
}
