//! Encrypted at rest (issue 12): the database, its log and its backups are
//! unreadable without the clinic's key; a new computer opens them with the
//! recovery key; a plain database is encrypted keeping every row and the audit
//! chain; a key change leaves old backups readable.
//!
//! A "new computer" is a `frontdesk` process with its own, empty key folder
//! (`FRONTDESK_KEYS_DIR`): this test process keeps every key it has seen in memory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use frontdesk::storage::backup::Conversion;
use frontdesk::storage::cipher::{file_kind, FileKind};
use frontdesk::{Frontdesk, OpenOptions};

use crate::fixture::{self, Clinic, NOW};

const PLAIN_HEADER: &[u8] = b"SQLite format 3\0";

fn starts_plain(path: &Path) -> bool {
    std::fs::read(path)
        .map(|b| b.starts_with(PLAIN_HEADER))
        .unwrap_or(false)
}

/// What a thief with the file and SQLite (but not the key) gets.
fn unreadable_without_the_key(path: &Path) {
    assert!(
        !starts_plain(path),
        "{} starts as a plain SQLite file",
        path.display()
    );
    let err = rusqlite::Connection::open(path)
        .and_then(|c| c.query_row("SELECT count(*) FROM patient", [], |r| r.get::<_, i64>(0)))
        .expect_err("no table can be read without the key");
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase),
        "{err}"
    );
    if let Ok(out) = Command::new("sqlite3")
        .arg(path)
        .arg("SELECT count(*) FROM patient;")
        .output()
    {
        assert!(
            !out.status.success(),
            "the sqlite3 tool read {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// `frontdesk --db <db> <args>` on a computer whose key folder is `keys`, with
/// `stdin` typed in.
fn on_computer(keys: &Path, db: &Path, args: &[&str], stdin: &str) -> Output {
    let mut cmd = fixture::cli_anonymous(db);
    cmd.env("FRONTDESK_KEYS_DIR", keys)
        .env_remove("FRONTDESK_RECOVERY_KEY")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run frontdesk");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn key_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "db-key"))
                .collect()
        })
        .unwrap_or_default()
}

/// A clinic with a booking in it, its recovery key, and a backup.
fn clinic_with_a_booking() -> (Clinic, String, PathBuf) {
    let c = Clinic::new();
    let doctor = c.doctor("Dr Key");
    let slot = c.slots(doctor, 1)[0];
    let patient = c.patient("Kim Cipher", "+4915123456789");
    c.desk
        .book(
            &c.admin(),
            &frontdesk::BookRequest {
                slot_id: slot,
                patient_id: patient,
                reason: String::new(),
            },
        )
        .unwrap();
    let recovery = c.desk.recovery_key(&c.admin()).unwrap().recovery_key;
    let backup = PathBuf::from(c.desk.backup_now(&c.admin(), None).unwrap().file.path);
    (c, recovery, backup)
}

#[test]
fn a_new_clinic_its_log_and_its_backups_are_unreadable_without_the_key() {
    let (c, recovery, backup) = clinic_with_a_booking();
    assert!(
        c.desk.encryption().unwrap().encrypted,
        "encrypted by default"
    );
    let wal = frontdesk::storage::db::sibling(&c.path(), "-wal");
    assert!(
        std::fs::metadata(&wal).unwrap().len() > 0,
        "the log holds the booking"
    );
    assert!(!starts_plain(&wal), "the log is not a plain SQLite file");
    let wal_bytes = std::fs::read(&wal).unwrap();
    assert!(
        !wal_bytes.windows(10).any(|w| w == b"Kim Cipher"),
        "the patient's name is not in the log in clear"
    );
    unreadable_without_the_key(&c.path());
    unreadable_without_the_key(&backup);
    assert_eq!(
        file_kind(&backup).unwrap(),
        file_kind(&c.path()).unwrap(),
        "the backup names the database's key"
    );
    assert_eq!(recovery.len(), 64, "13 groups of four: {recovery}");
    c.assert_check();
}

#[test]
fn showing_the_recovery_key_is_for_admins_and_audited() {
    let c = Clinic::new();
    let refused = c.desk.recovery_key(&c.receptionist()).unwrap_err();
    assert_eq!(refused.code(), frontdesk::ErrorCode::Forbidden);
    let before = c.count("SELECT count(*) FROM audit_event WHERE action = 'key.show_recovery'");
    c.desk.recovery_key(&c.admin()).unwrap();
    assert_eq!(
        c.count("SELECT count(*) FROM audit_event WHERE action = 'key.show_recovery'"),
        before + 1
    );
}

#[test]
fn a_new_computer_needs_the_recovery_key_refuses_a_wrong_one_and_keeps_the_right_one() {
    let (c, recovery, _) = clinic_with_a_booking();
    let db = c.path();
    let keys = tempfile::tempdir().unwrap();
    let new_pc = keys.path().join("keys");

    let out = on_computer(&new_pc, &db, &["check"], "");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("recovery key"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"));

    let mut wrong = recovery.clone().into_bytes();
    wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
    let out = on_computer(
        &new_pc,
        &db,
        &["unlock"],
        std::str::from_utf8(&wrong).unwrap(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not open"),
        "a wrong key is told in words: {}",
        stderr(&out)
    );
    assert!(key_files(&new_pc).is_empty(), "a wrong key is not kept");

    let out = on_computer(
        &new_pc,
        &db,
        &["unlock"],
        &format!("{}\n", recovery.to_lowercase()),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let kept = key_files(&new_pc);
    assert_eq!(kept.len(), 1, "the key is kept on the new computer");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kept[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is the user's alone");
    }
    let out = on_computer(&new_pc, &db, &["check"], "");
    assert!(
        out.status.success(),
        "the database opens and checks out (its audit key came with it): {}",
        stderr(&out)
    );
}

#[test]
fn a_key_this_computer_has_that_does_not_open_the_file_is_refused_in_words() {
    let (c, _, backup) = clinic_with_a_booking();
    let keys = tempfile::tempdir().unwrap();
    let salt = match file_kind(&backup).unwrap() {
        FileKind::Encrypted(salt) => salt,
        other => panic!("not encrypted: {other:?}"),
    };
    std::fs::write(
        keys.path().join(format!("{}.db-key", hex_of(&salt))),
        "11".repeat(32),
    )
    .unwrap();
    let out = on_computer(keys.path(), &backup, &["check"], "");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("does not open with the key"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    drop(c);
}

fn admin() -> frontdesk::Actor {
    frontdesk::Actor::staff(1, "Ada Admin", frontdesk::Role::Admin)
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_backup_restores_on_a_new_computer_with_the_recovery_key_alone() {
    let (c, recovery, backup) = clinic_with_a_booking();
    let elsewhere = tempfile::tempdir().unwrap();
    let new_pc = elsewhere.path().join("keys");
    let db = elsewhere.path().join("data").join("clinic.sqlite3");

    let out = on_computer(&new_pc, &db, &["restore", backup.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    let out = on_computer(
        &new_pc,
        &db,
        &["unlock", "--file", backup.to_str().unwrap()],
        &recovery,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = on_computer(
        &new_pc,
        &db,
        &["restore", "--yes", backup.to_str().unwrap()],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = on_computer(&new_pc, &db, &["check"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        file_kind(&db).unwrap(),
        file_kind(&backup).unwrap(),
        "restored under the clinic's key"
    );
    drop(c);
}

/// Row counts of every table.
fn counts(desk: &Frontdesk) -> Vec<(String, i64)> {
    desk.read(|c| {
        let tables: Vec<String> = c
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(tables
            .into_iter()
            .map(|t| {
                let n = c
                    .query_row(&format!("SELECT count(*) FROM \"{t}\""), [], |r| r.get(0))
                    .unwrap();
                (t, n)
            })
            .collect())
    })
    .unwrap()
}

#[test]
fn encrypting_a_plain_demo_clinic_keeps_every_row_and_the_audit_chain() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.sqlite3");
    let plain = Frontdesk::open(
        &db,
        OpenOptions {
            encrypt_new: false,
            ..OpenOptions::default()
        },
    )
    .unwrap();
    let admin = frontdesk::Actor::local_admin();
    plain.create_demo_clinic(&admin).unwrap();
    plain.backup_now(&admin, None).unwrap();
    assert!(starts_plain(&db), "made plain");
    assert!(!plain.encryption().unwrap().encrypted);
    let before = counts(&plain);
    assert!(
        before.iter().any(|(t, n)| t == "appointment" && *n > 0),
        "the demo has appointments"
    );
    let refused = plain
        .recovery_key(&admin)
        .expect_err("a plain database has no recovery key");
    assert!(refused.to_string().contains("not encrypted"), "{refused}");

    let report = plain.convert_database(&admin, Conversion::Encrypt).unwrap();
    assert!(report.previous_key_id.is_none());
    assert!(
        report.safety_copy.is_none(),
        "the plain safety copy is deleted"
    );
    assert_eq!(report.plain_backups.len(), 1, "the plain backup is named");
    unreadable_without_the_key(&db);
    assert_eq!(file_kind(&db).unwrap().key_id().unwrap(), report.key_id);

    let desk = Frontdesk::open_default(&db).unwrap();
    let after = counts(&desk);
    // (the contention figures grow with every run that writes: not clinic data)
    for (table, n) in before.iter().filter(|(t, _)| !t.starts_with("contention")) {
        let found = after.iter().find(|(t, _)| t == table).map(|(_, n)| *n);
        // the rewrite adds its own audit row and the audit key's copy, and records
        // no safety copy (the plain one is deleted)
        let grown = match table.as_str() {
            "audit_event" => 1,
            "setting" => 1,
            _ => 0,
        };
        assert_eq!(found, Some(n + grown), "rows of {table}");
    }
    let check = desk.check().unwrap();
    assert!(
        check.ok,
        "{:#?}",
        check.items.iter().filter(|i| !i.ok).collect::<Vec<_>>()
    );
    let last: String = desk
        .read(|c| {
            Ok(c.query_row(
                "SELECT action FROM audit_event ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(last, "database.encrypt");
    assert_eq!(
        desk.recovery_key(&admin).unwrap().recovery_key,
        report.recovery_key
    );
    // restoring the old plain backup does not make the clinic plain again: the
    // copy is encrypted under the clinic's key before it is swapped in
    let db_path = desk.path().to_path_buf();
    let restored = desk
        .restore_backup(&admin, Path::new(&report.plain_backups[0]), true)
        .unwrap();
    assert!(restored.safety_copy.is_some());
    unreadable_without_the_key(&db_path);
    assert_eq!(
        file_kind(&db_path).unwrap().key_id().unwrap(),
        report.key_id,
        "under the clinic's key"
    );
    let desk = Frontdesk::open_default(&db_path).unwrap();
    let check = desk.check().unwrap();
    assert!(
        check.ok,
        "{:#?}",
        check.items.iter().filter(|i| !i.ok).collect::<Vec<_>>()
    );
    let again = desk
        .convert_database(&admin, Conversion::Encrypt)
        .expect_err("already encrypted");
    assert!(again.to_string().contains("already encrypted"), "{again}");
}

/// The copy of the audit key inside an encrypted database is this computer's key,
/// whatever was planted there, and no settings list shows it.
#[test]
fn the_audit_key_copy_is_this_computers_key_and_never_listed() {
    let c = Clinic::new();
    let copy = |desk: &Frontdesk| -> String {
        desk.read(|conn| {
            Ok(conn.query_row(
                "SELECT value FROM setting WHERE key = 'clinic.audit_key_copy'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap()
    };
    let clinic_id: String = c
        .desk
        .read(|conn| {
            Ok(conn.query_row(
                "SELECT value FROM setting WHERE key = 'clinic.id'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    let key_file = frontdesk::storage::audit_key::KeyFolder::default_dir()
        .join(format!("{clinic_id}.audit-key"));
    let ours = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(copy(&c.desk), ours.trim());
    let listed = c.desk.list_settings(&c.admin()).unwrap();
    assert!(
        listed
            .iter()
            .all(|s| !s.key.contains("audit_key") && !s.value.contains(ours.trim())),
        "the audit key is in no settings list"
    );
    frontdesk::storage::db::open_keyed(c.path())
        .unwrap()
        .execute(
            "UPDATE setting SET value = ?1 WHERE key = 'clinic.audit_key_copy'",
            ["22".repeat(32)],
        )
        .unwrap();
    let reopened = c.reopen();
    assert_eq!(copy(&reopened), ours.trim(), "a planted copy is replaced");
}

#[test]
fn a_new_key_leaves_backups_taken_before_readable_with_the_old_key() {
    let (c, old_recovery, old_backup) = clinic_with_a_booking();
    let old_id = c.desk.encryption().unwrap().key_id.unwrap();
    let db = c.path();
    let Clinic { desk, dir, .. } = c;
    let report = desk
        .convert_database(&admin(), Conversion::ChangeKey)
        .unwrap();
    assert_eq!(report.previous_key_id.as_deref(), Some(old_id.as_str()));
    assert_ne!(report.key_id, old_id);
    assert_ne!(report.recovery_key, old_recovery);
    assert!(
        report.safety_copy.is_some(),
        "the old database is kept (still encrypted)"
    );
    unreadable_without_the_key(Path::new(report.safety_copy.as_ref().unwrap()));

    let desk = Frontdesk::open_default(&db).unwrap();
    assert_eq!(
        desk.encryption().unwrap().key_id,
        Some(report.key_id.clone())
    );
    let check = desk.check().unwrap();
    assert!(
        check.ok,
        "{:#?}",
        check.items.iter().filter(|i| !i.ok).collect::<Vec<_>>()
    );
    let admin = admin();
    let old = desk.check_backup(&admin, &old_backup).unwrap();
    assert_eq!(old.appointments, 1, "the old backup still opens here");
    let new_backup = desk.backup_now(&admin, None).unwrap().file.path;
    assert_eq!(
        file_kind(Path::new(&new_backup)).unwrap().key_id(),
        Some(report.key_id.clone())
    );
    drop(desk);

    // elsewhere, the old backup needs the old recovery key, the new one the new
    let elsewhere = tempfile::tempdir().unwrap();
    let new_pc = elsewhere.path().join("keys");
    let out = on_computer(
        &new_pc,
        &db,
        &["unlock", "--file", old_backup.to_str().unwrap()],
        &report.recovery_key,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = on_computer(
        &new_pc,
        &db,
        &["unlock", "--file", old_backup.to_str().unwrap()],
        &old_recovery,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let _ = NOW;
    drop(dir);
}

/// On a desktop the key goes to the operating system's keyring, not into a file:
/// a private D-Bus session with a Secret Service (gnome-keyring, as a Linux
/// desktop runs it) and a home folder of its own, no `FRONTDESK_KEYS_DIR`.
#[test]
fn with_an_os_keyring_the_key_is_kept_there_and_not_in_a_file() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("data").join("clinic.sqlite3");
    let config = home.path().join("config");
    let in_session = |script: &str| {
        Command::new("dbus-run-session")
            .args(["--", "sh", "-c"])
            .arg(format!(
                "printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; {script}"
            ))
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", &config)
            .env_remove("FRONTDESK_KEYS_DIR")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env("FD", fixture::frontdesk_bin())
            .env("DB", &db)
            .output()
            .expect("dbus-run-session and gnome-keyring-daemon are installed (scripts/setup.sh)")
    };
    let out = in_session(r#""$FD" --db "$DB" init --name Keyring && "$FD" --db "$DB" check"#);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(matches!(file_kind(&db).unwrap(), FileKind::Encrypted(_)));
    let folder = config.join("org.frontdesk.desk").join("keys");
    let audit_keys = std::fs::read_dir(&folder)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "audit-key"))
        .count();
    assert_eq!(
        audit_keys, 1,
        "the key folder is this one (its audit key is here)"
    );
    assert!(
        key_files(&folder).is_empty(),
        "the database key is in the keyring, not in a file: {:?}",
        key_files(&folder)
    );
    // the same computer without its keyring session cannot open it
    let out = Command::new(fixture::frontdesk_bin())
        .arg("--db")
        .arg(&db)
        .arg("check")
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", &config)
        .env_remove("FRONTDESK_KEYS_DIR")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
}
