//! The reminder worker: while someone is signed in at this desk, a background
//! thread sends the appointment reminders that are due, every minute, as that
//! person (audited as "<name> (reminder worker)"). Every open desk runs one; the
//! core claims each reminder in a write transaction, so however many desks run,
//! each reminder goes out once (see `frontdesk::Frontdesk::send_due_reminders`).
//!
//! It looks the person up without marking the session active, so it never keeps
//! an idle desk signed in; it does nothing while nobody is signed in, while the
//! database is closed for a restore, or while reminders are off. Errors are
//! logged; a panic in one run is caught and logged, and the next run goes on.

use std::time::Duration;

use frontdesk::Actor;
use tauri::{AppHandle, Manager, Runtime};

use crate::state::AppState;

/// How often the worker looks for due reminders.
pub const INTERVAL: Duration = Duration::from_secs(60);

/// Starts the worker thread; it runs until the app exits.
pub fn start<R: Runtime>(app: AppHandle<R>) {
    let spawned = std::thread::Builder::new()
        .name("reminder-worker".into())
        .spawn(move || {
            let mut last_problem: Option<String> = None;
            loop {
                std::thread::sleep(INTERVAL);
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_once(&app, &mut last_problem)
                }));
                if run.is_err() {
                    tracing::error!(
                        "the reminder worker's run panicked; it tries again in a minute"
                    );
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("the reminder worker cannot start: {e}");
    }
}

/// One run: the signed-in person's due reminders, if anyone is signed in.
fn run_once<R: Runtime>(app: &AppHandle<R>, last_problem: &mut Option<String>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    let (Some(token), Ok(desk)) = (state.token(), state.desk()) else {
        return;
    };
    let actor = match state.sessions().background_actor(&desk, &token) {
        Ok(actor) => actor,
        // signed out, idle or changed: the window shows it; nothing to send as
        Err(_) => return,
    };
    let actor = Actor {
        name: format!("{} (reminder worker)", actor.name),
        ..actor
    };
    match desk.send_due_reminders(&actor) {
        Ok(report) => {
            if report.sent + report.failed + report.skipped + report.taken_over > 0 {
                tracing::info!(
                    sent = report.sent,
                    failed = report.failed,
                    skipped = report.skipped,
                    taken_over = report.taken_over,
                    "appointment reminders"
                );
            }
            // a missing sender is said once, not every minute
            if report.problem != *last_problem {
                if let Some(problem) = &report.problem {
                    tracing::warn!("appointment reminders cannot be sent: {problem}");
                }
                *last_problem = report.problem;
            }
        }
        Err(e) => tracing::warn!("sending appointment reminders failed: {e}"),
    }
}
