//! The worker's journal: one JSON line per finished operation, printed and flushed
//! only after the operation returned — so a success in the journal was committed,
//! whatever happens to the process a moment later.

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};
use crate::model::Appointment;

/// One finished operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// `ok`, `refused` (a rule said no) or `error` (busy or internal).
    pub outcome: String,
    /// `book`, `reschedule`, `cancel`, `confirm`, `otp.request`, `otp.verify`.
    pub op: String,
    /// The appointment, for appointment operations that succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment: Option<i64>,
    /// Its version after the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Its status after the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Its slot after the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<i64>,
    /// The phone, for passcode operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The error code of a refusal or error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl Entry {
    /// A successful appointment operation.
    pub fn appointment(op: &str, a: &Appointment) -> Entry {
        Entry {
            outcome: "ok".into(),
            op: op.into(),
            appointment: Some(a.id),
            version: Some(a.version),
            status: Some(a.status.to_string()),
            slot: Some(a.slot_id),
            phone: None,
            code: None,
        }
    }

    /// A successful passcode operation.
    pub fn passcode(op: &str, phone: &str) -> Entry {
        Entry {
            outcome: "ok".into(),
            op: op.into(),
            appointment: None,
            version: None,
            status: None,
            slot: None,
            phone: Some(phone.into()),
            code: None,
        }
    }

    /// A failed operation: refused by a rule, or an error (busy, internal).
    pub fn failed(op: &str, e: &Error) -> Entry {
        let outcome = match e.code() {
            ErrorCode::Busy | ErrorCode::Internal => "error",
            _ => "refused",
        };
        Entry {
            outcome: outcome.into(),
            op: op.into(),
            appointment: None,
            version: None,
            status: None,
            slot: None,
            phone: None,
            code: Some(format!("{:?}", e.code())),
        }
    }

    /// Whether the operation succeeded.
    pub fn ok(&self) -> bool {
        self.outcome == "ok"
    }

    /// Prints the entry on stdout as one line and flushes it.
    pub fn print(&self) {
        let line = serde_json::to_string(self).unwrap_or_default();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Parses a journal; a torn last line (the process was killed mid-write) is skipped.
pub fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
