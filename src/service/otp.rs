//! One-time passcodes for verifying a patient's mobile number.
//!
//! **Request**: the phone is normalised and must be able to receive text
//! messages (a landline or a toll-free number is refused); a sender must be set
//! up on this PC (see [`crate::senders`]), else the request is refused. A 6-digit
//! code is drawn from the OS random generator and hashed with argon2id — all
//! before the transaction. One write transaction then enforces the limits (below),
//! replaces any older code (`phone` is the primary key, so two live codes for one
//! phone cannot exist), erases the text of messages whose code expired, and queues
//! the message already claimed for this desk. Right after it commits, the desk
//! runs the sender (phone as an argument, the message on standard input) and
//! records the outcome; [`OtpRequested::sent`] is true only when the sender said
//! so (exit status 0). A message that was not sent is given up at once — a new
//! code is the retry.
//!
//! **Limits** (all in [`limits`], passed to SQL as parameters): per phone one
//! request a minute and 5 an hour; per desk 30 requests an hour across phones; per
//! phone 10 failed verifications a day across codes (then even requests for it are
//! refused until the oldest failure is a day old); per code 5 attempts and 5
//! minutes. A *desk* is the person signed in: the staff account (every session and
//! window of it counts together, so signing out and in again does not reset the
//! limit); for the command line, its actor (the local administrator, or whoever it
//! signed in as).
//!
//! **Verify**: input that is not exactly six digits is refused before any hashing.
//! A write transaction checks the phone's daily failures, reserves an attempt on
//! its code (at most 5, code not expired) and records it as a failure, then hands
//! back the hash; the hash is checked outside the lock; on a match a second
//! transaction consumes the code only if it is still the same one, clears the
//! failure and marks every patient with that phone verified. Parallel guesses
//! therefore exceed neither limit.
//!
//! **Plaintext**: the message text is in the database only while it is being
//! sent. Once it is sent or given up (or its code expired unsent) it is blanked
//! with SQLite's `secure_delete` on, and the WAL is truncated by the background
//! checkpointer, so the code leaves the file's bytes. The code never appears in a
//! log, an error or the audit log.
//!
//! Sending what is left and choosing the sender: [`crate::service::outbox`].

use phonenumber::Type as NumberType;
use rand::TryRngCore;
use serde::Serialize;
use ts_rs::TS;

use crate::domain::auth::{Action, Actor};
use crate::domain::clinic::normalize_phone;
use crate::domain::password;
use crate::error::{Error, Result};
use crate::senders::{self, Sender, SENDER_NAME_KEY};
use crate::service::audit;
use crate::storage::otp::{self as store, NoCode};
use crate::storage::Conn;
use crate::storage::{patients, settings};
use crate::Frontdesk;

use crate::domain::passcodes::limits::{self, *};
use crate::domain::passcodes::{check_request, limit};

pub use limits::MAX_ATTEMPTS;

// a claim outlives one sending plus the wait for the write lock on both sides
const _: () = assert!(2 * senders::SENDER_TIMEOUT.as_secs() as i64 + 30 < CLAIM_SECS);
// the schema's CHECK on otp_code.attempts allows at most 5
const _: () = assert!(MAX_ATTEMPTS <= 5);

/// A passcode was requested, and what the sender said.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct OtpRequested {
    /// The phone it goes to (E.164).
    pub phone: String,
    /// When the code stops working (Unix seconds).
    #[ts(type = "number")]
    pub expires_at: i64,
    /// The outbox message carrying it.
    #[ts(type = "number")]
    pub outbox_id: i64,
    /// True only when the sender program reported the message sent.
    pub sent: bool,
    /// Why it was not sent (never the code), when `sent` is false.
    pub not_sent_reason: Option<String>,
}

/// A phone was verified.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct PhoneVerified {
    /// The phone (E.164).
    pub phone: String,
    /// Patients with this phone now marked verified.
    #[ts(type = "number")]
    pub patients_verified: u32,
    /// When (Unix seconds).
    #[ts(type = "number")]
    pub verified_at: i64,
}

/// A uniformly random 6-digit code (000000–999999) from the OS generator, by
/// rejection sampling: 32-bit draws at or above the largest multiple of 10^6 are
/// drawn again, so no code is likelier than another.
pub fn generate_code() -> Result<String> {
    // 4_293_999_999: the draws 0..=LIMIT are exactly 4294 × 10^6 values
    const LIMIT: u32 = u32::MAX - (u32::MAX % 1_000_000) - 1;
    let mut rng = rand::rngs::OsRng;
    loop {
        let x = rng.try_next_u32().map_err(|e| {
            Error::Internal(format!(
                "the operating system's random generator failed: {e}"
            ))
        })?;
        if x <= LIMIT {
            return Ok(format!("{:06}", x % 1_000_000));
        }
    }
}

fn parse_code(code: &str) -> Result<&str> {
    let c = code.trim();
    if c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()) {
        Ok(c)
    } else {
        Err(Error::invalid("a passcode is exactly 6 digits"))
    }
}

/// A passcode goes only to a number that can receive text messages: a mobile
/// number, or one whose type the numbering plan cannot tell from a landline's
/// (the US and Canada). Landlines, toll-free and other service numbers are
/// refused, saying so.
pub fn check_text_capable(e164: &str) -> Result<()> {
    let number = phonenumber::parse(None, e164)
        .map_err(|_| Error::invalid(format!("{e164:?} is not a phone number")))?;
    let refuse = |what: &str| {
        Err(Error::invalid(format!(
            "{e164} is {what}, which cannot receive text messages; a passcode goes only to a mobile number"
        )))
    };
    match number.number_type(&phonenumber::metadata::DATABASE) {
        NumberType::Mobile | NumberType::FixedLineOrMobile => Ok(()),
        NumberType::FixedLine => refuse("a landline"),
        NumberType::TollFree => refuse("a toll-free number"),
        NumberType::PremiumRate => refuse("a premium-rate number"),
        NumberType::SharedCost => refuse("a shared-cost number"),
        NumberType::Voip => refuse("an internet (VoIP) number"),
        NumberType::Pager => refuse("a pager number"),
        NumberType::Voicemail => refuse("a voicemail number"),
        NumberType::PersonalNumber => refuse("a personal (forwarding) number"),
        NumberType::Uan => refuse("a company number"),
        _ => refuse("not a number whose type is known to be mobile"),
    }
}

/// A random claim token (128 bits from the OS generator, hex).
pub(super) fn claim_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes).map_err(|e| {
        Error::Internal(format!(
            "the operating system's random generator failed: {e}"
        ))
    })?;
    Ok(hex::encode(bytes))
}

/// The desk a request counts against: the staff account signed in, else the
/// command line's actor.
fn desk_of(actor: &Actor) -> String {
    match actor.staff_id {
        Some(id) => format!("staff #{id}"),
        None => format!("local: {}", actor.name),
    }
}

/// Why a sender could not be used, or which one to use.
pub(super) enum SenderChoice {
    /// This sender.
    Use(Sender),
    /// None, for this reason.
    None(String),
}

impl Frontdesk {
    /// The sender this PC and the clinic's setting select (see [`senders`]).
    pub(super) fn choose_sender(&self) -> Result<SenderChoice> {
        let named = self.in_read(|c| Ok(settings::get(c, SENDER_NAME_KEY)?))?;
        let path = self.senders_file();
        let file = match senders::load(path) {
            Ok(f) => f,
            Err(Error::Invalid(why)) => return Ok(SenderChoice::None(why)),
            Err(e) => return Err(e),
        };
        let Some(file) = file else {
            return Ok(SenderChoice::None(senders::no_sender_message(path, None)));
        };
        Ok(match file.choose(named.as_deref()) {
            Ok(Some(s)) => SenderChoice::Use(s.clone()),
            Ok(None) => SenderChoice::None(senders::no_sender_message(path, Some(&file))),
            Err(Error::Invalid(why)) => SenderChoice::None(why),
            Err(e) => return Err(e),
        })
    }

    /// Sends a new passcode to a phone (see the module docs). Refused without a
    /// sender on this PC, for a number that cannot receive text messages, and
    /// (`RateLimited`) past a limit. `sent` says whether the sender sent it.
    pub fn request_otp(&self, actor: &Actor, phone: &str) -> Result<OtpRequested> {
        actor.require(Action::VerifyPhone)?;
        let clinic = self.settings()?;
        let phone = normalize_phone(phone, &clinic.phone_country)?;
        check_text_capable(&phone)?;
        let sender = match self.choose_sender()? {
            SenderChoice::Use(s) => s,
            SenderChoice::None(why) => return Err(Error::Invalid(why)),
        };
        let code = generate_code()?;
        let hash = password::hash_secret(code.as_bytes())?;
        let body = format!(
            "Your {} passcode is {code}. It expires in 5 minutes.",
            clinic.name
        );
        drop(code);
        let token = claim_token()?;
        let desk = desk_of(actor);
        let label = actor.label();
        let now = self.now();
        let expires_at = now + CODE_TTL_SECS;
        let outbox_id = self.in_write("otp.request", |tx| {
            set_secure_delete(tx)?;
            check_request(
                &store::requests_since(tx, &phone, now - HOUR_SECS)?,
                &store::desk_requests_since(tx, &desk, now - HOUR_SECS)?,
                &store::failed_attempts_since(tx, &phone, now - DAY_SECS)?,
                now,
            )?;
            store::log_request(tx, &phone, &desk, now, now - HOUR_SECS)?;
            store::replace_code(tx, &phone, &hash, now, expires_at, &label)?;
            // every request also erases the text of messages whose code expired
            store::expire(tx, now - CODE_TTL_SECS, now - CLAIM_SECS)?;
            let outbox_id = store::queue_claimed(tx, &phone, &body, now, &token)?;
            let ids = patient_ids(tx, &phone)?;
            audit(tx, now, actor, "otp.request", "otp", Some(outbox_id), &ids)?;
            Ok(outbox_id)
        })?;
        // committed: send at once, outside any lock, then erase the text
        let outcome = sender.send(&phone, &body);
        drop(body);
        self.record_sending(actor, outbox_id, &token, &outcome, true)?;
        self.flush_wal();
        Ok(OtpRequested {
            phone,
            expires_at,
            outbox_id,
            sent: outcome.is_ok(),
            not_sent_reason: outcome.err(),
        })
    }

    /// Records one sending of a claimed message — sent, or failed (given up when
    /// `give_up`, else back to the queue) — if the claim is still `token`'s, with
    /// its audit row; returns whether it was.
    pub(super) fn record_sending(
        &self,
        actor: &Actor,
        id: i64,
        token: &str,
        outcome: &std::result::Result<(), String>,
        give_up: bool,
    ) -> Result<bool> {
        let now = self.now();
        self.in_write("otp.outbox", |tx| {
            set_secure_delete(tx)?;
            let recorded = match outcome {
                Ok(()) => store::mark_sent(tx, id, token, now)?,
                Err(e) => store::mark_failed(tx, id, token, e, give_up)?,
            };
            let lost = "another desk had taken the message over or given it up meanwhile; its record stands";
            let (action, detail) = match (outcome, recorded) {
                (Ok(()), true) => ("otp.sent", String::new()),
                (Err(e), true) => ("otp.send_failed", e.clone()),
                (Ok(()), false) => ("otp.claim_lost", format!("sent, but {lost}")),
                (Err(e), false) => ("otp.claim_lost", format!("failed ({e}), but {lost}")),
            };
            audit(tx, now, actor, action, "outbox", Some(id), &detail)?;
            Ok(recorded)
        })
    }

    /// Checks a passcode; on success consumes it and marks every patient with that
    /// phone verified (with time and staff). Five attempts per code, five
    /// minutes; ten failures per phone per day across codes.
    pub fn verify_otp(&self, actor: &Actor, phone: &str, code: &str) -> Result<PhoneVerified> {
        actor.require(Action::VerifyPhone)?;
        let code = parse_code(code)?;
        let clinic = self.settings()?;
        let phone = normalize_phone(phone, &clinic.phone_country)?;
        let now = self.now();
        let reserved = self.in_write("otp.verify", |tx| {
            let failures = store::failed_attempts_since(tx, &phone, now - DAY_SECS)?;
            let capped = limit(
                &failures,
                MAX_FAILED_VERIFICATIONS_PER_PHONE_PER_DAY,
                DAY_SECS,
                now,
            );
            if let Err(e) = capped {
                let detail = "too many failed passcodes for this phone today";
                audit(tx, now, actor, "otp.verify_failed", "otp", None, detail)?;
                return Ok(Reservation::Limited(e));
            }
            match store::reserve_attempt(tx, &phone, now, MAX_ATTEMPTS)? {
                Ok(r) => {
                    // counted as a failure until the code is found to match
                    let attempt = store::record_attempt(tx, &phone, now, now - DAY_SECS)?;
                    Ok(Reservation::Reserved(r, attempt))
                }
                Err(why) => {
                    let detail = match why {
                        NoCode::Missing => "no passcode requested",
                        NoCode::Expired => "passcode expired",
                        NoCode::Exhausted => "no attempts left",
                    };
                    audit(tx, now, actor, "otp.verify_failed", "otp", None, detail)?;
                    Ok(Reservation::NoCode(why))
                }
            }
        })?;
        let (reserved, attempt) = match reserved {
            Reservation::Reserved(r, attempt) => (r, attempt),
            Reservation::Limited(e) => return Err(e),
            Reservation::NoCode(NoCode::Missing) => return Err(Error::invalid(
                "there is no live passcode for this phone (used or never sent); request a new one",
            )),
            Reservation::NoCode(NoCode::Expired) => {
                return Err(Error::invalid(
                    "the passcode has expired; request a new one",
                ))
            }
            Reservation::NoCode(NoCode::Exhausted) => {
                return Err(Error::invalid(
                    "too many wrong passcodes; request a new one",
                ));
            }
        };
        let matches = password::verify_secret(code.as_bytes(), &reserved.code_hash);
        let label = actor.label();
        let now = self.now();
        if !matches {
            let left = MAX_ATTEMPTS - reserved.attempts;
            self.in_write("otp.verify", |tx| {
                audit(
                    tx,
                    now,
                    actor,
                    "otp.verify_failed",
                    "otp",
                    None,
                    "wrong passcode",
                )
            })?;
            return Err(Error::invalid(if left > 0 {
                format!("wrong passcode; {left} attempt(s) left")
            } else {
                "wrong passcode; no attempts left, request a new one".to_string()
            }));
        }
        self.in_write("otp.consume", |tx| {
            // the right code: not a failure, even if it was replaced meanwhile
            store::attempt_succeeded(tx, attempt)?;
            if !store::consume(tx, &phone, reserved.created_at, &reserved.code_hash)? {
                audit(
                    tx,
                    now,
                    actor,
                    "otp.verify_failed",
                    "otp",
                    None,
                    "passcode replaced or used meanwhile",
                )?;
                return Ok(Err(Error::invalid(
                    "this passcode was replaced or used meanwhile; use the newest one",
                )));
            }
            let n = patients::mark_phone_verified(tx, &phone, now, &label)?;
            let ids = patient_ids(tx, &phone)?;
            audit(tx, now, actor, "otp.verify", "otp", None, &ids)?;
            // each verified record's new state is audited under the patient
            for p in patients::with_phone(tx, &phone)? {
                audit(
                    tx,
                    now,
                    actor,
                    "patient.verify_phone",
                    "patient",
                    Some(p.id),
                    "",
                )?;
            }
            Ok(Ok(PhoneVerified {
                phone: phone.clone(),
                patients_verified: n as u32,
                verified_at: now,
            }))
        })?
    }

    /// Has the WAL copied into the database file and truncated, so blanked text
    /// leaves the -wal file too. Done by the background checkpointer as soon as no
    /// reader holds an old snapshot; it never waits inside the write lock.
    pub(super) fn flush_wal(&self) {
        if let Ok(writer) = self.writer() {
            writer.truncate_wal_soon();
        }
    }
}

/// How a verification's first transaction ended.
enum Reservation {
    /// An attempt on the code was reserved (and recorded as a failure, by id).
    Reserved(store::ReservedCode, i64),
    /// The phone's daily limit of failures is reached.
    Limited(Error),
    /// No usable code.
    NoCode(NoCode),
}

/// `secure_delete` makes SQLite overwrite deleted and replaced content with
/// zeros, so a blanked message body leaves no trace in the page. It is switched
/// on for the writer's connection by every transaction that writes or erases a
/// message, and stays on.
pub(super) fn set_secure_delete(conn: &Conn) -> Result<()> {
    Ok(store::secure_delete_on(conn)?)
}

/// "patients #3, #7" for audit details (ids only, never the phone).
fn patient_ids(conn: &Conn, phone: &str) -> Result<String> {
    let ids: Vec<String> = patients::with_phone(conn, phone)?
        .iter()
        .map(|p| format!("#{}", p.id))
        .collect();
    Ok(if ids.is_empty() {
        "no registered patient".into()
    } else {
        format!("patients {}", ids.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_other_input_is_refused() {
        for _ in 0..100 {
            let c = generate_code().unwrap();
            assert!(
                c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()),
                "not 6 digits: {c}"
            );
        }
        assert!(
            parse_code(" 012345 ").is_ok(),
            "surrounding spaces are fine"
        );
        for bad in ["12345", "1234567", "12a456", "", "１２３４５６"] {
            assert!(parse_code(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn only_numbers_that_receive_texts_take_a_passcode() {
        for ok in ["+4915123456789", "+12015550123"] {
            assert!(check_text_capable(ok).is_ok(), "{ok} takes a passcode");
        }
        for (bad, says) in [("+49301234567", "landline"), ("+498001234567", "toll-free")] {
            let e = check_text_capable(bad).unwrap_err().to_string();
            assert!(
                e.contains(says) && e.contains("text messages"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn a_limit_waits_for_the_entry_that_makes_room() {
        assert!(limit(&[10, 20], 3, 100, 50).is_ok());
        assert!(matches!(
            limit(&[10, 20, 30], 3, 100, 50),
            Err(Error::RateLimited {
                retry_after_secs: 60
            })
        ));
    }
}
