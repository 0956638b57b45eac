//! Long jobs — a backup, a restore, generating slots, encrypting the database — run
//! on a blocking thread (the window and every other command stay responsive), one
//! of each kind at a time, and tell every page how far they have got.
//!
//! [`Jobs::start`] refuses a job while one of the same kind runs (in any window of
//! this process), and refuses anything while the database file is being replaced
//! (a restore, a conversion), or a replacement while anything runs: `Busy` with a
//! sentence naming what runs. The page subscribes once with `watch_jobs`; the
//! core's reports reach it throttled to about ten a second (a new phase and the
//! end of a phase always go through), and a `progress: null` message says the job
//! ended (its own command answers how).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use frontdesk::domain::progress::Progress;
use frontdesk::ErrorCode;
use serde::Serialize;
use tauri::ipc::Channel;
use ts_rs::TS;

use crate::error::CommandError;

/// Reports of one job reach the page at most this often (a new phase and the end
/// of a phase always go through).
pub const REPORT_EVERY: Duration = Duration::from_millis(100);

/// The long jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, TS)]
#[ts(export)]
pub enum JobKind {
    /// Backing up the database.
    Backup,
    /// Restoring a backup over the database.
    Restore,
    /// Generating slots from the weekly templates.
    GenerateSlots,
    /// Encrypting the database or changing its key.
    ConvertDatabase,
}

impl JobKind {
    /// Replaces the database file: runs alone.
    fn replaces_the_database(self) -> bool {
        matches!(self, JobKind::Restore | JobKind::ConvertDatabase)
    }

    fn running_sentence(self) -> &'static str {
        match self {
            JobKind::Backup => "a backup is running",
            JobKind::Restore => "a backup is being restored",
            JobKind::GenerateSlots => "slots are being generated",
            JobKind::ConvertDatabase => "the database is being encrypted",
        }
    }
}

/// What the page receives on its jobs channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct JobProgress {
    /// Which job.
    pub job: JobKind,
    /// How far it has got; `null` when it has ended.
    pub progress: Option<Progress>,
}

/// The running jobs and the pages listening (managed state).
#[derive(Default)]
pub struct Jobs {
    running: Mutex<Vec<JobKind>>,
    subscribers: Mutex<Vec<Channel<JobProgress>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Jobs {
    /// Registers a `kind` job, or refuses with `Busy` when it may not run now (see
    /// the module docs). The job counts as running until the guard is dropped.
    pub fn start(self: &Arc<Self>, kind: JobKind) -> Result<JobGuard, CommandError> {
        let mut running = lock(&self.running);
        let clash = running.iter().copied().find(|&other| {
            other == kind || other.replaces_the_database() || kind.replaces_the_database()
        });
        if let Some(other) = clash {
            let message = if other == kind {
                format!(
                    "{} already; wait until it has finished",
                    other.running_sentence()
                )
            } else {
                format!(
                    "{}; wait until it has finished and try again",
                    other.running_sentence()
                )
            };
            return Err(CommandError::new(ErrorCode::Busy, message));
        }
        running.push(kind);
        drop(running);
        Ok(JobGuard {
            jobs: self.clone(),
            kind,
            last: None,
            started: Instant::now(),
            reports: 0,
            sent: 0,
        })
    }

    /// The jobs running now.
    pub fn running(&self) -> Vec<JobKind> {
        lock(&self.running).clone()
    }

    /// Adds a page's channel; it is dropped when a send fails (page reloaded).
    pub fn subscribe(&self, channel: Channel<JobProgress>) {
        lock(&self.subscribers).push(channel);
    }

    fn send(&self, message: JobProgress) {
        lock(&self.subscribers).retain(|c| c.send(message.clone()).is_ok());
    }
}

/// A running job: reports its progress, and ends it when dropped (also when the
/// job failed or panicked).
pub struct JobGuard {
    jobs: Arc<Jobs>,
    kind: JobKind,
    /// The last report sent and when.
    last: Option<(Progress, Instant)>,
    started: Instant,
    /// Reports from the core, and those sent on (for the log line at the end).
    reports: u64,
    sent: u64,
}

impl JobGuard {
    /// Passes a report of the core on to the pages, at most one per
    /// [`REPORT_EVERY`] except a new phase and the end of a phase.
    pub fn report(&mut self, p: Progress) {
        self.reports += 1;
        let due = match self.last {
            None => true,
            Some((last, at)) => {
                last.phase != p.phase
                    || p.total.is_some_and(|t| p.done == t && last.done != t)
                    || at.elapsed() >= REPORT_EVERY
            }
        };
        if due {
            self.sent += 1;
            self.last = Some((p, Instant::now()));
            self.jobs.send(JobProgress {
                job: self.kind,
                progress: Some(p),
            });
        }
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        tracing::info!(
            job = ?self.kind,
            millis = self.started.elapsed().as_millis() as u64,
            reports = self.reports,
            sent = self.sent,
            "long job ended"
        );
        lock(&self.jobs.running).retain(|&k| k != self.kind);
        self.jobs.send(JobProgress {
            job: self.kind,
            progress: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use frontdesk::domain::progress::Phase;

    use super::*;

    #[test]
    fn a_second_job_of_the_same_kind_is_refused_until_the_first_has_ended() {
        let jobs = Arc::new(Jobs::default());
        let first = jobs
            .start(JobKind::Backup)
            .expect("the first backup starts");
        let refused = jobs
            .start(JobKind::Backup)
            .err()
            .expect("a second is refused");
        assert_eq!(refused.code, ErrorCode::Busy);
        assert_eq!(
            refused.message,
            "a backup is running already; wait until it has finished"
        );
        let generating = jobs
            .start(JobKind::GenerateSlots)
            .expect("generating slots may run beside a backup");
        let restore = jobs.start(JobKind::Restore).err().expect("no restore now");
        assert!(
            restore.message.starts_with("a backup is running;"),
            "{restore}"
        );
        drop(first);
        assert_eq!(jobs.running(), vec![JobKind::GenerateSlots]);
        drop(generating);
        let restoring = jobs.start(JobKind::Restore).expect("a restore runs alone");
        for kind in [JobKind::Backup, JobKind::GenerateSlots, JobKind::Restore] {
            let e = jobs.start(kind).err().expect("nothing beside a restore");
            assert_eq!(e.code, ErrorCode::Busy, "{e}");
        }
        drop(restoring);
        assert!(jobs.running().is_empty());
    }

    /// Through the real IPC path: while a backup runs (started in another window:
    /// its guard held here), the page's `backup_now` is refused with `Busy`,
    /// whatever the page's button showed; once it has ended, a backup runs.
    #[test]
    fn backup_now_is_refused_while_a_backup_runs_and_runs_afterwards() {
        use serde_json::{json, Value};
        use tauri::ipc::{CallbackFn, InvokeBody};
        use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, INVOKE_KEY};
        use tauri::webview::InvokeRequest;
        use tauri::{Manager, WebviewWindowBuilder};

        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("clinic.sqlite3");
        let mut app = crate::install(mock_builder())
            .build(mock_context(noop_assets()))
            .unwrap();
        app.manage(crate::AppState::new(frontdesk::Frontdesk::open_default(
            &db,
        )));
        #[allow(deprecated)]
        app.run_iteration(|_, _| {});
        let window = WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .unwrap();
        let invoke = |cmd: &str, args: Value| {
            get_ipc_response(
                &window,
                InvokeRequest {
                    cmd: cmd.into(),
                    callback: CallbackFn(0),
                    error: CallbackFn(1),
                    url: "tauri://localhost".parse().unwrap(),
                    body: InvokeBody::Json(args),
                    headers: Default::default(),
                    invoke_key: INVOKE_KEY.to_string(),
                },
            )
            .map(|body| body.deserialize::<Value>().unwrap_or(Value::Null))
        };
        invoke(
            "first_run",
            json!({"setup": {
                "clinic": {"name": "Praxis", "time_zone": "Europe/Berlin",
                           "phone_country": "DE", "demo": false, "idle_minutes": 15},
                "username": "admin", "display_name": "Dr. Admin",
                "password": "correct horse battery"}}),
        )
        .expect("the first admin is signed in");

        let jobs = app.state::<Arc<Jobs>>().inner().clone();
        let running = jobs.start(JobKind::Backup).unwrap();
        let refused = invoke("backup_now", json!({})).expect_err("refused while one runs");
        assert_eq!(refused["code"], "Busy", "got {refused}");
        assert_eq!(
            refused["message"], "a backup is running already; wait until it has finished",
            "got {refused}"
        );
        drop(running);
        let done = invoke("backup_now", json!({})).expect("the backup runs once the other ended");
        assert!(done["file"]["bytes"].as_u64().unwrap() > 0, "got {done}");
        assert!(jobs.running().is_empty(), "the backup's own job ended");
    }

    #[test]
    fn a_job_that_panics_is_ended_all_the_same() {
        let jobs = Arc::new(Jobs::default());
        let j = jobs.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = j.start(JobKind::Backup).unwrap();
            panic!("a job failed badly");
        })
        .join();
        assert!(panicked.is_err());
        jobs.start(JobKind::Backup)
            .expect("the backup guard was dropped while unwinding");
    }

    #[test]
    fn reports_are_throttled_but_new_phases_and_ends_of_phases_go_through() {
        let jobs = Arc::new(Jobs::default());
        let mut guard = jobs.start(JobKind::Backup).unwrap();
        let mut sent = Vec::new();
        // without a page: record what the guard decides to send
        for done in 0..=1000 {
            let before = guard.last.map(|(p, _)| p);
            guard.report(Progress::of(Phase::CopyingPages, done, 1000));
            if guard.last.map(|(p, _)| p) != before {
                sent.push(guard.last.unwrap().0);
            }
        }
        guard.report(Progress::phase(Phase::CheckingBackup));
        let last = guard.last.unwrap().0;
        assert!(
            sent.len() < 20,
            "1001 quick reports are thinned out, sent {}",
            sent.len()
        );
        assert_eq!(
            sent.first().unwrap().done,
            0,
            "the first report goes through"
        );
        assert_eq!(
            sent.last().unwrap().done,
            1000,
            "the end of the phase goes through"
        );
        assert_eq!(
            last.phase,
            Phase::CheckingBackup,
            "a new phase goes through"
        );
    }
}
