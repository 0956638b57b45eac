//! Backups taken while four desks book, restores that keep everything, refusals
//! that change nothing, and restores killed in each of their phases (the restore
//! is stopped where it was seen, then killed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use frontdesk::storage::backup;
use frontdesk::{Actor, BookRequest, Frontdesk};
use rusqlite::{Connection, OpenFlags};

use crate::fixture::{self, Clinic, NOW};

/// Inserts `n` 10-minute slots per doctor straight into the table (fast set-up).
fn many_slots(desk: &Frontdesk, doctor: i64, n: i64) -> Vec<i64> {
    let start = NOW
        + 3600
        + desk
            .read(|c| Ok(c.query_row("SELECT count(*) FROM slot", [], |r| r.get::<_, i64>(0))?))
            .unwrap()
            * 86_400;
    desk.write("test.slots", |tx| {
        let mut ids = Vec::new();
        for i in 0..n {
            tx.execute(
                "INSERT INTO slot (doctor_id, start_at, end_at, created_at) VALUES (?1, ?2, ?3, ?4)",
                [doctor, start + i * 600, start + i * 600 + 600, NOW],
            )?;
            ids.push(tx.last_insert_rowid());
        }
        Ok(ids)
    })
    .unwrap()
}

/// Patients with padding, so the file is a few MB and a restore takes a while.
fn bulk_patients(desk: &Frontdesk, n: i64) {
    desk.write("test.patients", |tx| {
        for i in 0..n {
            tx.execute(
                "INSERT INTO patient (name, phone, notes, created_at, updated_at) VALUES (?1, '+4915123456789', ?2, ?3, ?3)",
                rusqlite::params![format!("Bulk Patient {i}"), "x".repeat(300), NOW],
            )?;
        }
        Ok(())
    })
    .unwrap();
}

fn book(desk: &Frontdesk, slot: i64, patient: i64) -> i64 {
    desk.book(
        &Actor::local_admin(),
        &BookRequest {
            slot_id: slot,
            patient_id: patient,
            reason: "check-up".into(),
        },
    )
    .unwrap()
    .id
}

/// Row counts of every Frontdesk table (not SQLite's or FTS's internals).
fn table_counts(conn: &Connection) -> Vec<(String, i64)> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '%fts%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    names
        .into_iter()
        .map(|n| {
            let c = conn
                .query_row(&format!("SELECT count(*) FROM \"{n}\""), [], |r| r.get(0))
                .unwrap();
            (n, c)
        })
        .collect()
}

fn open_read_only(path: &Path) -> Connection {
    frontdesk::storage::db::open_file(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("the backup opens")
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read the database file")
}

/// A clinic whose desk is closed (so a restore may run), with its database path.
fn closed(
    c: Clinic,
) -> (
    PathBuf,
    tempfile::TempDir,
    std::sync::Arc<frontdesk::clock::ManualClock>,
) {
    let Clinic {
        desk, dir, clock, ..
    } = c;
    let path = desk.path().to_path_buf();
    drop(desk);
    (path, dir, clock)
}

/// Waits until `ready()` holds; the bound only catches a hang.
fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(120);
    while !ready() {
        assert!(Instant::now() < give_up, "still waiting: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_backup_taken_while_four_desks_book_is_whole_and_holds_every_earlier_booking() {
    let c = Clinic::new();
    let doctors: Vec<i64> = (0..4).map(|i| c.doctor(&format!("Dr. Busy {i}"))).collect();
    let slots: Vec<Vec<i64>> = doctors
        .iter()
        .map(|d| many_slots(&c.desk, *d, 1000))
        .collect();
    let patient = c.patient("Ann Able", "0151 2345 6789");
    bulk_patients(&c.desk, 2000);
    // four desks: four handles on the file, each with its own write path
    let desks: Vec<Frontdesk> = (0..4).map(|_| c.reopen()).collect();
    let committed: Vec<Mutex<Vec<i64>>> = (0..4).map(|_| Mutex::new(Vec::new())).collect();
    let booked = |d: usize| committed[d].lock().unwrap().len();
    let stop = AtomicBool::new(false);
    let (before_backup, at_return, result) = std::thread::scope(|s| {
        for ((desk, mine), committed) in desks.iter().zip(&slots).zip(&committed) {
            let stop = &stop;
            s.spawn(move || {
                for slot in mine {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let id = book(desk, *slot, patient);
                    committed.lock().unwrap().push(id);
                }
            });
        }
        wait_until("every desk has booked before the backup", || {
            (0..4).all(|d| booked(d) > 0)
        });
        let before: Vec<i64> = committed
            .iter()
            .flat_map(|m| m.lock().unwrap().clone())
            .collect();
        let result = c
            .desk
            .backup_now(&c.admin(), None)
            .expect("backup while booking");
        let at_return: Vec<usize> = (0..4).map(booked).collect();
        wait_until("every desk books again after the backup", || {
            (0..4).all(|d| booked(d) > at_return[d])
        });
        stop.store(true, Ordering::Relaxed);
        (before, at_return, result)
    });
    let all: std::collections::BTreeSet<i64> = committed
        .iter()
        .flat_map(|m| m.lock().unwrap().clone())
        .collect();
    assert!(
        before_backup.len() >= 4,
        "each of the four desks booked before the backup started ({})",
        before_backup.len()
    );
    assert!(
        all.len() > at_return.iter().sum::<usize>(),
        "the desks kept booking after the backup ({at_return:?} then {})",
        all.len()
    );

    let path = PathBuf::from(&result.file.path);
    assert!(
        path.starts_with(c.dir.path().join("backups")),
        "the backup is in the default folder: {path:?}"
    );
    let conn = open_read_only(&path);
    let report = c
        .desk
        .check_copy(&frontdesk::storage::Conn::Lite(&conn))
        .unwrap();
    assert!(
        report.ok,
        "the backup passes integrity_check and every invariant: {:?}",
        report.items
    );
    for id in &before_backup {
        let found: i64 = conn
            .query_row(
                "SELECT count(*) FROM appointment WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            found, 1,
            "booking {id}, committed before the backup started, is in the backup"
        );
    }
    let in_backup: Vec<i64> = conn
        .prepare("SELECT id FROM appointment")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert!(
        in_backup.iter().all(|id| all.contains(id)),
        "the backup holds no booking that no desk made"
    );
    let mode: String = open_read_only(&path)
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        mode, "delete",
        "the backup is one self-contained file (rollback-journal mode)"
    );
    c.assert_check();
}

#[test]
fn a_restore_brings_back_every_row_and_the_audit_chain_and_keeps_a_safety_copy() {
    let c = Clinic::new();
    let doctor = c.doctor("Dr. Round Trip");
    let slots = c.slots(doctor, 6);
    let p = c.patient("Ann Able", "0151 2345 6789");
    let first = book(&c.desk, slots[0], p);
    book(&c.desk, slots[1], p);
    c.desk
        .change_status(
            &c.admin(),
            first,
            1,
            frontdesk::AppointmentStatus::Confirmed,
            "",
        )
        .unwrap();
    let at_backup = c.desk.read(|conn| Ok(table_counts(conn))).unwrap();
    let taken = c.desk.backup_now(&c.admin(), None).unwrap();
    // life goes on after the backup
    book(&c.desk, slots[2], c.patient("Bob Later", "0151 2345 6790"));
    let later_appointments = c.count("SELECT count(*) FROM appointment");

    let (db, dir, clock) = closed(c);
    let report = backup::restore(
        &Actor::local_admin(),
        &db,
        Path::new(&taken.file.path),
        NOW + 60,
        false,
    )
    .expect("restore");
    let desk = fixture::open_at(&db, clock);
    let after = desk.read(|conn| Ok(table_counts(conn))).unwrap();
    for ((table, was), (_, now)) in at_backup.iter().zip(&after) {
        // plus the restore's audit row, and the safety copy recorded as a backup
        let expected = if table == "audit_event" || table == "backup_run" {
            was + 1
        } else {
            *was
        };
        assert_eq!(
            *now, expected,
            "table {table} has the rows it had at the backup (plus the restore's audit row and safety copy)"
        );
    }
    assert_eq!(at_backup.len(), after.len(), "the same tables");
    let check = desk.check().unwrap();
    assert!(
        check.ok,
        "the restored database passes every check, audit chain included: {:?}",
        check.items
    );
    let last: (String, String) = desk
        .read(|c| {
            Ok(c.query_row(
                "SELECT action, detail FROM audit_event ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .unwrap();
    let file_name = Path::new(&taken.file.path).file_name().unwrap();
    assert_eq!(
        last,
        ("backup.restore".into(), file_name.to_string_lossy().into()),
        "the restore itself is in the audit log, naming the backup it came from"
    );

    let safety = PathBuf::from(report.safety_copy.expect("a safety copy was kept"));
    assert!(
        safety.starts_with(dir.path().join("backups")),
        "the safety copy is in the backup folder"
    );
    let kept: i64 = open_read_only(&safety)
        .query_row("SELECT count(*) FROM appointment", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        kept, later_appointments,
        "the safety copy holds the database as it was before the restore"
    );
    let listed = desk.list_backups(&Actor::local_admin()).unwrap();
    assert!(
        listed.backups.iter().any(|b| b.safety_copy),
        "the safety copy is listed"
    );
}

#[test]
fn a_damaged_backup_is_refused_and_the_database_is_untouched() {
    let c = Clinic::new();
    let doctor = c.doctor("Dr. Careful");
    let slots = c.slots(doctor, 3);
    book(&c.desk, slots[0], c.patient("Ann Able", "0151 2345 6789"));
    bulk_patients(&c.desk, 300);
    let taken = PathBuf::from(c.desk.backup_now(&c.admin(), None).unwrap().file.path);
    let damaged = c.dir.path().join("damaged.sqlite3");
    let mut bytes = file_bytes(&taken);
    let middle = (bytes.len() / 2) / 4096 * 4096;
    for b in &mut bytes[middle..middle + 4096] {
        *b ^= 0xA5;
    }
    std::fs::write(&damaged, bytes).unwrap();

    let (db, _dir, _clock) = closed(c);
    let before = file_bytes(&db);
    let err = backup::restore(&Actor::local_admin(), &db, &damaged, NOW, false)
        .expect_err("a damaged backup is refused");
    let message = err.to_string();
    assert!(
        message.contains("damaged") && message.contains("Nothing was changed"),
        "says the backup is damaged: {message}"
    );
    assert_eq!(
        file_bytes(&db),
        before,
        "the current database file is byte for byte unchanged"
    );
    assert!(
        !PathBuf::from(format!("{}.restoring", db.display())).exists(),
        "no temporary copy is left behind"
    );
}

#[test]
fn a_backup_from_a_newer_frontdesk_is_refused_and_the_database_is_untouched() {
    let c = Clinic::new();
    let taken = PathBuf::from(c.desk.backup_now(&c.admin(), None).unwrap().file.path);
    let newer = c.dir.path().join("newer.sqlite3");
    std::fs::copy(&taken, &newer).unwrap();
    frontdesk::storage::db::open_keyed(&newer)
        .unwrap()
        .execute_batch("PRAGMA user_version = 999")
        .unwrap();

    let (db, _dir, _clock) = closed(c);
    let before = file_bytes(&db);
    let err = backup::restore(&Actor::local_admin(), &db, &newer, NOW, false)
        .expect_err("a newer schema is refused");
    let message = err.to_string();
    assert!(
        message.contains("newer Frontdesk") && message.contains("999"),
        "names the newer schema: {message}"
    );
    assert_eq!(
        file_bytes(&db),
        before,
        "the current database file is unchanged"
    );
}

#[test]
fn a_file_that_is_not_a_frontdesk_database_is_refused() {
    let c = Clinic::new();
    let text = c.dir.path().join("notes.sqlite3");
    std::fs::write(&text, "not a database at all").unwrap();
    let other = c.dir.path().join("other.sqlite3");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let (db, _dir, _clock) = closed(c);
    let e = backup::restore(&Actor::local_admin(), &db, &text, NOW, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a SQLite database"), "{e}");
    let e = backup::restore(&Actor::local_admin(), &db, &other, NOW, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a Frontdesk database"), "{e}");
    let empty = _dir.path().join("empty.sqlite3");
    std::fs::write(&empty, "").unwrap();
    let e = backup::restore(&Actor::local_admin(), &db, &empty, NOW, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a SQLite database"), "an empty file: {e}");
    let missing = _dir.path().join("no-such-backup.sqlite3");
    let e = backup::restore(&Actor::local_admin(), &db, &missing, NOW, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("there is no backup file at"),
        "a path with no file: {e}"
    );
}

/// A plain backup whose rows all read back, but one of whose indexes no longer
/// matches its table (bytes of the index's page changed on disk): only SQLite's
/// integrity check sees it, and the backup is refused as damaged.
#[test]
fn a_backup_whose_index_disagrees_with_its_table_is_refused_as_damaged() {
    let (dir, db, desk) = fixture::plain_demo_clinic();
    let admin = Actor::local_admin();
    let taken = PathBuf::from(desk.backup_now(&admin, None).unwrap().file.path);
    drop(desk);
    let (root, page_size): (i64, i64) = {
        let conn = open_read_only(&taken);
        let root = conn
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE type = 'index' AND tbl_name = 'patient' \
                 AND sql IS NOT NULL ORDER BY name LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let page_size = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        (root, page_size)
    };
    // the last bytes of the page belong to its first cell: the key's row id
    let mut bytes = file_bytes(&taken);
    let end = (root * page_size) as usize;
    for b in &mut bytes[end - 2..end] {
        *b ^= 0x5a;
    }
    let damaged = dir.path().join("index-damaged.sqlite3");
    std::fs::write(&damaged, bytes).unwrap();
    let problems: Vec<String> = open_read_only(&damaged)
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_ne!(problems, ["ok"], "the damage is one SQLite sees");

    let before = file_bytes(&db);
    let message = backup::restore(&admin, &db, &damaged, NOW, true)
        .expect_err("refused, even confirmed")
        .to_string();
    assert!(
        message.contains("integrity check failed"),
        "says the backup is damaged: {message}"
    );
    assert_eq!(file_bytes(&db), before, "the database is unchanged");
}

#[test]
fn a_restore_is_refused_while_a_desk_has_the_database_open() {
    let c = Clinic::new();
    let taken = PathBuf::from(c.desk.backup_now(&c.admin(), None).unwrap().file.path);
    let second_desk = c.reopen();
    let err = backup::restore(&Actor::local_admin(), &c.path(), &taken, NOW, false)
        .expect_err("refused while open");
    let message = err.to_string();
    assert!(
        message.contains("Close Frontdesk on every desk"),
        "tells the admin what to close: {message}"
    );
    assert!(
        message.contains("(2 still open)"),
        "counts the open desks: {message}"
    );
    drop(second_desk);
    c.assert_check();
}

#[test]
fn receptionists_may_neither_back_up_nor_restore() {
    let c = Clinic::new();
    assert!(matches!(
        c.desk.backup_now(&c.receptionist(), None),
        Err(frontdesk::Error::Forbidden(_))
    ));
    let (db, _dir, _clock) = closed(c);
    let desk_actor = Actor::staff(2, "Rita Desk", frontdesk::Role::Receptionist);
    assert!(matches!(
        backup::restore(&desk_actor, &db, &db, NOW, false),
        Err(frontdesk::Error::Forbidden(_))
    ));
}

#[test]
fn an_automatic_backup_runs_once_a_day_and_retention_prunes_old_ones() {
    let c = Clinic::new();
    let admin = c.admin();
    assert!(
        c.desk.backup_if_due(&admin).unwrap().is_some(),
        "the first start backs up"
    );
    assert!(
        c.desk.backup_if_due(&admin).unwrap().is_none(),
        "not again the same day"
    );
    c.desk
        .set_setting(&admin, "backup.keep_daily", "3")
        .unwrap();
    c.desk
        .set_setting(&admin, "backup.keep_weekly", "0")
        .unwrap();
    for _ in 0..5 {
        c.clock.advance(86_400);
        let r = c
            .desk
            .backup_if_due(&admin)
            .unwrap()
            .expect("a day later a backup is due");
        assert!(Path::new(&r.file.path).exists());
    }
    let listed = c.desk.list_backups(&admin).unwrap();
    assert_eq!(
        listed.backups.len(),
        3,
        "three daily backups are kept: {:?}",
        listed.backups
    );
    assert_eq!(
        listed.last_backup_at,
        Some(c.desk.now()),
        "the newest backup is the one just taken"
    );
}

/// Where a restore is, seen from outside (see `src/storage/backup/restore.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum RestorePhase {
    /// Not started on the files yet (or already cleaned up after a refusal).
    NotStarted,
    /// Copying and verifying the backup next to the database (`.restoring`).
    Copying,
    /// Taking the safety copy and retiring the old file (`.restoring` and a
    /// safety copy, whole or partial, in the backup folder).
    Retiring,
    /// The restored file is in place; the audit row is being added.
    Swapped,
}

fn restore_phase(db: &Path, old_inode: u64) -> RestorePhase {
    use std::os::unix::fs::MetadataExt;
    let restoring = frontdesk::storage::db::sibling(db, ".restoring").exists();
    let safety = std::fs::read_dir(db.with_file_name("backups"))
        .map(|d| {
            d.flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .trim_start_matches('.')
                    .starts_with("frontdesk-before-restore-")
            })
        })
        .unwrap_or(false);
    let swapped = std::fs::metadata(db).is_ok_and(|m| m.ino() != old_inode);
    match (restoring, safety, swapped) {
        (_, _, true) => RestorePhase::Swapped,
        (true, true, false) => RestorePhase::Retiring,
        (true, false, false) => RestorePhase::Copying,
        _ => RestorePhase::NotStarted,
    }
}

/// Whether every thread of `pid` is stopped.
fn stopped(pid: u32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks.flatten().all(|t| {
                std::fs::read_to_string(t.path().join("stat")).is_ok_and(|s| {
                    s.rsplit_once(')')
                        .and_then(|(_, rest)| rest.split_whitespace().next())
                        .is_some_and(|st| st == "T" || st == "t")
                })
            })
        })
        .unwrap_or(false)
}

#[test]
fn a_restore_killed_at_any_moment_leaves_the_old_or_the_new_database() {
    use std::os::unix::fs::MetadataExt;
    let c = Clinic::new();
    c.cli_admin();
    let doctor = c.doctor("Dr. Kill");
    let slots = many_slots(&c.desk, doctor, 80);
    let patient = c.patient("Ann Able", "0151 2345 6789");
    bulk_patients(&c.desk, 8000);
    book(&c.desk, slots[0], patient);
    let taken = PathBuf::from(c.desk.backup_now(&c.admin(), None).unwrap().file.path);
    let in_backup = 1;
    book(&c.desk, slots[1], patient);
    let (db, _dir, clock) = closed(c);

    let restore = || {
        fixture::cli(&db)
            .args(["restore", "--yes", taken.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start the restore")
    };
    let appointments = |desk: &Frontdesk| -> i64 {
        desk.read(|c| Ok(c.query_row("SELECT count(*) FROM appointment", [], |r| r.get(0))?))
            .unwrap()
    };
    assert!(
        restore().wait().unwrap().success(),
        "an uninterrupted restore succeeds"
    );
    let mut next_slot = 2;
    // each phase is aimed at until a kill has landed in it; the kill lands where
    // the restore was seen while stopped (SIGSTOP), not where it was a moment before
    let aims = [
        RestorePhase::Copying,
        RestorePhase::Retiring,
        RestorePhase::Swapped,
    ];
    let mut landed: BTreeMap<RestorePhase, usize> = BTreeMap::new();
    let mut finished_first = 0;
    for round in 0..60 {
        let Some(aim) = aims.iter().copied().find(|a| !landed.contains_key(a)) else {
            break;
        };
        let desk = fixture::open_at(&db, clock.clone());
        let mut old = appointments(&desk);
        if old == in_backup {
            book(&desk, slots[next_slot], patient);
            next_slot += 1;
            old += 1;
        }
        drop(desk);
        // the previous round's safety copies, so a new one shows the phase
        for e in std::fs::read_dir(db.with_file_name("backups"))
            .unwrap()
            .flatten()
        {
            if e.file_name().to_string_lossy().contains("before-restore") {
                std::fs::remove_file(e.path()).unwrap();
            }
        }
        let old_inode = std::fs::metadata(&db).unwrap().ino();
        let mut child = restore();
        let pid = child.id();
        let at_kill = loop {
            if let Some(status) = child.try_wait().unwrap() {
                // finished before the aimed phase was seen: then it restored
                let mut said = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut said).unwrap();
                assert!(
                    status.success(),
                    "round {round}: the restore failed: {said}"
                );
                break None;
            }
            if restore_phase(&db, old_inode) >= aim {
                // SAFETY: a child we started and have not reaped
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGSTOP) };
                while !stopped(pid) && child.try_wait().unwrap().is_none() {
                    std::thread::yield_now();
                }
                break Some(restore_phase(&db, old_inode));
            }
            std::thread::yield_now();
        };
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();

        let desk = fixture::open_at(&db, clock.clone());
        let report = desk.check().unwrap();
        assert!(
            report.ok,
            "round {round} (killed at {at_kill:?}): the database is whole: {:?}",
            report.items.iter().filter(|i| !i.ok).collect::<Vec<_>>()
        );
        let now = appointments(&desk);
        let expected = match at_kill {
            None | Some(RestorePhase::Swapped) => in_backup,
            Some(_) => old,
        };
        assert_eq!(
            now, expected,
            "round {round}: killed at {at_kill:?}, the old database has {old} appointments and the backup {in_backup}"
        );
        match at_kill {
            Some(p) if p != RestorePhase::NotStarted => *landed.entry(p).or_default() += 1,
            _ => finished_first += 1,
        }
    }
    eprintln!(
        "kills landed mid-restore: {landed:?}; restores that finished first: {finished_first}"
    );
    for phase in aims {
        assert!(
            landed.get(&phase).is_some_and(|n| *n > 0),
            "a kill must land while {phase:?}: {landed:?}"
        );
    }
    // and one more restore after all that goes through, leaving nothing behind
    assert!(restore().wait().unwrap().success());
    assert!(!frontdesk::storage::db::sibling(&db, ".restoring").exists());
    assert_eq!(appointments(&fixture::open_at(&db, clock)), in_backup);
}

#[test]
fn the_cli_restore_refuses_while_a_desk_is_open_and_changes_nothing() {
    let c = Clinic::new();
    c.cli_admin();
    let taken = c.desk.backup_now(&c.admin(), None).unwrap().file.path;
    let before = c.count("SELECT count(*) FROM audit_event");
    let out = fixture::cli(&c.path())
        .args(["restore", &taken])
        .output()
        .expect("run frontdesk restore");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "refused as a user error: {stderr}"
    );
    assert!(
        stderr.contains("Close Frontdesk on every desk"),
        "tells the admin what to do: {stderr}"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM audit_event"),
        before,
        "nothing was written"
    );
    c.assert_check();
}

#[test]
fn the_cli_backs_up_lists_and_checks_a_backup() {
    let c = Clinic::new();
    c.cli_admin();
    let db = c.path();
    let run = |args: &[&str]| {
        let out = fixture::cli(&db)
            .arg("--json")
            .args(args)
            .output()
            .expect("run frontdesk");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("one JSON object")
    };
    let taken = run(&["backup"]);
    let path = taken["file"]["path"]
        .as_str()
        .expect("the backup's path")
        .to_string();
    let listed = run(&["backups", "list"]);
    assert_eq!(
        listed["backups"][0]["path"].as_str(),
        Some(path.as_str()),
        "the new backup is listed first"
    );
    let checked = run(&["restore", "--check-only", &path]);
    assert_eq!(
        checked["schema_version"].as_i64(),
        Some(frontdesk::storage::db::latest_schema_version() as i64)
    );
}

#[test]
fn a_backup_never_overwrites_an_existing_file_such_as_the_database_itself() {
    let c = Clinic::new();
    let err = c
        .desk
        .backup_now(&c.admin(), Some(c.path()))
        .expect_err("refused");
    assert!(err.to_string().contains("already exists"), "{err}");
    c.assert_check();
}

#[test]
fn a_backup_restores_onto_a_new_computer_where_no_database_exists_yet() {
    let c = Clinic::new();
    let doctor = c.doctor("Dr. New Computer");
    book(
        &c.desk,
        c.slots(doctor, 1)[0],
        c.patient("Ann Able", "0151 2345 6789"),
    );
    let taken = PathBuf::from(c.desk.backup_now(&c.admin(), None).unwrap().file.path);
    let fresh = c
        .dir
        .path()
        .join("new-computer")
        .join("data")
        .join("frontdesk.sqlite3");
    let report = backup::restore(&Actor::local_admin(), &fresh, &taken, NOW, true)
        .expect("restore onto nothing");
    assert_eq!(report.safety_copy, None, "nothing to keep a safety copy of");
    let desk = fixture::open_at(&fresh, c.clock.clone());
    assert!(desk.check().unwrap().ok, "the restored database checks out");
    let n: i64 = desk
        .read(|c| Ok(c.query_row("SELECT count(*) FROM appointment", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(n, 1, "the booking came with the backup");
}

/// The anchor outside the database is moved to the restored log's newest row (the
/// restore's own audit row), so cutting that row off before any desk writes again
/// is found; an anchor left at nothing would hide it until the next write.
#[test]
fn cutting_off_the_newest_audit_row_right_after_a_restore_is_found() {
    let c = Clinic::new();
    let doctor = c.doctor("Dr. Anchor");
    let slot = c.slots(doctor, 1)[0];
    book(&c.desk, slot, c.patient("Ann Anchor", "0151 2345 6789"));
    let taken = c.desk.backup_now(&c.admin(), None).unwrap();
    let (db, _dir, clock) = closed(c);
    backup::restore(
        &Actor::local_admin(),
        &db,
        Path::new(&taken.file.path),
        NOW + 60,
        false,
    )
    .expect("restore");
    // a forger with the file, before any desk opens it again
    let conn = frontdesk::storage::db::open_keyed(&db).unwrap();
    let last: i64 = conn
        .query_row("SELECT max(id) FROM audit_event", [], |r| r.get(0))
        .unwrap();
    let trigger: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_event_no_delete'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute_batch(&format!(
        "DROP TRIGGER audit_event_no_delete; DELETE FROM audit_event WHERE id = {last}; {trigger};"
    ))
    .unwrap();
    drop(conn);
    let report = fixture::open_at(&db, clock).check().unwrap();
    let found: Vec<String> = report
        .items
        .iter()
        .filter(|i| !i.ok)
        .map(|i| i.detail.clone())
        .collect();
    assert!(
        found
            .iter()
            .any(|f| f.contains(&format!("ends before row {last}"))),
        "the anchor names the restore's row that was cut off: {found:?}"
    );
}

/// Bytes 18 and 19 of a plain database's header: 2, 2 for write-ahead logging,
/// 1, 1 for a rollback journal.
fn journal_flags(path: &Path) -> [u8; 2] {
    let bytes = file_bytes(path);
    [bytes[18], bytes[19]]
}

/// An admin's byte copy of the live file (`cp` of a plain clinic database), not a
/// backup Frontdesk wrote: its staff are the clinic's own, yet restoring it needs
/// the admin's confirmation. Once confirmed, the copy (which carries the WAL flag
/// of a live database but no log of its own) restores whole, and none of the
/// restore's working files is left beside the database.
#[test]
fn a_byte_copy_of_the_live_file_needs_confirmation_and_then_restores_whole() {
    let (dir, db, desk) = fixture::plain_demo_clinic();
    let admin = Actor::local_admin();
    // everything in the main file, as in a copy taken once the desks had closed
    frontdesk::storage::db::open_keyed(&db)
        .unwrap()
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let copy = dir.path().join("copied-by-hand.sqlite3");
    std::fs::copy(&db, &copy).unwrap();
    assert_eq!(
        journal_flags(&copy),
        [2, 2],
        "a live database's copy says WAL"
    );
    let check = desk.check_backup(&admin, &copy).unwrap();
    assert!(check.foreign, "Frontdesk did not write it: {check:?}");
    assert!(check.staff_changes.is_empty(), "same staff: {check:?}");
    assert!(
        check.needs_confirmation(),
        "a file Frontdesk did not write needs confirmation, even with the same staff"
    );
    drop(desk);

    let refused = backup::restore(&admin, &db, &copy, NOW + 60, false)
        .expect_err("not restored without confirmation");
    assert!(
        refused.to_string().contains("did not write"),
        "the refusal says why: {refused}"
    );
    backup::restore(&admin, &db, &copy, NOW + 60, true).expect("restored once confirmed");
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("clinic.sqlite3") && n != "clinic.sqlite3")
        .filter(|n| !n.ends_with(".lock") && !n.ends_with(".presence"))
        .collect();
    left.sort();
    assert!(
        left.is_empty(),
        "the restore's working files are gone: {left:?}"
    );
    let desk = Frontdesk::open_default(&db).unwrap();
    assert!(desk.check().unwrap().ok, "the restored clinic checks out");
}

/// Two backups into the backup folder at once in one process, within the same
/// second (the file names have seconds; the clinic's clock stands still here), as
/// the automatic backup an admin's sign-in starts and that admin's "Back up now"
/// can be: both end with a whole backup of their own. (They used to share one
/// `.partial` file and fail with "disk I/O error" or "attempt to write a readonly
/// database".)
#[test]
fn two_backups_started_in_the_same_second_both_end_whole_in_files_of_their_own() {
    let c = Clinic::new();
    bulk_patients(&c.desk, 20_000);
    let patients = c.count("SELECT count(*) FROM patient");
    let admin = c.admin();
    let results: Vec<_> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..2)
            .map(|_| s.spawn(|| c.desk.backup_now(&admin, None)))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let files: Vec<_> = results
        .into_iter()
        .map(|r| r.expect("each backup succeeds").file)
        .collect();
    assert_ne!(files[0].path, files[1].path, "two files: {files:?}");
    for f in &files {
        let check = c
            .desk
            .check_backup(&admin, Path::new(&f.path))
            .unwrap_or_else(|e| panic!("{} is whole: {e}", f.path));
        assert_eq!(check.patients, patients, "{}", f.path);
    }
    let listed = c.desk.list_backups(&admin).unwrap();
    assert_eq!(listed.backups.len(), 2, "{:?}", listed.backups);
}
