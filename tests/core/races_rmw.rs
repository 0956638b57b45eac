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
use frontdesk::{Frontdesk, OpenOptions};

use crate::fixture::Clinic;

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
