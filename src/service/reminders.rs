//! Appointment reminders: one text message per appointment and slot start, at the
//! clinic's lead time, sent through the passcode outbox and sender.
//!
//! **Due**: an appointment is due for a reminder when it is open (pending or
//! confirmed), its patient has not opted out, its slot starts after now, the lead
//! (`reminder.lead`, see [`crate::domain::reminders`]) has reached it, and it has no
//! reminder for that start yet. A reschedule moves it to another start, so a new
//! reminder is due; a cancelled (or otherwise closed) appointment gets none.
//!
//! **Exactly once**: [`Frontdesk::send_due_reminders`] — run by every open desk's
//! background worker and by `frontdesk reminders send` — finds the next due
//! appointment and inserts its `reminder` row and outbox message, claimed under a
//! random token of this run, in one write transaction. Write transactions take the
//! database's write lock one at a time, and the row's UNIQUE (appointment, start)
//! key refuses a second one, so however many desks run at once each reminder is
//! claimed by exactly one of them. The message is sent outside the lock, and the
//! outcome recorded (message and reminder together) only by the claim's holder.
//!
//! **Failures**: a failed attempt is recorded on the reminder (shown with the
//! appointment) and tried again, as a new outbox message, after
//! [`limits::RETRY_AFTER_SECS`], up to [`limits::MAX_ATTEMPTS`] attempts while the
//! appointment is open, at that start and ahead. A message whose claim is older
//! than the outbox's claim time (the desk stopped while sending it) is failed and
//! so retried. A phone that cannot receive text messages (a landline) is recorded
//! as failed at once, without retries (`skipped`).
//!
//! The text is blanked once sent or given up, as for passcodes.

use serde::Serialize;
use ts_rs::TS;

use crate::domain::auth::{Action, Actor};
use crate::domain::model::{Appointment, ReminderInfo};
use crate::domain::reminders::{keys, Lead, ReminderConfig};
use crate::error::{Error, Result};
use crate::service::audit;
use crate::service::otp::{check_text_capable, claim_token, set_secure_delete, SenderChoice};
use crate::storage::otp as outbox;
use crate::storage::Conn;
use crate::storage::{patients, reminders as store, settings};
use crate::Frontdesk;

/// The reminder limits, in one place (the SQL gets them as parameters).
pub mod limits {
    /// Sending attempts per reminder.
    pub const MAX_ATTEMPTS: i64 = 3;
    /// Seconds before a failed reminder is tried again.
    pub const RETRY_AFTER_SECS: i64 = 300;
    /// Reminders one run claims at most.
    pub const MAX_PER_RUN: u32 = 50;
    /// A claim older than this (seconds) belongs to a desk that stopped.
    pub const CLAIM_SECS: i64 = crate::domain::passcodes::limits::CLAIM_SECS;
}

use limits::*;

// the schema's CHECK on reminder.attempts allows at most 3
const _: () = assert!(MAX_ATTEMPTS <= 3);
// a stale claim is failed, then retried: only after it can no longer be sending
const _: () = assert!(RETRY_AFTER_SECS > CLAIM_SECS);

/// What one reminder run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct ReminderReport {
    /// False when reminders are off (`reminder.lead` is `off`): nothing was done.
    pub enabled: bool,
    /// Reminders sent.
    pub sent: u32,
    /// Attempts that failed (retried later while attempts are left).
    pub failed: u32,
    /// Due reminders not sent because the patient's phone cannot receive text
    /// messages (recorded as failed, not retried).
    pub skipped: u32,
    /// Reminders this run sent or tried whose claim another desk had taken over
    /// meanwhile (that desk's record stands).
    pub taken_over: u32,
    /// False when no sender is set up on this PC (nothing was sent).
    pub sender_configured: bool,
    /// Why nothing can be sent, when reminders are on but no sender can be used.
    pub problem: Option<String>,
}

/// What one claiming transaction found.
enum Claim {
    /// Nothing (more) is due.
    Nothing,
    /// A phone that cannot take a text: recorded as failed.
    Skipped,
    /// Claimed: send `body` to `phone`, then record it as outbox message `outbox_id`.
    Send {
        outbox_id: i64,
        phone: String,
        body: String,
        retry_id: Option<i64>,
    },
}

const STALE: &str = "the desk sending it stopped before it recorded the outcome";
const NOT_TEXT_CAPABLE: &str = "not sent: the patient's phone cannot receive text messages (a landline, or another number that is not a mobile)";

impl Frontdesk {
    /// Sends the appointment reminders that are due (see the module docs): each
    /// claimed in a write transaction, sent outside it, its outcome recorded and
    /// audited (`reminder.sent`, `reminder.send_failed`, under the appointment).
    /// At most [`limits::MAX_PER_RUN`] a run; nothing when reminders are off or no
    /// sender is set up on this PC (the report says why).
    pub fn send_due_reminders(&self, actor: &Actor) -> Result<ReminderReport> {
        actor.require(Action::SendReminders)?;
        let config = self.in_read(|c| ReminderConfig::load(c))?;
        let mut report = ReminderReport {
            enabled: config.lead != Lead::Off,
            ..Default::default()
        };
        if !report.enabled {
            return Ok(report);
        }
        let sender = match self.choose_sender()? {
            SenderChoice::Use(s) => s,
            SenderChoice::None(why) => {
                report.problem = Some(why);
                return Ok(report);
            }
        };
        report.sender_configured = true;
        // random, made outside any transaction; the phone metadata is loaded
        // here too, so the check inside the lock is quick
        let token = claim_token()?;
        let _ = check_text_capable("+4915123456789");
        let mut retried_after = 0;
        let mut tried = 0;
        while tried < MAX_PER_RUN {
            tried += 1;
            let now = self.now();
            let Some(horizon) = config.lead.horizon(now, config.tz) else {
                break;
            };
            let first = tried == 1;
            let claim = self.in_write("reminder.claim", |tx| {
                set_secure_delete(tx)?;
                if first {
                    store::fail_stale(tx, now - CLAIM_SECS, STALE)?;
                }
                let due = match store::next_retry(
                    tx,
                    now,
                    horizon,
                    now - RETRY_AFTER_SECS,
                    MAX_ATTEMPTS,
                    retried_after,
                )? {
                    Some(d) => Some(d),
                    None => store::next_due(tx, now, horizon)?,
                };
                let Some(due) = due else {
                    return Ok(Claim::Nothing);
                };
                if check_text_capable(&due.phone).is_err() {
                    // no phone number in the record or the audit log
                    let why = NOT_TEXT_CAPABLE;
                    let outbox_id = store::queue_given_up(tx, &due.phone, now, why)?;
                    let id = match due.reminder_id {
                        Some(id) => {
                            store::give_up(tx, id, outbox_id, now, MAX_ATTEMPTS, why)?;
                            id
                        }
                        None => store::insert_given_up(
                            tx,
                            due.appointment_id,
                            due.start_at,
                            outbox_id,
                            now,
                            MAX_ATTEMPTS,
                            why,
                        )?,
                    };
                    let detail = format!("reminder #{id}: {why}");
                    let appointment = Some(due.appointment_id);
                    audit(
                        tx,
                        now,
                        actor,
                        "reminder.skipped",
                        "appointment",
                        appointment,
                        &detail,
                    )?;
                    return Ok(Claim::Skipped);
                }
                let body = config.render(&due.patient_name, &due.doctor, due.start_at);
                let outbox_id = store::queue_claimed(tx, &due.phone, &body, now, &token)?;
                match due.reminder_id {
                    Some(id) => {
                        store::retry(tx, id, outbox_id, now)?
                            .ok_or_else(|| Error::Internal("a failed reminder vanished".into()))?;
                    }
                    None => {
                        store::insert(tx, due.appointment_id, due.start_at, outbox_id, now)?;
                    }
                }
                Ok(Claim::Send {
                    outbox_id,
                    phone: due.phone,
                    body,
                    retry_id: due.reminder_id,
                })
            })?;
            let (outbox_id, phone, body) = match claim {
                Claim::Nothing => break,
                Claim::Skipped => {
                    report.skipped += 1;
                    continue;
                }
                Claim::Send {
                    outbox_id,
                    phone,
                    body,
                    retry_id,
                } => {
                    if let Some(id) = retry_id {
                        retried_after = id;
                    }
                    (outbox_id, phone, body)
                }
            };
            // committed: send outside any lock
            let outcome = sender.send(&phone, &body);
            drop(body);
            match (
                &outcome,
                self.record_reminder(actor, outbox_id, &token, &outcome)?,
            ) {
                (Ok(()), true) => report.sent += 1,
                (Err(_), true) => report.failed += 1,
                (_, false) => report.taken_over += 1,
            }
        }
        if report.sent + report.failed + report.taken_over > 0 {
            self.flush_wal();
        }
        Ok(report)
    }

    /// Records one sending of a reminder message — the message sent or given up
    /// (blanked), its reminder sent or failed — if the claim is still `token`'s,
    /// with the audit row under the appointment; returns whether it was.
    fn record_reminder(
        &self,
        actor: &Actor,
        outbox_id: i64,
        token: &str,
        outcome: &std::result::Result<(), String>,
    ) -> Result<bool> {
        let now = self.now();
        self.in_write("reminder.record", |tx| {
            set_secure_delete(tx)?;
            let recorded = match outcome {
                Ok(()) => outbox::mark_sent(tx, outbox_id, token, now)?,
                Err(e) => outbox::mark_failed(tx, outbox_id, token, e, true)?,
            };
            let reminder = if recorded {
                store::record(tx, outbox_id, outcome.as_ref().err().map(String::as_str), now)?
            } else {
                None
            };
            match (outcome, reminder) {
                (Ok(()), Some((id, appointment))) => {
                    let detail = format!("reminder #{id}");
                    audit(tx, now, actor, "reminder.sent", "appointment", Some(appointment), &detail)?;
                }
                (Err(e), Some((id, appointment))) => {
                    let detail = format!("reminder #{id}: {e}");
                    audit(tx, now, actor, "reminder.send_failed", "appointment", Some(appointment), &detail)?;
                }
                (_, None) => {
                    let detail = format!(
                        "outbox message #{outbox_id}: {}, but another desk had taken the reminder over meanwhile; its record stands",
                        if outcome.is_ok() { "sent" } else { "failed" }
                    );
                    audit(tx, now, actor, "reminder.claim_lost", "outbox", Some(outbox_id), &detail)?;
                }
            }
            Ok(recorded)
        })
    }

    /// Turns appointment reminders off (`true`) or on again for a patient; a
    /// change of the patient's record (new version), audited.
    pub fn set_reminders_opt_out(
        &self,
        actor: &Actor,
        patient_id: i64,
        opt_out: bool,
    ) -> Result<crate::domain::model::Patient> {
        actor.require(Action::ManagePatients)?;
        let now = self.now();
        let label = actor.label();
        self.in_write("patient.reminders", |tx| {
            let current = patients::get(tx, patient_id)?.ok_or(Error::NotFound("patient"))?;
            if current.reminders_opt_out == opt_out {
                return Ok(current);
            }
            patients::set_reminders_opt_out(tx, patient_id, opt_out, &label, now)?;
            let detail = if opt_out {
                "no reminders"
            } else {
                "reminders again"
            };
            audit(
                tx,
                now,
                actor,
                "patient.reminders",
                "patient",
                Some(patient_id),
                detail,
            )?;
            patients::get(tx, patient_id)?.ok_or(Error::NotFound("patient"))
        })
    }
}

/// An appointment's reminders as the desk shows them, with whether a failed one
/// will be tried again.
pub(crate) fn reminders_of(
    conn: &Conn,
    appointment: &Appointment,
    now: i64,
) -> Result<Vec<ReminderInfo>> {
    let on = settings::get(conn, keys::LEAD)?
        .and_then(|v| Lead::parse(&v).ok())
        .is_some_and(|l| l != Lead::Off);
    let mut list = store::for_appointment(conn, appointment.id)?;
    for r in &mut list {
        r.will_retry = on
            && r.status == "FAILED"
            && r.attempts < MAX_ATTEMPTS
            && appointment.status.is_open()
            && r.start_at == appointment.start_at
            && r.start_at > now;
    }
    Ok(list)
}
