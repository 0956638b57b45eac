//! The core's one error type.
//!
//! Every refusal a person can act on has its own variant; [`Error::code`] folds them
//! into the small [`ErrorCode`] set the desk UI and the CLI branch on. Messages are
//! written for a receptionist or a clinic admin: no SQL text and no patient data.

use serde::Serialize;
use ts_rs::TS;

/// The small, stable set of error kinds the UI and the CLI branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub enum ErrorCode {
    /// The thing asked for does not exist.
    NotFound,
    /// The slot already has a live appointment.
    SlotTaken,
    /// The record changed since the caller read it.
    Conflict,
    /// The status change is not allowed from the current status.
    InvalidTransition,
    /// The input is malformed or breaks a rule.
    Invalid,
    /// Too many requests; retry later.
    RateLimited,
    /// Nobody is signed in, or the session ended.
    Unauthenticated,
    /// The signed-in person's role may not do this.
    Forbidden,
    /// The database stayed locked past the deadline.
    Busy,
    /// The database is encrypted and this computer does not have its key: ask for
    /// the recovery key.
    KeyNeeded,
    /// Something unexpected; details are in the log.
    Internal,
}

/// Everything a core operation can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A record that the request names does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The slot already has a live appointment.
    #[error("this slot is already booked")]
    SlotTaken,
    /// Optimistic concurrency: the record changed since the caller read it.
    #[error("{what} was changed by {changed_by} meanwhile (now {current}); reload and try again")]
    Conflict {
        /// What changed, e.g. "the appointment".
        what: &'static str,
        /// Who made the last change.
        changed_by: String,
        /// When the last change happened (Unix seconds).
        changed_at: i64,
        /// The current state in words (e.g. the current status).
        current: String,
    },
    /// The appointment state machine forbids this move.
    #[error("an appointment cannot go from {from} to {to}")]
    InvalidTransition {
        /// Current status.
        from: String,
        /// Requested status.
        to: String,
    },
    /// Bad input or a broken rule, with a sentence saying which.
    #[error("{0}")]
    Invalid(String),
    /// Rate limit reached.
    #[error("too many requests; try again in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a retry may succeed.
        retry_after_secs: i64,
    },
    /// Not signed in, or the session expired.
    #[error("please sign in")]
    Unauthenticated,
    /// A sign-in was refused: unknown username, wrong password, or a deactivated
    /// account — deliberately indistinguishable.
    #[error("wrong username or password")]
    LoginFailed,
    /// A sign-in came too soon after failed ones: under this username (known or
    /// not — the answer is the same) or at this desk. Nothing was checked.
    #[error("too many failed sign-ins {}; try again in {retry_after_secs} s", if *.at_desk { "at this desk" } else { "with this username" })]
    SignInThrottled {
        /// Seconds until the next attempt is taken.
        retry_after_secs: i64,
        /// The desk's failures (any username) rather than the username's.
        at_desk: bool,
    },
    /// So many failed sign-ins in a row under this username that it is locked
    /// until an admin unlocks it (an unknown username gets the same answer).
    #[error("this account is locked after too many failed sign-ins; an admin can unlock it")]
    AccountLocked,
    /// The signed-in person must choose a new password (an admin set it) before
    /// doing anything else.
    #[error("choose a new password first: an admin set your password, so only you may choose the next one")]
    PasswordChangeRequired,
    /// The role may not perform the action.
    #[error("your role may not {0}")]
    Forbidden(&'static str),
    /// The write lock stayed busy past the deadline.
    #[error("another desk is holding the database (it may be frozen or stopped); nothing was saved. Try again in a moment, and if it keeps happening, close Frontdesk on the other desks")]
    Busy,
    /// The file is encrypted and this computer does not have its key.
    #[error("this file is encrypted and this computer does not have its key (key id {key_id}); enter the clinic's recovery key to open it")]
    KeyNeeded {
        /// The key id (the first bytes of the file's salt), to find the right recovery key.
        key_id: String,
    },
    /// The database file cannot be used (wrong version, network drive, unreadable).
    #[error("{0}")]
    Unusable(String),
    /// An unexpected database failure.
    #[error("internal database error: {0}")]
    Database(rusqlite::Error),
    /// Any other unexpected failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The UI-facing error kind.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::SlotTaken => ErrorCode::SlotTaken,
            Error::Conflict { .. } => ErrorCode::Conflict,
            Error::InvalidTransition { .. } => ErrorCode::InvalidTransition,
            Error::Invalid(_) => ErrorCode::Invalid,
            Error::RateLimited { .. } | Error::SignInThrottled { .. } => ErrorCode::RateLimited,
            Error::Unauthenticated | Error::LoginFailed | Error::AccountLocked => {
                ErrorCode::Unauthenticated
            }
            Error::Forbidden(_) | Error::PasswordChangeRequired => ErrorCode::Forbidden,
            Error::Busy => ErrorCode::Busy,
            Error::KeyNeeded { .. } => ErrorCode::KeyNeeded,
            Error::Unusable(_) | Error::Database(_) | Error::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Shorthand for an [`Error::Invalid`] with a message.
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }

    /// A message that is safe to show a person: internal details (which may carry
    /// SQL text) are replaced by a generic sentence.
    pub fn public_message(&self) -> String {
        match self {
            Error::Database(_) | Error::Internal(_) => {
                "something went wrong inside Frontdesk; the change was not saved (details are in the log)".into()
            }
            other => other.to_string(),
        }
    }
}

/// True for SQLITE_BUSY / SQLITE_LOCKED, the only errors the write helper retries.
pub fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked)
    )
}

impl From<r2d2::Error> for Error {
    fn from(e: r2d2::Error) -> Self {
        Error::Internal(format!("connection pool: {e}"))
    }
}

/// Result with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a storage function that works on the clinic file only answers on the
/// clinic server (carried through `rusqlite::Error` so that every storage
/// function keeps one error type while the server learns them one by one).
#[derive(Debug)]
pub struct NotOnServer;

impl std::fmt::Display for NotOnServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "this is not available on the clinic server yet in this version of Frontdesk; \
             nothing was changed",
        )
    }
}

impl std::error::Error for NotOnServer {}

impl From<NotOnServer> for Error {
    fn from(e: NotOnServer) -> Self {
        Error::Unusable(e.to_string())
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::UserFunctionError(inner) if inner.is::<NotOnServer>() => {
                Error::Unusable(inner.to_string())
            }
            // a statement the clinic server refused, carried the same way
            rusqlite::Error::UserFunctionError(inner) if inner.is::<postgres::Error>() => {
                match inner.downcast::<postgres::Error>() {
                    Ok(e) => crate::storage::pg::to_error(*e),
                    Err(inner) => Error::Internal(inner.to_string()),
                }
            }
            e => Error::Database(e),
        }
    }
}
