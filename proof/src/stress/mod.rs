//! `frontdesk stress`: many desk processes hammering a few slots and phones at
//! once, optionally killed with SIGKILL at random moments, and then proof that
//! nothing was lost or made up.
//!
//! The parent makes a small stress area in the database (one doctor, a dozen
//! slots, a handful of patients), starts worker processes (the hidden
//! `frontdesk stress-worker` command) and reads their journals ([`journal`]):
//! every operation that returned is one line, printed only after it returned,
//! with the version it was based on and its invocation and return times. Every
//! operation acts under its own name, so each row it writes is attributable.
//! Afterwards — and after every kill, on a freshly opened database — it requires:
//! - `frontdesk check` passes (integrity, foreign keys, invariants, audit chain);
//! - every worker not killed on purpose exited 0 with nothing on stderr (a panic
//!   is a violation);
//! - the ledger of [`verify`]: every history and passcode audit row is exactly one
//!   reported success made on the version it saw, no refusal left a row, every
//!   appointment row is its last history entry, no slot was ever held twice, and
//!   each slot's history is linearizable. A killed thread may have committed the
//!   one operation it had in flight without printing it; only that operation is
//!   excused, per killed thread, not a surplus in the totals.
//!
//! With kills, every other kill lands on the worker holding the write lock — it
//! is stopped (SIGSTOP) and seen still holding the lock, then killed — and every
//! third kill also tries to restore a backup taken at the start while the other
//! workers run: it must be refused (the desks have the file open), and the full
//! check after it must still find every reported operation.

pub mod journal;
mod passcodes;
pub mod power_cut;
mod verify;
mod worker;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use serde::Serialize;

use frontdesk::clock::Clock;
use frontdesk::domain::clinic::ClinicSettings;
use frontdesk::error::{Error, Result};
use frontdesk::{Actor, Frontdesk, NewPatient, OpenOptions, SlotMode};

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
    /// Kill a worker with SIGKILL about this often (and start a new one).
    pub kill_every: Option<Duration>,
    /// Stop after this many kills (then `duration` only bounds the run).
    pub kills: Option<u64>,
    /// Write the whole journal here (JSON lines), for a second opinion.
    pub journal_out: Option<PathBuf>,
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
    /// Of those, killed while holding the write lock (inside a transaction): the
    /// worker was stopped and seen still holding the lock before the SIGKILL.
    pub kills_holding_lock: u64,
    /// The workers killed (their numbers, as in the journal).
    pub killed_workers: Vec<u32>,
    /// Operations journaled, by kind: `[succeeded, refused, errors]`.
    pub by_op: BTreeMap<String, [u64; 3]>,
    /// Successful operations.
    pub succeeded: u64,
    /// Refusals by a rule (slot taken, stale version, rate limited, …).
    pub refused: u64,
    /// Busy or internal errors (must be 0).
    pub errors: u64,
    /// Operations found committed that no journal reported: each the operation a
    /// killed thread had in flight (at most one per killed thread).
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

/// Whether every thread of the process is stopped (state `T` in
/// `/proc/<pid>/task/*/stat`).
fn is_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut any = false;
    for task in tasks.flatten() {
        let stopped = std::fs::read_to_string(task.path().join("stat"))
            .ok()
            .and_then(|s| {
                // the command name is in parentheses and may hold spaces
                let after = s.rsplit_once(')')?.1;
                after
                    .split_whitespace()
                    .next()
                    .map(|st| st == "T" || st == "t")
            })
            .unwrap_or(false);
        if !stopped {
            return false;
        }
        any = true;
    }
    any
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on a child we started and have not reaped yet.
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

/// Stops the worker holding the write lock and makes sure it still holds it
/// while stopped (a holder seen a moment earlier may have let go): then a kill
/// lands inside its transaction. `None` when no running worker could be caught
/// holding it before `give_up`.
fn stop_lock_holder(db: &std::path::Path, running: &[Running], give_up: Instant) -> Option<usize> {
    while Instant::now() < give_up {
        let Some(victim) =
            lock_holder(db).and_then(|pid| running.iter().position(|r| r.child.id() == pid))
        else {
            std::thread::sleep(Duration::from_micros(100));
            continue;
        };
        let pid = running[victim].child.id();
        signal(pid, libc::SIGSTOP);
        let stop_by = Instant::now() + Duration::from_secs(10);
        while !is_stopped(pid) && Instant::now() < stop_by {
            std::thread::sleep(Duration::from_micros(100));
        }
        if is_stopped(pid) && lock_holder(db) == Some(pid) {
            return Some(victim);
        }
        signal(pid, libc::SIGCONT);
    }
    None
}

/// A running worker, the journal and stderr being read, and its stdin (closing it
/// stops the worker).
struct Running {
    worker: u32,
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    journal: std::thread::JoinHandle<Vec<Entry>>,
    stderr: std::thread::JoinHandle<String>,
}

fn spawn(
    opts: &StressOptions,
    db: &std::path::Path,
    area: &Area,
    worker: u32,
    millis: u64,
    successes: &Arc<AtomicU64>,
    senders: &std::path::Path,
) -> Result<Running> {
    let join = |v: &[i64]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut cmd = Command::new(&opts.worker_exe);
    cmd.arg("--db").arg(db).arg("stress-worker");
    // passcodes go to the recording sender, where the workers read them back
    cmd.env(frontdesk::senders::SENDERS_FILE_ENV, senders);
    cmd.args([
        "--worker",
        &worker.to_string(),
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
    // a worker writes nothing to stderr unless something is wrong
    cmd.env_remove("FRONTDESK_LOG");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Internal(format!("cannot start a stress worker: {e}")))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| Error::Internal("worker without stdout".into()))?;
    let mut stderr = child
        .stderr
        .take()
        .ok_or_else(|| Error::Internal("worker without stderr".into()))?;
    let successes = successes.clone();
    let journal = std::thread::spawn(move || {
        let mut entries = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // a torn last line (killed mid-write) does not parse and is skipped
            if let Some(e) = journal::parse_line(&line) {
                if e.ok() {
                    successes.fetch_add(1, Ordering::SeqCst);
                }
                entries.push(e);
            }
        }
        entries
    });
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    Ok(Running {
        worker,
        stdin: child.stdin.take(),
        child,
        journal,
        stderr,
    })
}

/// What became of a worker that was not killed on purpose, as a violation: it
/// must exit 0 and say nothing on stderr (a panic exits 101 with a message).
pub(crate) fn exit_violation(
    worker: u32,
    status: std::process::ExitStatus,
    stderr: &str,
    killed: bool,
) -> Option<String> {
    use std::os::unix::process::ExitStatusExt;
    let said = stderr.trim();
    let said = if said.is_empty() {
        String::new()
    } else {
        format!(": {}", said.chars().take(2000).collect::<String>())
    };
    if killed {
        return (status.signal() != Some(libc::SIGKILL))
            .then(|| format!("worker {worker} was killed but ended with {status}{said}"));
    }
    if !status.success() {
        return Some(format!("worker {worker} ended with {status}{said}"));
    }
    (!said.is_empty()).then(|| format!("worker {worker} wrote to stderr{said}"))
}

/// Waits for a worker (killed or stopped by closing its stdin) and collects its
/// journal; a worker that failed on its own is a violation.
fn finish(mut r: Running, killed: bool) -> (Vec<Entry>, Option<String>) {
    drop(r.stdin.take());
    let status = r.child.wait();
    let entries = r.journal.join().unwrap_or_default();
    let stderr = r.stderr.join().unwrap_or_default();
    let problem = match status {
        Ok(status) => exit_violation(r.worker, status, &stderr, killed),
        Err(e) => Some(format!("worker {}: cannot wait for it: {e}", r.worker)),
    };
    (entries, problem)
}

/// Runs the stress test (and crash injection with `kill_every` or `kills`).
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
    let senders = frontdesk::senders::recording::write(&backups.path)
        .map_err(|e| Error::Internal(format!("cannot write the senders file: {e}")))?;
    let base = verify::Baseline::take(&db)?;
    let area = {
        let desk = Frontdesk::open(&db, OpenOptions::default())?;
        let area = create_area(&desk, opts.slots, opts.patients)?;
        desk.backup_now(&Actor::local_admin(), Some(old_backup.clone()))?;
        area
    };
    let mut report = StressReport::default();
    let mut journal: Vec<Entry> = Vec::new();
    let mut killed: BTreeSet<u32> = BTreeSet::new();
    let successes = Arc::new(AtomicU64::new(0));
    let millis = opts.duration.as_millis() as u64;
    let deadline = started + opts.duration;
    let mut next_worker = 0u32;
    let mut running = Vec::new();
    for _ in 0..opts.processes {
        running.push(spawn(
            opts,
            &db,
            &area,
            next_worker,
            millis,
            &successes,
            &senders,
        )?);
        next_worker += 1;
    }
    report.workers_started = opts.processes as u64;
    progress(&format!(
        "{} workers × {} threads on {} for {:.0} s{}",
        opts.processes,
        opts.threads,
        db.display(),
        opts.duration.as_secs_f64(),
        opts.kills
            .map(|n| format!(" at most, until {n} kills"))
            .unwrap_or_default()
    ));
    let crashing = opts.kill_every.is_some() || opts.kills.is_some();
    if crashing {
        let every = opts.kill_every.unwrap_or(Duration::from_millis(50));
        let mut rng = rand::rng();
        loop {
            if opts.kills.is_some_and(|n| report.kills >= n) {
                break;
            }
            // between kills the workers must get work done (at least a few
            // successes), then a random pause
            let seen = successes.load(Ordering::SeqCst);
            while successes.load(Ordering::SeqCst) < seen + MIN_PROGRESS_BETWEEN_KILLS
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            let pause = every.mul_f64(rng.random_range(0.5..1.5));
            if Instant::now() + pause >= deadline {
                break;
            }
            std::thread::sleep(pause);
            // every other kill lands on the worker holding the cross-process write
            // lock, stopped first and seen still holding it: inside a transaction
            // (or its commit's fsync)
            let at_holder = report.kills % 2 == 0;
            let holder = if at_holder {
                stop_lock_holder(&db, &running, deadline)
            } else {
                None
            };
            if at_holder && holder.is_none() {
                break; // the time is up
            }
            let victim = holder.unwrap_or_else(|| rng.random_range(0..running.len()));
            report.kills_holding_lock += u64::from(holder.is_some());
            let mut r = running.swap_remove(victim);
            // SIGKILL: no destructor, no flush, no rollback — like a power cut of the process
            let _ = r.child.kill();
            report.kills += 1;
            killed.insert(r.worker);
            r.stdin = None;
            let (entries, problem) = finish(r, true);
            report.violations.extend(problem);
            if report.kills % 3 == 0 {
                // the other workers still have the file open: a restore must not run
                report.restores_tried += 1;
                let now = frontdesk::clock::SystemClock.now();
                if frontdesk::storage::backup::restore(
                    &Actor::local_admin(),
                    &db,
                    &old_backup,
                    now,
                    true,
                )
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
            running.push(spawn(
                opts,
                &db,
                &area,
                next_worker,
                left.max(1),
                &successes,
                &senders,
            )?);
            next_worker += 1;
            report.workers_started += 1;
            if report.kills % 20 == 0 {
                progress(&format!("{} kills so far", report.kills));
            }
        }
    } else {
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    }
    // stop every worker (closing its stdin), then collect
    for r in &mut running {
        r.stdin = None;
    }
    for r in running {
        let (entries, problem) = finish(r, false);
        report.violations.extend(problem);
        journal.extend(entries);
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
    let (violations, unreported) = verify::final_state(&db, &area, &base, &journal, &killed)?;
    report.violations.extend(violations);
    report.unreported_commits = unreported;
    report.checks += 1;
    if let Some(path) = &opts.journal_out {
        write_journal(path, &journal, &killed)?;
    }
    report.killed_workers = killed.into_iter().collect();
    report.seconds = started.elapsed().as_secs_f64();
    drop(backups);
    drop(temp);
    Ok(report)
}

/// Successes the workers must report between two kills.
const MIN_PROGRESS_BETWEEN_KILLS: u64 = 3;

/// Writes the whole journal as JSON lines (for a second opinion on the run).
fn write_journal(path: &std::path::Path, journal: &[Entry], killed: &BTreeSet<u32>) -> Result<()> {
    use std::io::Write;
    let _ = killed;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| {
        Error::invalid(format!(
            "cannot write the journal to {}: {e}",
            path.display()
        ))
    })?);
    for e in journal {
        let line = serde_json::to_string(e).map_err(|e| Error::Internal(e.to_string()))?;
        writeln!(f, "{line}").map_err(|e| Error::Internal(e.to_string()))?;
    }
    f.flush().map_err(|e| Error::Internal(e.to_string()))
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
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_worker_that_panicked_failed_or_complained_is_a_violation() {
        let exited = |code: i32| std::process::ExitStatus::from_raw(code << 8);
        let signalled = std::process::ExitStatus::from_raw;
        assert_eq!(
            exit_violation(1, exited(0), "", false),
            None,
            "a clean exit"
        );
        let panicked = exit_violation(
            1,
            exited(101),
            "thread '<unnamed>' panicked at proof/src/stress/worker.rs:1:1",
            false,
        );
        assert!(
            panicked.as_deref().is_some_and(|v| v.contains("panicked")),
            "{panicked:?}"
        );
        assert!(exit_violation(1, exited(3), "", false).is_some(), "exit 3");
        assert!(
            exit_violation(1, exited(0), "warning: something", false).is_some(),
            "a clean exit that still wrote to stderr"
        );
        assert_eq!(
            exit_violation(1, signalled(libc::SIGKILL), "", true),
            None,
            "killed on purpose"
        );
        assert!(
            exit_violation(1, exited(101), "panicked", true).is_some(),
            "to be killed, but it had died on its own"
        );
        assert!(
            exit_violation(1, signalled(libc::SIGKILL), "", false).is_some(),
            "killed by someone else"
        );
    }
}
