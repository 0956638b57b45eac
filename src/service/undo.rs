//! Undo: the desk takes back its own last change for a few seconds after making it
//! (the toast's *Undo*). An undo is its own audited operation, not the reverse
//! operation in disguise: a receptionist may not cancel, but may take back the
//! booking they made a moment ago (`appointment.undo_book`), and a check-in's undo
//! puts back the status the history says came before it, which the state machine
//! would otherwise refuse.
//!
//! The rules, checked inside the write transaction:
//! - the change is the record's newest: an appointment still has the version the
//!   change produced (and its newest history entry is that change); a slot's newest
//!   block/unblock audit row is that block. Anything since → `Conflict`.
//! - the same person made it (the history entry's / audit row's actor), and the
//!   role still holds the permission the change needed;
//! - at most [`UNDO_LIMIT_SECS`] ago (the toast's ten seconds plus slack for a
//!   slow click and clocks a second apart);
//! - an undone cancellation books the same slot again through the same free-slot
//!   check and unique index as every booking: `SlotTaken` if it went meanwhile;
//! - money is never undone silently: a booking with ledger rows, or a cancellation
//!   that refunded or waived, is refused with what to do instead.
//!
//! Each undo appends a history entry, so an appointment's status is always its
//! newest history entry.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::domain::auth::{Action, Actor};
use crate::domain::model::{Appointment, AppointmentStatus, Slot};
use crate::error::{Error, Result};
use crate::service::appointments::{bookable_slot, free_slot, stale};
use crate::service::audit;
use crate::storage::{appointments, audit as audit_log, slots};
use crate::Frontdesk;

/// How long the desk offers *Undo* after a change.
pub const UNDO_WINDOW_SECS: i64 = 10;
/// How long after a change the core still takes it back: the window plus slack.
pub const UNDO_LIMIT_SECS: i64 = UNDO_WINDOW_SECS + 5;

/// The change to take back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export)]
pub enum Undo {
    /// A booking, by the appointment and the version booking gave it.
    Book {
        /// The appointment booked.
        #[ts(type = "number")]
        appointment_id: i64,
        /// Its version right after booking.
        #[ts(type = "number")]
        version: i64,
    },
    /// A cancellation, by the appointment and the version it produced.
    Cancel {
        /// The appointment cancelled.
        #[ts(type = "number")]
        appointment_id: i64,
        /// Its version right after cancelling.
        #[ts(type = "number")]
        version: i64,
    },
    /// A check-in (→ ARRIVED), by the appointment and the version it produced.
    CheckIn {
        /// The appointment checked in.
        #[ts(type = "number")]
        appointment_id: i64,
        /// Its version right after the check-in.
        #[ts(type = "number")]
        version: i64,
    },
    /// A slot's block.
    Block {
        /// The slot blocked.
        #[ts(type = "number")]
        slot_id: i64,
    },
}

/// What an undo left behind.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct Undone {
    /// The appointment as it is now (booking undone: cancelled; cancellation or
    /// check-in undone: back in its earlier status).
    pub appointment: Option<Appointment>,
    /// The slot, for an undone block.
    pub slot: Option<Slot>,
}

impl Undo {
    /// The permission the change itself needed.
    fn action(self) -> Action {
        match self {
            Undo::Book { .. } => Action::Book,
            Undo::Cancel { .. } => Action::Cancel,
            Undo::CheckIn { .. } => Action::CheckIn,
            Undo::Block { .. } => Action::ManageSchedule,
        }
    }
}

fn too_late() -> Error {
    Error::invalid(format!(
        "it is too late to undo this (undo works for {UNDO_WINDOW_SECS} seconds after a change)"
    ))
}

fn not_yours() -> Error {
    Error::Forbidden("undo a change someone else made")
}

impl Frontdesk {
    /// Takes back the actor's own change of a moment ago (see the module docs).
    pub fn undo(&self, actor: &Actor, what: &Undo) -> Result<Undone> {
        actor.require(what.action())?;
        match *what {
            Undo::Block { slot_id } => self.undo_block(actor, slot_id),
            Undo::Book {
                appointment_id,
                version,
            } => self.undo_appointment(actor, appointment_id, version, AppointmentStatus::Pending),
            Undo::Cancel {
                appointment_id,
                version,
            } => {
                self.undo_appointment(actor, appointment_id, version, AppointmentStatus::Cancelled)
            }
            Undo::CheckIn {
                appointment_id,
                version,
            } => self.undo_appointment(actor, appointment_id, version, AppointmentStatus::Arrived),
        }
    }

    /// Undoes the change that took appointment `id` to `made` at `version`.
    fn undo_appointment(
        &self,
        actor: &Actor,
        id: i64,
        version: i64,
        made: AppointmentStatus,
    ) -> Result<Undone> {
        let now = self.now();
        let label = actor.label();
        self.in_write("undo", |tx| {
            let current = appointments::get(tx, id)?.ok_or(Error::NotFound("appointment"))?;
            if current.version != version || current.status != made {
                return Err(stale(&current));
            }
            let history = appointments::history(tx, id)?;
            let change = history
                .last()
                .filter(|h| h.to_status == made)
                .ok_or_else(|| stale(&current))?;
            // a booking's change is the first entry; the others name where they came from
            let before = match (made, change.from_status) {
                (AppointmentStatus::Pending, None) => AppointmentStatus::Cancelled,
                (AppointmentStatus::Pending, Some(_)) => return Err(stale(&current)),
                (_, Some(from)) if from != made => from,
                _ => return Err(stale(&current)),
            };
            if change.actor != label {
                return Err(not_yours());
            }
            if now - change.at > UNDO_LIMIT_SECS || now < change.at - UNDO_LIMIT_SECS {
                return Err(too_late());
            }
            let (action, note) = match made {
                AppointmentStatus::Pending => {
                    if appointments::ledger_rows_since(tx, id, i64::MIN)? > 0 {
                        return Err(Error::invalid(
                            "money was recorded with this booking; an admin can cancel it with a reason instead",
                        ));
                    }
                    ("appointment.undo_book", "booking undone")
                }
                AppointmentStatus::Cancelled => {
                    if appointments::ledger_rows_since(tx, id, change.at)? > 0 {
                        return Err(Error::invalid(
                            "the cancellation refunded or waived money, so it cannot be undone; book the patient again instead",
                        ));
                    }
                    // booked again through the same check as every booking
                    if current.overbooked {
                        bookable_slot(tx, current.slot_id, now)?;
                    } else {
                        free_slot(tx, current.slot_id, now)?;
                    }
                    ("appointment.undo_cancel", "cancellation undone")
                }
                _ => ("appointment.undo_check_in", "check-in undone"),
            };
            let restored =
                appointments::restore_status(tx, id, version, before, &label, now).map_err(
                    |e| {
                        if crate::storage::appointments::is_double_booking(&e) {
                            Error::SlotTaken
                        } else {
                            e.into()
                        }
                    },
                )?;
            if !restored {
                return Err(stale(&current));
            }
            appointments::add_history(tx, id, Some(made), before, None, None, note, &label, now)?;
            audit(
                tx,
                now,
                actor,
                action,
                "appointment",
                Some(id),
                &format!("{made} -> {before}"),
            )?;
            Ok(Undone {
                appointment: appointments::get(tx, id)?,
                slot: None,
            })
        })
    }

    /// Unblocks a slot the actor blocked a moment ago.
    fn undo_block(&self, actor: &Actor, slot_id: i64) -> Result<Undone> {
        let now = self.now();
        let label = actor.label();
        self.in_write("undo", |tx| {
            let slot = slots::get(tx, slot_id)?.ok_or(Error::NotFound("slot"))?;
            let last = audit_log::last_of(tx, "slot", slot_id, "slot.")?;
            let Some((by, _, at)) = last.filter(|(_, action, _)| action == "slot.block") else {
                return Err(Error::invalid(
                    "this slot was changed since it was blocked; nothing was undone",
                ));
            };
            if !slot.blocked {
                return Err(Error::invalid(
                    "this slot was changed since it was blocked; nothing was undone",
                ));
            }
            if by != label {
                return Err(not_yours());
            }
            if now - at > UNDO_LIMIT_SECS || now < at - UNDO_LIMIT_SECS {
                return Err(too_late());
            }
            slots::set_blocked(tx, slot_id, false)?;
            audit(tx, now, actor, "slot.undo_block", "slot", Some(slot_id), "")?;
            Ok(Undone {
                appointment: None,
                slot: slots::get(tx, slot_id)?,
            })
        })
    }
}
