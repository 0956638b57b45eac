//! Booking and the appointment drawer: register a patient, book one slot or a
//! series, change status, reschedule, overbook. Conflicts and taken slots come back
//! as their error codes; the UI refreshes instead of overwriting.

use frontdesk::{
    Appointment, AppointmentDetail, AppointmentStatus, BookRequest, NewPatient, Patient,
    SeenAppointment, SeriesBooking, SeriesRequest, Undo, Undone,
};
use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use super::as_actor;
use super::input::Input;
use crate::error::CommandError;
use crate::state::AppState;

/// Books a free slot for a patient.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn book(
    state: State<'_, AppState>,
    request: Input<BookRequest>,
) -> Result<Appointment, CommandError> {
    let Input(request) = request;
    as_actor(&state, move |desk, actor| desk.book(actor, &request)).await
}

/// Books a weekly series starting at a slot.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn book_series(
    state: State<'_, AppState>,
    request: Input<SeriesRequest>,
) -> Result<SeriesBooking, CommandError> {
    let Input(request) = request;
    as_actor(&state, move |desk, actor| desk.book_series(actor, &request)).await
}

/// Existing patients that look like the one about to be registered.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn possible_duplicates(
    state: State<'_, AppState>,
    patient: Input<NewPatient>,
) -> Result<Vec<Patient>, CommandError> {
    let Input(patient) = patient;
    as_actor(&state, move |desk, actor| {
        desk.possible_duplicates(actor, &patient)
    })
    .await
}

/// Registers a new patient (the UI has shown the duplicate warning first).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn register_patient(
    state: State<'_, AppState>,
    patient: Input<NewPatient>,
) -> Result<Patient, CommandError> {
    let Input(patient) = patient;
    as_actor(&state, move |desk, actor| desk.add_patient(actor, &patient)).await
}

/// An appointment for the drawer, with its history and series.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct AppointmentPanel {
    /// The appointment and its status history.
    pub detail: AppointmentDetail,
    /// The series it belongs to, if any.
    #[ts(type = "number | null")]
    pub series_id: Option<i64>,
    /// What "cancel the rest of the series" would cancel from this one on, with
    /// the versions the desk sends back (empty when not in a series).
    pub series_rest: Vec<Appointment>,
}

/// One appointment with its history, for the drawer.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn get_appointment(
    state: State<'_, AppState>,
    appointment_id: Input<i64>,
) -> Result<AppointmentPanel, CommandError> {
    let Input(appointment_id) = appointment_id;
    as_actor(&state, move |desk, actor| {
        Ok(AppointmentPanel {
            detail: desk.get_appointment(actor, appointment_id)?,
            series_id: desk.appointment_series_id(actor, appointment_id)?,
            series_rest: desk.series_rest(actor, appointment_id)?,
        })
    })
    .await
}

/// Moves an appointment to another status; `version` is the one the drawer shows
/// (a change by someone else meanwhile answers Conflict).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn change_status(
    state: State<'_, AppState>,
    appointment_id: Input<i64>,
    version: Input<i64>,
    to: Input<AppointmentStatus>,
    note: Input<String>,
) -> Result<Appointment, CommandError> {
    let Input(appointment_id) = appointment_id;
    let Input(version) = version;
    let Input(to) = to;
    let Input(note) = note;
    as_actor(&state, move |desk, actor| {
        desk.change_status(actor, appointment_id, version, to, &note)
    })
    .await
}

/// Takes back the signed-in person's own booking, cancellation, check-in or block
/// of a moment ago (the toast's *Undo*); the core decides whether it still may.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn undo_change(
    state: State<'_, AppState>,
    what: Input<Undo>,
) -> Result<Undone, CommandError> {
    let Input(what) = what;
    as_actor(&state, move |desk, actor| desk.undo(actor, &what)).await
}

/// Moves an appointment to another free slot.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn reschedule(
    state: State<'_, AppState>,
    appointment_id: Input<i64>,
    version: Input<i64>,
    slot_id: Input<i64>,
) -> Result<Appointment, CommandError> {
    let Input(appointment_id) = appointment_id;
    let Input(version) = version;
    let Input(slot_id) = slot_id;
    as_actor(&state, move |desk, actor| {
        desk.reschedule(actor, appointment_id, version, slot_id)
    })
    .await
}

/// Cancels this appointment and the rest of its series; `seen` is the drawer's
/// `series_rest` (an occurrence changed since answers Conflict, nothing cancelled).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn cancel_series_rest(
    state: State<'_, AppState>,
    appointment_id: Input<i64>,
    seen: Input<Vec<SeenAppointment>>,
    reason: Input<String>,
) -> Result<Vec<Appointment>, CommandError> {
    let Input(appointment_id) = appointment_id;
    let Input(seen) = seen;
    let Input(reason) = reason;
    as_actor(&state, move |desk, actor| {
        desk.cancel_series_rest(actor, appointment_id, &seen, &reason)
    })
    .await
}

/// Squeezes a patient into a taken slot (admins; reason required).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn overbook(
    state: State<'_, AppState>,
    slot_id: Input<i64>,
    patient_id: Input<i64>,
    reason: Input<String>,
) -> Result<Appointment, CommandError> {
    let Input(slot_id) = slot_id;
    let Input(patient_id) = patient_id;
    let Input(reason) = reason;
    as_actor(&state, move |desk, actor| {
        desk.overbook(actor, slot_id, patient_id, &reason)
    })
    .await
}
