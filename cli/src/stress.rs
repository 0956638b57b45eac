//! `frontdesk stress` (many processes, optional SIGKILLs, then proof nothing was
//! lost) and the hidden `stress-worker` it starts. The engine is `frontdesk_proof::stress`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use frontdesk::Error;
use frontdesk_proof::stress::{self, StressOptions, StressWorkerArgs};

use crate::output::Out;

#[derive(Args)]
pub struct StressArgs {
    /// Worker processes at once
    #[arg(long, default_value_t = 8)]
    processes: usize,
    /// Threads per worker
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// How long to run
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Kill a worker with SIGKILL about every N ms (crash injection)
    #[arg(long, value_name = "N")]
    kill_every_ms: Option<u64>,
    /// Crash injection until N kills (then --seconds only bounds the run)
    #[arg(long, value_name = "N")]
    kills: Option<u64>,
    /// Write every journaled operation to this file (JSON lines)
    #[arg(long, value_name = "PATH")]
    journal: Option<PathBuf>,
    /// Slots in the stress area (few = more contention)
    #[arg(long, default_value_t = 12)]
    slots: usize,
    /// Patients (phones) in the stress area
    #[arg(long, default_value_t = 6)]
    patients: usize,
    /// Leave passcode request and verify out of the mix
    #[arg(long)]
    no_passcodes: bool,
    /// Simulated power cuts instead: N cuts under SQLite and the group sync, torn
    /// writes included, on a throwaway database, in this process (--threads desks;
    /// --processes, --seconds and the kill options do not apply)
    #[arg(long, value_name = "N")]
    power_cuts: Option<u64>,
    /// The power cuts' seed (default: from the clock); printed with every failure
    #[arg(long, value_name = "SEED")]
    seed: Option<u64>,
}

#[derive(Args)]
pub struct WorkerCliArgs {
    #[arg(long, default_value_t = 0)]
    worker: u32,
    #[arg(long)]
    threads: usize,
    #[arg(long)]
    millis: u64,
    #[arg(long, value_delimiter = ',')]
    slots: Vec<i64>,
    #[arg(long, value_delimiter = ',')]
    patients: Vec<i64>,
    #[arg(long, value_delimiter = ',')]
    phones: Vec<String>,
    #[arg(long)]
    passcodes: bool,
}

/// Runs the stress test; fails (exit 3) when anything was lost or made up.
pub fn stress(a: StressArgs, db: Option<PathBuf>, out: Out) -> Result<(), Error> {
    let sane = (1..=64).contains(&a.processes)
        && (1..=64).contains(&a.threads)
        && a.seconds > 0.0
        && a.seconds <= 86_400.0;
    if !sane {
        return Err(Error::invalid(
            "use 1–64 processes, 1–64 threads and a positive number of seconds",
        ));
    }
    if a.kills == Some(0) {
        return Err(Error::invalid("--kills needs at least one kill"));
    }
    if a.slots == 0 || a.patients == 0 || a.slots > 1000 || a.patients > 1000 {
        return Err(Error::invalid("use 1–1000 slots and 1–1000 patients"));
    }
    if let Some(cuts) = a.power_cuts {
        return power_cuts(&a, cuts, db, out);
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::Internal(format!("cannot find this program: {e}")))?;
    let opts = StressOptions {
        worker_exe: exe,
        db,
        processes: a.processes,
        threads: a.threads,
        duration: Duration::from_secs_f64(a.seconds),
        kill_every: a.kill_every_ms.map(|ms| Duration::from_millis(ms.max(1))),
        kills: a.kills,
        journal_out: a.journal,
        slots: a.slots,
        patients: a.patients,
        passcodes: !a.no_passcodes,
    };
    let report = stress::run(&opts, &|step| eprintln!("stress: {step}"))?;
    out.print(&report, || stress::summary(&report));
    if report.violations.is_empty() {
        Ok(())
    } else {
        Err(Error::Internal(format!(
            "{} violation(s) found: {}",
            report.violations.len(),
            report.violations.join("; ")
        )))
    }
}

/// `--power-cuts N`: the simulated power cuts of `frontdesk_proof::stress::power_cut`.
fn power_cuts(a: &StressArgs, cuts: u64, db: Option<PathBuf>, out: Out) -> Result<(), Error> {
    use frontdesk_proof::stress::power_cut;
    if db.is_some() {
        return Err(Error::invalid(
            "power cuts run on a throwaway database of their own; leave --db out",
        ));
    }
    if cuts == 0 || a.slots > 1000 || a.patients > 1000 {
        return Err(Error::invalid(
            "use at least one power cut, 1–1000 slots and 1–1000 patients",
        ));
    }
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    eprintln!("power cuts: seed {seed} (replay with --seed {seed})");
    let opts = power_cut::PowerCutOptions {
        cuts,
        seed,
        threads: a.threads,
        slots: a.slots,
        patients: a.patients,
        ..power_cut::PowerCutOptions::default()
    };
    let report = power_cut::run(&opts, &|step| eprintln!("power cuts: {step}"))?;
    out.print(&report, || power_cut::summary(&report));
    if report.violations.is_empty() {
        Ok(())
    } else {
        Err(Error::Internal(format!(
            "{} violation(s) after {} of {} cuts (seed {seed}); first: {}",
            report.violations.len(),
            report.failing_cuts.len(),
            report.cuts,
            report.violations[0]
        )))
    }
}

/// One worker: the journal goes to stdout.
pub fn worker(a: WorkerCliArgs, db: &Path) -> Result<(), Error> {
    stress::run_worker(&StressWorkerArgs {
        db: db.to_path_buf(),
        worker: a.worker,
        threads: a.threads.max(1),
        millis: a.millis,
        slots: a.slots,
        patients: a.patients,
        phones: a.phones,
        passcodes: a.passcodes,
    })
}
