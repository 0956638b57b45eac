//! The outbox: the passcode sender an admin chooses for this PC, the list of
//! messages (never their text), and the sweep that sends what a stopped desk
//! left behind.
//!
//! **Sweep**: [`Frontdesk::deliver_outbox`] (the admin's "Retry unsent" and
//! `frontdesk otp deliver`) erases expired messages and sends a message a stopped
//! desk left behind. Each message is claimed with a random token before it is
//! sent, and recorded sent or failed only by the holder of that claim; a sent or
//! given-up message never changes again (a trigger refuses it).

use serde::Serialize;
use ts_rs::TS;

use super::otp::{claim_token, set_secure_delete, SenderChoice};
use crate::domain::auth::{Action, Actor};
use crate::domain::passcodes::limits::*;
use crate::error::{Error, Result};
use crate::senders::{self, SENDER_NAME_KEY};
use crate::service::audit;
use crate::storage::otp as store;
use crate::storage::settings;
use crate::Frontdesk;

/// What one sweep of the outbox did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct DeliveryReport {
    /// Messages sent.
    pub sent: u32,
    /// Attempts that failed (the message is retried or given up).
    pub failed: u32,
    /// Messages given up (and erased) because their passcode expired unsent.
    pub expired: u32,
    /// Messages this run sent or tried whose claim another desk took over, or
    /// gave up, meanwhile (that desk's record stands).
    pub taken_over: u32,
    /// False when no sender is set up on this PC (nothing is sent; expired
    /// messages are still erased).
    pub sender_configured: bool,
    /// Why no sender can be used, when `sender_configured` is false.
    pub problem: Option<String>,
}

/// The passcode sender as an admin sees it: this PC's file, what it describes,
/// the clinic's choice and the sender in use.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct SenderStatus {
    /// This PC's senders file.
    pub file: String,
    /// The senders it describes, by name (empty when it is missing or refused).
    pub configured: Vec<String>,
    /// The clinic's choice (`otp.sender_name`); `None`: the file's default.
    pub chosen: Option<String>,
    /// The sender passcode requests use; `None`: requests are refused.
    pub active: Option<String>,
    /// The program it runs.
    pub program: Option<String>,
    /// Why passcodes cannot be sent, if so.
    pub problem: Option<String>,
}

impl Frontdesk {
    /// The passcode sender: this PC's senders file, what it describes, the
    /// clinic's choice and the sender requests use.
    pub fn otp_sender(&self, actor: &Actor) -> Result<SenderStatus> {
        actor.require(Action::ManageSettings)?;
        let chosen = self
            .in_read(|c| Ok(settings::get(c, SENDER_NAME_KEY)?))?
            .filter(|n| !n.trim().is_empty());
        let path = self.senders_file();
        let configured = match senders::load(path) {
            Ok(Some(f)) => f.names(),
            _ => Vec::new(),
        };
        let (active, program, problem) = match self.choose_sender()? {
            SenderChoice::Use(s) => (Some(s.name), Some(s.program.display().to_string()), None),
            SenderChoice::None(why) => (None, None, Some(why)),
        };
        Ok(SenderStatus {
            file: path.display().to_string(),
            configured,
            chosen,
            active,
            program,
            problem,
        })
    }

    /// Chooses which of this PC's senders the clinic uses, by name (`None` or
    /// empty: the file's default). A name the PC's senders file does not
    /// describe is refused.
    pub fn set_otp_sender(&self, actor: &Actor, name: Option<&str>) -> Result<SenderStatus> {
        actor.require(Action::ManageSettings)?;
        let name = match name.map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => senders::check_name(n)?,
            None => String::new(),
        };
        if !name.is_empty() {
            let path = self.senders_file();
            let file = senders::load(path)?
                .ok_or_else(|| Error::invalid(senders::no_sender_message(path, None)))?;
            if !file.senders.contains_key(&name) {
                return Err(Error::invalid(format!(
                    "this PC's senders file {} describes no sender {name:?} (it describes: {}); the PC's administrator adds senders there",
                    path.display(),
                    file.names().join(", ")
                )));
            }
        }
        let now = self.now();
        self.in_write("settings", |tx| {
            if settings::get(tx, SENDER_NAME_KEY)?.unwrap_or_default() != name {
                settings::set(tx, SENDER_NAME_KEY, &name)?;
                audit(
                    tx,
                    now,
                    actor,
                    "setting.change",
                    "setting",
                    None,
                    SENDER_NAME_KEY,
                )?;
            }
            Ok(())
        })?;
        self.otp_sender(actor)
    }

    /// Outbox messages, newest first (never their text).
    pub fn list_outbox(
        &self,
        actor: &Actor,
        limit: u32,
    ) -> Result<Vec<crate::domain::outbox::OutboxMessage>> {
        actor.require(Action::ManageSettings)?;
        self.in_read(|c| Ok(store::list(c, limit.clamp(1, 1000))?))
    }

    /// Sweeps the outbox: gives up and erases messages whose passcode expired,
    /// and sends (outside any lock) the messages a desk left unsent — stopped
    /// while sending, its claim gone stale — recording sent or failed (retried
    /// up to 3 times while the code lives). Requests send their own message at
    /// once; this only cleans up after desks that could not.
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
        let (sender, problem) = match self.choose_sender()? {
            SenderChoice::Use(s) => (Some(s), None),
            SenderChoice::None(why) => (None, Some(why)),
        };
        // random, made outside any transaction
        let token = claim_token()?;
        let mut report = DeliveryReport {
            sender_configured: sender.is_some(),
            problem,
            ..Default::default()
        };
        // one attempt per message per run: claim only past the last one tried
        let mut after = 0;
        let mut tried = 0;
        loop {
            let now = self.now();
            let claim_more = sender.is_some() && tried < MAX_PER_RUN;
            let (expired, claimed) = self.in_write("otp.outbox", |tx| {
                set_secure_delete(tx)?;
                let expired = store::expire(tx, now - CODE_TTL_SECS, now - CLAIM_SECS)?;
                let claimed = if claim_more {
                    store::claim_next(tx, now, now - CLAIM_SECS, after, &token)?
                } else {
                    None
                };
                Ok((expired, claimed))
            })?;
            report.expired += expired as u32;
            let (Some(sender), Some(m)) = (&sender, claimed) else {
                break;
            };
            tried += 1;
            after = m.id;
            let outcome = sender.send(&m.phone, &m.body);
            let give_up = m.attempts >= MAX_SEND_ATTEMPTS;
            let id = m.id;
            drop(m);
            let recorded = self.record_sending(actor, id, &token, &outcome, give_up)?;
            match (&outcome, recorded) {
                (Ok(()), true) => report.sent += 1,
                (Err(_), true) => report.failed += 1,
                (_, false) => report.taken_over += 1,
            }
        }
        if report.expired > 0 || tried > 0 {
            self.flush_wal();
        }
        Ok(report)
    }
}
