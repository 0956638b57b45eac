//! The worker's journal: one JSON line per finished operation, printed and flushed
//! only after the operation returned — so a success in the journal was committed,
//! whatever happens to the process a moment later.
//!
//! Every operation acts under its own name, [`label`]`(worker, thread, seq)`: the
//! history rows and audit rows it writes carry that name, so the verifier can
//! attribute every row in the database to exactly one journaled operation (or to
//! the one operation a killed thread had in flight), instead of balancing totals.

use std::io::Write;

use serde::{Deserialize, Serialize};

use frontdesk::domain::auth::Actor;
use frontdesk::domain::model::Appointment;
use frontdesk::error::{Error, ErrorCode};

/// The name operation `seq` of thread `thread` of worker `worker` acts under.
pub fn label(worker: u32, thread: u32, seq: u64) -> String {
    format!("stress w{worker}.t{thread} #{seq}")
}

/// `(worker, thread, seq)` of a name made by [`label`].
pub fn parse_label(name: &str) -> Option<(u32, u32, u64)> {
    let rest = name.strip_prefix("stress w")?;
    let (worker, rest) = rest.split_once(".t")?;
    let (thread, seq) = rest.split_once(" #")?;
    Some((
        worker.parse().ok()?,
        thread.parse().ok()?,
        seq.parse().ok()?,
    ))
}

/// The actor operation `seq` of a thread acts as: the local administrator's
/// rights, under the operation's own name.
pub fn actor(worker: u32, thread: u32, seq: u64) -> Actor {
    Actor {
        name: label(worker, thread, seq),
        ..Actor::local_admin()
    }
}

/// Nanoseconds on the machine's monotonic clock, comparable between processes
/// (Linux's `CLOCK_MONOTONIC` is one clock for the whole system): the invocation
/// and return stamps of the linearizability check.
pub fn monotonic_nanos() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// One finished operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// `ok`, `refused` (a rule said no) or `error` (busy or internal).
    pub outcome: String,
    /// `book`, `reschedule`, `cancel`, `confirm`, `otp.request`, `otp.verify`.
    pub op: String,
    /// The worker (numbered by the parent, replacements get new numbers).
    #[serde(default)]
    pub worker: u32,
    /// The thread within the worker.
    #[serde(default)]
    pub thread: u32,
    /// The operation's number within its thread (0, 1, 2, … with no gaps).
    #[serde(default)]
    pub seq: u64,
    /// The appointment: the one changed (or tried), or the one a booking made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment: Option<i64>,
    /// The version a change was made on (what the desk saw), for changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub based_on: Option<i64>,
    /// Its version after the operation, for successes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Its status after the operation, for successes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The slot: asked for (book, reschedule) or, for a success, the one it is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<i64>,
    /// The slot the appointment was in when the desk saw it (changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_slot: Option<i64>,
    /// The phone, for passcode operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The error code of a refusal or error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// [`monotonic_nanos`] just before the call.
    #[serde(default)]
    pub invoked: u64,
    /// [`monotonic_nanos`] just after it returned.
    #[serde(default)]
    pub returned: u64,
}

impl Entry {
    fn blank(outcome: &str, op: &str) -> Entry {
        Entry {
            outcome: outcome.into(),
            op: op.into(),
            worker: 0,
            thread: 0,
            seq: 0,
            appointment: None,
            based_on: None,
            version: None,
            status: None,
            slot: None,
            from_slot: None,
            phone: None,
            code: None,
            invoked: 0,
            returned: 0,
        }
    }

    /// A successful appointment operation.
    pub fn appointment(op: &str, a: &Appointment) -> Entry {
        Entry {
            appointment: Some(a.id),
            version: Some(a.version),
            status: Some(a.status.to_string()),
            slot: Some(a.slot_id),
            ..Entry::blank("ok", op)
        }
    }

    /// A successful passcode operation.
    pub fn passcode(op: &str, phone: &str) -> Entry {
        Entry {
            phone: Some(phone.into()),
            ..Entry::blank("ok", op)
        }
    }

    /// A failed operation: refused by a rule, or an error (busy, internal).
    pub fn failed(op: &str, e: &Error) -> Entry {
        let outcome = match e.code() {
            ErrorCode::Busy | ErrorCode::Internal => "error",
            _ => "refused",
        };
        Entry {
            code: Some(format!("{:?}", e.code())),
            ..Entry::blank(outcome, op)
        }
    }

    /// Whether the operation succeeded.
    pub fn ok(&self) -> bool {
        self.outcome == "ok"
    }

    /// `(worker, thread, seq)`: the operation's identity.
    pub fn key(&self) -> (u32, u32, u64) {
        (self.worker, self.thread, self.seq)
    }

    /// The name the operation acted under.
    pub fn label(&self) -> String {
        label(self.worker, self.thread, self.seq)
    }

    /// Whether this is an appointment operation (the rest are passcodes).
    pub fn is_appointment_op(&self) -> bool {
        matches!(
            self.op.as_str(),
            "book" | "reschedule" | "cancel" | "confirm"
        )
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
    text.lines().filter_map(parse_line).collect()
}

/// One journal line, or `None` for a torn one.
pub fn parse_line(line: &str) -> Option<Entry> {
    serde_json::from_str(line).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_and_nothing_else_parses_as_one() {
        assert_eq!(parse_label(&label(3, 1, 57)), Some((3, 1, 57)));
        assert_eq!(parse_label("cli (local administrator)"), None);
        assert_eq!(parse_label("stress w3.t1"), None);
        assert_eq!(parse_label("stress wx.t1 #2"), None);
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let mut e = Entry::failed("book", &Error::SlotTaken);
        e.seq = 4;
        let whole = serde_json::to_string(&e).unwrap();
        let text = format!("{whole}\n{}", &whole[..whole.len() / 2]);
        assert_eq!(parse(&text), vec![e]);
    }
}
