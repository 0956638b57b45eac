//! `frontdesk stress`: many desk processes hammering a few slots and phones at
//! once, optionally killed with SIGKILL at random moments, and then proof that
//! nothing was lost or made up.
//!
//! The parent makes a small stress area in the database (one doctor, a dozen
//! slots, a handful of patients), starts worker processes (the hidden
//! `frontdesk stress-worker` command) and reads their journals ([`journal`]):
//! every operation that returned is one line, printed only after it returned.
//! Afterwards — and after every kill, on a freshly opened database — it requires:
//! - `frontdesk check` passes (integrity, foreign keys, invariants, audit chain);
//! - every success in a journal is in the database: the appointment's history
//!   entry for that version has that status and slot;
//! - the totals balance: appointments in the area = successful bookings, and the
//!   sum of their versions = successful appointment operations (so no refusal
//!   left anything behind). A killed process may have committed its last operation
//!   without printing it, so with kills the surplus may be at most one operation
//!   per killed thread.
//!
//! With kills, every third kill also tries to restore a backup taken at the start
//! while the other workers run: it must be refused (the desks have the file open),
//! and the full check after it must still find every reported operation.

pub mod journal;
mod passcodes;
mod verify;
mod worker;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;
use serde::Serialize;

use crate::clinic::ClinicSettings;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::{Actor, Frontdesk, NewPatient, OpenOptions, SlotMode};

pub use journal::Entry;
pub use worker::{run_worker, StressWorkerArgs};

/// How to stress.
#[derive(Debug, Clone)]
pub struct StressOptions {
    /// The `frontdesk` executable (workers run its hidden `stress-worker` command).
    pub worker_exe: PathBuf,
    /// The database (`None`: a temporary file, removed afterwards).
    pub db: Option<PathBuf>,
    /// Worker processes running at once.
    pub processes: usize,
    /// Threads per worker.
    pub threads: usize,
    /// How long.
    pub duration: Duration,
    /// Kill a random worker with SIGKILL about this often (and start a new one).
    pub kill_every: Option<Duration>,
    /// Slots in the stress area (few, to force contention).
    pub slots: usize,
    /// Patients (each with their own phone) in the stress area.
    pub patients: usize,
    /// Include passcode request and verify in the mix.
    pub passcodes: bool,
}

/// What a stress run did and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StressReport {
    /// Worker processes started (including replacements for killed ones).
    pub workers_started: u64,
    /// Workers killed with SIGKILL.
    pub kills: u64,
    /// Of those, killed while holding the write lock (inside a transaction).
    pub kills_holding_lock: u64,
    /// Operations journaled, by kind: `[succeeded, refused, errors]`.
    pub by_op: BTreeMap<String, [u64; 3]>,
    /// Successful operations.
    pub succeeded: u64,
    /// Refusals by a rule (slot taken, stale version, rate limited, …).
    pub refused: u64,
    /// Busy or internal errors (must be 0).
    pub errors: u64,
    /// Operations found committed that no journal reported: a worker killed between
    /// the commit and printing it (at most one per killed thread).
    pub unreported_commits: i64,
    /// Times the database was reopened and fully checked.
    pub checks: u64,
    /// Restores tried while workers had the database open (each must be refused).
    pub restores_tried: u64,
    /// Everything found wrong (must be empty).
    pub violations: Vec<String>,
    /// Seconds the run took.
    pub seconds: f64,
}

/// The stress area inside the database.
#[derive(Debug, Clone)]
pub(crate) struct Area {
    pub(crate) slots: Vec<i64>,
    pub(crate) patients: Vec<i64>,
    pub(crate) phones: Vec<String>,
}

/// Makes a fresh stress area: a doctor, `slots` future slots, `patients` patients.
fn create_area(desk: &Frontdesk, slots: usize, patients: usize) -> Result<Area> {
    let admin = Actor::local_admin();
    let mut settings = desk.settings()?;
    if settings.phone_country != "DE" {
        settings = ClinicSettings {
            phone_country: "DE".into(),
            ..settings
        };
        desk.update_clinic_settings(&admin, &settings)?;
    }
    let run = desk.now();
    let doctor = desk
        .add_doctor(&admin, &format!("Dr. Stress {run}"), "Stress test")?
        .id;
    let start = (desk.now().div_euclid(86_400) + 2) * 86_400 + 8 * 3600;
    let slots = (0..slots as i64)
        .map(|k| {
            desk.add_slot(
                &admin,
                doctor,
                start + k * 1800,
                start + k * 1800 + 1800,
                SlotMode::InPerson,
            )
            .map(|s| s.id)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut ids = Vec::new();
    let mut phones = Vec::new();
    for i in 0..patients {
        // distinct valid German mobile numbers per run
        let phone = format!("+49151{:08}", (run as u64 % 1_000_000) * 100 + i as u64);
        let p = desk.add_patient(
            &admin,
            &NewPatient {
                name: format!("Stress Patient {i}"),
                phone,
                ..NewPatient::default()
            },
        )?;
        ids.push(p.id);
        phones.push(p.phone);
    }
    Ok(Area {
        slots,
        patients: ids,
        phones,
    })
}

/// The process holding the exclusive `flock` on `<db>.lock` (the write path's
/// cross-process lock), read from `/proc/locks`; `None` elsewhere or when free.
fn lock_holder(db: &std::path::Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    let inode = std::fs::metadata(&name).ok()?.ino();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().filter(|l| !l.contains("->")).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let is_ours = f.get(1) == Some(&"FLOCK")
            && f.get(5).and_then(|d| d.rsplit(':').next()) == Some(inode.to_string().as_str());
        if is_ours {
            f.get(4)?.parse().ok()
        } else {
            None
        }
    })
}

/// A running worker and its journal being read.
struct Running {
    child: Child,
    reader: std::thread::JoinHandle<String>,
}

fn spawn(opts: &StressOptions, db: &std::path::Path, area: &Area, millis: u64) -> Result<Running> {
    let join = |v: &[i64]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut cmd = Command::new(&opts.worker_exe);
    cmd.arg("--db").arg(db).arg("stress-worker");
    cmd.args([
        "--threads",
        &opts.threads.to_string(),
        "--millis",
        &millis.to_string(),
    ]);
    cmd.args([
        "--slots",
        &join(&area.slots),
        "--patients",
        &join(&area.patients),
        "--phones",
        &area.phones.join(","),
    ]);
    if opts.passcodes {
        cmd.arg("--passcodes");
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::Internal(format!("cannot start a stress worker: {e}")))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| Error::Internal("worker without stdout".into()))?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    Ok(Running { child, reader })
}

fn finish(r: Running) -> Vec<Entry> {
    let mut child = r.child;
    let _ = child.wait();
    journal::parse(&r.reader.join().unwrap_or_default())
}

/// Runs the stress test (and crash injection with `kill_every`).
pub fn run(opts: &StressOptions, progress: &dyn Fn(&str)) -> Result<StressReport> {
    let started = Instant::now();
    let temp = match &opts.db {
        Some(_) => None,
        None => Some(crate::bench::temp_dir("stress")?),
    };
    let db = match (&opts.db, &temp) {
        (Some(p), _) => p.clone(),
        (None, Some(t)) => t.path.join("stress.sqlite3"),
        (None, None) => unreachable!("a temp dir exists when no db was given"),
    };
    let backups = crate::bench::temp_dir("stress-backup")?;
    let old_backup = backups.path.join("before-the-run.sqlite3");
    let area = {
        let desk = Frontdesk::open(&db, OpenOptions::default())?;
        let area = create_area(&desk, opts.slots, opts.patients)?;
        desk.backup_now(&Actor::local_admin(), Some(old_backup.clone()))?;
        area
    };
    let base = verify::Baseline::take(&db, &area)?;
    let mut report = StressReport::default();
    let mut journal: Vec<Entry> = Vec::new();
    let millis = opts.duration.as_millis() as u64;
    let deadline = started + opts.duration;
    let mut running = Vec::new();
    for _ in 0..opts.processes {
        running.push(spawn(opts, &db, &area, millis)?);
    }
    report.workers_started = opts.processes as u64;
    progress(&format!(
        "{} workers × {} threads on {} for {:.0} s",
        opts.processes,
        opts.threads,
        db.display(),
        opts.duration.as_secs_f64()
    ));
    if let Some(every) = opts.kill_every {
        let mut rng = rand::rng();
        loop {
            let pause = every.mul_f64(rng.random_range(0.5..1.5));
            if Instant::now() + pause >= deadline {
                break;
            }
            std::thread::sleep(pause);
            // half the time, the worker holding the cross-process write lock right
            // now: it is inside a transaction (or its commit's fsync)
            // (the lock is held for ~0.1 ms at a time, so look a few times)
            let holder = if rng.random_bool(0.5) {
                (0..50).find_map(|_| {
                    let pid =
                        lock_holder(&db).filter(|pid| running.iter().any(|r| r.child.id() == *pid));
                    if pid.is_none() {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    pid
                })
            } else {
                None
            };
            let victim = holder
                .and_then(|pid| running.iter().position(|r| r.child.id() == pid))
                .unwrap_or_else(|| rng.random_range(0..running.len()));
            if holder.is_some_and(|pid| running[victim].child.id() == pid) {
                report.kills_holding_lock += 1;
            }
            let mut r = running.swap_remove(victim);
            // SIGKILL: no destructor, no flush, no rollback — like a power cut of the process
            let _ = r.child.kill();
            report.kills += 1;
            let entries = finish(r);
            if report.kills % 3 == 0 {
                // the other workers still have the file open: a restore must not run
                report.restores_tried += 1;
                let now = crate::clock::SystemClock.now();
                if crate::backup::restore(&Actor::local_admin(), &db, &old_backup, now, true)
                    .is_ok()
                {
                    report.violations.push(format!(
                        "after kill {}: a restore replaced the database while {} workers had it open",
                        report.kills,
                        running.len()
                    ));
                }
            }
            // reopen and check right away, with the killed worker's journal
            let found = verify::after_kill(&db, &entries)?;
            report.checks += 1;
            report.violations.extend(
                found
                    .into_iter()
                    .map(|v| format!("after kill {}: {v}", report.kills)),
            );
            journal.extend(entries);
            let left = deadline
                .saturating_duration_since(Instant::now())
                .as_millis() as u64;
            running.push(spawn(opts, &db, &area, left.max(1))?);
            report.workers_started += 1;
            if report.kills % 20 == 0 {
                progress(&format!("{} kills so far", report.kills));
            }
        }
    }
    for r in running {
        journal.extend(finish(r));
    }
    for e in &journal {
        let counts = report.by_op.entry(e.op.clone()).or_default();
        match e.outcome.as_str() {
            "ok" => {
                counts[0] += 1;
                report.succeeded += 1;
            }
            "refused" => {
                counts[1] += 1;
                report.refused += 1;
            }
            _ => {
                counts[2] += 1;
                report.errors += 1;
            }
        }
    }
    if report.errors > 0 {
        report.violations.push(format!(
            "{} operations failed with Busy or an internal error",
            report.errors
        ));
    }
    let slack = report.kills * opts.threads as u64;
    let (violations, unreported) = verify::final_state(&db, &area, &base, &journal, slack)?;
    report.violations.extend(violations);
    report.unreported_commits = unreported;
    report.checks += 1;
    report.seconds = started.elapsed().as_secs_f64();
    drop(backups);
    drop(temp);
    Ok(report)
}

/// The report in words, for people.
pub fn summary(r: &StressReport) -> String {
    let mut s = format!(
        "{} operations in {:.1} s: {} succeeded, {} refused by a rule, {} errors; {} workers started, {} killed with SIGKILL, {} of them \
         while holding the write lock ({} operations committed but cut off before reporting); {} restores tried while workers ran \
         (each must be refused); {} full checks after reopening.\n",
        r.succeeded + r.refused + r.errors,
        r.seconds,
        r.succeeded,
        r.refused,
        r.errors,
        r.workers_started,
        r.kills,
        r.kills_holding_lock,
        r.unreported_commits,
        r.restores_tried,
        r.checks
    );
    for (op, [ok, refused, errors]) in &r.by_op {
        s.push_str(&format!(
            "  {op:<12} {ok:>7} ok {refused:>7} refused {errors:>5} errors\n"
        ));
    }
    if r.violations.is_empty() {
        s.push_str("violations: 0 (check passed; every reported success is in the database; totals balance)\n");
    } else {
        s.push_str(&format!("violations: {}\n", r.violations.len()));
        for v in r.violations.iter().take(50) {
            s.push_str(&format!("  {v}\n"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AppointmentStatus, BookRequest};

    #[test]
    fn the_verifier_flags_invented_successes_and_unreported_commits() {
        let dir = crate::bench::temp_dir("stress-verify").unwrap();
        let db = dir.path.join("verify.sqlite3");
        let desk = Frontdesk::open(&db, OpenOptions::default()).unwrap();
        let area = create_area(&desk, 2, 1).unwrap();
        let base = verify::Baseline::take(&db, &area).unwrap();
        let req = BookRequest {
            slot_id: area.slots[0],
            patient_id: area.patients[0],
            reason: String::new(),
        };
        let booked = desk.book(&Actor::local_admin(), &req).unwrap();

        let honest = vec![Entry::appointment("book", &booked)];
        let (found, unreported) = verify::final_state(&db, &area, &base, &honest, 0).unwrap();
        assert!(found.is_empty(), "an honest journal balances: {found:?}");
        assert_eq!(unreported, 0);

        let mut invented = booked.clone();
        invented.version = 2;
        invented.status = AppointmentStatus::Confirmed;
        let lying = vec![
            Entry::appointment("book", &booked),
            Entry::appointment("confirm", &invented),
        ];
        let (found, _) = verify::final_state(&db, &area, &base, &lying, 0).unwrap();
        assert!(
            found.iter().any(|v| v.contains("missing")),
            "a success not in the database is flagged: {found:?}"
        );

        let (found, unreported) = verify::final_state(&db, &area, &base, &[], 0).unwrap();
        assert!(
            found.iter().any(|v| v.contains("bookings reported")),
            "a commit nobody reported is flagged: {found:?}"
        );
        assert_eq!(unreported, 1);
        let (found, _) = verify::final_state(&db, &area, &base, &[], 1).unwrap();
        assert!(
            found.is_empty(),
            "…unless a killed worker may have made it: {found:?}"
        );
    }
}
