//! The day view, the pending queue, and the admin's doctors and single slots.

use frontdesk::domain::clinic::{parse_date, parse_moment, today};
use frontdesk::AppointmentFilter;
use frontdesk::{Appointment, AppointmentStatus, DayView, Doctor, Slot, SlotMode};
use tauri::State;

use super::as_actor;
use super::input::Input;
use crate::error::CommandError;
use crate::state::AppState;

/// The day view for a clinic-local date (`YYYY-MM-DD`; empty = today).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn day_view(
    state: State<'_, AppState>,
    date: Input<String>,
) -> Result<DayView, CommandError> {
    let Input(date) = date;
    as_actor(&state, move |desk, actor| {
        let date = if date.trim().is_empty() {
            today(desk.now(), desk.settings()?.tz())
        } else {
            parse_date(&date)?
        };
        desk.day_view(actor, date, None)
    })
    .await
}

/// Today's date in the clinic's time zone (`YYYY-MM-DD`).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn clinic_today(state: State<'_, AppState>) -> Result<String, CommandError> {
    as_actor(&state, |desk, _| {
        Ok(today(desk.now(), desk.settings()?.tz())
            .format("%Y-%m-%d")
            .to_string())
    })
    .await
}

/// The date a desk asked to go to ("14.1.", "+6w", "mon", …), `YYYY-MM-DD`.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn jump_date(
    state: State<'_, AppState>,
    text: Input<String>,
) -> Result<String, CommandError> {
    let Input(text) = text;
    as_actor(&state, move |desk, _| {
        let today = today(desk.now(), desk.settings()?.tz());
        Ok(frontdesk::domain::clinic::parse_date_jump(&text, today)?
            .format("%Y-%m-%d")
            .to_string())
    })
    .await
}

/// Pending appointments from now on, soonest first (the admins' queue).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn pending_appointments(
    state: State<'_, AppState>,
) -> Result<Vec<Appointment>, CommandError> {
    as_actor(&state, |desk, actor| {
        desk.list_appointments(
            actor,
            &AppointmentFilter {
                from: Some(desk.now() - 86_400),
                status: Some(AppointmentStatus::Pending),
                limit: Some(500),
                ..Default::default()
            },
        )
    })
    .await
}

/// All doctors, inactive ones included.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn list_doctors(state: State<'_, AppState>) -> Result<Vec<Doctor>, CommandError> {
    as_actor(&state, |desk, actor| desk.list_doctors(actor, true)).await
}

/// Adds a doctor.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn add_doctor(
    state: State<'_, AppState>,
    name: Input<String>,
    specialty: Input<String>,
) -> Result<Doctor, CommandError> {
    let Input(name) = name;
    let Input(specialty) = specialty;
    as_actor(&state, move |desk, actor| {
        desk.add_doctor(actor, &name, &specialty)
    })
    .await
}

/// Deactivates a doctor (no new bookings; history kept).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn deactivate_doctor(
    state: State<'_, AppState>,
    doctor_id: Input<i64>,
) -> Result<Doctor, CommandError> {
    let Input(doctor_id) = doctor_id;
    as_actor(&state, move |desk, actor| {
        desk.deactivate_doctor(actor, doctor_id)
    })
    .await
}

/// Adds one slot: clinic-local `date` (`YYYY-MM-DD`) and `start` (`HH:MM`), `minutes` long.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn add_single_slot(
    state: State<'_, AppState>,
    doctor_id: Input<i64>,
    date: Input<String>,
    start: Input<String>,
    minutes: Input<u32>,
    mode: Input<Option<SlotMode>>,
) -> Result<Slot, CommandError> {
    let Input(doctor_id) = doctor_id;
    let Input(date) = date;
    let Input(start) = start;
    let Input(minutes) = minutes;
    let Input(mode) = mode;
    as_actor(&state, move |desk, actor| {
        let tz = desk.settings()?.tz();
        let start_at = parse_moment(&format!("{} {}", date.trim(), start.trim()), tz)?;
        let end_at = start_at + i64::from(minutes) * 60;
        desk.add_slot(actor, doctor_id, start_at, end_at, mode.unwrap_or_default())
    })
    .await
}

/// Blocks or unblocks a slot.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn set_slot_blocked(
    state: State<'_, AppState>,
    slot_id: Input<i64>,
    blocked: Input<bool>,
) -> Result<Slot, CommandError> {
    let Input(slot_id) = slot_id;
    let Input(blocked) = blocked;
    as_actor(&state, move |desk, actor| {
        desk.set_slot_blocked(actor, slot_id, blocked)
    })
    .await
}

/// Every appointment of a clinic-local day (any status), for the printed day sheet.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn day_appointments(
    state: State<'_, AppState>,
    date: Input<String>,
) -> Result<Vec<Appointment>, CommandError> {
    let Input(date) = date;
    as_actor(&state, move |desk, actor| {
        let tz = desk.settings()?.tz();
        let (from, to) = frontdesk::domain::clinic::day_bounds(parse_date(&date)?, tz);
        desk.list_appointments(
            actor,
            &AppointmentFilter {
                from: Some(from),
                to: Some(to),
                limit: Some(2000),
                ..Default::default()
            },
        )
    })
    .await
}
