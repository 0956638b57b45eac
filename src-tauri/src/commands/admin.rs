//! Admin screens: staff accounts, clinic settings, the passcode sender and outbox,
//! the audit log, contention metrics and where the log files are. The core refuses
//! all of it to anyone but an admin; the UI only hides what a role cannot use.

use frontdesk::domain::clinic::ClinicSettingsChange;
use frontdesk::service::settings::Setting;
use frontdesk::OutboxMessage;
use frontdesk::StaffMember;
use frontdesk::{AuditEvent, AuditFilter};
use frontdesk::{ClinicSettings, DeliveryReport, MetricsSnapshot, NewStaff, Role, SenderStatus};
use tauri::State;

use super::as_actor;
use super::input::Input;
use crate::error::CommandError;
use crate::state::AppState;

/// How many outbox messages the admin screen lists.
const OUTBOX_LIMIT: u32 = 200;

/// Every staff account.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn list_staff(state: State<'_, AppState>) -> Result<Vec<StaffMember>, CommandError> {
    as_actor(&state, move |desk, actor| desk.list_staff(actor)).await
}

/// Adds a staff account.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn add_staff(
    state: State<'_, AppState>,
    staff: Input<NewStaff>,
) -> Result<StaffMember, CommandError> {
    let Input(staff) = staff;
    as_actor(&state, move |desk, actor| desk.add_staff(actor, &staff)).await
}

/// Sets a new password the person must replace at their next sign-in (and lifts
/// any sign-in lock); their open sessions end.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn reset_staff_password(
    state: State<'_, AppState>,
    staff_id: Input<i64>,
    password: Input<String>,
) -> Result<StaffMember, CommandError> {
    let (Input(staff_id), Input(password)) = (staff_id, password);
    as_actor(&state, move |desk, actor| {
        desk.reset_password(actor, staff_id, &password)
    })
    .await
}

/// Deactivates an account and ends its sessions (the core refuses the last admin).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn deactivate_staff(
    state: State<'_, AppState>,
    staff_id: Input<i64>,
) -> Result<StaffMember, CommandError> {
    let Input(staff_id) = staff_id;
    as_actor(&state, move |desk, actor| {
        desk.deactivate_staff(actor, staff_id)
    })
    .await
}

/// Changes an account's role and ends its sessions (the core refuses demoting the
/// last admin).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn change_staff_role(
    state: State<'_, AppState>,
    staff_id: Input<i64>,
    role: Input<Role>,
) -> Result<StaffMember, CommandError> {
    let (Input(staff_id), Input(role)) = (staff_id, role);
    as_actor(&state, move |desk, actor| {
        desk.change_role(actor, staff_id, role)
    })
    .await
}

/// Lifts a sign-in lock and forgets the failed sign-ins that delay the next one.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn unlock_staff(
    state: State<'_, AppState>,
    staff_id: Input<i64>,
) -> Result<StaffMember, CommandError> {
    let Input(staff_id) = staff_id;
    as_actor(&state, move |desk, actor| {
        desk.unlock_staff(actor, staff_id)
    })
    .await
}

/// The clinic settings, for the settings form (not secret: every desk shows the
/// clinic's name and works in its time zone; saving is what needs an admin).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn admin_clinic_settings(
    state: State<'_, AppState>,
) -> Result<ClinicSettings, CommandError> {
    as_actor(&state, move |desk, _| desk.settings()).await
}

/// Saves the fields of the clinic settings form (name, time zone, phone country,
/// idle minutes) that differ from `seen`, the settings the form was loaded with;
/// the others keep what is in the database, even if another desk changed them
/// since (validated by the core).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn save_clinic_settings(
    state: State<'_, AppState>,
    seen: Input<ClinicSettings>,
    settings: Input<ClinicSettings>,
) -> Result<ClinicSettings, CommandError> {
    let (Input(seen), Input(settings)) = (seen, settings);
    as_actor(&state, move |desk, actor| {
        desk.change_clinic_settings(actor, &ClinicSettingsChange::between(&seen, &settings))
    })
    .await
}

/// Every setting with its value, default and meaning.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn list_settings(state: State<'_, AppState>) -> Result<Vec<Setting>, CommandError> {
    as_actor(&state, move |desk, actor| desk.list_settings(actor)).await
}

/// Saves one setting (backup folder, retention, …), validated by the core.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn save_setting(
    state: State<'_, AppState>,
    key: Input<String>,
    value: Input<String>,
) -> Result<Setting, CommandError> {
    let (Input(key), Input(value)) = (key, value);
    as_actor(&state, move |desk, actor| {
        desk.set_setting(actor, &key, &value)
    })
    .await
}

/// The passcode sender: this PC's senders file, the senders it describes, the
/// clinic's choice and the one in use (the program is never set from here).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn otp_sender(state: State<'_, AppState>) -> Result<SenderStatus, CommandError> {
    as_actor(&state, move |desk, actor| desk.otp_sender(actor)).await
}

/// Chooses which of this PC's senders the clinic uses, by name (`null`: the
/// senders file's default).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn save_otp_sender(
    state: State<'_, AppState>,
    sender: Input<Option<String>>,
) -> Result<SenderStatus, CommandError> {
    let Input(sender) = sender;
    as_actor(&state, move |desk, actor| {
        desk.set_otp_sender(actor, sender.as_deref())
    })
    .await
}

/// Passcode messages, newest first (never their text).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn list_outbox(state: State<'_, AppState>) -> Result<Vec<OutboxMessage>, CommandError> {
    as_actor(&state, move |desk, actor| {
        desk.list_outbox(actor, OUTBOX_LIMIT)
    })
    .await
}

/// Sweeps the outbox now: erases expired messages and sends any a stopped desk
/// left unsent (requests send their own message at once).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn deliver_outbox(state: State<'_, AppState>) -> Result<DeliveryReport, CommandError> {
    as_actor(&state, move |desk, actor| desk.deliver_outbox(actor)).await
}

/// Audit events matching the filter, newest first.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn list_audit(
    state: State<'_, AppState>,
    filter: Input<AuditFilter>,
) -> Result<Vec<AuditEvent>, CommandError> {
    let Input(filter) = filter;
    as_actor(&state, move |desk, actor| desk.list_audit(actor, &filter)).await
}

/// Lock waits, holds, retries and refusals per operation, of every desk.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn contention_metrics(
    state: State<'_, AppState>,
) -> Result<MetricsSnapshot, CommandError> {
    as_actor(&state, move |desk, actor| desk.contention_metrics(actor)).await
}

/// The folder the app's log files are written to.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn log_location(state: State<'_, AppState>) -> Result<String, CommandError> {
    as_actor(&state, move |desk, actor| {
        Ok(desk.log_folder(actor)?.display().to_string())
    })
    .await
}
