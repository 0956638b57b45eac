//! Start-up, first run, the demo clinic, signing in and out, idle logoff and the
//! change feed. The session token never leaves this process: the page learns only
//! who is signed in and which actions their role has.

use std::sync::Arc;

use frontdesk::{Action, Actor, ClinicSettings, DemoAccount, Frontdesk};
use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use tauri::State;
use ts_rs::TS;

use super::input::Input;
use super::{as_actor, with_desk};
use crate::error::CommandError;
use crate::jobs::{JobKind, Jobs};
use crate::state::AppState;
use crate::watcher::Watcher;
use crate::DatabaseLocation;

/// The person signed in at this window.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct SignedIn {
    /// Who (name and role).
    pub actor: Actor,
    /// What their role may do; the UI shows only these buttons (the core decides).
    pub allowed: Vec<Action>,
}

impl SignedIn {
    fn of(actor: Actor) -> Self {
        // someone who must choose a new password may do nothing else (the core
        // refuses it all); the page shows only the change-password screen
        let allowed = Action::ALL
            .into_iter()
            .filter(|a| !actor.must_change_password && a.allowed_for(actor.role))
            .collect();
        Self { actor, allowed }
    }
}

/// What the window needs to decide its first screen.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct Startup {
    /// The database file.
    pub db_path: String,
    /// Why the database could not be opened (then nothing else works).
    pub open_error: Option<CommandError>,
    /// The key id of the database's key, when it did not open because this
    /// computer lacks that key (`open_error` is then `KeyNeeded`): the window asks
    /// for the recovery key.
    pub key_needed: Option<String>,
    /// No staff account exists yet: show the first-run setup.
    pub needs_first_admin: bool,
    /// The clinic's settings (name, time zone, demo flag…), when open.
    pub clinic: Option<ClinicSettings>,
    /// Demo accounts created this run (`--demo`), shown on the login screen.
    pub demo_accounts: Vec<DemoAccount>,
    /// Who is signed in at this window already (after a page reload).
    pub signed_in: Option<SignedIn>,
}

/// The first screen's facts; never fails (an unopened database is reported inside).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn startup(
    state: State<'_, AppState>,
    location: State<'_, DatabaseLocation>,
) -> Result<Startup, CommandError> {
    let mut db_path = location.path().display().to_string();
    let desk = match state.desk() {
        // a desk connected to its clinic server since it started
        Ok(d) if d.on_server() => {
            db_path = d.path().display().to_string();
            d
        }
        Ok(d) => d,
        Err(e) => {
            let key_needed = (e.code == frontdesk::ErrorCode::KeyNeeded)
                .then(|| {
                    frontdesk::storage::cipher::file_kind(&location.path())
                        .ok()?
                        .key_id()
                })
                .flatten();
            return Ok(Startup {
                db_path,
                key_needed,
                open_error: Some(e),
                needs_first_admin: false,
                clinic: None,
                demo_accounts: vec![],
                signed_in: None,
            });
        }
    };
    let (needs_first_admin, clinic) =
        with_desk(&state, |d| Ok((d.needs_first_admin()?, d.settings()?))).await?;
    let signed_in = match state.token() {
        Some(token) => {
            let sessions = state.sessions();
            super::blocking(move || sessions.live_actor(&desk, &token))
                .await
                .ok()
                .map(SignedIn::of)
        }
        None => None,
    };
    Ok(Startup {
        db_path,
        open_error: None,
        key_needed: None,
        needs_first_admin,
        clinic: Some(clinic),
        demo_accounts: state.demo_accounts(),
        signed_in,
    })
}

/// First-run input: the clinic and its first admin account.
#[derive(Debug, Clone, Deserialize, TS)]
#[ts(export)]
pub struct FirstRun {
    /// Clinic name, time zone, phone country, idle minutes (the demo flag is ignored).
    pub clinic: ClinicSettings,
    /// The admin's sign-in name.
    pub username: String,
    /// The admin's name as shown and audited.
    pub display_name: String,
    /// The admin's password.
    pub password: String,
}

/// Creates the first admin, signs them in and saves the clinic settings.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn first_run(
    state: State<'_, AppState>,
    setup: Input<FirstRun>,
) -> Result<SignedIn, CommandError> {
    let Input(setup) = setup;
    let sessions = state.sessions();
    let session = with_desk(&state, move |desk| {
        // the clinic's name is saved only once the admin exists: check the password
        // against it (the core's rule) before
        frontdesk::domain::password::check_new_password(
            &setup.password,
            &[&setup.username, &setup.display_name, &setup.clinic.name],
        )?;
        desk.create_first_admin(&setup.username, &setup.display_name, &setup.password)?;
        let session = sessions.login(desk, &setup.username, &setup.password)?;
        desk.update_clinic_settings(&session.actor, &setup.clinic)?;
        Ok(session)
    })
    .await?;
    let actor = session.actor.clone();
    state.sign_in(session.token);
    Ok(SignedIn::of(actor))
}

/// First-run choice: fill the empty database with the demo clinic; returns the demo
/// accounts (their passwords are shown on the login screen).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn open_demo_clinic(
    state: State<'_, AppState>,
) -> Result<Vec<DemoAccount>, CommandError> {
    let accounts = with_desk(&state, |desk| crate::open_demo(desk)).await?;
    state.set_demo_accounts(accounts.clone());
    Ok(accounts)
}

/// First-run choice: this desk works on the clinic's server from now on. The
/// server is reached and its schema checked before anything changes; then its
/// address (without a password: that is in the user's pgpass file) is kept in
/// this desk's own settings, never in a clinic database, and the desk reopens on
/// it. Only while this desk's file holds no clinic yet, so no clinic is ever left
/// behind by a click. Returns the address as the footer shows it.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn connect_to_server<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    url: Input<String>,
) -> Result<String, CommandError> {
    let Input(url) = url;
    let url = url.trim().to_string();
    if frontdesk::storage::db::server_url(std::path::Path::new(&url)).is_none() {
        return Err(CommandError::new(
            frontdesk::ErrorCode::Invalid,
            "give the clinic server's address as your administrator wrote it down: it begins with postgres://",
        ));
    }
    if !with_desk(&state, |desk| desk.needs_first_admin()).await? {
        return Err(CommandError::new(
            frontdesk::ErrorCode::Invalid,
            "this desk already has a clinic in its file; it connects to a clinic server only on its first start",
        ));
    }
    let server = super::blocking(move || {
        let server = Frontdesk::open(&url, frontdesk::OpenOptions::default())?;
        frontdesk::storage::db::remember_server(&url)?;
        Ok(server)
    })
    .await?;
    let shown = server.path().display().to_string();
    switch_database(app, |_| Ok(Ok(server))).await?;
    Ok(shown)
}

/// An admin disconnects this desk from its clinic server (see
/// [`Frontdesk::disconnect_desk`]): the window's session ends and the desk reopens
/// on its own file — the first-run screen when that holds no clinic yet, the
/// unlock screen when its key is not on this PC. Returns the file as the footer
/// shows it. Until the server is forgotten, a failure leaves the desk on it.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn disconnect_from_server<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<String, CommandError> {
    use tauri::Manager;
    // FRONTDESK_DB is unset: the core refuses a desk started with it
    let file = DatabaseLocation::resolve(None, || app.path().app_data_dir())
        .map_err(CommandError::internal)?
        .path();
    // refused (a role, a file, FRONTDESK_DB) before the desk is closed
    let actor = as_actor(&state, |desk, actor| {
        desk.may_disconnect_desk(actor)?;
        Ok(actor.clone())
    })
    .await?;
    let (handle, opened_file) = (app.clone(), file.clone());
    switch_database(app, move |server| {
        server.disconnect_desk(&actor)?;
        handle.state::<AppState>().sign_out();
        handle.state::<DatabaseLocation>().set(opened_file.clone());
        // as at the next start without the server: a file that does not open
        // says why in the window (or asks for its recovery key)
        Ok(Frontdesk::open(
            &opened_file,
            frontdesk::OpenOptions::default(),
        ))
    })
    .await?;
    Ok(file.display().to_string())
}

/// Replaces the open database with what `next` opens, once the running commands
/// are done with it, the watcher following. When `next` fails, the database
/// stays as it was.
async fn switch_database<R, F>(app: tauri::AppHandle<R>, next: F) -> Result<(), CommandError>
where
    R: tauri::Runtime,
    F: FnOnce(&Frontdesk) -> Result<frontdesk::Result<Frontdesk>, CommandError> + Send + 'static,
{
    tauri::async_runtime::spawn_blocking(move || {
        use tauri::Manager;
        let state = app.state::<AppState>();
        let watcher = app.state::<Arc<Watcher>>();
        watcher.pause();
        let switched = state
            .close_for_restore(std::time::Duration::from_secs(30))
            .map(|old| match next(&old) {
                Ok(opened) => {
                    drop(old);
                    state.reopened(opened);
                    Ok(())
                }
                Err(e) => {
                    state.reopened(Ok(old));
                    Err(e)
                }
            });
        watcher.resume(state.desk().ok().as_ref());
        switched?
    })
    .await
    .map_err(CommandError::internal)?
}

/// Signs in at this window.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn login(
    state: State<'_, AppState>,
    jobs: State<'_, Arc<Jobs>>,
    username: Input<String>,
    password: Input<String>,
) -> Result<SignedIn, CommandError> {
    let Input(username) = username;
    let Input(password) = password;
    let sessions = state.sessions();
    let jobs = jobs.inner().clone();
    let session = with_desk(&state, move |desk| {
        let session = sessions.login(desk, &username, &password)?;
        if session.actor.role == frontdesk::Role::Admin && !session.actor.must_change_password {
            // an admin signing in is the moment for the daily backup; it runs beside
            // the desk (a large clinic's backup takes seconds) instead of delaying it
            let (desk, actor) = (desk.clone(), session.actor.clone());
            std::thread::spawn(move || automatic_backup(&desk, &actor, &jobs));
        }
        Ok(session)
    })
    .await?;
    let actor = session.actor.clone();
    state.sign_in(session.token);
    Ok(SignedIn::of(actor))
}

/// The daily backup, when one is due, as a backup job like "Back up now": every
/// page shows its progress and how it ended (a failure is not only in the log),
/// and a "Back up now" meanwhile is refused as `Busy` rather than racing it.
/// Skipped while a backup (which is today's) or a restore runs. Not being able to
/// tell whether one is due (an unreadable backup folder) is a failed backup too.
pub(crate) fn automatic_backup(desk: &Frontdesk, actor: &Actor, jobs: &Arc<Jobs>) {
    let due = desk.backup_due();
    if matches!(due, Ok(false)) {
        return;
    }
    let Ok(job) = jobs.start(JobKind::Backup) else {
        tracing::info!("automatic backup skipped: another long job runs");
        return;
    };
    tracing::info!("automatic backup started");
    let mut reporter = job.reporter();
    let outcome = due
        .and_then(|_| desk.backup_if_due_with(actor, &mut |p| reporter.report(p)))
        .map_err(CommandError::from);
    // logged as the job ends ("long job failed" with the error)
    job.end(&outcome);
}

/// Ends this window's session.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn logout(state: State<'_, AppState>) -> Result<(), CommandError> {
    state.sign_out();
    Ok(())
}

/// Marks the session active (the UI calls it on keyboard and mouse activity);
/// `Unauthenticated` once the idle logoff has ended it.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn touch(state: State<'_, AppState>) -> Result<(), CommandError> {
    let desk = state.desk()?;
    let sessions = state.sessions();
    let token = state.token().ok_or_else(CommandError::unauthenticated)?;
    super::blocking(move || sessions.touch(&desk, &token)).await
}

/// The signed-in person changes their own password (also the screen a reset
/// password leads to); this window stays signed in, their other sessions end.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn change_own_password(
    state: State<'_, AppState>,
    current: Input<String>,
    new: Input<String>,
) -> Result<SignedIn, CommandError> {
    let (Input(current), Input(new)) = (current, new);
    let desk = state.desk()?;
    let sessions = state.sessions();
    let token = state.token().ok_or_else(CommandError::unauthenticated)?;
    let (actor, _) =
        super::blocking(move || sessions.change_password(&desk, &token, &current, &new)).await?;
    Ok(SignedIn::of(actor))
}

/// The clinic's settings (name, time zone, demo badge, idle minutes).
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn clinic_settings(state: State<'_, AppState>) -> Result<ClinicSettings, CommandError> {
    as_actor(&state, |desk, _| desk.settings()).await
}

/// Subscribes the page to the change feed: `on_change` receives the database's
/// data version whenever anyone (this or another desk) commits.
#[tauri::command(async)]
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn watch_changes(
    watcher: State<'_, Arc<Watcher>>,
    on_change: Channel<i64>,
) -> Result<(), CommandError> {
    watcher.subscribe(on_change);
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{desk_on_new_database, invoke};

    #[test]
    fn the_page_learns_who_is_signed_in_but_never_a_session_token() {
        let (_app, window, _dir) = desk_on_new_database("token");
        let start = invoke(&window, "startup", json!({})).unwrap();
        assert_eq!(start["needs_first_admin"], true, "got {start}");

        let signed_in = invoke(
            &window,
            "first_run",
            json!({"setup": {
                "clinic": {"name": "Praxis", "time_zone": "Europe/Berlin",
                           "phone_country": "DE", "demo": false, "idle_minutes": 15},
                "username": "admin", "display_name": "Dr. Admin",
                "password": "correct horse battery"}}),
        )
        .unwrap();
        assert_eq!(signed_in["actor"]["role"], "ADMIN", "got {signed_in}");
        assert!(
            signed_in["allowed"]
                .as_array()
                .is_some_and(|a| a.contains(&json!("Confirm"))),
            "an admin may confirm; got {signed_in}"
        );
        let text = signed_in.to_string();
        assert!(
            !text.contains("token") && !text.contains("expires_at"),
            "the session token stays in Rust; the page got {text}"
        );
        invoke(&window, "day_view", json!({"date": ""})).expect("signed in, the day loads");
    }

    // after logout every command but the public ones answers Unauthenticated:
    // src-tauri/tests/command_fuzz.rs walks them all

    #[test]
    fn a_reset_password_opens_only_the_change_password_command_until_it_is_changed() {
        let (_app, window, _dir) = desk_on_new_database("forced-change");
        invoke(
            &window,
            "first_run",
            json!({"setup": {
                "clinic": {"name": "Praxis", "time_zone": "UTC",
                           "phone_country": "DE", "demo": false, "idle_minutes": 15},
                "username": "admin", "display_name": "Dr. Admin",
                "password": "correct horse battery"}}),
        )
        .unwrap();
        let rita = invoke(
            &window,
            "add_staff",
            json!({"staff": {"username": "rita", "display_name": "Rita",
                             "role": "RECEPTIONIST", "password": "amber meadow violin 4"}}),
        )
        .unwrap()["id"]
            .clone();
        invoke(
            &window,
            "reset_staff_password",
            json!({"staffId": rita, "password": "temporary lantern 42"}),
        )
        .unwrap();
        invoke(&window, "logout", json!({})).unwrap();

        let signed_in = invoke(
            &window,
            "login",
            json!({"username": "rita", "password": "temporary lantern 42"}),
        )
        .unwrap();
        assert_eq!(
            (
                &signed_in["actor"]["must_change_password"],
                &signed_in["allowed"]
            ),
            (&json!(true), &json!([])),
            "the page learns a change is due and may offer nothing else; got {signed_in}"
        );
        let refused = invoke(&window, "day_view", json!({"date": ""})).unwrap_err();
        assert_eq!(
            refused["code"], "Forbidden",
            "other commands are refused (not signed out); got {refused}"
        );
        let start = invoke(&window, "startup", json!({})).unwrap();
        assert_eq!(
            start["signed_in"]["actor"]["must_change_password"], true,
            "a reload returns to the change screen; got {start}"
        );
        let weak = invoke(
            &window,
            "change_own_password",
            json!({"current": "temporary lantern 42", "new": "rita123456"}),
        )
        .unwrap_err();
        assert_eq!(
            weak["code"], "Invalid",
            "a guessable one is refused; got {weak}"
        );
        let changed = invoke(
            &window,
            "change_own_password",
            json!({"current": "temporary lantern 42", "new": "sunflower marble kettle"}),
        )
        .unwrap();
        assert_eq!(
            changed["actor"]["must_change_password"], false,
            "got {changed}"
        );
        invoke(&window, "day_view", json!({"date": ""}))
            .expect("after the change the desk works in the same window");
    }
}
