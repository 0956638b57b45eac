//! Sign-in checks, timed (the staff tests count them instead of timing them): a
//! wrong password checked against an account's argon2id hash, and against the
//! dummy hash an unknown username is checked against. The same work, so an
//! unknown username answers as slowly as a wrong password.

use std::time::Instant;

use super::{BenchRow, Samples};
use frontdesk::domain::password;
use frontdesk::error::Result;

/// `n` checks of each kind (10 quick, 50 otherwise).
pub(crate) fn checks(quick: bool) -> Result<Vec<BenchRow>> {
    let n = if quick { 10 } else { 50 };
    let account = password::hash_secret(b"an account's own password 1")?;
    let kinds = [
        (
            "sign-in check, wrong password (the account's hash)",
            account.as_str(),
        ),
        (
            "sign-in check, unknown username (the dummy hash)",
            password::dummy_hash(),
        ),
    ];
    let mut rows = Vec::new();
    for (operation, hash) in kinds {
        let mut s = Samples::default();
        let started = Instant::now();
        for _ in 0..n {
            let at = Instant::now();
            if password::verify_secret(b"not the password at all", hash) {
                s.errors += 1; // a wrong password must never match
            }
            s.lat.push(at.elapsed().as_micros() as u64);
        }
        rows.push(s.row(operation, started.elapsed()));
    }
    Ok(rows)
}
