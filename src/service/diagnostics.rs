//! What the admin screen shows about the app itself: contention metrics and where
//! the log files are.

use std::path::PathBuf;

use crate::domain::auth::{Action, Actor};
use crate::error::Result;
use crate::storage::metrics::MetricsSnapshot;
use crate::Frontdesk;

impl Frontdesk {
    /// Lock waits, holds, retries and refused races per operation, of every desk
    /// that used this database (admins).
    pub fn contention_metrics(&self, actor: &Actor) -> Result<MetricsSnapshot> {
        actor.require(Action::ViewReports)?;
        self.metrics()
    }

    /// The folder the desktop app writes its log files to (admins).
    pub fn log_folder(&self, actor: &Actor) -> Result<PathBuf> {
        actor.require(Action::ViewReports)?;
        Ok(crate::logging::log_dir())
    }
}
