//! Overbooking on purpose, and the attendance record shown at booking.

use crate::domain::auth::{Action, Actor};
use crate::domain::clinic::required_text;
use crate::domain::model::Appointment;
use crate::domain::scheduling::{PatientAttendance, LATE_CANCELLATION_SECS};
use crate::error::{Error, Result};
use crate::service::appointments::bookable_slot;
use crate::service::audit;
use crate::storage::appointments::{self, NewAppointment};
use crate::storage::{patients, series, slots};
use crate::Frontdesk;

impl Frontdesk {
    /// Squeezes a patient into a slot that is already booked: admins only, with a
    /// reason, flagged `overbooked` wherever the appointment shows, audited. A free
    /// slot is refused (book it normally); the one-live-appointment rule for ordinary
    /// bookings is untouched (overbooked rows sit outside the unique index).
    pub fn overbook(
        &self,
        actor: &Actor,
        slot_id: i64,
        patient_id: i64,
        reason: &str,
    ) -> Result<Appointment> {
        actor.require(Action::Overbook)?;
        let reason = required_text("the reason for overbooking", reason, 500)?;
        let now = self.now();
        let label = actor.label();
        self.in_write("overbook", |tx| {
            let slot = bookable_slot(tx, slot_id, now)?;
            patients::get(tx, patient_id)?.ok_or(Error::NotFound("patient"))?;
            if !slots::is_taken(tx, slot.id)? {
                return Err(Error::invalid("this slot is free; book it normally"));
            }
            let new = NewAppointment {
                slot_id: slot.id,
                doctor_id: slot.doctor_id,
                patient_id,
                reason: &reason,
                overbooked: true,
                actor: &label,
                now,
            };
            let id = appointments::insert(tx, &new)?;
            audit(
                tx,
                now,
                actor,
                "appointment.overbook",
                "appointment",
                Some(id),
                &format!("slot {}", slot.id),
            )?;
            appointments::get(tx, id)?.ok_or(Error::NotFound("appointment"))
        })
    }

    /// A patient's late cancellations (less than 24 hours before the slot) and
    /// no-shows, computed from the status history.
    pub fn patient_attendance(&self, actor: &Actor, patient_id: i64) -> Result<PatientAttendance> {
        actor.require(Action::ViewSchedule)?;
        self.in_read(|c| {
            patients::get(c, patient_id)?.ok_or(Error::NotFound("patient"))?;
            let (late_cancellations, no_shows) =
                series::attendance(c, patient_id, LATE_CANCELLATION_SECS)?;
            Ok(PatientAttendance {
                late_cancellations,
                no_shows,
            })
        })
    }
}
