use std::collections::BTreeSet;
use std::process::Command;

use frontdesk::{Error, Frontdesk, OpenOptions};

use crate::fixture::{frontdesk_bin, Clinic};

/// Every connection is in WAL mode with foreign keys on; readers sync fully, and
/// the one writer writes its frames unsynced (`synchronous=NORMAL`) because the
/// group sync makes them durable before any caller is told (see `src/tx`).
#[test]
fn connections_use_wal_and_foreign_keys_readers_full_sync_and_the_writer_the_group_sync() {
    let c = Clinic::new();
    let pragmas = |conn: &rusqlite::Connection| -> rusqlite::Result<(String, i64, i64)> {
        Ok((
            conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?,
            conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?,
            conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?,
        ))
    };
    let reader = c.desk.read(|conn| Ok(pragmas(conn)?)).unwrap();
    assert_eq!(
        (reader.0.as_str(), reader.1, reader.2),
        ("wal", 2, 1),
        "a reader: WAL, synchronous=FULL (2), foreign keys on"
    );
    let writer = c.desk.write("raw", |tx| Ok(pragmas(tx)?)).unwrap();
    assert_eq!(
        (writer.0.as_str(), writer.1, writer.2),
        ("wal", 1, 1),
        "the writer: WAL, synchronous=NORMAL (1), foreign keys on"
    );
}

#[test]
fn a_database_from_a_newer_frontdesk_is_refused_and_left_untouched() {
    let c = Clinic::new();
    let path = c.path();
    let newer = frontdesk::storage::db::latest_schema_version() as i64 + 5;
    c.desk
        .write("raw", |tx| {
            Ok(tx.execute_batch(&format!("PRAGMA user_version = {newer}"))?)
        })
        .unwrap();
    drop(c.desk);
    let err = Frontdesk::open_default(&path).err().expect("must refuse");
    assert!(matches!(err, Error::Unusable(_)), "{err:?}");
    assert!(
        err.to_string().contains("newer Frontdesk"),
        "the message says why: {err}"
    );
    let conn = frontdesk::storage::db::open_keyed(&path).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, newer, "the file was not changed");
}

/// The schema cookie (bumped by every schema change) and the schema version.
fn schema_marks(path: &std::path::Path) -> (i64, i64) {
    let conn = frontdesk::storage::db::open_keyed(path).unwrap();
    (
        conn.query_row("PRAGMA schema_version", [], |r| r.get(0))
            .unwrap(),
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap(),
    )
}

/// What a desk process stopped in the middle of a write holds: the lock file and
/// SQLite's write lock. A migration needs both; opening a current file neither.
struct WriteLocksHeld {
    _lock: std::fs::File,
    conn: rusqlite::Connection,
}

impl WriteLocksHeld {
    fn take(db: &std::path::Path) -> WriteLocksHeld {
        let lock = lock_file(db);
        lock.lock().unwrap();
        let conn = frontdesk::storage::db::open_keyed(db).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        WriteLocksHeld { _lock: lock, conn }
    }
}

impl Drop for WriteLocksHeld {
    fn drop(&mut self) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }
}

/// `<db>.lock`, the write path's cross-process lock file, opened (created).
fn lock_file(db: &std::path::Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(frontdesk::storage::db::sibling(db, ".lock"))
        .unwrap()
}

/// Opens `path` with a short write deadline: a migration attempt fails with `Busy`
/// while [`WriteLocksHeld`] is held, instead of waiting the default 10 s.
fn open_impatiently(path: &std::path::Path) -> frontdesk::Result<Frontdesk> {
    Frontdesk::open(
        path,
        OpenOptions {
            lock_deadline: std::time::Duration::from_secs(1),
            ..OpenOptions::default()
        },
    )
}

#[test]
fn reopening_keeps_data_and_does_not_rerun_migrations() {
    let c = Clinic::new();
    let d = c.doctor("Dr. Keep");
    let path = c.path();
    let before = schema_marks(&path);
    // with both write locks held elsewhere, a reopen that tried to migrate would
    // fail with Busy; it must not even try
    let held = WriteLocksHeld::take(&path);
    let again = open_impatiently(&path).expect("a current schema opens without migrating");
    drop(held);
    assert_eq!(
        schema_marks(&path),
        before,
        "no schema change and the same schema version after reopening"
    );
    let names: Vec<String> = again
        .list_doctors(&c.admin(), true)
        .unwrap()
        .into_iter()
        .map(|x| x.name)
        .collect();
    assert_eq!(names, ["Dr. Keep"]);
    assert_eq!(again.list_doctors(&c.admin(), true).unwrap()[0].id, d);

    // the same reopen of a file one migration behind does try (so the way this
    // test looks would see a rerun): it needs the locks and gives up with Busy
    drop(again);
    drop(c.desk);
    let (_, version) = before;
    frontdesk::storage::db::open_keyed(&path)
        .unwrap()
        .execute_batch(&format!("PRAGMA user_version = {}", version - 1))
        .unwrap();
    let held = WriteLocksHeld::take(&path);
    let refused = open_impatiently(&path)
        .err()
        .expect("a migration waits for the locks");
    drop(held);
    assert!(matches!(refused, Error::Busy), "{refused:?}");
}

/// Blocked requests for an exclusive `flock` on `lock` (lines of `/proc/locks`
/// marked `->`), by process id.
fn flock_waiters(lock: &std::path::Path) -> Vec<u32> {
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(lock).unwrap().ino().to_string();
    std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .filter(|l| l.contains("->") && l.contains("FLOCK"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // "1: -> FLOCK ADVISORY WRITE <pid> <maj:min:inode> 0 EOF"
            let at = f.iter().position(|w| *w == "FLOCK")?;
            let pid = f.get(at + 3)?.parse().ok()?;
            let file = f.get(at + 4)?;
            (file.rsplit(':').next() == Some(inode.as_str())).then_some(pid)
        })
        .collect()
}

#[test]
fn many_processes_opening_a_new_file_at_once_migrate_it_exactly_once() {
    const PROCESSES: usize = 6;
    let dir = tempfile::tempdir().unwrap();
    let db = std::fs::canonicalize(dir.path())
        .unwrap()
        .join("fresh.sqlite3");
    // hold the lock file, so every process gets as far as the migration (it found
    // the file unmigrated) and waits there; then let them all go at once
    let lock = lock_file(&db);
    lock.lock().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            // `check` opens the file without a sign-in (nobody could sign in to
            // a new file)
            Command::new(frontdesk_bin())
                .args(["--db", db.to_str().unwrap(), "check"])
                .env("FRONTDESK_LOCK_TIMEOUT", "600")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let pids: BTreeSet<u32> = children.iter().map(|c| c.id()).collect();
    // a liveness bound only: the processes start in well under a second
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let waiting: BTreeSet<u32> = flock_waiters(&frontdesk::storage::db::sibling(&db, ".lock"))
            .into_iter()
            .filter(|p| pids.contains(p))
            .collect();
        if waiting == pids {
            break;
        }
        assert!(
            std::time::Instant::now() < give_up,
            "all {PROCESSES} processes should be waiting to migrate, only {waiting:?} of {pids:?} are"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    lock.unlock().unwrap();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "every process opens the new file: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        schema_marks(&db).1,
        frontdesk::storage::db::latest_schema_version() as i64,
        "migrated to the latest schema"
    );
    // running any migration a second time fails (its tables exist), so six
    // processes that all succeeded ran the migrations once between them
    let conn = frontdesk::storage::db::open_keyed(&db).unwrap();
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    for migration in std::fs::read_dir(migrations).unwrap() {
        let up = migration.unwrap().path().join("up.sql");
        let sql = std::fs::read_to_string(&up).unwrap();
        conn.execute_batch("BEGIN").unwrap();
        let again = conn.execute_batch(&sql);
        conn.execute_batch("ROLLBACK").unwrap();
        assert!(
            again.is_err(),
            "{} can run twice, so this test could not see a second run",
            up.display()
        );
    }
}

#[test]
fn the_frontdesk_db_variable_chooses_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested/env.sqlite3");
    // `init` sets up a new file without a sign-in
    let out = Command::new(frontdesk_bin())
        .env("FRONTDESK_DB", &db)
        .args(["init", "--name", "Praxis Env"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        db.exists(),
        "the database was created where FRONTDESK_DB points, folders included"
    );
}

fn schema_8_fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-v8")
}

/// A copy of the demo clinic that the Frontdesk of schema version 8 wrote (the
/// schema before this build's; cli/tests/fixtures/schema-v8), with its audit key
/// folder: (folder kept alive, database, key folder).
fn schema_8_clinic() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let fixture = schema_8_fixture();
    let dir = tempfile::tempdir().unwrap();
    for sub in ["db", "keys"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        std::fs::set_permissions(dir.path().join(sub), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        for entry in std::fs::read_dir(fixture.join(sub)).unwrap() {
            let entry = entry.unwrap();
            let to = dir.path().join(sub).join(entry.file_name());
            std::fs::copy(entry.path(), &to).unwrap();
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
    let db = dir.path().join("db/clinic.sqlite3");
    let keys = dir.path().join("keys");
    (dir, db, keys)
}

/// The clinic's own tables, each with its columns in `conn`.
fn clinic_tables(conn: &rusqlite::Connection) -> Vec<(String, Vec<String>)> {
    [
        "appointment",
        "appointment_status_history",
        "audit_event",
        "doctor",
        "patient",
        "setting",
        "slot",
        "staff",
    ]
    .iter()
    .map(|table| {
        let names: Vec<String> = conn
            .prepare(&format!(
                "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
            ))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        (table.to_string(), names)
    })
    .collect()
}

/// Every row of the clinic's own tables, as text, table by table, in the given
/// columns (an upgrade that adds columns is compared in the columns it had).
fn clinic_rows(
    conn: &rusqlite::Connection,
    tables: &[(String, Vec<String>)],
) -> Vec<(String, Vec<String>)> {
    tables
        .iter()
        .map(|(table, names)| {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {} FROM {table} ORDER BY rowid",
                    names.join(", ")
                ))
                .unwrap();
            let columns = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    (0..columns)
                        .map(|i| Ok(format!("{:?}", r.get::<_, rusqlite::types::Value>(i)?)))
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .map(|v| v.join("|"))
                })
                .unwrap()
                .collect::<rusqlite::Result<Vec<_>>>()
                .unwrap();
            (table.to_string(), rows)
        })
        .collect()
}

#[test]
fn a_database_of_the_previous_schema_is_upgraded_once_says_so_and_keeps_every_row() {
    let (_dir, db, keys) = schema_8_clinic();
    let old = rusqlite::Connection::open(&db).unwrap();
    let tables = clinic_tables(&old);
    let before = clinic_rows(&old, &tables);
    drop(old);
    let appointments = std::fs::read_to_string(schema_8_fixture().join("appointments")).unwrap();
    assert_eq!(
        before[0].1.len().to_string(),
        appointments.trim(),
        "the fixture's appointments, as its file says"
    );
    let options = || OpenOptions {
        keys_dir: Some(keys.clone()),
        ..OpenOptions::default()
    };
    let desk = Frontdesk::open(&db, options()).unwrap();
    assert_eq!(
        desk.schema_upgrade(),
        Some(frontdesk::storage::db::SchemaUpgrade {
            from: 8,
            to: frontdesk::storage::db::latest_schema_version()
        }),
        "opening says it upgraded, from which version to which"
    );
    let report = desk.check().unwrap();
    assert!(report.ok, "check after the upgrade: {:?}", report.items);
    let after = desk.read(|c| Ok(clinic_rows(c, &tables))).unwrap();
    assert_eq!(before, after, "every row of the clinic's tables is kept");
    assert!(
        desk.read(frontdesk::storage::db::schema_differences)
            .unwrap()
            .is_empty(),
        "the upgraded schema is exactly what the migrations make"
    );
    drop(desk);
    let again = Frontdesk::open(&db, options()).unwrap();
    assert_eq!(again.schema_upgrade(), None, "upgraded once, not again");
}

#[test]
fn the_command_line_says_when_it_upgraded_a_database() {
    let (_dir, db, keys) = schema_8_clinic();
    let run = || {
        Command::new(frontdesk_bin())
            .arg("--db")
            .arg(&db)
            .arg("check")
            .env("FRONTDESK_KEYS_DIR", &keys)
            .output()
            .unwrap()
    };
    let first = run();
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    assert!(
        stderr.contains("upgraded from schema version 8 to"),
        "the first run says it upgraded: {stderr}"
    );
    let second = run();
    assert!(
        !String::from_utf8_lossy(&second.stderr).contains("upgraded"),
        "the second run does not"
    );
}

/// Every past schema version, not only the last: a database as the migrations up
/// to version N left it (with a doctor saved at that version) opens in this
/// build, says it was upgraded from N, ends with exactly the schema a new
/// database gets, passes `check`, and keeps its row.
#[test]
fn a_database_of_every_past_schema_version_upgrades_to_exactly_the_new_schema() {
    let latest = frontdesk::storage::db::latest_schema_version();
    for version in 1..latest {
        let dir = tempfile::tempdir().unwrap();
        let keys = tempfile::tempdir().unwrap();
        let db = dir.path().join("clinic.sqlite3");
        let mut conn = rusqlite::Connection::open(&db).unwrap();
        frontdesk::storage::db::migrations()
            .to_version(&mut conn, version)
            .unwrap();
        conn.execute(
            "INSERT INTO doctor (name, specialty, created_at) VALUES ('Dr. Version', 'GP', 1)",
            [],
        )
        .unwrap();
        drop(conn);
        let desk = Frontdesk::open(
            &db,
            OpenOptions {
                keys_dir: Some(keys.path().to_path_buf()),
                ..OpenOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("a schema-{version} database must open: {e}"));
        assert_eq!(
            desk.schema_upgrade(),
            Some(frontdesk::storage::db::SchemaUpgrade {
                from: version,
                to: latest
            }),
            "opening a schema-{version} database says it upgraded it"
        );
        let differences = desk
            .read(frontdesk::storage::db::schema_differences)
            .unwrap();
        assert!(
            differences.is_empty(),
            "schema {version} upgraded differs from a new database: {differences:?}"
        );
        let report = desk.check().unwrap();
        assert!(
            report.ok,
            "check after upgrading schema {version}: {:?}",
            report.items
        );
        let doctors = desk
            .list_doctors(&frontdesk::Actor::local_admin(), true)
            .unwrap();
        assert_eq!(
            doctors.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
            ["Dr. Version"],
            "the row saved at schema {version} is kept"
        );
    }
}
