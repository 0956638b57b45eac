//! A clinic server's backups: `pg_dump`'s archives, checked and restored by
//! Frontdesk.
//!
//! A backup is `pg_dump --format=custom` of the clinic database, taken with the
//! desks' role in one snapshot (the desks go on writing), written to a
//! temporary file and moved to its name when whole, then checked as a restore
//! would check it.
//!
//! Nothing in an archive is ever run. `pg_restore` only turns it into text
//! (`--data-only --file=-`); Frontdesk reads the COPY blocks of that text itself,
//! takes only the clinic's own tables and their columns, and loads the rows with
//! COPY statements of its own into a database its own migrations made — so every
//! constraint of the schema holds for them, and a hostile archive cannot make the
//! server run anything (a restore runs with an administrator's rights). The
//! audit log's seals are verified under the clinic's key before anything loads.
//!
//! A restore never overwrites: it builds `<db>_restoring`, loads and checks it,
//! then renames the clinic's database to `<db>_before_restore_<time>` (kept and
//! closed to connections: the safety copy) and the new one to the clinic's
//! name. The desks' sessions on the old one are ended; they reconnect to the
//! restored one.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::audit::{mac, EventFields};
use super::move_in::{MovedTable, TABLES};
use super::{to_error, PgClinic};
use crate::error::{Error, Result};
use crate::storage::audit_key::KeyFolder;

/// The tables a server backup may hold, in the order a restore loads them
/// (a row's parents first): the schema's version, the clinic's, the audit
/// log's seals.
const LOAD_ORDER: [&str; TABLES.len() + 2] = {
    let mut order = [""; TABLES.len() + 2];
    order[0] = "schema_version";
    let mut i = 0;
    while i < TABLES.len() {
        order[i + 1] = TABLES[i];
        i += 1;
    }
    order[TABLES.len() + 1] = "audit_seal";
    order
};

fn known(table: &str) -> bool {
    LOAD_ORDER.contains(&table)
}

/// Where PostgreSQL's client program `name` is: in `FRONTDESK_PG_BIN` when set,
/// else the newest installed version's (Debian's `/usr/bin` wrappers pick one by
/// cluster; a newer `pg_dump` reads every older server), else on the `PATH`.
pub fn tool(name: &str) -> PathBuf {
    let exe = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    if let Some(dir) = std::env::var_os("FRONTDESK_PG_BIN") {
        return PathBuf::from(dir).join(exe);
    }
    let roots = ["/usr/lib/postgresql", r"C:\Program Files\PostgreSQL"];
    let newest = roots
        .iter()
        .filter_map(|root| std::fs::read_dir(root).ok())
        .flat_map(|dir| dir.flatten())
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.split('.').next()?.parse().ok()?;
            let path = e.path().join("bin").join(&exe);
            path.is_file().then_some((version, path))
        })
        .max_by_key(|(v, _)| *v);
    newest.map_or_else(|| PathBuf::from(exe), |(_, p)| p)
}

/// Runs `cmd` (PostgreSQL's `name`) to its end; its error output is the error.
fn run(mut cmd: Command, name: &str) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| missing_tool(name, e))?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

fn missing_tool(name: &str, e: std::io::Error) -> Error {
    Error::invalid(format!(
        "cannot run {name} ({e}): install PostgreSQL's client programs on this PC (Debian: \
         postgresql-client; Windows: the PostgreSQL installer's command line tools), or set \
         FRONTDESK_PG_BIN to their folder"
    ))
}

/// Points `cmd` (a libpq program) at `url` as the desk's own sessions use it:
/// a server on another PC only over TLS with its certificate verified; a
/// password in the URL handed over in the environment, never on the command
/// line (where every user of the PC can read it).
fn connect_to(cmd: &mut Command, url: &str) -> Result<()> {
    let (plain, _) = super::take_param(url, "sslrootcert");
    let config: postgres::Config = plain
        .parse()
        .map_err(|e| Error::invalid(format!("this is not a usable server URL: {e}")))?;
    if !super::on_this_pc(&config) && !url.contains("sslmode=") {
        cmd.env("PGSSLMODE", "verify-full");
    }
    if let Some(password) = config.get_password() {
        cmd.env("PGPASSWORD", String::from_utf8_lossy(password).as_ref());
    }
    cmd.arg("--dbname").arg(super::without_password(url));
    Ok(())
}

/// Writes the clinic database `url` names to `to` with `pg_dump` (custom
/// format, no owners or grants: they are the server's, not the clinic's).
pub fn dump(url: &str, to: &Path) -> Result<()> {
    // private before pg_dump writes into it (it keeps the file's mode)
    let _ = std::fs::remove_file(to);
    crate::platform::create_private_file(to)
        .map_err(|e| Error::invalid(format!("cannot write the backup {}: {e}", to.display())))?;
    let mut cmd = Command::new(tool("pg_dump"));
    // UTF-8 whatever the database's own encoding: the seals are over UTF-8 text
    cmd.args([
        "--format=custom",
        "--encoding=UTF8",
        "--no-owner",
        "--no-privileges",
        // the writes' turn (schema 4) holds nothing of the clinic's
        "--exclude-table-data=write_turn",
        "--file",
    ])
    .arg(to);
    connect_to(&mut cmd, url)?;
    run(cmd, "pg_dump")?;
    std::fs::File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::invalid(format!("cannot write the backup to disk: {e}")))
}

/// The longest line of an archive's text read (a row of COPY text).
const MAX_LINE: u64 = 64 << 20;

/// An archive's data, read through `pg_restore` one table and row at a time.
struct Archive {
    child: Child,
    out: BufReader<ChildStdout>,
    errors: Option<std::thread::JoinHandle<String>>,
    line: Vec<u8>,
}

impl Drop for Archive {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Archive {
    /// The data of every table in the archive (in its order), or of `table` only.
    fn open(path: &Path, table: Option<&str>) -> Result<Archive> {
        let mut cmd = Command::new(tool("pg_restore"));
        cmd.args(["--data-only", "--file=-"]);
        if let Some(t) = table {
            cmd.arg(format!("--table={t}"));
        }
        // (a relative name starting with `-` is no option)
        let path = if path.is_relative() {
            Path::new(".").join(path)
        } else {
            path.to_path_buf()
        };
        let mut child = cmd
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| missing_tool("pg_restore", e))?;
        let out = BufReader::with_capacity(1 << 16, child.stdout.take().expect("piped"));
        let mut err = child.stderr.take().expect("piped");
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        Ok(Archive {
            child,
            out,
            errors: Some(errors),
            line: Vec::new(),
        })
    }

    fn read_line(&mut self) -> Result<bool> {
        self.line.clear();
        let n = (&mut self.out)
            .take(MAX_LINE)
            .read_until(b'\n', &mut self.line)
            .map_err(|e| Error::invalid(format!("reading the backup: {e}")))?;
        if n as u64 == MAX_LINE && self.line.last() != Some(&b'\n') {
            return Err(Error::invalid(
                "the backup holds a line longer than any clinic's row; it is not restored",
            ));
        }
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
        }
        Ok(n > 0)
    }

    /// The next table's name and columns (`None` at the end). Only a COPY of a
    /// table Frontdesk knows into plain column names is taken; every other
    /// line of the script (settings, sequence values, comments) is skipped.
    fn next_table(&mut self) -> Result<Option<(String, Vec<String>)>> {
        while self.read_line()? {
            if !self.line.starts_with(b"COPY ") {
                continue;
            }
            let line = String::from_utf8_lossy(&self.line).into_owned();
            return match parse_copy(&line) {
                Some((table, cols)) if known(&table) => Ok(Some((table, cols))),
                Some((table, _)) => Err(Error::invalid(format!(
                    "the backup holds a table {table:?} that is not a Frontdesk clinic's; it is \
                     not restored"
                ))),
                None => Err(Error::invalid(format!(
                    "the backup holds data Frontdesk does not read ({}); it is not restored",
                    line.chars().take(80).collect::<String>()
                ))),
            };
        }
        Ok(None)
    }

    /// The next row of the current table in COPY text, `None` after its last.
    fn next_row(&mut self) -> Result<Option<&[u8]>> {
        if !self.read_line()? {
            return Err(Error::invalid(
                "the backup ends inside a table's data; it is not restored",
            ));
        }
        Ok((self.line != b"\\.").then_some(&self.line[..]))
    }

    /// Waits for `pg_restore`: an archive it could not read in full is refused.
    fn finish(mut self) -> Result<()> {
        while self.read_line()? {}
        let status = self
            .child
            .wait()
            .map_err(|e| Error::invalid(format!("pg_restore: {e}")))?;
        let errors = self
            .errors
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        if status.success() {
            return Ok(());
        }
        Err(Error::invalid(format!(
            "this is not a Frontdesk server backup that can be read in full (pg_restore: {}); \
             it is not restored",
            errors.trim()
        )))
    }
}

/// A plain lower-case SQL name, as Frontdesk's tables and columns are.
fn plain_name(name: &str) -> Option<String> {
    let name = name.trim();
    let name = name
        .strip_prefix('"')
        .and_then(|n| n.strip_suffix('"'))
        .unwrap_or(name);
    let ok = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    ok.then(|| name.to_string())
}

/// `COPY public.table (a, b) FROM stdin;` → the table and its columns.
fn parse_copy(line: &str) -> Option<(String, Vec<String>)> {
    let rest = line
        .strip_prefix("COPY public.")?
        .strip_suffix(" FROM stdin;")?;
    let (table, cols) = rest.split_once(" (")?;
    let cols = cols.strip_suffix(')')?;
    let cols: Option<Vec<String>> = cols.split(',').map(plain_name).collect();
    Some((plain_name(table)?, cols?))
}

/// One field of a COPY text row: `None` for NULL (`\N`), else its text with the
/// escapes undone.
fn copy_field(raw: &[u8]) -> Option<String> {
    if raw == b"\\N" {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'\\' || i + 1 == raw.len() {
            out.push(raw[i]);
            i += 1;
            continue;
        }
        let c = raw[i + 1];
        i += 2;
        let byte = match c {
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 11,
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match raw.get(i) {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                v as u8
            }
            b'x' => {
                let mut v = 0u32;
                for _ in 0..2 {
                    match raw.get(i).and_then(|d| (*d as char).to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            i += 1;
                        }
                        None => break,
                    }
                }
                v as u8
            }
            other => other,
        };
        out.push(byte);
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// What a server backup holds, checked.
#[derive(Debug, Clone, Serialize)]
pub struct ServerBackupCheck {
    /// The archive.
    pub path: String,
    /// The clinic it is a backup of (its `clinic.id`).
    pub clinic_id: String,
    /// The schema version it was taken at.
    pub schema_version: i32,
    /// Rows of each table.
    pub tables: Vec<MovedTable>,
    /// Audit rows whose seals were verified under the clinic's key; `None`
    /// when this PC has not the key (nothing could be verified).
    pub seals_verified: Option<u64>,
    /// Audit rows not sealed yet when the backup was taken (they are sealed
    /// after a restore).
    pub unsealed: u64,
}

impl ServerBackupCheck {
    /// Rows of `table` in the backup.
    pub fn rows(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .find(|t| t.table == table)
            .map_or(0, |t| t.rows)
    }
}

/// The columns of each table of the schema on `server`.
fn schema_columns(server: &PgClinic) -> Result<HashMap<String, Vec<String>>> {
    let mut columns: HashMap<String, Vec<String>> = HashMap::new();
    for row in server
        .session()?
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = 'public'",
            &[],
        )
        .map_err(to_error)?
    {
        columns.entry(row.get(0)).or_default().push(row.get(1));
    }
    Ok(columns)
}

/// Checks the archive at `path` against the schema of `server`'s database (a
/// clinic database of this Frontdesk): readable in full, only the clinic's
/// tables and columns, a schema no newer, a clinic id, and every audit seal
/// verified under the clinic's key from `keys` when this PC has it.
pub fn verify(server: &PgClinic, path: &Path, keys: &KeyFolder) -> Result<ServerBackupCheck> {
    let columns = schema_columns(server)?;
    let newest = super::MIGRATIONS.last().map_or(0, |m| m.0);
    // the whole archive once: nothing in it that is not the clinic's
    let mut whole = Archive::open(path, None)?;
    while whole.next_table()?.is_some() {
        while whole.next_row()?.is_some() {}
    }
    whole.finish()?;
    // then each table as a restore reads it (selected by its name in the
    // archive, the same way): what is verified is what would be loaded
    let mut tables = Vec::new();
    let (mut clinic_id, mut schema_version) = (None, None::<i32>);
    let mut events: HashMap<i64, EventFields> = HashMap::new();
    let mut seals: Vec<(i64, i64, String)> = Vec::new();
    for want in LOAD_ORDER {
        let mut archive = Archive::open(path, Some(want))?;
        let mut rows = 0u64;
        while let Some((table, cols)) = archive.next_table()? {
            if table != *want {
                return Err(Error::invalid(format!(
                    "the backup answers for its {want} table with {table}'s data; it is not \
                     restored"
                )));
            }
            let known_cols = columns.get(&table).cloned().unwrap_or_default();
            if let Some(c) = cols.iter().find(|c| !known_cols.contains(c)) {
                return Err(Error::invalid(format!(
                    "the backup's {table} table has a column {c:?} this Frontdesk does not \
                     know; it is not restored"
                )));
            }
            let at = |name: &str| cols.iter().position(|c| c == name);
            while let Some(row) = archive.next_row()? {
                rows += 1;
                let fields: Vec<Option<String>> =
                    row.split(|b| *b == b'\t').map(copy_field).collect();
                if fields.len() != cols.len() {
                    return Err(Error::invalid(format!(
                        "a row of the backup's {table} table has {} fields for {} columns; it \
                         is not restored",
                        fields.len(),
                        cols.len()
                    )));
                }
                let get = |name: &str| at(name).and_then(|i| fields[i].clone());
                match table.as_str() {
                    "setting" if get("key").as_deref() == Some("clinic.id") => {
                        clinic_id = get("value");
                    }
                    "schema_version" => {
                        let v = get("version")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(i32::MAX);
                        schema_version = Some(schema_version.unwrap_or(0).max(v));
                    }
                    "audit_event" => {
                        let text = |name| get(name).unwrap_or_default();
                        let id = text("id").parse().unwrap_or(i64::MIN);
                        let fields = [
                            "id",
                            "at",
                            "actor",
                            "action",
                            "entity",
                            "entity_id",
                            "detail",
                            "state",
                        ]
                        .map(text);
                        if events.insert(id, fields).is_some() {
                            return Err(Error::invalid(format!(
                                "the backup holds audit row {id} twice; it is not restored"
                            )));
                        }
                    }
                    "audit_seal" => seals.push((
                        get("seq").and_then(|v| v.parse().ok()).unwrap_or(i64::MIN),
                        get("event_id")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(i64::MIN),
                        get("mac").unwrap_or_default(),
                    )),
                    _ => {}
                }
            }
        }
        archive.finish()?;
        tables.push(MovedTable {
            table: want.to_string(),
            rows,
        });
    }
    let schema_version = schema_version.ok_or_else(|| {
        Error::invalid("this is not a Frontdesk clinic server's backup (it has no schema version)")
    })?;
    if schema_version > newest {
        return Err(Error::invalid(format!(
            "this backup has schema version {schema_version}, newer than this Frontdesk knows \
             ({newest}); restore it with a newer Frontdesk"
        )));
    }
    let clinic_id = clinic_id
        .filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            Error::invalid("this is not a Frontdesk clinic server's backup (it has no clinic id)")
        })?;
    seals.sort_by_key(|s| s.0);
    let seals_verified = match keys.load(&clinic_id)? {
        None => None,
        Some(key) => {
            let mut previous = String::new();
            for (seq, event, stored) in &seals {
                let intact = events
                    .get(event)
                    .is_some_and(|fields| mac(&key, &previous, fields) == *stored);
                if !intact {
                    return Err(Error::invalid(format!(
                        "the audit log in this backup does not verify at seal {seq}: a sealed \
                         row was changed or removed after it was sealed; it is not restored"
                    )));
                }
                previous.clone_from(stored);
            }
            Some(seals.len() as u64)
        }
    };
    let sealed: std::collections::HashSet<i64> = seals.iter().map(|s| s.1).collect();
    let unsealed = events.keys().filter(|id| !sealed.contains(id)).count() as u64;
    Ok(ServerBackupCheck {
        path: path.display().to_string(),
        clinic_id,
        schema_version,
        tables,
        seals_verified,
        unsealed,
    })
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct ServerRestore {
    /// The backup, as checked.
    pub restored: ServerBackupCheck,
    /// The clinic database, now holding the backup.
    pub database: String,
    /// The database it replaced, kept under this name (closed to connections).
    pub safety_copy: Option<String>,
    /// What went wrong after the clinic was restored (it stays restored).
    pub warnings: Vec<String>,
    /// How long it took (milliseconds).
    pub millis: u64,
}

/// What `frontdesk restore` on a server is asked.
pub struct RestoreRequest<'a> {
    /// An administrator's URL (a role that may create and rename databases) on
    /// the server's own database, not the clinic's.
    pub admin_url: &'a str,
    /// The desks' URL: its database is the one restored, its user the role
    /// granted the desks' rights on it.
    pub desk_url: &'a str,
    /// The backup.
    pub archive: &'a Path,
    /// Whoever restores, for the audit log.
    pub actor: &'a str,
    /// Now (Unix seconds).
    pub now: i64,
    /// Restore a backup of another clinic over this one.
    pub confirmed: bool,
}

/// Restores a server backup (see the module docs for the steps). Nothing of
/// the clinic's database changes until the backup has been checked and loaded
/// in full into a database of its own.
pub fn restore(r: &RestoreRequest<'_>, keys: &KeyFolder) -> Result<ServerRestore> {
    let started = Instant::now();
    let desk: postgres::Config = super::take_param(r.desk_url, "sslrootcert")
        .0
        .parse()
        .map_err(|e| Error::invalid(format!("this is not a usable server URL: {e}")))?;
    let (Some(database), Some(role)) = (desk.get_dbname(), desk.get_user()) else {
        return Err(Error::invalid(
            "name the clinic's database and the desks' role in the URL (postgres://ROLE@HOST/DATABASE)",
        ));
    };
    super::setup::identifier("the database name", database)?;
    super::setup::identifier("the desks' role name", role)?;
    if database.len() > 32 {
        return Err(Error::invalid(
            "a clinic database restored on the server has a name of at most 32 characters",
        ));
    }
    // the archive as it is now, in a private copy: what is checked is what loads
    let copy = tempfile::Builder::new()
        .prefix("frontdesk-restore-")
        .tempdir()
        .map_err(|e| Error::invalid(format!("cannot make a temporary folder: {e}")))?;
    let archive = copy.path().join("backup.pgdump");
    std::fs::copy(r.archive, &archive).map_err(|e| {
        Error::invalid(format!(
            "cannot read the backup {}: {e}",
            r.archive.display()
        ))
    })?;
    let admin = PgClinic::connect(r.admin_url, 1)?;
    let mut s = admin.session()?;
    let here: String = s
        .query_one("SELECT current_database()::text", &[])
        .map_err(to_error)?
        .get(0);
    if here == database {
        return Err(Error::invalid(format!(
            "the administrator's URL names the clinic database {database}; name the server's \
             own (…/postgres): the clinic's is renamed during the restore"
        )));
    }
    // restores take turns (held until this session ends)
    s.execute("SELECT pg_advisory_lock(7436, 4)", &[])
        .map_err(to_error)?;
    let role_exists: bool = s
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)",
            &[&role],
        )
        .map_err(to_error)?
        .get(0);
    if !role_exists {
        return Err(Error::invalid(format!(
            "the server has no role {role}: run `frontdesk server setup` on the server PC first"
        )));
    }
    let target_exists: bool = s
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
            &[&database],
        )
        .map_err(to_error)?
        .get(0);
    let building = format!("{database}_restoring");
    for sql in [
        format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"),
        format!("CREATE DATABASE {building} ENCODING 'UTF8' TEMPLATE template0"),
    ] {
        s.batch_execute(&sql).map_err(to_error)?;
    }
    let built = (|| {
        let new = PgClinic::connect(&super::setup::url_for_admin(r.admin_url, &building)?, 1)?;
        new.migrate()?;
        let check = verify(&new, &archive, keys)?;
        let mut doubts = Vec::new();
        if check.seals_verified.is_none() {
            doubts.push(format!(
                "this PC has not the audit key of the clinic in this backup ({}), so its audit \
                 log cannot be verified, and the restore cannot be sealed",
                keys.key_path(&check.clinic_id).display()
            ));
        } else if check.unsealed > 0 {
            doubts.push(format!(
                "{} audit rows in this backup were not sealed when it was taken, so nothing \
                 shows whether they were changed since",
                check.unsealed
            ));
        }
        if target_exists {
            let current =
                PgClinic::connect(&super::setup::url_for_admin(r.admin_url, database)?, 1)?
                    .session()?
                    .query_opt("SELECT value FROM setting WHERE key = 'clinic.id'", &[])
                    .ok()
                    .flatten()
                    .map(|row| row.get::<_, String>(0));
            if current.as_ref().is_some_and(|c| *c != check.clinic_id) {
                doubts.push(format!(
                    "this is a backup of another clinic than the one in {database}"
                ));
            }
        }
        if !doubts.is_empty() && !r.confirmed {
            return Err(Error::invalid(format!(
                "{}; restoring it needs your confirmation (--yes). Nothing was changed",
                doubts.join("; ")
            )));
        }
        new.load(r, &archive, &check, started)?;
        new.session()?
            .batch_execute(&super::setup::grants(&building, role))
            .map_err(to_error)?;
        Ok(check)
    })();
    let check = match built {
        Ok(check) => check,
        Err(e) => {
            let _ = s.batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"));
            return Err(e);
        }
    };
    let safety_copy = target_exists.then(|| {
        let at = chrono::DateTime::from_timestamp(r.now, 0).unwrap_or_default();
        format!("{database}_before_restore_{}", at.format("%Y%m%d_%H%M%S"))
    });
    swap(&mut s, database, &building, safety_copy.as_deref())?;
    // from here the clinic is restored: what fails now is said, not an error
    let mut warnings = Vec::new();
    if let Err(e) = seal_restored(r.admin_url, database, &check.clinic_id, keys) {
        warnings.push(format!(
            "the restored audit log could not be sealed from this PC ({e}); on each desk PC \
             that has the clinic's audit key, run `frontdesk accept-restore` there: its \
             sealer then seals the restored log"
        ));
    }
    Ok(ServerRestore {
        restored: check,
        database: database.to_string(),
        safety_copy,
        warnings,
        millis: started.elapsed().as_millis() as u64,
    })
}

/// Puts the built database in the clinic's place: the clinic's database (if
/// any) closed to connections and renamed to `safety`, the built one renamed
/// to the clinic's name. A step that fails undoes the ones before it, so the
/// clinic's database is left as it was (and the built one dropped).
fn swap(
    s: &mut super::Session,
    database: &str,
    building: &str,
    safety: Option<&str>,
) -> Result<()> {
    let undo = |s: &mut super::Session, renamed: bool| {
        if renamed {
            let _ = s.batch_execute(&format!(
                "ALTER DATABASE {} RENAME TO {database}",
                safety.unwrap_or_default()
            ));
        }
        let _ = s.batch_execute(&format!(
            "ALTER DATABASE {database} WITH ALLOW_CONNECTIONS true"
        ));
        let _ = s.batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"));
    };
    if let Some(safety) = safety {
        let closed = s
            .batch_execute(&format!(
                "ALTER DATABASE {database} WITH ALLOW_CONNECTIONS false"
            ))
            .map_err(to_error)
            .and_then(|()| rename_when_closed(s, database, safety));
        if let Err(e) = closed {
            undo(s, false);
            return Err(e);
        }
    }
    if let Err(e) = rename_when_closed(s, building, database) {
        undo(s, safety.is_some());
        return Err(e);
    }
    Ok(())
}

/// After a restore: this PC's anchor moved to the restored log's newest seal
/// (none: no anchor), and what the log holds unsealed — the restore's own row
/// among it — sealed after it. The other PCs' sealers hold off until an
/// administrator accepts the restore there (`frontdesk accept-restore`).
fn seal_restored(admin_url: &str, database: &str, clinic: &str, keys: &KeyFolder) -> Result<()> {
    let restored = PgClinic::connect(&super::setup::url_for_admin(admin_url, database)?, 1)?;
    restored.anchor_at_newest_seal(&keys.server_anchor(clinic)?)?;
    restored.seal_now(keys).map(|_| ())
}

/// Renames database `from` to `to` once no session is on it: the sessions
/// there are ended, and a desk that reconnects meanwhile is ended again (for
/// at most 10 s).
fn rename_when_closed(s: &mut super::Session, from: &str, to: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        s.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&from],
        )
        .map_err(to_error)?;
        match s.batch_execute(&format!("ALTER DATABASE {from} RENAME TO {to}")) {
            Ok(()) => return Ok(()),
            Err(e)
                if e.code() == Some(&postgres::error::SqlState::OBJECT_IN_USE)
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(to_error(e)),
        }
    }
}

impl PgClinic {
    /// Loads the checked archive into this new clinic database (made by the
    /// migrations, as its owner), in one transaction: each table's rows with a
    /// COPY of Frontdesk's own, the audit log's numbers kept as they were (its
    /// numbering triggers are off while it loads), the sequences moved past the
    /// loaded rows, the restore's own audit row, and every table's count
    /// compared with the check's before the commit.
    fn load(
        &self,
        r: &RestoreRequest<'_>,
        file: &Path,
        check: &ServerBackupCheck,
        started: Instant,
    ) -> Result<()> {
        let mut s = self.session()?;
        let mut tx = s.transaction().map_err(to_error)?;
        // a big clinic loads for longer than a desk's statement may run
        tx.batch_execute(
            "SET LOCAL statement_timeout = 0;
             SET LOCAL idle_in_transaction_session_timeout = 0;
             DELETE FROM setting;
             ALTER TABLE audit_event DISABLE TRIGGER audit_event_number;
             ALTER TABLE audit_seal DISABLE TRIGGER audit_seal_number;",
        )
        .map_err(to_error)?;
        // one table at a time, parents first (the archive has them by name,
        // and a row's parent must be there before it)
        for table in TABLES.iter().chain(&["audit_seal"]) {
            if check.rows(table) == 0 {
                continue;
            }
            let mut archive = Archive::open(file, Some(table))?;
            while let Some((found, cols)) = archive.next_table()? {
                if found != *table {
                    return Err(Error::invalid(format!(
                        "the backup answered for {table} with {found}'s data; it is not restored"
                    )));
                }
                let cols: Vec<String> = cols.iter().map(|c| format!("\"{c}\"")).collect();
                let mut writer = tx
                    .copy_in(&format!("COPY {table} ({}) FROM STDIN", cols.join(", ")))
                    .map_err(to_error)?;
                let mut buf = Vec::with_capacity(1 << 16);
                while let Some(row) = archive.next_row()? {
                    buf.extend_from_slice(row);
                    buf.push(b'\n');
                    if buf.len() >= 1 << 20 {
                        writer
                            .write_all(&buf)
                            .map_err(|e| Error::Internal(format!("restoring {table}: {e}")))?;
                        buf.clear();
                    }
                }
                writer
                    .write_all(&buf)
                    .map_err(|e| Error::Internal(format!("restoring {table}: {e}")))?;
                writer.finish().map_err(|e| {
                    Error::invalid(format!(
                        "the backup's {table} rows break the clinic's rules ({}); it is not \
                         restored",
                        to_error(e)
                    ))
                })?;
            }
            archive.finish()?;
        }
        let mut sql = String::from(
            "ALTER TABLE audit_event ENABLE TRIGGER audit_event_number;
             ALTER TABLE audit_seal ENABLE TRIGGER audit_seal_number;
             SELECT setval('audit_event_id', coalesce((SELECT max(id) FROM audit_event), 0) + 1, false);
             SELECT setval('audit_seal_seq', coalesce((SELECT max(seq) FROM audit_seal), 0) + 1, false);",
        );
        let serial = tx
            .query(
                "SELECT table_name::text, pg_get_serial_sequence(table_name, 'id')
                 FROM information_schema.columns
                 WHERE table_schema = 'public' AND column_name = 'id'",
                &[],
            )
            .map_err(to_error)?;
        for row in serial {
            let (table, sequence): (String, Option<String>) = (row.get(0), row.get(1));
            if let Some(sequence) = sequence.filter(|_| TABLES.contains(&table.as_str())) {
                sql += &format!(
                    "SELECT setval('{sequence}', coalesce((SELECT max(id) FROM {table}), 0) + 1, false);"
                );
            }
        }
        tx.batch_execute(&sql).map_err(to_error)?;
        tx.execute(
            "INSERT INTO audit_event (at, actor, action, entity, detail)
             VALUES ($1, $2, 'backup.restore', 'backup', $3)",
            // when it takes place: the other PCs' acceptance compares it with their
            // last seal, made up to the swap, and checking and loading take time
            &[
                &(r.now + started.elapsed().as_secs() as i64),
                &r.actor,
                &r.archive.display().to_string(),
            ],
        )
        .map_err(to_error)?;
        for t in check.tables.iter().filter(|t| t.table != "schema_version") {
            let mut n: i64 = tx
                .query_one(&format!("SELECT count(*) FROM {}", t.table), &[])
                .map_err(to_error)?
                .get(0);
            if t.table == "audit_event" {
                n -= 1;
            }
            if n as u64 != t.rows {
                return Err(Error::Internal(format!(
                    "{}: {} rows in the backup but {n} restored; nothing was changed",
                    t.table, t.rows
                )));
            }
        }
        tx.commit().map_err(to_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_copy_of_plain_names_into_public_is_read() {
        assert_eq!(
            parse_copy("COPY public.appointment (id, slot_id, \"at\") FROM stdin;"),
            Some((
                "appointment".into(),
                vec!["id".into(), "slot_id".into(), "at".into()]
            ))
        );
        for hostile in [
            "COPY public.x (a) TO PROGRAM 'rm -rf /';",
            "COPY pg_catalog.pg_authid (rolname) FROM stdin;",
            "COPY public.x (a); DROP TABLE y; (b) FROM stdin;",
            "COPY public.\"X\" (a) FROM stdin;",
            "COPY public.x (\"a b\") FROM stdin;",
        ] {
            assert_eq!(parse_copy(hostile), None, "{hostile}");
        }
    }

    #[test]
    fn copy_text_fields_are_unescaped_as_postgresql_writes_them() {
        assert_eq!(copy_field(b"\\N"), None);
        assert_eq!(
            copy_field(b"a\\tb\\nc\\\\d\\r").as_deref(),
            Some("a\tb\nc\\d\r")
        );
        assert_eq!(copy_field(b"\\101\\x42").as_deref(), Some("AB"));
        assert_eq!(copy_field(b"caf\xc3\xa9").as_deref(), Some("café"));
    }
}
