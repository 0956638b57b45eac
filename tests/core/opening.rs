use std::process::Command;

use frontdesk::{Error, Frontdesk};

use crate::fixture::{frontdesk_bin, Clinic};

#[test]
fn connections_use_wal_full_sync_and_foreign_keys() {
    let c = Clinic::new();
    let (mode, sync, fk): (String, i64, i64) = c
        .desk
        .read(|conn| {
            Ok((
                conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?,
                conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?,
                conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?,
            ))
        })
        .unwrap();
    assert_eq!(
        (mode.as_str(), sync, fk),
        ("wal", 2, 1),
        "WAL, synchronous=FULL (2), foreign keys on"
    );
}

#[test]
fn a_database_from_a_newer_frontdesk_is_refused_and_left_untouched() {
    let c = Clinic::new();
    let path = c.path();
    let newer = frontdesk::db::latest_schema_version() as i64 + 5;
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
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, newer, "the file was not changed");
}

#[test]
fn reopening_keeps_data_and_does_not_rerun_migrations() {
    let c = Clinic::new();
    let d = c.doctor("Dr. Keep");
    let again = c.reopen();
    let names: Vec<String> = again
        .list_doctors(&c.admin(), true)
        .unwrap()
        .into_iter()
        .map(|x| x.name)
        .collect();
    assert_eq!(names, ["Dr. Keep"]);
    assert_eq!(again.list_doctors(&c.admin(), true).unwrap()[0].id, d);
}

#[test]
fn many_processes_opening_a_new_file_at_once_migrate_it_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fresh.sqlite3");
    let children: Vec<_> = (0..6)
        .map(|_| {
            Command::new(frontdesk_bin())
                .args(["--db", db.to_str().unwrap(), "doctor", "list"])
                .output()
        })
        .collect();
    for out in children {
        let out = out.unwrap();
        assert!(
            out.status.success(),
            "every process opens the new file: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_frontdesk_db_variable_chooses_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested/env.sqlite3");
    let out = Command::new(frontdesk_bin())
        .env("FRONTDESK_DB", &db)
        .args(["doctor", "add", "Dr. Env"])
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
