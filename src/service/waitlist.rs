//! The waitlist: patients waiting for a doctor (optionally within dates and a time
//! of day). When a slot frees up the desk asks who matches — oldest entry first —
//! and books one of them in one step that also closes the entry.

use chrono::{NaiveDate, Timelike};

use crate::domain::auth::{Action, Actor};
use crate::domain::clinic::{optional_text, ClinicSettings};
use crate::domain::model::{Appointment, Slot};
use crate::domain::planner::Minute;
use crate::domain::scheduling::{
    parse_optional_date, NewWaitlistEntry, WaitlistEntry, WaitlistFilter, WaitlistStatus,
};
use crate::error::{Error, Result};
use crate::service::appointments::{free_slot, insert_appointment};
use crate::service::audit;
use crate::storage::appointments::{self, NewAppointment};
use crate::storage::{doctors, patients, slots, waitlist};
use crate::Frontdesk;

/// Whether an open entry would accept this slot: same doctor, the slot's local day
/// within the entry's dates, the whole slot within its time of day.
fn accepts(entry: &WaitlistEntry, slot: &Slot, tz: chrono_tz::Tz) -> bool {
    let local = |at: i64| {
        chrono::DateTime::from_timestamp(at, 0)
            .unwrap_or_default()
            .with_timezone(&tz)
            .naive_local()
    };
    let (start, end) = (local(slot.start_at), local(slot.end_at));
    let day = start.date().to_string();
    let minute = |t: chrono::NaiveDateTime| (t.hour() * 60 + t.minute()) as Minute;
    let end_minute = if end.date() > start.date() {
        1440
    } else {
        minute(end)
    };
    entry.status == WaitlistStatus::Open
        && entry.doctor_id == slot.doctor_id
        && entry.from_date.as_deref().is_none_or(|d| d <= day.as_str())
        && entry.to_date.as_deref().is_none_or(|d| d >= day.as_str())
        && entry.hours.as_ref().is_none_or(|h| {
            h.minutes("the time of day").is_ok_and(|(s, e)| {
                minute(start) >= s && end_minute <= e && end_minute >= minute(start)
            })
        })
}

impl Frontdesk {
    /// Puts a patient on the waitlist for a doctor.
    pub fn waitlist_add(&self, actor: &Actor, new: &NewWaitlistEntry) -> Result<WaitlistEntry> {
        actor.require(Action::ManageWaitlist)?;
        let from: Option<NaiveDate> = parse_optional_date(new.from_date.as_deref())?;
        let to: Option<NaiveDate> = parse_optional_date(new.to_date.as_deref())?;
        if let (Some(f), Some(t)) = (from, to) {
            if t < f {
                return Err(Error::invalid(
                    "the last acceptable day is before the first",
                ));
            }
        }
        let hours = new
            .hours
            .as_ref()
            .map(|h| h.minutes("the time of day"))
            .transpose()?;
        let note = optional_text("the note", &new.note, 500)?;
        let (from, to) = (from.map(|d| d.to_string()), to.map(|d| d.to_string()));
        let now = self.now();
        let label = actor.label();
        self.in_write("waitlist.add", |tx| {
            patients::get(tx, new.patient_id)?.ok_or(Error::NotFound("patient"))?;
            let doctor = doctors::get(tx, new.doctor_id)?.ok_or(Error::NotFound("doctor"))?;
            if !doctor.active {
                return Err(Error::invalid("this doctor no longer takes appointments"));
            }
            let row = waitlist::NewEntryRow {
                patient_id: new.patient_id,
                doctor_id: new.doctor_id,
                from_date: from.as_deref(),
                to_date: to.as_deref(),
                hours,
                note: &note,
            };
            let id = waitlist::insert(tx, &row, &label, now)?;
            audit(
                tx,
                now,
                actor,
                "waitlist.add",
                "waitlist_entry",
                Some(id),
                &format!("doctor {}", new.doctor_id),
            )?;
            waitlist::get(tx, id)?.ok_or(Error::NotFound("waitlist entry"))
        })
    }

    /// Waitlist entries, oldest first (open ones only unless asked).
    pub fn waitlist_list(
        &self,
        actor: &Actor,
        filter: &WaitlistFilter,
    ) -> Result<Vec<WaitlistEntry>> {
        actor.require(Action::ViewSchedule)?;
        self.in_read(|c| Ok(waitlist::list(c, filter)?))
    }

    /// The open entries that would take this slot, first come first served (oldest
    /// first). The desk asks after a cancellation or a reschedule frees a slot.
    pub fn waitlist_matches_for_slot(
        &self,
        actor: &Actor,
        slot_id: i64,
    ) -> Result<Vec<WaitlistEntry>> {
        actor.require(Action::ViewSchedule)?;
        self.in_read(|c| {
            let tz = ClinicSettings::load(c)?.tz();
            let slot = slots::get(c, slot_id)?.ok_or(Error::NotFound("slot"))?;
            let open = waitlist::list(
                c,
                &WaitlistFilter {
                    doctor_id: Some(slot.doctor_id),
                    ..Default::default()
                },
            )?;
            Ok(open.into_iter().filter(|e| accepts(e, &slot, tz)).collect())
        })
    }

    /// Books a waiting patient into a free slot of their doctor and closes the entry,
    /// in one transaction: `SlotTaken` if another desk got the slot first (the entry
    /// then stays open).
    pub fn book_from_waitlist(
        &self,
        actor: &Actor,
        entry_id: i64,
        slot_id: i64,
    ) -> Result<Appointment> {
        actor.require(Action::Book)?;
        actor.require(Action::ManageWaitlist)?;
        let now = self.now();
        let label = actor.label();
        self.in_write("waitlist.book", |tx| {
            let entry = waitlist::get(tx, entry_id)?.ok_or(Error::NotFound("waitlist entry"))?;
            if entry.status != WaitlistStatus::Open {
                return Err(Error::invalid(
                    "this patient is no longer waiting (already booked or taken off the list)",
                ));
            }
            let slot = free_slot(tx, slot_id, now)?;
            if slot.doctor_id != entry.doctor_id {
                return Err(Error::invalid(
                    "this slot belongs to another doctor than the one the patient waits for",
                ));
            }
            let new = NewAppointment {
                slot_id: slot.id,
                doctor_id: slot.doctor_id,
                patient_id: entry.patient_id,
                reason: &entry.note,
                overbooked: false,
                actor: &label,
                now,
            };
            let id = insert_appointment(tx, &new)?;
            if !waitlist::close(tx, entry_id, WaitlistStatus::Booked, Some(id), &label, now)? {
                return Err(Error::invalid("this patient is no longer waiting"));
            }
            audit(
                tx,
                now,
                actor,
                "appointment.book",
                "appointment",
                Some(id),
                &format!("slot {}, waitlist entry {entry_id}", slot.id),
            )?;
            audit(
                tx,
                now,
                actor,
                "waitlist.book",
                "waitlist_entry",
                Some(entry_id),
                &format!("appointment {id}"),
            )?;
            appointments::get(tx, id)?.ok_or(Error::NotFound("appointment"))
        })
    }

    /// Takes a patient off the waitlist.
    pub fn waitlist_remove(&self, actor: &Actor, entry_id: i64) -> Result<WaitlistEntry> {
        actor.require(Action::ManageWaitlist)?;
        let now = self.now();
        let label = actor.label();
        self.in_write("waitlist.remove", |tx| {
            waitlist::get(tx, entry_id)?.ok_or(Error::NotFound("waitlist entry"))?;
            if !waitlist::close(tx, entry_id, WaitlistStatus::Removed, None, &label, now)? {
                return Err(Error::invalid("this entry is already closed"));
            }
            audit(
                tx,
                now,
                actor,
                "waitlist.remove",
                "waitlist_entry",
                Some(entry_id),
                "",
            )?;
            waitlist::get(tx, entry_id)?.ok_or(Error::NotFound("waitlist entry"))
        })
    }
}
