//! Patients screen: search as you type, details, edit on the version seen, phone
//! verification by passcode, appointment history and attendance.

use frontdesk::store::appointments::AppointmentFilter;
use frontdesk::PhoneVerified;
use frontdesk::{Appointment, NewPatient, OtpRequested, Patient, PatientAttendance, PatientUpdate};
use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use super::as_actor;
use crate::error::CommandError;
use crate::state::AppState;

/// How many patients a search or the unfiltered list shows.
const SEARCH_LIMIT: u32 = 50;

/// Patients whose name words or phone start with `text`; the most recent patients
/// when `text` is blank.
#[tauri::command(async)]
pub async fn search_patients(
    state: State<'_, AppState>,
    text: String,
) -> Result<Vec<Patient>, CommandError> {
    as_actor(&state, move |desk, actor| {
        if text.trim().is_empty() {
            desk.list_patients(actor, SEARCH_LIMIT)
        } else {
            desk.search_patients(actor, &text, SEARCH_LIMIT)
        }
    })
    .await
}

/// One patient.
#[tauri::command(async)]
pub async fn get_patient(
    state: State<'_, AppState>,
    patient_id: i64,
) -> Result<Patient, CommandError> {
    as_actor(&state, move |desk, actor| {
        desk.get_patient(actor, patient_id)
    })
    .await
}

/// Saves an edit made on `expected_version` (`Conflict` when someone saved first).
#[tauri::command(async)]
pub async fn update_patient(
    state: State<'_, AppState>,
    patient_id: i64,
    expected_version: i64,
    details: NewPatient,
) -> Result<Patient, CommandError> {
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
pub async fn patient_appointments(
    state: State<'_, AppState>,
    patient_id: i64,
) -> Result<Vec<Appointment>, CommandError> {
    let filter = AppointmentFilter {
        patient_id: Some(patient_id),
        ..Default::default()
    };
    as_actor(&state, move |desk, actor| {
        desk.get_patient(actor, patient_id)?;
        desk.list_appointments(actor, &filter)
    })
    .await
}

/// Late cancellations and no-shows.
#[tauri::command(async)]
pub async fn patient_attendance(
    state: State<'_, AppState>,
    patient_id: i64,
) -> Result<PatientAttendance, CommandError> {
    as_actor(&state, move |desk, actor| {
        desk.patient_attendance(actor, patient_id)
    })
    .await
}

/// A queued passcode and how many tries it allows.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct PasscodeSent {
    /// The queued message.
    pub requested: OtpRequested,
    /// Verification attempts the code allows.
    #[ts(type = "number")]
    pub attempts: i64,
}

/// Sends a 6-digit passcode to `phone`.
#[tauri::command(async)]
pub async fn request_phone_passcode(
    state: State<'_, AppState>,
    phone: String,
) -> Result<PasscodeSent, CommandError> {
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
pub async fn verify_phone_passcode(
    state: State<'_, AppState>,
    phone: String,
    code: String,
) -> Result<PhoneVerified, CommandError> {
    as_actor(&state, move |desk, actor| {
        desk.verify_otp(actor, &phone, &code)
    })
    .await
}
