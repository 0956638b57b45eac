//! Staff accounts as the desk sees them (never a password hash), and the
//! sign-in throttle's limits ([`crate::service::sign_in`] applies them).

use serde::Serialize;
use ts_rs::TS;

use crate::domain::model::Role;

/// A staff account as admins see it (never the password hash).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct StaffMember {
    /// Row id.
    #[ts(type = "number")]
    pub id: i64,
    /// Sign-in name (case-insensitive).
    pub username: String,
    /// Name shown in the app and the audit log.
    pub display_name: String,
    /// Admin or receptionist.
    pub role: Role,
    /// Deactivated accounts cannot sign in.
    pub active: bool,
    /// Consecutive failed sign-ins (forgotten a day after the last one).
    #[ts(type = "number")]
    pub failed_logins: i64,
    /// When the newest failed sign-in was (Unix seconds).
    #[ts(type = "number | null")]
    pub last_failed_at: Option<i64>,
    /// Locked since (Unix seconds), after too many failed sign-ins; until an admin
    /// unlocks the account or resets its password.
    #[ts(type = "number | null")]
    pub locked_at: Option<i64>,
    /// An admin set the password: the person must choose a new one at sign-in.
    pub must_change_password: bool,
}

impl StaffMember {
    /// The account's failed sign-ins.
    pub fn failures(&self) -> Failures {
        Failures {
            count: self.failed_logins,
            last_at: self.last_failed_at,
            locked_at: self.locked_at,
        }
    }
}

/// Failed sign-ins under one username, as the throttle sees them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    /// Consecutive failures.
    pub count: i64,
    /// The newest one (Unix seconds).
    pub last_at: Option<i64>,
    /// Locked since (Unix seconds).
    pub locked_at: Option<i64>,
}

/// Failed sign-ins in a row under one username that cost nothing; the next waits.
pub const FREE_FAILED_LOGINS: i64 = 3;
/// Failed sign-ins in a row that lock an account until an admin unlocks it.
pub const LOCK_AFTER_FAILED_LOGINS: i64 = 20;
/// The longest wait between two sign-in attempts under one username (seconds).
pub const MAX_SIGN_IN_DELAY_SECS: i64 = 5 * 60;
/// Failures whose newest is this old are forgotten (seconds), unless they locked
/// the account.
pub const FORGET_FAILED_LOGINS_SECS: i64 = 24 * 3600;

/// How long the next attempt waits after `failures` failed ones in a row: nothing
/// for the first [`FREE_FAILED_LOGINS`], then 2 s doubling each time, at most `cap`.
pub fn sign_in_delay_secs(failures: i64, cap: i64) -> i64 {
    if failures < FREE_FAILED_LOGINS {
        return 0;
    }
    let doublings = (failures - FREE_FAILED_LOGINS).min(30) as u32;
    (2_i64 << doublings).min(cap)
}
