//! Multi-desk freshness: a thread polls `PRAGMA data_version` on its own connection
//! (it changes whenever any other connection or process commits) and tells every
//! subscribed page, which then refreshes what it shows. A second thread saves this
//! process's contention metrics every minute.

use std::sync::{Arc, Mutex};
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
}

impl Watcher {
    /// Adds a page's channel; it is dropped when a send fails (page reloaded).
    pub fn subscribe(&self, channel: Channel<i64>) {
        self.lock().push(channel);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Channel<i64>>> {
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn notify(&self, version: i64) {
        self.lock().retain(|c| c.send(version).is_ok());
    }
}

/// Starts the watcher and the metrics flusher for `desk`; both run until exit.
pub fn start(desk: Arc<Frontdesk>, watcher: Arc<Watcher>) {
    let probe_desk = desk.clone();
    std::thread::Builder::new()
        .name("data-version-watcher".into())
        .spawn(move || {
            let probe = match probe_desk.data_version_probe() {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!("the multi-desk watcher cannot start: {e}");
                    return;
                }
            };
            let mut last = probe.data_version().ok();
            loop {
                std::thread::sleep(POLL);
                match probe.data_version() {
                    Ok(v) if Some(v) != last => {
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
            if let Err(e) = desk.flush_metrics() {
                tracing::warn!("saving contention metrics failed: {e}");
            }
        })
        .expect("start the metrics thread");
}
