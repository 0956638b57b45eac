//! One stress worker process: threads doing a random mix of desk operations on
//! the stress area until the time is up, journaling each on stdout.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::Rng;

use super::journal::Entry;
use crate::error::{Error, Result};
use crate::{Actor, AppointmentStatus, BookRequest, Frontdesk, OpenOptions};

/// What the parent tells a worker.
#[derive(Debug, Clone)]
pub struct StressWorkerArgs {
    /// The database file.
    pub db: PathBuf,
    /// Threads.
    pub threads: usize,
    /// How long to run.
    pub millis: u64,
    /// Slots to book.
    pub slots: Vec<i64>,
    /// Patients to book for.
    pub patients: Vec<i64>,
    /// Phones for passcodes.
    pub phones: Vec<String>,
    /// Include passcode request and verify.
    pub passcodes: bool,
}

/// A live appointment of the area, as a desk would see it in its list: id and
/// the version to change it on.
fn pick_live(desk: &Frontdesk, slots: &[i64], status: Option<&str>) -> Result<Option<(i64, i64)>> {
    // the area's slot ids are numbers, so listing them inline is safe; never touch
    // appointments outside the area (the command may run on a real clinic file)
    let area = slots
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",");
    // a harness read, not a desk operation: any live appointment of the area, at random
    desk.read(|c| {
        let mut stmt = c.prepare_cached(&format!(
            "SELECT id, version FROM appointment WHERE slot_id IN ({area})
               AND status IN ('PENDING', 'CONFIRMED') AND (?1 IS NULL OR status = ?1)
             ORDER BY random() LIMIT 1"
        ))?;
        let mut rows = stmt.query(rusqlite::params![status])?;
        Ok(match rows.next()? {
            Some(r) => Some((r.get(0)?, r.get(1)?)),
            None => None,
        })
    })
}

/// Runs one worker (the hidden `frontdesk stress-worker` command); the journal
/// goes to stdout.
pub fn run_worker(a: &StressWorkerArgs) -> Result<()> {
    if a.slots.is_empty() || a.patients.is_empty() {
        return Err(Error::invalid("a stress worker needs slots and patients"));
    }
    let desk = Frontdesk::open(&a.db, OpenOptions::default())?;
    let actor = Actor::local_admin();
    let phase = Duration::from_millis(a.millis);
    let t = Instant::now();
    std::thread::scope(|sc| {
        for _ in 0..a.threads {
            let (desk, actor) = (&desk, &actor);
            sc.spawn(move || {
                let mut rng = rand::rng();
                while t.elapsed() < phase {
                    one_operation(desk, actor, a, &mut rng);
                }
            });
        }
    });
    Ok(())
}

fn one_operation(desk: &Frontdesk, actor: &Actor, a: &StressWorkerArgs, rng: &mut impl Rng) {
    let slot = a.slots[rng.random_range(0..a.slots.len())];
    let roll = rng.random_range(0..100);
    let roll = if a.passcodes || roll < 95 {
        roll
    } else {
        roll - 10
    };
    let entry = match roll {
        0..=34 => {
            let req = BookRequest {
                slot_id: slot,
                patient_id: a.patients[rng.random_range(0..a.patients.len())],
                reason: "stress".into(),
            };
            match desk.book(actor, &req) {
                Ok(ap) => Entry::appointment("book", &ap),
                Err(e) => Entry::failed("book", &e),
            }
        }
        35..=54 => match pick_live(desk, &a.slots, None) {
            Ok(Some((id, version))) => match desk.reschedule(actor, id, version, slot) {
                Ok(ap) => Entry::appointment("reschedule", &ap),
                Err(e) => Entry::failed("reschedule", &e),
            },
            Ok(None) => return,
            Err(e) => Entry::failed("reschedule", &e),
        },
        55..=74 => match pick_live(desk, &a.slots, None) {
            Ok(Some((id, version))) => {
                match desk.change_status(actor, id, version, AppointmentStatus::Cancelled, "stress")
                {
                    Ok(ap) => Entry::appointment("cancel", &ap),
                    Err(e) => Entry::failed("cancel", &e),
                }
            }
            Ok(None) => return,
            Err(e) => Entry::failed("cancel", &e),
        },
        75..=94 => match pick_live(desk, &a.slots, Some("PENDING")) {
            Ok(Some((id, version))) => {
                match desk.change_status(actor, id, version, AppointmentStatus::Confirmed, "") {
                    Ok(ap) => Entry::appointment("confirm", &ap),
                    Err(e) => Entry::failed("confirm", &e),
                }
            }
            Ok(None) => return,
            Err(e) => Entry::failed("confirm", &e),
        },
        _ => match super::passcodes::one(desk, actor, &a.phones, rng) {
            Some(entry) => entry,
            None => return,
        },
    };
    entry.print();
}
