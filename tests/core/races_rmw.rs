//! Read-modify-write across two transactions (issue 10 §6): two desks on one file
//! interleave between what one of them read and what it writes. A [`PausingClock`]
//! stops desk A at a chosen reading of its clock (operations read "now" between
//! their steps) while desk B makes its change, then lets A go on.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use frontdesk::clinic::ClinicSettingsChange;
use frontdesk::clock::{Clock, ManualClock};
use frontdesk::{Actor, Frontdesk, OpenOptions, Role};

use crate::fixture::{Clinic, PASSWORD};

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
