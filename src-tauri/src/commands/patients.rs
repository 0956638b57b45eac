//! Patients screen: search as you type, details, edit on the version seen, phone
//! verification by passcode, appointment history and attendance.

use frontdesk::AppointmentFilter;
use frontdesk::PhoneVerified;
use frontdesk::{
    Appointment, NewPatient, NextAppointment, OtpRequested, Patient, PatientAttendance,
    PatientUpdate,
};
use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use super::as_actor;
use super::input::Input;
use crate::error::CommandError;
use crate::state::AppState;

/// How many patients a search or the unfiltered list shows.
const SEARCH_LIMIT: u32 = 50;

/// Patients whose name words or phone start with `text`; the most recent patients
/// when `text` is blank.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn search_patients(
    state: State<'_, AppState>,
    text: Input<String>,
) -> Result<Vec<Patient>, CommandError> {
    let Input(text) = text;
    as_actor(&state, move |desk, actor| {
        if text.trim().is_empty() {
            desk.list_patients(actor, SEARCH_LIMIT)
        } else {
            desk.search_patients(actor, &text, SEARCH_LIMIT)
        }
    })
    .await
}

/// Each listed patient's next upcoming appointment (for search results).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn next_appointments(
    state: State<'_, AppState>,
    patient_ids: Input<Vec<i64>>,
) -> Result<Vec<NextAppointment>, CommandError> {
    let Input(ids) = patient_ids;
    as_actor(&state, move |desk, actor| {
        desk.next_appointments(actor, &ids)
    })
    .await
}

/// One patient.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn get_patient(
    state: State<'_, AppState>,
    patient_id: Input<i64>,
) -> Result<Patient, CommandError> {
    let Input(patient_id) = patient_id;
    as_actor(&state, move |desk, actor| {
        desk.get_patient(actor, patient_id)
    })
    .await
}

/// Turns appointment reminders off (`opt_out`) or on again for a patient.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn set_reminders_opt_out(
    state: State<'_, AppState>,
    patient_id: Input<i64>,
    opt_out: Input<bool>,
) -> Result<Patient, CommandError> {
    let (Input(patient_id), Input(opt_out)) = (patient_id, opt_out);
    as_actor(&state, move |desk, actor| {
        desk.set_reminders_opt_out(actor, patient_id, opt_out)
    })
    .await
}

/// Saves an edit made on `expected_version` (`Conflict` when someone saved first).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn update_patient(
    state: State<'_, AppState>,
    patient_id: Input<i64>,
    expected_version: Input<i64>,
    details: Input<NewPatient>,
) -> Result<Patient, CommandError> {
    let (Input(patient_id), Input(expected_version), Input(details)) =
        (patient_id, expected_version, details);
    let update = PatientUpdate {
        expected_version,
        details,
    };
    as_actor(&state, move |desk, actor| {
        desk.update_patient(actor, patient_id, &update)
    })
    .await
}

/// The patient's appointments (all statuses), oldest first.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn patient_appointments(
    state: State<'_, AppState>,
    patient_id: Input<i64>,
) -> Result<Vec<Appointment>, CommandError> {
    let Input(patient_id) = patient_id;
    let filter = AppointmentFilter {
        patient_id: Some(patient_id),
        ..Default::default()
    };
    as_actor(&state, move |desk, actor| {
        // NotFound for an unknown patient, without auditing a view: opening the
        // record (get_patient) is the audited view, and this list is re-read on
        // every change a desk sees — an audit row here was itself such a change,
        // so an open patient re-read and re-audited their history in a loop.
        desk.patient_attendance(actor, patient_id)?;
        desk.list_appointments(actor, &filter)
    })
    .await
}

/// Late cancellations and no-shows.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn patient_attendance(
    state: State<'_, AppState>,
    patient_id: Input<i64>,
) -> Result<PatientAttendance, CommandError> {
    let Input(patient_id) = patient_id;
    as_actor(&state, move |desk, actor| {
        desk.patient_attendance(actor, patient_id)
    })
    .await
}

/// A requested passcode, whether the sender sent it, and how many tries it allows.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct PasscodeSent {
    /// The request; `requested.sent` is true only when the sender said so.
    pub requested: OtpRequested,
    /// Verification attempts the code allows.
    #[ts(type = "number")]
    pub attempts: i64,
}

/// Sends a 6-digit passcode to `phone` at once with this PC's sender (refused
/// when none is set up, or for a number that cannot receive text messages).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn request_phone_passcode(
    state: State<'_, AppState>,
    phone: Input<String>,
) -> Result<PasscodeSent, CommandError> {
    let Input(phone) = phone;
    as_actor(&state, move |desk, actor| {
        Ok(PasscodeSent {
            requested: desk.request_otp(actor, &phone)?,
            attempts: frontdesk::MAX_ATTEMPTS,
        })
    })
    .await
}

/// Checks the passcode typed for `phone`.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn verify_phone_passcode(
    state: State<'_, AppState>,
    phone: Input<String>,
    code: Input<String>,
) -> Result<PhoneVerified, CommandError> {
    let (Input(phone), Input(code)) = (phone, code);
    as_actor(&state, move |desk, actor| {
        desk.verify_otp(actor, &phone, &code)
    })
    .await
}
