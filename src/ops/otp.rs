//! One-time passcodes for verifying a patient's mobile number.
//!
//! **Request**: the phone is normalised, a 6-digit code drawn from the OS random
//! generator and hashed with argon2id — all before the transaction. One write
//! transaction then enforces the rate limits (60 s apart, 5 an hour per phone),
//! replaces any older code (`phone` is the primary key, so two live codes for one
//! phone cannot exist) and queues the message in the outbox.
//!
//! **Verify**: input that is not exactly six digits is refused before any hashing.
//! A write transaction reserves an attempt (at most 5, code not expired) and hands
//! back the hash; the hash is checked outside the lock; on a match a second
//! transaction consumes the code only if it is still the same one and marks every
//! patient with that phone verified. Parallel guesses therefore cannot exceed five.
//!
//! **Delivery**: [`Frontdesk::deliver_outbox`] runs the configured sender program
//! with the phone and the message as separate arguments (no shell). Each message is
//! claimed with a random token before it is sent, and recorded sent or failed only
//! by the holder of that claim; a sent or given-up message never changes again
//! (a trigger refuses it). Once a message
//! is sent — or given up — its text is blanked with SQLite's `secure_delete` on and
//! the WAL is checkpointed, so the plaintext code leaves the database file. The code
//! never appears in a log, an error or the audit log.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::TryRngCore;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::auth::{Action, Actor};
use crate::clinic::normalize_phone;
use crate::error::{Error, Result};
use crate::ops::audit;
use crate::password;
use crate::store::otp::{self as store, NoCode};
use crate::store::{patients, settings};
use crate::Frontdesk;

/// Setting: the sender program (path or name on PATH); empty or unset = none.
pub const SENDER_KEY: &str = "otp.sender";
/// Setting: the sender's leading arguments, a JSON array of strings. An argument
/// that is exactly `{phone}` or `{message}` is replaced; otherwise the phone and
/// the message are appended as the last two arguments.
pub const SENDER_ARGS_KEY: &str = "otp.sender_args";

/// A code lives this long (seconds).
pub const CODE_TTL_SECS: i64 = 5 * 60;
/// Verification attempts per code.
pub const MAX_ATTEMPTS: i64 = 5;
/// Seconds between two requests for one phone.
pub const MIN_REQUEST_GAP_SECS: i64 = 60;
/// Requests per phone per hour.
pub const MAX_REQUESTS_PER_HOUR: usize = 5;
/// How long the sender program may run.
const SENDER_TIMEOUT: Duration = Duration::from_secs(30);
/// Sending attempts before a message is given up.
const MAX_SEND_ATTEMPTS: i64 = 3;
/// How long a desk's claim on a message lasts (seconds); another desk may take
/// over a message whose claim is older. One claim covers one sending.
const CLAIM_SECS: i64 = 120;
/// Messages one delivery run sends at most.
const MAX_PER_RUN: u32 = 20;
// a claim outlives one sending plus the wait for the write lock on both sides
const _: () = assert!(2 * SENDER_TIMEOUT.as_secs() as i64 + 30 < CLAIM_SECS);

/// A passcode was queued.
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

/// What one run of the sender did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct DeliveryReport {
    /// Messages sent.
    pub sent: u32,
    /// Attempts that failed (the message is retried or given up).
    pub failed: u32,
    /// Messages given up because their passcode expired unsent.
    pub expired: u32,
    /// Messages this run sent or tried whose claim another desk took over, or
    /// gave up, meanwhile (that desk's record stands).
    pub taken_over: u32,
    /// False when no sender is configured (messages stay queued).
    pub sender_configured: bool,
}

/// The passcode sender's configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct OtpSender {
    /// Program to run; `None` when messages should stay queued.
    pub program: Option<String>,
    /// Leading arguments (see [`SENDER_ARGS_KEY`]).
    pub args: Vec<String>,
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

/// Validates a sender program setting.
fn clean_program(value: &str) -> Result<Option<String>> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.len() > 1024 || v.chars().any(char::is_control) {
        return Err(Error::invalid(
            "the sender program must be a path or program name without control characters",
        ));
    }
    Ok(Some(v.to_string()))
}

fn clean_args(args: &[String]) -> Result<Vec<String>> {
    if args.len() > 32 || args.iter().any(|a| a.len() > 1024 || a.contains('\0')) {
        return Err(Error::invalid(
            "the sender takes at most 32 arguments of at most 1024 bytes",
        ));
    }
    Ok(args.to_vec())
}

/// Keeps digits out of a sender's error text (it may echo the message) and bounds it.
fn redact(text: &str) -> String {
    let mut out = String::new();
    let mut digits = 0;
    for c in text.chars().take(300) {
        if c.is_ascii_digit() {
            digits += 1;
            if digits == 1 {
                out.push('#');
            }
        } else {
            digits = 0;
            if !c.is_control() {
                out.push(c);
            } else {
                out.push(' ');
            }
        }
    }
    out.trim().to_string()
}

/// A random claim token (128 bits from the OS generator, hex).
fn claim_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes).map_err(|e| {
        Error::Internal(format!(
            "the operating system's random generator failed: {e}"
        ))
    })?;
    Ok(hex::encode(bytes))
}

/// Runs the sender for one message; `Err` carries a redacted reason.
fn run_sender(
    sender: &OtpSender,
    program: &str,
    phone: &str,
    body: &str,
) -> std::result::Result<(), String> {
    let mut cmd = Command::new(program);
    let placeholders = sender
        .args
        .iter()
        .any(|a| a == "{phone}" || a == "{message}");
    for a in &sender.args {
        match a.as_str() {
            "{phone}" => cmd.arg(phone),
            "{message}" => cmd.arg(body),
            other => cmd.arg(other),
        };
    }
    if !placeholders {
        cmd.arg(phone).arg(body);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        format!(
            "cannot start the sender program: {}",
            redact(&e.to_string())
        )
    })?;
    let mut stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.take(4096).read_to_string(&mut text);
            let _ = std::io::copy(s, &mut std::io::sink());
        }
        text
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if started.elapsed() > SENDER_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                break Err("the sender program took longer than 30 s and was stopped".to_string());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => break Err(format!("waiting for the sender failed: {e}")),
        }
    };
    let err_text = reader.join().unwrap_or_default();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!(
            "the sender program failed ({s}): {}",
            redact(&err_text)
        )),
        Err(e) => Err(e),
    }
}

impl Frontdesk {
    /// Sends a new passcode to a phone (see the module docs). `RateLimited` when
    /// the last request was under 60 s ago or 5 were made in the last hour.
    pub fn request_otp(&self, actor: &Actor, phone: &str) -> Result<OtpRequested> {
        actor.require(Action::VerifyPhone)?;
        let clinic = self.settings()?;
        let phone = normalize_phone(phone, &clinic.phone_country)?;
        let code = generate_code()?;
        let hash = password::hash_secret(code.as_bytes())?;
        let body = format!(
            "Your {} passcode is {code}. It expires in 5 minutes.",
            clinic.name
        );
        drop(code);
        let label = actor.label();
        let now = self.now();
        let expires_at = now + CODE_TTL_SECS;
        self.write("otp.request", |tx| {
            let recent = store::requests_since(tx, &phone, now - 3600)?;
            if let Some(&last) = recent.last() {
                if now - last < MIN_REQUEST_GAP_SECS {
                    return Err(Error::RateLimited {
                        retry_after_secs: MIN_REQUEST_GAP_SECS - (now - last),
                    });
                }
            }
            if recent.len() >= MAX_REQUESTS_PER_HOUR {
                let oldest = recent[recent.len() - MAX_REQUESTS_PER_HOUR];
                return Err(Error::RateLimited {
                    retry_after_secs: (oldest + 3600 - now).max(1),
                });
            }
            store::log_request(tx, &phone, now, now - 3600)?;
            store::replace_code(tx, &phone, &hash, now, expires_at, &label)?;
            let outbox_id = store::queue(tx, &phone, &body, now)?;
            let ids = patient_ids(tx, &phone)?;
            audit(tx, now, actor, "otp.request", "otp", Some(outbox_id), &ids)?;
            Ok(OtpRequested {
                phone: phone.clone(),
                expires_at,
                outbox_id,
            })
        })
    }

    /// Checks a passcode; on success consumes it and marks every patient with that
    /// phone verified (with time and staff). Five attempts per code, five minutes.
    pub fn verify_otp(&self, actor: &Actor, phone: &str, code: &str) -> Result<PhoneVerified> {
        actor.require(Action::VerifyPhone)?;
        let code = parse_code(code)?;
        let clinic = self.settings()?;
        let phone = normalize_phone(phone, &clinic.phone_country)?;
        let now = self.now();
        let reserved = self.write("otp.verify", |tx| {
            match store::reserve_attempt(tx, &phone, now, MAX_ATTEMPTS)? {
                Ok(r) => Ok(Ok(r)),
                Err(why) => {
                    let detail = match why {
                        NoCode::Missing => "no passcode requested",
                        NoCode::Expired => "passcode expired",
                        NoCode::Exhausted => "no attempts left",
                    };
                    audit(tx, now, actor, "otp.verify_failed", "otp", None, detail)?;
                    Ok(Err(why))
                }
            }
        })?;
        let reserved = match reserved {
            Ok(r) => r,
            Err(NoCode::Missing) => return Err(Error::invalid(
                "there is no live passcode for this phone (used or never sent); request a new one",
            )),
            Err(NoCode::Expired) => {
                return Err(Error::invalid(
                    "the passcode has expired; request a new one",
                ))
            }
            Err(NoCode::Exhausted) => {
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
            self.write("otp.verify", |tx| {
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
        self.write("otp.consume", |tx| {
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

    /// The passcode sender's configuration.
    pub fn otp_sender(&self, actor: &Actor) -> Result<OtpSender> {
        actor.require(Action::ManageSettings)?;
        self.read(load_sender)
    }

    /// Sets the passcode sender (program `None` = keep messages queued).
    pub fn set_otp_sender(&self, actor: &Actor, sender: &OtpSender) -> Result<OtpSender> {
        actor.require(Action::ManageSettings)?;
        let program = clean_program(sender.program.as_deref().unwrap_or(""))?;
        let args = clean_args(&sender.args)?;
        let args_json = serde_json::to_string(&args).map_err(|e| Error::Internal(e.to_string()))?;
        let now = self.now();
        self.write("settings", |tx| {
            settings::set(tx, SENDER_KEY, program.as_deref().unwrap_or(""))?;
            settings::set(tx, SENDER_ARGS_KEY, &args_json)?;
            audit(
                tx,
                now,
                actor,
                "setting.change",
                "setting",
                None,
                SENDER_KEY,
            )?;
            load_sender(tx)
        })
    }

    /// Sets only the passcode sender's arguments; the program stays as stored
    /// (read inside the write transaction), even if another desk just changed it.
    pub fn set_otp_sender_args(&self, actor: &Actor, args: &[String]) -> Result<OtpSender> {
        actor.require(Action::ManageSettings)?;
        let args = clean_args(args)?;
        let args_json = serde_json::to_string(&args).map_err(|e| Error::Internal(e.to_string()))?;
        let now = self.now();
        self.write("settings", |tx| {
            if settings::get(tx, SENDER_ARGS_KEY)?.as_deref() != Some(args_json.as_str()) {
                settings::set(tx, SENDER_ARGS_KEY, &args_json)?;
                audit(
                    tx,
                    now,
                    actor,
                    "setting.change",
                    "setting",
                    None,
                    SENDER_ARGS_KEY,
                )?;
            }
            load_sender(tx)
        })
    }

    /// Outbox messages, newest first (never their text).
    pub fn list_outbox(&self, actor: &Actor, limit: u32) -> Result<Vec<store::OutboxMessage>> {
        actor.require(Action::ManageSettings)?;
        self.read(|c| Ok(store::list(c, limit.clamp(1, 1000))?))
    }

    /// Sends queued messages with the configured program (outside any lock),
    /// records sent/failed, gives up messages whose passcode expired, and blanks
    /// the text of every message that is done.
    ///
    /// Messages are claimed one at a time under a random token of this run, sent,
    /// and recorded only if the claim is still this run's: a claim lasts
    /// two minutes, far longer than one sending may take (30 s at most),
    /// so no other desk takes over a message this run is still sending. If it
    /// happened anyway (this desk was stopped for minutes), the desk that took the
    /// message over, or gave it up, keeps its record and this run only audits it
    /// (`otp.claim_lost`, counted in `taken_over`).
    pub fn deliver_outbox(&self, actor: &Actor) -> Result<DeliveryReport> {
        actor.require(Action::VerifyPhone)?;
        let sender = self.read(load_sender)?;
        // random, made outside any transaction
        let token = claim_token()?;
        let mut report = DeliveryReport {
            sender_configured: sender.program.is_some(),
            ..Default::default()
        };
        // one attempt per message per run: claim only past the last one tried
        let mut after = 0;
        let mut tried = 0;
        loop {
            let now = self.now();
            let claim_more = sender.program.is_some() && tried < MAX_PER_RUN;
            let (expired, claimed) = self.write("otp.outbox", |tx| {
                set_secure_delete(tx, true)?;
                let expired = store::expire(tx, now - CODE_TTL_SECS, now - CLAIM_SECS)?;
                let claimed = if claim_more {
                    store::claim_next(tx, now, now - CLAIM_SECS, after, &token)?
                } else {
                    None
                };
                set_secure_delete(tx, false)?;
                Ok((expired, claimed))
            })?;
            report.expired += expired as u32;
            let (Some(program), Some(m)) = (&sender.program, claimed) else {
                break;
            };
            tried += 1;
            after = m.id;
            let outcome = run_sender(&sender, program, &m.phone, &m.body);
            let give_up = m.attempts >= MAX_SEND_ATTEMPTS;
            let id = m.id;
            drop(m);
            let now = self.now();
            let recorded = self.write("otp.outbox", |tx| {
                set_secure_delete(tx, true)?;
                let recorded = match &outcome {
                    Ok(()) => store::mark_sent(tx, id, &token, now)?,
                    Err(e) => store::mark_failed(tx, id, &token, e, give_up)?,
                };
                let lost = "another desk had taken the message over or given it up meanwhile; its record stands";
                let (action, detail) = match (&outcome, recorded) {
                    (Ok(()), true) => ("otp.sent", String::new()),
                    (Err(e), true) => ("otp.send_failed", e.clone()),
                    (Ok(()), false) => ("otp.claim_lost", format!("sent, but {lost}")),
                    (Err(e), false) => ("otp.claim_lost", format!("failed ({e}), but {lost}")),
                };
                audit(tx, now, actor, action, "outbox", Some(id), &detail)?;
                set_secure_delete(tx, false)?;
                Ok(recorded)
            })?;
            match (&outcome, recorded) {
                (Ok(()), true) => report.sent += 1,
                (Err(_), true) => report.failed += 1,
                (_, false) => report.taken_over += 1,
            }
        }
        if report.expired > 0 || tried > 0 {
            self.flush_wal()?;
        }
        Ok(report)
    }

    /// Has the WAL copied into the database file and truncated, so blanked text
    /// leaves the -wal file too. Done by the background checkpointer as soon as no
    /// reader holds an old snapshot; it never waits inside the write lock.
    fn flush_wal(&self) -> Result<()> {
        self.writer.truncate_wal_soon();
        Ok(())
    }
}

/// `secure_delete` makes SQLite overwrite deleted and replaced content with
/// zeros, so a blanked message body leaves no trace in the page.
fn set_secure_delete(conn: &rusqlite::Connection, on: bool) -> Result<()> {
    conn.pragma_update(None, "secure_delete", on)?;
    Ok(())
}

fn load_sender(conn: &rusqlite::Connection) -> Result<OtpSender> {
    let program = settings::get(conn, SENDER_KEY)?.filter(|p| !p.trim().is_empty());
    let args = match settings::get(conn, SENDER_ARGS_KEY)? {
        Some(json) if !json.trim().is_empty() => serde_json::from_str(&json).map_err(|_| {
            Error::invalid(
                "the otp.sender_args setting is not a JSON array of strings; set it again",
            )
        })?,
        _ => Vec::new(),
    };
    Ok(OtpSender { program, args })
}

/// "patients #3, #7" for audit details (ids only, never the phone).
fn patient_ids(conn: &rusqlite::Connection, phone: &str) -> Result<String> {
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

/// Parses `otp.sender_args` input: a JSON array of strings.
pub fn parse_sender_args(json: &str) -> Result<Vec<String>> {
    serde_json::from_str::<Vec<String>>(json)
        .map_err(|_| Error::invalid("otp.sender_args must be a JSON array of strings, e.g. [\"--device\", \"/dev/ttyUSB0\"]"))
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
    fn sender_errors_never_carry_digits() {
        assert_eq!(
            redact("bad number +49151 code 123456\n"),
            "bad number +# code #"
        );
    }
}
