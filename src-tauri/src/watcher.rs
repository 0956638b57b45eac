//! Multi-desk freshness: a thread wakes when the database's write-ahead log (or the
//! file itself) changes on disk — an inotify / FSEvents / ReadDirectoryChangesW
//! watch on the database's folder through the `notify` crate — and then reads
//! `PRAGMA data_version` on its own connection, which is the truth: it changes
//! whenever any other connection or process commits. When it changed, every
//! subscribed page is told and refreshes what it shows.
//!
//! A file event can arrive a moment before the commit is visible (the log's frames
//! are written before the shared-memory index says they are committed), so after
//! an event the version is read again every few milliseconds for a short while,
//! until it changed.
//! On a clinic server the probe counts the changes the other desks announce
//! (`LISTEN frontdesk`, see `frontdesk::storage::pg`), and its listening thread
//! wakes this one at each, so a change is read at once.
//! Polling stays as the fallback: every [`FALLBACK_POLL`] while the file watch
//! works (an event lost is then seen within that), every [`POLL`] when it cannot
//! start. A second thread saves this process's contention metrics every minute.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use frontdesk::Frontdesk;
use notify::{EventKind, RecursiveMode, Watcher as _};
use tauri::ipc::Channel;

/// How often the version is read when the file watch cannot start.
pub const POLL: Duration = Duration::from_millis(250);
/// How often the version is read while the file watch works (a safety net).
pub const FALLBACK_POLL: Duration = Duration::from_secs(1);
/// After a file event, the version is read again this often…
const SETTLE_STEP: Duration = Duration::from_millis(5);
/// …for this long (the commit becomes visible just after its frames are written).
const SETTLE_FOR: Duration = Duration::from_millis(60);
/// How often the contention metrics are saved.
pub const METRICS_FLUSH: Duration = Duration::from_secs(60);

/// The pages listening for changes (each page load subscribes once).
#[derive(Default)]
pub struct Watcher {
    subscribers: Mutex<Vec<Channel<i64>>>,
    /// The database being watched; weak, so a restore can close it.
    desk: RwLock<Weak<Frontdesk>>,
    /// Set while a restore has the database closed: the probe lets go of the file.
    paused: AtomicBool,
    /// Set by the watcher thread once it has let go of the file while paused.
    released: AtomicBool,
    /// Wakes the watcher thread (a pause, a resume).
    wake: Mutex<Option<mpsc::Sender<()>>>,
}

impl Watcher {
    /// Adds a page's channel; it is dropped when a send fails (page reloaded).
    pub fn subscribe(&self, channel: Channel<i64>) {
        self.lock().push(channel);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Channel<i64>>> {
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets go of the database (a restore is about to close it).
    pub fn pause(&self) {
        self.released.store(false, Ordering::SeqCst);
        self.paused.store(true, Ordering::SeqCst);
        if self
            .wake
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
        {
            return; // no watcher thread, nothing holds the file
        }
        self.wake_up();
        // the thread drops its probe and file watch as soon as it wakes
        let deadline = Instant::now() + POLL * 4;
        while !self.released.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn wake_up(&self) {
        if let Some(wake) = self.wake.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = wake.send(());
        }
    }

    /// Watches `desk` (the reopened database) again.
    pub fn resume(&self, desk: Option<&Arc<Frontdesk>>) {
        *self.desk.write().unwrap_or_else(|p| p.into_inner()) =
            desk.map(Arc::downgrade).unwrap_or_default();
        self.paused.store(false, Ordering::SeqCst);
        self.wake_up();
    }

    fn current(&self) -> Option<Arc<Frontdesk>> {
        if self.paused.load(Ordering::SeqCst) {
            return None;
        }
        self.desk
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .upgrade()
    }

    fn notify(&self, version: i64) {
        self.lock().retain(|c| c.send(version).is_ok());
    }
}

/// Starts the watcher and the metrics flusher for `desk`; both run until exit. They
/// hold the database only for a moment at a time, so a restore can close it. When
/// the database file was replaced under this desk (a restore that did not see it),
/// the watcher lets go of it and calls `reopen`, which opens the current file.
pub fn start(desk: Arc<Frontdesk>, watcher: Arc<Watcher>, reopen: impl Fn() + Send + 'static) {
    let (wake, woken) = mpsc::channel();
    *watcher.wake.lock().unwrap_or_else(|p| p.into_inner()) = Some(wake.clone());
    watcher.resume(Some(&desk));
    drop(desk);
    let probing = watcher.clone();
    std::thread::Builder::new()
        .name("data-version-watcher".into())
        .spawn(move || watch(&probing, wake, &woken, reopen))
        .expect("start the watcher thread");
    std::thread::Builder::new()
        .name("metrics-flush".into())
        .spawn(move || loop {
            std::thread::sleep(METRICS_FLUSH);
            if let Some(desk) = watcher.current() {
                if let Err(e) = desk.flush_metrics() {
                    tracing::warn!("saving contention metrics failed: {e}");
                }
            }
        })
        .expect("start the metrics thread");
}

/// The database file and its write-ahead log, whose changes wake the watcher.
fn watched_files(db: &Path) -> [PathBuf; 2] {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    [db.to_path_buf(), PathBuf::from(wal)]
}

/// Watches the folder of `db` (the log may not exist yet, and is recreated after a
/// restore); events on the database or its log send to `wake`.
fn file_watch(db: &Path, wake: mpsc::Sender<()>) -> notify::Result<notify::RecommendedWatcher> {
    let files = watched_files(db);
    let mut w = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, EventKind::Access(_) | EventKind::Remove(_)) {
            // opening or reading the file is no change; a removed file (a folder
            // being cleared, a restore) is for the fallback poll's replaced-file check
            return;
        }
        if event.paths.iter().any(|p| files.contains(p)) {
            let _ = wake.send(());
        }
    })?;
    let folder = db.parent().unwrap_or(Path::new("."));
    w.watch(folder, RecursiveMode::NonRecursive)?;
    Ok(w)
}

/// The watcher thread: sleeps until a file event, a wake-up or the fallback poll,
/// then reads the version and tells the pages when it changed.
fn watch(watcher: &Watcher, wake: mpsc::Sender<()>, woken: &Receiver<()>, reopen: impl Fn()) {
    let mut probe = None;
    let mut files = None;
    let mut told = false;
    let mut last = None;
    let mut settle_until: Option<Instant> = None;
    let mut gone = false;
    loop {
        let wait = match settle_until {
            Some(until) if until > Instant::now() => SETTLE_STEP,
            _ if files.is_some() || told => FALLBACK_POLL,
            _ => POLL,
        };
        match woken.recv_timeout(wait) {
            Ok(()) => {
                while woken.try_recv().is_ok() {} // one read covers a burst of events
                settle_until = Some(Instant::now() + SETTLE_FOR);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let Some(desk) = watcher.current() else {
            // paused for a restore: let go of the file
            probe = None;
            files = None;
            watcher.released.store(true, Ordering::SeqCst);
            continue;
        };
        if desk.file_replaced() && !desk.path().exists() {
            // deleted, not replaced: nothing to reopen (opening the path would
            // make an empty clinic there); the desk refuses writes meanwhile
            if !gone {
                tracing::error!(
                    "the database file {} was deleted under this desk; it takes no more \
                     changes until the file is back",
                    desk.path().display()
                );
                gone = true;
            }
            continue;
        }
        gone = false;
        if desk.file_replaced() {
            tracing::warn!("the database file was replaced under this desk; reopening it");
            probe = None;
            files = None;
            last = None;
            drop(desk);
            reopen();
            continue;
        }
        if probe.is_none() {
            match desk.data_version_probe() {
                Ok(p) => probe = Some(p),
                Err(e) => {
                    tracing::error!("the multi-desk watcher cannot start: {e}");
                    continue;
                }
            }
            let heard = wake.clone();
            // a clinic server's notes wake this thread; a file is watched by its folder
            told = probe.as_ref().is_some_and(|p| {
                p.on_change(move || {
                    let _ = heard.send(());
                })
            });
            if !told {
                match file_watch(desk.path(), wake.clone()) {
                    Ok(w) => files = Some(w),
                    Err(e) => tracing::warn!(
                        "cannot watch the database file for changes ({e}); reading its version every {} ms instead",
                        POLL.as_millis()
                    ),
                }
            }
        }
        drop(desk);
        let Some(p) = &probe else { continue };
        match p.data_version() {
            Ok(v) if Some(v) != last => {
                // the first reading after (re)opening also refreshes the pages
                last = Some(v);
                settle_until = None; // the commit the event announced is seen
                watcher.notify(v);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("data_version poll failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database file deleted under the desk is not "reopened" (that would make
    /// an empty clinic at its path); one replaced under it (a restore this desk
    /// did not see) is.
    #[test]
    fn a_deleted_database_file_is_not_reopened_and_a_replaced_one_is() {
        let (dir, keys) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let db = dir.path().join("clinic.sqlite3");
        let desk = Arc::new(
            Frontdesk::open(
                &db,
                frontdesk::OpenOptions {
                    keys_dir: Some(keys.path().to_path_buf()),
                    ..Default::default()
                },
            )
            .unwrap(),
        );
        let watcher = Arc::new(Watcher::default());
        let reopened = Arc::new(AtomicBool::new(false));
        let seen = reopened.clone();
        start(desk.clone(), watcher.clone(), move || {
            seen.store(true, Ordering::SeqCst)
        });
        std::fs::remove_file(&db).unwrap();
        std::thread::sleep(FALLBACK_POLL * 3);
        assert!(
            !reopened.load(Ordering::SeqCst),
            "a deleted file was reopened"
        );
        assert!(!db.exists(), "nothing was made at the deleted file's path");

        std::fs::write(&db, b"another file at the path").unwrap();
        let deadline = Instant::now() + FALLBACK_POLL * 5;
        while !reopened.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            reopened.load(Ordering::SeqCst),
            "a replaced file is reopened"
        );
        drop(desk);
    }
}
