//! The edges of the database file: restores while something still has it open, a
//! file replaced under a desk, every spelling of a path, a desk frozen while holding
//! the write lock, a failed disk sync, and checkpoints that never wait in the lock.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use frontdesk::storage::backup;
use frontdesk::{Actor, BookRequest, Error, Frontdesk, OpenOptions};
use rusqlite::Connection;

use crate::fixture::{self, Clinic, NOW};

/// Long enough for anything that must not hang; only a hang reaches it.
const HANG: Duration = Duration::from_secs(60);

fn booking(slot: i64, patient: i64) -> BookRequest {
    BookRequest {
        slot_id: slot,
        patient_id: patient,
        reason: "check-up".into(),
    }
}

fn patients_in(path: &Path) -> i64 {
    frontdesk::storage::db::open_keyed(path)
        .unwrap()
        .query_row("SELECT count(*) FROM patient", [], |r| r.get(0))
        .unwrap()
}

/// A clinic with one patient, a backup of it, and one more patient after the backup.
fn clinic_with_backup() -> (Clinic, PathBuf) {
    let c = Clinic::new();
    c.patient("Before Backup", "0151 11111111");
    let taken = PathBuf::from(c.desk.backup_now(&c.admin(), None).unwrap().file.path);
    c.patient("After Backup", "0151 22222222");
    (c, taken)
}

fn assert_refused_as_in_use(outcome: frontdesk::Result<backup::RestoreReport>) {
    let message = outcome
        .expect_err("the restore must be refused while the file is in use")
        .to_string();
    assert!(
        message.contains("still has the database open") || message.contains("still open"),
        "the refusal says the database is in use: {message}"
    );
}

// ---- 1. restore while something still has the file open ------------------------

#[test]
fn a_restore_is_refused_while_an_idle_sqlite_connection_has_the_file_open_and_its_next_write_survives(
) {
    let (c, taken) = clinic_with_backup();
    let db = c.path();
    drop(c.desk);
    let shell = frontdesk::storage::db::open_keyed(&db).unwrap();
    assert_eq!(
        shell
            .query_row("SELECT count(*) FROM patient", [], |r| r.get::<_, i64>(0))
            .unwrap(),
        2,
        "the other program has read the database and is now idle"
    );
    assert_refused_as_in_use(backup::restore(
        &Actor::local_admin(),
        &db,
        &taken,
        NOW,
        false,
    ));
    shell
        .execute(
            "INSERT INTO patient (name, phone, created_at, updated_at) VALUES ('Shell Insert', '+4915133333333', 0, 0)",
            [],
        )
        .expect("the other program still writes to the database");
    drop(shell);
    assert_eq!(
        patients_in(&db),
        3,
        "the other program's write is in the database file (nothing was swapped)"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_restore_is_refused_while_a_connection_that_has_not_read_yet_has_the_file_open() {
    let (c, taken) = clinic_with_backup();
    let db = c.path();
    drop(c.desk);
    let shell = Connection::open(&db).unwrap(); // opened, nothing read: no SQLite lock
    let outcome = backup::restore(&Actor::local_admin(), &db, &taken, NOW, false);
    let message = outcome.expect_err("refused").to_string();
    assert!(
        message.contains(&format!("pid {}", std::process::id())),
        "names the process that has the file open: {message}"
    );
    drop(shell);
    assert_eq!(patients_in(&db), 2, "the database is untouched");
}

#[test]
fn a_restore_is_refused_while_a_desk_whose_presence_file_was_deleted_is_open() {
    let (c, taken) = clinic_with_backup();
    let db = c.path();
    std::fs::remove_file(frontdesk::storage::presence::presence_path(&db)).unwrap();
    assert_refused_as_in_use(backup::restore(
        &Actor::local_admin(),
        &db,
        &taken,
        NOW,
        false,
    ));
    let id = c.patient("Still Saved", "0151 44444444");
    assert!(id > 0, "the open desk keeps working on its database");
    drop(c.desk);
    assert_eq!(patients_in(&db), 3, "and what it saved is in the file");
}

#[test]
fn a_desk_whose_file_was_replaced_refuses_every_write_and_says_so() {
    let c = Clinic::new();
    let doctor = c.doctor("Dr. Weber");
    let slots = c.slots(doctor, 2);
    let patient = c.patient("Maria García", "0151 23456789");
    let db = c.path();
    // another clinic file swapped in by name, as a restore that did not see this desk
    let other_dir = tempfile::tempdir().unwrap();
    let other = other_dir.path().join("other.sqlite3");
    drop(fixture::open_at(&other, c.clock.clone()));
    std::fs::rename(&other, &db).unwrap();
    for stale in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(frontdesk::storage::db::sibling(&db, stale));
    }
    assert!(
        c.desk.file_replaced(),
        "the desk notices its file was replaced"
    );
    let refused = c
        .desk
        .book(&c.admin(), &booking(slots[0], patient))
        .expect_err("a write into the replaced file is refused");
    assert!(
        refused.to_string().contains("was replaced"),
        "says why: {refused}"
    );
    assert!(
        c.desk.add_doctor(&c.admin(), "Dr. Late", "GP").is_err(),
        "every later write is refused too"
    );
    let reopened = c.reopen();
    assert!(
        !reopened.file_replaced(),
        "a reopened desk works on the current file"
    );
    assert_eq!(
        reopened.add_doctor(&c.admin(), "Dr. New", "GP").unwrap().id,
        1,
        "and writes into it"
    );
}

/// The database file stays, but its write-ahead log is no longer the one this
/// desk writes and syncs (deleted and made again by someone else): the desk's
/// commits would go to a log nobody reads, so it refuses to write.
#[test]
fn a_desk_whose_wal_alone_was_replaced_refuses_to_write() {
    let c = Clinic::new();
    let doctor = c.doctor("Dr. Weber");
    let slots = c.slots(doctor, 1);
    let patient = c.patient("Maria García", "0151 23456789");
    let wal = frontdesk::storage::db::sibling(&c.path(), "-wal");
    std::fs::rename(
        &wal,
        frontdesk::storage::db::sibling(&c.path(), "-wal.moved"),
    )
    .unwrap();
    std::fs::write(&wal, b"").unwrap();
    assert!(
        c.desk.file_replaced(),
        "the desk notices its log was replaced"
    );
    let refused = c
        .desk
        .book(&c.admin(), &booking(slots[0], patient))
        .expect_err("a write into the replaced log is refused");
    assert!(
        refused.to_string().contains("was replaced"),
        "says why: {refused}"
    );
}

// ---- 2. one database, however its path is spelled --------------------------------

#[cfg(unix)]
#[test]
fn a_database_opened_through_a_symlink_is_the_real_file_with_every_sibling_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let real_dir = dir.path().join("data");
    std::fs::create_dir(&real_dir).unwrap();
    let real = real_dir.join("clinic.sqlite3");
    let link = dir.path().join("link.sqlite3");
    std::os::unix::fs::symlink(&real, &link).unwrap(); // to a file not created yet
    let clock = Arc::new(frontdesk::clock::ManualClock::new(NOW));
    let desk = fixture::open_at(&link, clock.clone());
    assert_eq!(
        desk.path(),
        std::fs::canonicalize(&real).unwrap(),
        "the desk works on the real file"
    );
    let doctor = desk
        .add_doctor(&Actor::local_admin(), "Dr. Link", "GP")
        .unwrap();
    assert!(
        doctor.id > 0,
        "a write through the link is saved and reported"
    );
    for sibling in ["-wal", ".lock", ".presence"] {
        assert!(
            !frontdesk::storage::db::sibling(&link, sibling).exists(),
            "no {sibling} file is named after the link"
        );
        assert!(
            frontdesk::storage::db::sibling(&real, sibling).exists(),
            "the {sibling} file sits beside the real file"
        );
    }
    let by_real_path = fixture::open_at(&real, clock);
    assert_eq!(
        by_real_path
            .list_doctors(&Actor::local_admin(), false)
            .unwrap()
            .len(),
        1,
        "the real path sees what was written through the link"
    );
}

#[test]
fn a_relative_path_and_a_dotted_path_name_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let absolute = dir.path().join("clinic.sqlite3");
    let cwd = std::env::current_dir().unwrap();
    let ups = cwd.components().count() - 1; // from the working directory up to /
    let mut relative = PathBuf::new();
    for _ in 0..ups {
        relative.push("..");
    }
    relative.push(absolute.strip_prefix("/").unwrap());
    let dotted = dir
        .path()
        .join(".")
        .join("sub")
        .join("..")
        .join("clinic.sqlite3");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let clock = Arc::new(frontdesk::clock::ManualClock::new(NOW));
    let one = fixture::open_at(&relative, clock.clone());
    let two = fixture::open_at(&dotted, clock);
    assert_eq!(one.path(), two.path(), "both spellings resolve to one file");
    assert!(one.path().is_absolute(), "the resolved path is absolute");
    one.add_doctor(&Actor::local_admin(), "Dr. One", "GP")
        .unwrap();
    assert_eq!(
        two.list_doctors(&Actor::local_admin(), false)
            .unwrap()
            .len(),
        1,
        "one database"
    );
}

#[cfg(unix)]
#[test]
fn two_desks_starting_at_once_through_a_link_and_the_real_path_both_open_the_new_database() {
    for round in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("clinic.sqlite3");
        let link = dir.path().join("link.sqlite3");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let start = Arc::new(Barrier::new(2));
        let opened: Vec<_> = [real.clone(), link]
            .into_iter()
            .map(|path| {
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    Frontdesk::open_default(&path).map(|_| ())
                })
            })
            .collect();
        for (i, t) in opened.into_iter().enumerate() {
            t.join().unwrap().unwrap_or_else(|e| {
                panic!("round {round}: desk {i} could not open the new database: {e}")
            });
        }
    }
}

#[cfg(unix)]
#[test]
fn a_restore_through_a_symlink_replaces_the_real_file_and_keeps_the_link() {
    let (c, taken) = clinic_with_backup();
    let real = c.path();
    drop(c.desk);
    let link = c.dir.path().join("link.sqlite3");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    backup::restore(&Actor::local_admin(), &link, &taken, NOW, false)
        .expect("restore through the link");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link is still a link"
    );
    assert_eq!(
        patients_in(&real),
        1,
        "the real file holds the backup's patients"
    );
}

// ---- 3. a desk frozen while holding the write lock ---------------------------------

/// What a desk process stopped inside a transaction leaves behind: the lock file
/// held and SQLite's write lock taken. Dropped, it lets go of both.
struct FrozenDesk {
    _lock: File,
    conn: Connection,
}

impl FrozenDesk {
    fn freeze(db: &Path) -> FrozenDesk {
        let lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(frontdesk::storage::db::sibling(db, ".lock"))
            .unwrap();
        lock.lock().unwrap();
        let conn = frontdesk::storage::db::open_keyed(db).unwrap();
        conn.execute_batch(
            "BEGIN IMMEDIATE; INSERT INTO patient (name, phone, created_at, updated_at) VALUES ('Frozen', '+4915100000000', 0, 0);",
        )
        .unwrap();
        FrozenDesk { _lock: lock, conn }
    }
}

impl Drop for FrozenDesk {
    fn drop(&mut self) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }
}

/// Runs `f` on a thread and returns its result, failing the test if it hangs.
fn without_hanging<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{what} hung behind the frozen desk"))
}

#[test]
fn a_desk_frozen_holding_the_write_lock_blocks_neither_opening_nor_reading_and_writes_give_up_with_busy(
) {
    let c = Clinic::new();
    let doctor = c.doctor("Dr. Weber");
    let slot = c.slots(doctor, 1)[0];
    let patient = c.patient("Maria García", "0151 23456789");
    let db = c.path();
    let frozen = FrozenDesk::freeze(&db);
    let clock = c.clock.clone();
    let desk = without_hanging("opening a second desk", move || {
        Frontdesk::open(
            &db,
            OpenOptions {
                clock,
                lock_deadline: Duration::from_millis(500),
                ..OpenOptions::default()
            },
        )
    })
    .expect("a desk opens a current database without the write lock");
    let desk = Arc::new(desk);
    let reader = desk.clone();
    let found = without_hanging("searching patients", move || {
        reader.search_patients(&Actor::local_admin(), "García", 10)
    })
    .expect("reads never wait for the write lock");
    assert_eq!(found.len(), 1, "the read sees the committed patient");
    let writer = desk.clone();
    let refused = without_hanging("booking", move || {
        writer.book(&Actor::local_admin(), &booking(slot, patient))
    })
    .expect_err("a write gives up at the deadline");
    assert!(
        matches!(refused, Error::Busy),
        "refused as Busy: {refused:?}"
    );
    assert!(
        refused
            .to_string()
            .contains("another desk is holding the database"),
        "the message says another desk holds the database: {refused}"
    );
    drop(frozen);
    desk.book(&Actor::local_admin(), &booking(slot, patient))
        .expect("once the frozen desk is gone, the booking goes through");
}

/// Another program (a `sqlite3` shell) inside a write transaction holds SQLite's
/// own lock, not Frontdesk's lock file: a desk's write gets past the lock file,
/// retries SQLite's lock with backoff until the deadline, then gives up with
/// Busy; the contention figures count the timeout and the retries.
#[test]
fn a_foreign_write_transaction_makes_a_write_retry_then_give_up_with_busy_and_is_counted() {
    let c = Clinic::new();
    let doctor = c.doctor("Dr. Weber");
    let slot = c.slots(doctor, 1)[0];
    let patient = c.patient("Maria García", "0151 23456789");
    let db = c.path();
    let shell = frontdesk::storage::db::open_keyed(&db).unwrap();
    shell.execute_batch("BEGIN IMMEDIATE").unwrap();
    let syncs = Arc::new(AtomicU32::new(0));
    let counted = syncs.clone();
    let desk = Frontdesk::open(
        &db,
        OpenOptions {
            clock: c.clock.clone(),
            lock_deadline: Duration::from_millis(300),
            sync_fault: Some(Arc::new(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })),
            ..OpenOptions::default()
        },
    )
    .unwrap();
    let refused = desk
        .book(&Actor::local_admin(), &booking(slot, patient))
        .expect_err("a write gives up at the deadline");
    assert!(
        matches!(refused, Error::Busy),
        "refused as Busy: {refused:?}"
    );
    let metrics = desk.metrics().unwrap();
    let book = metrics
        .operations
        .iter()
        .find(|o| o.operation == "book")
        .expect("the booking is in the contention figures");
    assert_eq!(book.timeouts, 1, "counted as a timeout: {book:?}");
    // backoff from 0.5 ms doubling to 50 ms: about a dozen tries in 300 ms (a
    // loaded machine only sleeps longer, so fewer); a spinning loop makes thousands
    assert!(
        (2..=40).contains(&book.busy_retries),
        "it retried before the deadline, backing off rather than spinning: {book:?}"
    );
    shell.execute_batch("ROLLBACK").unwrap();
    // a Busy from inside a transaction (its body, or the commit) decided nothing
    // either: it takes no place in the sync order
    let inner = desk
        .write("raw", |_| Err::<(), _>(Error::Busy))
        .expect_err("Busy passes through");
    assert!(matches!(inner, Error::Busy), "{inner:?}");
    assert_eq!(
        syncs.load(Ordering::SeqCst),
        0,
        "a write refused as Busy decided nothing and waits for no sync"
    );
    desk.book(&Actor::local_admin(), &booking(slot, patient))
        .expect("once the shell lets go, the booking goes through");
    assert_eq!(
        syncs.load(Ordering::SeqCst),
        1,
        "the booking waited for one"
    );
}

/// What `f` logs on this thread (INFO and up), as text.
fn logged(f: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Lines(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let out = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || out.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let text = lines.0.lock().unwrap().clone();
    String::from_utf8(text).unwrap()
}

/// The log is how an admin finds a desk that holds the others up: a write that
/// waited long for the lock (over 100 ms) or held it long (over 20 ms) is logged
/// as a slow write lock, with both times; a quick one is not.
#[test]
fn a_write_that_waited_or_held_the_lock_long_is_logged_and_a_quick_one_is_not() {
    const SLOW: &str = "slow write lock";
    let c = Clinic::new();
    let doctor = c.doctor("Dr. Weber");
    let slot = c.slots(doctor, 1)[0];
    let patient = c.patient("Maria García", "0151 23456789");
    // a stall of the machine can make any one write slow: one of three is enough
    assert!(
        (0..3).any(|_| !logged(|| c.desk.write("raw", |_| Ok(())).unwrap()).contains(SLOW)),
        "a quick write is not logged as slow"
    );
    let held = logged(|| {
        c.desk
            .write("raw", |_| {
                std::thread::sleep(Duration::from_millis(60));
                Ok(())
            })
            .unwrap()
    });
    assert!(
        held.contains(SLOW) && held.contains("hold_us"),
        "a long hold is logged: {held}"
    );
    // another program holds SQLite's lock for 300 ms, then lets go
    let shell = frontdesk::storage::db::open_keyed(c.path()).unwrap();
    shell.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (holding, held_long) = mpsc::channel();
    let releaser = std::thread::spawn(move || {
        holding.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        shell.execute_batch("ROLLBACK").unwrap();
    });
    held_long.recv().unwrap();
    let waited = logged(|| {
        c.desk
            .book(&Actor::local_admin(), &booking(slot, patient))
            .expect("booked once the other program lets go");
    });
    releaser.join().unwrap();
    assert!(
        waited.contains(SLOW) && waited.contains("wait_us"),
        "a long wait is logged: {waited}"
    );
}

/// Refusals that lost a race (the slot was taken, the appointment changed
/// meanwhile) are logged as such, to tell contention from mistakes; other
/// refusals are not.
#[test]
fn refusals_that_lost_a_race_are_logged_and_others_are_not() {
    const RACE: &str = "refused a racing request";
    let c = Clinic::new();
    let doctor = c.doctor("Dr. Weber");
    let slot = c.slots(doctor, 1)[0];
    let ann = c.patient("Ann Able", "0151 23456789");
    let ben = c.patient("Ben Bell", "0151 23456780");
    let booked = c
        .desk
        .book(&Actor::local_admin(), &booking(slot, ann))
        .unwrap();
    let taken = logged(|| {
        let e = c
            .desk
            .book(&Actor::local_admin(), &booking(slot, ben))
            .unwrap_err();
        assert!(matches!(e, Error::SlotTaken), "{e:?}");
    });
    assert!(taken.contains(RACE), "a taken slot is logged: {taken}");
    c.desk
        .change_status(
            &Actor::local_admin(),
            booked.id,
            booked.version,
            frontdesk::AppointmentStatus::Confirmed,
            "",
        )
        .unwrap();
    let stale = logged(|| {
        let e = c
            .desk
            .change_status(
                &Actor::local_admin(),
                booked.id,
                booked.version,
                frontdesk::AppointmentStatus::Cancelled,
                "called",
            )
            .unwrap_err();
        assert!(matches!(e, Error::Conflict { .. }), "{e:?}");
    });
    assert!(stale.contains(RACE), "a stale change is logged: {stale}");
    let mistake = logged(|| {
        let e = c
            .desk
            .write("raw", |_| Err::<(), _>(Error::invalid("a plain mistake")))
            .unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    });
    assert!(!mistake.contains(RACE), "another refusal is not: {mistake}");
}

#[test]
fn the_cli_answers_a_read_while_a_frozen_desk_holds_the_write_lock() {
    let c = Clinic::new();
    c.patient("Maria García", "0151 23456789");
    c.cli_admin();
    let db = c.path();
    let _frozen = FrozenDesk::freeze(&db);
    let finish = |mut child: std::process::Child, what: &str| {
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > HANG {
                let _ = child.kill();
                panic!("`frontdesk patient search` {what} hung behind the frozen desk");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    };
    // the read itself never waits: the file's owner reads without a sign-in
    let child = fixture::cli_anonymous(&db)
        .args(["--break-glass", "test: a read behind a frozen desk"])
        .args(["patient", "search", "García"])
        .env(frontdesk::LOCK_TIMEOUT_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = finish(child, "(break-glass)");
    assert!(
        out.status.success(),
        "the read succeeds: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("García"),
        "and finds the patient"
    );
    // a staff sign-in writes (the attempt is reserved before the password is
    // checked), so it waits for the write lock like any change, and says so
    // within the lock timeout instead of hanging
    let child = fixture::cli(&db)
        .args(["patient", "search", "García"])
        .env(frontdesk::LOCK_TIMEOUT_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = finish(child, "(signed in)");
    assert_eq!(
        out.status.code(),
        Some(3),
        "a sign-in behind the frozen desk is busy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- 4. no checkpoint inside the lock ---------------------------------------------

#[test]
fn erasing_passcode_messages_never_waits_for_a_long_reader_inside_the_write_lock() {
    let c = Clinic::new();
    let doctor = c.doctor("Dr. Weber");
    let slot = c.slots(doctor, 1)[0];
    let patient = c.patient("Maria García", "0151 23456789");
    // a long reader (a backup, an export) holds an old snapshot
    let reader = frontdesk::storage::db::open_keyed(c.path()).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader
        .query_row("SELECT count(*) FROM appointment", [], |r| r.get(0))
        .unwrap();
    c.patient("After The Snapshot", "0151 33333333");
    let desk = Arc::new(fixture::open_at(&c.path(), c.clock.clone()));
    let requesting = desk.clone();
    let admin = c.admin();
    // the request sends the code at once and erases its text
    let request = std::thread::spawn(move || requesting.request_otp(&admin, "0151 23456789"));
    // as soon as the erasure is committed, book from another desk with a short deadline
    while c.count("SELECT count(*) FROM outbox WHERE status = 'SENT' AND body = ''") == 0 {
        std::thread::yield_now();
    }
    let quick = Frontdesk::open(
        c.path(),
        OpenOptions {
            clock: c.clock.clone(),
            lock_deadline: Duration::from_secs(1),
            ..OpenOptions::default()
        },
    )
    .unwrap();
    quick
        .book(&c.admin(), &booking(slot, patient))
        .expect("the booking does not wait behind a checkpoint waiting for the reader");
    let sent = request
        .join()
        .unwrap()
        .expect("the request finishes without waiting for the reader");
    assert!(sent.sent, "{sent:?}");
    // the erased text must still leave the -wal file: once the reader is gone,
    // the checkpointer (which retries) empties it
    let wal = frontdesk::storage::db::sibling(&c.path(), "-wal");
    drop(reader);
    let started = std::time::Instant::now();
    while std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) > 0 {
        assert!(
            started.elapsed() < HANG,
            "the write-ahead log still holds the erased message after the reader let go"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- 5. a failed sync tells the truth ------------------------------------------

#[test]
fn a_failed_sync_is_reported_to_every_waiting_caller_and_stops_writes_until_reopened() {
    let c = Clinic::new();
    let doctor = c.doctor("Dr. Weber");
    const DESKS: usize = 8;
    let patients: Vec<i64> = (0..DESKS)
        .map(|i| c.patient(&format!("Patient {i}"), &format!("0151 200000{i:02}")))
        .collect();
    let slots = c.slots(doctor, DESKS);
    let syncs = Arc::new(AtomicU32::new(0));
    let counted = syncs.clone();
    // the first sync fails slowly, so the other desks commit while it runs
    let fault: frontdesk::storage::tx::SyncFault = Arc::new(move || {
        if counted.fetch_add(1, Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(300));
            Err(std::io::Error::other("injected write-back error"))
        } else {
            Ok(())
        }
    });
    let desk = Arc::new(
        Frontdesk::open(
            c.path(),
            OpenOptions {
                clock: c.clock.clone(),
                sync_fault: Some(fault),
                ..OpenOptions::default()
            },
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..DESKS)
        .map(|i| {
            let desk = desk.clone();
            let (slot, patient) = (slots[i], patients[i]);
            std::thread::spawn(move || {
                if i > 0 {
                    std::thread::sleep(Duration::from_millis(50)); // after the first commit
                }
                desk.book(&Actor::local_admin(), &booking(slot, patient))
            })
        })
        .collect();
    let outcomes: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for (i, outcome) in outcomes.iter().enumerate() {
        let e = outcome
            .as_ref()
            .expect_err("no booking is reported saved after (or during) a failed sync");
        assert!(
            e.to_string().contains("error while saving")
                || e.to_string().contains("stopped saving"),
            "desk {i} is told its change may not survive: {e}"
        );
    }
    let stopped = desk
        .add_doctor(&Actor::local_admin(), "Dr. Later", "GP")
        .expect_err("writes stay stopped until the database is reopened");
    assert!(
        stopped.to_string().contains("stopped saving"),
        "says why: {stopped}"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM doctor WHERE name = 'Dr. Later'"),
        0,
        "refused before anything is written, not written and then reported unsaved"
    );
    drop(desk);
    let reopened = c.reopen();
    reopened
        .add_doctor(&Actor::local_admin(), "Dr. Reopened", "GP")
        .expect("a reopened desk writes again");
}
