//! Payments at the desk: prices, pay-and-book, paying later, refunds, the
//! cancellation policy for deposits, receipts and closing the till.
//!
//! **One transaction.** Pay-and-book is a booking: the same free-slot check and
//! insert as every other booking path (see the appointments operations), with the
//! charge and the payment appended in the same write transaction, so both commit
//! or neither does; a payment for a slot taken meanwhile is refused and leaves no
//! row. A payment later goes to an appointment that exists and is not cancelled,
//! for at most what is still owed.
//!
//! **A ledger, not a field.** Every charge, waiver, payment and refund is a new
//! `ledger` row, audited with who took it; triggers refuse UPDATE and DELETE, and
//! `check` reconciles the sums. A refund is an admin's, names the payment it
//! returns and a reason, and never exceeds what is left of that payment.
//!
//! **Receipts** are numbered per clinic and calendar year, 1, 2, 3…: the number is
//! `max + 1` taken inside the write transaction that records the payment, so a
//! rolled-back payment takes no number (no gaps) and the UNIQUE index refuses a
//! duplicate whatever the code does.
//!
//! **Cancellation policy.** When an appointment is cancelled or marked a no-show,
//! its charge is settled in the same transaction: an early cancellation (more
//! than `payments.late_cancel_hours` before the start) refunds what was paid and
//! waives the charge; a late cancellation or a no-show keeps the deposit
//! (`payments.late_deposit = keep`, waiving only the rest) or refunds it
//! (`refund`). [`Frontdesk::closing_preview`] says which before the desk confirms.
//!
//! **The till.** A desk is the signed-in staff account (as for passcodes).
//! Closing the till records, per method, what the ledger expects that desk took on
//! that clinic-local day and what was counted; closing again adds a newer count.

use chrono::Datelike;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::domain::auth::{Action, Actor};
use crate::domain::clinic::{optional_text, parse_date, today, ClinicSettings};
use crate::domain::model::{Appointment, AppointmentStatus};
use crate::domain::payments::{
    check_amount, format_amount, parse_currency, AppointmentType, Balance, DoctorPrice,
    LedgerEntry, LedgerKind, PaymentMethod, MAX_AMOUNT_MINOR,
};
use crate::error::{Error, Result};
use crate::service::appointments::BookRequest;
use crate::service::audit;
use crate::storage::payments::{self as store, NewEntry};
use crate::storage::Conn;
use crate::storage::{appointments, doctors, settings};
use crate::Frontdesk;

/// Setting keys of payments.
pub mod keys {
    /// ISO 4217 currency of every price and payment.
    pub const CURRENCY: &str = "clinic.currency";
    /// The clinic's address, printed on receipts.
    pub const ADDRESS: &str = "clinic.address";
    /// The clinic's tax number, printed on receipts.
    pub const TAX_NUMBER: &str = "clinic.tax_number";
    /// Hours before the start from which a cancellation is late.
    pub const LATE_CANCEL_HOURS: &str = "payments.late_cancel_hours";
    /// `keep` or `refund`: the deposit on a late cancellation or a no-show.
    pub const LATE_DEPOSIT: &str = "payments.late_deposit";
}

/// The currency a clinic that never chose one uses.
pub const DEFAULT_CURRENCY: &str = "EUR";
/// Hours before the start from which a cancellation is late, by default.
pub const DEFAULT_LATE_CANCEL_HOURS: u32 = 24;

/// What happens to a deposit on a late cancellation or a no-show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[ts(export)]
pub enum DepositPolicy {
    /// The clinic keeps what was paid; the rest of the charge is waived.
    Keep,
    /// What was paid is refunded; the charge is waived.
    Refund,
}

impl DepositPolicy {
    /// Parses the setting's value.
    pub fn parse(value: &str) -> Result<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "keep" => Ok(DepositPolicy::Keep),
            "refund" => Ok(DepositPolicy::Refund),
            _ => Err(Error::invalid(format!(
                "{} must be keep or refund",
                keys::LATE_DEPOSIT
            ))),
        }
    }

    /// The setting's value.
    pub fn as_str(self) -> &'static str {
        match self {
            DepositPolicy::Keep => "keep",
            DepositPolicy::Refund => "refund",
        }
    }
}

/// The clinic's money settings.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct PaymentSettings {
    /// ISO 4217.
    pub currency: String,
    /// Printed on receipts.
    pub address: String,
    /// Printed on receipts.
    pub tax_number: String,
    /// A cancellation this many hours or less before the start is late.
    pub late_cancel_hours: u32,
    /// The deposit on a late cancellation or a no-show.
    pub late_deposit: DepositPolicy,
}

impl PaymentSettings {
    /// Loads them, with defaults for keys never set.
    pub fn load(conn: &Conn) -> Result<Self> {
        // one query: a cancellation reads them inside its write transaction
        let [currency, address, tax_number, late_cancel_hours, late_deposit] = settings::get_many(
            conn,
            [
                keys::CURRENCY,
                keys::ADDRESS,
                keys::TAX_NUMBER,
                keys::LATE_CANCEL_HOURS,
                keys::LATE_DEPOSIT,
            ],
        )?;
        Ok(PaymentSettings {
            currency: currency.unwrap_or_else(|| DEFAULT_CURRENCY.into()),
            address: address.unwrap_or_default(),
            tax_number: tax_number.unwrap_or_default(),
            late_cancel_hours: late_cancel_hours
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_LATE_CANCEL_HOURS),
            late_deposit: late_deposit
                .and_then(|v| DepositPolicy::parse(&v).ok())
                .unwrap_or(DepositPolicy::Keep),
        })
    }
}

/// Validates a payments setting's value; the text to store.
pub(crate) fn check_setting(key: &str, value: &str) -> Result<Option<String>> {
    Ok(Some(match key {
        keys::CURRENCY => parse_currency(value)?,
        keys::ADDRESS => optional_text("the address", value, 300)?,
        keys::TAX_NUMBER => optional_text("the tax number", value, 60)?,
        keys::LATE_CANCEL_HOURS => match value.trim().parse::<u32>() {
            Ok(h) if h <= 24 * 14 => h.to_string(),
            _ => {
                return Err(Error::invalid(format!(
                    "{key} must be a whole number of hours from 0 to 336"
                )))
            }
        },
        keys::LATE_DEPOSIT => DepositPolicy::parse(value)?.as_str().to_string(),
        _ => return Ok(None),
    }))
}

/// A new appointment type.
#[derive(Debug, Clone, Default, Deserialize, TS)]
#[ts(export)]
pub struct NewAppointmentType {
    /// "Check-up".
    pub name: String,
    /// The clinic's price in minor units.
    #[ts(type = "number")]
    pub price_minor: i64,
    /// The reason a booking of this type gets when none is typed.
    #[serde(default)]
    pub default_reason: String,
}

/// A payment taken at the desk.
#[derive(Debug, Clone, Deserialize, TS)]
#[ts(export)]
pub struct NewPayment {
    /// Minor units, more than zero and at most what is owed.
    #[ts(type = "number")]
    pub amount_minor: i64,
    /// How.
    pub method: PaymentMethod,
    /// The card terminal's receipt number (needed for cards), a transfer's reference.
    #[serde(default)]
    pub reference: String,
}

/// An appointment's money: its rows and sums.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct Account {
    /// The appointment.
    #[ts(type = "number")]
    pub appointment_id: i64,
    /// The type it was booked as.
    #[ts(type = "number | null")]
    pub type_id: Option<i64>,
    /// ISO 4217.
    pub currency: String,
    /// Every row, oldest first.
    pub entries: Vec<LedgerEntry>,
    /// The sums.
    pub balance: Balance,
    /// Still owed (the sums' [`Balance::due`]).
    #[ts(type = "number")]
    pub due: i64,
}

/// A booking with its money.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct Booked {
    /// The new appointment.
    pub appointment: Appointment,
    /// Its charge and payment.
    pub account: Account,
}

/// What closing an appointment (cancel, no-show) does to its money.
#[derive(Debug, Clone, Default, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct ClosingEffect {
    /// Paid back, in total.
    #[ts(type = "number")]
    pub refund_minor: i64,
    /// Charge no longer owed.
    #[ts(type = "number")]
    pub waive_minor: i64,
    /// Paid and kept by the clinic.
    #[ts(type = "number")]
    pub kept_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// One sentence for the desk ("The deposit of 20.00 EUR is kept: late cancellation.").
    pub summary: String,
}

/// One item on a receipt.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct ReceiptItem {
    /// What.
    pub description: String,
    /// Minor units.
    #[ts(type = "number")]
    pub amount_minor: i64,
}

/// A printable receipt for a payment or a refund.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct Receipt {
    /// "2026-000042".
    pub number: String,
    /// Payment or refund.
    pub kind: LedgerKind,
    /// Clinic name.
    pub clinic: String,
    /// Clinic address.
    pub address: String,
    /// Clinic tax number.
    pub tax_number: String,
    /// Patient's name.
    pub patient: String,
    /// The patient's record number.
    #[ts(type = "number")]
    pub patient_id: i64,
    /// The appointment: doctor and clinic-local time.
    pub appointment: String,
    /// What the appointment costs.
    pub items: Vec<ReceiptItem>,
    /// This payment (or refund).
    #[ts(type = "number")]
    pub amount_minor: i64,
    /// How.
    pub method: PaymentMethod,
    /// Terminal receipt number, transfer reference.
    pub reference: String,
    /// Still owed after it.
    #[ts(type = "number")]
    pub due_after_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// Who took it.
    pub staff: String,
    /// When, clinic-local "YYYY-MM-DD HH:MM".
    pub at: String,
    /// A refund's reason.
    pub reason: String,
}

/// One method of a till.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct TillLine {
    /// The method.
    pub method: PaymentMethod,
    /// Payments minus refunds the ledger records for this desk and day.
    #[ts(type = "number")]
    pub expected_minor: i64,
    /// The newest count, if the till was closed.
    #[ts(type = "number | null")]
    pub counted_minor: Option<i64>,
}

/// A desk's till for one day.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct Till {
    /// Clinic-local `YYYY-MM-DD`.
    pub day: String,
    /// The desk (staff account).
    pub desk: String,
    /// ISO 4217.
    pub currency: String,
    /// Every method.
    pub lines: Vec<TillLine>,
    /// When it was last closed, if it was.
    #[ts(type = "number | null")]
    pub closed_at: Option<i64>,
    /// The note of the last closing.
    pub note: String,
}

/// What was counted for one method.
#[derive(Debug, Clone, Deserialize, TS)]
#[ts(export)]
pub struct CashCount {
    /// The method.
    pub method: PaymentMethod,
    /// Minor units counted (zero allowed).
    #[ts(type = "number")]
    pub counted_minor: i64,
}

/// One line of the cash-up report.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct CashUpLine {
    /// Clinic-local day.
    pub day: String,
    /// The desk (staff account).
    pub desk: String,
    /// The method.
    pub method: PaymentMethod,
    /// Expected by the ledger.
    #[ts(type = "number")]
    pub expected_minor: i64,
    /// Counted.
    #[ts(type = "number")]
    pub counted_minor: i64,
    /// Counted minus expected.
    #[ts(type = "number")]
    pub difference_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// The closing's note.
    pub note: String,
    /// Who closed.
    pub closed_by: String,
    /// When.
    #[ts(type = "number")]
    pub closed_at: i64,
}

/// The header of the cash-up export.
pub const CASH_UP_COLUMNS: [&str; 9] = [
    "day",
    "desk",
    "method",
    "expected",
    "counted",
    "difference",
    "currency",
    "note",
    "closed by",
];

/// The desk a payment is taken at: the signed-in staff account.
fn desk_of(actor: &Actor) -> String {
    actor.label()
}

/// Where and when a ledger row is written: currency, the clinic-local day and
/// receipt year.
struct Stamp {
    currency: String,
    day: String,
    year: i64,
}

fn stamp(conn: &Conn, now: i64) -> Result<Stamp> {
    // two settings in one query, not the whole clinic's: this runs inside the
    // write lock
    let [tz, currency] = settings::get_many(
        conn,
        [crate::domain::clinic::keys::TIME_ZONE, keys::CURRENCY],
    )?;
    let tz = tz
        .and_then(|z| crate::domain::clinic::parse_time_zone(&z).ok())
        .unwrap_or(chrono_tz::UTC);
    let day = today(now, tz);
    Ok(Stamp {
        currency: currency.unwrap_or_else(|| DEFAULT_CURRENCY.into()),
        day: day.format("%Y-%m-%d").to_string(),
        year: i64::from(day.year()),
    })
}

/// What the desk sends for a payment, checked before any lock.
fn check_payment(p: &NewPayment) -> Result<NewPayment> {
    check_amount(p.amount_minor)?;
    let reference = optional_text("the reference", &p.reference, 80)?;
    if p.method == PaymentMethod::Card && reference.is_empty() {
        return Err(Error::invalid(
            "type the card terminal's receipt number for a card payment",
        ));
    }
    Ok(NewPayment {
        reference,
        ..p.clone()
    })
}

/// Appends one row and its audit row; its id.
fn append(tx: &Conn, actor: &Actor, action: &str, e: &NewEntry<'_>) -> Result<i64> {
    let id = store::append(tx, e)?;
    let detail = format!(
        "appointment {}: {} {}",
        e.appointment_id,
        e.kind.as_str(),
        format_amount(e.amount_minor, e.currency)
    );
    audit(tx, e.now, actor, action, "ledger", Some(id), &detail)?;
    Ok(id)
}

/// Takes `payment` for an appointment inside a write transaction, given what is
/// owed (`due`, read in the same transaction): refused when it is cancelled or
/// the amount is more than is owed. The payment's id.
fn pay_in(
    tx: &Conn,
    actor: &Actor,
    appointment: &Appointment,
    payment: &NewPayment,
    due: i64,
    s: &Stamp,
    now: i64,
) -> Result<i64> {
    if !appointment.status.takes_payment() {
        return Err(Error::invalid(
            "this appointment was cancelled or missed, and its money settled then; it takes no payment",
        ));
    }
    if due <= 0 {
        return Err(Error::invalid("nothing is owed for this appointment"));
    }
    if payment.amount_minor > due {
        return Err(Error::invalid(format!(
            "the payment is more than is owed ({})",
            format_amount(due, &s.currency)
        )));
    }
    let desk = desk_of(actor);
    let label = actor.label();
    append(
        tx,
        actor,
        "payment.take",
        &NewEntry {
            appointment_id: appointment.id,
            patient_id: appointment.patient_id,
            kind: LedgerKind::Payment,
            amount_minor: payment.amount_minor,
            currency: &s.currency,
            method: Some(payment.method),
            reference: &payment.reference,
            refund_of: None,
            reason: "",
            receipt_year: Some(s.year),
            desk: &desk,
            actor: &label,
            now,
            day: &s.day,
        },
    )
}

/// What closing an appointment does to its money: the refunds (payment id,
/// method, amount) and the charge waived. Pure: [`settle_closing`] applies it,
/// [`Frontdesk::closing_preview`] shows it.
struct ClosingPlan {
    refunds: Vec<(i64, PaymentMethod, i64)>,
    waive: i64,
    kept: i64,
    reason: &'static str,
}

fn closing_plan(
    tx: &Conn,
    appointment: &Appointment,
    to: AppointmentStatus,
    now: i64,
) -> Result<ClosingPlan> {
    let policy = PaymentSettings::load(tx)?;
    let entries = store::entries(tx, appointment.id)?;
    let balance = Balance::of(&entries);
    let late = to == AppointmentStatus::NoShow
        || appointment.start_at - now <= i64::from(policy.late_cancel_hours) * 3600;
    let refund_all = !late || policy.late_deposit == DepositPolicy::Refund;
    let reason = match (to, late) {
        (AppointmentStatus::NoShow, _) => "no-show",
        (_, true) => "late cancellation",
        (_, false) => "cancelled in time",
    };
    let open_charge = balance.charged - balance.waived;
    let mut refunds = Vec::new();
    if refund_all {
        for p in entries.iter().filter(|e| e.kind == LedgerKind::Payment) {
            // a payment's refunds are rows of its own appointment
            let refunded: i64 = entries
                .iter()
                .filter(|e| e.kind == LedgerKind::Refund && e.refund_of == Some(p.id))
                .map(|e| e.amount_minor)
                .sum();
            let left = p.amount_minor - refunded;
            if let (true, Some(method)) = (left > 0, p.method) {
                refunds.push((p.id, method, left));
            }
        }
    }
    let refunded: i64 = refunds.iter().map(|r| r.2).sum();
    let kept = balance.net_paid() - refunded;
    Ok(ClosingPlan {
        waive: (open_charge - kept).max(0),
        refunds,
        kept,
        reason,
    })
}

fn describe(plan: &ClosingPlan, currency: &str) -> ClosingEffect {
    let refund: i64 = plan.refunds.iter().map(|r| r.2).sum();
    let money = |m| format_amount(m, currency);
    let summary = match (refund > 0, plan.kept > 0) {
        (true, _) => format!("{} is refunded: {}.", money(refund), plan.reason),
        (false, true) => format!(
            "The deposit of {} is kept: {}.",
            money(plan.kept),
            plan.reason
        ),
        (false, false) if plan.waive > 0 => {
            format!("The charge of {} is waived.", money(plan.waive))
        }
        _ => String::new(),
    };
    ClosingEffect {
        refund_minor: refund,
        waive_minor: plan.waive,
        kept_minor: plan.kept,
        currency: currency.into(),
        summary,
    }
}

/// Settles an appointment's money as it is cancelled or marked a no-show, inside
/// that change's write transaction (the cancellation policy in the module docs).
pub(crate) fn settle_closing(
    tx: &Conn,
    actor: &Actor,
    appointment: &Appointment,
    to: AppointmentStatus,
    now: i64,
) -> Result<()> {
    if !to.settles_money() {
        return Ok(());
    }
    let plan = closing_plan(tx, appointment, to, now)?;
    if plan.refunds.is_empty() && plan.waive == 0 {
        // nothing paid, nothing charged: no entry, and no query for its stamp
        return Ok(());
    }
    let s = stamp(tx, now)?;
    let desk = desk_of(actor);
    let label = actor.label();
    let entry = |kind, amount, method, refund_of| NewEntry {
        appointment_id: appointment.id,
        patient_id: appointment.patient_id,
        kind,
        amount_minor: amount,
        currency: &s.currency,
        method,
        reference: "",
        refund_of,
        reason: plan.reason,
        receipt_year: (kind == LedgerKind::Refund).then_some(s.year),
        desk: &desk,
        actor: &label,
        now,
        day: &s.day,
    };
    for &(payment, method, amount) in &plan.refunds {
        let e = entry(LedgerKind::Refund, amount, Some(method), Some(payment));
        append(tx, actor, "payment.refund", &e)?;
    }
    if plan.waive > 0 {
        let e = entry(LedgerKind::Waive, plan.waive, None, None);
        append(tx, actor, "payment.waive", &e)?;
    }
    Ok(())
}

fn account_in(conn: &Conn, appointment_id: i64) -> Result<Account> {
    let entries = store::entries(conn, appointment_id)?;
    let balance = Balance::of(&entries);
    Ok(Account {
        appointment_id,
        type_id: store::appointment_type_id(conn, appointment_id)?,
        // one setting, not all five: this also runs inside pay-and-book's lock
        currency: settings::get(conn, keys::CURRENCY)?.unwrap_or_else(|| DEFAULT_CURRENCY.into()),
        due: balance.due(),
        balance,
        entries,
    })
}

fn check_type(t: &NewAppointmentType) -> Result<(String, String)> {
    let name = optional_text("the name", &t.name, 80)?;
    if name.is_empty() {
        return Err(Error::invalid("give the appointment type a name"));
    }
    check_price(t.price_minor)?;
    let reason = optional_text("the default reason", &t.default_reason, 500)?;
    Ok((name, reason))
}

fn check_price(price_minor: i64) -> Result<()> {
    if (0..=MAX_AMOUNT_MINOR).contains(&price_minor) {
        Ok(())
    } else {
        Err(Error::invalid(
            "the price must be zero or more, and at most 1,000,000",
        ))
    }
}

impl Frontdesk {
    /// The clinic's money settings (every signed-in desk may read them).
    pub fn payment_settings(&self, actor: &Actor) -> Result<PaymentSettings> {
        actor.require(Action::ViewSchedule)?;
        self.in_read(PaymentSettings::load)
    }

    /// Appointment types with their prices (offered ones, or all).
    pub fn list_appointment_types(
        &self,
        actor: &Actor,
        include_inactive: bool,
    ) -> Result<Vec<AppointmentType>> {
        actor.require(Action::ViewSchedule)?;
        self.in_read(|c| Ok(store::list_types(c, include_inactive)?))
    }

    /// Adds an appointment type with its price (admins).
    pub fn add_appointment_type(
        &self,
        actor: &Actor,
        new: &NewAppointmentType,
    ) -> Result<AppointmentType> {
        actor.require(Action::ManageSettings)?;
        let (name, reason) = check_type(new)?;
        let now = self.now();
        let label = actor.label();
        self.in_write("payments.type", |tx| {
            let id =
                store::add_type(tx, &name, new.price_minor, &reason, &label, now).map_err(|e| {
                    if crate::storage::is_unique_violation(&e) {
                        Error::invalid(format!("there is already an appointment type {name:?}"))
                    } else {
                        e.into()
                    }
                })?;
            audit(
                tx,
                now,
                actor,
                "price.add",
                "appointment_type",
                Some(id),
                &name,
            )?;
            store::get_type(tx, id)?.ok_or(Error::NotFound("appointment type"))
        })
    }

    /// Changes a type's price and default reason, or stops offering it (admins).
    /// Appointments already booked keep their charge.
    pub fn update_appointment_type(
        &self,
        actor: &Actor,
        id: i64,
        change: &NewAppointmentType,
        active: bool,
    ) -> Result<AppointmentType> {
        actor.require(Action::ManageSettings)?;
        let (_, reason) = check_type(change)?;
        let now = self.now();
        self.in_write("payments.type", |tx| {
            if !store::update_type(tx, id, change.price_minor, &reason, active)? {
                return Err(Error::NotFound("appointment type"));
            }
            let detail = format!("price {}, active {active}", change.price_minor);
            audit(
                tx,
                now,
                actor,
                "price.change",
                "appointment_type",
                Some(id),
                &detail,
            )?;
            store::get_type(tx, id)?.ok_or(Error::NotFound("appointment type"))
        })
    }

    /// Sets (or with `None` removes) a doctor's own price for a type (admins).
    pub fn set_doctor_price(
        &self,
        actor: &Actor,
        type_id: i64,
        price: &DoctorPrice,
        remove: bool,
    ) -> Result<AppointmentType> {
        actor.require(Action::ManageSettings)?;
        check_price(price.price_minor)?;
        let now = self.now();
        self.in_write("payments.type", |tx| {
            store::get_type(tx, type_id)?.ok_or(Error::NotFound("appointment type"))?;
            doctors::get(tx, price.doctor_id)?.ok_or(Error::NotFound("doctor"))?;
            let value = (!remove).then_some(price.price_minor);
            store::set_doctor_price(tx, price.doctor_id, type_id, value)?;
            let detail = format!("doctor {}: {value:?}", price.doctor_id);
            audit(
                tx,
                now,
                actor,
                "price.doctor",
                "appointment_type",
                Some(type_id),
                &detail,
            )?;
            store::get_type(tx, type_id)?.ok_or(Error::NotFound("appointment type"))
        })
    }

    /// Books a free slot as an appointment type, charging its price (the doctor's
    /// own, if set) and taking `payment` (in full or a deposit) in the same
    /// transaction: both commit or neither does. `SlotTaken` when the slot went
    /// meanwhile, and nothing is recorded. Without a type it is a plain booking.
    pub fn pay_and_book(
        &self,
        actor: &Actor,
        req: &BookRequest,
        type_id: Option<i64>,
        payment: Option<&NewPayment>,
    ) -> Result<Booked> {
        let payment = match payment {
            Some(p) => {
                actor.require(Action::TakePayment)?;
                if type_id.is_none() {
                    return Err(Error::invalid(
                        "choose the appointment type: a payment needs a price",
                    ));
                }
                Some(check_payment(p)?)
            }
            None => None,
        };
        // a booking of a type without a typed reason gets the type's
        let with_reason;
        let req = match type_id {
            Some(id) if req.reason.trim().is_empty() => {
                let reason = self.in_read(|c| Ok(store::get_type(c, id)?))?;
                with_reason = BookRequest {
                    reason: reason.map(|t| t.default_reason).unwrap_or_default(),
                    ..req.clone()
                };
                &with_reason
            }
            _ => req,
        };
        // a plain booking is measured as one
        let op = if type_id.is_some() {
            "pay_and_book"
        } else {
            "book"
        };
        let (booked, account) = self.book_with(actor, req, op, |tx, appointment, now| {
            let Some(type_id) = type_id else {
                return account_in(tx, appointment.id);
            };
            let t = store::get_type(tx, type_id)?
                .filter(|t| t.active)
                .ok_or_else(|| Error::invalid("this appointment type is not offered"))?;
            store::set_appointment_type(tx, appointment.id, t.id)?;
            let price = t.price_for(appointment.doctor_id);
            let s = stamp(tx, now)?;
            if price > 0 {
                let desk = desk_of(actor);
                let label = actor.label();
                let charge = NewEntry {
                    appointment_id: appointment.id,
                    patient_id: appointment.patient_id,
                    kind: LedgerKind::Charge,
                    amount_minor: price,
                    currency: &s.currency,
                    method: None,
                    reference: "",
                    refund_of: None,
                    reason: &t.name,
                    receipt_year: None,
                    desk: &desk,
                    actor: &label,
                    now,
                    day: &s.day,
                };
                append(tx, actor, "payment.charge", &charge)?;
            }
            if let Some(p) = &payment {
                // a new appointment owes exactly its charge
                pay_in(tx, actor, appointment, p, price, &s, now)?;
            }
            account_in(tx, appointment.id)
        })?;
        Ok(Booked {
            appointment: booked,
            account,
        })
    }

    /// Takes a payment for an existing appointment (at check-in or after the
    /// visit; partial payments allowed): refused when it is cancelled or the
    /// amount is more than is owed.
    pub fn take_payment(
        &self,
        actor: &Actor,
        appointment_id: i64,
        payment: &NewPayment,
    ) -> Result<LedgerEntry> {
        actor.require(Action::TakePayment)?;
        let payment = check_payment(payment)?;
        let now = self.now();
        self.in_write("payment", |tx| {
            let a = appointments::get(tx, appointment_id)?.ok_or(Error::NotFound("appointment"))?;
            let due = store::appointment_balance(tx, a.id)?.due();
            let id = pay_in(tx, actor, &a, &payment, due, &stamp(tx, now)?, now)?;
            store::entry(tx, id)?.ok_or(Error::NotFound("payment"))
        })
    }

    /// Refunds part or all of a payment (admins), with a reason; never more than
    /// what is left of it.
    pub fn refund(
        &self,
        actor: &Actor,
        payment_id: i64,
        amount_minor: i64,
        reason: &str,
    ) -> Result<LedgerEntry> {
        actor.require(Action::Refund)?;
        check_amount(amount_minor)?;
        let reason = optional_text("the reason", reason, 300)?;
        if reason.is_empty() {
            return Err(Error::invalid("give a reason for the refund"));
        }
        let now = self.now();
        let desk = desk_of(actor);
        let label = actor.label();
        self.in_write("payment.refund", |tx| {
            let p = store::entry(tx, payment_id)?
                .filter(|e| e.kind == LedgerKind::Payment)
                .ok_or(Error::NotFound("payment"))?;
            let left = p.amount_minor - store::refunded_of(tx, p.id)?;
            if amount_minor > left {
                return Err(Error::invalid(format!(
                    "the refund is more than is left of the payment ({})",
                    format_amount(left, &p.currency)
                )));
            }
            let s = stamp(tx, now)?;
            let refund = NewEntry {
                appointment_id: p.appointment_id,
                patient_id: p.patient_id,
                kind: LedgerKind::Refund,
                amount_minor,
                currency: &p.currency,
                method: p.method,
                reference: "",
                refund_of: Some(p.id),
                reason: &reason,
                receipt_year: Some(s.year),
                desk: &desk,
                actor: &label,
                now,
                day: &s.day,
            };
            let id = append(tx, actor, "payment.refund", &refund)?;
            // a closed appointment owes nothing: giving back a kept deposit
            // waives that much of the charge too
            let closed =
                appointments::get(tx, p.appointment_id)?.is_some_and(|a| !a.status.takes_payment());
            let due = store::appointment_balance(tx, p.appointment_id)?.due();
            if closed && due > 0 {
                let waive = NewEntry {
                    kind: LedgerKind::Waive,
                    amount_minor: due,
                    method: None,
                    refund_of: None,
                    receipt_year: None,
                    ..refund
                };
                append(tx, actor, "payment.waive", &waive)?;
            }
            store::entry(tx, id)?.ok_or(Error::NotFound("refund"))
        })
    }

    /// An appointment's money.
    pub fn appointment_account(&self, actor: &Actor, appointment_id: i64) -> Result<Account> {
        actor.require(Action::ViewSchedule)?;
        self.in_read(|c| {
            appointments::get(c, appointment_id)?.ok_or(Error::NotFound("appointment"))?;
            account_in(c, appointment_id)
        })
    }

    /// A patient's sums over all their appointments.
    pub fn patient_balance(&self, actor: &Actor, patient_id: i64) -> Result<Balance> {
        actor.require(Action::ViewSchedule)?;
        self.in_read(|c| Ok(store::patient_balance(c, patient_id)?))
    }

    /// What cancelling (or marking a no-show) would do to the appointment's money
    /// now, for the desk to show before it confirms.
    pub fn closing_preview(
        &self,
        actor: &Actor,
        appointment_id: i64,
        to: AppointmentStatus,
    ) -> Result<ClosingEffect> {
        actor.require(Action::ViewSchedule)?;
        let now = self.now();
        self.in_read(|c| {
            let a = appointments::get(c, appointment_id)?.ok_or(Error::NotFound("appointment"))?;
            let currency = PaymentSettings::load(c)?.currency;
            if !to.settles_money() {
                return Ok(ClosingEffect {
                    currency,
                    ..ClosingEffect::default()
                });
            }
            Ok(describe(&closing_plan(c, &a, to, now)?, &currency))
        })
    }

    /// The printable receipt of a payment or refund.
    pub fn receipt(&self, actor: &Actor, ledger_id: i64) -> Result<Receipt> {
        actor.require(Action::ViewSchedule)?;
        self.in_read(|c| {
            let e = store::entry(c, ledger_id)?
                .filter(|e| e.receipt.is_some())
                .ok_or(Error::NotFound("receipt"))?;
            let a =
                appointments::get(c, e.appointment_id)?.ok_or(Error::NotFound("appointment"))?;
            let clinic = ClinicSettings::load(c)?;
            let money = PaymentSettings::load(c)?;
            let tz = clinic.tz();
            let local = |at: i64| {
                chrono::DateTime::from_timestamp(at, 0)
                    .map(|d| d.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default()
            };
            let mut due = Balance::default();
            let mut items = Vec::new();
            for row in store::entries(c, a.id)?.iter().filter(|r| r.id <= e.id) {
                due.add(row.kind, row.amount_minor);
                if row.kind == LedgerKind::Charge {
                    items.push(ReceiptItem {
                        description: row.reason.clone(),
                        amount_minor: row.amount_minor,
                    });
                }
            }
            Ok(Receipt {
                number: e.receipt.clone().unwrap_or_default(),
                kind: e.kind,
                clinic: clinic.name,
                address: money.address,
                tax_number: money.tax_number,
                patient: a.patient_name,
                patient_id: a.patient_id,
                appointment: format!("{}, {}", a.doctor_name, local(a.start_at)),
                items,
                amount_minor: e.amount_minor,
                method: e.method.unwrap_or(PaymentMethod::Cash),
                reference: e.reference,
                due_after_minor: due.due(),
                currency: e.currency,
                staff: e.created_by,
                at: local(e.created_at),
                reason: e.reason,
            })
        })
    }

    /// This desk's till for a clinic-local day (`None`: today): per method what
    /// the ledger expects and the newest count.
    pub fn till(&self, actor: &Actor, day: Option<&str>) -> Result<Till> {
        actor.require(Action::TakePayment)?;
        let now = self.now();
        let desk = desk_of(actor);
        self.in_read(|c| till_in(c, &desk, &day_or_today(c, day, now)?))
    }

    /// Closes this desk's till for a day: records, per method, what the ledger
    /// expects and what was counted (cash must be counted). Closing again adds a
    /// newer count; nothing is overwritten.
    pub fn close_till(
        &self,
        actor: &Actor,
        day: Option<&str>,
        counts: &[CashCount],
        note: &str,
    ) -> Result<Till> {
        actor.require(Action::TakePayment)?;
        let note = optional_text("the note", note, 300)?;
        if !counts.iter().any(|c| c.method == PaymentMethod::Cash) {
            return Err(Error::invalid("count the cash in the till"));
        }
        for (i, c) in counts.iter().enumerate() {
            if !(0..=MAX_AMOUNT_MINOR).contains(&c.counted_minor) {
                return Err(Error::invalid(
                    "a counted amount must be zero or more, and at most 1,000,000",
                ));
            }
            if counts[..i].iter().any(|d| d.method == c.method) {
                return Err(Error::invalid(format!(
                    "{} is counted twice",
                    c.method.label()
                )));
            }
        }
        let now = self.now();
        let desk = desk_of(actor);
        let label = actor.label();
        self.in_write("till.close", |tx| {
            let day = day_or_today(tx, day, now)?;
            let currency = PaymentSettings::load(tx)?.currency;
            let takings = store::takings(tx, &desk, &day)?;
            let rows: Vec<store::Count<'_>> = counts
                .iter()
                .map(|c| store::Count {
                    method: c.method,
                    expected_minor: expected(&takings, c.method),
                    counted_minor: c.counted_minor,
                    currency: &currency,
                })
                .collect();
            let id = store::record_cash_up(tx, &desk, &day, &rows, &note, &label, now)?;
            let cash = rows.iter().find(|r| r.method == PaymentMethod::Cash);
            let detail = cash.map_or(String::new(), |r| {
                format!(
                    "{day}: cash expected {}, counted {}",
                    format_amount(r.expected_minor, &currency),
                    format_amount(r.counted_minor, &currency)
                )
            });
            audit(tx, now, actor, "till.close", "cash_up", Some(id), &detail)?;
            till_in(tx, &desk, &day)
        })
    }

    /// Every desk's newest cash-up per day and method from `from` to `to`
    /// (clinic-local `YYYY-MM-DD`, inclusive), for the report and its export.
    pub fn cash_up_report(&self, actor: &Actor, from: &str, to: &str) -> Result<Vec<CashUpLine>> {
        actor.require(Action::ViewReports)?;
        let (from, to) = (parse_date(from)?, parse_date(to)?);
        if to < from {
            return Err(Error::invalid("the end date is before the start date"));
        }
        let (from, to) = (from.to_string(), to.to_string());
        self.in_read(|c| {
            Ok(store::cash_ups(c, &from, &to, None)?
                .into_iter()
                .map(|r| CashUpLine {
                    difference_minor: r.counted_minor - r.expected_minor,
                    day: r.day,
                    desk: r.desk,
                    method: r.method,
                    expected_minor: r.expected_minor,
                    counted_minor: r.counted_minor,
                    currency: r.currency,
                    note: r.note,
                    closed_by: r.created_by,
                    closed_at: r.created_at,
                })
                .collect())
        })
    }

    /// Writes the cash-up report as CSV ([`CASH_UP_COLUMNS`]); the number of rows.
    pub fn export_cash_ups_csv(
        &self,
        actor: &Actor,
        from: &str,
        to: &str,
        out: impl std::io::Write,
    ) -> Result<u64> {
        let lines = self.cash_up_report(actor, from, to)?;
        let mut w = csv::Writer::from_writer(out);
        let csv_error = |e: csv::Error| Error::invalid(format!("cannot write the export: {e}"));
        w.write_record(CASH_UP_COLUMNS).map_err(csv_error)?;
        let amount = |m: i64, cur: &str| {
            let text = format_amount(m, cur);
            text.trim_end_matches(cur).trim_end().to_string()
        };
        for l in &lines {
            w.write_record([
                l.day.as_str(),
                &crate::service::export::spreadsheet_safe(&l.desk),
                l.method.as_str(),
                &amount(l.expected_minor, &l.currency),
                &amount(l.counted_minor, &l.currency),
                &amount(l.difference_minor, &l.currency),
                &l.currency,
                &crate::service::export::spreadsheet_safe(&l.note),
                &crate::service::export::spreadsheet_safe(&l.closed_by),
            ])
            .map_err(csv_error)?;
        }
        w.flush()
            .map_err(|e| Error::invalid(format!("cannot write the export: {e}")))?;
        let n = lines.len() as u64;
        self.audit_read(
            actor,
            "export.cash_ups",
            "export",
            None,
            &format!("{from}..{to}, {n} rows"),
        )?;
        Ok(n)
    }
}

fn expected(takings: &[(PaymentMethod, i64)], method: PaymentMethod) -> i64 {
    takings.iter().find(|t| t.0 == method).map_or(0, |t| t.1)
}

fn day_or_today(conn: &Conn, day: Option<&str>, now: i64) -> Result<String> {
    Ok(match day.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => parse_date(d)?.to_string(),
        None => today(now, ClinicSettings::load(conn)?.tz()).to_string(),
    })
}

fn till_in(conn: &Conn, desk: &str, day: &str) -> Result<Till> {
    let takings = store::takings(conn, desk, day)?;
    let counted = store::cash_ups(conn, day, day, Some(desk))?;
    let last = counted.iter().max_by_key(|r| r.created_at);
    Ok(Till {
        day: day.into(),
        desk: desk.into(),
        currency: PaymentSettings::load(conn)?.currency,
        lines: PaymentMethod::ALL
            .into_iter()
            .map(|m| TillLine {
                method: m,
                expected_minor: expected(&takings, m),
                counted_minor: counted
                    .iter()
                    .find(|r| r.method == m)
                    .map(|r| r.counted_minor),
            })
            .collect(),
        closed_at: last.map(|r| r.created_at),
        note: last.map(|r| r.note.clone()).unwrap_or_default(),
    })
}
