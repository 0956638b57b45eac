//! Passcode request and verify: the full calls (argon2 hashing and checking
//! outside the lock, and for a request the sender program run at once, included)
//! and the request's transaction alone with a hash computed beforehand, to show
//! that neither hashing nor sending holds the write lock.

use std::time::Instant;

use super::setup::BenchClinic;
use super::{with_hold, BenchRow, Samples};
use frontdesk::error::{Error, Result};
use frontdesk::storage::{audit, otp};
use frontdesk::{Actor, Role};

/// A valid German mobile number reserved for the passcode runs.
fn phone(i: usize) -> String {
    format!("+491519{i:07}")
}

/// The six-digit code in a message (what the patient's phone would show).
pub fn code_in(body: &str) -> Option<String> {
    frontdesk::senders::recording::code_in(body)
}

/// Request (transaction only, and full) and verify, `n` phones each.
pub(crate) fn passcodes(clinic: &BenchClinic, quick: bool) -> Result<Vec<BenchRow>> {
    let n = if quick { 20 } else { 200 };
    let actor = Actor::local_admin();
    let label = actor.label();
    let mut rows = Vec::new();

    let desk = clinic.open()?;
    let hash = frontdesk::domain::password::hash_secret(b"123456")?;
    let mut s = Samples::default();
    let t = Instant::now();
    for i in 0..n {
        let phone = phone(i);
        let now = desk.now();
        let at = Instant::now();
        // the same statements as Frontdesk::request_otp's transaction
        let r = desk.write("otp.request", |tx| {
            if !otp::requests_since(&frontdesk::storage::Conn::Lite(tx), &phone, now - 3600)?
                .is_empty()
            {
                return Err(Error::RateLimited {
                    retry_after_secs: 60,
                });
            }
            otp::desk_requests_since(&frontdesk::storage::Conn::Lite(tx), &label, now - 3600)?;
            otp::failed_attempts_since(&frontdesk::storage::Conn::Lite(tx), &phone, now - 86_400)?;
            otp::log_request(
                &frontdesk::storage::Conn::Lite(tx),
                &phone,
                &label,
                now,
                now - 3600,
            )?;
            otp::replace_code(
                &frontdesk::storage::Conn::Lite(tx),
                &phone,
                &hash,
                now,
                now + 300,
                &label,
            )?;
            otp::expire(&frontdesk::storage::Conn::Lite(tx), now - 300, now - 120)?;
            let id = otp::queue_claimed(
                &frontdesk::storage::Conn::Lite(tx),
                &phone,
                "Your passcode is 123456.",
                now,
                "bench",
            )?;
            audit::record(
                &frontdesk::storage::Conn::Lite(tx),
                now,
                &label,
                "otp.request",
                "otp",
                Some(id),
                "bench",
            )?;
            Ok(())
        });
        s.outcome(at, &r);
    }
    rows.push(with_hold(
        s.row(
            "passcode request, transaction only (hash precomputed)",
            t.elapsed(),
        ),
        &desk,
        "otp.request",
    ));

    let desk = clinic.open()?;
    let mut s = Samples::default();
    let mut sent = Vec::new();
    let t = Instant::now();
    for i in n..2 * n {
        let phone = phone(i);
        // a desk may ask 30 times an hour: the requests come from many desks
        let asking = Actor::staff(1_000 + i as i64 / 25, "Bench desk", Role::Receptionist);
        let at = Instant::now();
        let r = desk.request_otp(&asking, &phone);
        s.outcome(at, &r);
        sent.push(r?);
    }
    rows.push(with_hold(
        s.row(
            "passcode request, full call (argon2 hash and sending outside the lock)",
            t.elapsed(),
        ),
        &desk,
        "otp.request",
    ));

    let desk = clinic.open()?;
    let mut codes = Vec::new();
    for r in &sent {
        // the code as the recording sender received it
        let code = frontdesk::senders::recording::last_code(clinic.senders(), &r.phone)
            .ok_or_else(|| Error::Internal("no code reached the phone".into()))?;
        codes.push((r.phone.clone(), code));
    }
    let mut s = Samples::default();
    let t = Instant::now();
    for (phone, code) in &codes {
        let at = Instant::now();
        let r = desk.verify_otp(&actor, phone, code);
        s.outcome(at, &r);
        r?;
    }
    rows.push(with_hold(
        s.row(
            "passcode verify, full call (argon2 check outside the lock)",
            t.elapsed(),
        ),
        &desk,
        "otp.verify",
    ));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_code_is_found_in_the_message() {
        assert_eq!(
            super::code_in("Your Frontdesk clinic passcode is 042917. It expires in 5 minutes.")
                .as_deref(),
            Some("042917")
        );
        assert_eq!(super::code_in("no code here, 12345 or 1234567"), None);
    }
}
