//! The passcode rules that are numbers: how long a code lives, how many attempts
//! and requests are allowed, how the outbox retries. The SQL gets each as a
//! parameter; [`crate::service::otp`] and [`crate::service::outbox`] apply them,
//! and [`check_request`] is the rule for a new request on every backend.

use crate::error::{Error, Result};
use limits::*;

/// Every passcode limit, in one place (the SQL gets them as parameters).
pub mod limits {
    /// A code lives this long (seconds).
    pub const CODE_TTL_SECS: i64 = 5 * 60;
    /// Verification attempts per code.
    pub const MAX_ATTEMPTS: i64 = 5;
    /// Seconds between two requests for one phone.
    pub const MIN_REQUEST_GAP_SECS: i64 = 60;
    /// Requests per phone per hour.
    pub const MAX_REQUESTS_PER_PHONE_PER_HOUR: usize = 5;
    /// Requests per desk (the signed-in staff account) per hour, across phones.
    pub const MAX_REQUESTS_PER_DESK_PER_HOUR: usize = 30;
    /// Failed verifications per phone per day, across codes.
    pub const MAX_FAILED_VERIFICATIONS_PER_PHONE_PER_DAY: usize = 10;
    /// The window of the hourly limits (seconds).
    pub const HOUR_SECS: i64 = 3600;
    /// The window of the daily limit (seconds).
    pub const DAY_SECS: i64 = 24 * 3600;
    /// Sending attempts before the sweep gives a message up.
    pub const MAX_SEND_ATTEMPTS: i64 = 3;
    /// How long a desk's claim on a message lasts (seconds); another desk may
    /// take over a message whose claim is older. One claim covers one sending.
    pub const CLAIM_SECS: i64 = 120;
    /// Messages one sweep sends at most.
    pub const MAX_PER_RUN: u32 = 20;
}

/// `RateLimited` when `times` (ascending, inside the window) already hold `max`
/// events: the wait is until the oldest that counts leaves the window.
pub fn limit(times: &[i64], max: usize, window: i64, now: i64) -> Result<()> {
    if times.len() >= max {
        let oldest = times[times.len() - max];
        return Err(Error::RateLimited {
            retry_after_secs: (oldest + window - now).max(1),
        });
    }
    Ok(())
}

/// Whether a new passcode may be requested now, given the phone's requests of the
/// last hour, the desk's requests of the last hour and the phone's failed
/// verifications of the last day (each ascending): 60 s between two requests for
/// a phone, then the hourly and daily limits. Every backend reads those three
/// lists under its per-phone lock and asks this.
pub fn check_request(
    phone_requests: &[i64],
    desk_requests: &[i64],
    failed_verifications: &[i64],
    now: i64,
) -> Result<()> {
    if let Some(&last) = phone_requests.last() {
        if now - last < MIN_REQUEST_GAP_SECS {
            return Err(Error::RateLimited {
                retry_after_secs: MIN_REQUEST_GAP_SECS - (now - last),
            });
        }
    }
    limit(
        phone_requests,
        MAX_REQUESTS_PER_PHONE_PER_HOUR,
        HOUR_SECS,
        now,
    )?;
    limit(
        desk_requests,
        MAX_REQUESTS_PER_DESK_PER_HOUR,
        HOUR_SECS,
        now,
    )?;
    limit(
        failed_verifications,
        MAX_FAILED_VERIFICATIONS_PER_PHONE_PER_DAY,
        DAY_SECS,
        now,
    )
}
