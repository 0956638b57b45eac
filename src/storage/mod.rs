//! The storage layer: opening the clinic's file ([`db`], [`cipher`],
//! [`presence`]), the one write path ([`tx`]: gate, lock file, group sync,
//! checkpointer), the tamper-evident audit seal ([`audit_key`]), file backups
//! ([`backup`]), the per-operation figures ([`metrics`]) — and all SQL, one module
//! per aggregate. The aggregates' functions take a `&Connection` (a `Transaction`
//! derefs to one) so several compose inside one write transaction; they enforce
//! no permissions, take every limit as a parameter, and hold no locks themselves.

/// The connection every storage function takes (a transaction derefs to one):
/// the one name the services use for it. The services never name the SQLite
/// library; a second backend changes what this is, and the compiler then lists
/// every storage function that must learn it.
pub type Conn = rusqlite::Connection;

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
