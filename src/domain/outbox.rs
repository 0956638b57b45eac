//! Messages waiting to go to patients (passcodes and reminders), as admins see them: never their text.

use serde::Serialize;
use ts_rs::TS;

/// An outbox message as admins see it: never its text.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct OutboxMessage {
    /// Row id.
    #[ts(type = "number")]
    pub id: i64,
    /// Recipient (E.164).
    pub phone: String,
    /// QUEUED, SENDING, SENT or FAILED.
    pub status: String,
    /// Sending attempts so far.
    #[ts(type = "number")]
    pub attempts: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Queued at (Unix seconds).
    #[ts(type = "number")]
    pub created_at: i64,
    /// Sent at (Unix seconds).
    #[ts(type = "number | null")]
    pub sent_at: Option<i64>,
    /// `OTP` (a passcode) or `REMINDER` (an appointment reminder).
    pub kind: String,
}
