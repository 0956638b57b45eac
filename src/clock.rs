//! The time source. Production uses the system clock; tests inject a [`ManualClock`]
//! to expire passcodes and sessions without sleeping. On a clinic server the
//! server's clock decides ([`ServerClock`]): desks on several PCs stamp bookings,
//! passcodes and their limits, sessions and audit rows on one time line.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::Result;

/// Where "now" comes from (Unix seconds, UTC).
pub trait Clock: Send + Sync {
    /// The current time in Unix seconds.
    fn now(&self) -> i64;

    /// The current time in Unix milliseconds (this clock's seconds unless it
    /// knows better).
    fn now_ms(&self) -> i64 {
        self.now().saturating_mul(1000)
    }

    /// Whether this is this PC's own clock, which a clinic server's clock
    /// replaces; a test's clock that moves only when told is kept as it is.
    fn is_this_pcs(&self) -> bool {
        false
    }
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }

    fn is_this_pcs(&self) -> bool {
        true
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// Starts at `now`.
    pub fn new(now: i64) -> Self {
        ManualClock(AtomicI64::new(now))
    }

    /// Moves the clock forward by `secs`.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// How often a [`ServerClock`] measures the server's clock again (this PC's
/// clock drifts, or is set, meanwhile).
pub const SERVER_CLOCK_EVERY: Duration = Duration::from_secs(10 * 60);

/// The samples one measurement takes; the one with the shortest round trip counts.
const SAMPLES: usize = 3;

/// A sample whose round trip took longer than this is not used: its midpoint
/// could be far from the moment the server read its clock.
const MAX_ROUND_TRIP_MS: i64 = 500;

/// Reads the server's clock (Unix milliseconds) in one round trip and returns
/// (`clock`'s time just before the query, the server's, `clock`'s just after):
/// the times bracket the query alone, not the wait for a connection.
pub type ReadServerTime = Box<dyn Fn(&dyn Clock) -> Result<(i64, i64, i64)> + Send + Sync>;

/// A clinic server's clock, told by this PC's: this PC's time plus the offset
/// measured from the server (the midpoint of the quickest of a few round trips),
/// measured when the clinic is opened and again every [`SERVER_CLOCK_EVERY`] in a
/// thread of its own, so that reading the time never waits on the network. A
/// measurement that fails keeps the offset it had; the time told never goes
/// back, even when a new offset is smaller.
pub struct ServerClock(Arc<ServerClockInner>);

struct ServerClockInner {
    base: Arc<dyn Clock>,
    read: ReadServerTime,
    offset_ms: AtomicI64,
    /// The last measurement's start: one is started at most every
    /// [`SERVER_CLOCK_EVERY`], whether it succeeds or not.
    attempted_at: Mutex<Instant>,
    /// The latest time told (never less is told after).
    told_ms: AtomicI64,
}

impl ServerClock {
    /// Measures the server's clock against `base` once; fails when the server
    /// cannot be read.
    pub fn start(base: Arc<dyn Clock>, read: ReadServerTime) -> Result<Self> {
        let inner = ServerClockInner {
            base,
            read,
            offset_ms: AtomicI64::new(0),
            attempted_at: Mutex::new(Instant::now()),
            told_ms: AtomicI64::new(i64::MIN),
        };
        inner.measure(true)?;
        Ok(ServerClock(Arc::new(inner)))
    }

    /// The server's clock minus this PC's, in milliseconds, as last measured.
    pub fn offset_ms(&self) -> i64 {
        self.0.offset_ms.load(Ordering::Relaxed)
    }
}

impl ServerClockInner {
    /// Takes [`SAMPLES`] samples and keeps the quickest; a first measurement
    /// takes it however slow, a later one only under [`MAX_ROUND_TRIP_MS`].
    fn measure(&self, first: bool) -> Result<()> {
        let mut best: Option<(i64, i64)> = None;
        for _ in 0..SAMPLES {
            let (before, server, after) = (self.read)(self.base.as_ref())?;
            let round_trip = after - before;
            if best.is_none_or(|(rt, _)| round_trip < rt) {
                best = Some((round_trip, server - before - round_trip / 2));
            }
        }
        let Some((round_trip, offset)) = best else {
            return Ok(());
        };
        if !first && round_trip > MAX_ROUND_TRIP_MS {
            tracing::warn!(
                "the clinic server's clock was not measured again: its quickest answer took {round_trip} ms"
            );
            return Ok(());
        }
        let old = self.offset_ms.swap(offset, Ordering::Relaxed);
        if (offset - old).abs() >= 2_000 {
            tracing::warn!(
                "this PC's clock is {:.1} s off the clinic server's; the server's time is used",
                -offset as f64 / 1000.0
            );
        }
        Ok(())
    }
}

impl Clock for ServerClock {
    fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    fn now_ms(&self) -> i64 {
        let inner = &self.0;
        let due = {
            let mut at = inner.attempted_at.lock().unwrap_or_else(|p| p.into_inner());
            let due = at.elapsed() >= SERVER_CLOCK_EVERY;
            if due {
                *at = Instant::now();
            }
            due
        };
        if due {
            let inner = Arc::clone(inner);
            std::thread::spawn(move || {
                if let Err(e) = inner.measure(false) {
                    tracing::warn!("could not read the clinic server's clock again: {e}");
                }
            });
        }
        let now = inner
            .base
            .now_ms()
            .saturating_add(inner.offset_ms.load(Ordering::Relaxed));
        inner.told_ms.fetch_max(now, Ordering::Relaxed).max(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock `by_ms` ahead of this PC's that a server clock may replace.
    struct Ahead(i64);

    impl Clock for Ahead {
        fn now(&self) -> i64 {
            self.now_ms().div_euclid(1000)
        }
        fn now_ms(&self) -> i64 {
            SystemClock.now_ms() + self.0
        }
        fn is_this_pcs(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_server_clock_tells_the_server_s_time_on_a_pc_whose_clock_is_off() {
        let clock = ServerClock::start(
            Arc::new(Ahead(3_600_000)),
            Box::new(|pc: &dyn Clock| {
                let before = pc.now_ms();
                Ok((before, SystemClock.now_ms(), pc.now_ms()))
            }),
        )
        .unwrap();
        let off = clock.offset_ms();
        assert!(
            (-3_600_050..=-3_599_950).contains(&off),
            "an hour fast is measured as such: {off} ms"
        );
        assert!(
            (clock.now() - SystemClock.now()).abs() <= 1,
            "the server's time is told, not this PC's"
        );
    }

    #[test]
    fn a_server_that_cannot_be_read_fails_the_start() {
        let failed = ServerClock::start(
            Arc::new(SystemClock),
            Box::new(|_: &dyn Clock| Err(crate::Error::Internal("no server".into()))),
        );
        assert!(failed.is_err());
    }

    #[test]
    fn the_told_time_never_goes_back_and_a_slow_answer_is_not_taken_later() {
        // the server answers 5 s ahead at first, then 5 s behind
        let behind = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let slow = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (b, s) = (behind.clone(), slow.clone());
        let clock = ServerClock::start(
            Arc::new(SystemClock),
            Box::new(move |pc: &dyn Clock| {
                let before = pc.now_ms();
                let shift = if b.load(Ordering::Relaxed) {
                    -5_000
                } else {
                    5_000
                };
                let after = pc.now_ms() + if s.load(Ordering::Relaxed) { 900 } else { 0 };
                Ok((before, SystemClock.now_ms() + shift, after))
            }),
        )
        .unwrap();
        let ahead = clock.now_ms();
        assert!(ahead >= SystemClock.now_ms() + 4_900);
        behind.store(true, Ordering::Relaxed);
        slow.store(true, Ordering::Relaxed);
        clock.0.measure(false).unwrap();
        assert!(
            clock.offset_ms() >= 4_900,
            "a sample with a 900 ms round trip is not taken: {}",
            clock.offset_ms()
        );
        slow.store(false, Ordering::Relaxed);
        clock.0.measure(false).unwrap();
        assert!(clock.offset_ms() <= -4_900, "a quick one is");
        assert!(
            clock.now_ms() >= ahead,
            "the time told does not go back with the smaller offset"
        );
    }
}
