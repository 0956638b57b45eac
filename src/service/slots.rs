use chrono::NaiveDate;
use serde::Serialize;
use ts_rs::TS;

use crate::domain::auth::{Action, Actor};
use crate::domain::clinic::{day_bounds, ClinicSettings};
use crate::domain::model::{Doctor, Slot, SlotMode, SlotView};
use crate::domain::scheduling::SlotFilter;
use crate::error::{Error, Result};
use crate::service::audit;
use crate::storage::{doctors, slots};
use crate::Frontdesk;

/// What the day view shows: the clinic's doctors as columns and the day's slots.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct DayView {
    /// The clinic-local date, `YYYY-MM-DD`.
    pub date: String,
    /// The clinic's time zone.
    pub time_zone: String,
    /// UTC bounds of the local day (23 or 25 hours on DST change days).
    #[ts(type = "number")]
    pub day_start: i64,
    /// End of the day, exclusive.
    #[ts(type = "number")]
    pub day_end: i64,
    /// Columns: active doctors, plus inactive ones that still have slots that day.
    pub doctors: Vec<Doctor>,
    /// Slots by start time, with their live appointments.
    pub slots: Vec<SlotView>,
}

impl Frontdesk {
    /// Adds one slot; refuses overlap with the doctor's other slots.
    pub fn add_slot(
        &self,
        actor: &Actor,
        doctor_id: i64,
        start_at: i64,
        end_at: i64,
        mode: SlotMode,
    ) -> Result<Slot> {
        actor.require(Action::ManageSchedule)?;
        if end_at <= start_at {
            return Err(Error::invalid("a slot must end after it starts"));
        }
        if end_at - start_at > 86_400 {
            return Err(Error::invalid("a slot can be at most 24 hours long"));
        }
        let now = self.now();
        if end_at <= now {
            return Err(Error::invalid(
                "that time is already over; slots are for the future",
            ));
        }
        self.in_write("slot.add", |tx| {
            let doctor = doctors::get(tx, doctor_id)?.ok_or(Error::NotFound("doctor"))?;
            if !doctor.active {
                return Err(Error::invalid("this doctor is inactive"));
            }
            if slots::overlapping(tx, doctor_id, start_at, end_at, None)?.is_some() {
                return Err(Error::invalid(
                    "this slot overlaps another slot of the same doctor",
                ));
            }
            let id = slots::insert(tx, doctor_id, start_at, end_at, mode.as_str(), now)?;
            audit(tx, now, actor, "slot.add", "slot", Some(id), "")?;
            slots::get(tx, id)?.ok_or(Error::NotFound("slot"))
        })
    }

    /// Blocks or unblocks a slot. A slot with a live appointment cannot be blocked.
    pub fn set_slot_blocked(&self, actor: &Actor, slot_id: i64, blocked: bool) -> Result<Slot> {
        actor.require(Action::ManageSchedule)?;
        let now = self.now();
        self.in_write("slot.block", |tx| {
            slots::get(tx, slot_id)?.ok_or(Error::NotFound("slot"))?;
            if blocked && slots::has_appointment(tx, slot_id)? {
                return Err(Error::invalid(
                    "this slot has an appointment; cancel or move it before blocking the slot",
                ));
            }
            if slots::set_blocked(tx, slot_id, blocked)? {
                let action = if blocked {
                    "slot.block"
                } else {
                    "slot.unblock"
                };
                audit(tx, now, actor, action, "slot", Some(slot_id), "")?;
            }
            slots::get(tx, slot_id)?.ok_or(Error::NotFound("slot"))
        })
    }

    /// Slots starting in `[from, to)`, optionally one doctor's or only free ones.
    pub fn list_slots(&self, actor: &Actor, filter: &SlotFilter) -> Result<Vec<SlotView>> {
        actor.require(Action::ViewSchedule)?;
        self.in_read(|c| Ok(slots::list_with_appointments(c, filter)?))
    }

    /// The day view for a clinic-local date.
    pub fn day_view(
        &self,
        actor: &Actor,
        date: NaiveDate,
        doctor_id: Option<i64>,
    ) -> Result<DayView> {
        actor.require(Action::ViewSchedule)?;
        self.in_read(|c| {
            let settings = ClinicSettings::load(c)?;
            let tz = settings.tz();
            let (from, to) = day_bounds(date, tz);
            let slots = slots::list_with_appointments(
                c,
                &SlotFilter {
                    from,
                    to,
                    doctor_id,
                    free_only: false,
                },
            )?;
            let doctors = doctors::list(c, true)?
                .into_iter()
                .filter(|d| doctor_id.is_none_or(|id| id == d.id))
                .filter(|d| d.active || slots.iter().any(|s| s.slot.doctor_id == d.id))
                .collect();
            Ok(DayView {
                date: date.format("%Y-%m-%d").to_string(),
                time_zone: settings.time_zone,
                day_start: from,
                day_end: to,
                doctors,
                slots,
            })
        })
    }
}
