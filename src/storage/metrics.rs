//! Contention metrics: per operation kind, how long writers waited for the lock,
//! how long they held it, how often SQLite said BUSY, how often the deadline
//! passed, and how often a rule refused a racing request (slot taken, stale
//! version, rate limited).
//!
//! Latencies go into log-scale histograms (8 buckets per doubling, so a percentile
//! is exact to within ~9 %), which — unlike percentiles — can be added up. Each
//! process keeps what it has not yet saved in memory and adds it to the
//! `contention_*` tables with [`crate::Frontdesk::flush_metrics`] (the CLI at exit,
//! the app periodically), so `frontdesk stats` shows every desk's figures.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection};
use serde::Serialize;
use ts_rs::TS;

use crate::error::ErrorCode;

const SUB: f64 = 8.0;
const BUCKETS: usize = 8 * 33 + 1;

fn bucket_of(micros: u64) -> usize {
    if micros == 0 {
        0
    } else {
        (((micros as f64).log2() * SUB).floor() as usize + 1).min(BUCKETS - 1)
    }
}

fn bucket_upper(bucket: usize) -> u64 {
    if bucket == 0 {
        0
    } else {
        2f64.powf(bucket as f64 / SUB).ceil() as u64
    }
}

/// A mergeable latency histogram in microseconds.
#[derive(Clone, Default)]
struct Histogram {
    counts: BTreeMap<usize, u64>,
    max: u64,
}

impl Histogram {
    fn push(&mut self, micros: u64) {
        *self.counts.entry(bucket_of(micros)).or_default() += 1;
        self.max = self.max.max(micros);
    }

    fn merge(&mut self, other: &Histogram) {
        for (b, n) in &other.counts {
            *self.counts.entry(*b).or_default() += n;
        }
        self.max = self.max.max(other.max);
    }

    fn summary(&self) -> LatencySummary {
        let total: u64 = self.counts.values().sum();
        let pick = |q: f64| -> u64 {
            let rank = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (b, n) in &self.counts {
                seen += n;
                if seen >= rank {
                    return bucket_upper(*b).min(self.max);
                }
            }
            0
        };
        LatencySummary {
            p50_us: pick(0.50),
            p99_us: pick(0.99),
            max_us: self.max,
        }
    }
}

#[derive(Clone, Default)]
struct OpStats {
    count: u64,
    wait: Histogram,
    hold: Histogram,
    busy_retries: u64,
    timeouts: u64,
    slot_taken: u64,
    stale_version: u64,
    rate_limited: u64,
}

impl OpStats {
    fn merge(&mut self, o: &OpStats) {
        self.count += o.count;
        self.wait.merge(&o.wait);
        self.hold.merge(&o.hold);
        self.busy_retries += o.busy_retries;
        self.timeouts += o.timeouts;
        self.slot_taken += o.slot_taken;
        self.stale_version += o.stale_version;
        self.rate_limited += o.rate_limited;
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, TS)]
#[ts(export)]
pub struct LatencySummary {
    /// Median.
    #[ts(type = "number")]
    pub p50_us: u64,
    /// 99th percentile.
    #[ts(type = "number")]
    pub p99_us: u64,
    /// Largest seen.
    #[ts(type = "number")]
    pub max_us: u64,
}

/// The figures for one operation kind.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct OperationMetrics {
    /// Operation kind, e.g. `book`.
    pub operation: String,
    /// Write transactions attempted (committed, refused or timed out).
    #[ts(type = "number")]
    pub count: u64,
    /// Time from asking for the write lock to holding it.
    pub lock_wait: LatencySummary,
    /// Time the write lock was held (BEGIN IMMEDIATE to end of COMMIT).
    pub lock_hold: LatencySummary,
    /// BEGIN IMMEDIATE attempts that found the database busy and were retried.
    #[ts(type = "number")]
    pub busy_retries: u64,
    /// Requests that gave up at the deadline with a `Busy` error.
    #[ts(type = "number")]
    pub timeouts: u64,
    /// Bookings refused because the slot was taken meanwhile.
    #[ts(type = "number")]
    pub slot_taken: u64,
    /// Changes refused because they were made on a stale version.
    #[ts(type = "number")]
    pub stale_version: u64,
    /// Requests refused by a rate limit.
    #[ts(type = "number")]
    pub rate_limited: u64,
}

/// All operation kinds, sorted by name.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct MetricsSnapshot {
    /// One entry per operation kind seen.
    pub operations: Vec<OperationMetrics>,
}

impl MetricsSnapshot {
    /// The entry for one operation kind, if it ran.
    pub fn get(&self, operation: &str) -> Option<&OperationMetrics> {
        self.operations.iter().find(|o| o.operation == operation)
    }
}

/// This process's figures not yet saved to the database.
#[derive(Default)]
pub struct Metrics {
    unsaved: Mutex<BTreeMap<String, OpStats>>,
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

impl Metrics {
    fn with(&self, op: &str, f: impl FnOnce(&mut OpStats)) {
        let mut ops = self.unsaved.lock().unwrap_or_else(|p| p.into_inner());
        if !ops.contains_key(op) {
            ops.insert(op.to_string(), OpStats::default());
        }
        f(ops.get_mut(op).expect("inserted above"));
    }

    /// Records one write transaction that got the lock.
    pub(crate) fn record(&self, op: &str, wait: Duration, hold: Duration, busy_retries: u64) {
        self.with(op, |s| {
            s.count += 1;
            s.wait.push(micros(wait));
            s.hold.push(micros(hold));
            s.busy_retries += busy_retries;
        });
    }

    /// Records a request that gave up waiting for the lock.
    pub(crate) fn record_timeout(&self, op: &str, busy_retries: u64) {
        self.with(op, |s| {
            s.count += 1;
            s.timeouts += 1;
            s.busy_retries += busy_retries;
        });
    }

    /// Records a refusal by a rule that exists because of concurrency.
    pub(crate) fn record_refusal(&self, op: &str, code: ErrorCode) {
        self.with(op, |s| match code {
            ErrorCode::SlotTaken => s.slot_taken += 1,
            ErrorCode::Conflict => s.stale_version += 1,
            ErrorCode::RateLimited => s.rate_limited += 1,
            _ => {}
        });
    }

    /// True when there are figures not saved yet.
    pub(crate) fn has_unsaved(&self) -> bool {
        !self
            .unsaved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// Adds the unsaved figures to the `contention_*` tables and forgets them.
    /// Runs inside the caller's write transaction; on error the figures are kept.
    pub(crate) fn save(&self, conn: &Connection) -> rusqlite::Result<()> {
        let taken = std::mem::take(&mut *self.unsaved.lock().unwrap_or_else(|p| p.into_inner()));
        let result = save_stats(conn, &taken);
        if result.is_err() {
            let mut ops = self.unsaved.lock().unwrap_or_else(|p| p.into_inner());
            for (op, s) in taken {
                ops.entry(op).or_default().merge(&s);
            }
        }
        result
    }

    /// The saved figures of every process plus this process's unsaved ones.
    pub(crate) fn snapshot(&self, conn: &Connection) -> rusqlite::Result<MetricsSnapshot> {
        Ok(self.snapshot_over(load_stats(conn)?))
    }

    /// This process's figures only (a backend that keeps them in memory).
    pub(crate) fn local_snapshot(&self) -> MetricsSnapshot {
        self.snapshot_over(BTreeMap::new())
    }

    fn snapshot_over(&self, mut all: BTreeMap<String, OpStats>) -> MetricsSnapshot {
        for (op, s) in self
            .unsaved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            all.entry(op.clone()).or_default().merge(s);
        }
        MetricsSnapshot {
            operations: all
                .into_iter()
                .map(|(operation, s)| OperationMetrics {
                    operation,
                    count: s.count,
                    lock_wait: s.wait.summary(),
                    lock_hold: s.hold.summary(),
                    busy_retries: s.busy_retries,
                    timeouts: s.timeouts,
                    slot_taken: s.slot_taken,
                    stale_version: s.stale_version,
                    rate_limited: s.rate_limited,
                })
                .collect(),
        }
    }
}

fn save_stats(conn: &Connection, ops: &BTreeMap<String, OpStats>) -> rusqlite::Result<()> {
    let mut counter = conn.prepare_cached(
        "INSERT INTO contention_counter (operation, count, busy_retries, timeouts, slot_taken, stale_version, rate_limited, max_wait_us, max_hold_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (operation) DO UPDATE SET count = count + excluded.count, busy_retries = busy_retries + excluded.busy_retries,
           timeouts = timeouts + excluded.timeouts, slot_taken = slot_taken + excluded.slot_taken,
           stale_version = stale_version + excluded.stale_version, rate_limited = rate_limited + excluded.rate_limited,
           max_wait_us = max(max_wait_us, excluded.max_wait_us), max_hold_us = max(max_hold_us, excluded.max_hold_us)",
    )?;
    let mut bucket = conn.prepare_cached(
        "INSERT INTO contention_histogram (operation, kind, bucket, count) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (operation, kind, bucket) DO UPDATE SET count = count + excluded.count",
    )?;
    for (op, s) in ops {
        counter.execute(params![
            op,
            s.count as i64,
            s.busy_retries as i64,
            s.timeouts as i64,
            s.slot_taken as i64,
            s.stale_version as i64,
            s.rate_limited as i64,
            s.wait.max as i64,
            s.hold.max as i64
        ])?;
        for (kind, h) in [("wait", &s.wait), ("hold", &s.hold)] {
            for (b, n) in &h.counts {
                bucket.execute(params![op, kind, *b as i64, *n as i64])?;
            }
        }
    }
    Ok(())
}

fn load_stats(conn: &Connection) -> rusqlite::Result<BTreeMap<String, OpStats>> {
    let mut all: BTreeMap<String, OpStats> = BTreeMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT operation, count, busy_retries, timeouts, slot_taken, stale_version, rate_limited, max_wait_us, max_hold_us FROM contention_counter",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let s = all.entry(r.get(0)?).or_default();
        s.count = r.get::<_, i64>(1)? as u64;
        s.busy_retries = r.get::<_, i64>(2)? as u64;
        s.timeouts = r.get::<_, i64>(3)? as u64;
        s.slot_taken = r.get::<_, i64>(4)? as u64;
        s.stale_version = r.get::<_, i64>(5)? as u64;
        s.rate_limited = r.get::<_, i64>(6)? as u64;
        s.wait.max = r.get::<_, i64>(7)? as u64;
        s.hold.max = r.get::<_, i64>(8)? as u64;
    }
    let mut stmt =
        conn.prepare_cached("SELECT operation, kind, bucket, count FROM contention_histogram")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let s = all.entry(r.get(0)?).or_default();
        let h = if r.get::<_, String>(1)? == "wait" {
            &mut s.wait
        } else {
            &mut s.hold
        };
        h.counts
            .insert(r.get::<_, i64>(2)? as usize, r.get::<_, i64>(3)? as u64);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_percentiles_are_within_ten_percent() {
        let mut h = Histogram::default();
        for v in 1..=1000u64 {
            h.push(v);
        }
        let s = h.summary();
        assert!((450..=560).contains(&s.p50_us), "p50 {}", s.p50_us);
        assert!(
            (990..=1000).contains(&s.p99_us),
            "p99 {} is capped by the max",
            s.p99_us
        );
        assert_eq!(s.max_us, 1000);
    }

    #[test]
    fn saved_and_unsaved_figures_add_up() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../../migrations/01-core/up.sql"))
            .unwrap();
        let m = Metrics::default();
        m.record(
            "book",
            Duration::from_micros(100),
            Duration::from_micros(200),
            1,
        );
        m.record_refusal("book", ErrorCode::SlotTaken);
        m.save(&conn).unwrap();
        m.record(
            "book",
            Duration::from_micros(100),
            Duration::from_micros(400),
            0,
        );
        let s = m.snapshot(&conn).unwrap();
        let b = s.get("book").unwrap();
        assert_eq!((b.count, b.slot_taken, b.busy_retries), (2, 1, 1));
        assert_eq!(b.lock_hold.max_us, 400);
    }
}
