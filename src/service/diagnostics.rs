//! What the admin screen shows about the app itself: contention metrics, where
//! the log files are, and `check` (integrity and every invariant, run by
//! [`crate::storage::check`]).

use std::path::PathBuf;

use crate::domain::auth::{Action, Actor};
use crate::error::Result;
use crate::storage::check::{run, CheckReport};
use crate::storage::metrics::MetricsSnapshot;
use crate::storage::Conn;
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

impl Frontdesk {
    /// Runs every Frontdesk invariant and the audit log's checks (on a file also
    /// SQLite's integrity checks; see [`crate::storage::check`]).
    pub fn check(&self) -> Result<CheckReport> {
        if let Some((server, _, keys)) = self.server_store() {
            // what the desks wrote is sealed first (as this desk's sealer would
            // within seconds), so every row is checked against its seal
            if let Err(e) = server.seal_now(keys) {
                // the check says what is wrong with the log
                tracing::warn!("sealing before the check: {e}");
            }
            let now = self.now();
            return self.in_read(|c| crate::storage::check::run_on_server(c, server, keys, now));
        }
        // on a connection of its own: a pooled one would check the name index as
        // it last read it (see `read_fresh`), not as it is
        self.read_fresh(|c| self.check_copy_inner(&Conn::Lite(c), true))
    }

    /// The same checks on another copy of this clinic's database (a backup), with
    /// this clinic's key; its audit log may end earlier than this one's.
    pub fn check_copy(&self, conn: &Conn) -> Result<CheckReport> {
        self.check_copy_inner(conn, false)
    }

    fn check_copy_inner(&self, conn: &Conn, anchored: bool) -> Result<CheckReport> {
        let conn = conn.lite()?;
        let seal = self.writer()?.seal();
        // the reconciliation recomputes records' keyed digests
        seal.install(conn)?;
        run(conn, seal, anchored)
    }
}
