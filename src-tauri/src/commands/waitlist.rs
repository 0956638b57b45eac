//! Waitlist: patients waiting for a doctor (first come, first served), the entries
//! a freed slot would suit, and booking one of them in one step.

use frontdesk::domain::clinic::parse_date;
use frontdesk::{Appointment, NewWaitlistEntry, SlotView, WaitlistEntry, WaitlistFilter};
use tauri::State;

use super::as_actor;
use super::input::Input;
use crate::error::CommandError;
use crate::state::AppState;

/// Open entries, oldest first, of one doctor or all.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn waitlist_list(
    state: State<'_, AppState>,
    doctor_id: Input<Option<i64>>,
) -> Result<Vec<WaitlistEntry>, CommandError> {
    let Input(doctor_id) = doctor_id;
    let filter = WaitlistFilter {
        doctor_id,
        ..Default::default()
    };
    as_actor(&state, move |desk, actor| {
        desk.waitlist_list(actor, &filter)
    })
    .await
}

/// Puts a patient on the waitlist.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn waitlist_add(
    state: State<'_, AppState>,
    entry: Input<NewWaitlistEntry>,
) -> Result<WaitlistEntry, CommandError> {
    let Input(entry) = entry;
    as_actor(&state, move |desk, actor| desk.waitlist_add(actor, &entry)).await
}

/// Takes a patient off the waitlist.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn waitlist_remove(
    state: State<'_, AppState>,
    entry_id: Input<i64>,
) -> Result<WaitlistEntry, CommandError> {
    let Input(entry_id) = entry_id;
    as_actor(&state, move |desk, actor| {
        desk.waitlist_remove(actor, entry_id)
    })
    .await
}

/// The open entries this slot would suit, first come first served.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn waitlist_matches(
    state: State<'_, AppState>,
    slot_id: Input<i64>,
) -> Result<Vec<WaitlistEntry>, CommandError> {
    let Input(slot_id) = slot_id;
    as_actor(&state, move |desk, actor| {
        desk.waitlist_matches_for_slot(actor, slot_id)
    })
    .await
}

/// Books the waiting patient into the slot and closes the entry.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn book_from_waitlist(
    state: State<'_, AppState>,
    entry_id: Input<i64>,
    slot_id: Input<i64>,
) -> Result<Appointment, CommandError> {
    let (Input(entry_id), Input(slot_id)) = (entry_id, slot_id);
    as_actor(&state, move |desk, actor| {
        desk.book_from_waitlist(actor, entry_id, slot_id)
    })
    .await
}

/// One doctor's slots on a clinic-local day (`YYYY-MM-DD`), to pick a free one.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn doctor_day_slots(
    state: State<'_, AppState>,
    doctor_id: Input<i64>,
    date: Input<String>,
) -> Result<Vec<SlotView>, CommandError> {
    let (Input(doctor_id), Input(date)) = (doctor_id, date);
    as_actor(&state, move |desk, actor| {
        let date = parse_date(&date)?;
        Ok(desk.day_view(actor, date, Some(doctor_id))?.slots)
    })
    .await
}
