//! `frontdesk bench` (the benchmark table) and the hidden `bench-worker` it starts
//! for the multi-process runs. The engine is `frontdesk_proof::bench`.

use std::path::Path;

use clap::Args;
use frontdesk::Error;
use frontdesk_proof::bench::{self, BenchOptions, WorkerArgs};

use crate::output::Out;

#[derive(Args)]
pub struct BenchArgs {
    /// Short runs and a smaller scale clinic (under 30 s, about a minute more with
    /// --postgres; for CI, not for publishing)
    #[arg(long)]
    quick: bool,
    /// Only the runs that book beside long jobs (a year of slot generation, passcode
    /// delivery with a long reader open)
    #[arg(long)]
    long_jobs_only: bool,
    /// Add the server backend's rows, measured on this PostgreSQL server
    /// (a postgres:// URL of a role that may create databases; the benchmark makes
    /// its own database there and drops it after)
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Only the server's rows (measuring a PostgreSQL server; needs --postgres)
    #[arg(long, requires = "postgres")]
    postgres_only: bool,
}

#[derive(Args)]
pub struct BenchWorkerArgs {
    #[arg(long)]
    threads: usize,
    #[arg(long)]
    millis: u64,
    #[arg(long)]
    first_slot: i64,
    #[arg(long)]
    slots: i64,
    #[arg(long)]
    patient_lo: i64,
    #[arg(long)]
    patient_hi: i64,
}

/// Runs the benchmark on temporary files and prints the table (or one JSON object);
/// fails when any `Busy` (outside the busy-handler baseline) or error reached a
/// caller.
pub fn bench(a: BenchArgs, out: Out) -> Result<(), Error> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Internal(format!("cannot find this program: {e}")))?;
    let opts = BenchOptions {
        quick: a.quick,
        worker_exe: Some(exe),
        long_jobs_only: a.long_jobs_only,
        postgres: a.postgres,
        postgres_only: a.postgres_only,
    };
    let report = bench::run(&opts, &|step| eprintln!("bench: {step}"))?;
    out.print(&report, || bench::markdown(&report));
    // a Busy or an error that reached a caller fails the run (exit 3); speed never does
    if report.surfaced.is_empty() {
        Ok(())
    } else {
        Err(Error::Internal(format!(
            "the benchmark surfaced {} failure(s) to callers: {}",
            report.surfaced.len(),
            report.surfaced.join("; ")
        )))
    }
}

/// One worker process of the multi-process runs: books and prints one JSON line.
pub fn worker(a: BenchWorkerArgs, db: &Path) -> Result<(), Error> {
    let outcome = bench::run_worker(&WorkerArgs {
        db: db.to_path_buf(),
        threads: a.threads.max(1),
        millis: a.millis,
        first_slot: a.first_slot,
        slots: a.slots,
        patient_lo: a.patient_lo,
        patient_hi: a.patient_hi,
    })?;
    println!(
        "{}",
        serde_json::to_string(&outcome).map_err(|e| Error::Internal(e.to_string()))?
    );
    Ok(())
}
