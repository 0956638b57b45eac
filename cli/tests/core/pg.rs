//! The PostgreSQL backend's guarded writes against a real server: the same
//! refusals as on SQLite (one scenario run on both), the state machine, passcode
//! limits, 32 threads on one slot, 8 processes × 4 threads, desks killed with
//! SIGKILL mid-write, NOTIFY on commit.
//!
//! The server comes from `FRONTDESK_TEST_PG` (a `postgres://` URL of a role that
//! may create databases; `scripts/test.sh` starts a throwaway one). Each test makes
//! its own database. Without the variable the tests say so and pass, unless
//! `FRONTDESK_REQUIRE_PG` is set (the test script sets it), when they fail.

use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use frontdesk::domain::model::AppointmentStatus;
use frontdesk::storage::pg::{PasscodeIssue, PgClinic, SqlState};
use frontdesk::{BookRequest, Error};

use crate::fixture::{Clinic, NOW};

const WORKER_URL: &str = "FRONTDESK_PG_WORKER_URL";
const WORKER_SLOTS: &str = "FRONTDESK_PG_WORKER_SLOTS";
const WORKER_PATIENT: &str = "FRONTDESK_PG_WORKER_PATIENT";
const WORKER_FOREVER: &str = "FRONTDESK_PG_WORKER_FOREVER";

use crate::fixture::server::{server, Use, REQUIRE, SERVER_IN_USE};

/// A fresh database named after the test on the test server, migrated.
struct Db {
    clinic: PgClinic,
    url: String,
    _use: Use,
}

fn fresh(name: &str) -> Option<Db> {
    let admin_url = server()?;
    let shared = Use::Shared(SERVER_IN_USE.read().unwrap_or_else(|p| p.into_inner()));
    Some(fresh_on(&admin_url, name, shared))
}

fn fresh_on(admin_url: &str, name: &str, server_use: Use) -> Db {
    let url = crate::fixture::server::fresh_database(admin_url, name);
    let clinic = PgClinic::connect(&url, 40).expect("connect to the test database");
    assert_eq!(clinic.migrate().expect("migrate"), 6);
    Db {
        clinic,
        url,
        _use: server_use,
    }
}

impl Db {
    fn count(&self, sql: &str) -> i64 {
        self.clinic
            .session()
            .unwrap()
            .query_one(sql, &[])
            .unwrap()
            .get(0)
    }

    /// A doctor with `n` slots starting an hour after [`NOW`], and a patient.
    fn day(&self, n: i64) -> (i64, Vec<i64>, i64) {
        let doctor = self.clinic.add_doctor("Dr. Server", NOW).unwrap();
        let slots = self
            .clinic
            .add_slots(doctor, NOW + 3600, 30, n, NOW)
            .unwrap();
        let patient = self
            .clinic
            .add_patient("Anna Alt", "+4915123456789", NOW)
            .unwrap();
        (doctor, slots, patient)
    }

    /// No slot holds two live ordinary appointments; every appointment has its
    /// first history row and its audit row (nothing half-written).
    fn assert_invariants(&self) {
        assert_eq!(
            self.count(
                "SELECT count(*) FROM (SELECT slot_id FROM appointment
                 WHERE status <> 'CANCELLED' AND NOT overbooked GROUP BY slot_id HAVING count(*) > 1) d"
            ),
            0,
            "a slot is double-booked"
        );
        assert_eq!(
            self.count(
                "SELECT count(*) FROM appointment a WHERE NOT EXISTS
                 (SELECT 1 FROM appointment_status_history h WHERE h.appointment_id = a.id AND h.from_status IS NULL)
                 OR NOT EXISTS (SELECT 1 FROM audit_event e WHERE e.entity_id = a.id AND e.action = 'appointment.book')"
            ),
            0,
            "an appointment without its history or audit row"
        );
        assert_eq!(
            self.count(
                "SELECT count(*) FROM appointment a
                 WHERE a.version <> (SELECT count(*) FROM appointment_status_history h WHERE h.appointment_id = a.id)"
            ),
            0,
            "a status change without its history row"
        );
    }
}

fn request(slot_id: i64, patient_id: i64) -> BookRequest {
    BookRequest {
        slot_id,
        patient_id,
        reason: String::new(),
    }
}

/// The server's refusal and the file's are the same error: code and sentence.
fn assert_refused_alike(case: &str, on_pg: &Error, on_sqlite: &Error) {
    assert_eq!(
        (on_pg.code(), on_pg.to_string()),
        (on_sqlite.code(), on_sqlite.to_string()),
        "{case}: the server and the file refuse alike"
    );
}

#[test]
fn booking_on_the_server_refuses_exactly_as_on_sqlite() {
    let Some(db) = fresh("refusals") else { return };
    let pg = &db.clinic;
    let (doctor, slots, patient) = db.day(4);
    let gone = pg.add_doctor("Dr. Gone", NOW).unwrap();
    let gone_slot = pg.add_slots(gone, NOW + 3600, 30, 1, NOW).unwrap()[0];
    let past = pg.add_slots(doctor, NOW - 7200, 30, 1, NOW).unwrap()[0];
    pg.set_slot_blocked(slots[1], true).unwrap();
    pg.set_doctor_active(gone, false).unwrap();

    let sq = Clinic::new();
    let sq_doctor = sq.doctor("Dr. File");
    let sq_slots = sq.slots(sq_doctor, 2);
    let sq_patient = sq.patient("Anna Alt", "0151 2345 6789");
    let sq_gone = sq.doctor("Dr. Gone");
    let sq_gone_slot = sq.slots(sq_gone, 1)[0];
    let sq_past = sq.slots(sq_doctor, 1)[0];
    sq.desk
        .set_slot_blocked(&sq.admin(), sq_slots[1], true)
        .unwrap();
    sq.desk.deactivate_doctor(&sq.admin(), sq_gone).unwrap();
    let sq_book = |slot, patient| {
        sq.desk
            .book(&sq.receptionist(), &request(slot, patient))
            .map(|a| a.id)
    };
    let pg_book = |slot, patient| pg.book(slot, patient, "", "Rita Desk", NOW).map(|a| a.id);

    assert!(pg_book(slots[0], patient).is_ok() && sq_book(sq_slots[0], sq_patient).is_ok());
    type Case = (&'static str, Result<i64, Error>, Result<i64, Error>);
    let cases: Vec<Case> = vec![
        (
            "taken",
            pg_book(slots[0], patient),
            sq_book(sq_slots[0], sq_patient),
        ),
        (
            "blocked",
            pg_book(slots[1], patient),
            sq_book(sq_slots[1], sq_patient),
        ),
        (
            "doctor inactive",
            pg_book(gone_slot, patient),
            sq_book(sq_gone_slot, sq_patient),
        ),
        (
            "no such slot",
            pg_book(999_999, patient),
            sq_book(999_999, sq_patient),
        ),
        (
            "no such patient",
            pg_book(slots[2], 999_999),
            sq_book(sq_past, 999_999),
        ),
    ];
    for (case, on_pg, on_sqlite) in cases {
        assert_refused_alike(case, &on_pg.unwrap_err(), &on_sqlite.unwrap_err());
    }
    // in the past (the file's clinic clock moves past its slot instead)
    let on_pg = pg_book(past, patient).unwrap_err();
    sq.clock.advance(30 * 24 * 3600);
    let on_sqlite = sq_book(sq_past, sq_patient).unwrap_err();
    assert_refused_alike("past", &on_pg, &on_sqlite);
    assert_eq!(db.count("SELECT count(*) FROM appointment"), 1);
    db.assert_invariants();
}

#[test]
fn status_changes_on_the_server_follow_the_state_machine_defined_in_rust() {
    let Some(db) = fresh("state_machine") else {
        return;
    };
    let pg = &db.clinic;
    let (_, slots, patient) = db.day(40);
    let mut slots = slots.into_iter();
    // every (from, to) pair on its own slot: reach `from` along allowed moves, then try `to`
    let path_to = |to: AppointmentStatus| -> Vec<AppointmentStatus> {
        use AppointmentStatus::*;
        match to {
            Pending => vec![],
            Confirmed => vec![Confirmed],
            Arrived => vec![Arrived],
            Completed => vec![Arrived, Completed],
            Cancelled => vec![Cancelled],
            NoShow => vec![Confirmed, NoShow],
        }
    };
    for from in AppointmentStatus::ALL {
        for to in AppointmentStatus::ALL {
            let id = pg
                .book(slots.next().unwrap(), patient, "", "Rita", NOW)
                .map(|a| a.id)
                .unwrap();
            let mut version = 1;
            for step in path_to(from) {
                version = pg
                    .change_status(id, version, step, "because", "Ada", NOW)
                    .unwrap()
                    .expect("no ledger row: nothing to settle")
                    .version;
            }
            let outcome = pg.change_status(id, version, to, "because", "Ada", NOW);
            if from.can_become(to) {
                let now = outcome.unwrap().expect("no ledger row: nothing to settle");
                assert_eq!(
                    (now.status, now.version),
                    (to, version + 1),
                    "{from} -> {to}"
                );
            } else {
                assert!(
                    matches!(outcome, Err(Error::InvalidTransition { .. })),
                    "{from} -> {to} must be refused: {outcome:?}"
                );
            }
        }
    }
    // the history names each move from its status
    assert_eq!(
        db.count(
            "SELECT count(*) FROM appointment_status_history WHERE from_status = 'ARRIVED' AND to_status = 'COMPLETED'"
        ),
        db.count("SELECT count(*) FROM appointment WHERE status = 'COMPLETED'")
    );
    db.assert_invariants();
}

#[test]
fn a_stale_status_change_on_the_server_is_a_conflict_naming_who_changed_it() {
    let Some(db) = fresh("stale") else { return };
    let pg = &db.clinic;
    let (_, slots, patient) = db.day(1);
    let id = pg
        .book(slots[0], patient, "", "Rita", NOW)
        .map(|a| a.id)
        .unwrap();
    pg.change_status(
        id,
        1,
        AppointmentStatus::Confirmed,
        "",
        "Ada Admin",
        NOW + 5,
    )
    .unwrap();
    let err = pg
        .change_status(id, 1, AppointmentStatus::Cancelled, "ill", "Bob", NOW + 9)
        .unwrap_err();
    match err {
        Error::Conflict {
            changed_by,
            changed_at,
            current,
            ..
        } => assert_eq!(
            (changed_by.as_str(), changed_at, current.as_str()),
            (
                "Ada Admin",
                NOW + 5,
                AppointmentStatus::Confirmed.to_string().as_str()
            )
        ),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        db.count("SELECT count(*) FROM appointment WHERE status = 'CONFIRMED' AND version = 2"),
        1,
        "the stale change clobbered nothing"
    );
}

fn issue<'a>(phone: &'a str, desk: &'a str, now: i64) -> PasscodeIssue<'a> {
    PasscodeIssue {
        phone,
        desk,
        code_hash: "$argon2id$not-a-real-hash",
        body: "Your passcode is 123456.",
        token: "token",
        actor: desk,
        now,
    }
}

#[test]
fn a_phone_has_one_live_passcode_on_the_server_and_the_request_limits_hold() {
    let Some(db) = fresh("passcodes") else { return };
    let pg = &db.clinic;
    let phone = "+4915123456789";
    let mut t = NOW;
    for n in 0..5 {
        pg.request_passcode(&issue(phone, "desk-1", t)).unwrap();
        assert_eq!(db.count("SELECT count(*) FROM otp_code"), 1, "request {n}");
        // the 60 s gap
        match pg.request_passcode(&issue(phone, "desk-2", t + 10)) {
            Err(Error::RateLimited { retry_after_secs }) => assert_eq!(retry_after_secs, 50),
            other => panic!("expected the 60 s gap, got {other:?}"),
        }
        t += 61;
    }
    // five an hour per phone
    assert!(matches!(
        pg.request_passcode(&issue(phone, "desk-1", t)),
        Err(Error::RateLimited { .. })
    ));
    // each message was claimed for sending by the desk that asked (none waits
    // in the queue to be given up), and only the newest code is live
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE status = 'SENDING'"),
        5,
        "each request's message is claimed by the desk that sends it"
    );
    assert_eq!(db.count("SELECT count(*) FROM otp_request"), 5);
}

#[test]
fn thirty_two_threads_request_a_passcode_for_one_phone_and_one_is_issued() {
    let Some(db) = fresh("passcode_race") else {
        return;
    };
    let pg = Arc::new(db.clinic);
    let barrier = Arc::new(Barrier::new(32));
    let handles: Vec<_> = (0..32)
        .map(|i| {
            let (pg, barrier) = (pg.clone(), barrier.clone());
            std::thread::spawn(move || {
                let desk = format!("desk-{i}");
                barrier.wait();
                pg.request_passcode(&issue("+4915100000001", &desk, NOW))
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let issued = results.iter().filter(|r| r.is_ok()).count();
    let limited = results
        .iter()
        .filter(|r| matches!(r, Err(Error::RateLimited { .. })))
        .count();
    assert_eq!((issued, limited), (1, 31), "{results:?}");
    let session = pg
        .session()
        .unwrap()
        .query_one("SELECT count(*) FROM otp_request", &[]);
    assert_eq!(session.unwrap().get::<_, i64>(0), 1);
}

#[test]
fn thirty_two_threads_on_one_slot_on_the_server_exactly_one_wins_every_round() {
    let Some(db) = fresh("one_slot") else { return };
    let (_, slots, patient) = db.day(20);
    let Db {
        clinic, url, _use, ..
    } = db;
    let db_rest = Db {
        clinic: PgClinic::connect(&url, 1).unwrap(),
        url,
        _use,
    };
    let pg = Arc::new(clinic);
    for &slot in &slots {
        let barrier = Arc::new(Barrier::new(32));
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let (pg, barrier) = (pg.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    pg.book(slot, patient, "", &format!("desk-{i}"), NOW)
                        .map(|a| a.id)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let won = results.iter().filter(|r| r.is_ok()).count();
        let taken = results
            .iter()
            .filter(|r| matches!(r, Err(Error::SlotTaken)))
            .count();
        assert_eq!((won, taken), (1, 31), "slot {slot}: {results:?}");
    }
    // the contention figures saw every race
    let book = pg.metrics().get("book").cloned().expect("figures for book");
    assert_eq!((book.count, book.slot_taken), (20, 20 * 31), "{book:?}");
    assert!(
        book.lock_wait.max_us > 0 && book.lock_hold.p50_us > 0,
        "{book:?}"
    );
    let db = Db {
        clinic: Arc::into_inner(pg).unwrap(),
        ..db_rest
    };
    assert_eq!(db.count("SELECT count(*) FROM appointment"), 20);
    db.assert_invariants();
}

/// Starts one worker process of this test binary on `db`: four threads booking
/// and cancelling on `slots`, printing `ack <appointment> <slot>` for each booking
/// the server confirmed and `cancel <appointment>` for each cancellation.
fn worker(db: &Db, slots: &[i64], patient: i64, forever: bool) -> std::process::Child {
    let ids: Vec<String> = slots.iter().map(|s| s.to_string()).collect();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "pg::pg_worker_process",
        "--ignored",
        "--nocapture",
        "--quiet",
    ])
    .env(WORKER_URL, &db.url)
    .env(WORKER_SLOTS, ids.join(","))
    .env(WORKER_PATIENT, patient.to_string())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    if forever {
        cmd.env(WORKER_FOREVER, "1");
    }
    cmd.spawn().expect("start a worker process")
}

#[test]
#[ignore = "a worker process started by the multi-process tests"]
fn pg_worker_process() {
    use std::io::Write;
    let url = std::env::var(WORKER_URL).unwrap();
    let slots: Vec<i64> = std::env::var(WORKER_SLOTS)
        .unwrap()
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let patient: i64 = std::env::var(WORKER_PATIENT).unwrap().parse().unwrap();
    let forever = std::env::var_os(WORKER_FOREVER).is_some();
    let pg = Arc::new(PgClinic::connect(&url, 4).unwrap());
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (pg, out, slots) = (pg.clone(), out.clone(), slots.clone());
            std::thread::spawn(move || {
                let rounds = if forever { usize::MAX } else { 60 };
                for i in 0..rounds {
                    let slot = slots[(i * 7 + t * 3) % slots.len()];
                    match pg
                        .book(slot, patient, "", &format!("worker-{t}"), NOW)
                        .map(|a| a.id)
                    {
                        Ok(id) => {
                            writeln!(out.lock().unwrap(), "ack {id} {slot}").unwrap();
                            if i % 3 == 0 {
                                match pg.change_status(
                                    id,
                                    1,
                                    AppointmentStatus::Cancelled,
                                    "moved",
                                    "w",
                                    NOW,
                                ) {
                                    Ok(_) => writeln!(out.lock().unwrap(), "cancel {id}").unwrap(),
                                    Err(Error::Conflict { .. }) => {}
                                    Err(e) => panic!("cancel: {e}"),
                                }
                            }
                        }
                        Err(Error::SlotTaken) => {}
                        Err(e) => panic!("an error surfaced to a desk: {e}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn acks(text: &str) -> (HashMap<i64, i64>, HashSet<i64>) {
    let mut booked = HashMap::new();
    let mut cancelled = HashSet::new();
    for line in text.lines() {
        let mut words = line.split(' ');
        match (words.next(), words.next(), words.next()) {
            (Some("ack"), Some(id), Some(slot)) => {
                booked.insert(id.parse().unwrap(), slot.parse().unwrap());
            }
            (Some("cancel"), Some(id), None) => {
                cancelled.insert(id.parse().unwrap());
            }
            _ => {}
        }
    }
    (booked, cancelled)
}

/// Every acknowledged booking is on the server with its slot, and every
/// acknowledged cancellation too.
fn assert_acknowledged(db: &Db, booked: &HashMap<i64, i64>, cancelled: &HashSet<i64>) {
    let session = &mut db.clinic.session().unwrap();
    for (&id, &slot) in booked {
        let row = session
            .query_one(
                "SELECT slot_id, status FROM appointment WHERE id = $1",
                &[&id],
            )
            .unwrap_or_else(|e| panic!("acknowledged appointment {id} is missing: {e}"));
        assert_eq!(row.get::<_, i64>(0), slot);
        if cancelled.contains(&id) {
            assert_eq!(row.get::<_, &str>(1), "CANCELLED", "appointment {id}");
        }
    }
}

#[test]
fn eight_processes_of_four_threads_on_the_server_never_double_book_or_lose_an_acknowledged_write() {
    let Some(db) = fresh("processes") else { return };
    let (_, slots, patient) = db.day(24);
    let children: Vec<_> = (0..8)
        .map(|_| worker(&db, &slots, patient, false))
        .collect();
    let mut booked = HashMap::new();
    let mut cancelled = HashSet::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a worker failed: {out:?}");
        let (b, c) = acks(&String::from_utf8_lossy(&out.stdout));
        booked.extend(b);
        cancelled.extend(c);
    }
    let won: HashSet<i64> = booked.values().copied().collect();
    assert_eq!(
        won,
        slots.iter().copied().collect::<HashSet<_>>(),
        "every slot was won at least once"
    );
    assert!(!cancelled.is_empty());
    assert_eq!(
        db.count("SELECT count(*) FROM appointment") as usize,
        booked.len(),
        "exactly the acknowledged bookings exist"
    );
    assert_acknowledged(&db, &booked, &cancelled);
    db.assert_invariants();
}

#[test]
fn desks_killed_mid_write_leave_no_half_booking_on_the_server() {
    let Some(db) = fresh("kill") else { return };
    let (_, slots, patient) = db.day(16);
    let mut booked = HashMap::new();
    let mut cancelled = HashSet::new();
    for round in 0..3 {
        let mut children: Vec<_> = (0..4).map(|_| worker(&db, &slots, patient, true)).collect();
        std::thread::sleep(Duration::from_millis(400 + round * 150));
        for child in &mut children {
            child.kill().unwrap(); // SIGKILL
        }
        for child in children {
            let out = child.wait_with_output().unwrap();
            let (b, c) = acks(&String::from_utf8_lossy(&out.stdout));
            booked.extend(b);
            cancelled.extend(c);
        }
    }
    assert!(
        !booked.is_empty(),
        "the workers booked before they were killed"
    );
    // the killed sessions' transactions rolled back on the server: every row left
    // is whole, and every acknowledged write is there
    assert_acknowledged(&db, &booked, &cancelled);
    db.assert_invariants();
    // and the slots they fought over take new changes: no lock was left behind
    // (a lock of a killed session would hold these past lock_timeout: Busy)
    for &slot in &slots {
        for (id, version) in db.clinic.live_on_slot(slot).unwrap() {
            db.clinic
                .change_status(id, version, AppointmentStatus::Cancelled, "after", "t", NOW)
                .unwrap();
        }
        db.clinic
            .book(slot, patient, "", "after", NOW)
            .map(|a| a.id)
            .unwrap();
    }
    db.assert_invariants();
}

#[test]
fn a_booking_notifies_the_other_desks_when_it_commits() {
    let Some(db) = fresh("notify") else { return };
    let (_, slots, patient) = db.day(2);
    let mut listener = db.clinic.listen().unwrap();
    // a refused booking says nothing
    db.clinic.set_slot_blocked(slots[1], true).unwrap();
    assert!(db
        .clinic
        .book(slots[1], patient, "", "Rita", NOW)
        .map(|a| a.id)
        .is_err());
    let started = Instant::now();
    let id = db
        .clinic
        .book(slots[0], patient, "", "Rita", NOW)
        .map(|a| a.id)
        .unwrap();
    let heard = listener.next(Duration::from_secs(2)).unwrap();
    assert_eq!(heard, Some(format!("appointment {id}")));
    println!(
        "notify: heard the booking {:?} after it was sent",
        started.elapsed()
    );
    // and nothing else: the refused booking sent nothing
    assert_eq!(listener.next(Duration::from_millis(200)).unwrap(), None);
}

#[test]
fn a_server_database_of_a_newer_frontdesk_is_refused() {
    let Some(db) = fresh("newer") else { return };
    db.clinic
        .session()
        .unwrap()
        .batch_execute("INSERT INTO schema_version (version) VALUES (99)")
        .unwrap();
    let err = db.clinic.migrate().unwrap_err();
    assert!(
        err.to_string().contains("newer than this Frontdesk"),
        "{err}"
    );
}

#[test]
fn an_unreachable_server_is_said_plainly() {
    // a port nothing listens on (bound, then closed)
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = PgClinic::connect(&format!("postgres://frontdesk@127.0.0.1:{port}/x"), 1)
        .and_then(|c| c.migrate())
        .unwrap_err();
    assert!(
        err.to_string().contains("clinic server is unreachable"),
        "{err}"
    );
}

#[test]
fn a_server_restart_mid_run_loses_no_acknowledged_booking_and_the_desks_recover() {
    let Some(admin_url) = server() else { return };
    let Some(dir) = std::env::var_os("FRONTDESK_TEST_PG_DIR") else {
        assert!(
            std::env::var_os(REQUIRE).is_none(),
            "FRONTDESK_TEST_PG_DIR (the server's folder, to restart it) is not set"
        );
        return;
    };
    let alone = Use::Alone(SERVER_IN_USE.write().unwrap_or_else(|p| p.into_inner()));
    let db = fresh_on(&admin_url, "restart", alone);
    let (_, slots, patient) = db.day(20_000);
    let pg = Arc::new(PgClinic::connect(&db.url, 8).unwrap());
    let next = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let restarted = Arc::new(AtomicBool::new(false));
    let slots = Arc::new(slots);
    // per desk: (acknowledged (id, slot, after the restart), unconfirmed slots, unreachable count)
    let outcome = Arc::new(Mutex::new((Vec::new(), Vec::new(), 0u32)));
    let desks: Vec<_> = (0..8)
        .map(|d| {
            let (pg, next, stop, restarted, slots, outcome) = (
                pg.clone(),
                next.clone(),
                stop.clone(),
                restarted.clone(),
                slots.clone(),
                outcome.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let slot = slots[next.fetch_add(1, Ordering::Relaxed) as usize];
                    let after = restarted.load(Ordering::Relaxed);
                    let r = pg
                        .book(slot, patient, "", &format!("desk-{d}"), NOW)
                        .map(|a| a.id);
                    let mut o = outcome.lock().unwrap();
                    match r {
                        Ok(id) => o.0.push((id, slot, after)),
                        Err(e) if e.to_string().contains("before it confirmed") => o.1.push(slot),
                        Err(e) if e.to_string().contains("unreachable") => {
                            o.2 += 1;
                            drop(o);
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(e) => panic!("desk {d}: {e}"),
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let restart = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/pg-server.sh"
    ))
    .arg("restart")
    .arg(&dir)
    .output()
    .unwrap();
    assert!(restart.status.success(), "restart: {restart:?}");
    restarted.store(true, Ordering::Relaxed);
    // the desks go on until they have booked again after the restart (a loaded
    // machine may take seconds to let them back in), at most 20 s
    let back = Instant::now() + Duration::from_secs(20);
    while Instant::now() < back && !outcome.lock().unwrap().0.iter().any(|a| a.2) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for d in desks {
        d.join().unwrap();
    }
    let (acked, unconfirmed, unreachable) = std::mem::take(&mut *outcome.lock().unwrap());
    // (the checks read through sessions opened after the restart)
    let db = Db {
        clinic: PgClinic::connect(&db.url, 2).unwrap(),
        ..db
    };
    let after = acked.iter().filter(|a| a.2).count();
    println!(
        "restart: {} bookings acknowledged ({after} after the restart), {} unconfirmed, {unreachable} refused as unreachable",
        acked.len(),
        unconfirmed.len()
    );
    assert!(after > 0, "the desks book again after the restart");
    // every acknowledged booking survived the restart, on its slot
    let booked: HashMap<i64, i64> = acked.iter().map(|&(id, slot, _)| (id, slot)).collect();
    assert_acknowledged(&db, &booked, &HashSet::new());
    // nothing beyond them but, at most, the unconfirmed ones
    let extra = db.count("SELECT count(*) FROM appointment") as usize - booked.len();
    assert!(
        extra <= unconfirmed.len(),
        "{extra} appointments nobody was told of, {} unconfirmed",
        unconfirmed.len()
    );
    db.assert_invariants();
}

#[test]
fn server_setup_makes_a_desk_role_that_books_but_cannot_change_the_schema_or_the_audit_log() {
    let Some(admin_url) = server() else { return };
    let _shared = SERVER_IN_USE.read().unwrap_or_else(|p| p.into_inner());
    let (database, role) = ("fd_setup", "fd_setup_desk");
    let admin = PgClinic::connect(&admin_url, 1).unwrap();
    admin
        .session()
        .unwrap()
        .batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .unwrap();
    let setup = |extra: &[&str]| {
        let out = Command::new(crate::fixture::frontdesk_bin())
            .args(["server", "setup", "--admin-url", &admin_url])
            .args(["--database", database, "--role", role])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let first = setup(&["--new-password"]);
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let host_port = base.rsplit_once('@').unwrap().1;
    let desk_url = format!("postgres://{role}@{host_port}/{database}");
    assert!(first.contains(&desk_url), "{first}");
    let pgpass = first
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&format!("{}:", host_port.split(':').next().unwrap())))
        .expect("a pgpass line");
    assert!(pgpass.contains(&format!(":{database}:{role}:")), "{pgpass}");
    // again: an upgrade that keeps the password
    let again = setup(&[]);
    assert!(
        again.contains("up to date") && again.contains("unchanged"),
        "{again}"
    );

    // (the test server trusts local connections, so the role signs in without the password)
    let desk = PgClinic::connect(&desk_url, 2).unwrap();
    assert_eq!(desk.check_schema().unwrap(), 6);
    let doctor = desk.add_doctor("Dr. Setup", NOW).unwrap();
    let slot = desk.add_slots(doctor, NOW + 3600, 30, 1, NOW).unwrap()[0];
    let patient = desk
        .add_patient("Sam Setup", "+4915199999999", NOW)
        .unwrap();
    let id = desk
        .book(slot, patient, "", "Rita", NOW)
        .map(|a| a.id)
        .unwrap();
    let mut s = desk.session().unwrap();
    // the desks' SERIALIZABLE writes may take their turn
    s.batch_execute("BEGIN; LOCK TABLE write_turn IN EXCLUSIVE MODE; ROLLBACK")
        .unwrap();
    // the log's numbers come from its sequence, whatever an INSERT names
    let placed: i64 = s
        .query_one(
            "INSERT INTO audit_event (id, at, actor, action, entity) OVERRIDING SYSTEM VALUE
             VALUES (999999, 0, 'x', 'x', 'x') RETURNING id",
            &[],
        )
        .or_else(|_| {
            s.query_one(
                "INSERT INTO audit_event (id, at, actor, action, entity)
                 VALUES (999999, 0, 'x', 'x', 'x') RETURNING id",
                &[],
            )
        })
        .unwrap()
        .get(0);
    assert_ne!(placed, 999999);
    for forbidden in [
        "UPDATE audit_event SET actor = 'someone else'".to_string(),
        "DELETE FROM audit_event".into(),
        "TRUNCATE audit_event".into(),
        "UPDATE ledger SET amount_minor = 1".into(),
        "DELETE FROM cash_up".into(),
        "TRUNCATE appointment CASCADE".into(),
        "CREATE TABLE sneaky (x int)".into(),
        // a temporary table would shadow the log inside its guarding triggers
        "CREATE TEMP TABLE audit_event (x int)".into(),
        "DROP TABLE appointment CASCADE".into(),
        "ALTER TABLE appointment DROP CONSTRAINT appointment_slot_id_doctor_id_fkey".into(),
        "DROP INDEX appointment_one_live_per_slot".into(),
        "INSERT INTO schema_version VALUES (3)".into(),
        "SELECT setval('audit_event_id', 10000000)".into(),
        "DROP TRIGGER audit_event_number ON audit_event".into(),
        "CREATE OR REPLACE FUNCTION fd_book(a TEXT) RETURNS int LANGUAGE sql AS 'SELECT 1'".into(),
        // a restore's row is what other PCs accept a shortened log on
        "INSERT INTO audit_event (at, actor, action, entity, detail)
         VALUES (4102444800, 'x', 'backup.restore', 'backup', '')"
            .into(),
    ] {
        let err = s.batch_execute(&forbidden).unwrap_err();
        assert_eq!(
            err.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{forbidden}: {err}"
        );
    }
    assert_eq!(
        s.query_one(
            "SELECT count(*) FROM audit_event WHERE entity_id = $1 AND actor = 'Rita'",
            &[&id]
        )
        .unwrap()
        .get::<_, i64>(0),
        1,
        "the booking's audit row is there, unchanged"
    );
}

/// A sealer reads the whole log only now and then; between, the rows above the
/// newest it saw and the ids it found missing. A row whose transaction stayed
/// open across its rounds, and one whose id was skipped by a rollback, must not
/// make it lose a row.
/// A desk's anchor of the audit chain's head, in a key folder of its own
/// (kept alive by the returned directory).
fn test_anchor(name: &str) -> (tempfile::TempDir, frontdesk::storage::audit_key::AnchorFile) {
    let keys = tempfile::tempdir().unwrap();
    let folder = frontdesk::storage::audit_key::KeyFolder::new(
        keys.path().to_path_buf(),
        std::path::Path::new("/nonexistent/db"),
    )
    .unwrap();
    let anchor = folder.anchor(name).unwrap();
    (keys, anchor)
}

/// An audit row written straight into the log (as a desk's transaction does).
fn audit_row(action: &str) -> String {
    format!(
        "INSERT INTO audit_event (at, actor, action, entity) VALUES ({NOW}, 'test', '{action}', 'x')"
    )
}

#[test]
fn a_row_committed_after_later_rows_were_sealed_is_sealed_by_the_next_round() {
    use frontdesk::storage::audit_key::AuditKey;
    let Some(db) = fresh("audit_late_row") else {
        return;
    };
    let key = AuditKey::random();
    let (_keys, anchor) = test_anchor("pg-audit-late");
    let pg = &db.clinic;
    let mut s = pg.session().unwrap();
    s.batch_execute(&audit_row("first")).unwrap();
    assert_eq!(
        pg.seal_audit(&key, &anchor).unwrap(),
        1,
        "the whole-log round"
    );
    // a desk's transaction takes an id and stays open; one that rolls back
    // takes the next; rows after them commit and are sealed
    let mut open = pg.session().unwrap();
    let mut late = open.transaction().unwrap();
    late.batch_execute(&audit_row("late")).unwrap();
    let mut gone = pg.session().unwrap();
    let mut rolled_back = gone.transaction().unwrap();
    rolled_back
        .batch_execute(&audit_row("rolled back"))
        .unwrap();
    rolled_back.rollback().unwrap();
    s.batch_execute(&audit_row("after")).unwrap();
    assert_eq!(pg.seal_audit(&key, &anchor).unwrap(), 1);
    s.batch_execute(&audit_row("later still")).unwrap();
    assert_eq!(pg.seal_audit(&key, &anchor).unwrap(), 1);
    late.commit().unwrap();
    assert_eq!(pg.seal_audit(&key, &anchor).unwrap(), 1, "the late row");
    assert_eq!(pg.seal_audit(&key, &anchor).unwrap(), 0);
    let verdict = pg.verify_audit(&key, &anchor).unwrap();
    assert_eq!(
        (verdict.sealed, verdict.unsealed, verdict.first_bad_seal),
        (4, 0, None),
        "{verdict:?}"
    );
}

/// A backlog bigger than one sealing round (a log moved in, or desks that
/// wrote while no sealer ran) is sealed in rounds of at most 500 rows, each its
/// own transaction: one transaction for the whole log wrote megabytes of WAL at
/// once, and every desk's commit in that moment waited for its flush. A row of
/// a transaction open across the rounds is sealed once it commits.
#[test]
fn a_backlog_is_sealed_in_bounded_rounds_and_a_row_left_open_across_them_after() {
    use frontdesk::storage::audit_key::AuditKey;
    let Some(db) = fresh("audit_backlog") else {
        return;
    };
    let key = AuditKey::random();
    let (_keys, anchor) = test_anchor("pg-audit-backlog");
    let pg = &db.clinic;
    let rows = |n: i64| {
        format!(
            "INSERT INTO audit_event (at, actor, action, entity)
             SELECT {NOW}, 'test', 'backlog', 'x' FROM generate_series(1, {n})"
        )
    };
    let mut s = pg.session().unwrap();
    s.batch_execute(&rows(300)).unwrap();
    let mut open = pg.session().unwrap();
    let mut late = open.transaction().unwrap();
    late.batch_execute(&audit_row("late")).unwrap();
    s.batch_execute(&rows(900)).unwrap();
    assert_eq!(pg.seal_audit(&key, &anchor).unwrap(), 1200);
    let rounds: Vec<i64> = s
        .query(
            "SELECT count(*) FROM audit_seal GROUP BY xmin::text ORDER BY min(seq)",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rounds, [500, 500, 200], "rows sealed per transaction");
    late.commit().unwrap();
    assert_eq!(pg.seal_audit(&key, &anchor).unwrap(), 1, "the late row");
    let verdict = pg.verify_audit(&key, &anchor).unwrap();
    assert_eq!(
        (verdict.sealed, verdict.unsealed, verdict.first_bad_seal),
        (1201, 0, None),
        "{verdict:?}"
    );
}

/// Two desks whose PCs have the key seal one backlog at once, round by round
/// (their rounds take turns, one chunk each): every row is sealed once, in one
/// chain that verifies from the first seal, while a third desk keeps writing.
#[test]
fn two_desks_sealing_one_backlog_in_rounds_seal_every_row_once_in_one_chain() {
    use frontdesk::storage::audit_key::AuditKey;
    let Some(db) = fresh("audit_backlog_two") else {
        return;
    };
    let key = AuditKey::random();
    let (_keys_a, anchor_a) = test_anchor("pg-audit-two-a");
    let (_keys_b, anchor_b) = test_anchor("pg-audit-two-b");
    db.clinic
        .session()
        .unwrap()
        .batch_execute(
            "INSERT INTO audit_event (at, actor, action, entity)
             SELECT 1, 'test', 'backlog', 'x' FROM generate_series(1, 2400)",
        )
        .unwrap();
    let sealed = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let desk = PgClinic::connect(&db.url, 1).unwrap();
            for i in 0..200 {
                desk.session()
                    .unwrap()
                    .batch_execute(&audit_row(&format!("meanwhile {i}")))
                    .unwrap();
            }
        });
        let sealers: Vec<_> = [&anchor_a, &anchor_b]
            .into_iter()
            .map(|anchor| {
                let (key, url) = (&key, &db.url);
                scope.spawn(move || {
                    let desk = PgClinic::connect(url, 2).unwrap();
                    desk.seal_audit(key, anchor).unwrap()
                })
            })
            .collect();
        writer.join().unwrap();
        sealers.into_iter().map(|t| t.join().unwrap()).sum::<u64>()
    });
    // what the writer wrote after both had finished is left to the next round
    let rest = db.clinic.seal_audit(&key, &anchor_a).unwrap();
    assert_eq!(sealed + rest, 2600, "every row sealed once");
    let s = &mut db.clinic.session().unwrap();
    let twice: i64 = s
        .query_one(
            "SELECT count(*) FROM (SELECT event_id FROM audit_seal GROUP BY event_id
                                   HAVING count(*) > 1) d",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(twice, 0);
    for anchor in [&anchor_a, &anchor_b] {
        let verdict = db.clinic.verify_audit(&key, anchor).unwrap();
        assert_eq!(
            (verdict.sealed, verdict.unsealed, verdict.first_bad_seal),
            (2600, 0, None),
            "{verdict:?}"
        );
        assert!(!verdict.anchored_seal_missing, "{verdict:?}");
    }
}

/// A restore puts a new database in the clinic's place, whose audit ids start
/// again below where a running desk's sealer had got to: its next round must
/// read the whole new log, not only the ids above its old newest.
#[test]
fn a_sealer_that_sealed_before_a_restore_seals_the_restored_database_next_round() {
    use frontdesk::storage::audit_key::AuditKey;
    let Some(admin_url) = server() else { return };
    let Some(db) = fresh("audit_cursor_restore") else {
        return;
    };
    let key = AuditKey::random();
    let (_keys, anchor) = test_anchor("pg-audit-restore");
    let desk = PgClinic::connect(&db.url, 2).unwrap();
    for i in 0..5 {
        desk.session()
            .unwrap()
            .batch_execute(&audit_row(&format!("before {i}")))
            .unwrap();
    }
    assert_eq!(desk.seal_audit(&key, &anchor).unwrap(), 5);
    // the database replaced by one with a shorter log, and this PC's anchor
    // moved to it (as the restoring PC's restore does)
    let url = crate::fixture::server::fresh_database(&admin_url, "audit_cursor_restore");
    let restored = PgClinic::connect(&url, 2).unwrap();
    restored.migrate().unwrap();
    let mut s = restored.session().unwrap();
    s.batch_execute(&audit_row("restored")).unwrap();
    let (_other_keys, restorer) = test_anchor("pg-audit-restorer");
    assert_eq!(restored.seal_audit(&key, &restorer).unwrap(), 1);
    let head = restorer.read().unwrap().unwrap();
    anchor.reset(0, head.head_id, &head.head_hash).unwrap();
    s.batch_execute(&audit_row("after the restore")).unwrap();
    s.batch_execute(&audit_row("and another")).unwrap();
    // the desk's pooled sessions to the replaced database were ended: passed
    // over here, as the desk's next calls do (a failed round would clear the
    // sealer's cursor and so hide what this test looks at)
    for _ in 0..3 {
        if let Ok(mut s) = desk.session() {
            if s.batch_execute("SELECT 1").is_ok() {
                break;
            }
        }
    }
    assert_eq!(
        desk.seal_audit(&key, &anchor).unwrap(),
        2,
        "the rows of the new database, below the old newest id"
    );
}

#[test]
fn the_audit_log_is_sealed_while_desks_write_and_any_change_to_a_sealed_row_shows() {
    use frontdesk::storage::audit_key::AuditKey;
    let Some(db) = fresh("audit_seal") else {
        return;
    };
    let (_, slots, patient) = db.day(400);
    let key = AuditKey::random();
    // the desk's anchor of the chain's head, outside the server
    let (_keys, anchor) = test_anchor("pg-audit-test");
    let anchor = Arc::new(anchor);
    let pg = Arc::new(db.clinic);
    let stop = Arc::new(AtomicBool::new(false));
    // a sealer runs beside eight booking desks
    let sealer = {
        let (pg, stop, key, anchor) = (pg.clone(), stop.clone(), key.clone(), anchor.clone());
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) {
                pg.seal_audit(&key, &anchor).unwrap();
                rounds += 1;
            }
            rounds
        })
    };
    let slots = Arc::new(slots);
    let desks: Vec<_> = (0..8)
        .map(|d| {
            let (pg, slots) = (pg.clone(), slots.clone());
            std::thread::spawn(move || {
                for slot in slots.iter().skip(d).step_by(8) {
                    pg.book(*slot, patient, "", &format!("desk-{d}"), NOW)
                        .map(|a| a.id)
                        .unwrap();
                }
            })
        })
        .collect();
    for d in desks {
        d.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = sealer.join().unwrap();
    pg.seal_audit(&key, &anchor).unwrap();
    let verdict = pg.verify_audit(&key, &anchor).unwrap();
    println!("audit: {rounds} sealing rounds beside the desks; {verdict:?}");
    assert_eq!(
        (
            verdict.sealed,
            verdict.unsealed,
            verdict.first_bad_seal,
            verdict.anchored_seal_missing
        ),
        (400, 0, None, false)
    );
    // another key does not verify
    assert_eq!(
        pg.verify_audit(&AuditKey::random(), &anchor)
            .unwrap()
            .first_bad_seal,
        Some(1)
    );

    // someone with the server's own rights changes a sealed row, then removes a seal
    let db = Db {
        clinic: Arc::into_inner(pg).unwrap(),
        url: db.url,
        _use: db._use,
    };
    let seal_of = |event: i64| -> i64 {
        db.clinic
            .session()
            .unwrap()
            .query_one("SELECT seq FROM audit_seal WHERE event_id = $1", &[&event])
            .unwrap()
            .get(0)
    };
    let mut s = db.clinic.session().unwrap();
    let actor: String = s
        .query_one("SELECT actor FROM audit_event WHERE id = 200", &[])
        .unwrap()
        .get(0);
    s.batch_execute("UPDATE audit_event SET actor = 'someone else' WHERE id = 200")
        .unwrap();
    assert_eq!(
        db.clinic
            .verify_audit(&key, &anchor)
            .unwrap()
            .first_bad_seal,
        Some(seal_of(200))
    );
    s.execute(
        "UPDATE audit_event SET actor = $1 WHERE id = 200",
        &[&actor],
    )
    .unwrap();
    assert_eq!(
        db.clinic
            .verify_audit(&key, &anchor)
            .unwrap()
            .first_bad_seal,
        None
    );
    let removed = seal_of(100);
    s.batch_execute(&format!("DELETE FROM audit_seal WHERE seq = {removed}"))
        .unwrap();
    let verdict = db.clinic.verify_audit(&key, &anchor).unwrap();
    assert_eq!(verdict.first_bad_seal, Some(removed + 1), "{verdict:?}");
    assert_eq!(verdict.unsealed, 1);
    // the newest rows removed together with their seals: the chain that is left
    // verifies, but the anchor's seal is gone
    s.batch_execute(
        "DELETE FROM audit_seal WHERE seq > (SELECT max(seq) - 3 FROM audit_seal);
         DELETE FROM audit_event e WHERE NOT EXISTS (SELECT 1 FROM audit_seal s WHERE s.event_id = e.id)
           AND e.id > 390",
    )
    .unwrap();
    let verdict = db.clinic.verify_audit(&key, &anchor).unwrap();
    assert!(verdict.anchored_seal_missing, "{verdict:?}");
}

#[test]
fn a_desk_asking_for_tls_checks_the_server_certificate_against_the_clinic_ca() {
    let Some(admin_url) = server() else { return };
    let Some(dir) = std::env::var_os("FRONTDESK_TEST_PG_DIR") else {
        assert!(
            std::env::var_os(REQUIRE).is_none(),
            "FRONTDESK_TEST_PG_DIR is not set"
        );
        return;
    };
    let _shared = SERVER_IN_USE.read().unwrap_or_else(|p| p.into_inner());
    let ca = std::path::Path::new(&dir).join("ca.crt");
    let encrypted = |url: String| -> Result<bool, Error> {
        let clinic = PgClinic::connect(&url, 1)?;
        let on = clinic
            .session()?
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .unwrap()
            .get(0);
        Ok(on)
    };
    // the clinic's CA named: TLS, verified
    assert!(encrypted(format!(
        "{admin_url}?sslmode=require&sslrootcert={}",
        ca.display()
    ))
    .unwrap());
    // without it the server's certificate is not trusted: no session at all
    let err = encrypted(format!("{admin_url}?sslmode=require")).unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
    // a CA file that is not one is refused before anything is sent
    let err = encrypted(format!(
        "{admin_url}?sslmode=require&sslrootcert={}",
        std::path::Path::new(&dir).join("log").display()
    ))
    .unwrap_err();
    assert!(err.to_string().contains("CA certificate"), "{err}");
    // on this PC without asking: plain, also over the server's local socket
    // (which has no host name for the TLS connector)
    let port = admin_url
        .rsplit_once(':')
        .unwrap()
        .1
        .split('/')
        .next()
        .unwrap();
    let socket = format!(
        "postgres:///postgres?host={}&port={port}&user=frontdesk",
        std::path::Path::new(&dir).display()
    );
    assert!(!encrypted(socket).unwrap());
    assert!(!encrypted(admin_url).unwrap());
}

#[test]
fn concurrent_bookings_and_cancellations_on_the_server_are_linearizable() {
    use frontdesk_proof::linearizability::{check_slots, Event, SlotOp, SlotRet};
    use rand::Rng;
    let Some(db) = fresh("linearizable") else {
        return;
    };
    let (_, slots, patient) = db.day(3);
    // two desks: two pools, as two desk PCs would have
    let desks = [
        PgClinic::connect(&db.url, 4).unwrap(),
        PgClinic::connect(&db.url, 4).unwrap(),
    ];
    let clock = std::sync::atomic::AtomicU64::new(0);
    let history: Mutex<Vec<Event<(i64, SlotOp), SlotRet>>> = Mutex::new(Vec::new());
    let seen = |on: &[(i64, i64)]| match on {
        [] => SlotRet::Holder(None),
        [(a, _)] => SlotRet::Holder(Some(*a)),
        [(a, _), (b, _), ..] => SlotRet::Holders(*a, *b),
    };
    std::thread::scope(|s| {
        for thread in 0..8usize {
            let (desk, clock, history, slots, seen) =
                (&desks[thread % 2], &clock, &history, &slots, &seen);
            s.spawn(move || {
                let mut rng = rand::rng();
                let mut mine = Vec::new();
                for _ in 0..120 {
                    let slot = slots[rng.random_range(0..slots.len())];
                    let roll = rng.random_range(0..100);
                    let (invoked, op, ret) = if roll < 45 {
                        let invoked = clock.fetch_add(1, Ordering::SeqCst);
                        let ret = match desk.book(slot, patient, "", "lin", NOW).map(|a| a.id) {
                            Ok(id) => SlotRet::Booked(id),
                            Err(Error::SlotTaken) => SlotRet::Taken,
                            Err(e) => panic!("booking failed unexpectedly: {e:?}"),
                        };
                        (invoked, SlotOp::Book, ret)
                    } else if roll < 80 {
                        // cancel what this desk last saw, on the version it saw
                        let Some(&(id, version)) = desk.live_on_slot(slot).unwrap().first() else {
                            continue;
                        };
                        let invoked = clock.fetch_add(1, Ordering::SeqCst);
                        let ret = match desk.change_status(
                            id,
                            version,
                            AppointmentStatus::Cancelled,
                            "lin",
                            "lin",
                            NOW,
                        ) {
                            Ok(_) => SlotRet::Cancelled,
                            Err(Error::Conflict { .. } | Error::InvalidTransition { .. }) => {
                                SlotRet::NotLive
                            }
                            Err(e) => panic!("cancelling failed unexpectedly: {e:?}"),
                        };
                        (invoked, SlotOp::Cancel(id), ret)
                    } else {
                        let invoked = clock.fetch_add(1, Ordering::SeqCst);
                        (
                            invoked,
                            SlotOp::Look,
                            seen(&desk.live_on_slot(slot).unwrap()),
                        )
                    };
                    let returned = clock.fetch_add(1, Ordering::SeqCst);
                    mine.push(Event {
                        thread,
                        invoked,
                        returned,
                        op: (slot, op),
                        ret,
                    });
                }
                history.lock().unwrap().extend(mine);
            });
        }
    });
    let history = history.into_inner().unwrap();
    let taken = history.iter().filter(|e| e.ret == SlotRet::Taken).count();
    let stale = history.iter().filter(|e| e.ret == SlotRet::NotLive).count();
    assert!(
        taken > 0 && stale > 0,
        "the threads really race (taken {taken}, stale {stale})"
    );
    if let Err(why) = check_slots(history) {
        panic!("{why}");
    }
    db.assert_invariants();
}

#[test]
fn a_passcode_on_the_server_is_used_once_its_attempts_are_capped_and_guesses_count_per_day() {
    use frontdesk::storage::pg::NoCode;
    let Some(db) = fresh("passcode_verify") else {
        return;
    };
    let pg = &db.clinic;
    let phone = "+4915123450000";
    pg.add_patient("Vera Verify", phone, NOW).unwrap();
    pg.request_passcode(&issue(phone, "desk-1", NOW)).unwrap();
    let reserved = pg
        .reserve_passcode_attempt(phone, NOW + 5)
        .unwrap()
        .unwrap();
    assert_eq!(reserved.attempts, 1);
    // the right code: used up once, the patient verified; a second desk with the
    // same reservation loses
    assert!(pg
        .consume_passcode(phone, &reserved, "Rita", NOW + 6)
        .unwrap());
    assert!(!pg
        .consume_passcode(phone, &reserved, "Bob", NOW + 6)
        .unwrap());
    assert_eq!(
        db.count("SELECT count(*) FROM patient WHERE phone_verified_at IS NOT NULL"),
        1
    );
    assert_eq!(
        pg.reserve_passcode_attempt(phone, NOW + 7)
            .unwrap()
            .unwrap_err(),
        NoCode::Missing
    );

    // 32 desks guess at once on a new code: exactly five attempts are had
    pg.request_passcode(&issue(phone, "desk-1", NOW + 61))
        .unwrap();
    let barrier = Barrier::new(32);
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..32)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    pg.reserve_passcode_attempt(phone, NOW + 70).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let reserved = outcomes.iter().filter(|o| o.is_ok()).count();
    let exhausted = outcomes
        .iter()
        .filter(|o| matches!(o, Err(NoCode::Exhausted)))
        .count();
    assert_eq!((reserved, exhausted), (5, 27));
    // a code past its time
    assert_eq!(
        pg.reserve_passcode_attempt(phone, NOW + 61 + 301)
            .unwrap()
            .unwrap_err(),
        NoCode::Expired
    );

    // ten failed guesses in a day (the five above, five more logged) stop the
    // next attempt, whatever the code
    pg.request_passcode(&issue(phone, "desk-1", NOW + 122))
        .unwrap();
    pg.session()
        .unwrap()
        .execute(
            "INSERT INTO otp_attempt (phone, attempted_at) SELECT $1, $2 FROM generate_series(1, 5)",
            &[&phone, &(NOW + 100)],
        )
        .unwrap();
    assert!(matches!(
        pg.reserve_passcode_attempt(phone, NOW + 130),
        Err(Error::RateLimited { .. })
    ));
}

#[test]
fn status_changes_on_the_server_refuse_exactly_as_on_sqlite() {
    let Some(db) = fresh("status_refusals") else {
        return;
    };
    let pg = &db.clinic;
    let (_, slots, patient) = db.day(1);
    let slot = slots[0];
    let sq = Clinic::new();
    let sq_doctor = sq.doctor("Dr. File");
    let sq_slot = sq.slots(sq_doctor, 1)[0];
    let sq_patient = sq.patient("Anna Alt", "0151 2345 6789");
    let (admin, desk) = (sq.admin(), sq.receptionist());
    // the same people and times on both: the server is told the desk's label and clock
    let sq_a = sq
        .desk
        .book(&desk, &request(sq_slot, sq_patient))
        .unwrap()
        .id;
    let pg_a = pg
        .book(slot, patient, "", &desk.label(), NOW)
        .map(|a| a.id)
        .unwrap();
    sq.desk
        .change_status(&admin, sq_a, 1, AppointmentStatus::Confirmed, "")
        .unwrap();
    pg.change_status(
        pg_a,
        1,
        AppointmentStatus::Confirmed,
        "",
        &admin.label(),
        NOW,
    )
    .unwrap();
    // a stale version, then a move the state machine forbids
    let stale = (
        sq.desk
            .change_status(&desk, sq_a, 1, AppointmentStatus::Arrived, "")
            .unwrap_err(),
        pg.change_status(pg_a, 1, AppointmentStatus::Arrived, "", &desk.label(), NOW)
            .unwrap_err(),
    );
    let forbidden = (
        sq.desk
            .change_status(&admin, sq_a, 2, AppointmentStatus::Pending, "")
            .unwrap_err(),
        pg.change_status(pg_a, 2, AppointmentStatus::Pending, "", &admin.label(), NOW)
            .unwrap_err(),
    );
    let missing = (
        sq.desk
            .change_status(&admin, 999_999, 1, AppointmentStatus::Arrived, "")
            .unwrap_err(),
        pg.change_status(
            999_999,
            1,
            AppointmentStatus::Arrived,
            "",
            &admin.label(),
            NOW,
        )
        .unwrap_err(),
    );
    for (case, (on_sqlite, on_pg)) in [
        ("stale", stale),
        ("forbidden", forbidden),
        ("missing", missing),
    ] {
        assert_refused_alike(case, &on_pg, &on_sqlite);
    }
}

/// The rows of each clinic table in `desk`'s file.
fn file_counts(desk: &frontdesk::Frontdesk) -> Vec<(String, u64)> {
    desk.read(frontdesk::storage::pg::move_in::file_counts)
        .unwrap()
        .into_iter()
        .map(|t| (t.table, t.rows))
        .collect()
}

fn server_counts(db: &Db) -> Vec<(String, u64)> {
    db.clinic
        .table_counts()
        .unwrap()
        .into_iter()
        .map(|t| (t.table, t.rows))
        .collect()
}

#[test]
fn a_clinic_file_moves_to_the_server_whole_and_then_takes_no_more_changes() {
    use frontdesk::{NewTemplate, NewTimeOff, SlotMode, TimeRange};
    let Some(db) = fresh("move_in") else {
        return;
    };
    let Clinic {
        desk, clock, dir, ..
    } = Clinic::new();
    let path = desk.path().to_path_buf();
    let admin = frontdesk::Actor::local_admin();
    desk.create_demo_clinic(&admin).unwrap();
    // rows in the tables the demo leaves empty: a template, time off, a passcode
    let doctor = desk.list_doctors(&admin, false).unwrap()[0].id;
    desk.add_template(
        &admin,
        &NewTemplate {
            doctor_id: doctor,
            weekday: 6,
            start: "08:00".into(),
            end: "12:00".into(),
            slot_minutes: 20,
            mode: SlotMode::InPerson,
            breaks: vec![TimeRange {
                start: "10:00".into(),
                end: "10:20".into(),
            }],
        },
    )
    .unwrap();
    desk.add_time_off(
        &admin,
        &NewTimeOff {
            doctor_id: Some(doctor),
            from_date: "2031-08-01".into(),
            to_date: "2031-08-14".into(),
            hours: None,
            note: "Summer\ttab \\ backslash\nnew line".into(),
        },
    )
    .unwrap();
    desk.request_otp(&admin, "+4915123456789").unwrap();
    desk.verify_otp(&admin, "+4915123456789", "000000")
        .unwrap_err();
    desk.add_staff(
        &admin,
        &frontdesk::NewStaff {
            username: "rita".into(),
            display_name: "Rita Receptionist".into(),
            role: frontdesk::Role::Receptionist,
            password: crate::fixture::PASSWORD.into(),
        },
    )
    .unwrap();
    // a failed sign-in under a name with no account
    frontdesk::service::session::SessionStore::new()
        .login(&desk, "nobody", "wrong password")
        .unwrap_err();
    desk.waitlist_add(
        &admin,
        &frontdesk::NewWaitlistEntry {
            patient_id: 1,
            doctor_id: doctor,
            from_date: None,
            to_date: None,
            hours: None,
            note: String::new(),
        },
    )
    .unwrap();
    let before = file_counts(&desk);
    let report = desk.move_to_server(&admin, &db.url).unwrap();
    let moved: Vec<(String, u64)> = report
        .tables
        .iter()
        .map(|t| (t.table.clone(), t.rows))
        .collect();
    assert_eq!(moved, before, "every table, every row");
    assert!(!report.already_there);
    let empty: Vec<&str> = moved
        .iter()
        .filter(|t| t.1 == 0)
        .map(|t| t.0.as_str())
        .collect();
    println!("moved {moved:?}; empty: {empty:?}");
    for table in [
        "setting",
        "staff",
        "sign_in_throttle",
        "otp_attempt",
        "waitlist_entry",
        "slot",
        "appointment",
        "ledger",
        "schedule_template_break",
        "time_off",
        "otp_code",
        "outbox",
        "audit_event",
    ] {
        assert!(!empty.contains(&table), "{table} had rows to move");
    }
    // on the server: the same counts, plus the move's own audit row, all sealed
    let mut on_server = server_counts(&db);
    let log = on_server.iter_mut().find(|t| t.0 == "audit_event").unwrap();
    log.1 -= 1;
    assert_eq!(on_server, before);
    assert_eq!(
        db.count("SELECT count(*) FROM audit_seal"),
        db.count("SELECT count(*) FROM audit_event")
    );
    assert_eq!(
        report.audit_sealed as i64,
        db.count("SELECT count(*) FROM audit_event")
    );
    // the audit key's copy stayed in the file; text came over byte for byte
    assert_eq!(
        db.count("SELECT count(*) FROM setting WHERE key LIKE '%audit_key%'"),
        0
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM time_off WHERE note = E'Summer\\ttab \\\\ backslash\\nnew line'"
        ),
        1
    );
    // new rows on the server continue after the moved ones
    let moved_max = db.count("SELECT max(id) FROM appointment");
    let free: i64 = db.count(&format!(
        "SELECT min(s.id) FROM slot s WHERE s.start_at > {NOW} + 86400 AND NOT s.blocked
               AND NOT EXISTS (SELECT 1 FROM appointment a WHERE a.slot_id = s.id)"
    ));
    let booked = db
        .clinic
        .book(free, 1, "", "Rita", NOW)
        .map(|a| a.id)
        .unwrap();
    assert!(booked > moved_max, "{booked} after {moved_max}");

    // the file: still readable, but no desk can carry on writing in it
    let desk = crate::fixture::open_at(&path, clock);
    assert!(!desk.list_doctors(&admin, false).unwrap().is_empty());
    let refused = desk.add_doctor(&admin, "Dr. Late", "").unwrap_err();
    assert!(
        matches!(&refused, Error::Unusable(m) if m.contains("moved to its server")),
        "{refused:?}"
    );
    let again = desk.move_to_server(&admin, &db.url).unwrap_err();
    assert!(
        matches!(&again, Error::Unusable(m) if m.contains("moved to its server")),
        "{again:?}"
    );

    // another clinic is not moved into a server that holds one
    let (_other_dir, _, other) = crate::fixture::plain_demo_clinic();
    let before = server_counts(&db);
    let refused = other.move_to_server(&admin, &db.url).unwrap_err();
    assert!(refused.to_string().contains("another clinic"), "{refused}");
    assert_eq!(server_counts(&db), before, "nothing changed on the server");
    drop(dir);
}

#[test]
fn a_clinic_file_that_fails_its_check_is_not_moved() {
    let Some(db) = fresh("move_refused") else {
        return;
    };
    let (_dir, path, desk) = crate::fixture::plain_demo_clinic();
    // a status changed behind the app's back: no longer its last history entry
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE appointment SET status = 'CANCELLED' WHERE id = (SELECT min(id) FROM appointment WHERE status <> 'CANCELLED')",
            [],
        )
        .unwrap();
    let admin = frontdesk::Actor::local_admin();
    let before = server_counts(&db);
    let refused = desk.move_to_server(&admin, &db.url).unwrap_err();
    assert!(
        refused.to_string().contains("does not pass its check"),
        "{refused}"
    );
    assert_eq!(server_counts(&db), before, "nothing copied");
    assert!(
        before.iter().all(|t| t.1 == 0 || t.0 == "setting"),
        "an empty clinic database (its own clinic.id only): {before:?}"
    );
    // and the file was not marked: it still takes changes
    let desk = frontdesk::Frontdesk::open_default(&path).unwrap();
    desk.add_doctor(&admin, "Dr. Still Here", "").unwrap();
}

#[test]
fn a_desk_on_the_server_seals_the_audit_log_behind_its_writes() {
    use frontdesk::storage::audit_key::KeyFolder;
    let Some(c) = Clinic::on_server("sealer") else {
        return;
    };
    let doctor = c.doctor("Dr. Seal");
    let patient = c.patient("Sam Seal", "0151 2345 6789");
    for slot in c.slots(doctor, 5) {
        c.desk
            .book(&c.receptionist(), &request(slot, patient))
            .unwrap();
    }
    let events = c.count("SELECT count(*) FROM audit_event");
    let deadline = Instant::now() + frontdesk::storage::pg::audit::SEAL_EVERY * 5;
    while c.count("SELECT count(*) FROM audit_seal") < events {
        assert!(
            Instant::now() < deadline,
            "the desk's sealer never sealed the log"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (admin, _) = c.server.as_ref().unwrap();
    let clinic: String = admin
        .session()
        .unwrap()
        .query_one("SELECT value FROM setting WHERE key = 'clinic.id'", &[])
        .unwrap()
        .get(0);
    let keys = KeyFolder::for_server(KeyFolder::default_dir());
    let key = keys
        .load(&clinic)
        .unwrap()
        .expect("the desk made the clinic's key");
    let verdict = admin
        .verify_audit(&key, &keys.server_anchor(&clinic).unwrap())
        .unwrap();
    assert_eq!(
        (
            verdict.sealed as i64,
            verdict.first_bad_seal,
            verdict.anchored_seal_missing
        ),
        (events, None, false),
        "{verdict:?}"
    );
}

#[test]
fn a_desk_on_the_server_hears_another_desks_booking_at_once() {
    let Some(c) = Clinic::on_server("hears") else {
        return;
    };
    let doctor = c.doctor("Dr. Heard");
    let slots = c.slots(doctor, 10);
    let patient = c.patient("Hana Heard", "0151 2345 6789");
    let other = c.reopen();
    let probe = c.desk.data_version_probe().unwrap();
    let (heard, hear) = std::sync::mpsc::channel();
    assert!(probe.on_change(move || {
        let _ = heard.send(Instant::now());
    }));
    let deadline = Instant::now() + Duration::from_secs(10);
    while probe.data_version().unwrap() == 0 {
        assert!(
            Instant::now() < deadline,
            "the desk never started listening"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    while hear.try_recv().is_ok() {}
    let mut delays = Vec::new();
    for slot in slots {
        let before = probe.data_version().unwrap();
        let committed = Instant::now();
        other
            .book(&c.receptionist(), &request(slot, patient))
            .unwrap();
        let at = hear
            .recv_timeout(Duration::from_secs(5))
            .expect("the other desk's booking is heard");
        delays.push(at.saturating_duration_since(committed));
        assert!(probe.data_version().unwrap() > before);
        while hear.try_recv().is_ok() {}
    }
    delays.sort();
    println!(
        "another desk's booking heard after (commit started to heard): median {:?}, max {:?}",
        delays[delays.len() / 2],
        delays[delays.len() - 1]
    );
}

/// A payment of 10.00 written straight to the ledger inside a server
/// transaction, as a payment service writes it (`store::append`), for
/// appointment `a` of `patient`.
fn pay_ten(tx: &frontdesk::storage::pg::ServerTx, a: i64, patient: i64) -> frontdesk::Result<i64> {
    use frontdesk::domain::payments::{LedgerKind, PaymentMethod};
    use frontdesk::storage::payments::{append, NewEntry};
    Ok(append(
        &frontdesk::storage::Conn::Server(tx),
        &NewEntry {
            appointment_id: a,
            patient_id: patient,
            kind: LedgerKind::Payment,
            amount_minor: 1000,
            currency: "EUR",
            method: Some(PaymentMethod::Cash),
            reference: "",
            refund_of: None,
            reason: "",
            receipt_year: Some(2030),
            desk: "test",
            actor: "test",
            now: NOW,
            day: "2030-01-07",
        },
    )?)
}

/// A booked appointment without ledger rows, cancelled in time by the clinic's
/// policy (a deposit would be refunded): (clinic, appointment, patient).
fn unpaid_appointment(name: &str) -> Option<(Clinic, i64, i64)> {
    let c = Clinic::on_server(name)?;
    // the slots start in an hour: with no hours counted as late, a cancellation
    // now is in time and refunds what was paid
    c.desk
        .set_setting(&c.admin(), "payments.late_cancel_hours", "0")
        .unwrap();
    let slot = c.slots(c.doctor("Dr. Ledger"), 1)[0];
    let patient = c.patient("Lea Ledger", "0151 2345 0101");
    let a = c
        .desk
        .book(&c.receptionist(), &request(slot, patient))
        .unwrap()
        .id;
    Some((c, a, patient))
}

#[test]
fn a_desk_cancelling_while_a_payment_is_written_waits_for_it_and_refunds_it() {
    // A cancellation of an appointment without ledger rows is one READ
    // COMMITTED call that looks for them under the appointment row's lock. A
    // payment written in a transaction still open holds a lock on that row
    // (its foreign key's), so the cancellation waits, then finds the payment
    // and settles it.
    let Some((c, a, patient)) = unpaid_appointment("cancel_waits_for_payment") else {
        return;
    };
    let (pg, _) = c.server.as_ref().unwrap();
    let (written, heard) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let payer = s.spawn(|| {
            pg.transact("payment", false, |tx| {
                let id = pay_ten(tx, a, patient)?;
                let _ = written.send(());
                std::thread::sleep(Duration::from_millis(300));
                Ok(id)
            })
        });
        heard.recv().unwrap();
        c.desk
            .change_status(&c.admin(), a, 1, AppointmentStatus::Cancelled, "called off")
            .unwrap();
        payer.join().unwrap().expect("the payment commits first");
    });
    let account = c.desk.appointment_account(&c.admin(), a).unwrap();
    assert_eq!(
        (account.balance.paid, account.balance.refunded),
        (1000, 1000),
        "the cancellation refunds the payment made before it: {:?}",
        account.entries
    );
}

/// Runs `write` in a SERIALIZABLE transaction on the server that reads
/// appointment `a` first; on its first attempt a desk cancels `a` (in one call:
/// no ledger row) after that read and before `write`. `write` gets the
/// appointment as the attempt read it. Its outcome, and the attempts made.
fn after_a_cancellation_it_did_not_see<T: Send>(
    c: &Clinic,
    a: i64,
    write: impl Fn(&frontdesk::storage::pg::ServerTx, &frontdesk::Appointment) -> frontdesk::Result<T>
        + Sync,
) -> (frontdesk::Result<T>, i64) {
    let (pg, _) = c.server.as_ref().unwrap();
    let (read, heard) = std::sync::mpsc::channel();
    let (cancelled, go_on) = std::sync::mpsc::channel();
    let attempts = &AtomicI64::new(0);
    let write = &write;
    let outcome = std::thread::scope(|s| {
        let writer = s.spawn(move || {
            pg.transact("write", false, |tx| {
                let conn = frontdesk::storage::Conn::Server(tx);
                let now = frontdesk::storage::appointments::get(&conn, a)?.unwrap();
                if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                    read.send(()).unwrap();
                    go_on.recv().unwrap();
                }
                write(tx, &now)
            })
        });
        heard.recv().unwrap();
        c.desk
            .change_status(&c.admin(), a, 1, AppointmentStatus::Cancelled, "called off")
            .unwrap();
        cancelled.send(()).unwrap();
        writer.join().unwrap()
    });
    (outcome, attempts.load(Ordering::SeqCst))
}

#[test]
fn a_payment_whose_snapshot_predates_a_desk_s_cancellation_is_refused_on_retry() {
    // The other order: a SERIALIZABLE payment read the appointment as booked,
    // then a desk cancelled it in one call (no ledger row yet: nothing to
    // settle). The payment's ledger row locks the appointment row (its foreign
    // key), which fails the payment's transaction (the row changed after its
    // snapshot), and its retry sees the cancellation and refuses. Without that
    // lock the payment commits on a cancelled appointment and is never refunded
    // (tried by hand: both tests fail with the foreign key dropped).
    let Some((c, a, patient)) = unpaid_appointment("payment_after_cancel") else {
        return;
    };
    let (paid, attempts) = after_a_cancellation_it_did_not_see(&c, a, |tx, now| {
        if !now.status.takes_payment() {
            return Err(Error::invalid("the appointment was cancelled"));
        }
        pay_ten(tx, a, patient)
    });
    assert!(
        matches!(paid, Err(Error::Invalid(_))),
        "the payment is refused on its retry: {paid:?}"
    );
    assert_eq!(attempts, 2, "one retry");
    assert_eq!(
        c.count(&format!(
            "SELECT count(*) FROM ledger WHERE appointment_id = {a}"
        )),
        0,
        "no money on the cancelled appointment"
    );
}

#[test]
fn a_reminder_retry_whose_snapshot_predates_a_desk_s_cancellation_is_not_claimed() {
    // The reminder sweep claims a failed reminder for another attempt in a
    // SERIALIZABLE transaction that read the appointment as booked; a desk
    // cancels it meanwhile in one call. The claim locks the appointment row, so
    // the sweep's transaction fails and its retry skips the cancelled
    // appointment: no reminder goes out after the desk was told "cancelled".
    let Some((c, a, _)) = unpaid_appointment("reminder_after_cancel") else {
        return;
    };
    let (reminder, outbox): (i64, i64) = {
        let (pg, _) = c.server.as_ref().unwrap();
        let mut s = pg.session().unwrap();
        let outbox: i64 = s
            .query_one(
                "INSERT INTO outbox (phone, body, status, kind, created_at)
                 VALUES ('+4915123450101', '', 'FAILED', 'REMINDER', $1) RETURNING id",
                &[&NOW],
            )
            .unwrap()
            .get(0);
        let reminder: i64 = s
            .query_one(
                "INSERT INTO reminder (appointment_id, start_at, outbox_id, status, attempts, created_at,
                                       attempted_at, history_id)
                 SELECT a.id, s.start_at, $2, 'FAILED', 1, $3, $3,
                        (SELECT max(h.id) FROM appointment_status_history h WHERE h.appointment_id = a.id)
                 FROM appointment a JOIN slot s ON s.id = a.slot_id WHERE a.id = $1 RETURNING id",
                &[&a, &outbox, &NOW],
            )
            .unwrap()
            .get(0);
        (reminder, outbox)
    };
    let (claimed, attempts) = after_a_cancellation_it_did_not_see(&c, a, |tx, now| {
        if !now.status.occupies_slot() {
            return Ok(None);
        }
        let conn = frontdesk::storage::Conn::Server(tx);
        Ok(frontdesk::storage::reminders::retry(
            &conn,
            reminder,
            outbox,
            NOW + 60,
        )?)
    });
    assert_eq!(
        (claimed.unwrap(), attempts),
        (None, 2),
        "the retry sees the cancellation and claims nothing"
    );
    assert_eq!(
        c.count(&format!(
            "SELECT count(*) FROM reminder WHERE id = {reminder} AND status = 'FAILED' AND attempts = 1"
        )),
        1,
        "the reminder is not claimed again"
    );
}

#[test]
fn a_desk_closes_an_appointment_in_one_call_unless_it_has_money_to_settle() {
    // One call of fd_change_status keys its history row with the desk's
    // request key; the settling transaction writes none.
    let Some((c, unpaid, patient)) = unpaid_appointment("close_in_one_call") else {
        return;
    };
    let keyed = |a: i64| {
        c.count(&format!(
            "SELECT count(*) FROM appointment_status_history
             WHERE appointment_id = {a} AND to_status IN ('CANCELLED', 'NO_SHOW')
               AND request_key IS NOT NULL"
        ))
    };
    let admin = c.admin();
    let close = |a: i64, to| {
        let version = c
            .desk
            .get_appointment(&admin, a)
            .unwrap()
            .appointment
            .version;
        c.desk
            .change_status(&admin, a, version, to, "called off")
            .unwrap()
    };
    let closed = close(unpaid, AppointmentStatus::Cancelled);
    assert_eq!(
        (closed.status, closed.version, keyed(unpaid)),
        (AppointmentStatus::Cancelled, 2, 1)
    );
    // a deposit paid: the cancellation refunds it in the settling transaction
    let paid: Vec<i64> = c
        .slots(c.doctor("Dr. Money"), 2)
        .into_iter()
        .map(|slot| c.book_paid(slot, patient, 2000).appointment.id)
        .collect();
    close(paid[0], AppointmentStatus::Cancelled);
    let account = c.desk.appointment_account(&admin, paid[0]).unwrap();
    assert_eq!(
        (account.balance.refunded, account.due, keyed(paid[0])),
        (2000, 0, 0)
    );
    // a no-show keeps the deposit and waives the rest of the charge
    close(paid[1], AppointmentStatus::Confirmed);
    let missed = close(paid[1], AppointmentStatus::NoShow);
    let account = c.desk.appointment_account(&admin, paid[1]).unwrap();
    assert_eq!(
        (
            missed.status,
            account.balance.waived,
            account.due,
            keyed(paid[1])
        ),
        (AppointmentStatus::NoShow, 3000, 0, 0)
    );
    c.assert_check();
}

/// This PC's clock, an hour fast.
struct HourFast;

impl frontdesk::clock::Clock for HourFast {
    fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
    fn now_ms(&self) -> i64 {
        frontdesk::clock::SystemClock.now_ms() + 3_600_000
    }
    fn is_this_pcs(&self) -> bool {
        true
    }
}

#[test]
fn a_desk_whose_clock_is_an_hour_fast_stamps_its_writes_with_the_server_s_time() {
    use frontdesk::clock::Clock;
    let Some(db) = fresh("server_clock") else {
        return;
    };
    crate::fixture::server::name_the_clinic(&db.clinic);
    let hour_fast = || frontdesk::OpenOptions {
        clock: Arc::new(HourFast),
        ..frontdesk::OpenOptions::default()
    };
    let desk = frontdesk::Frontdesk::open(std::path::Path::new(&db.url), hour_fast()).unwrap();
    let server_now = || db.count("SELECT extract(epoch FROM now())::int8");
    let before = server_now();
    let mut settings = desk.settings().unwrap();
    settings.phone_country = "DE".into();
    desk.update_clinic_settings(&frontdesk::Actor::local_admin(), &settings)
        .unwrap();
    let after = server_now();
    let at = db.count("SELECT max(at) FROM audit_event");
    assert!(
        (before - 1..=after + 1).contains(&at),
        "the audit row is stamped {at}, the server's time was {before}..{after} \
         (this PC's: {})",
        HourFast.now()
    );
    assert!(
        (desk.now() - server_now()).abs() <= 1,
        "the desk tells the server's time"
    );
    // on a file this PC's clock is the only one
    let dir = tempfile::tempdir().unwrap();
    let file = frontdesk::Frontdesk::open(dir.path().join("clinic.sqlite3"), hour_fast()).unwrap();
    assert!(
        file.now() >= frontdesk::clock::SystemClock.now() + 3_590,
        "a file keeps this PC's time"
    );
}
