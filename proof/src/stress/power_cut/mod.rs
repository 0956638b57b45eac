//! Simulated power cuts: proof that every change a desk was told is saved
//! survives a power loss, torn writes included.
//!
//! A killed process keeps everything it wrote in the OS page cache, so SIGKILL
//! (`frontdesk stress --kills`) never loses an unsynced byte. A power cut does.
//! This harness simulates one underneath SQLite and Frontdesk's own group sync:
//!
//! **The layer: a wrapping SQLite VFS** ([`vfs`]), registered as the process's
//! default, plus an observer of the group sync ([`frontdesk::storage::tx::SyncObserver`]).
//! Every connection Frontdesk opens already goes through SQLite's default VFS, so
//! the real code runs unchanged (the pool, the writer with `synchronous=NORMAL`,
//! the checkpointer, `check`), and the VFS sees every write, truncation and sync
//! of the database and its WAL with the file it belongs to. The one sync that
//! does not go through SQLite — the group `fdatasync` of the WAL in `tx::sync`,
//! on a `std::fs::File` — tells the observer before it starts and after the real
//! sync returns; the simulator then counts the WAL writes made before the start
//! as durable. An interposed libc (LD_PRELOAD over `pwrite`/`fdatasync`) would
//! catch both without that hook, but it needs a separate process per run, cannot
//! be used from `cargo test` in one binary, and has to map file descriptors back
//! to files; the VFS does the same job inside the test process. What the VFS
//! does not see: the `-shm` (memory-mapped; SQLite rebuilds it after a reboot, so
//! a cut deletes it) and files Frontdesk writes with `std::fs` and does not sync
//! (the audit anchor, written only after the group sync; not simulated).
//!
//! **A run**: desks (threads, each on the shared in-process [`Frontdesk`], as the
//! app's windows are) book, reschedule, cancel, confirm and request and verify
//! passcodes on a few slots and phones (the stress mix of `frontdesk stress`,
//! each operation under its own name). At a random moment the power is cut: every
//! call on the files fails from that instant. The threads stop (an operation
//! that returned while the power was on is journaled — success or refusal; the
//! one in flight at the cut is not), every handle is dropped, the files are put
//! back to their last synced image plus a random choice of the unsynced writes
//! (kept, dropped or torn), and the database is opened again as after a reboot:
//! `check` (integrity, foreign keys, invariants, audit chain) must pass and every
//! journaled success must be there. Every 100 cuts and at the end, the stress
//! ledger runs over the journal of those cuts: no refused operation left a row,
//! every row belongs to a reported success or to the one operation a thread had
//! in flight at a cut, and each slot's history is linearizable; then the next 100
//! cuts work on a fresh area of the same clinic (so a long run's ledgers stay
//! small), and every 500 cuts on a fresh clinic file (so `check`, which verifies
//! the whole audit chain, does too).
//!
//! **Seeds**: every choice of the harness (the operations, when the power goes,
//! what the disk kept) comes from the run's seed; thread scheduling does not, so
//! a replay with the same seed reproduces the run's shape, not its exact
//! interleaving. The seed of each cut that found a violation is printed.

pub mod vfs;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::journal::Entry;
use super::verify::{self, Baseline};
use super::worker::{one_operation, StressWorkerArgs};
use frontdesk::error::{Error, Result};
use frontdesk::{Frontdesk, OpenOptions};
pub use vfs::{CutStats, Sim};

/// How to run the power cuts.
#[derive(Debug, Clone)]
pub struct PowerCutOptions {
    /// Power cuts (each followed by a reboot and a check).
    pub cuts: u64,
    /// The seed of every random choice of the harness.
    pub seed: u64,
    /// Desks (threads) writing at once.
    pub threads: usize,
    /// Slots in the clinic (few: contention).
    pub slots: usize,
    /// Patients (each with their own phone).
    pub patients: usize,
    /// The power goes at a random moment up to this long after the desks start.
    pub max_burst: Duration,
    /// **The negative test**: desks are told "saved" before the WAL is synced
    /// (see [`OpenOptions::ack_before_sync`]); the harness must find lost writes.
    pub ack_before_sync: bool,
    /// Stop at the first cut that finds a violation.
    pub stop_at_first_violation: bool,
    /// At each cut, also do to the audit anchor (a file Frontdesk rewrites in place
    /// and never syncs) what a power cut may: leave it, put back the version of the
    /// previous reboot, leave it empty, or leave it zero-filled at its new length.
    pub anchor_cuts: bool,
}

impl Default for PowerCutOptions {
    fn default() -> Self {
        PowerCutOptions {
            cuts: 200,
            seed: 1,
            threads: 4,
            slots: 6,
            patients: 4,
            max_burst: Duration::from_millis(40),
            ack_before_sync: false,
            stop_at_first_violation: false,
            anchor_cuts: true,
        }
    }
}

/// What a run did and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PowerCutReport {
    /// The run's seed.
    pub seed: u64,
    /// Power cuts made (each followed by a reboot and a full check).
    pub cuts: u64,
    /// Unsynced writes and truncations found at the cuts.
    pub unsynced: u64,
    /// Of those, applied whole at the reboot.
    pub kept: u64,
    /// Dropped.
    pub dropped: u64,
    /// Torn (some 512-byte pieces new, some old, some garbage).
    pub torn: u64,
    /// Audit anchors left at a cut as they were at the previous reboot, empty, or
    /// zero-filled (`[older, empty, zeroed]`).
    pub anchors_cut: [u64; 3],
    /// Operations acknowledged (reported saved) before a cut, each checked present.
    pub acknowledged: u64,
    /// Operations refused by a rule before a cut, each checked to have left nothing.
    pub refused: u64,
    /// Desks stopped by a cut, each with at most one operation in flight (outcome
    /// unknown: it may or may not be there).
    pub in_flight: u64,
    /// Of those, found committed (counted by the ledgers).
    pub in_flight_committed: i64,
    /// Ledger runs (each over the journal of up to 100 cuts).
    pub ledgers: u64,
    /// Everything found wrong (must be empty), each with its cut and seed.
    pub violations: Vec<String>,
    /// `(cut, seed)` of every cut after which a violation was found.
    pub failing_cuts: Vec<(u64, u64)>,
    /// Seconds the run took.
    pub seconds: f64,
}

/// Cuts on one clinic file before the run moves to a fresh one.
const CUTS_PER_DATABASE: u64 = 500;

/// One run at a time per process: the VFS and the sync observer are process-wide.
static RUN: Mutex<()> = Mutex::new(());

/// The seed of cut `cut` of a run seeded `seed` (splitmix64).
pub fn cut_seed(seed: u64, cut: u64) -> u64 {
    let mut z = seed.wrapping_add(cut.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs the power cuts (see the module docs). `progress` gets a line now and then.
pub fn run(opts: &PowerCutOptions, progress: &dyn Fn(&str)) -> Result<PowerCutReport> {
    let _one = RUN.lock().unwrap_or_else(|p| p.into_inner());
    let started = Instant::now();
    let sim = Sim::get();
    let dir = crate::bench::temp_dir("power-cut")?;
    let keys = crate::bench::temp_dir("power-cut-keys")?;
    let root = std::fs::canonicalize(&dir.path)
        .map_err(|e| Error::Internal(format!("cannot resolve the run's folder: {e}")))?;
    let mut db = root.join("power-0.sqlite3");
    let senders = frontdesk::senders::recording::write(&keys.path)
        .map_err(|e| Error::Internal(format!("cannot write the senders file: {e}")))?;
    let options = || OpenOptions {
        keys_dir: Some(keys.path.clone()),
        senders_file: Some(senders.clone()),
        pool_size: 2,
        ack_before_sync: opts.ack_before_sync,
        ..OpenOptions::default()
    };
    sim.track(Some(&root));
    let outcome = (|| -> Result<PowerCutReport> {
        let (mut base, mut area) = {
            let desk = Frontdesk::open(&db, options())?;
            let base = Baseline::of(&desk)?;
            (base, super::create_area(&desk, opts.slots, opts.patients)?)
        };
        let mut report = PowerCutReport {
            seed: opts.seed,
            ..PowerCutReport::default()
        };
        let mut journal: Vec<Entry> = Vec::new();
        let mut killed: BTreeSet<u32> = BTreeSet::new();
        let mut anchors = Anchors::read(&keys.path);
        for cut in 0..opts.cuts {
            let seed = cut_seed(opts.seed, cut);
            let mut rng = StdRng::seed_from_u64(seed);
            let worker = cut as u32;
            let args = StressWorkerArgs {
                db: db.clone(),
                worker,
                threads: opts.threads,
                millis: 0,
                slots: area.slots.clone(),
                patients: area.patients.clone(),
                phones: area.phones.clone(),
                passcodes: true,
            };
            let mut found = Vec::new();
            let entries = match Frontdesk::open(&db, options()) {
                Ok(desk) => {
                    let entries = one_burst(&desk, &sim, &args, opts, &mut rng);
                    drop(desk);
                    entries
                }
                Err(e) => {
                    found.push(format!("the database does not open after the reboot: {e}"));
                    sim.cut();
                    Vec::new()
                }
            };
            // every connection closes (a pool may still be adding one)
            let closing = Instant::now();
            while sim.open_files() > 0 && closing.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(1));
            }
            if sim.open_files() > 0 {
                return Err(Error::Internal(format!(
                    "cut {cut}: {} database files still open after every handle was dropped",
                    sim.open_files()
                )));
            }
            sim.reboot(&mut rng)
                .map_err(|e| Error::Internal(format!("cut {cut}: the reboot failed: {e}")))?;
            if opts.anchor_cuts {
                anchors
                    .cut(&keys.path, &mut rng, &mut report.anchors_cut)
                    .map_err(|e| {
                        Error::Internal(format!("cut {cut}: the anchor cut failed: {e}"))
                    })?;
            }
            report.cuts += 1;
            killed.insert(worker);
            report.in_flight += opts.threads as u64;
            for e in &entries {
                match e.outcome.as_str() {
                    "ok" => report.acknowledged += 1,
                    "refused" => report.refused += 1,
                    _ => found.push(format!(
                        "{} failed while the power was on: {:?}",
                        e.label(),
                        e.code
                    )),
                }
            }
            journal.extend(entries);
            let ledger = (cut + 1) % 100 == 0 || cut + 1 == opts.cuts;
            match Frontdesk::open(&db, options()) {
                Err(e) => found.push(format!("the database does not open after the reboot: {e}")),
                Ok(desk) => {
                    let recent: Vec<Entry> = journal
                        .iter()
                        .filter(|e| e.worker == worker)
                        .cloned()
                        .collect();
                    match verify::after_kill_on(&desk, &recent) {
                        Ok(wrong) => found.extend(wrong),
                        Err(e) => found.push(format!("check cannot run after the reboot: {e}")),
                    }
                    if ledger {
                        match verify::final_state_on(&desk, &area, &base, &journal, &killed) {
                            Ok((wrong, unreported)) => {
                                found.extend(wrong);
                                report.in_flight_committed += unreported;
                            }
                            Err(e) => found.push(format!("the ledger cannot run: {e}")),
                        }
                        report.ledgers += 1;
                        // the next window gets a fresh area (new doctor, slots and
                        // phones) and a journal of its own: the ledger's cost stays
                        // that of one window however long the run
                        if cut + 1 < opts.cuts && (cut + 1) % CUTS_PER_DATABASE != 0 {
                            base = Baseline::of(&desk)?;
                            area = super::create_area(&desk, opts.slots, opts.patients)?;
                            journal.clear();
                            killed.clear();
                        }
                    }
                }
            }
            if cut + 1 < opts.cuts && (cut + 1) % CUTS_PER_DATABASE == 0 {
                // a fresh clinic file: `check` (which verifies the whole audit chain)
                // stays as cheap at cut 10,000 as at cut 100
                let old = db.clone();
                db = root.join(format!("power-{}.sqlite3", (cut + 1) / CUTS_PER_DATABASE));
                let desk = Frontdesk::open(&db, options())?;
                base = Baseline::of(&desk)?;
                area = super::create_area(&desk, opts.slots, opts.patients)?;
                drop(desk);
                journal.clear();
                killed.clear();
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(frontdesk::storage::db::sibling(&old, suffix));
                }
            }
            if !found.is_empty() {
                report.failing_cuts.push((cut, seed));
                let line = format!(
                    "cut {cut} (seed {seed}, run seed {}): {} violations",
                    opts.seed,
                    found.len()
                );
                progress(&line);
                report.violations.extend(
                    found
                        .into_iter()
                        .map(|v| format!("cut {cut} (seed {seed}): {v}")),
                );
                if opts.stop_at_first_violation {
                    break;
                }
            }
            if (cut + 1) % 100 == 0 {
                progress(&format!(
                    "{} cuts, {} acknowledged operations checked, {} violations so far",
                    cut + 1,
                    report.acknowledged,
                    report.violations.len()
                ));
            }
        }
        let stats = sim.stats();
        report.unsynced = stats.unsynced;
        report.kept = stats.kept;
        report.dropped = stats.dropped;
        report.torn = stats.torn;
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    })();
    sim.track(None);
    drop(dir);
    drop(keys);
    outcome
}

/// The audit anchors (`*.audit-head` in the key folder) as they were at the last
/// reboot: what a power cut may put back, since Frontdesk never syncs them.
struct Anchors(Vec<(PathBuf, Vec<u8>)>);

impl Anchors {
    fn read(keys: &std::path::Path) -> Anchors {
        let mut found = Vec::new();
        if let Ok(dir) = std::fs::read_dir(keys) {
            for entry in dir.flatten() {
                if entry.file_name().to_string_lossy().ends_with(".audit-head") {
                    if let Ok(bytes) = std::fs::read(entry.path()) {
                        found.push((entry.path(), bytes));
                    }
                }
            }
        }
        Anchors(found)
    }

    /// Does to each anchor what the cut may have: nothing (most often), the version
    /// of the previous reboot, empty (the truncation reached the disk, the write did
    /// not), or zeros at the new length (the size reached the disk, the data did
    /// not). Then remembers them for the next cut.
    fn cut(
        &mut self,
        keys: &std::path::Path,
        rng: &mut StdRng,
        counts: &mut [u64; 3],
    ) -> std::io::Result<()> {
        let now = Anchors::read(keys);
        for (path, bytes) in &now.0 {
            let roll = rng.random_range(0..100);
            let older = self.0.iter().find(|(p, _)| p == path).map(|(_, b)| b);
            match (roll, older) {
                (70..80, Some(old)) if old != bytes => {
                    counts[0] += 1;
                    std::fs::write(path, old)?;
                }
                (80..90, _) => {
                    counts[1] += 1;
                    std::fs::write(path, b"")?;
                }
                (90..100, _) => {
                    counts[2] += 1;
                    std::fs::write(path, vec![0u8; bytes.len()])?;
                }
                _ => {}
            }
        }
        *self = Anchors::read(keys);
        Ok(())
    }
}

/// The desks work on `desk` until the power goes (at a random moment); returns
/// what every thread journaled while the power was on.
fn one_burst(
    desk: &Frontdesk,
    sim: &Sim,
    args: &StressWorkerArgs,
    opts: &PowerCutOptions,
    rng: &mut StdRng,
) -> Vec<Entry> {
    let journal = Mutex::new(Vec::new());
    let returned = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let seeds: Vec<u64> = (0..args.threads).map(|_| rng.random()).collect();
    // some cuts come early (during the first writes after the reboot), most later
    let wait_for = rng.random_range(0..6u64);
    let then = opts
        .max_burst
        .mul_f64(rng.random_range(0.0..1.0))
        .max(Duration::from_micros(50));
    std::thread::scope(|sc| {
        for (thread, seed) in seeds.into_iter().enumerate() {
            let (journal, returned, stop) = (&journal, &returned, &stop);
            sc.spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed);
                let mut seq = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let entry = one_operation(desk, args, thread as u32, seq, &mut rng);
                    // returned after the cut: its outcome is unknown (in flight)
                    if !sim.powered() {
                        break;
                    }
                    if let Some(mut e) = entry {
                        e.worker = args.worker;
                        e.thread = thread as u32;
                        e.seq = seq;
                        journal.lock().unwrap_or_else(|p| p.into_inner()).push(e);
                        seq += 1;
                        returned.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
        let start = Instant::now();
        while returned.load(Ordering::SeqCst) < wait_for && start.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(then);
        sim.cut();
        stop.store(true, Ordering::SeqCst);
    });
    journal.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// The report in words.
pub fn summary(r: &PowerCutReport) -> String {
    let mut s = format!(
        "{} power cuts in {:.1} s (seed {}): {} unsynced writes at the cuts — {} kept, {} dropped, {} torn; \
         {} acknowledged operations checked present, {} refusals checked absent, {} desks stopped by a cut \
         (each with at most one operation in flight; {} such operations found committed); {} ledgers (each over up to 100 cuts).\n",
        r.cuts,
        r.seconds,
        r.seed,
        r.unsynced,
        r.kept,
        r.dropped,
        r.torn,
        r.acknowledged,
        r.refused,
        r.in_flight,
        r.in_flight_committed,
        r.ledgers
    );
    s.push_str(&format!(
        "audit anchors at the cuts: {} put back to an older version, {} left empty, {} zero-filled.\n",
        r.anchors_cut[0], r.anchors_cut[1], r.anchors_cut[2]
    ));
    if r.violations.is_empty() {
        s.push_str("violations: 0\n");
    } else {
        s.push_str(&format!(
            "violations: {} after {} cuts\n",
            r.violations.len(),
            r.failing_cuts.len()
        ));
        for (cut, seed) in r.failing_cuts.iter().take(50) {
            s.push_str(&format!("  failing cut {cut}: seed {seed}\n"));
        }
        for v in r.violations.iter().take(30) {
            s.push_str(&format!("  {v}\n"));
        }
    }
    s
}
