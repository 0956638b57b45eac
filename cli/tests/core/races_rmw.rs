//! Read-modify-write across two transactions (issue 10 §6): two desks on one file
//! interleave between what one of them read and what it writes. A [`PausingClock`]
//! stops desk A at a chosen reading of its clock (operations read "now" between
//! their steps) while desk B makes its change, then lets A go on.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use frontdesk::clock::{Clock, ManualClock};
use frontdesk::domain::clinic::ClinicSettingsChange;
use frontdesk::{
    Actor, AppointmentStatus, Error, Frontdesk, OpenOptions, Role, SeenAppointment, SeriesMode,
    SeriesRequest, SlotMode,
};

use crate::fixture::{Clinic, NOW, PASSWORD};

/// A clock that stops at its `pause_at`-th reading until told to go on.
struct PausingClock {
    time: Arc<ManualClock>,
    calls: AtomicUsize,
    pause_at: usize,
    paused: Mutex<Sender<()>>,
    resume: Mutex<Receiver<()>>,
}

impl Clock for PausingClock {
    fn now(&self) -> i64 {
        if self.calls.fetch_add(1, Ordering::SeqCst) + 1 == self.pause_at {
            let _ = self.paused.lock().unwrap().send(());
            let _ = self
                .resume
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(60));
        }
        self.time.now()
    }
}

/// Desk A: a second handle on the clinic's file whose clock pauses at its
/// `pause_at`-th reading. Returns the desk, "A has paused" and "A may go on".
fn desk_pausing_at(c: &Clinic, pause_at: usize) -> (Frontdesk, Receiver<()>, Sender<()>) {
    let (paused_tx, paused_rx) = channel();
    let (resume_tx, resume_rx) = channel();
    let clock = PausingClock {
        time: c.clock.clone(),
        calls: AtomicUsize::new(0),
        pause_at,
        paused: Mutex::new(paused_tx),
        resume: Mutex::new(resume_rx),
    };
    let desk = open_with(&c.path(), Arc::new(clock));
    (desk, paused_rx, resume_tx)
}

fn open_with(path: &Path, clock: Arc<dyn Clock>) -> Frontdesk {
    Frontdesk::open(
        path,
        OpenOptions {
            clock,
            ..OpenOptions::default()
        },
    )
    .expect("open a second desk on the clinic's file")
}

fn wait_until_paused(paused: &Receiver<()>) {
    paused
        .recv_timeout(Duration::from_secs(30))
        .expect("desk A should pause between its read and its write");
}

// ---------------------------------------------------------------- settings

#[test]
fn changing_the_clinic_name_keeps_the_time_zone_another_desk_set_meanwhile() {
    let c = Clinic::new();
    let (desk_a, paused, resume) = desk_pausing_at(&c, 1);
    std::thread::scope(|s| {
        let a = s.spawn(|| desk_a.set_setting(&c.admin(), "clinic.name", "Praxis Nord"));
        wait_until_paused(&paused);
        c.desk
            .set_setting(&c.admin(), "clinic.time_zone", "Europe/Berlin")
            .expect("desk B sets the time zone");
        resume.send(()).unwrap();
        a.join()
            .unwrap()
            .expect("desk A's name change should be saved");
    });
    let s = c.desk.settings().unwrap();
    assert_eq!(
        s.name, "Praxis Nord",
        "desk A's name change should be saved"
    );
    assert_eq!(
        s.time_zone, "Europe/Berlin",
        "desk B's time zone should survive desk A's name change"
    );
}

#[test]
fn saving_the_settings_form_keeps_a_field_another_desk_changed_since_the_form_was_loaded() {
    let c = Clinic::new();
    let desk_a = c.reopen();
    let seen = desk_a.settings().unwrap();
    c.desk
        .set_setting(&c.admin(), "session.idle_minutes", "30")
        .expect("desk B changes the idle logoff");
    let mut edited = seen.clone();
    edited.name = "Praxis Süd".into();
    // what the admin screen's save does: only the fields edited on the form
    desk_a
        .change_clinic_settings(&c.admin(), &ClinicSettingsChange::between(&seen, &edited))
        .expect("desk A saves its form with a new name");
    let s = c.desk.settings().unwrap();
    assert_eq!(
        s.name, "Praxis Süd",
        "desk A's edited field should be saved"
    );
    assert_eq!(
        s.idle_minutes, 30,
        "a field desk A did not edit should keep desk B's value"
    );
}

// ---------------------------------------------------------------- sign-in

/// Gives `staff_id` an older, weaker hash of [`PASSWORD`] (m=4096, t=1), which a
/// sign-in upgrades.
fn weaken_hash(c: &Clinic, staff_id: i64) {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(4096, 1, 1, None).unwrap(),
    )
    .hash_password(
        PASSWORD.as_bytes(),
        &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
    )
    .unwrap()
    .to_string();
    c.desk
        .write("test.weaken", |tx| {
            Ok(tx.execute(
                "UPDATE staff SET password_hash = ?1 WHERE id = ?2",
                (&weak, staff_id),
            )?)
        })
        .unwrap();
}

#[test]
fn a_password_reset_during_a_sign_in_is_not_undone_by_the_hash_upgrade() {
    let c = Clinic::new();
    let rita = c.account("rita", Role::Receptionist);
    weaken_hash(&c, rita);
    // authenticate reads the clock before its first transaction and again before
    // its second: pause at the second, after the password was checked
    let (desk_a, paused, resume) = desk_pausing_at(&c, 2);
    let new_password = "a brand new password";
    std::thread::scope(|s| {
        let a = s.spawn(|| desk_a.authenticate("rita", PASSWORD));
        wait_until_paused(&paused);
        c.desk
            .reset_password(&Actor::local_admin(), rita, new_password)
            .expect("desk B resets Rita's password");
        resume.send(()).unwrap();
        a.join()
            .unwrap()
            .expect("the sign-in checked the password that was right at the time");
    });
    assert!(
        c.desk.authenticate("rita", new_password).is_ok(),
        "the password set by the reset should work after the sign-in finished"
    );
    assert!(
        c.desk.authenticate("rita", PASSWORD).is_err(),
        "the old password should no longer work after the reset"
    );
}

// ---------------------------------------------------------------- series

/// A weekly series of four for a new patient (UTC clinic); the appointments.
fn weekly_series(c: &Clinic) -> Vec<frontdesk::Appointment> {
    let d = c.doctor("Dr. Weekly");
    let slots: Vec<i64> = (0..4)
        .map(|k| {
            let start = NOW + 3600 + k * 7 * 86_400;
            c.desk
                .add_slot(
                    &Actor::local_admin(),
                    d,
                    start,
                    start + 1800,
                    SlotMode::InPerson,
                )
                .unwrap()
                .id
        })
        .collect();
    let p = c.patient("Petra Weekly", "0151 2345 6789");
    let r = c
        .desk
        .book_series(
            &c.receptionist(),
            &SeriesRequest {
                first_slot_id: slots[0],
                patient_id: p,
                every_weeks: 1,
                count: Some(4),
                until: None,
                mode: SeriesMode::AllOrNothing,
                reason: "physio".into(),
            },
        )
        .expect("book a weekly series of four");
    assert_eq!(r.booked.len(), 4, "all four weeks should be booked");
    r.booked
}

/// Desk A's view of the rest of the series from `from` (what its drawer shows).
fn seen_rest(desk: &Frontdesk, c: &Clinic, from: i64) -> Vec<SeenAppointment> {
    desk.series_rest(&c.admin(), from)
        .expect("desk A reads the rest of the series")
        .iter()
        .map(SeenAppointment::of)
        .collect()
}

fn statuses(c: &Clinic, booked: &[frontdesk::Appointment]) -> Vec<AppointmentStatus> {
    booked
        .iter()
        .map(|a| {
            c.desk
                .get_appointment(&c.admin(), a.id)
                .unwrap()
                .appointment
                .status
        })
        .collect()
}

on_both! {
    fn cancelling_the_rest_of_a_series_refuses_when_another_desk_confirmed_an_occurrence_meanwhile(c) {
    let booked = weekly_series(&c);
    let desk_a = c.reopen();
    let seen = seen_rest(&desk_a, &c, booked[1].id);
    assert_eq!(
        seen.len(),
        3,
        "desk A sees the second, third and fourth weeks"
    );
    c.desk
        .change_status(
            &c.admin(),
            booked[2].id,
            booked[2].version,
            AppointmentStatus::Confirmed,
            "patient called",
        )
        .expect("desk B confirms the third occurrence");
    let result = desk_a.cancel_series_rest(&c.admin(), booked[1].id, &seen, "moved away");
    use AppointmentStatus::*;
    assert_eq!(
        statuses(&c, &booked),
        [Pending, Pending, Confirmed, Pending],
        "nothing should be cancelled, least of all the occurrence desk B confirmed after desk A looked"
    );
    match result {
        Err(e @ Error::Conflict { .. }) => assert!(
            e.to_string().contains("nothing was cancelled"),
            "the refusal should say nothing was cancelled: {e}"
        ),
        other => panic!("desk A should be told the series changed since it looked, got {other:?}"),
    }
    let fresh = seen_rest(&desk_a, &c, booked[1].id);
    let cancelled = desk_a
        .cancel_series_rest(&c.admin(), booked[1].id, &fresh, "moved away")
        .expect("after looking again desk A cancels the rest");
    assert_eq!(cancelled.len(), 3, "the three later weeks are cancelled");
    assert_eq!(
        statuses(&c, &booked),
        [Pending, Cancelled, Cancelled, Cancelled],
        "the first week stays booked, the rest is cancelled"
    );
    c.assert_check();
}
}

on_both! {
    fn cancelling_the_rest_of_a_series_refuses_when_another_desk_moved_an_occurrence_meanwhile(c) {
    let booked = weekly_series(&c);
    let desk_a = c.reopen();
    let seen = seen_rest(&desk_a, &c, booked[1].id);
    // desk B moves the last week to a free slot the day after
    let d = booked[3].doctor_id;
    let later = c
        .desk
        .add_slot(
            &Actor::local_admin(),
            d,
            booked[3].start_at + 86_400,
            booked[3].end_at + 86_400,
            SlotMode::InPerson,
        )
        .unwrap()
        .id;
    c.desk
        .reschedule(&c.admin(), booked[3].id, booked[3].version, later)
        .expect("desk B moves the fourth occurrence");
    let result = desk_a.cancel_series_rest(&c.admin(), booked[1].id, &seen, "moved away");
    assert!(
        matches!(result, Err(Error::Conflict { .. })),
        "desk A should be told the series changed since it looked, got {result:?}"
    );
    assert!(
        statuses(&c, &booked)
            .iter()
            .all(|s| *s == AppointmentStatus::Pending),
        "no occurrence should be cancelled, the moved one included"
    );
}
}

on_both! {
    fn cancelling_the_rest_of_a_series_needs_the_occurrences_the_desk_saw(c) {
    let booked = weekly_series(&c);
    let err = c
        .desk
        .cancel_series_rest(&c.admin(), booked[1].id, &[], "moved away")
        .unwrap_err();
    assert!(
        matches!(err, Error::Invalid(_)),
        "an empty view of the series should be refused as invalid, got {err:?}"
    );
    let mut seen = seen_rest(&c.desk, &c, booked[1].id);
    seen.pop();
    let err = c
        .desk
        .cancel_series_rest(&c.admin(), booked[1].id, &seen, "moved away")
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict { .. }),
        "a view missing an occurrence should not cancel it unseen, got {err:?}"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM appointment WHERE status = 'CANCELLED'"),
        0,
        "nothing should be cancelled"
    );
}
}

// ---------------------------------------------------------------- outbox

/// Makes this test PC's only sender a `/bin/sh` script that logs each phone to
/// `<dir>/sent.log`; its first run only touches `<dir>/started`, waits for
/// `<dir>/go` and exits `first_exit`.
fn sender_waiting_once(c: &Clinic, dir: &Path, first_exit: u8) {
    let script = r#"
        cat > /dev/null
        echo "$3" >> "$1/sent.log"
        if mkdir "$1/first" 2>/dev/null; then
            touch "$1/started"
            while [ ! -e "$1/go" ]; do sleep 0.01; done
            exit "$2"
        fi
        exit 0
    "#;
    let toml = format!(
        "[sender.waiting]\nprogram = \"/bin/sh\"\nargs = ['-c', '''{script}''', 'sender', '{}', '{first_exit}', '{{phone}}']\n",
        dir.display()
    );
    std::fs::write(c.senders(), toml).unwrap();
}

fn wait_for_file(path: &Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} should appear: the sender should have started",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn sent_log(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("sent.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_message_whose_sending_outlived_its_claim_is_recorded_once_by_the_desk_that_took_it_over() {
    let c = Clinic::new();
    let cli = Actor::local_admin();
    let dir = c.dir.path().join("sender");
    std::fs::create_dir_all(&dir).unwrap();
    sender_waiting_once(&c, &dir, 0);
    let desk_a = c.reopen();
    std::thread::scope(|s| {
        let a = s.spawn(|| desk_a.request_otp(&cli, "0151 2345 6789"));
        wait_for_file(&dir.join("started"));
        // desk B's own request is sent at once, while A's sender hangs
        let second = c.desk.request_otp(&cli, "0151 2345 6790").unwrap();
        assert!(second.sent, "{second:?}");
        // desk A's sender hangs past its claim: B's sweep takes the message over
        c.clock.advance(121);
        let b = c.desk.deliver_outbox(&cli).expect("desk B sweeps");
        assert_eq!(b.sent, 1, "desk B sends what a stalled desk left: {b:?}");
        c.clock.advance(9);
        std::fs::write(dir.join("go"), b"").unwrap();
        let first = a.join().unwrap().expect("desk A's request finishes");
        assert!(first.sent, "desk A's sender did send it: {first:?}");
        let sent_at: Option<i64> = c
            .desk
            .read(|conn| {
                Ok(conn.query_row(
                    "SELECT sent_at FROM outbox WHERE id = ?1",
                    [first.outbox_id],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(
            sent_at,
            Some(NOW + 121),
            "the message should be recorded by desk B, which held its claim, not by desk A, which had lost it"
        );
    });
    let log = sent_log(&dir);
    assert_eq!(
        log.iter().filter(|p| **p == "+4915123456790").count(),
        1,
        "the second message should be sent once, by desk B: {log:?}"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM audit_event WHERE action = 'otp.claim_lost'"),
        1,
        "desk A audits that it lost the claim"
    );
    c.assert_check();
}

#[test]
fn a_message_given_up_while_a_desk_was_sending_it_never_goes_back_to_the_queue() {
    let c = Clinic::new();
    let cli = Actor::local_admin();
    let dir = c.dir.path().join("sender");
    std::fs::create_dir_all(&dir).unwrap();
    sender_waiting_once(&c, &dir, 3);
    let desk_a = c.reopen();
    let m = std::thread::scope(|s| {
        let a = s.spawn(|| desk_a.request_otp(&cli, "0151 2345 6789"));
        wait_for_file(&dir.join("started"));
        // the passcode expires while desk A's sender hangs: desk B gives it up
        c.clock.advance(301);
        let b = c.desk.deliver_outbox(&cli).expect("desk B sweeps");
        assert_eq!(b.expired, 1, "desk B gives up the expired message: {b:?}");
        std::fs::write(dir.join("go"), b"").unwrap();
        a.join().unwrap().expect("desk A's request finishes")
    });
    assert!(!m.sent, "desk A's sender failed: {m:?}");
    let (status, body): (String, String) = c
        .desk
        .read(|conn| {
            Ok(conn.query_row(
                "SELECT status, body FROM outbox WHERE id = ?1",
                [m.outbox_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .unwrap();
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("FAILED", ""),
        "a given-up, blanked message should stay given up after desk A's sender failed"
    );
    assert_eq!(sent_log(&dir).len(), 1, "only desk A's sender ran");
}

#[test]
fn the_schema_refuses_to_put_a_sent_or_given_up_message_back_in_the_queue() {
    let c = Clinic::new();
    let cli = Actor::local_admin();
    let sent = c.desk.request_otp(&cli, "0151 2345 6789").unwrap();
    frontdesk::senders::recording::set_failing(&c.senders(), true).unwrap();
    let failed = c.desk.request_otp(&cli, "0151 2345 6790").unwrap();
    assert!(sent.sent && !failed.sent, "{sent:?} {failed:?}");
    for m in [sent.outbox_id, failed.outbox_id] {
        let requeued = c.desk.write("test.requeue", |tx| {
            Ok(tx.execute("UPDATE outbox SET status = 'QUEUED' WHERE id = ?1", [m])?)
        });
        assert!(
            requeued.is_err(),
            "putting message {m} back in the queue should be refused, got {requeued:?}"
        );
    }
    assert_eq!(
        c.count("SELECT count(*) FROM outbox WHERE status IN ('SENT', 'FAILED')"),
        2,
        "the messages should stay final"
    );
}
