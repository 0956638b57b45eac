//! Several desk processes booking on one file: the parent hands each worker process
//! its own range of free slots, the workers book from several threads and print
//! one JSON line with every latency; the parent adds them up.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::setup::BenchClinic;
use super::{internal, BenchRow, Samples};
use frontdesk::error::Result;
use frontdesk::{Actor, BookRequest, Frontdesk, OpenOptions};

/// What one worker process is told to do.
#[derive(Debug, Clone)]
pub struct WorkerArgs {
    /// The database file.
    pub db: PathBuf,
    /// Booking threads.
    pub threads: usize,
    /// How long to book for.
    pub millis: u64,
    /// First slot of this worker's range.
    pub first_slot: i64,
    /// Slots in the range.
    pub slots: i64,
    /// Lowest patient id to book for.
    pub patient_lo: i64,
    /// Highest patient id to book for.
    pub patient_hi: i64,
}

/// What one worker process measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkerOutcome {
    /// Every booking's latency (µs).
    pub latencies_us: Vec<u64>,
    /// `Busy` errors.
    pub busy: u64,
    /// Refusals.
    pub refused: u64,
    /// Other errors.
    pub errors: u64,
    /// This process's lock-hold median (µs).
    pub hold_p50_us: u64,
    /// This process's lock-hold 99th percentile (µs).
    pub hold_p99_us: u64,
    /// How long the worker booked.
    pub elapsed_ms: u64,
}

/// Runs one worker (the hidden `frontdesk bench-worker` command).
pub fn run_worker(a: &WorkerArgs) -> Result<WorkerOutcome> {
    let desk = Frontdesk::open(&a.db, OpenOptions::default())?;
    let actor = Actor::local_admin();
    let next = std::sync::atomic::AtomicI64::new(a.first_slot);
    let end = a.first_slot + a.slots;
    let phase = Duration::from_millis(a.millis);
    let all = Mutex::new(Samples::default());
    let t = Instant::now();
    std::thread::scope(|sc| {
        for th in 0..a.threads {
            let (desk, actor, all, next) = (&desk, &actor, &all, &next);
            sc.spawn(move || {
                let mut s = Samples::default();
                let span = (a.patient_hi - a.patient_lo + 1).max(1);
                let mut i = th as i64;
                while t.elapsed() < phase {
                    let slot_id = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if slot_id >= end {
                        break;
                    }
                    let req = BookRequest {
                        slot_id,
                        patient_id: a.patient_lo + i % span,
                        reason: String::new(),
                    };
                    let at = Instant::now();
                    let r = desk.book(actor, &req);
                    s.outcome(at, &r);
                    i += a.threads as i64;
                }
                all.lock().unwrap_or_else(|p| p.into_inner()).merge(s);
            });
        }
    });
    let elapsed_ms = t.elapsed().as_millis() as u64;
    let s = all.into_inner().unwrap_or_else(|p| p.into_inner());
    let hold = desk
        .metrics()?
        .get("book")
        .map(|m| m.lock_hold)
        .unwrap_or_default();
    Ok(WorkerOutcome {
        latencies_us: s.lat,
        busy: s.busy,
        refused: s.refused,
        errors: s.errors,
        hold_p50_us: hold.p50_us,
        hold_p99_us: hold.p99_us,
        elapsed_ms,
    })
}

/// Starts `processes` workers of `threads` threads each on the clinic's file.
pub(crate) fn processes(
    exe: &Path,
    clinic: &BenchClinic,
    processes: usize,
    threads: usize,
    phase: Duration,
) -> Result<BenchRow> {
    // generous: no worker should run out of slots before the phase ends
    let per = (phase.as_secs_f64() * 8000.0 / processes as f64).ceil() as i64 + 100;
    let (lo, hi) = clinic.patient_range();
    // every range is reserved before any worker starts, so a shortage cannot
    // leave workers running on a file the caller is about to remove
    let firsts = (0..processes)
        .map(|_| clinic.take_slots(per).map(|(first, _)| first))
        .collect::<Result<Vec<_>>>()?;
    let mut children = Vec::new();
    for first in firsts {
        let child = Command::new(exe)
            .arg("bench-worker")
            .arg("--db")
            .arg(clinic.path())
            .args([
                "--threads",
                &threads.to_string(),
                "--millis",
                &phase.as_millis().to_string(),
            ])
            .args([
                "--first-slot",
                &first.to_string(),
                "--slots",
                &per.to_string(),
            ])
            .args([
                "--patient-lo",
                &lo.to_string(),
                "--patient-hi",
                &hi.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(internal)?;
        children.push(child);
    }
    let mut all = Samples::default();
    let (mut elapsed, mut hold50, mut hold99) = (0u64, Vec::new(), 0u64);
    for child in children {
        let out = child.wait_with_output().map_err(internal)?;
        let text = String::from_utf8_lossy(&out.stdout);
        let w: WorkerOutcome = serde_json::from_str(text.trim())
            .map_err(|e| internal(format!("a bench worker failed ({}): {e}", out.status)))?;
        elapsed = elapsed.max(w.elapsed_ms);
        hold50.push(w.hold_p50_us);
        hold99 = hold99.max(w.hold_p99_us);
        all.merge(Samples {
            lat: w.latencies_us,
            busy: w.busy,
            refused: w.refused,
            errors: w.errors,
        });
    }
    hold50.sort_unstable();
    let mut row = all.row(
        &format!("book, {processes} processes × {threads} threads, distinct slots"),
        Duration::from_millis(elapsed.max(1)),
    );
    // per-process histograms cannot be merged exactly: the median process's median
    // and the worst process's 99th percentile
    row.hold_p50_us = hold50.get(hold50.len() / 2).copied();
    row.hold_p99_us = Some(hold99);
    Ok(row)
}
