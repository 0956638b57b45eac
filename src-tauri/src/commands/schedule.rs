//! Admin → Schedule: weekly templates per doctor, time off, and slot generation
//! with a preview of what would be created, removed and kept booked.

use std::sync::Arc;

use frontdesk::domain::clinic::parse_date;
use frontdesk::{Action, Doctor, GenerationReport, NewTemplate, NewTimeOff, Template, TimeOff};
use tauri::State;

use super::as_actor;
use super::input::Input;
use super::operations::run_job;
use crate::error::CommandError;
use crate::jobs::{JobKind, Jobs};
use crate::state::AppState;

/// Every doctor, inactive ones included (their templates can still be seen).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn schedule_doctors(state: State<'_, AppState>) -> Result<Vec<Doctor>, CommandError> {
    as_actor(&state, move |desk, actor| desk.list_doctors(actor, true)).await
}

/// Weekly templates of one doctor or all.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn list_templates(
    state: State<'_, AppState>,
    doctor_id: Input<Option<i64>>,
) -> Result<Vec<Template>, CommandError> {
    let Input(doctor_id) = doctor_id;
    as_actor(&state, move |desk, actor| {
        desk.list_templates(actor, doctor_id)
    })
    .await
}

/// Adds a weekly template.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn add_template(
    state: State<'_, AppState>,
    template: Input<NewTemplate>,
) -> Result<Template, CommandError> {
    let Input(template) = template;
    as_actor(&state, move |desk, actor| {
        desk.add_template(actor, &template)
    })
    .await
}

/// Removes a weekly template (existing slots stay until slots are generated again).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn remove_template(
    state: State<'_, AppState>,
    template_id: Input<i64>,
) -> Result<(), CommandError> {
    let Input(template_id) = template_id;
    as_actor(&state, move |desk, actor| {
        desk.remove_template(actor, template_id)
    })
    .await
}

/// Time off of one doctor (with the clinic-wide entries) or of all.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn list_time_off(
    state: State<'_, AppState>,
    doctor_id: Input<Option<i64>>,
) -> Result<Vec<TimeOff>, CommandError> {
    let Input(doctor_id) = doctor_id;
    as_actor(&state, move |desk, actor| {
        desk.list_time_off(actor, None, None, doctor_id)
    })
    .await
}

/// Adds time off.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn add_time_off(
    state: State<'_, AppState>,
    time_off: Input<NewTimeOff>,
) -> Result<TimeOff, CommandError> {
    let Input(time_off) = time_off;
    as_actor(&state, move |desk, actor| {
        desk.add_time_off(actor, &time_off)
    })
    .await
}

/// Removes time off.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn remove_time_off(
    state: State<'_, AppState>,
    time_off_id: Input<i64>,
) -> Result<(), CommandError> {
    let Input(time_off_id) = time_off_id;
    as_actor(&state, move |desk, actor| {
        desk.remove_time_off(actor, time_off_id)
    })
    .await
}

/// Generates slots from the templates for `from..=to` (`YYYY-MM-DD`); with
/// `dry_run` only previews. With the `preview_token` of a preview, applies only if
/// nothing that preview showed has changed since (else a Conflict).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn generate_slots(
    state: State<'_, AppState>,
    jobs: State<'_, Arc<Jobs>>,
    from: Input<String>,
    to: Input<String>,
    doctor_id: Input<Option<i64>>,
    dry_run: Input<bool>,
    preview_token: Input<Option<String>>,
) -> Result<GenerationReport, CommandError> {
    let (Input(from), Input(to), Input(doctor_id), Input(dry_run), Input(preview_token)) =
        (from, to, doctor_id, dry_run, preview_token);
    if dry_run {
        return as_actor(&state, move |desk, actor| {
            let (from, to) = (parse_date(&from)?, parse_date(&to)?);
            desk.generate_slots(actor, from, to, doctor_id, true)
        })
        .await;
    }
    // applying is a long job (a year for many doctors): one at a time, with progress
    let (kind, action) = (JobKind::GenerateSlots, Action::ManageSchedule);
    run_job(&state, &jobs, kind, action, move |desk, actor, progress| {
        let (from, to) = (parse_date(&from)?, parse_date(&to)?);
        let token = preview_token.as_deref();
        desk.generate_slots_with(actor, from, to, doctor_id, token, progress)
    })
    .await
}
