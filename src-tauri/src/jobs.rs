//! Long jobs — a backup, a restore, generating slots, encrypting the database — run
//! on a blocking thread (the window and every other command stay responsive), one
//! of each kind at a time, and tell every page how far they have got and how they
//! ended.
//!
//! [`Jobs::start`] refuses a job while one of the same kind runs (in any window of
//! this process), and refuses anything while the database file is being replaced
//! (a restore, a conversion), or a replacement while anything runs: `Busy` with a
//! sentence naming what runs. The page subscribes once with `watch_jobs`; the
//! core's reports reach it throttled to about ten a second (a new phase and the
//! end of a phase always go through), and a `progress: null` message says the job
//! ended, with its outcome: done, or the error its command answered. The end
//! reaches every page, not only the screen that started the job: an admin who
//! left that screen (or works in another window) still learns that a backup
//! failed, and why. The registry remembers the last end of each kind and sends it
//! to a page that subscribes later (a reloaded page, a new window).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct JobOutcome {
    /// `null`: it did what it was asked. Otherwise why not: what its command
    /// answered the page that started it.
    pub error: Option<CommandError>,
}

/// What the page receives on its jobs channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct JobProgress {
    /// Which job.
    pub job: JobKind,
    /// How far it has got; `null` when it has ended.
    pub progress: Option<Progress>,
    /// How it ended (with `progress: null`); `null` while it runs.
    pub outcome: Option<JobOutcome>,
}

/// The running jobs, how the last of each kind ended, and the pages listening
/// (managed state).
#[derive(Default)]
pub struct Jobs {
    running: Mutex<Vec<JobKind>>,
    ended: Mutex<HashMap<JobKind, JobOutcome>>,
    subscribers: Mutex<Vec<Channel<JobProgress>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Jobs {
    /// Registers a `kind` job, or refuses with `Busy` when it may not run now (see
    /// the module docs). The job counts as running until the guard is ended
    /// ([`JobGuard::end`]) or dropped.
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
            started: Instant::now(),
            counts: Arc::default(),
            ended: false,
        })
    }

    /// The jobs running now.
    pub fn running(&self) -> Vec<JobKind> {
        lock(&self.running).clone()
    }

    /// How the last job of `kind` ended, if one has ended since the app started.
    pub fn last_outcome(&self, kind: JobKind) -> Option<JobOutcome> {
        lock(&self.ended).get(&kind).cloned()
    }

    /// Adds a page's channel (dropped when a send fails: page reloaded), and
    /// sends it how the last job of each kind not running now ended.
    pub fn subscribe(&self, channel: Channel<JobProgress>) {
        let mut subscribers = lock(&self.subscribers);
        let running = self.running();
        let ended: Vec<_> = lock(&self.ended)
            .iter()
            .filter(|(kind, _)| !running.contains(kind))
            .map(|(&job, outcome)| JobProgress {
                job,
                progress: None,
                outcome: Some(outcome.clone()),
            })
            .collect();
        if ended.into_iter().all(|m| channel.send(m).is_ok()) {
            subscribers.push(channel);
        }
    }

    fn send(&self, message: JobProgress) {
        lock(&self.subscribers).retain(|c| c.send(message.clone()).is_ok());
    }

    /// Ends a `kind` job: no longer running, its outcome remembered and sent.
    fn end(&self, kind: JobKind, outcome: JobOutcome) {
        // under the subscribers' lock: a page subscribing meanwhile gets either
        // the remembered outcome or this message, not both and not neither
        let mut subscribers = lock(&self.subscribers);
        lock(&self.running).retain(|&k| k != kind);
        lock(&self.ended).insert(kind, outcome.clone());
        let message = JobProgress {
            job: kind,
            progress: None,
            outcome: Some(outcome),
        };
        subscribers.retain(|c| c.send(message.clone()).is_ok());
    }
}

/// Reports and reports sent on, shared by a job and its reporter (for the log
/// line at the end).
#[derive(Default)]
struct Counts {
    reports: AtomicU64,
    sent: AtomicU64,
}

/// A running job. End it with its command's answer ([`JobGuard::end`]); dropped
/// without (the command panicked or was cancelled) it ends as failed.
pub struct JobGuard {
    jobs: Arc<Jobs>,
    kind: JobKind,
    started: Instant,
    counts: Arc<Counts>,
    ended: bool,
}

impl JobGuard {
    /// What the job's work reports its progress to (it goes to the blocking
    /// thread; the guard stays with the command to end the job with its answer).
    pub fn reporter(&self) -> JobReporter {
        JobReporter {
            jobs: self.jobs.clone(),
            kind: self.kind,
            last: None,
            counts: self.counts.clone(),
        }
    }

    /// Ends the job with its command's answer `outcome`, which every page is sent.
    pub fn end<T>(mut self, outcome: &Result<T, CommandError>) {
        self.finish(JobOutcome {
            error: outcome.as_ref().err().cloned(),
        });
    }

    fn finish(&mut self, outcome: JobOutcome) {
        self.ended = true;
        let (reports, sent) = (
            self.counts.reports.load(Ordering::Relaxed),
            self.counts.sent.load(Ordering::Relaxed),
        );
        let millis = self.started.elapsed().as_millis() as u64;
        match &outcome.error {
            None => tracing::info!(job = ?self.kind, millis, reports, sent, "long job ended"),
            Some(e) => tracing::warn!(
                job = ?self.kind,
                millis,
                reports,
                sent,
                code = ?e.code,
                error = %e.message,
                "long job failed"
            ),
        }
        self.jobs.end(self.kind, outcome);
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        if !self.ended {
            // the command never answered: it panicked, or its task was dropped
            self.finish(JobOutcome {
                error: Some(CommandError::from(frontdesk::Error::Internal(
                    "the job stopped before it finished".into(),
                ))),
            });
        }
    }
}

/// Passes a running job's progress on to the pages.
pub struct JobReporter {
    jobs: Arc<Jobs>,
    kind: JobKind,
    /// The last report sent and when.
    last: Option<(Progress, Instant)>,
    counts: Arc<Counts>,
}

impl JobReporter {
    /// Passes a report of the core on to the pages, at most one per
    /// [`REPORT_EVERY`] except a new phase and the end of a phase.
    pub fn report(&mut self, p: Progress) {
        self.counts.reports.fetch_add(1, Ordering::Relaxed);
        let due = match self.last {
            None => true,
            Some((last, at)) => {
                last.phase != p.phase
                    || p.total.is_some_and(|t| p.done == t && last.done != t)
                    || at.elapsed() >= REPORT_EVERY
            }
        };
        if due {
            self.counts.sent.fetch_add(1, Ordering::Relaxed);
            self.last = Some((p, Instant::now()));
            self.jobs.send(JobProgress {
                job: self.kind,
                progress: Some(p),
                outcome: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use frontdesk::domain::progress::Phase;

    use super::*;
    use crate::testing::invoke;

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

    /// A page's jobs channel that records what it is sent.
    fn recording_channel() -> (Channel<JobProgress>, Arc<Mutex<Vec<serde_json::Value>>>) {
        use tauri::ipc::InvokeResponseBody;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        let channel = Channel::new(move |body| {
            let value = match body {
                InvokeResponseBody::Json(text) => serde_json::from_str(&text).unwrap(),
                InvokeResponseBody::Raw(bytes) => serde_json::from_slice(&bytes).unwrap(),
            };
            lock(&recorded).push(value);
            Ok(())
        });
        (channel, seen)
    }

    /// The messages a recording channel has been sent that say a job ended.
    fn ends(seen: &Mutex<Vec<serde_json::Value>>) -> Vec<serde_json::Value> {
        lock(seen)
            .iter()
            .filter(|m| m["progress"].is_null())
            .cloned()
            .collect()
    }

    #[test]
    fn every_page_is_told_how_a_job_ended_and_a_page_that_comes_later_too() {
        let jobs = Arc::new(Jobs::default());
        let (starter, seen_by_starter) = recording_channel();
        let (other, seen_by_other) = recording_channel();
        jobs.subscribe(starter);
        jobs.subscribe(other);

        let job = jobs.start(JobKind::Backup).unwrap();
        job.reporter()
            .report(Progress::of(Phase::CopyingPages, 1, 10));
        let answer: Result<(), CommandError> = Err(frontdesk::Error::invalid(
            "cannot create the backup folder /srv/backups: permission denied",
        )
        .into());
        job.end(&answer);

        let failed = serde_json::json!({
            "job": "Backup",
            "progress": null,
            "outcome": {"error": {"code": "Invalid",
                "message": "cannot create the backup folder /srv/backups: permission denied"}}
        });
        for seen in [&seen_by_starter, &seen_by_other] {
            let seen = lock(seen).clone();
            assert_eq!(seen.len(), 2, "a report and the end: {seen:?}");
            assert!(seen[0]["outcome"].is_null(), "{seen:?}");
            assert_eq!(seen[1], failed, "the end carries the error");
        }
        assert_eq!(
            jobs.last_outcome(JobKind::Backup)
                .unwrap()
                .error
                .unwrap()
                .code,
            ErrorCode::Invalid
        );

        // a page opened (or reloaded) afterwards is told at once
        let (later, seen_later) = recording_channel();
        jobs.subscribe(later);
        assert_eq!(*lock(&seen_later), vec![failed.clone()]);

        // the next backup's success replaces the failure; while it runs, a page
        // subscribing is not told about the old one (the job runs: its bar shows)
        let next = jobs.start(JobKind::Backup).unwrap();
        let (during, seen_during) = recording_channel();
        jobs.subscribe(during);
        assert!(lock(&seen_during).is_empty(), "{:?}", lock(&seen_during));
        next.end(&Ok::<(), CommandError>(()));
        let done = serde_json::json!({
            "job": "Backup", "progress": null, "outcome": {"error": null}
        });
        assert_eq!(ends(&seen_by_other).last(), Some(&done));
        assert_eq!(ends(&seen_during), vec![done]);
        assert_eq!(jobs.last_outcome(JobKind::Backup).unwrap().error, None);
    }

    #[test]
    fn a_job_dropped_without_an_answer_ends_as_failed() {
        let jobs = Arc::new(Jobs::default());
        let (page, seen) = recording_channel();
        jobs.subscribe(page);
        let j = jobs.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = j.start(JobKind::GenerateSlots).unwrap();
            panic!("a job failed badly");
        })
        .join();
        assert!(panicked.is_err());
        let ended = ends(&seen);
        assert_eq!(ended.len(), 1, "{ended:?}");
        assert_eq!(ended[0]["job"], "GenerateSlots");
        assert_eq!(
            ended[0]["outcome"]["error"]["code"], "Internal",
            "{ended:?}"
        );
    }

    /// A mock app on a fresh database in `name`'s folder, its first admin
    /// signed in at the main window.
    fn signed_in_app(
        name: &str,
    ) -> (
        tauri::App<tauri::test::MockRuntime>,
        tauri::WebviewWindow<tauri::test::MockRuntime>,
        tempfile::TempDir,
    ) {
        let (app, window, dir) = crate::testing::desk_on_new_database(name);
        invoke(
            &window,
            "first_run",
            serde_json::json!({"setup": {
                "clinic": {"name": "Praxis", "time_zone": "Europe/Berlin",
                           "phone_country": "DE", "demo": false, "idle_minutes": 15},
                "username": "admin", "display_name": "Dr. Admin",
                "password": "correct horse battery"}}),
        )
        .expect("the first admin is signed in");
        (app, window, dir)
    }

    /// Through the real IPC path: while a backup runs (started in another window:
    /// its guard held here), the page's `backup_now` is refused with `Busy`,
    /// whatever the page's button showed; once it has ended, a backup runs.
    #[test]
    fn backup_now_is_refused_while_a_backup_runs_and_runs_afterwards() {
        use serde_json::json;
        use tauri::Manager;

        let (app, window, _dir) = signed_in_app("jobs-busy");
        let jobs = app.state::<Arc<Jobs>>().inner().clone();
        let running = jobs.start(JobKind::Backup).unwrap();
        let refused = invoke(&window, "backup_now", json!({})).expect_err("refused while one runs");
        assert_eq!(refused["code"], "Busy", "got {refused}");
        assert_eq!(
            refused["message"], "a backup is running already; wait until it has finished",
            "got {refused}"
        );
        drop(running);
        let done =
            invoke(&window, "backup_now", json!({})).expect("the backup runs once the other ended");
        assert!(done["file"]["bytes"].as_u64().unwrap() > 0, "got {done}");
        assert!(jobs.running().is_empty(), "the backup's own job ended");
    }

    /// Through the real IPC path: a backup that fails (its folder cannot be
    /// made) tells every page why, not only the one whose `backup_now` answered.
    #[test]
    fn a_failed_backup_now_reports_its_error_to_every_page() {
        use serde_json::json;
        use tauri::Manager;

        let (app, window, dir) = signed_in_app("jobs-failed");
        let (other_page, seen) = recording_channel();
        app.state::<Arc<Jobs>>().subscribe(other_page);
        // the default backup folder's name taken by a file
        std::fs::write(dir.path().join("backups"), b"not a folder").unwrap();

        let answer = invoke(&window, "backup_now", json!({})).expect_err("the backup fails");
        assert_eq!(answer["code"], "Invalid", "got {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .starts_with("cannot create the backup folder"),
            "got {answer}"
        );
        let ended = ends(&seen);
        assert_eq!(
            ended,
            vec![json!({"job": "Backup", "progress": null, "outcome": {"error": answer}})],
            "the other page is told the same error"
        );
    }

    /// The daily backup an admin's sign-in starts is a backup job too: skipped
    /// while a backup runs (no second one racing it), and its failure reaches
    /// every page instead of the log alone.
    #[test]
    fn the_automatic_backup_is_a_job_whose_failure_every_page_is_told() {
        use tauri::Manager;

        let (app, _window, dir) = signed_in_app("jobs-automatic");
        let jobs = app.state::<Arc<Jobs>>().inner().clone();
        let desk = app.state::<crate::AppState>().desk().unwrap();
        let admin = frontdesk::Actor::local_admin();
        let (page, seen) = recording_channel();
        jobs.subscribe(page);
        // the default backup folder's name taken by a file
        std::fs::write(dir.path().join("backups"), b"not a folder").unwrap();

        let running = jobs.start(JobKind::Backup).unwrap();
        crate::commands::session::automatic_backup(&desk, &admin, &jobs);
        assert_eq!(jobs.running(), vec![JobKind::Backup], "none beside it");
        running.end(&Ok::<(), CommandError>(()));
        assert_eq!(ends(&seen).len(), 1, "only the running one ended");

        crate::commands::session::automatic_backup(&desk, &admin, &jobs);
        let ended = ends(&seen);
        assert_eq!(ended.len(), 2, "{ended:?}");
        assert_eq!(ended[1]["job"], "Backup");
        let error = &ended[1]["outcome"]["error"];
        assert_eq!(error["code"], "Invalid", "{ended:?}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .starts_with("cannot read the backup folder"),
            "{ended:?}"
        );
        assert!(jobs.running().is_empty());
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
        let guard = jobs.start(JobKind::Backup).unwrap();
        let mut reporter = guard.reporter();
        let mut sent = Vec::new();
        // without a page: record what the reporter decides to send
        for done in 0..=1000 {
            let before = reporter.last.map(|(p, _)| p);
            reporter.report(Progress::of(Phase::CopyingPages, done, 1000));
            if reporter.last.map(|(p, _)| p) != before {
                sent.push(reporter.last.unwrap().0);
            }
        }
        reporter.report(Progress::phase(Phase::CheckingBackup));
        let last = reporter.last.unwrap().0;
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
