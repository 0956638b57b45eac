//! Errors across IPC: the core's rich [`frontdesk::Error`] is folded into the small
//! `{code, message}` shape the UI branches on (DESIGN §4). The message is the core's
//! public message: written for people, never SQL text, codes or patient data.

use frontdesk::ErrorCode;
use serde::Serialize;
use ts_rs::TS;

/// What every failing command returns to the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct CommandError {
    /// The kind of failure the UI branches on.
    pub code: ErrorCode,
    /// One sentence for the person at the desk.
    pub message: String,
}

impl CommandError {
    /// An error with a code and a message written here (not from the core).
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Nobody is signed in at this window.
    pub fn unauthenticated() -> Self {
        frontdesk::Error::Unauthenticated.into()
    }

    /// A failure of the shell itself (a blocking task that panicked, …); the
    /// details go to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!("internal error in the desktop shell: {detail}");
        frontdesk::Error::Internal(String::new()).into()
    }
}

impl From<frontdesk::Error> for CommandError {
    fn from(e: frontdesk::Error) -> Self {
        let code = e.code();
        if code == ErrorCode::Internal {
            // the full error (possibly with SQL text) is for the log only
            tracing::error!("internal error: {e}");
        }
        Self {
            code,
            message: e.public_message(),
        }
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CommandError {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json_of(e: frontdesk::Error) -> serde_json::Value {
        serde_json::to_value(CommandError::from(e)).unwrap()
    }

    #[test]
    fn a_taken_slot_crosses_as_code_and_sentence() {
        assert_eq!(
            json_of(frontdesk::Error::SlotTaken),
            json!({"code": "SlotTaken", "message": "this slot is already booked"}),
            "the UI reads exactly `code` and `message`"
        );
    }

    #[test]
    fn rate_limits_say_when_to_retry() {
        assert_eq!(
            json_of(frontdesk::Error::RateLimited {
                retry_after_secs: 42
            }),
            json!({"code": "RateLimited", "message": "too many requests; try again in 42 s"})
        );
    }

    #[test]
    fn a_failed_login_is_unauthenticated_and_does_not_say_which_part_was_wrong() {
        let v = json_of(frontdesk::Error::LoginFailed);
        assert_eq!(v["code"], "Unauthenticated", "got {v}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("wrong username or password"),
            "got {v}"
        );
    }

    #[test]
    fn conflicts_name_who_changed_it_and_the_current_state() {
        let v = json_of(frontdesk::Error::Conflict {
            what: "the appointment",
            changed_by: "Dr. Admin".into(),
            changed_at: 0,
            current: "confirmed".into(),
        });
        assert_eq!(v["code"], "Conflict");
        let m = v["message"].as_str().unwrap();
        assert!(
            m.contains("Dr. Admin") && m.contains("confirmed"),
            "got {m}"
        );
    }

    #[test]
    fn internal_errors_carry_no_sql_text() {
        let sql = rusqlite_error();
        let v = json_of(frontdesk::Error::Database(sql));
        assert_eq!(v["code"], "Internal", "got {v}");
        let m = v["message"].as_str().unwrap().to_lowercase();
        for leak in ["select", "syntax", "appointment_tbl", "sqlite"] {
            assert!(!m.contains(leak), "internal message leaks {leak:?}: {m}");
        }
        let v = json_of(frontdesk::Error::Internal(
            "SELECT * FROM appointment_tbl".into(),
        ));
        assert!(
            !v["message"].as_str().unwrap().contains("SELECT"),
            "got {v}"
        );
    }

    /// A real SQL error whose text names the statement.
    fn rusqlite_error() -> rusqlite::Error {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute("SELECT * FROM appointment_tbl WHERE", [])
            .unwrap_err()
    }
}
