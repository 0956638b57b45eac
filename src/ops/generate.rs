//! Slot generation from templates minus time off: planned in Rust before the
//! transaction, applied in one write transaction, idempotently; or previewed.

use std::collections::HashSet;

use chrono::NaiveDate;

use crate::auth::{Action, Actor};
use crate::clinic::{day_bounds, ClinicSettings};
use crate::error::{Error, Result};
use crate::ops::audit;
use crate::planner::{plan_slots, reconcile, ExistingSlot, PlannedSlot, Reconciliation};
use crate::scheduling::{GenerationReport, SlotChange};
use crate::store::{doctors, generated, templates};
use crate::Frontdesk;

/// Longest range one generation covers.
const MAX_DAYS: i64 = 732;

/// What planning read, and what it planned.
struct Planned {
    fingerprint: String,
    doctors: HashSet<i64>,
    window: (i64, i64),
    slots: Vec<PlannedSlot>,
}

fn change(s: &ExistingSlot) -> SlotChange {
    SlotChange {
        slot_id: Some(s.id),
        doctor_id: s.doctor_id,
        start_at: s.start_at,
        end_at: s.end_at,
        conflicts_with: None,
    }
}

fn planned_change(
    p: &PlannedSlot,
    slot_id: Option<i64>,
    conflicts_with: Option<i64>,
) -> SlotChange {
    SlotChange {
        slot_id,
        doctor_id: p.doctor_id,
        start_at: p.start_at,
        end_at: p.end_at,
        conflicts_with,
    }
}

fn report(
    r: &Reconciliation,
    from: NaiveDate,
    to: NaiveDate,
    dry_run: bool,
    created_ids: &[i64],
) -> GenerationReport {
    GenerationReport {
        dry_run,
        from_date: from.to_string(),
        to_date: to.to_string(),
        created: r
            .create
            .iter()
            .enumerate()
            .map(|(i, p)| planned_change(p, created_ids.get(i).copied(), None))
            .collect(),
        removed: r.remove.iter().map(change).collect(),
        retired: r.retire.iter().map(change).collect(),
        kept_booked: r.kept_booked.iter().map(change).collect(),
        skipped_overlaps: r
            .skipped_overlaps
            .iter()
            .map(|(p, id)| planned_change(p, None, Some(*id)))
            .collect(),
        unchanged: r.unchanged as u64,
    }
}

impl Frontdesk {
    /// Reads the templates, time off and time zone and plans the wanted slots.
    fn plan(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        doctor_id: Option<i64>,
        now: i64,
    ) -> Result<Planned> {
        let (fingerprint, tz, specs, active, time_off) = self.read(|c| {
            if let Some(d) = doctor_id {
                let doctor = doctors::get(c, d)?.ok_or(Error::NotFound("doctor"))?;
                if !doctor.active {
                    return Err(Error::invalid(
                        "this doctor is inactive; slots are generated only for active doctors",
                    ));
                }
            }
            let active: HashSet<i64> = doctors::list(c, false)?
                .into_iter()
                .map(|d| d.id)
                .filter(|id| doctor_id.is_none_or(|d| d == *id))
                .collect();
            Ok((
                templates::planning_fingerprint(c)?,
                ClinicSettings::load(c)?.tz(),
                templates::specs(c, doctor_id)?,
                active,
                templates::time_off_specs(c, &from.to_string(), &to.to_string())?,
            ))
        })?;
        let specs: Vec<_> = specs
            .into_iter()
            .filter(|t| active.contains(&t.doctor_id))
            .collect();
        let slots = plan_slots(&specs, &time_off, from, to, tz, now);
        Ok(Planned {
            fingerprint,
            doctors: active,
            window: (day_bounds(from, tz).0, day_bounds(to, tz).1),
            slots,
        })
    }

    /// Generates the slots the weekly templates call for on the clinic-local days
    /// `from..=to` (for one doctor or every active doctor), minus time off, never in
    /// the past. Idempotent: slots that exist are left alone, so running it twice
    /// creates nothing new. A planned slot that overlaps an existing one is skipped
    /// and reported. Free future slots that a template generated and that no template
    /// calls for any more are removed (or blocked, when cancelled appointments refer
    /// to them); booked ones are never touched, only reported. With `dry_run` nothing
    /// changes: the report previews what would happen.
    pub fn generate_slots(
        &self,
        actor: &Actor,
        from: NaiveDate,
        to: NaiveDate,
        doctor_id: Option<i64>,
        dry_run: bool,
    ) -> Result<GenerationReport> {
        actor.require(Action::ManageSchedule)?;
        if to < from {
            return Err(Error::invalid("the last day must not be before the first"));
        }
        if (to - from).num_days() >= MAX_DAYS {
            return Err(Error::invalid("generate at most two years at a time"));
        }
        let now = self.now();
        // the plan is made outside the lock; if the templates changed before the lock
        // was taken, plan again (templates rarely change, so this rarely loops)
        for _ in 0..3 {
            let plan = self.plan(from, to, doctor_id, now)?;
            let load = |c: &rusqlite::Connection| -> Result<Reconciliation> {
                let existing = generated::existing(
                    c,
                    plan.window.0 - 86_400,
                    plan.window.1 + 86_400,
                    doctor_id,
                )?;
                Ok(reconcile(
                    &plan.slots,
                    &existing,
                    &plan.doctors,
                    plan.window,
                    now,
                ))
            };
            if dry_run {
                return self.read(|c| Ok(report(&load(c)?, from, to, true, &[])));
            }
            let done = self.write("slots.generate", |tx| {
                if templates::planning_fingerprint(tx)? != plan.fingerprint {
                    return Ok(None);
                }
                let r = load(tx)?;
                for s in &r.remove {
                    generated::delete_unreferenced(tx, s.id)?;
                }
                for s in &r.retire {
                    generated::block_if_free(tx, s.id)?;
                }
                let mut ids = Vec::with_capacity(r.create.len());
                for p in &r.create {
                    ids.push(generated::insert(tx, p, now)?);
                }
                let detail = format!(
                    "{from}..{to} doctor {}: created {}, removed {}, retired {}, kept booked {}, skipped {}",
                    doctor_id.map_or("all".to_string(), |d| d.to_string()),
                    r.create.len(),
                    r.remove.len(),
                    r.retire.len(),
                    r.kept_booked.len(),
                    r.skipped_overlaps.len()
                );
                audit(tx, now, actor, "slots.generate", "slot", None, &detail)?;
                Ok(Some(report(&r, from, to, false, &ids)))
            })?;
            if let Some(report) = done {
                return Ok(report);
            }
        }
        Err(Error::invalid(
            "the templates kept changing while slots were generated; try again",
        ))
    }
}
