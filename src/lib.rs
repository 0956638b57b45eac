//! Frontdesk core: appointment booking for a clinic's front desk on SQLite, with
//! the guarantees the desk relies on — no slot is ever booked twice, no status
//! change is lost or made on stale data — enforced here, whatever the caller sends.
//!
//! Open a clinic database with [`Frontdesk::open`]; every operation is a method on
//! it taking the acting [`Actor`]. Three layers, each using only the ones below it:
//! - [`service`]: every operation of [`Frontdesk`] — permission check, domain
//!   rule, one write transaction with its audit row — one file per area;
//! - [`storage`]: opening the file, the schema, the one write path
//!   ([`storage::tx`]) and the SQL of each aggregate; all SQL lives here;
//! - [`domain`]: types, the appointment state machine, validation, limits and
//!   parsing — no SQL, no I/O.
#![deny(missing_docs)]

pub mod clock;
pub mod domain;
pub mod error;
pub mod logging;
pub mod platform;
pub mod senders;
pub mod service;
pub mod storage;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

// The API the desktop app and the CLI use, named one by one.
pub use domain::audit::{AuditEvent, AuditFilter};
pub use domain::auth::{Action, Actor};
pub use domain::clinic::ClinicSettings;
pub use domain::model::{
    Appointment, AppointmentDetail, AppointmentFilter, AppointmentStatus, AppointmentSummary,
    Doctor, HistoryEntry, NewPatient, NextAppointment, Patient, ReminderInfo, Role, Slot, SlotMode,
    SlotView,
};
pub use domain::outbox::OutboxMessage;
pub use domain::passcodes::limits::{self, MAX_ATTEMPTS};
pub use domain::scheduling::{
    format_time_of_day, parse_time_of_day, parse_weekday, weekday_name, GenerationReport,
    NewTemplate, NewTimeOff, NewWaitlistEntry, PatientAttendance, SeenAppointment, SeriesBooking,
    SeriesMode, SeriesRequest, SkippedOccurrence, SlotChange, SlotFilter, Template, TimeOff,
    TimeRange, WaitlistEntry, WaitlistFilter, WaitlistStatus, LATE_CANCELLATION_SECS,
};
pub use domain::staff::{
    sign_in_delay_secs, StaffMember, FORGET_FAILED_LOGINS_SECS, FREE_FAILED_LOGINS,
    LOCK_AFTER_FAILED_LOGINS, MAX_SIGN_IN_DELAY_SECS,
};
pub use error::{Error, ErrorCode, Result};
pub use service::{
    check_text_capable, generate_code, payment_keys, reminder_limits, Account, BackupList,
    BookRequest, Booked, CashCount, CashUpLine, ClosingEffect, DayView, DeliveryReport,
    DemoAccount, DepositPolicy, Encryption, GenerationSteps, NewAppointmentType, NewPayment,
    NewStaff, OtpRequested, PatientUpdate, PaymentSettings, PhoneVerified, Receipt, ReceiptItem,
    RecoveryKey, ReminderReport, Report, ReportPeriod, ReportRow, SenderStatus, Till, TillLine,
    Undo, Undone, BACKUP_INTERVAL_SECS, CASH_UP_COLUMNS, DEFAULT_CURRENCY, MAX_OCCURRENCES,
    PART_WRITES, UNDO_LIMIT_SECS, UNDO_WINDOW_SECS,
};
pub use storage::metrics::MetricsSnapshot;

use clock::{Clock, SystemClock};
use storage::db::Pool;
use storage::metrics::Metrics;
use storage::tx::Writer;

/// How to open a clinic database.
#[derive(Clone)]
pub struct OpenOptions {
    /// How long a write may wait for the lock before failing with `Busy`.
    pub lock_deadline: Duration,
    /// Read connections in the pool.
    pub pool_size: u32,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// The folder with the clinic's audit key and anchor (`None`: the default, see
    /// [`audit_key`]).
    pub keys_dir: Option<PathBuf>,
    /// Test hook run before each sync of the write-ahead log; an error it returns
    /// stands in for the disk's (see [`tx`]).
    pub sync_fault: Option<storage::tx::SyncFault>,
    /// This PC's passcode senders file; `None`: `FRONTDESK_SENDERS_FILE` if set,
    /// else the operating system's place for it (see [`senders`]).
    pub senders_file: Option<PathBuf>,
    /// A new database is encrypted (see [`cipher`]); `false` makes a plain one
    /// (the benchmark's floor, tests of converting an old plain database).
    pub encrypt_new: bool,
    /// **Test only, never set elsewhere**: tells callers a change is saved without
    /// waiting for the write-ahead log to be synced — the broken write path the
    /// power-cut harness must catch (its negative test, see `stress::power_cut`).
    #[doc(hidden)]
    pub ack_before_sync: bool,
}

/// The variable that sets how long a write waits for the lock (seconds, 1–600).
pub const LOCK_TIMEOUT_ENV: &str = "FRONTDESK_LOCK_TIMEOUT";

/// How long a read connection waits for a lock a checkpoint or another process
/// holds before failing.
const READ_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The write deadline: `FRONTDESK_LOCK_TIMEOUT` seconds when set and valid, else 10 s.
fn lock_deadline_from_env() -> Duration {
    std::env::var(LOCK_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| (1..=600).contains(s))
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(10))
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            lock_deadline: lock_deadline_from_env(),
            pool_size: 4,
            clock: Arc::new(SystemClock),
            sync_fault: None,
            keys_dir: None,
            senders_file: None,
            encrypt_new: true,
            ack_before_sync: false,
        }
    }
}

/// An open clinic database: the entry point of every operation.
pub struct Frontdesk {
    /// The clinic file (resolved), or for a clinic server its URL without a
    /// password.
    path: PathBuf,
    store: Store,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    /// This PC's passcode senders file (read at each use, see [`senders`]).
    senders_file: PathBuf,
    /// The upgrade this opening made to the file's schema, if any.
    schema_upgrade: Option<storage::db::SchemaUpgrade>,
    /// Where the clinic moved (`frontdesk move-to`): this file then takes no
    /// more writes, so no desk can carry on in it by mistake.
    moved_to: Option<String>,
}

/// Where the clinic's data is (one per open clinic: its size does not matter).
#[allow(clippy::large_enum_variant)]
enum Store {
    /// The clinic file on this PC.
    File(FileStore),
    /// The clinic's PostgreSQL server, and this desk's audit sealer if it runs one.
    Server {
        server: storage::pg::PgClinic,
        /// The URL it was opened with (the server's tools take it).
        url: String,
        /// This PC's audit keys, filed by clinic.
        keys: storage::audit_key::KeyFolder,
        /// Held for its lifetime: the sealer ends with the desk.
        _sealer: Option<storage::pg::audit::Sealer>,
    },
}

/// An open clinic file.
struct FileStore {
    pool: Pool,
    writer: Writer,
    /// Shared lock on `<db>.presence` while open (see [`presence`]); a restore
    /// refuses while anyone holds it. Declared last so it is released last.
    _presence: std::fs::File,
}

impl Frontdesk {
    /// Opens (creating and migrating if needed) the database at `path` (see
    /// [`db`] for the steps).
    pub fn open(path: impl AsRef<Path>, options: OpenOptions) -> Result<Self> {
        if let Some(url) = storage::db::server_url(path.as_ref()) {
            return Self::open_server(url, options);
        }
        let path = storage::db::resolve_path(path.as_ref())?;
        storage::db::refuse_network_filesystem(&path)?;
        storage::db::make_files_private(&path)?;
        // before touching the file: waits while a restore swaps it
        let presence = storage::presence::hold_shared(&path)?;
        Self::open_holding(path, options, presence)
    }

    /// Opens the resolved `path` while `presence` is held (shared by a desk, or
    /// exclusive for an operation that needs the file to itself).
    fn open_holding(path: PathBuf, options: OpenOptions, presence: std::fs::File) -> Result<Self> {
        let metrics = Arc::new(Metrics::default());
        let keys = storage::audit_key::KeyFolder::new(
            options
                .keys_dir
                .unwrap_or_else(storage::audit_key::KeyFolder::default_dir),
            &path,
        )?;
        storage::cipher::use_folder(keys.dir());
        let lock = storage::tx::lock_file::LockFile::open(&path)?;
        let schema_upgrade = storage::db::prepare_schema(
            &path,
            &lock,
            options.lock_deadline,
            options.encrypt_new.then(|| keys.dir()),
        )?;
        let seal = storage::audit_key::Seal::open(&path, &keys)?;
        let writer = Writer::open(
            &path,
            lock,
            seal,
            options.lock_deadline,
            options.sync_fault,
            options.ack_before_sync,
            metrics.clone(),
        )?;
        let pool = storage::db::build_pool(&path, options.pool_size, READ_BUSY_TIMEOUT)?;
        let moved_to =
            storage::settings::get(&storage::Conn::Lite(&*pool.get()?), service::MOVED_TO_KEY)?;
        Ok(Frontdesk {
            path,
            store: Store::File(FileStore {
                pool,
                writer,
                _presence: presence,
            }),
            moved_to,
            metrics,
            clock: options.clock,
            senders_file: options
                .senders_file
                .unwrap_or_else(senders::default_senders_file),
            schema_upgrade,
        })
    }

    /// Opens the clinic on its server at `url` (`postgres://…`, see
    /// [`storage::pg::PgClinic::connect`]): the server must have this
    /// Frontdesk's schema (`frontdesk server setup` makes and upgrades it).
    fn open_server(url: &str, options: OpenOptions) -> Result<Self> {
        let server = storage::pg::PgClinic::connect(url, options.pool_size.max(2))?;
        server.check_schema()?;
        let keys = storage::audit_key::KeyFolder::for_server(
            options
                .keys_dir
                .unwrap_or_else(storage::audit_key::KeyFolder::default_dir),
        );
        let sealer = server.start_sealer(&keys)?;
        // desks on several PCs keep one time line: the server's
        let clock: Arc<dyn Clock> = if options.clock.is_this_pcs() {
            Arc::new(clock::ServerClock::start(
                options.clock,
                server.time_reader(),
            )?)
        } else {
            options.clock
        };
        Ok(Frontdesk {
            path: PathBuf::from(storage::pg::without_password(url)),
            store: Store::Server {
                server,
                url: url.to_string(),
                keys,
                _sealer: sealer,
            },
            metrics: Arc::new(Metrics::default()),
            clock,
            senders_file: options
                .senders_file
                .unwrap_or_else(senders::default_senders_file),
            schema_upgrade: None,
            moved_to: None,
        })
    }

    /// Whether the clinic is on a server rather than in a file on this PC.
    pub fn on_server(&self) -> bool {
        matches!(self.store, Store::Server { .. })
    }

    /// The open clinic file, or the refusal of a file's operation (backups,
    /// keys, raw access) on a clinic server.
    fn file(&self) -> Result<&FileStore> {
        match &self.store {
            Store::File(f) => Ok(f),
            Store::Server { .. } => Err(crate::error::NotOnServer.into()),
        }
    }

    /// The clinic server, the URL it was opened with and this PC's audit keys;
    /// `None` on a file.
    pub(crate) fn server_store(
        &self,
    ) -> Option<(&storage::pg::PgClinic, &str, &storage::audit_key::KeyFolder)> {
        match &self.store {
            Store::Server {
                server, url, keys, ..
            } => Some((server, url, keys)),
            Store::File(_) => None,
        }
    }

    /// The file's write path (see [`Frontdesk::file`]).
    pub(crate) fn writer(&self) -> Result<&Writer> {
        Ok(&self.file()?.writer)
    }

    /// Opens with default options.
    pub fn open_default(path: impl AsRef<Path>) -> Result<Self> {
        Self::open(path, OpenOptions::default())
    }

    /// The upgrade opening made to an older database's schema (a newer Frontdesk
    /// installed over its data), to be told to whoever opened it.
    pub fn schema_upgrade(&self) -> Option<storage::db::SchemaUpgrade> {
        self.schema_upgrade
    }

    /// The database file (resolved: absolute, symlinks followed).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This PC's passcode senders file (it may not exist).
    pub fn senders_file(&self) -> &Path {
        &self.senders_file
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
        if let Some(server) = &self.moved_to {
            return Err(service::moved_away(server));
        }
        self.writer()?.run(op, f)
    }

    /// Runs `f` in one write transaction, on the clinic's storage (the services'
    /// way in: `f` gets a [`storage::Conn`], whichever storage holds the clinic).
    ///
    /// On a clinic server the transaction is SERIALIZABLE: the server runs the
    /// same check-then-change code as the file's one writer and guarantees the
    /// outcome of some one-at-a-time order; when it cannot, it says so and `f`
    /// runs again on a fresh transaction (hence `FnMut`), which no caller sees.
    pub(crate) fn in_write<T>(
        &self,
        op: &'static str,
        mut f: impl FnMut(&storage::Conn<'_>) -> Result<T>,
    ) -> Result<T> {
        match &self.store {
            Store::Server { server, .. } => {
                server.transact(op, false, |tx| f(&storage::Conn::Server(tx)))
            }
            Store::File(_) => self.write(op, |tx| f(&storage::Conn::Lite(tx))),
        }
    }

    /// Runs `f` on a read connection to the clinic's storage (on a server, a
    /// read-only SERIALIZABLE transaction: one consistent snapshot).
    pub(crate) fn in_read<T>(
        &self,
        mut f: impl FnMut(&storage::Conn<'_>) -> Result<T>,
    ) -> Result<T> {
        match &self.store {
            Store::Server { server, .. } => {
                server.transact("read", true, |tx| f(&storage::Conn::Server(tx)))
            }
            Store::File(_) => self.read(|c| f(&storage::Conn::Lite(c))),
        }
    }

    /// Runs `f` on a pooled read connection of the clinic file.
    pub fn read<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> Result<T>) -> Result<T> {
        let conn = self.file()?.pool.get()?;
        f(&conn)
    }

    /// Runs `f` on a read connection of the clinic file opened for it alone (with
    /// the pool's key and settings) and closed after it: nothing a connection
    /// keeps from its earlier reads can colour what `f` finds. (FTS5 keeps the
    /// structure of an index as it last read it, and its part of
    /// `PRAGMA integrity_check` walks that copy without asking whether others
    /// have written since: on a pooled connection it reads segments merged away
    /// since, or misses ones written since.)
    pub(crate) fn read_fresh<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T>,
    ) -> Result<T> {
        self.file()?;
        let conn = storage::db::open_connection(&self.path, READ_BUSY_TIMEOUT)?;
        f(&conn)
    }

    /// The contention metrics of every process that used this database (saved)
    /// plus this process's figures not saved yet.
    pub fn metrics(&self) -> Result<MetricsSnapshot> {
        match &self.store {
            Store::Server { server, .. } => Ok(server.metrics()),
            Store::File(_) => self.read(|c| Ok(self.metrics.snapshot(c)?)),
        }
    }

    /// Saves this process's contention figures into the database (the CLI does it
    /// at exit, the app periodically).
    pub fn flush_metrics(&self) -> Result<()> {
        // a run that wrote nothing (a read-only CLI command) takes no write lock
        if !self.metrics.has_unsaved() || self.moved_to.is_some() || self.on_server() {
            return Ok(());
        }
        self.write("metrics.save", |tx| Ok(self.metrics.save(tx)?))
    }

    /// The clinic settings.
    pub fn settings(&self) -> Result<ClinicSettings> {
        self.in_read(|c| ClinicSettings::load(c))
    }

    /// Lets a connection of this process's own append to the audit log (tools that
    /// write outside the write path, such as the benchmark's baseline).
    pub fn seal_connection(&self, conn: &rusqlite::Connection) -> Result<()> {
        self.writer()?.seal().install(conn)
    }

    /// True when the database file was replaced under this handle (a restore run
    /// while this desk was not seen): it no longer writes; reopen the database.
    pub fn file_replaced(&self) -> bool {
        self.writer().is_ok_and(|w| w.file_replaced())
    }

    /// `PRAGMA data_version` on a dedicated connection changes whenever another
    /// connection or process commits; the desktop shell polls it to refresh.
    /// On a clinic server the number counts the changes heard from the other
    /// desks (`LISTEN`), and [`DataVersionProbe::on_change`] wakes the caller at
    /// each.
    pub fn data_version_probe(&self) -> Result<DataVersionProbe> {
        match &self.store {
            Store::File(_) => Ok(DataVersionProbe::File(storage::db::open_connection(
                &self.path,
                Duration::from_secs(5),
            )?)),
            Store::Server { server, .. } => {
                let heard = Arc::new(std::sync::atomic::AtomicI64::new(0));
                let wake: Arc<std::sync::Mutex<Option<Waker>>> = Arc::default();
                let watch = {
                    let (heard, wake) = (heard.clone(), wake.clone());
                    server.watch_changes(move || {
                        heard.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if let Some(w) = &*wake.lock().unwrap_or_else(|p| p.into_inner()) {
                            w();
                        }
                    })
                };
                Ok(DataVersionProbe::Server {
                    heard,
                    wake,
                    _watch: watch,
                })
            }
        }
    }
}

type Waker = Box<dyn Fn() + Send>;

/// What tells a desk that another one committed.
pub enum DataVersionProbe {
    /// A connection kept open on the file (`PRAGMA data_version`).
    File(rusqlite::Connection),
    /// The changes heard from the clinic server.
    Server {
        /// How many.
        heard: Arc<std::sync::atomic::AtomicI64>,
        /// Called at each.
        wake: Arc<std::sync::Mutex<Option<Waker>>>,
        /// The listening thread.
        _watch: storage::pg::ChangeWatch,
    },
}

impl DataVersionProbe {
    /// A number that changes when any other connection commits.
    pub fn data_version(&self) -> Result<i64> {
        match self {
            DataVersionProbe::File(conn) => {
                Ok(conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
            }
            DataVersionProbe::Server { heard, .. } => {
                Ok(heard.load(std::sync::atomic::Ordering::SeqCst))
            }
        }
    }

    /// On a clinic server, calls `wake` whenever a change is heard, so that the
    /// caller reads [`data_version`](Self::data_version) at once instead of on
    /// its next poll; returns whether it will (a file is watched through its
    /// folder instead).
    pub fn on_change(&self, wake: impl Fn() + Send + 'static) -> bool {
        match self {
            DataVersionProbe::File(_) => false,
            DataVersionProbe::Server { wake: slot, .. } => {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(wake));
                true
            }
        }
    }
}

#[cfg(test)]
mod layers {
    //! The layering the tree promises, checked on the source: a module that
    //! reaches past its layer fails here, not in a review.

    use std::path::{Path, PathBuf};

    /// The non-test code of every `.rs` file under `dir`: up to its first
    /// `#[cfg(test)]`, comments left out.
    fn sources(dir: &str) -> Vec<(PathBuf, String)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let code = text.split("#[cfg(test)]").next().unwrap();
                    let code: String = code
                        .lines()
                        .filter(|l| !l.trim_start().starts_with("//"))
                        .collect::<Vec<_>>()
                        .join("\n");
                    out.push((path, code));
                }
            }
        }
        let mut out = Vec::new();
        walk(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir),
            &mut out,
        );
        assert!(!out.is_empty(), "no sources under src/{dir}");
        out
    }

    fn offenders(dir: &str, forbidden: &[&str]) -> Vec<String> {
        let mut found = Vec::new();
        for (path, code) in sources(dir) {
            for word in forbidden {
                if code.contains(word) {
                    found.push(format!("{} uses {word:?}", path.display()));
                }
            }
        }
        found
    }

    #[test]
    fn the_domain_has_no_sql_no_io_and_no_layer_above_it() {
        let found = offenders(
            "domain",
            &[
                "rusqlite",
                "crate::storage",
                "crate::service",
                "std::fs",
                "SELECT ",
            ],
        );
        assert!(found.is_empty(), "{found:#?}");
    }

    #[test]
    fn the_services_write_no_sql_and_never_name_the_sqlite_library() {
        let found = offenders(
            "service",
            &[
                "rusqlite",
                "SELECT ",
                "INSERT INTO",
                "UPDATE ",
                "DELETE FROM",
                "prepare",
            ],
        );
        assert!(found.is_empty(), "{found:#?}");
    }

    #[test]
    fn the_storage_layer_never_reaches_up_into_the_services() {
        let found = offenders(
            "storage",
            &["crate::service", "crate::Frontdesk", "impl Frontdesk"],
        );
        assert!(found.is_empty(), "{found:#?}");
    }

    #[test]
    fn only_the_platform_module_talks_to_the_operating_system_directly() {
        let found: Vec<String> = sources("")
            .into_iter()
            .filter(|(path, _)| !path.ends_with("platform.rs"))
            .flat_map(|(path, code)| {
                ["libc::", "/proc/", "std::os::unix::fs::MetadataExt"]
                    .into_iter()
                    .filter(|w| code.contains(w))
                    .map(|w| format!("{} uses {w:?}", path.display()))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(found.is_empty(), "{found:#?}");
    }
}
