//! Money at the desk: prices, pay-and-book, payments, refunds, receipts and the
//! till. Amounts travel as integer minor units; the core checks every one.

use frontdesk::domain::payments::{AppointmentType, Balance, DoctorPrice, LedgerEntry};
use frontdesk::{
    Account, AppointmentStatus, BookRequest, Booked, CashCount, CashUpLine, ClosingEffect,
    NewAppointmentType, NewPayment, PaymentSettings, Receipt, Till,
};
use tauri::State;

use super::as_actor;
use super::input::Input;
use super::operations::{save_export, SavedExport};
use crate::error::CommandError;
use crate::state::AppState;

/// The clinic's currency, receipt details and cancellation policy.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn payment_settings(state: State<'_, AppState>) -> Result<PaymentSettings, CommandError> {
    as_actor(&state, |desk, actor| desk.payment_settings(actor)).await
}

/// Appointment types with their prices.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn list_appointment_types(
    state: State<'_, AppState>,
    include_inactive: Input<bool>,
) -> Result<Vec<AppointmentType>, CommandError> {
    let Input(all) = include_inactive;
    as_actor(&state, move |desk, actor| {
        desk.list_appointment_types(actor, all)
    })
    .await
}

/// Adds an appointment type with its price (admins).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn add_appointment_type(
    state: State<'_, AppState>,
    new_type: Input<NewAppointmentType>,
) -> Result<AppointmentType, CommandError> {
    let Input(new_type) = new_type;
    as_actor(&state, move |desk, actor| {
        desk.add_appointment_type(actor, &new_type)
    })
    .await
}

/// Changes a type's price and reason, or stops offering it (admins).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn update_appointment_type(
    state: State<'_, AppState>,
    type_id: Input<i64>,
    change: Input<NewAppointmentType>,
    active: Input<bool>,
) -> Result<AppointmentType, CommandError> {
    let (Input(id), Input(change), Input(active)) = (type_id, change, active);
    as_actor(&state, move |desk, actor| {
        desk.update_appointment_type(actor, id, &change, active)
    })
    .await
}

/// Sets or removes a doctor's own price for a type (admins).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn set_doctor_price(
    state: State<'_, AppState>,
    type_id: Input<i64>,
    price: Input<DoctorPrice>,
    remove: Input<bool>,
) -> Result<AppointmentType, CommandError> {
    let (Input(id), Input(price), Input(remove)) = (type_id, price, remove);
    as_actor(&state, move |desk, actor| {
        desk.set_doctor_price(actor, id, &price, remove)
    })
    .await
}

/// Books a free slot as a type, charging its price and taking a payment in the
/// same transaction.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn pay_and_book(
    state: State<'_, AppState>,
    request: Input<BookRequest>,
    type_id: Input<Option<i64>>,
    payment: Input<Option<NewPayment>>,
) -> Result<Booked, CommandError> {
    let (Input(request), Input(type_id), Input(payment)) = (request, type_id, payment);
    as_actor(&state, move |desk, actor| {
        desk.pay_and_book(actor, &request, type_id, payment.as_ref())
    })
    .await
}

/// Takes a payment for an appointment.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn take_payment(
    state: State<'_, AppState>,
    appointment_id: Input<i64>,
    payment: Input<NewPayment>,
) -> Result<LedgerEntry, CommandError> {
    let (Input(id), Input(payment)) = (appointment_id, payment);
    as_actor(&state, move |desk, actor| {
        desk.take_payment(actor, id, &payment)
    })
    .await
}

/// Refunds part or all of a payment (admins).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn refund_payment(
    state: State<'_, AppState>,
    payment_id: Input<i64>,
    amount_minor: Input<i64>,
    reason: Input<String>,
) -> Result<LedgerEntry, CommandError> {
    let (Input(id), Input(amount), Input(reason)) = (payment_id, amount_minor, reason);
    as_actor(&state, move |desk, actor| {
        desk.refund(actor, id, amount, &reason)
    })
    .await
}

/// An appointment's charges, payments and balance.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn appointment_account(
    state: State<'_, AppState>,
    appointment_id: Input<i64>,
) -> Result<Account, CommandError> {
    let Input(id) = appointment_id;
    as_actor(&state, move |desk, actor| {
        desk.appointment_account(actor, id)
    })
    .await
}

/// A patient's sums over all their appointments.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn patient_balance(
    state: State<'_, AppState>,
    patient_id: Input<i64>,
) -> Result<Balance, CommandError> {
    let Input(id) = patient_id;
    as_actor(&state, move |desk, actor| desk.patient_balance(actor, id)).await
}

/// What cancelling or a no-show would do to the appointment's money.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn closing_preview(
    state: State<'_, AppState>,
    appointment_id: Input<i64>,
    to: Input<AppointmentStatus>,
) -> Result<ClosingEffect, CommandError> {
    let (Input(id), Input(to)) = (appointment_id, to);
    as_actor(&state, move |desk, actor| {
        desk.closing_preview(actor, id, to)
    })
    .await
}

/// The printable receipt of a payment or refund.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn receipt(
    state: State<'_, AppState>,
    ledger_id: Input<i64>,
) -> Result<Receipt, CommandError> {
    let Input(id) = ledger_id;
    as_actor(&state, move |desk, actor| desk.receipt(actor, id)).await
}

/// This desk's till for a day (empty: today).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn till(state: State<'_, AppState>, day: Input<String>) -> Result<Till, CommandError> {
    let Input(day) = day;
    as_actor(&state, move |desk, actor| desk.till(actor, Some(&day))).await
}

/// Closes this desk's till with the counted amounts.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn close_till(
    state: State<'_, AppState>,
    day: Input<String>,
    counts: Input<Vec<CashCount>>,
    note: Input<String>,
) -> Result<Till, CommandError> {
    let (Input(day), Input(counts), Input(note)) = (day, counts, note);
    as_actor(&state, move |desk, actor| {
        desk.close_till(actor, Some(&day), &counts, &note)
    })
    .await
}

/// Every desk's cash-ups from `from` to `to` (admins).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn cash_up_report(
    state: State<'_, AppState>,
    from: Input<String>,
    to: Input<String>,
) -> Result<Vec<CashUpLine>, CommandError> {
    let (Input(from), Input(to)) = (from, to);
    as_actor(&state, move |desk, actor| {
        desk.cash_up_report(actor, &from, &to)
    })
    .await
}

/// Writes the cash-ups of `from..=to` as CSV into the exports folder.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn export_cash_ups(
    state: State<'_, AppState>,
    from: Input<String>,
    to: Input<String>,
) -> Result<SavedExport, CommandError> {
    let (Input(from), Input(to)) = (from, to);
    as_actor(&state, move |desk, actor| {
        let name = format!("cash-ups-{}-to-{}", from.trim(), to.trim());
        save_export(desk, actor, &name, |out| {
            desk.export_cash_ups_csv(actor, &from, &to, out)
        })
    })
    .await
}
