//! Money at the desk as plain data: prices, the ledger's rows, balances, receipts
//! and the till. No SQL here (that is `store::payments`) and no permissions (that
//! is the payments operations).
//!
//! Money is an `i64` of minor units (cents) with the clinic's ISO 4217 currency,
//! never a float. Amounts typed at the desk ("12.50", "12,50", "12") are parsed
//! here once, exactly, into minor units.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};

/// The largest amount one row may carry (one million in major units).
pub const MAX_AMOUNT_MINOR: i64 = 100_000_000;

/// How a payment was made (a refund goes back the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[ts(export)]
pub enum PaymentMethod {
    /// Cash into the till.
    Cash,
    /// A card on the terminal; the terminal's receipt number is the reference.
    Card,
    /// A bank transfer; its reference.
    Transfer,
    /// An invoice the patient pays later.
    Invoice,
    /// Insurance, or no charge to the patient.
    Insurance,
}

impl PaymentMethod {
    /// Every method, in the order the desk lists them.
    pub const ALL: [PaymentMethod; 5] = [
        PaymentMethod::Cash,
        PaymentMethod::Card,
        PaymentMethod::Transfer,
        PaymentMethod::Invoice,
        PaymentMethod::Insurance,
    ];

    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Cash => "CASH",
            PaymentMethod::Card => "CARD",
            PaymentMethod::Transfer => "TRANSFER",
            PaymentMethod::Invoice => "INVOICE",
            PaymentMethod::Insurance => "INSURANCE",
        }
    }

    /// For receipts and reports.
    pub fn label(self) -> &'static str {
        match self {
            PaymentMethod::Cash => "Cash",
            PaymentMethod::Card => "Card",
            PaymentMethod::Transfer => "Bank transfer",
            PaymentMethod::Invoice => "Invoice",
            PaymentMethod::Insurance => "Insurance / no charge",
        }
    }
}

impl fmt::Display for PaymentMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PaymentMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let norm = s.trim().to_ascii_uppercase();
        PaymentMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == norm)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown payment method {s:?}; use one of CASH, CARD, TRANSFER, INVOICE, INSURANCE"
                ))
            })
    }
}

/// What a ledger row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[ts(export)]
pub enum LedgerKind {
    /// What the appointment costs.
    Charge,
    /// A charge no longer owed (the appointment was cancelled or missed).
    Waive,
    /// Money received.
    Payment,
    /// Money given back, against one payment.
    Refund,
}

impl LedgerKind {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Charge => "CHARGE",
            LedgerKind::Waive => "WAIVE",
            LedgerKind::Payment => "PAYMENT",
            LedgerKind::Refund => "REFUND",
        }
    }
}

impl FromStr for LedgerKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "CHARGE" => Ok(LedgerKind::Charge),
            "WAIVE" => Ok(LedgerKind::Waive),
            "PAYMENT" => Ok(LedgerKind::Payment),
            "REFUND" => Ok(LedgerKind::Refund),
            _ => Err(Error::invalid(format!("unknown ledger kind {s:?}"))),
        }
    }
}

/// One row of the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct LedgerEntry {
    /// Row id.
    #[ts(type = "number")]
    pub id: i64,
    /// The appointment it belongs to.
    #[ts(type = "number")]
    pub appointment_id: i64,
    /// The appointment's patient.
    #[ts(type = "number")]
    pub patient_id: i64,
    /// Charge, waiver, payment or refund.
    pub kind: LedgerKind,
    /// Always positive; the kind gives the sign.
    #[ts(type = "number")]
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// For payments and refunds.
    pub method: Option<PaymentMethod>,
    /// The card terminal's receipt number, a transfer's reference.
    pub reference: String,
    /// The payment a refund returns.
    #[ts(type = "number | null")]
    pub refund_of: Option<i64>,
    /// Why (refunds and waivers).
    pub reason: String,
    /// "2026-000042" for payments and refunds.
    pub receipt: Option<String>,
    /// Who took it.
    pub created_by: String,
    /// When (Unix seconds).
    #[ts(type = "number")]
    pub created_at: i64,
}

/// The sums of an appointment's (or a patient's) ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct Balance {
    /// Charged.
    #[ts(type = "number")]
    pub charged: i64,
    /// Charges waived.
    #[ts(type = "number")]
    pub waived: i64,
    /// Received.
    #[ts(type = "number")]
    pub paid: i64,
    /// Given back.
    #[ts(type = "number")]
    pub refunded: i64,
}

impl Balance {
    /// The sums of `entries`.
    pub fn of(entries: &[LedgerEntry]) -> Self {
        let mut b = Balance::default();
        for e in entries {
            b.add(e.kind, e.amount_minor);
        }
        b
    }

    /// Adds one row.
    pub fn add(&mut self, kind: LedgerKind, amount: i64) {
        match kind {
            LedgerKind::Charge => self.charged += amount,
            LedgerKind::Waive => self.waived += amount,
            LedgerKind::Payment => self.paid += amount,
            LedgerKind::Refund => self.refunded += amount,
        }
    }

    /// What is still owed (negative: paid more than owed, a credit).
    pub fn due(&self) -> i64 {
        (self.charged - self.waived) - (self.paid - self.refunded)
    }

    /// What was received and kept.
    pub fn net_paid(&self) -> i64 {
        self.paid - self.refunded
    }
}

/// An appointment type with its price.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct AppointmentType {
    /// Row id.
    #[ts(type = "number")]
    pub id: i64,
    /// "Check-up", "Vaccination".
    pub name: String,
    /// The clinic's price in minor units.
    #[ts(type = "number")]
    pub price_minor: i64,
    /// The reason a booking of this type gets when none is typed.
    pub default_reason: String,
    /// Offered for new bookings.
    pub active: bool,
    /// Doctors with their own price: (doctor id, price).
    pub doctor_prices: Vec<DoctorPrice>,
}

impl AppointmentType {
    /// The price with `doctor_id`.
    pub fn price_for(&self, doctor_id: i64) -> i64 {
        self.doctor_prices
            .iter()
            .find(|p| p.doctor_id == doctor_id)
            .map_or(self.price_minor, |p| p.price_minor)
    }
}

/// A doctor's own price for a type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DoctorPrice {
    /// The doctor.
    #[ts(type = "number")]
    pub doctor_id: i64,
    /// Their price in minor units.
    #[ts(type = "number")]
    pub price_minor: i64,
}

/// A receipt number as printed: the year and the number, "2026-000042".
pub fn receipt_number(year: i64, no: i64) -> String {
    format!("{year}-{no:06}")
}

/// The number of minor units in one major unit of `currency` (ISO 4217
/// exponents; 100 for every currency not listed).
pub fn minor_per_major(currency: &str) -> i64 {
    match currency {
        "JPY" | "KRW" | "ISK" | "CLP" | "VND" | "XAF" | "XOF" | "HUF" => 1,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "IQD" | "LYD" => 1000,
        _ => 100,
    }
}

/// Checks an ISO 4217 code: three letters, upper-cased.
pub fn parse_currency(code: &str) -> Result<String> {
    let c = code.trim().to_ascii_uppercase();
    if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()) {
        Ok(c)
    } else {
        Err(Error::invalid(format!(
            "{code:?} is not a currency code; use three letters such as EUR or USD"
        )))
    }
}

/// Parses an amount typed at the desk ("12.50", "12,50", "12", "0.5") exactly into
/// minor units of `currency`. Refuses negative amounts, more decimals than the
/// currency has, and anything above [`MAX_AMOUNT_MINOR`].
pub fn parse_amount(text: &str, currency: &str) -> Result<i64> {
    let t = text.trim();
    let bad = || {
        Error::invalid(format!(
            "{t:?} is not an amount; type it like 12.50 (at most {} decimals)",
            decimals(currency)
        ))
    };
    let (whole, frac) = match t.split_once(['.', ',']) {
        Some((w, f)) => (w, f),
        None => (t, ""),
    };
    if whole.is_empty() && frac.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
        || whole.len() > 9
        || frac.len() > decimals(currency)
    {
        return Err(bad());
    }
    let scale = minor_per_major(currency);
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let mut minor = 0;
    let mut unit = scale;
    for d in frac.chars() {
        unit /= 10;
        minor += (d as i64 - '0' as i64) * unit;
    }
    let total = whole * scale + minor;
    check_amount(total)?;
    Ok(total)
}

/// Refuses an amount that is not positive or above [`MAX_AMOUNT_MINOR`].
pub fn check_amount(minor: i64) -> Result<()> {
    if minor <= 0 {
        Err(Error::invalid("the amount must be more than zero"))
    } else if minor > MAX_AMOUNT_MINOR {
        Err(Error::invalid("the amount is too large"))
    } else {
        Ok(())
    }
}

fn decimals(currency: &str) -> usize {
    match minor_per_major(currency) {
        1 => 0,
        1000 => 3,
        _ => 2,
    }
}

/// "12.50 EUR": minor units as the currency writes them, for receipts and CSV.
pub fn format_amount(minor: i64, currency: &str) -> String {
    let scale = minor_per_major(currency);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let scale_u = scale as u64;
    if scale == 1 {
        format!("{sign}{abs} {currency}")
    } else {
        let width = decimals(currency);
        format!(
            "{sign}{}.{:0width$} {currency}",
            abs / scale_u,
            abs % scale_u
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_parsed_exactly_and_bad_ones_refused() {
        assert_eq!(parse_amount("12.50", "EUR").unwrap(), 1250);
        assert_eq!(parse_amount("12,5", "EUR").unwrap(), 1250);
        assert_eq!(parse_amount(" 12 ", "EUR").unwrap(), 1200);
        assert_eq!(parse_amount("0.01", "EUR").unwrap(), 1);
        assert_eq!(parse_amount(".5", "EUR").unwrap(), 50);
        assert_eq!(parse_amount("1000", "JPY").unwrap(), 1000);
        assert_eq!(parse_amount("1.234", "KWD").unwrap(), 1234);
        for bad in [
            "", "-1", "1.234", "1e3", "12.5.0", "0", "0.00", "abc", "1 000", "1000001", "NaN",
        ] {
            assert!(parse_amount(bad, "EUR").is_err(), "{bad:?} must be refused");
        }
        assert!(parse_amount("1.5", "JPY").is_err());
    }

    #[test]
    fn amounts_format_back_as_typed() {
        assert_eq!(format_amount(1250, "EUR"), "12.50 EUR");
        assert_eq!(format_amount(5, "EUR"), "0.05 EUR");
        assert_eq!(format_amount(-1250, "USD"), "-12.50 USD");
        assert_eq!(format_amount(1000, "JPY"), "1000 JPY");
        assert_eq!(format_amount(1234, "KWD"), "1.234 KWD");
        for minor in [1, 99, 100, 12_345, MAX_AMOUNT_MINOR] {
            let text = format_amount(minor, "EUR");
            let number = text.trim_end_matches(" EUR");
            assert_eq!(parse_amount(number, "EUR").unwrap(), minor);
        }
    }

    #[test]
    fn the_balance_is_what_is_owed_minus_what_was_kept() {
        let mut b = Balance::default();
        b.add(LedgerKind::Charge, 5000);
        b.add(LedgerKind::Payment, 2000);
        assert_eq!(b.due(), 3000);
        b.add(LedgerKind::Refund, 500);
        assert_eq!(b.due(), 3500);
        assert_eq!(b.net_paid(), 1500);
        b.add(LedgerKind::Waive, 3500);
        assert_eq!(b.due(), 0);
        assert_eq!(receipt_number(2026, 42), "2026-000042");
        assert!("card".parse::<PaymentMethod>().is_ok());
        assert!("cheque".parse::<PaymentMethod>().is_err());
    }
}
