//! The clinic database on a PostgreSQL server, for desks on several PCs:
//! connecting (a pool whose sessions carry the timeouts), the schema (versioned,
//! applied once under an advisory lock), and the three guarded writes in one round
//! trip each, with the same guarantees as on SQLite, mapped onto the server's own
//! tools:
//!
//! - booking: one call of `fd_book`, which locks the slot row (`SELECT … FOR
//!   UPDATE`), checks, inserts; the same partial unique index stands behind it;
//! - a status change: one call of `fd_change_status`, which locks the appointment
//!   row and checks the version the caller saw; the state machine reaches it as a
//!   parameter generated from [`AppointmentStatus::can_become`];
//! - a passcode request: the phone's and the desk's advisory locks, the request
//!   lists read and checked by [`passcodes::check_request`] (the rule is Rust's),
//!   then one call of `fd_issue_passcode`, an upsert on the phone; verifying it:
//!   an attempt reserved under the phone's lock before the slow hash check, then
//!   `fd_consume_passcode`, which uses the code up once.
//!
//! Sessions run READ COMMITTED with `lock_timeout`, `statement_timeout` and
//! `idle_in_transaction_session_timeout`; deadlocks and serialization failures are
//! retried here and never reach the caller.
//!
//! Other desks hear of a change through `NOTIFY frontdesk`, sent **after** the
//! write commits, by a notifier thread on its own session with
//! `synchronous_commit = off`. Not inside the write: PostgreSQL holds a
//! cluster-wide lock from a notifying transaction's pre-commit until its commit
//! record is flushed, so every notifying write waited for every other one's disk
//! flush (measured: 1,129 bookings/s at 8 desks with NOTIFY in the booking's
//! transaction, 3,111 without, floor 3,882). A note lost to a crash between the
//! commit and the notifier costs a desk one repaint delay (its fallback is
//! re-reading on a timer), never a write.
//!
//! A desk's booking and its status changes that settle no money (confirm,
//! arrive, complete, and closing an appointment that has no ledger row) are the
//! one-round-trip writes here, the appointment read back in the same statement;
//! every other change of the desks' services
//! reaches the server through [`crate::storage::Conn`] and the SERIALIZABLE
//! transactions of `tx.rs` (see the README's design note on isolation).

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::config::{Host, SslMode};
pub use postgres::error::SqlState;
use postgres::tls::MakeTlsConnect;
use postgres::types::Type;
use postgres::Client;
use r2d2_postgres::PostgresConnectionManager;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::domain::model::{Appointment, AppointmentStatus};
use crate::domain::passcodes::{self, limits};
use crate::domain::scheduling::SlotRefusal;
use crate::error::{Error, ErrorCode, Result};
use crate::storage::metrics::{Metrics, MetricsSnapshot};
pub use crate::storage::otp::NoCode;

pub mod audit;
pub mod dump;
pub mod move_in;
pub mod setup;
mod tx;

/// The schema versions, applied in order; `schema_version` records the last.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("schema-1.sql")),
    (2, include_str!("schema-2.sql")),
    (3, include_str!("schema-3.sql")),
    (4, include_str!("schema-4.sql")),
    (5, include_str!("schema-5.sql")),
    (6, include_str!("schema-6.sql")),
];

/// Attempts of one write when the server answers "deadlock" or "serialization
/// failure" (its way of saying "run it again").
const MAX_ATTEMPTS: u32 = 8;

/// One session on the server, from the pool.
pub type Session = r2d2::PooledConnection<PostgresConnectionManager<DeskTls>>;

pub use tx::ServerTx;

/// The desks' TLS: rustls, told `localhost` for a local socket, which has no
/// host name (a socket is never spoken to over TLS, but the connector is made
/// for every connection and refuses an empty name).
#[derive(Clone)]
pub struct DeskTls(MakeRustlsConnect);

impl<S> MakeTlsConnect<S> for DeskTls
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    type Stream = <MakeRustlsConnect as MakeTlsConnect<S>>::Stream;
    type TlsConnect = <MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect;
    type Error = <MakeRustlsConnect as MakeTlsConnect<S>>::Error;

    fn make_tls_connect(
        &mut self,
        host: &str,
    ) -> std::result::Result<Self::TlsConnect, Self::Error> {
        let name = if host.is_empty() { "localhost" } else { host };
        MakeTlsConnect::<S>::make_tls_connect(&mut self.0, name)
    }
}

/// A pool of sessions on the clinic's server database.
pub struct PgClinic {
    pool: r2d2::Pool<PostgresConnectionManager<DeskTls>>,
    config: postgres::Config,
    tls: DeskTls,
    /// This process's contention figures per operation.
    metrics: Metrics,
    /// The notifier thread's queue, started by the first change.
    notes: Mutex<Option<mpsc::Sender<String>>>,
    /// Where this handle's audit sealing left off.
    seal_cursor: Mutex<Option<audit::SealCursor>>,
}

/// The notifier: sends the queued notes as NOTIFYs, all queued at once in one
/// statement, on its own session (reconnecting when it drops); ends when the
/// clinic handle is dropped.
fn notifier(config: postgres::Config, tls: DeskTls, notes: mpsc::Receiver<String>) {
    let mut session: Option<Client> = None;
    while let Ok(first) = notes.recv() {
        let mut batch = vec![first];
        batch.extend(notes.try_iter());
        batch.sort();
        batch.dedup();
        for _ in 0..3 {
            if session.is_none() {
                session = config.connect(tls.clone()).ok().and_then(|mut c| {
                    // the note is a hint to repaint, not a record: no flush to wait for
                    c.batch_execute("SET synchronous_commit = off").ok()?;
                    Some(c)
                });
            }
            let Some(c) = session.as_mut() else {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            };
            match c.execute(
                "SELECT pg_notify('frontdesk', n) FROM unnest($1::text[]) AS n",
                &[&batch],
            ) {
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!("clinic server: a change note was not sent: {e}");
                    session = None;
                }
            }
        }
    }
}

/// How many columns `fd_appointment` answers (those of
/// `storage::appointments`' SELECT); a statement's own columns follow them.
const APPOINTMENT_COLUMNS: usize = 19;

/// The appointment in the first [`APPOINTMENT_COLUMNS`] columns of `row`.
fn appointment_of(row: &postgres::Row) -> Result<Appointment> {
    crate::storage::appointments::from_row(&crate::storage::sql::Cols::Server(row))
        .map_err(|e| Error::Internal(format!("an appointment the server answered: {e}")))
}

/// A verification attempt reserved on a phone's live code.
#[derive(Debug, Clone)]
pub struct ReservedAttempt {
    /// argon2id PHC string of the code, to check the typed code against.
    pub code_hash: String,
    /// Identifies the code (with the hash) when using it up.
    pub created_at: i64,
    /// Attempts used on this code, this one included.
    pub attempts: i64,
    /// The logged attempt (a failure until the code matches).
    pub attempt_id: i64,
}

/// A passcode to issue: the code's hash and the message's text are made by the
/// caller, outside any lock.
pub struct PasscodeIssue<'a> {
    /// E.164 phone.
    pub phone: &'a str,
    /// The desk asking (its hourly limit).
    pub desk: &'a str,
    /// Argon2 hash of the code.
    pub code_hash: &'a str,
    /// The message.
    pub body: &'a str,
    /// The sending desk's claim on the message.
    pub token: &'a str,
    /// Who asks.
    pub actor: &'a str,
    /// When.
    pub now: i64,
}

/// `url` without its query parameter `name`, and that parameter's value (the
/// client library refuses parameters it does not know).
/// `url` without its password (in the user part or a `password=` parameter),
/// to show and to keep.
pub fn without_password(url: &str) -> String {
    let (url, _) = take_param(url, "password");
    let Some((scheme, rest)) = url.split_once("://") else {
        return url;
    };
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => {
            let user = authority[..at].split(':').next().unwrap_or_default();
            format!("{scheme}://{user}{}", &rest[at..])
        }
        None => url,
    }
}

pub(crate) fn take_param(url: &str, name: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let mut value = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some((k, v)) if k == name => {
                value = Some(v.to_string());
                false
            }
            _ => true,
        })
        .collect();
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, value)
}

/// Whether the server is on this PC: at least one host named, every host
/// loopback or a local socket, and every `hostaddr` loopback.
fn on_this_pc(config: &postgres::Config) -> bool {
    !config.get_hosts().is_empty()
        && config.get_hostaddrs().iter().all(|ip| ip.is_loopback())
        && config.get_hosts().iter().all(|h| match h {
            Host::Tcp(name) => {
                name == "localhost"
                    || name
                        .trim_matches(|c| c == '[' || c == ']')
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            #[cfg(unix)]
            Host::Unix(_) => true,
        })
}

/// TLS that trusts the OS's roots and the certificates in `root_file` (PEM).
fn tls_config(root_file: Option<&Path>) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    // (a certificate the OS lists but rustls cannot use is skipped)
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(file) = root_file {
        let bad = |e: &dyn std::fmt::Display| {
            Error::invalid(format!(
                "the server's CA certificate {} cannot be used: {e}",
                file.display()
            ))
        };
        let certs = CertificateDer::pem_file_iter(file).map_err(|e| bad(&e))?;
        let mut added = 0;
        for cert in certs {
            roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad(&"it holds no certificate"));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The password the desk's pgpass file holds for `config`'s first host, user and
/// database.
fn pgpass_password(config: &postgres::Config) -> Option<String> {
    let host = match config.get_hosts().first()? {
        Host::Tcp(h) => h.clone(),
        // libpq matches a local socket against "localhost"
        #[cfg(unix)]
        Host::Unix(_) => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user()?;
    let database = config.get_dbname().unwrap_or(user);
    setup::pgpass_lookup(&setup::pgpass_path()?, &host, port, database, user)
}

/// A session that hears the other desks' committed changes.
pub struct Listener {
    session: Session,
}

impl Listener {
    /// The next change's note (`"appointment 12"`), or `None` after `timeout`
    /// with none.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<String>> {
        use postgres::fallible_iterator::FallibleIterator;
        let mut notes = self.session.notifications();
        let next = notes.timeout_iter(timeout).next().map_err(to_error)?;
        Ok(next.map(|n| n.payload().to_string()))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // the session goes back to the pool: it must not keep collecting notes
        let _ = self.session.batch_execute("UNLISTEN *");
    }
}

/// A thread that hears the other desks' changes on a session of its own; it ends
/// when this is dropped.
pub struct ChangeWatch {
    _stop: mpsc::Sender<()>,
}

impl PgClinic {
    /// Calls `on_change` for every change another desk commits (a `NOTIFY
    /// frontdesk`), from a thread with its own session, listening again after the
    /// server was gone (and calling `on_change` then too: what changed meanwhile
    /// is unknown).
    pub fn watch_changes(&self, on_change: impl Fn() + Send + 'static) -> ChangeWatch {
        let clinic = PgClinic::connect_like(self, 1);
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::spawn(move || loop {
            match clinic.listen() {
                Ok(mut listener) => {
                    on_change();
                    loop {
                        if !matches!(stopped.try_recv(), Err(mpsc::TryRecvError::Empty)) {
                            return;
                        }
                        match listener.next(Duration::from_millis(250)) {
                            Ok(Some(_)) => on_change(),
                            Ok(None) => {}
                            Err(e) => {
                                tracing::warn!("clinic server: no longer hearing changes: {e}");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!("clinic server: cannot listen for changes: {e}"),
            }
            match stopped.recv_timeout(Duration::from_secs(1)) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                _ => return,
            }
        });
        ChangeWatch { _stop: stop }
    }
}

/// The state machine as the SQL reads it: every allowed move as `FROM>TO`.
fn allowed_moves() -> Vec<String> {
    let mut moves = Vec::new();
    for from in AppointmentStatus::ALL {
        for to in AppointmentStatus::ALL {
            if from.can_become(to) {
                moves.push(format!("{}>{}", from.as_str(), to.as_str()));
            }
        }
    }
    moves
}

/// The server or the network failed us: nothing is known to be saved.
fn unreachable(e: impl std::fmt::Display) -> Error {
    Error::Unusable(format!(
        "the clinic server is unreachable ({e}); nothing was saved, try again in a moment"
    ))
}

/// The session broke after the change was sent: it may or may not have been
/// saved, and the desk must not say either.
fn unconfirmed(e: impl std::fmt::Display) -> Error {
    Error::Unusable(format!(
        "the clinic server stopped answering before it confirmed this change ({e}); \
         look whether it was saved before trying again"
    ))
}

/// Whether the session broke (the server restarted or went away, or the
/// network failed) rather than the server refusing the statement.
fn is_broken(e: &postgres::Error, session: &Client) -> bool {
    session.is_closed()
        || matches!(
            e.code(),
            Some(c) if *c == SqlState::ADMIN_SHUTDOWN || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
        )
}

/// A fresh key for one write request: the same request sent again after a
/// broken session finds its own result on the server (see `request_key` in the
/// schema) instead of being made twice.
fn request_key() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Whether the server asks for the transaction to be run again.
fn is_retryable(e: &postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

/// The error a caller sees for a server error: the functions' own codes become
/// the same errors as on SQLite.
pub(crate) fn to_error(e: postgres::Error) -> Error {
    let Some(db) = e.as_db_error() else {
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        return if e.is_closed() || io {
            unreachable(e)
        } else {
            Error::Internal(format!("clinic server: {e}"))
        };
    };
    let code = db.code();
    match code.code() {
        "FD404" => Error::NotFound(match db.message() {
            "slot" => "slot",
            "patient" => "patient",
            _ => "appointment",
        }),
        "FDBLK" => SlotRefusal::Blocked.into(),
        "FDPST" => SlotRefusal::Past.into(),
        "FDDOC" => SlotRefusal::DoctorInactive.into(),
        "FD409" => Error::SlotTaken,
        _ if *code == SqlState::UNIQUE_VIOLATION
            && db.constraint() == Some("appointment_one_live_per_slot") =>
        {
            Error::SlotTaken
        }
        // a lock held past lock_timeout, or a statement past statement_timeout
        _ if *code == SqlState::LOCK_NOT_AVAILABLE || *code == SqlState::QUERY_CANCELED => {
            Error::Busy
        }
        // (3D000: the database is not there — for a moment while a restore
        // swaps it in)
        _ if code.code().starts_with("08")
            || code.code().starts_with("57P")
            || *code == SqlState::INVALID_CATALOG_NAME =>
        {
            unreachable(db)
        }
        _ => Error::Internal(format!("clinic server: {db}")),
    }
}

impl PgClinic {
    /// A pool of at most `sessions` sessions on `url` (`postgres://…`). Each
    /// session waits at most 5 s for a row lock, runs a statement at most 15 s,
    /// and is closed by the server if it idles 30 s inside a transaction (a hung
    /// desk cannot hold a lock for long).
    ///
    /// A server on another PC is always spoken to over TLS, its certificate
    /// checked against the OS's trusted roots and the CA file the URL's
    /// `sslrootcert` names (a clinic's own CA), whatever `sslmode` says. A server
    /// on this PC is spoken to in plain unless the URL asks for TLS
    /// (`sslmode=require`, verified the same way).
    pub fn connect(url: &str, sessions: u32) -> Result<Self> {
        let (url, root_file) = take_param(url, "sslrootcert");
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| Error::Invalid(format!("this is not a usable server URL: {e}")))?;
        if !on_this_pc(&config) {
            config.ssl_mode(SslMode::Require);
        } else if !url.contains("sslmode=") {
            config.ssl_mode(SslMode::Disable);
        }
        let tls = DeskTls(MakeRustlsConnect::new(tls_config(
            root_file.as_deref().map(Path::new),
        )?));
        if config.get_password().is_none() {
            if let Some(password) = pgpass_password(&config) {
                config.password(password);
            }
        }
        config
            .application_name("frontdesk")
            .connect_timeout(Duration::from_secs(5))
            .options(
                "-c default_transaction_isolation=read\\ committed -c lock_timeout=5s \
                 -c statement_timeout=15s -c idle_in_transaction_session_timeout=30s",
            );
        let pool = r2d2::Pool::builder()
            .max_size(sessions.max(1))
            .min_idle(Some(0))
            // r2d2 would otherwise spend a round trip checking every session it
            // hands out; a session the server closed fails its next call instead
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(5))
            .build(PostgresConnectionManager::new(config.clone(), tls.clone()))
            .map_err(unreachable)?;
        Ok(Self {
            pool,
            config,
            tls,
            metrics: Metrics::default(),
            notes: Mutex::new(None),
            seal_cursor: Mutex::new(None),
        })
    }

    /// Another pool of at most `sessions` on the same server and database, with
    /// the same settings (a thread of its own that must not take the desk's).
    pub(crate) fn connect_like(other: &PgClinic, sessions: u32) -> PgClinic {
        let pool = r2d2::Pool::builder()
            .max_size(sessions.max(1))
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(5))
            .build_unchecked(PostgresConnectionManager::new(
                other.config.clone(),
                other.tls.clone(),
            ));
        PgClinic {
            pool,
            config: other.config.clone(),
            tls: other.tls.clone(),
            metrics: Metrics::default(),
            notes: Mutex::new(None),
            seal_cursor: Mutex::new(None),
        }
    }

    /// Why no session can be had, in full: the pool keeps only the last error's
    /// first line ("error performing TLS handshake"), so one direct attempt is
    /// made to say what the server or the network actually answered.
    fn why_unreachable(&self) -> Error {
        let Err(e) = self.config.connect(self.tls.clone()) else {
            return unreachable("no session became free within 5 s");
        };
        let mut why = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            why.push_str(&format!(": {s}"));
            source = s.source();
        }
        if why.contains("certificate") {
            return Error::Unusable(format!(
                "the clinic server's certificate is not trusted ({why}); name the clinic's CA \
                 certificate in the URL (sslrootcert=…)"
            ));
        }
        unreachable(why)
    }

    /// Reads the server's clock (Unix milliseconds) in one round trip on a
    /// session of this pool, for [`crate::clock::ServerClock`]: the session is
    /// taken first, so the times around the query do not include waiting for it.
    pub(crate) fn time_reader(&self) -> crate::clock::ReadServerTime {
        let pool = self.pool.clone();
        Box::new(move |pc: &dyn crate::clock::Clock| {
            let mut session = pool.get().map_err(unreachable)?;
            let before = pc.now_ms();
            let row = session
                .query_one(
                    "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::int8",
                    &[],
                )
                .map_err(to_error)?;
            let after = pc.now_ms();
            Ok((before, row.get(0), after))
        })
    }

    /// Tells the other desks, after a commit, that `note` changed.
    fn announce(&self, note: String) {
        let mut notes = self.notes.lock().unwrap_or_else(|p| p.into_inner());
        let queue = notes.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel();
            let (config, tls) = (self.config.clone(), self.tls.clone());
            std::thread::spawn(move || notifier(config, tls, rx));
            tx
        });
        // the notifier only ends with this handle, so the send cannot fail
        let _ = queue.send(note);
    }

    /// One session from the pool. r2d2 retries with growing pauses for up to 5 s while the server cannot be
    /// reached. A session known to be closed (the server restarted) is passed
    /// over; the pool drops it.
    pub fn session(&self) -> Result<Session> {
        for _ in 0..=self.pool.max_size() {
            let session = self.pool.get().map_err(|_| self.why_unreachable())?;
            if !session.is_closed() {
                return Ok(session);
            }
        }
        Err(unreachable("every session was closed"))
    }

    /// A session listening for the other desks' changes (`NOTIFY frontdesk`,
    /// sent after each committed write).
    pub fn listen(&self) -> Result<Listener> {
        let mut session = self.session()?;
        session
            .batch_execute("LISTEN frontdesk")
            .map_err(to_error)?;
        Ok(Listener { session })
    }

    /// Brings the schema to the newest version, once even when several desks
    /// start together (a transaction-scoped advisory lock); returns the version.
    /// A database of a newer Frontdesk is refused.
    pub fn migrate(&self) -> Result<i32> {
        let mut c = self.session()?;
        let mut tx = c.transaction().map_err(to_error)?;
        tx.batch_execute(
            "SELECT pg_advisory_xact_lock(7436, 1);
             CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);",
        )
        .map_err(to_error)?;
        let current: i32 = tx
            .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
            .map_err(to_error)?
            .get(0);
        let newest = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > newest {
            return Err(Error::Unusable(format!(
                "this clinic database has schema version {current}, newer than this Frontdesk \
                 knows ({newest}); update Frontdesk on this desk"
            )));
        }
        for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            tx.batch_execute(sql).map_err(to_error)?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[version],
            )
            .map_err(to_error)?;
        }
        tx.commit().map_err(to_error)?;
        Ok(newest)
    }

    /// Checks, as a desk, that the clinic database has this Frontdesk's schema:
    /// a desk's role may not change the schema, so an older one is for the
    /// administrator to upgrade (`frontdesk server setup`), a newer one for this
    /// desk's Frontdesk to be updated.
    pub fn check_schema(&self) -> Result<i32> {
        let newest = MIGRATIONS.last().map_or(0, |m| m.0);
        let current: i32 = self
            .session()?
            .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
            .map_err(|e| match e.code() {
                Some(c) if *c == SqlState::UNDEFINED_TABLE => Error::Unusable(
                    "this server database is not a Frontdesk clinic yet; run `frontdesk server \
                     setup` on the server PC"
                        .into(),
                ),
                _ => to_error(e),
            })?
            .get(0);
        match current.cmp(&newest) {
            std::cmp::Ordering::Equal => Ok(current),
            std::cmp::Ordering::Less => Err(Error::Unusable(format!(
                "the clinic database has schema version {current}, older than this Frontdesk \
                 needs ({newest}); run `frontdesk server setup` on the server PC to upgrade it"
            ))),
            std::cmp::Ordering::Greater => Err(Error::Unusable(format!(
                "this clinic database has schema version {current}, newer than this Frontdesk \
                 knows ({newest}); update Frontdesk on this desk"
            ))),
        }
    }

    /// Runs `f` on one session, again when the server asks for it (deadlock,
    /// serialization failure), with a short growing pause. When the session
    /// breaks while `f` runs (a server restart cuts every session in the pool),
    /// `f` runs again on a new session if it is `idempotent` (a keyed request:
    /// it finds its own earlier result); otherwise, or when no new session can
    /// be had, the outcome is unknown: [`unconfirmed`], never reported as done.
    fn retrying<T>(
        &self,
        idempotent: bool,
        mut f: impl FnMut(&mut Client) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        // every idle session in the pool may have been cut by the same restart
        let max_broken = self.pool.max_size() + 2;
        let mut c = self.session()?;
        let (mut retries, mut broken) = (0, 0);
        loop {
            match f(&mut c) {
                Err(e) if is_retryable(&e) && retries + 1 < MAX_ATTEMPTS => {
                    retries += 1;
                    std::thread::sleep(Duration::from_millis(u64::from(retries) * 2));
                }
                Err(e) if is_broken(&e, &c) => {
                    broken += 1;
                    if !idempotent || broken >= max_broken {
                        return Err(unconfirmed(e));
                    }
                    drop(c);
                    c = self.session().map_err(|_| unconfirmed(e))?;
                }
                Err(e) => {
                    let e = to_error(e);
                    // after a try that broke, only the server's own answer to a
                    // keyed request (a refusal, made under the row lock that try
                    // would still hold) is certain; a timeout is not
                    let unsure = matches!(e.code(), ErrorCode::Busy | ErrorCode::Internal);
                    return Err(if broken > 0 && unsure {
                        unconfirmed(&e)
                    } else {
                        e
                    });
                }
                Ok(v) => return Ok(v),
            }
        }
    }

    /// [`retrying`](Self::retrying) `f`, which answers its result and how long
    /// it waited for its lock (µs), and counts it in the figures of `op`: the
    /// lock wait, the hold (from the lock to the answer, which includes the
    /// commit), the retries, and the refusals a race causes.
    fn measured<T>(
        &self,
        op: &str,
        idempotent: bool,
        mut f: impl FnMut(&mut Client) -> std::result::Result<(T, i64), postgres::Error>,
    ) -> Result<T> {
        let mut tries = 0u64;
        let mut started = Instant::now();
        let outcome = self.retrying(idempotent, |c| {
            tries += 1;
            started = Instant::now();
            f(c)
        });
        let retries = tries.saturating_sub(1);
        match outcome {
            Ok((value, wait_us)) => {
                let wait = Duration::from_micros(wait_us.max(0) as u64);
                let hold = started.elapsed().saturating_sub(wait);
                self.metrics.record(op, wait, hold, retries);
                Ok(value)
            }
            Err(e) => {
                match e.code() {
                    ErrorCode::Busy => self.metrics.record_timeout(op, retries),
                    code => self.metrics.record_refusal(op, code),
                }
                Err(e)
            }
        }
    }

    /// This process's contention figures per operation (`book`, `status`,
    /// `otp.request`), the same figures the SQLite write path keeps.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.local_snapshot()
    }

    /// Books a free slot for a patient and answers the appointment as the desk
    /// shows it: one round trip (`fd_book`, the row read back by
    /// `fd_appointment` in the same statement). `SlotTaken` when a live
    /// appointment holds it; the same refusals as on SQLite otherwise.
    pub fn book(
        &self,
        slot_id: i64,
        patient_id: i64,
        reason: &str,
        actor: &str,
        now: i64,
    ) -> Result<Appointment> {
        let key = request_key();
        let booked = self.measured("book", true, |c| {
            let row = c.query_typed_one(
                "SELECT f.*, b.out_wait_us FROM fd_book($1, $2, $3, $4, $5, $6) b,
                 LATERAL fd_appointment(b.out_id) f",
                &[
                    (&key, Type::TEXT),
                    (&slot_id, Type::INT8),
                    (&patient_id, Type::INT8),
                    (&reason, Type::TEXT),
                    (&actor, Type::TEXT),
                    (&now, Type::INT8),
                ],
            )?;
            let wait = row.get(APPOINTMENT_COLUMNS);
            Ok((row, wait))
        })?;
        let booked = appointment_of(&booked)?;
        self.announce(format!("appointment {}", booked.id));
        Ok(booked)
    }

    /// Changes an appointment's status on the version the caller saw and
    /// answers the appointment as it is now: one round trip (`fd_change_status`,
    /// the row read back in the same statement). `Conflict` when it changed
    /// meanwhile, `InvalidTransition` when the state machine forbids the move.
    ///
    /// A move that settles money (a cancellation, a no-show) is made here only
    /// when the appointment has no ledger row, so nothing to settle; otherwise
    /// nothing changes and the answer is `None`: the settling is the desk's
    /// status service's (its SERIALIZABLE transaction). A ledger row's foreign
    /// key locks its appointment's row as it is written, so none can slip in
    /// between the check and the move (schema-6.sql).
    pub fn change_status(
        &self,
        appointment_id: i64,
        expected_version: i64,
        to: AppointmentStatus,
        note: &str,
        actor: &str,
        now: i64,
    ) -> Result<Option<Appointment>> {
        let moves = allowed_moves();
        let key = request_key();
        let unless_ledger = to.settles_money();
        let row = self.measured("status", true, |c| {
            let row = c.query_typed_one(
                "SELECT f.*, c.wait_us, c.outcome
                 FROM fd_change_status($1, $2, $3, $4, $5, $6, $7, $8, $9) c,
                 LATERAL fd_appointment(c.out_id) f",
                &[
                    (&key, Type::TEXT),
                    (&appointment_id, Type::INT8),
                    (&expected_version, Type::INT8),
                    (&to.as_str(), Type::TEXT),
                    (&moves, Type::TEXT_ARRAY),
                    (&note, Type::TEXT),
                    (&actor, Type::TEXT),
                    (&now, Type::INT8),
                    (&unless_ledger, Type::BOOL),
                ],
            )?;
            let wait = row.get(APPOINTMENT_COLUMNS);
            Ok((row, wait))
        })?;
        let now = appointment_of(&row)?;
        match row.get::<_, &str>(APPOINTMENT_COLUMNS + 1) {
            "ok" => {
                self.announce(format!("appointment {appointment_id}"));
                Ok(Some(now))
            }
            "money" => Ok(None),
            "stale" => {
                self.metrics.record_refusal("status", ErrorCode::Conflict);
                Err(Error::Conflict {
                    what: "the appointment",
                    changed_by: now.updated_by,
                    changed_at: now.updated_at,
                    current: now.status.to_string(),
                })
            }
            _ => Err(Error::InvalidTransition {
                from: now.status.to_string(),
                to: to.to_string(),
            }),
        }
    }

    /// Issues a passcode if the rate limits allow it: the phone's live code is
    /// replaced (never two), the message queued and claimed; returns the message's
    /// id. One round trip (`fd_request_passcode`, schema 5): requests for one
    /// phone (and from one desk) are serialized by advisory locks, so two desks
    /// cannot both pass a limit. The limits travel as parameters, and the
    /// histories come back so the desk's own rule (`check_request`) says why a
    /// request was refused — and refuses one the server let through otherwise.
    pub fn request_passcode(&self, p: &PasscodeIssue<'_>) -> Result<i64> {
        let hour_ago = p.now - limits::HOUR_SECS;
        let day_ago = p.now - limits::DAY_SECS;
        let expires = p.now + limits::CODE_TTL_SECS;
        let max = |n: usize| n as i32;
        let row = self.measured("otp.request", false, |c| {
            let row = c.query_typed_one(
                "SELECT out_id, by_phone, by_desk, failed, wait_us
                 FROM fd_request_passcode($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                &[
                    (&p.phone, Type::TEXT),
                    (&p.desk, Type::TEXT),
                    (&p.code_hash, Type::TEXT),
                    (&p.now, Type::INT8),
                    (&expires, Type::INT8),
                    (&hour_ago, Type::INT8),
                    (&day_ago, Type::INT8),
                    (&p.body, Type::TEXT),
                    (&p.token, Type::TEXT),
                    (&p.actor, Type::TEXT),
                    (&limits::MIN_REQUEST_GAP_SECS, Type::INT8),
                    (&max(limits::MAX_REQUESTS_PER_PHONE_PER_HOUR), Type::INT4),
                    (&max(limits::MAX_REQUESTS_PER_DESK_PER_HOUR), Type::INT4),
                    (&max(limits::MAX_FAILED_VERIFICATIONS_PER_PHONE_PER_DAY), Type::INT4),
                ],
            )?;
            let wait = row.get(4);
            Ok((row, wait))
        })?;
        let issued: Option<i64> = row.get(0);
        let (by_phone, by_desk, failed): (Vec<i64>, Vec<i64>, Vec<i64>) =
            (row.get(1), row.get(2), row.get(3));
        match (
            issued,
            passcodes::check_request(&by_phone, &by_desk, &failed, p.now),
        ) {
            (Some(id), Ok(())) => Ok(id),
            (None, Err(e)) => {
                self.metrics.record_refusal("otp.request", e.code());
                Err(e)
            }
            (Some(_), Err(_)) | (None, Ok(())) => Err(Error::Internal(
                "the clinic server decided a passcode request otherwise than this desk's \
                 limits would"
                    .into(),
            )),
        }
    }

    /// The live ordinary appointments on a slot (id and version), however many:
    /// what a desk's day view shows there.
    pub fn live_on_slot(&self, slot_id: i64) -> Result<Vec<(i64, i64)>> {
        self.retrying(true, |c| {
            let rows = c.query(
                "SELECT id, version FROM appointment
                 WHERE slot_id = $1 AND status <> 'CANCELLED' AND NOT overbooked ORDER BY id",
                &[&slot_id],
            )?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    /// Reserves one verification attempt on the phone's live code, before the
    /// caller checks the code (slow work, outside any lock): refused with
    /// `RateLimited` past the daily limit of failed verifications (checked under
    /// the phone's lock, so parallel guesses cannot pass it), else the code to
    /// check, or why there is none.
    pub fn reserve_passcode_attempt(
        &self,
        phone: &str,
        now: i64,
    ) -> Result<std::result::Result<ReservedAttempt, NoCode>> {
        let day_ago = now - limits::DAY_SECS;
        let max = limits::MAX_ATTEMPTS as i32;
        let mut limited = None;
        let row = self.measured("otp.verify", false, |c| {
            limited = None;
            let mut tx = c.transaction()?;
            let asked = Instant::now();
            tx.execute("SELECT pg_advisory_xact_lock(1, hashtext($1))", &[&phone])?;
            let wait = asked.elapsed().as_micros() as i64;
            let failed: Vec<i64> = tx
                .query_one(
                    "SELECT ARRAY(SELECT attempted_at FROM otp_attempt
                     WHERE phone = $1 AND NOT ok AND attempted_at > $2 ORDER BY attempted_at)",
                    &[&phone, &day_ago],
                )?
                .get(0);
            if let Err(e) = passcodes::limit(
                &failed,
                limits::MAX_FAILED_VERIFICATIONS_PER_PHONE_PER_DAY,
                limits::DAY_SECS,
                now,
            ) {
                limited = Some(e);
                return Ok((None, wait));
            }
            let row = tx.query_one(
                "SELECT outcome, code_hash, code_created_at, attempts, attempt_id
                 FROM fd_reserve_passcode_attempt($1, $2, $3, $4)",
                &[&phone, &now, &max, &day_ago],
            )?;
            tx.commit()?;
            Ok((Some(row), wait))
        })?;
        if let Some(e) = limited {
            self.metrics.record_refusal("otp.verify", e.code());
            return Err(e);
        }
        let row =
            row.ok_or_else(|| Error::Internal("attempt neither reserved nor refused".into()))?;
        Ok(match row.get::<_, &str>(0) {
            "reserved" => Ok(ReservedAttempt {
                code_hash: row.get(1),
                created_at: row.get(2),
                attempts: i64::from(row.get::<_, i32>(3)),
                attempt_id: row.get(4),
            }),
            "expired" => Err(NoCode::Expired),
            "exhausted" => Err(NoCode::Exhausted),
            _ => Err(NoCode::Missing),
        })
    }

    /// The reserved code matched: uses it up if it is still the phone's live
    /// code (one desk wins), marks the phone's patients verified; returns
    /// whether it was used up here.
    pub fn consume_passcode(
        &self,
        phone: &str,
        reserved: &ReservedAttempt,
        actor: &str,
        now: i64,
    ) -> Result<bool> {
        self.retrying(false, |c| {
            c.query_one(
                "SELECT fd_consume_passcode($1, $2, $3, $4, $5, $6)",
                &[
                    &phone,
                    &reserved.created_at,
                    &reserved.code_hash,
                    &reserved.attempt_id,
                    &actor,
                    &now,
                ],
            )
            .map(|r| r.get(0))
        })
    }

    // The clinic's set-up rows, for tests and the benchmark until the services
    // run on this backend.

    /// Adds a doctor; returns the id.
    pub fn add_doctor(&self, name: &str, now: i64) -> Result<i64> {
        self.retrying(false, |c| {
            c.query_one(
                "INSERT INTO doctor (name, created_at) VALUES ($1, $2) RETURNING id",
                &[&name, &now],
            )
            .map(|r| r.get(0))
        })
    }

    /// Adds `count` back-to-back slots of `minutes` from `start`; returns their ids.
    pub fn add_slots(
        &self,
        doctor_id: i64,
        start: i64,
        minutes: i64,
        count: i64,
        now: i64,
    ) -> Result<Vec<i64>> {
        self.retrying(false, |c| {
            let rows = c.query(
                "INSERT INTO slot (doctor_id, start_at, end_at, created_at)
                 SELECT $1, $2::bigint + i * $3::bigint * 60, $2::bigint + (i + 1) * $3::bigint * 60, $4
                 FROM generate_series(0, $5::bigint - 1) AS i ORDER BY i RETURNING id",
                &[&doctor_id, &start, &minutes, &now, &count],
            )?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    /// Adds a patient with an E.164 phone; returns the id.
    pub fn add_patient(&self, name: &str, phone: &str, now: i64) -> Result<i64> {
        self.retrying(false, |c| {
            c.query_one(
                "INSERT INTO patient (name, phone, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id",
                &[&name, &phone, &now],
            )
            .map(|r| r.get(0))
        })
    }

    /// Blocks or unblocks a slot.
    pub fn set_slot_blocked(&self, slot_id: i64, blocked: bool) -> Result<()> {
        self.retrying(true, |c| {
            c.execute(
                "UPDATE slot SET blocked = $2 WHERE id = $1",
                &[&slot_id, &blocked],
            )
        })?;
        Ok(())
    }

    /// Deactivates or reactivates a doctor.
    pub fn set_doctor_active(&self, doctor_id: i64, active: bool) -> Result<()> {
        self.retrying(true, |c| {
            c.execute(
                "UPDATE doctor SET active = $2 WHERE id = $1",
                &[&doctor_id, &active],
            )
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_shown_url_keeps_everything_but_the_password() {
        use super::without_password as shown;
        assert_eq!(
            shown("postgres://desk:s3cret@10.0.0.5:5432/frontdesk?sslrootcert=/ca.crt"),
            "postgres://desk@10.0.0.5:5432/frontdesk?sslrootcert=/ca.crt"
        );
        assert_eq!(
            shown("postgresql://desk@server/frontdesk?password=x&sslmode=require"),
            "postgresql://desk@server/frontdesk?sslmode=require"
        );
        assert_eq!(shown("postgres://server/db"), "postgres://server/db");
        assert_eq!(shown("postgres://a:b@c/d@e"), "postgres://a@c/d@e");
    }

    use super::*;

    #[test]
    fn the_ca_file_parameter_is_taken_out_of_the_url() {
        assert_eq!(
            take_param(
                "postgres://d@h/db?sslmode=require&sslrootcert=/ca.pem",
                "sslrootcert"
            ),
            (
                "postgres://d@h/db?sslmode=require".into(),
                Some("/ca.pem".into())
            )
        );
        assert_eq!(
            take_param("postgres://d@h/db?sslrootcert=/ca.pem", "sslrootcert"),
            ("postgres://d@h/db".into(), Some("/ca.pem".into()))
        );
        assert_eq!(
            take_param("postgres://d@h/db", "sslrootcert"),
            ("postgres://d@h/db".into(), None)
        );
    }

    #[test]
    fn only_a_server_on_this_pc_may_be_spoken_to_without_tls() {
        let mode = |url: &str| {
            let clinic = PgClinic::connect(url, 1).unwrap();
            clinic.config.get_ssl_mode()
        };
        // (connecting is lazy: the pool opens no session until one is asked for)
        assert_eq!(mode("postgres://d@10.1.2.3/db"), SslMode::Require);
        assert_eq!(
            mode("postgres://d@db.clinic/db?sslmode=disable"),
            SslMode::Require
        );
        assert_eq!(
            mode("postgres://d@db.clinic/db?sslmode=prefer"),
            SslMode::Require
        );
        assert_eq!(mode("postgres://d@127.0.0.1/db"), SslMode::Disable);
        assert_eq!(
            mode("postgres://d@localhost/db?sslmode=require"),
            SslMode::Require
        );
        assert_eq!(mode("postgres://d@[::1]/db"), SslMode::Disable);
        // a local name with a remote address, or no host at all, is not this PC
        assert_eq!(
            mode("postgres://d@localhost/db?hostaddr=192.168.1.10"),
            SslMode::Require
        );
        assert_eq!(mode("postgres:///db?user=d"), SslMode::Require);
        // a local socket is this PC
        assert_eq!(
            mode("postgres:///db?host=/var/run/postgresql&user=d"),
            SslMode::Disable
        );
        assert_eq!(
            mode("postgres:///postgres?host=/tmp/fd-pg&port=39525&user=frontdesk"),
            SslMode::Disable
        );
    }
}
