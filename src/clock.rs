//! The time source. Production uses the system clock; tests inject a [`ManualClock`]
//! to expire passcodes and sessions without sleeping. On a clinic server the
//! server's clock decides ([`ServerClock`]): desks on several PCs stamp bookings,
//! passcodes and their limits, sessions and audit rows on one time line.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
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

/// The server's time in Unix milliseconds, read in one round trip.
pub type ReadServerTime = Box<dyn Fn() -> Result<i64> + Send + Sync>;

/// A clinic server's clock, told by this PC's: this PC's time plus the offset
/// measured from the server (a round trip's midpoint), measured when the clinic
/// is opened and again every [`SERVER_CLOCK_EVERY`] in a thread of its own, so
/// that reading the time never waits on the network. A measurement that fails
/// keeps the offset it had.
pub struct ServerClock(Arc<ServerClockInner>);

struct ServerClockInner {
    base: Arc<dyn Clock>,
    read: ReadServerTime,
    offset_ms: AtomicI64,
    measured_at: Mutex<Instant>,
    measuring: AtomicBool,
}

impl ServerClock {
    /// Measures the server's clock against `base` once; fails when the server
    /// cannot be read.
    pub fn start(base: Arc<dyn Clock>, read: ReadServerTime) -> Result<Self> {
        let inner = ServerClockInner {
            base,
            read,
            offset_ms: AtomicI64::new(0),
            measured_at: Mutex::new(Instant::now()),
            measuring: AtomicBool::new(false),
        };
        inner.measure()?;
        Ok(ServerClock(Arc::new(inner)))
    }

    /// The server's clock minus this PC's, in milliseconds, as last measured.
    pub fn offset_ms(&self) -> i64 {
        self.0.offset_ms.load(Ordering::Relaxed)
    }
}

impl ServerClockInner {
    fn measure(&self) -> Result<()> {
        let before = self.base.now_ms();
        let server = (self.read)()?;
        let after = self.base.now_ms();
        let offset = server - before - (after - before) / 2;
        let old = self.offset_ms.swap(offset, Ordering::Relaxed);
        *self.measured_at.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
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
        let due = inner
            .measured_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
            >= SERVER_CLOCK_EVERY;
        if due && !inner.measuring.swap(true, Ordering::Relaxed) {
            let inner = Arc::clone(inner);
            std::thread::spawn(move || {
                if let Err(e) = inner.measure() {
                    tracing::warn!("could not read the clinic server's clock again: {e}");
                }
                inner.measuring.store(false, Ordering::Relaxed);
            });
        }
        inner
            .base
            .now_ms()
            .saturating_add(inner.offset_ms.load(Ordering::Relaxed))
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
            Box::new(|| Ok(SystemClock.now_ms())),
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
            Box::new(|| Err(crate::Error::Internal("no server".into()))),
        );
        assert!(failed.is_err());
    }
}
