//! The storage layer: opening the clinic's file ([`db`], [`cipher`],
//! [`presence`]), the one write path ([`tx`]: gate, lock file, group sync,
//! checkpointer), the tamper-evident audit seal ([`audit_key`]), file backups
//! ([`backup`]), the per-operation figures ([`metrics`]) — and all SQL, one module
//! per aggregate. The aggregates' functions take a `&Connection` (a `Transaction`
//! derefs to one) so several compose inside one write transaction; they enforce
//! no permissions, take every limit as a parameter, and hold no locks themselves.

/// What every aggregate's storage function takes: the clinic file's connection
/// (a write transaction derefs to one) or a transaction on the clinic server.
/// The services hand it on and never name either library. A function that has
/// not learnt the server yet refuses it with a plain sentence
/// ([`Conn::lite`]), never a wrong answer.
#[derive(Clone, Copy)]
pub enum Conn<'a> {
    /// The clinic file.
    Lite(&'a rusqlite::Connection),
    /// A transaction on the clinic server.
    Server(&'a pg::ServerTx),
}

impl<'a> Conn<'a> {
    /// The file's connection, or the refusal of an operation the clinic server
    /// does not offer yet.
    #[track_caller]
    pub(crate) fn lite(&self) -> rusqlite::Result<&'a rusqlite::Connection> {
        match self {
            Conn::Lite(c) => Ok(c),
            Conn::Server(_) => {
                // which storage function the server lacks, for the log
                tracing::warn!(
                    "not on the clinic server yet: {}",
                    std::panic::Location::caller()
                );
                Err(rusqlite::Error::UserFunctionError(Box::new(
                    crate::error::NotOnServer,
                )))
            }
        }
    }
}

/// What a storage function returns.
pub type SqlResult<T> = rusqlite::Result<T>;

/// Whether `e` is a UNIQUE constraint refusing a second row.
pub fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

pub mod audit_key;
pub mod backup;
pub mod check;
pub mod cipher;
pub mod db;
pub mod metrics;
pub mod pg;
pub mod presence;
pub mod sql;
pub mod tx;

pub mod appointments;
pub mod audit;
pub mod doctors;
pub mod generated;
pub mod otp;
pub mod patients;
pub mod payments;
pub mod reminders;
pub mod reports;
pub mod series;
pub mod settings;
pub mod slots;
pub mod staff;
pub mod templates;
pub mod waitlist;
