//! Slot generation from templates minus time off, or its preview.
//!
//! **In parts.** A year for 20 doctors is ~80,000 slots: one transaction would hold
//! the write lock for seconds. So the templates, time off and the slots of the range
//! are read on a read snapshot (no lock), the whole range is planned and reconciled
//! there, and the range is cut into parts of at most [`PART_WRITES`] inserts,
//! removals and blocks (and [`PART_ROWS`] slots to look at). Each part is then its
//! own short write transaction through [`Frontdesk::write`], which
//! - checks that the templates, time off, time zone and active doctors are still
//!   what was planned from (else the whole range is planned again);
//! - reads the slots around the part *inside* the transaction and reconciles them
//!   again ([`reconcile_part`]), so it never removes a slot a desk booked meanwhile
//!   or a slot added by hand, never inserts an overlapping slot, and never undoes
//!   what another desk did;
//! - writes its changes and one audit row (`slots.generate.part`, when it changed
//!   anything); the last part also writes the run's summary row (`slots.generate`).
//!
//! Desks' transactions queue between the parts, so no desk waits behind more than
//! one part. Run in order, the parts end exactly where one reconciliation of the
//! whole range ends (a property test in the planner checks it). A run stopped
//! midway (a crash, a killed process) leaves whole parts done and the rest undone;
//! running it again finishes it, since a done part has nothing left to do.
//!
//! **Preview token.** A preview returns [`GenerationReport::preview_token`], a
//! SHA-256 over what the plan depends on and what it would do: the range, the
//! templates with their breaks, the time off, the time zone, the active doctors, and
//! every slot the run would create, remove, block, keep booked, skip or leave
//! unchanged (with ids, times and template; with the booked state too for the slots
//! it would remove, block or keep). Applying with
//! [`Frontdesk::generate_slots_as_previewed`] recomputes it and refuses with a
//! conflict if it differs, so what is applied is what was previewed. A booking of a
//! slot the plan leaves alone does not invalidate a preview; a booking of a slot it
//! would remove does (the slot would now be kept instead).

use std::collections::{BTreeSet, HashSet};

use crate::storage::Conn as Connection;
use chrono::NaiveDate;
use chrono_tz::Tz;
use sha2::{Digest, Sha256};

use crate::domain::auth::{Action, Actor};
use crate::domain::clinic::{day_bounds, ClinicSettings};
use crate::domain::planner::{
    plan_slots, reconcile, reconcile_part, ExistingSlot, PlannedSlot, Reconciliation, TemplateSpec,
    TimeOffSpec,
};
use crate::domain::progress::{self, Phase, Progress};
use crate::domain::scheduling::{GenerationReport, SlotChange};
use crate::error::{Error, Result};
use crate::service::audit;
use crate::storage::{audit as audit_log, doctors, generated, templates};
use crate::Frontdesk;

/// Longest range one generation covers.
const MAX_DAYS: i64 = 732;
/// Most inserts, removals and blocks in one part's transaction (a few ms of lock).
pub const PART_WRITES: usize = 400;
/// Most slots (planned and existing) one part looks at.
const PART_ROWS: usize = 4000;
/// Slots are at most a day long (a CHECK on the table), so every slot that can
/// overlap a part starts within a day of it.
const DAY: i64 = 86_400;
/// Plans made again when the templates change during a run, before giving up.
const ATTEMPTS: usize = 3;

/// Everything planning reads.
#[derive(Debug, PartialEq)]
struct Inputs {
    time_zone: String,
    doctors: BTreeSet<i64>,
    templates: Vec<TemplateSpec>,
    time_off: Vec<TimeOffSpec>,
}

/// Reads the templates, time off, time zone and active doctors of a range.
fn read_inputs(
    c: &Connection,
    from: NaiveDate,
    to: NaiveDate,
    doctor_id: Option<i64>,
) -> Result<Inputs> {
    if let Some(d) = doctor_id {
        let doctor = doctors::get(c, d)?.ok_or(Error::NotFound("doctor"))?;
        if !doctor.active {
            return Err(Error::invalid(
                "this doctor is inactive; slots are generated only for active doctors",
            ));
        }
    }
    let doctors: BTreeSet<i64> = doctors::list(c, false)?
        .into_iter()
        .map(|d| d.id)
        .filter(|id| doctor_id.is_none_or(|d| d == *id))
        .collect();
    Ok(Inputs {
        time_zone: ClinicSettings::load(c)?.tz().name().to_string(),
        templates: templates::specs(c, doctor_id)?
            .into_iter()
            .filter(|t| doctors.contains(&t.doctor_id))
            .collect(),
        time_off: templates::time_off_specs(c, &from.to_string(), &to.to_string())?,
        doctors,
    })
}

/// The whole range planned and reconciled on one read snapshot.
struct Plan {
    inputs: Inputs,
    doctors: HashSet<i64>,
    window: (i64, i64),
    /// The planned slots, by start.
    slots: Vec<PlannedSlot>,
    /// What the whole run would do, sorted.
    whole: Reconciliation,
    /// The parts `[lo, hi)` (by slot start) covering the window, in order.
    parts: Vec<(i64, i64)>,
    token: String,
}

impl Plan {
    /// The planned slots starting in `[lo, hi)`.
    fn slots_starting(&self, lo: i64, hi: i64) -> &[PlannedSlot] {
        let a = self.slots.partition_point(|p| p.start_at < lo);
        let b = self.slots.partition_point(|p| p.start_at < hi);
        &self.slots[a..b]
    }
}

/// How a run goes.
#[derive(Debug, Clone, Copy)]
enum Mode<'a> {
    Preview,
    Apply { expected: Option<&'a str> },
}

/// Test hook: how big the parts are and what happens between them.
#[doc(hidden)]
pub struct GenerationSteps<'a> {
    /// Most inserts, removals and blocks per part.
    pub writes_per_part: usize,
    /// Called after each committed part with (parts done, parts in all); returning
    /// `false` stops the run there, as a crash between two parts would.
    pub between_parts: &'a mut dyn FnMut(usize, usize) -> bool,
}

/// Hashes what the plan depends on and what it would do (see the module notes).
fn token(
    from: NaiveDate,
    to: NaiveDate,
    doctor_id: Option<i64>,
    inputs: &Inputs,
    r: &Reconciliation,
) -> String {
    let mut h = Sha256::new();
    let mut feed = |s: String| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    feed(format!("slots.generate v1 {from} {to} {doctor_id:?}"));
    feed(format!("{inputs:?}"));
    for p in &r.create {
        feed(format!("create {p:?}"));
    }
    // the booked state matters for the slots the run would touch or keep
    for (name, list) in [
        ("remove", &r.remove),
        ("retire", &r.retire),
        ("kept", &r.kept_booked),
    ] {
        for s in list {
            feed(format!("{name} {s:?}"));
        }
    }
    // not for those it leaves as they are: a desk booking one changes nothing shown
    for s in &r.unchanged {
        feed(format!(
            "unchanged {} {} {} {} {:?}",
            s.id, s.doctor_id, s.start_at, s.end_at, s.template_id
        ));
    }
    for (p, id) in &r.skipped_overlaps {
        feed(format!("skip {p:?} {id}"));
    }
    hex::encode(h.finalize())
}

/// Cuts the window into parts of at most `max_writes` changes and [`PART_ROWS`]
/// slots looked at. A part ends only at an instant that no slot, planned or
/// existing, spans: then a slot one part creates never overlaps a slot a later part
/// removes (the overlap trigger would refuse it), and each part's work is its own.
/// Such instants exist at least every night; a part grows until the next one.
fn cut_parts(
    window: (i64, i64),
    planned: &[PlannedSlot],
    existing: &[ExistingSlot],
    whole: &Reconciliation,
    max_writes: usize,
) -> Vec<(i64, i64)> {
    // (start, writes, rows)
    let mut events: Vec<(i64, usize, usize)> =
        Vec::with_capacity(planned.len() + existing.len() + whole.writes());
    events.extend(planned.iter().map(|p| (p.start_at, 0, 1)));
    events.extend(
        existing
            .iter()
            .filter(|s| window.0 <= s.start_at && s.start_at < window.1)
            .map(|s| (s.start_at, 0, 1)),
    );
    events.extend(whole.create.iter().map(|p| (p.start_at, 1, 0)));
    events.extend(
        whole
            .remove
            .iter()
            .chain(&whole.retire)
            .map(|s| (s.start_at, 1, 0)),
    );
    events.sort_unstable();
    let mut spans: Vec<(i64, i64)> = planned
        .iter()
        .map(|p| (p.start_at, p.end_at))
        .chain(existing.iter().map(|s| (s.start_at, s.end_at)))
        .collect();
    spans.sort_unstable();
    let (mut next_span, mut reach) = (0, i64::MIN);
    let mut parts = Vec::new();
    let (mut lo, mut writes, mut rows) = (window.0, 0, 0);
    let mut i = 0;
    while i < events.len() {
        let start = events[i].0;
        let (mut w, mut r) = (0, 0);
        while i < events.len() && events[i].0 == start {
            w += events[i].1;
            r += events[i].2;
            i += 1;
        }
        // the latest end of the slots starting before this instant
        while next_span < spans.len() && spans[next_span].0 < start {
            reach = reach.max(spans[next_span].1);
            next_span += 1;
        }
        let spanned = reach > start;
        let full = writes + w > max_writes || rows + r > PART_ROWS;
        if writes + rows > 0 && start > lo && !spanned && full {
            parts.push((lo, start));
            (lo, writes, rows) = (start, 0, 0);
        }
        writes += w;
        rows += r;
    }
    parts.push((lo, window.1));
    parts
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

/// The report of a reconciliation (`created_ids` in the order of `r.create`).
fn report(
    r: &Reconciliation,
    from: NaiveDate,
    to: NaiveDate,
    dry_run: bool,
    created_ids: &[i64],
    preview_token: &str,
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
        unchanged: r.unchanged.len() as u64,
        preview_token: preview_token.to_string(),
    }
}

/// How many slots a run (or a part) created, removed, blocked, kept and skipped.
#[derive(Debug, Clone, Copy, Default)]
struct Tally([usize; 5]);

impl Tally {
    fn of(r: &Reconciliation) -> Tally {
        Tally([
            r.create.len(),
            r.remove.len(),
            r.retire.len(),
            r.kept_booked.len(),
            r.skipped_overlaps.len(),
        ])
    }

    fn plus(self, o: Tally) -> Tally {
        let mut t = self;
        for (a, b) in t.0.iter_mut().zip(o.0) {
            *a += b;
        }
        t
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [c, r, b, k, s] = self.0;
        write!(
            f,
            "created {c}, removed {r}, retired {b}, kept booked {k}, skipped {s}"
        )
    }
}

/// Who last changed anything generation depends on, and when (for a stale preview).
fn last_schedule_change(c: &Connection) -> Result<(String, i64)> {
    const ENTITIES: [&str; 7] = [
        "template",
        "time_off",
        "slot",
        "appointment",
        "doctor",
        "setting",
        "series",
    ];
    Ok(audit_log::last_change_of(c, &ENTITIES)?.unwrap_or_else(|| ("another desk".into(), 0)))
}

/// How one attempt ended.
enum Outcome {
    Done(GenerationReport),
    /// The templates (or time off, time zone, doctors) changed after `0` parts.
    InputsChanged(usize),
}

impl Frontdesk {
    /// Reads everything on one read snapshot and plans the whole range.
    fn plan_generation(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        doctor_id: Option<i64>,
        now: i64,
        max_writes: usize,
    ) -> Result<Plan> {
        let (inputs, existing, tz) = self.in_read(|c| {
            let read = |snapshot: &Connection| -> Result<_> {
                let inputs = read_inputs(snapshot, from, to, doctor_id)?;
                let tz: Tz = inputs
                    .time_zone
                    .parse()
                    .map_err(|_| Error::Internal("the clinic time zone did not parse".into()))?;
                let window = (day_bounds(from, tz).0, day_bounds(to, tz).1);
                let existing =
                    generated::existing(snapshot, window.0 - DAY, window.1 + DAY, doctor_id)?;
                Ok((inputs, existing, tz))
            };
            match c {
                // one snapshot for the inputs and the slots (rolled back on drop: reads only)
                Connection::Lite(file) => {
                    let snapshot = file.unchecked_transaction()?;
                    read(&Connection::Lite(&snapshot))
                }
                // the server's read is one read-only SERIALIZABLE transaction already
                Connection::Server(_) => read(c),
            }
        })?;
        let window = (day_bounds(from, tz).0, day_bounds(to, tz).1);
        let mut slots = plan_slots(&inputs.templates, &inputs.time_off, from, to, tz, now);
        let doctors: HashSet<i64> = inputs.doctors.iter().copied().collect();
        let mut whole = reconcile(&slots, &existing, &doctors, window, now);
        whole.sort();
        slots.sort_by_key(|p| (p.start_at, p.doctor_id));
        let parts = cut_parts(window, &slots, &existing, &whole, max_writes.max(1));
        let token = token(from, to, doctor_id, &inputs, &whole);
        Ok(Plan {
            inputs,
            doctors,
            window,
            slots,
            whole,
            parts,
            token,
        })
    }

    /// Generates the slots the weekly templates call for on the clinic-local days
    /// `from..=to` (for one doctor or every active doctor), minus time off, never in
    /// the past. Idempotent: slots that exist are left alone, so running it twice
    /// creates nothing new. A planned slot that overlaps an existing one is skipped
    /// and reported. Free future slots that a template generated and that no template
    /// calls for any more are removed (or blocked, when cancelled appointments refer
    /// to them); booked ones are never touched, only reported. With `dry_run` nothing
    /// changes: the report previews what would happen, with a
    /// [`preview_token`](GenerationReport::preview_token) to apply exactly that with
    /// [`generate_slots_as_previewed`](Self::generate_slots_as_previewed).
    ///
    /// Runs as short transactions of at most [`PART_WRITES`] changes each (see the
    /// module notes): desks book between them; the result is the one a single
    /// transaction would give; a run stopped midway is finished by running it again.
    pub fn generate_slots(
        &self,
        actor: &Actor,
        from: NaiveDate,
        to: NaiveDate,
        doctor_id: Option<i64>,
        dry_run: bool,
    ) -> Result<GenerationReport> {
        let mode = if dry_run {
            Mode::Preview
        } else {
            Mode::Apply { expected: None }
        };
        self.generate(
            actor,
            (from, to, doctor_id),
            mode,
            None,
            &mut progress::ignore,
        )
    }

    /// Applies a preview made by [`generate_slots`](Self::generate_slots) with
    /// `dry_run`: refused as a conflict ("the schedule was changed … meanwhile") if
    /// anything the preview showed or depended on has changed since — templates, time
    /// off, the time zone, active doctors, or any slot it would create, remove, block,
    /// keep or skip. If the templates change while the parts are being applied, the
    /// run stops there (the parts done are whole and consistent) and is refused the
    /// same way: preview again and apply to finish.
    pub fn generate_slots_as_previewed(
        &self,
        actor: &Actor,
        from: NaiveDate,
        to: NaiveDate,
        doctor_id: Option<i64>,
        preview_token: &str,
    ) -> Result<GenerationReport> {
        self.generate_slots_with(
            actor,
            from,
            to,
            doctor_id,
            Some(preview_token),
            &mut progress::ignore,
        )
    }

    /// Generates slots as [`generate_slots`](Self::generate_slots) does (or, with a
    /// `preview_token`, as [`generate_slots_as_previewed`](Self::generate_slots_as_previewed)
    /// does), reporting to `progress`: [`Phase::PlanningSlots`] while it plans (again
    /// if the templates change midway and it plans anew), then
    /// [`Phase::WritingSlots`] with the parts written of all parts.
    pub fn generate_slots_with(
        &self,
        actor: &Actor,
        from: NaiveDate,
        to: NaiveDate,
        doctor_id: Option<i64>,
        preview_token: Option<&str>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<GenerationReport> {
        let mode = Mode::Apply {
            expected: preview_token,
        };
        self.generate(actor, (from, to, doctor_id), mode, None, progress)
    }

    /// Test hook: [`generate_slots`](Self::generate_slots) with small parts and a
    /// callback between them (to book at another desk, or to stop as a crash would).
    /// A stopped run returns `Error::Internal`.
    #[doc(hidden)]
    pub fn generate_slots_in_steps(
        &self,
        actor: &Actor,
        from: NaiveDate,
        to: NaiveDate,
        doctor_id: Option<i64>,
        steps: GenerationSteps<'_>,
    ) -> Result<GenerationReport> {
        let mode = Mode::Apply { expected: None };
        let ignore = &mut progress::ignore;
        self.generate(actor, (from, to, doctor_id), mode, Some(steps), ignore)
    }

    fn generate(
        &self,
        actor: &Actor,
        (from, to, doctor_id): (NaiveDate, NaiveDate, Option<i64>),
        mode: Mode<'_>,
        mut steps: Option<GenerationSteps<'_>>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<GenerationReport> {
        actor.require(Action::ManageSchedule)?;
        if to < from {
            return Err(Error::invalid("the last day must not be before the first"));
        }
        if (to - from).num_days() >= MAX_DAYS {
            return Err(Error::invalid("generate at most two years at a time"));
        }
        let now = self.now();
        let max_writes = steps.as_ref().map_or(PART_WRITES, |s| s.writes_per_part);
        for _ in 0..ATTEMPTS {
            progress(Progress::phase(Phase::PlanningSlots));
            let plan = self.plan_generation(from, to, doctor_id, now, max_writes)?;
            let expected = match mode {
                Mode::Preview => {
                    return Ok(report(&plan.whole, from, to, true, &[], &plan.token));
                }
                Mode::Apply { expected } => expected,
            };
            if expected.is_some_and(|t| t != plan.token) {
                let (changed_by, changed_at) = self.in_read(last_schedule_change)?;
                return Err(Error::Conflict {
                    what: "the schedule",
                    changed_by,
                    changed_at,
                    current: format!("a new preview would show: {}", Tally::of(&plan.whole)),
                });
            }
            let scope = (from, to, doctor_id);
            match self.apply_parts(actor, &plan, scope, now, steps.as_mut(), progress)? {
                Outcome::Done(report) => return Ok(report),
                Outcome::InputsChanged(done) if expected.is_some() => {
                    let (changed_by, changed_at) = self.in_read(last_schedule_change)?;
                    return Err(Error::Conflict {
                        what: "the schedule",
                        changed_by,
                        changed_at,
                        current: format!(
                            "{done} of {} parts were generated; preview again to finish",
                            plan.parts.len()
                        ),
                    });
                }
                // plan again from the new templates; the parts done are redone or
                // undone as the new plan says (generation is idempotent)
                Outcome::InputsChanged(_) => {}
            }
        }
        Err(Error::invalid(
            "the templates kept changing while slots were generated; try again",
        ))
    }

    /// Applies the plan part by part, each part its own write transaction.
    fn apply_parts(
        &self,
        actor: &Actor,
        plan: &Plan,
        (from, to, doctor_id): (NaiveDate, NaiveDate, Option<i64>),
        now: i64,
        mut steps: Option<&mut GenerationSteps<'_>>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Outcome> {
        let n = plan.parts.len();
        progress(Progress::of(Phase::WritingSlots, 0, n as u64));
        let scope = format!(
            "{from}..{to} doctor {}",
            doctor_id.map_or("all".to_string(), |d| d.to_string())
        );
        let mut done = Reconciliation::default();
        let mut tally = Tally::default();
        let mut ids: Vec<i64> = Vec::with_capacity(plan.whole.create.len());
        for (i, &(lo, hi)) in plan.parts.iter().enumerate() {
            let last = i + 1 == n;
            let step = self.in_write("slots.generate", |tx| {
                if read_inputs(tx, from, to, doctor_id)? != plan.inputs {
                    return Ok(None);
                }
                let existing = generated::existing(tx, lo - DAY, hi + DAY, doctor_id)?;
                let r = reconcile_part(
                    plan.slots_starting(lo - DAY, hi + DAY),
                    &existing,
                    &plan.doctors,
                    plan.window,
                    (lo, hi),
                    now,
                );
                for s in &r.remove {
                    generated::delete_unreferenced(tx, s.id)?;
                }
                for s in &r.retire {
                    generated::block_if_free(tx, s.id)?;
                }
                let mut created = Vec::with_capacity(r.create.len());
                for p in &r.create {
                    created.push(generated::insert(tx, p, now)?);
                }
                if r.writes() > 0 {
                    let detail = format!("{scope}, part {} of {n}: {}", i + 1, Tally::of(&r));
                    audit(tx, now, actor, "slots.generate.part", "slot", None, &detail)?;
                }
                if last {
                    let total = tally.plus(Tally::of(&r));
                    let detail = format!("{scope} in {n} parts: {total}");
                    audit(tx, now, actor, "slots.generate", "slot", None, &detail)?;
                }
                Ok(Some((r, created)))
            })?;
            let Some((r, created)) = step else {
                return Ok(Outcome::InputsChanged(i));
            };
            progress(Progress::of(Phase::WritingSlots, i as u64 + 1, n as u64));
            tally = tally.plus(Tally::of(&r));
            done.extend(r);
            ids.extend(created);
            if let Some(steps) = steps.as_deref_mut() {
                if !last && !(steps.between_parts)(i + 1, n) {
                    return Err(Error::Internal(format!(
                        "slot generation stopped after {} of {n} parts",
                        i + 1
                    )));
                }
            }
        }
        // report in the one order previews use; created ids follow their slots
        let mut created: Vec<(PlannedSlot, i64)> = done.create.iter().copied().zip(ids).collect();
        created.sort_by_key(|(p, _)| (p.doctor_id, p.start_at, p.end_at, p.template_id));
        done.sort();
        let ids: Vec<i64> = created.into_iter().map(|(_, id)| id).collect();
        Ok(Outcome::Done(report(
            &done,
            from,
            to,
            false,
            &ids,
            &plan.token,
        )))
    }
}
