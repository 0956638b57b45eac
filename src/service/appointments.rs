use serde::Deserialize;
use ts_rs::TS;

use crate::domain::auth::{Action, Actor};
use crate::domain::clinic::optional_text;
use crate::domain::model::AppointmentFilter;
use crate::domain::model::{Appointment, AppointmentDetail, AppointmentStatus, Slot};
use crate::domain::scheduling::SlotRefusal;
use crate::error::{Error, Result};
use crate::service::audit;
use crate::service::payments::settle_closing;
use crate::storage::appointments::{self, NewAppointment};
use crate::storage::Conn;
use crate::storage::{doctors, patients, slots};
use crate::Frontdesk;

/// A booking request from the desk.
#[derive(Debug, Clone, Deserialize, TS)]
#[ts(export)]
pub struct BookRequest {
    /// The slot to book.
    #[ts(type = "number")]
    pub slot_id: i64,
    /// The patient.
    #[ts(type = "number")]
    pub patient_id: i64,
    /// Optional reason for the visit.
    #[serde(default)]
    pub reason: String,
}

/// Checks a slot can take a new appointment now (exists, open, upcoming, doctor active).
pub(crate) fn bookable_slot(conn: &Conn, slot_id: i64, now: i64) -> Result<Slot> {
    let slot = slots::get(conn, slot_id)?.ok_or(Error::NotFound("slot"))?;
    if slot.blocked {
        return Err(SlotRefusal::Blocked.into());
    }
    if slot.end_at <= now {
        return Err(SlotRefusal::Past.into());
    }
    let doctor = doctors::get(conn, slot.doctor_id)?.ok_or(Error::NotFound("doctor"))?;
    if !doctor.active {
        return Err(SlotRefusal::DoctorInactive.into());
    }
    Ok(slot)
}

/// A bookable slot with no live ordinary appointment, or `SlotTaken`.
pub(crate) fn free_slot(conn: &Conn, slot_id: i64, now: i64) -> Result<Slot> {
    let slot = bookable_slot(conn, slot_id, now)?;
    if slots::is_taken(conn, slot.id)? {
        return Err(Error::SlotTaken);
    }
    Ok(slot)
}

/// Inserts an appointment; the unique index refusing a second live one (the second
/// line of defence behind [`free_slot`]) becomes the same `SlotTaken`.
pub(crate) fn insert_appointment(conn: &Conn, new: &NewAppointment<'_>) -> Result<i64> {
    appointments::insert(conn, new).map_err(|e| {
        if appointments::is_double_booking(&e) {
            Error::SlotTaken
        } else {
            e.into()
        }
    })
}

/// What a booking may be asked by `actor`: its reason, checked.
fn booking_reason(actor: &Actor, req: &BookRequest) -> Result<String> {
    actor.require(Action::Book)?;
    optional_text("the reason", &req.reason, 500)
}

/// Builds the `Conflict` for an appointment that changed since `expected_version`.
pub(super) fn stale(current: &Appointment) -> Error {
    Error::Conflict {
        what: "the appointment",
        changed_by: current.updated_by.clone(),
        changed_at: current.updated_at,
        current: current.status.to_string(),
    }
}

impl Frontdesk {
    /// Books a free slot: `SlotTaken` when any live appointment holds it.
    ///
    /// On a clinic server the booking is one call of the server's `fd_book`
    /// (READ COMMITTED, the slot row locked and updated, the same checks and
    /// refusals, the same rows written, the appointment read back in the same
    /// round trip): the desks' commonest write never waits on SERIALIZABLE's
    /// retries (see the README's design notes).
    pub fn book(&self, actor: &Actor, req: &BookRequest) -> Result<Appointment> {
        if let Some((server, ..)) = self.server_store() {
            let reason = booking_reason(actor, req)?;
            return server.book(
                req.slot_id,
                req.patient_id,
                &reason,
                &actor.label(),
                self.now(),
            );
        }
        Ok(self.book_with(actor, req, "book", |_, _, _| Ok(()))?.0)
    }

    /// The one booking transaction behind [`Frontdesk::book`] and pay-and-book:
    /// the free-slot check, the insert, the audit row, then `more` (the charge and
    /// payment) in the same transaction — all commit or none does.
    pub(crate) fn book_with<T>(
        &self,
        actor: &Actor,
        req: &BookRequest,
        op: &'static str,
        mut more: impl FnMut(&Conn, &Appointment, i64) -> Result<T>,
    ) -> Result<(Appointment, T)> {
        let reason = booking_reason(actor, req)?;
        let now = self.now();
        let label = actor.label();
        self.in_write(op, |tx| {
            let slot = free_slot(tx, req.slot_id, now)?;
            patients::get(tx, req.patient_id)?.ok_or(Error::NotFound("patient"))?;
            let new = NewAppointment {
                slot_id: slot.id,
                doctor_id: slot.doctor_id,
                patient_id: req.patient_id,
                reason: &reason,
                overbooked: false,
                actor: &label,
                now,
            };
            let id = insert_appointment(tx, &new)?;
            audit(
                tx,
                now,
                actor,
                "appointment.book",
                "appointment",
                Some(id),
                &format!("slot {}", slot.id),
            )?;
            let booked = appointments::get(tx, id)?.ok_or(Error::NotFound("appointment"))?;
            let extra = more(tx, &booked, now)?;
            Ok((booked, extra))
        })
    }

    /// Moves a pending or confirmed appointment to another free slot, atomically.
    pub fn reschedule(
        &self,
        actor: &Actor,
        appointment_id: i64,
        expected_version: i64,
        new_slot_id: i64,
    ) -> Result<Appointment> {
        actor.require(Action::Reschedule)?;
        let now = self.now();
        let label = actor.label();
        self.in_write("reschedule", |tx| {
            let current =
                appointments::get(tx, appointment_id)?.ok_or(Error::NotFound("appointment"))?;
            if current.version != expected_version {
                return Err(stale(&current));
            }
            if !current.status.is_open() {
                return Err(Error::invalid(format!(
                    "a {} appointment cannot be rescheduled",
                    current.status
                )));
            }
            if new_slot_id == current.slot_id {
                return Err(Error::invalid("the appointment is already in that slot"));
            }
            let slot = free_slot(tx, new_slot_id, now)?;
            appointments::move_to_slot(
                tx,
                appointment_id,
                expected_version,
                slot.id,
                slot.doctor_id,
                &label,
                now,
            )
            .map_err(|e| {
                if appointments::is_double_booking(&e) {
                    Error::SlotTaken
                } else {
                    e.into()
                }
            })?;
            appointments::add_history(
                tx,
                appointment_id,
                Some(current.status),
                current.status,
                Some(current.slot_id),
                Some(slot.id),
                "rescheduled",
                &label,
                now,
            )?;
            audit(
                tx,
                now,
                actor,
                "appointment.reschedule",
                "appointment",
                Some(appointment_id),
                &format!("slot {} -> {}", current.slot_id, slot.id),
            )?;
            appointments::get(tx, appointment_id)?.ok_or(Error::NotFound("appointment"))
        })
    }

    /// Changes an appointment's status along the state machine, on the version the
    /// caller saw: `Conflict` if it changed meanwhile, `InvalidTransition` if the
    /// move is not allowed. Cancelling frees the slot in the same transaction.
    pub fn change_status(
        &self,
        actor: &Actor,
        appointment_id: i64,
        expected_version: i64,
        to: AppointmentStatus,
        note: &str,
    ) -> Result<Appointment> {
        actor.require(Action::for_status_change(to))?;
        let note = optional_text("the note", note, 500)?;
        if to == AppointmentStatus::Cancelled && note.is_empty() {
            return Err(Error::invalid("give a reason for the cancellation"));
        }
        let now = self.now();
        let label = actor.label();
        // On a clinic server a move is one call of the server's
        // `fd_change_status` (READ COMMITTED, the appointment row locked, the
        // version and the state machine checked, the same rows written) unless
        // it settles money: a cancellation or a no-show of an appointment with
        // ledger rows refunds and waives by them, in the SERIALIZABLE
        // transaction below. The SERIALIZABLE decisions that read an
        // appointment's status (a payment, a slot's occupancy) meet this one
        // at its row: a ledger row's foreign key locks it as the row is
        // written, and a booking of the freed slot is ordered after it or
        // before it.
        if let Some((server, ..)) = self.server_store() {
            if let Some(changed) =
                server.change_status(appointment_id, expected_version, to, &note, &label, now)?
            {
                return Ok(changed);
            }
        }
        self.in_write("status", |tx| {
            let current =
                appointments::get(tx, appointment_id)?.ok_or(Error::NotFound("appointment"))?;
            if current.version != expected_version {
                return Err(stale(&current));
            }
            if !current.status.can_become(to) {
                return Err(Error::InvalidTransition {
                    from: current.status.to_string(),
                    to: to.to_string(),
                });
            }
            let cancel_reason = (to == AppointmentStatus::Cancelled).then_some(note.as_str());
            if !appointments::set_status(
                tx,
                appointment_id,
                expected_version,
                to,
                cancel_reason,
                &label,
                now,
            )? {
                return Err(stale(&current));
            }
            // the deposit and the charge, by the cancellation policy
            settle_closing(tx, actor, &current, to, now)?;
            appointments::add_history(
                tx,
                appointment_id,
                Some(current.status),
                to,
                None,
                None,
                &note,
                &label,
                now,
            )?;
            audit(
                tx,
                now,
                actor,
                "appointment.status",
                "appointment",
                Some(appointment_id),
                &format!("{} -> {}", current.status, to),
            )?;
            // what `set_status` wrote, without reading it again inside the lock
            Ok(Appointment {
                status: to,
                cancel_reason: cancel_reason
                    .map(str::to_string)
                    .or(current.cancel_reason.clone()),
                version: current.version + 1,
                updated_by: label.clone(),
                updated_at: now,
                ..current
            })
        })
    }

    /// One appointment with its history.
    pub fn get_appointment(&self, actor: &Actor, id: i64) -> Result<AppointmentDetail> {
        actor.require(Action::ViewSchedule)?;
        let now = self.now();
        self.in_read(|c| {
            let appointment = appointments::get(c, id)?.ok_or(Error::NotFound("appointment"))?;
            Ok(AppointmentDetail {
                history: appointments::history(c, id)?,
                reminders: crate::service::reminders_of(c, &appointment, now)?,
                appointment,
            })
        })
    }

    /// Appointments matching a filter, by slot start.
    pub fn list_appointments(
        &self,
        actor: &Actor,
        filter: &AppointmentFilter,
    ) -> Result<Vec<Appointment>> {
        actor.require(Action::ViewSchedule)?;
        self.in_read(|c| Ok(appointments::list(c, filter)?))
    }
}

#[cfg(test)]
mod tests {
    //! The second line of defence on its own: what the unique index's refusal
    //! becomes when the in-transaction check did not see the other booking.

    use super::*;
    use crate::{Actor, NewPatient, OpenOptions, SlotMode};

    #[test]
    fn the_unique_index_s_refusal_is_slot_taken_and_no_other_error_is() {
        let dir = tempfile::tempdir().unwrap();
        let desk = Frontdesk::open(dir.path().join("d.sqlite3"), OpenOptions::default()).unwrap();
        let admin = Actor::local_admin();
        let doctor = desk.add_doctor(&admin, "Dr. Index", "GP").unwrap().id;
        let start = desk.now() + 3600;
        let slot = desk
            .add_slot(&admin, doctor, start, start + 1800, SlotMode::InPerson)
            .unwrap()
            .id;
        let patient = desk
            .add_patient(
                &admin,
                &NewPatient {
                    name: "Ann Index".into(),
                    phone: "+4915123456789".into(),
                    ..NewPatient::default()
                },
            )
            .unwrap()
            .id;
        desk.book(
            &admin,
            &BookRequest {
                slot_id: slot,
                patient_id: patient,
                reason: String::new(),
            },
        )
        .unwrap();
        let empty_slot = desk
            .add_slot(
                &admin,
                doctor,
                start + 1800,
                start + 3600,
                SlotMode::InPerson,
            )
            .unwrap()
            .id;
        let new = |slot_id, patient_id| NewAppointment {
            slot_id,
            doctor_id: doctor,
            patient_id,
            reason: "",
            overbooked: false,
            actor: "test",
            now: start - 3600,
        };
        let outcome = desk.in_write("test.insert", |tx| {
            let raw = appointments::insert(tx, &new(slot, patient)).expect_err("the index refuses");
            assert!(appointments::is_double_booking(&raw), "{raw:?}");
            // a foreign key refusal (no such patient) is something else
            let other =
                insert_appointment(tx, &new(empty_slot, 999_999)).expect_err("no such patient");
            assert!(!matches!(other, Error::SlotTaken), "{other:?}");
            Ok(insert_appointment(tx, &new(slot, patient)))
        });
        assert!(
            matches!(outcome, Ok(Err(Error::SlotTaken))),
            "the index's refusal reaches the desk as SlotTaken: {outcome:?}"
        );
    }
}
