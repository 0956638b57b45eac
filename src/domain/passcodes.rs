//! The passcode rules that are numbers: how long a code lives, how many attempts
//! and requests are allowed, how the outbox retries. The SQL gets each as a
//! parameter; [`crate::service::otp`] and [`crate::service::outbox`] apply them.

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
