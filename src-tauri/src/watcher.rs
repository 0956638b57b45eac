//! Multi-desk freshness: a thread polls `PRAGMA data_version` on its own connection
//! (it changes whenever any other connection or process commits) and tells every
//! subscribed page, which then refreshes what it shows. A second thread saves this
//! process's contention metrics every minute.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use frontdesk::Frontdesk;
use tauri::ipc::Channel;

/// How often the watcher looks for commits by others.
pub const POLL: Duration = Duration::from_millis(250);
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
        self.paused.store(true, Ordering::SeqCst);
        // the probe is dropped within one poll
        std::thread::sleep(POLL * 2);
    }

    /// Watches `desk` (the reopened database) again.
    pub fn resume(&self, desk: Option<&Arc<Frontdesk>>) {
        *self.desk.write().unwrap_or_else(|p| p.into_inner()) =
            desk.map(Arc::downgrade).unwrap_or_default();
        self.paused.store(false, Ordering::SeqCst);
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
    watcher.resume(Some(&desk));
    drop(desk);
    let probing = watcher.clone();
    std::thread::Builder::new()
        .name("data-version-watcher".into())
        .spawn(move || {
            let watcher = probing;
            let mut probe = None;
            let mut last = None;
            loop {
                std::thread::sleep(POLL);
                let Some(desk) = watcher.current() else {
                    probe = None; // paused for a restore: let go of the file
                    continue;
                };
                if desk.file_replaced() {
                    tracing::warn!("the database file was replaced under this desk; reopening it");
                    probe = None;
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
                }
                drop(desk);
                let Some(p) = &probe else { continue };
                match p.data_version() {
                    Ok(v) if Some(v) != last => {
                        // the first reading after (re)opening also refreshes the pages
                        last = Some(v);
                        watcher.notify(v);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("data_version poll failed: {e}"),
                }
            }
        })
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
