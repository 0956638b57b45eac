//! Opening the database: the one way in.
//!
//! Order matters and is the same every time:
//! 1. resolve the path once ([`resolve_path`]: relative spellings, `..`, symlinks)
//!    to the real file; every sibling file (`-wal`, lock, presence, restore copy,
//!    default backup folder) is named from the resolved path, so every spelling of
//!    one database is one database;
//! 2. refuse a network filesystem, checked on the real folder (SQLite's WAL needs
//!    every process on one host);
//! 3. [`prepare_schema`]: when the file is already in WAL mode at this build's
//!    schema version — every start but the first after an upgrade — nothing is
//!    locked, so a desk frozen while holding the write lock cannot stop others from
//!    starting. Otherwise, under the cross-process writer lock (with the write
//!    deadline): `journal_mode=WAL` (persistent, outside any transaction), refuse a
//!    schema newer than this build, run the migrations inside one IMMEDIATE
//!    transaction;
//! 4. build the read pool and the single writer connection, each initialised by
//!    [`configure_connection`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use include_dir::{include_dir, Dir};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use rusqlite_migration::Migrations;

use crate::error::{Error, Result};
use crate::storage::tx::lock_file::LockFile;

static MIGRATIONS_DIR: Dir = include_dir!("$CARGO_MANIFEST_DIR/migrations");

/// The pool type every read uses.
pub type Pool = r2d2::Pool<SqliteConnectionManager>;

/// Name of the database file in the app-data directory.
pub const DEFAULT_FILE_NAME: &str = "frontdesk.sqlite3";

/// The migrations compiled into this build.
pub fn migrations() -> Migrations<'static> {
    Migrations::from_directory(&MIGRATIONS_DIR).expect("migrations directory is well-formed")
}

/// The schema version this build writes (the number of migrations).
pub fn latest_schema_version() -> usize {
    MIGRATIONS_DIR.dirs().count()
}

/// The desktop app's identifier; its data folder is named after it, so the CLI and
/// the app find the same default database.
pub const APP_IDENTIFIER: &str = "org.frontdesk.desk";

/// Environment variable naming the database file; overrides the default location.
pub const DB_ENV: &str = "FRONTDESK_DB";

/// Where the database lives unless told otherwise: `FRONTDESK_DB`, else the OS
/// app-data directory of the desktop app (`~/.local/share/org.frontdesk.desk` on Linux).
pub fn default_path() -> PathBuf {
    let data_dir = || -> std::result::Result<PathBuf, std::convert::Infallible> {
        Ok(dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join(APP_IDENTIFIER))
    };
    location(std::env::var_os(DB_ENV), data_dir).unwrap_or_else(|never| match never {})
}

/// The one rule for which file a desk opens, for the CLI and the app alike: the
/// file named by `from_env` (`FRONTDESK_DB`) when it is set and not empty, else
/// [`DEFAULT_FILE_NAME`] in the app's data directory (asked for only then; the
/// app asks Tauri, the CLI the OS).
pub fn location<E>(
    from_env: Option<std::ffi::OsString>,
    app_data_dir: impl FnOnce() -> std::result::Result<PathBuf, E>,
) -> std::result::Result<PathBuf, E> {
    match from_env {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => Ok(app_data_dir()?.join(DEFAULT_FILE_NAME)),
    }
}

/// `<db><suffix>`: a sibling file named from the (resolved) database path.
pub fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Where this desk keeps its own settings (`FRONTDESK_CONFIG_DIR`, else the
/// user's configuration folder): never in the clinic's database.
pub const DESK_CONFIG_ENV: &str = "FRONTDESK_CONFIG_DIR";

fn desk_config_dir() -> PathBuf {
    match std::env::var_os(DESK_CONFIG_ENV).filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => dirs::config_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join(APP_IDENTIFIER),
    }
}

/// The file holding the clinic server this desk connects to.
fn server_file() -> PathBuf {
    desk_config_dir().join("clinic-server")
}

/// The clinic server this desk was connected to ("Connect to the clinic
/// server"), if any: the URL without a password (the password is in the
/// user's pgpass file).
pub fn remembered_server() -> Option<String> {
    let text = std::fs::read_to_string(server_file()).ok()?;
    let url = text.trim();
    server_url(Path::new(url)).map(str::to_string)
}

/// Forgets the clinic server this desk was connected to ([`remember_server`]);
/// nothing to forget is fine.
pub fn forget_server() -> Result<()> {
    match std::fs::remove_file(server_file()) {
        Ok(()) => {
            crate::platform::sync_dir(&desk_config_dir());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Unusable(format!(
            "cannot forget the clinic server's address in {}: {e}",
            server_file().display()
        ))),
    }
}

/// Remembers `url` (its password left out) as this desk's clinic server, in a
/// file only this user can read, written whole or not at all.
pub fn remember_server(url: &str) -> Result<()> {
    let dir = desk_config_dir();
    crate::platform::create_private_dir(&dir)?;
    let shown = crate::storage::pg::without_password(url);
    let temp = dir.join(format!("clinic-server.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let written = crate::platform::create_private_file(&temp)
        .and_then(|mut f| {
            use std::io::Write;
            f.write_all(format!("{shown}\n").as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, server_file()));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        Error::Unusable(format!(
            "cannot keep the clinic server's address in {}: {e}",
            dir.display()
        ))
    })?;
    crate::platform::sync_dir(&dir);
    Ok(())
}

/// The clinic server's URL when `path` is one (`postgres://…`) rather than a
/// file's name.
pub fn server_url(path: &Path) -> Option<&str> {
    let text = path.to_str()?;
    ["postgres://", "postgresql://"]
        .iter()
        .any(|scheme| text.starts_with(scheme))
        .then_some(text)
}

/// Refuses a clinic server's URL where only a clinic file will do.
pub fn refuse_server_url(path: &Path) -> Result<()> {
    match server_url(path) {
        Some(_) => Err(Error::Unusable(
            "this needs the clinic file: a clinic server's URL was given".into(),
        )),
        None => Ok(()),
    }
}

/// The real file a database path names: absolute, without `.`/`..`, every
/// symlink followed (also a link to a file that does not exist yet). The folder is
/// created when missing (0700). Every spelling of one file resolves to the same path.
pub fn resolve_path(path: &Path) -> Result<PathBuf> {
    refuse_server_url(path)?;
    let unusable = |what: &str, e: std::io::Error| {
        Error::Unusable(format!(
            "cannot use {} as the database: {what}: {e}",
            path.display()
        ))
    };
    let mut current = std::path::absolute(path).map_err(|e| unusable("no such path", e))?;
    // as many links as the kernel follows (ELOOP) before giving up
    for _ in 0..40 {
        if let Ok(real) = std::fs::canonicalize(&current) {
            if real.is_dir() {
                return Err(Error::Unusable(format!(
                    "{} is a folder; name the database file inside it (e.g. {})",
                    path.display(),
                    real.join(DEFAULT_FILE_NAME).display()
                )));
            }
            return Ok(real);
        }
        let parent = current
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        match std::fs::read_link(&current) {
            // a link to a file not created yet: follow it by hand
            Ok(target) => current = parent.join(target),
            Err(_) => {
                let name = current.file_name().ok_or_else(|| {
                    Error::Unusable(format!("{} does not name a file", path.display()))
                })?;
                crate::platform::create_private_dir(&parent)?;
                let dir = std::fs::canonicalize(&parent)
                    .map_err(|e| unusable("cannot resolve its folder", e))?;
                return Ok(dir.join(name));
            }
        }
    }
    Err(Error::Unusable(format!(
        "{} is a chain of too many symbolic links",
        path.display()
    )))
}

/// Creates the database file 0600 when it does not exist yet (SQLite would make it
/// 0644, and its `-wal` and `-shm` copy the database's mode), and tightens an
/// existing database and its siblings to 0600: health data is for the clinic's
/// operating-system user only.
pub(crate) fn make_files_private(db: &Path) -> Result<()> {
    match crate::platform::create_private_file(db) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(Error::Unusable(format!(
                "cannot create the database {}: {e}",
                db.display()
            )))
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        crate::platform::make_private(&sibling(db, suffix));
    }
    Ok(())
}

/// Per-connection settings, applied to every connection (pool and writer).
pub fn configure_connection(conn: &Connection, busy_timeout: Duration) -> rusqlite::Result<()> {
    conn.execute_batch(
        "
        -- enforce every REFERENCES clause (SQLite leaves them off by default)
        PRAGMA foreign_keys = ON;
        -- a connection that commits by itself (tools, restores) fsyncs the WAL at
        -- every commit; the writer switches to NORMAL and syncs in groups outside
        -- the lock, before anyone is told a change is saved (see tx)
        PRAGMA synchronous = FULL;
        -- keep temporary b-trees (sorting) in memory rather than in temp files
        PRAGMA temp_store = MEMORY;
        -- 16 MiB page cache: the day view and patient search stay in memory
        PRAGMA cache_size = -16384;
        -- never trust SQL functions hidden in the schema by someone else
        PRAGMA trusted_schema = OFF;
        ",
    )?;
    // wait (instead of failing at once) when a checkpoint or another process holds a
    // lock; the write helper sets its own, shorter value and retries with jitter
    conn.busy_timeout(busy_timeout)?;
    // read once: from now on this connection holds the WAL-mode shared lock that
    // makes a restore see it (SQLite refuses to leave WAL mode while it is held),
    // and the `-wal` file exists for as long as it is open
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
    Ok(())
}

/// How the clinic's connections open its file: never creating it. Only
/// [`prepare_schema`] makes a new database; a connection opened later (the
/// pool's, the watcher's, a check's) at a path whose file was deleted fails
/// instead of leaving an empty clinic there.
fn existing_file() -> OpenFlags {
    OpenFlags::default().difference(OpenFlags::SQLITE_OPEN_CREATE)
}

/// Opens one connection with the app's settings (used for the writer and tools)
/// to the database at `path`, which must exist.
pub fn open_connection(path: &Path, busy_timeout: Duration) -> Result<Connection> {
    let conn = open_file(path, existing_file())?;
    configure_connection(&conn, busy_timeout)
        .map_err(|e| crate::storage::cipher::explain_not_a_database(e, path))?;
    Ok(conn)
}

/// [`open_file`] for reading and writing: what a tool (or a test standing in for
/// someone with the file and its key) uses to look inside.
pub fn open_keyed(path: impl AsRef<Path>) -> Result<Connection> {
    open_file(path.as_ref(), OpenFlags::default())
}

/// How many staff accounts the database at `path` has (0 for a file without a
/// staff table): the measuring tools act without a sign-in, so only on databases
/// with none — their own, never a clinic's. Opens the file read-only.
pub fn staff_accounts(path: &Path) -> Result<i64> {
    let conn = open_file(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let has_staff_table: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'staff'",
        [],
        |r| r.get(0),
    )?;
    if !has_staff_table {
        return Ok(0);
    }
    Ok(conn.query_row("SELECT count(*) FROM staff", [], |r| r.get(0))?)
}

/// Opens `path` with `flags`, keyed with the file's own key when it is encrypted
/// (see [`crate::storage::cipher`]); nothing is read yet. Every connection Frontdesk opens
/// on a database or a backup goes through here.
pub fn open_file(path: &Path, flags: OpenFlags) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, flags).map_err(|e| {
        Error::Unusable(format!(
            "cannot open the database at {}: {e}",
            path.display()
        ))
    })?;
    crate::storage::cipher::quiet_logging(&conn);
    crate::storage::cipher::key_connection(&conn, path)?;
    Ok(conn)
}

/// An existing database this build upgraded to its schema when opening it (a
/// newer Frontdesk installed over an older one's data): the CLI and the app say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaUpgrade {
    /// The schema version the file had.
    pub from: usize,
    /// The version it has now (this build's).
    pub to: usize,
}

impl std::fmt::Display for SchemaUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the database was upgraded from schema version {} to {} for Frontdesk {} \
             (all in one transaction; appointments, patients and staff are kept)",
            self.from,
            self.to,
            env!("CARGO_PKG_VERSION")
        )
    }
}

/// Makes the file a WAL database at this build's schema version (see the module
/// docs): only when something must change is the writer lock taken, with the
/// write deadline, and everything checked again under it. Says which upgrade it
/// made to an existing database's schema, if any.
///
/// A new (empty) file gets its key here, under the lock, before its first page is
/// written: a fresh key kept in `new_key_folder`, or none when that is `None` (a
/// plain database). Another desk creating the same file at the same moment waits
/// for the lock and then finds the key by the file's salt.
pub(crate) fn prepare_schema(
    path: &Path,
    lock: &LockFile,
    deadline: Duration,
    new_key_folder: Option<&Path>,
) -> Result<Option<SchemaUpgrade>> {
    let is_new = || -> Result<bool> {
        Ok(crate::storage::cipher::file_kind(path)? == crate::storage::cipher::FileKind::New)
    };
    if !is_new()? && schema_is_ready(&open_connection(path, Duration::from_secs(10))?)? {
        return Ok(None);
    }
    if !lock.acquire(std::time::Instant::now() + deadline)? {
        return Err(Error::Busy);
    }
    let outcome = (|| {
        if is_new()? {
            // the one place a database file is made
            let conn = open_file(path, OpenFlags::default())?;
            if let Some(folder) = new_key_folder {
                let key = crate::storage::cipher::DbKey::generate();
                // kept before the first page is written: no encrypted file without its key
                crate::storage::cipher::store(&key, folder)?;
                key.apply(&conn)?;
                let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            }
        }
        let mut conn = open_connection(path, Duration::from_secs(10))?;
        // readers never block the writer and the writer never blocks readers; the
        // mode is stored in the file, so setting it once is enough
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Unusable(format!(
                "the database at {} cannot use write-ahead logging (journal mode stays {mode})",
                path.display()
            )));
        }
        conn.set_transaction_behavior(TransactionBehavior::Immediate);
        let from = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
        let to = latest_schema_version();
        // all pending migrations run in one transaction: a failure changes nothing
        migrations()
            .to_latest(&mut conn)
            .map_err(|e| Error::Unusable(format!("cannot upgrade the database schema: {e}")))?;
        Ok((from > 0 && from < to).then_some(SchemaUpgrade { from, to }))
    })();
    lock.release();
    outcome
}

/// True when the file is in WAL mode at this build's schema version; refuses a
/// schema newer than this build.
fn schema_is_ready(conn: &Connection) -> Result<bool> {
    let found = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    let known = latest_schema_version();
    if found > known {
        return Err(Error::Unusable(format!(
            "this database was written by a newer Frontdesk (schema version {found}; this app knows up to {known}). \
             Update Frontdesk on this computer before opening it; nothing was changed."
        )));
    }
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    Ok(found == known && mode.eq_ignore_ascii_case("wal"))
}

/// One schema object: (type, name, table, SQL).
pub type SchemaObject = (String, String, String, Option<String>);

/// The schema objects of a database (tables, indexes, triggers, views), without
/// SQLite's own (`sqlite_*`: statistics, autoindexes, sequences).
pub fn schema_objects(conn: &Connection) -> rusqlite::Result<Vec<SchemaObject>> {
    let mut stmt = conn.prepare(
        "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
         ORDER BY type, name",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    rows.collect()
}

/// What the migrations of this build make for schema `version`, object by object.
pub fn expected_schema(version: usize) -> Result<Vec<SchemaObject>> {
    let mut conn = Connection::open_in_memory()?;
    migrations()
        .to_version(&mut conn, version)
        .map_err(|e| Error::Internal(format!("cannot build schema version {version}: {e}")))?;
    Ok(schema_objects(&conn)?)
}

/// How the schema of `conn` (at its `user_version`) differs from what the
/// migrations make for that version: each extra, missing or altered object named.
pub fn schema_differences(conn: &Connection) -> Result<Vec<String>> {
    let version = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?;
    if version < 0 || version as usize > latest_schema_version() {
        return Ok(vec![format!(
            "schema version {version} is not one this build knows"
        )]);
    }
    let expected = expected_schema(version as usize)?;
    let found = schema_objects(conn)?;
    let mut problems = Vec::new();
    for f in &found {
        match expected.iter().find(|e| e.0 == f.0 && e.1 == f.1) {
            None => problems.push(format!("extra {} {}", f.0, f.1)),
            Some(e) if e != f => problems.push(format!("altered {} {}", f.0, f.1)),
            Some(_) => {}
        }
    }
    for e in &expected {
        if !found.iter().any(|f| f.0 == e.0 && f.1 == e.1) {
            problems.push(format!("missing {} {}", e.0, e.1));
        }
    }
    Ok(problems)
}

/// Builds the read pool. A small pool is enough: there is one writer per process
/// and reads are short.
pub(crate) fn build_pool(path: &Path, size: u32, busy_timeout: Duration) -> Result<Pool> {
    // the key is looked up once; a pooled connection is keyed before its first read
    let key = crate::storage::cipher::key_of(path)?;
    let manager = SqliteConnectionManager::file(path)
        .with_flags(existing_file())
        .with_init(move |c| {
            crate::storage::cipher::quiet_logging(c);
            if let Some(key) = &key {
                key.apply(c)?;
            }
            configure_connection(c, busy_timeout)
        });
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(10))
        .build(manager)
        .map_err(|e| Error::Unusable(format!("cannot open the database: {e}")))
}

/// Refuses a database on a network filesystem, where WAL mode corrupts data.
/// `path` is the resolved path, so this looks at the real folder.
pub(crate) fn refuse_network_filesystem(path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Some(kind) = crate::platform::network_filesystem_kind(dir) {
        return Err(Error::Unusable(format!(
            "the database folder {} is on a network drive ({kind}). SQLite's write-ahead log only works \
             when every desk runs on the computer that holds the file, so Frontdesk refuses to use it there. \
             Keep the file on a local disk of one computer (desks on that computer can share it), or use a \
             clinic database server for desks on several computers.",
            dir.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_server_url_is_not_taken_for_a_file_name() {
        for url in [
            "postgres://desk@server/frontdesk",
            "postgresql://server/clinic",
        ] {
            let err = super::resolve_path(std::path::Path::new(url)).unwrap_err();
            assert!(err.to_string().contains("clinic server's URL"), "{err}");
        }
        assert!(!std::path::Path::new("postgres:").exists());
    }
    use super::*;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().expect("migrations validate");
    }

    #[test]
    fn nfs_and_smb_are_recognised_and_local_filesystems_are_not() {
        assert_eq!(
            crate::platform::network_filesystem_name(0x6969),
            Some("NFS")
        );
        assert_eq!(
            crate::platform::network_filesystem_name(0xFF53_4D42u32 as i64),
            Some("CIFS")
        );
        assert_eq!(
            crate::platform::network_filesystem_name(0xEF53),
            None,
            "ext4 is local"
        );
        assert_eq!(
            crate::platform::network_filesystem_kind(&std::env::temp_dir()),
            None,
            "the temp dir is local"
        );
    }
}
