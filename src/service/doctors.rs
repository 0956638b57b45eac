use crate::domain::auth::{Action, Actor};
use crate::domain::clinic::{optional_text, required_text};
use crate::domain::model::Doctor;
use crate::error::{Error, Result};
use crate::service::audit;
use crate::storage::doctors;
use crate::Frontdesk;

impl Frontdesk {
    /// Adds a doctor.
    pub fn add_doctor(&self, actor: &Actor, name: &str, specialty: &str) -> Result<Doctor> {
        actor.require(Action::ManageDoctors)?;
        let name = required_text("the doctor's name", name, 200)?;
        let specialty = optional_text("the specialty", specialty, 200)?;
        let now = self.now();
        self.in_write("doctor.add", |tx| {
            let id = doctors::insert(tx, &name, &specialty, now)?;
            audit(tx, now, actor, "doctor.add", "doctor", Some(id), "")?;
            doctors::get(tx, id)?.ok_or(Error::NotFound("doctor"))
        })
    }

    /// Lists doctors by name.
    pub fn list_doctors(&self, actor: &Actor, include_inactive: bool) -> Result<Vec<Doctor>> {
        actor.require(Action::ViewSchedule)?;
        self.in_read(|c| Ok(doctors::list(c, include_inactive)?))
    }

    /// Deactivates a doctor: history stays, no new bookings.
    pub fn deactivate_doctor(&self, actor: &Actor, doctor_id: i64) -> Result<Doctor> {
        actor.require(Action::ManageDoctors)?;
        let now = self.now();
        self.in_write("doctor.deactivate", |tx| {
            doctors::get(tx, doctor_id)?.ok_or(Error::NotFound("doctor"))?;
            if doctors::set_active(tx, doctor_id, false)? {
                audit(
                    tx,
                    now,
                    actor,
                    "doctor.deactivate",
                    "doctor",
                    Some(doctor_id),
                    "",
                )?;
            }
            doctors::get(tx, doctor_id)?.ok_or(Error::NotFound("doctor"))
        })
    }
}
