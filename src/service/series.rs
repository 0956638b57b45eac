//! Recurring series: the same patient with the same doctor every N weeks, booked in
//! one transaction (all or nothing, or what is free), and cancelling the rest of one.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate, TimeZone};

use crate::domain::auth::{Action, Actor};
use crate::domain::clinic::{
    format_local, optional_text, parse_date, required_text, ClinicSettings,
};
use crate::domain::model::{Appointment, AppointmentStatus, Slot};
use crate::domain::scheduling::{
    SeenAppointment, SeriesBooking, SeriesMode, SeriesRequest, SkippedOccurrence,
};
use crate::error::{Error, Result};
use crate::service::appointments::{bookable_slot, insert_appointment};
use crate::service::audit;
use crate::storage::appointments::{self, NewAppointment};
use crate::storage::Conn;
use crate::storage::{patients, series, slots};
use crate::Frontdesk;

/// Most occurrences one series may have.
pub const MAX_OCCURRENCES: u32 = 104;

/// How many occurrences, from a count or an end date.
fn occurrence_count(req: &SeriesRequest, first_day: NaiveDate) -> Result<u32> {
    let until = req
        .until
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_date)
        .transpose()?;
    let n = match (req.count, until) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "give either a number of occurrences or an end date, not both",
            ))
        }
        (None, None) => {
            return Err(Error::invalid(
                "give a number of occurrences or an end date",
            ))
        }
        (Some(n), None) => n,
        (None, Some(until)) => {
            if until < first_day {
                return Err(Error::invalid(
                    "the end date is before the first occurrence",
                ));
            }
            let weeks = (until - first_day).num_days() / 7;
            u32::try_from(weeks / i64::from(req.every_weeks) + 1).unwrap_or(u32::MAX)
        }
    };
    if n == 0 || n > MAX_OCCURRENCES {
        return Err(Error::invalid(format!(
            "a series has 1 to {MAX_OCCURRENCES} occurrences"
        )));
    }
    Ok(n)
}

/// The live occurrences of a series starting at or after `from`, by date: what
/// "cancel the rest" cancels.
fn cancellable_rest(conn: &Conn, series_id: i64, from: i64) -> Result<Vec<Appointment>> {
    let mut rest = Vec::new();
    for id in series::members_from(conn, series_id, from)? {
        let a = appointments::get(conn, id)?.ok_or(Error::NotFound("appointment"))?;
        if a.status.can_become(AppointmentStatus::Cancelled) {
            rest.push(a);
        }
    }
    Ok(rest)
}

/// The `Conflict` for an occurrence that changed since the caller saw the series.
fn changed_meanwhile(current: &Appointment, tz: chrono_tz::Tz) -> Error {
    Error::Conflict {
        what: "an appointment of this series",
        changed_by: current.updated_by.clone(),
        changed_at: current.updated_at,
        current: format!(
            "{} on {}; nothing was cancelled",
            current.status,
            format_local(current.start_at, tz)
        ),
    }
}

/// Why an occurrence's slot cannot be booked, if it cannot.
fn unavailable(conn: &Conn, slot: &Slot, now: i64) -> Result<Option<String>> {
    match bookable_slot(conn, slot.id, now) {
        Err(Error::Invalid(why)) => return Ok(Some(why)),
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    Ok(slots::is_taken(conn, slot.id)?.then(|| "the slot is already booked".to_string()))
}

impl Frontdesk {
    /// Books a patient into the first slot and the same doctor's slots at the same
    /// clinic-local time and length every `every_weeks` weeks after it, in one
    /// transaction. All or nothing: the first occurrence that cannot be booked is
    /// named in an `Invalid` error and nothing is booked. Book what is free: the free
    /// occurrences are booked and the others listed with the reason.
    pub fn book_series(&self, actor: &Actor, req: &SeriesRequest) -> Result<SeriesBooking> {
        actor.require(Action::Book)?;
        if !(1..=52).contains(&req.every_weeks) {
            return Err(Error::invalid("a series repeats every 1 to 52 weeks"));
        }
        let reason = optional_text("the reason", &req.reason, 500)?;
        let now = self.now();
        let label = actor.label();
        self.in_write("series.book", |tx| {
            let tz = ClinicSettings::load(tx)?.tz();
            let first = slots::get(tx, req.first_slot_id)?.ok_or(Error::NotFound("slot"))?;
            patients::get(tx, req.patient_id)?.ok_or(Error::NotFound("patient"))?;
            let local = chrono::DateTime::from_timestamp(first.start_at, 0).unwrap_or_default().with_timezone(&tz).naive_local();
            let count = occurrence_count(req, local.date())?;
            let length = first.end_at - first.start_at;
            let mut free = Vec::new();
            let mut skipped = Vec::new();
            for k in 0..count {
                let wall = local + Duration::weeks(i64::from(k) * i64::from(req.every_weeks));
                let when = wall.format("%Y-%m-%d %H:%M").to_string();
                let slot = if k == 0 {
                    Some(first.clone())
                } else {
                    match tz.from_local_datetime(&wall).earliest() {
                        Some(at) => series::slot_at(tx, first.doctor_id, at.timestamp(), length)?,
                        None => {
                            skipped.push(SkippedOccurrence { when, reason: "that time does not exist that day (clocks go forward)".into() });
                            continue;
                        }
                    }
                };
                let why = match &slot {
                    None => Some("the doctor has no slot at that time".to_string()),
                    Some(s) => unavailable(tx, s, now)?,
                };
                match (why, slot) {
                    (Some(reason), _) => skipped.push(SkippedOccurrence { when, reason }),
                    (None, Some(s)) => free.push(s),
                    (None, None) => unreachable!("a missing slot always has a reason"),
                }
            }
            if let Some(first_gap) = skipped.first() {
                if req.mode == SeriesMode::AllOrNothing {
                    return Err(Error::invalid(format!(
                        "{}: {}; nothing was booked (book what is free instead, or pick another time)",
                        first_gap.when, first_gap.reason
                    )));
                }
            }
            if free.is_empty() {
                return Err(Error::invalid("none of the occurrences can be booked; nothing was booked"));
            }
            let series_id = series::insert(tx, req.patient_id, first.doctor_id, req.every_weeks, &label, now)?;
            let mut booked = Vec::with_capacity(free.len());
            for s in &free {
                let new = NewAppointment {
                    slot_id: s.id,
                    doctor_id: s.doctor_id,
                    patient_id: req.patient_id,
                    reason: &reason,
                    overbooked: false,
                    actor: &label,
                    now,
                };
                let id = insert_appointment(tx, &new)?;
                series::set_series(tx, id, series_id)?;
                audit(tx, now, actor, "appointment.book", "appointment", Some(id), &format!("slot {}, series {series_id}", s.id))?;
                booked.push(appointments::get(tx, id)?.ok_or(Error::NotFound("appointment"))?);
            }
            let detail = format!("every {} weeks: {} booked, {} skipped", req.every_weeks, booked.len(), skipped.len());
            audit(tx, now, actor, "series.book", "series", Some(series_id), &detail)?;
            Ok(SeriesBooking { series_id, booked, skipped })
        })
    }

    /// The appointments "cancel the rest of the series" would cancel from this one
    /// on: the live occurrences of its series starting at or after it, by date,
    /// with their versions (empty when it is not part of a series).
    pub fn series_rest(&self, actor: &Actor, appointment_id: i64) -> Result<Vec<Appointment>> {
        actor.require(Action::ViewSchedule)?;
        self.in_read(|c| {
            let from =
                appointments::get(c, appointment_id)?.ok_or(Error::NotFound("appointment"))?;
            match series::series_of(c, appointment_id)? {
                Some(series_id) => cancellable_rest(c, series_id, from.start_at),
                None => Ok(Vec::new()),
            }
        })
    }

    /// Cancels this appointment and every later live appointment of its series in
    /// one transaction; earlier occurrences are untouched. Each cancellation gets its
    /// history entry and audit row. Returns the cancelled appointments.
    ///
    /// `seen` is what the caller saw of the rest (see [`Frontdesk::series_rest`]):
    /// every occurrence to be cancelled must be in it at its current version. If
    /// another desk confirmed, moved, cancelled or otherwise changed one since, or
    /// one the caller did not see is now part of the rest, nothing is cancelled and
    /// the answer is `Conflict` naming it.
    pub fn cancel_series_rest(
        &self,
        actor: &Actor,
        appointment_id: i64,
        seen: &[SeenAppointment],
        reason: &str,
    ) -> Result<Vec<Appointment>> {
        actor.require(Action::Cancel)?;
        let reason = required_text("the reason for the cancellation", reason, 500)?;
        let seen: HashMap<i64, i64> = seen.iter().map(|s| (s.id, s.version)).collect();
        let now = self.now();
        let label = actor.label();
        self.in_write("series.cancel_rest", |tx| {
            let from =
                appointments::get(tx, appointment_id)?.ok_or(Error::NotFound("appointment"))?;
            let series_id = series::series_of(tx, appointment_id)?
                .ok_or_else(|| Error::invalid("this appointment is not part of a series"))?;
            let tz = ClinicSettings::load(tx)?.tz();
            let rest = cancellable_rest(tx, series_id, from.start_at)?;
            if rest.is_empty() {
                return Err(Error::invalid(
                    "nothing is left to cancel in this series from that appointment on",
                ));
            }
            if seen.is_empty() {
                return Err(Error::invalid(
                    "name the appointments of the series you mean to cancel, with the versions you saw",
                ));
            }
            // the caller saw every occurrence it is about to cancel, as it is now…
            if let Some(changed) = rest.iter().find(|a| seen.get(&a.id) != Some(&a.version)) {
                return Err(changed_meanwhile(changed, tz));
            }
            // …and nothing it saw has changed since (cancelled, completed or moved
            // before this one by another desk)
            for (&id, &version) in &seen {
                if rest.iter().any(|a| a.id == id) {
                    continue;
                }
                let Some(cur) = appointments::get(tx, id)? else {
                    return Err(Error::NotFound("appointment"));
                };
                if series::series_of(tx, id)? != Some(series_id) {
                    return Err(Error::invalid(format!(
                        "appointment #{id} is not part of this series"
                    )));
                }
                if cur.version != version {
                    return Err(changed_meanwhile(&cur, tz));
                }
            }
            let mut cancelled = Vec::with_capacity(rest.len());
            for cur in rest {
                let id = cur.id;
                if !appointments::set_status(
                    tx,
                    id,
                    cur.version,
                    AppointmentStatus::Cancelled,
                    Some(&reason),
                    &label,
                    now,
                )? {
                    return Err(changed_meanwhile(&cur, tz));
                }
                crate::service::payments::settle_closing(
                    tx,
                    actor,
                    &cur,
                    AppointmentStatus::Cancelled,
                    now,
                )?;
                appointments::add_history(
                    tx,
                    id,
                    Some(cur.status),
                    AppointmentStatus::Cancelled,
                    None,
                    None,
                    &reason,
                    &label,
                    now,
                )?;
                let detail = format!("{} -> CANCELLED (rest of series {series_id})", cur.status);
                audit(
                    tx,
                    now,
                    actor,
                    "appointment.status",
                    "appointment",
                    Some(id),
                    &detail,
                )?;
                cancelled.push(appointments::get(tx, id)?.ok_or(Error::NotFound("appointment"))?);
            }
            Ok(cancelled)
        })
    }

    /// The series an appointment belongs to, if any.
    pub fn appointment_series_id(&self, actor: &Actor, appointment_id: i64) -> Result<Option<i64>> {
        actor.require(Action::ViewSchedule)?;
        self.in_read(|c| Ok(series::series_of(c, appointment_id)?))
    }

    /// Every appointment of a series, by date.
    pub fn list_series(&self, actor: &Actor, series_id: i64) -> Result<Vec<Appointment>> {
        actor.require(Action::ViewSchedule)?;
        self.in_read(|c| {
            let ids = series::members_from(c, series_id, i64::MIN)?;
            if ids.is_empty() {
                return Err(Error::NotFound("series"));
            }
            ids.into_iter()
                .map(|id| appointments::get(c, id)?.ok_or(Error::NotFound("appointment")))
                .collect()
        })
    }
}
