//! Frontdesk core: appointment booking for a clinic's front desk on SQLite, with
//! the guarantees the desk relies on — no slot is ever booked twice, no status
//! change is lost or made on stale data — enforced here, whatever the caller sends.
//!
//! Open a clinic database with [`Frontdesk::open`]; every operation is a method on
//! it taking the acting [`Actor`]. All writes go through the one write path in
//! [`tx`]; all SQL lives in [`store`].
#![deny(missing_docs)]

pub mod auth;
pub mod backup;
pub mod bench;
pub mod check;
pub mod clinic;
pub mod clock;
pub mod db;
pub mod demo;
pub mod error;
pub mod export;
pub mod linearizability;
pub mod logging;
pub mod metrics;
pub mod model;
mod ops;
pub mod password;
pub mod planner;
pub mod presence;
pub mod scheduling;
pub mod session;
pub mod settings;
pub mod store;
pub mod stress;
pub mod tx;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use auth::{Action, Actor};
pub use clinic::ClinicSettings;
pub use error::{Error, ErrorCode, Result};
pub use metrics::MetricsSnapshot;
pub use model::*;
pub use ops::*;
pub use scheduling::*;

use clock::{Clock, SystemClock};
use db::Pool;
use metrics::Metrics;
use tx::Writer;

/// How to open a clinic database.
#[derive(Clone)]
pub struct OpenOptions {
    /// How long a write may wait for the lock before failing with `Busy`.
    pub lock_deadline: Duration,
    /// Read connections in the pool.
    pub pool_size: u32,
    /// The time source.
    pub clock: Arc<dyn Clock>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            lock_deadline: Duration::from_secs(10),
            pool_size: 4,
            clock: Arc::new(SystemClock),
        }
    }
}

/// An open clinic database: the entry point of every operation.
pub struct Frontdesk {
    path: PathBuf,
    pool: Pool,
    writer: Writer,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    /// Shared lock on `<db>.presence` while open (see [`presence`]); a restore
    /// refuses while anyone holds it. Declared last so it is released last.
    _presence: std::fs::File,
}

impl Frontdesk {
    /// Opens (creating and migrating if needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>, options: OpenOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::Unusable(format!(
                    "cannot create the folder {} for the database: {e}",
                    dir.display()
                ))
            })?;
        }
        db::refuse_network_filesystem(&path)?;
        // before touching the file: waits while a restore swaps it
        let presence = presence::hold_shared(&path)?;
        let metrics = Arc::new(Metrics::default());
        let writer = Writer::open(&path, options.lock_deadline, metrics.clone())?;
        writer.exclusively(|| db::prepare_schema(&path))?;
        let pool = db::build_pool(&path, options.pool_size, Duration::from_secs(5))?;
        Ok(Frontdesk {
            path,
            pool,
            writer,
            metrics,
            clock: options.clock,
            _presence: presence,
        })
    }

    /// Opens with default options.
    pub fn open_default(path: impl AsRef<Path>) -> Result<Self> {
        Self::open(path, OpenOptions::default())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current time from the configured clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Runs `f` in one write transaction (see [`tx`]).
    pub fn write<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.writer.run(op, f)
    }

    /// Runs `f` on a pooled read connection.
    pub fn read<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> Result<T>) -> Result<T> {
        let conn = self.pool.get()?;
        f(&conn)
    }

    /// The contention metrics of every process that used this database (saved)
    /// plus this process's figures not saved yet.
    pub fn metrics(&self) -> Result<MetricsSnapshot> {
        self.read(|c| Ok(self.metrics.snapshot(c)?))
    }

    /// Saves this process's contention figures into the database (the CLI does it
    /// at exit, the app periodically).
    pub fn flush_metrics(&self) -> Result<()> {
        self.write("metrics.save", |tx| Ok(self.metrics.save(tx)?))
    }

    /// The clinic settings.
    pub fn settings(&self) -> Result<ClinicSettings> {
        self.read(ClinicSettings::load)
    }

    /// `PRAGMA data_version` on a dedicated connection changes whenever another
    /// connection or process commits; the desktop shell polls it to refresh.
    pub fn data_version_probe(&self) -> Result<DataVersionProbe> {
        Ok(DataVersionProbe {
            conn: db::open_connection(&self.path, Duration::from_secs(5))?,
        })
    }
}

/// A connection kept open to watch for commits by others.
pub struct DataVersionProbe {
    conn: rusqlite::Connection,
}

impl DataVersionProbe {
    /// A number that changes when any other connection commits.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }
}
