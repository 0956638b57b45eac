//! The slot planner: which slots a clinic's weekly templates and time off call for
//! in a date range, and how that differs from the slots that exist. Pure Rust, no
//! database: the generation operation plans and reconciles the whole range on a read
//! snapshot (for the preview and to cut the work into parts), then reconciles each
//! part again inside that part's own short write transaction
//! ([`reconcile_part`]), and a second storage backend can reuse it unchanged.
//!
//! Daylight saving: templates are clinic-local wall-clock times, turned into UTC
//! with `chrono-tz`. A slot whose start does not exist that day (clocks go forward)
//! is not planned; a start that exists twice (clocks go back) takes the earlier
//! instant, so the repeated hour never yields a second slot; a slot keeps its exact
//! length, and one with a clock change strictly inside it is not planned (its
//! wall-clock length would be wrong).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Offset, TimeZone};
use chrono_tz::Tz;

use crate::domain::model::SlotMode;

/// Minutes after local midnight, `0..=1440` (1440 is the midnight ending the day).
pub type Minute = u16;

/// A weekly template as the planner needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSpec {
    /// Template id (stored on the slots it generates).
    pub id: i64,
    /// Whose week.
    pub doctor_id: i64,
    /// ISO weekday, 1 = Monday … 7 = Sunday.
    pub weekday: u8,
    /// First slot starts here.
    pub start: Minute,
    /// No slot ends after this.
    pub end: Minute,
    /// Length of each slot.
    pub slot_minutes: u16,
    /// Consultation mode of the slots.
    pub mode: SlotMode,
    /// `[start, end)` ranges in which no slot may lie.
    pub breaks: Vec<(Minute, Minute)>,
}

/// Time off as the planner needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeOffSpec {
    /// `None`: the whole clinic.
    pub doctor_id: Option<i64>,
    /// First day, inclusive.
    pub from: NaiveDate,
    /// Last day, inclusive.
    pub to: NaiveDate,
    /// `None`: whole days; else only this `[start, end)` range of each day.
    pub hours: Option<(Minute, Minute)>,
}

/// A slot the templates call for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlannedSlot {
    /// Doctor.
    pub doctor_id: i64,
    /// Generating template.
    pub template_id: i64,
    /// Start, Unix seconds UTC.
    pub start_at: i64,
    /// End, Unix seconds UTC.
    pub end_at: i64,
    /// Mode.
    pub mode: SlotMode,
}

/// Whether two `[start, end)` ranges share any time.
pub fn ranges_overlap(a: (i64, i64), b: (i64, i64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// The first template of the same doctor and weekday that overlaps `t`, if any.
pub fn overlapping_template<'a>(
    t: &TemplateSpec,
    others: &'a [TemplateSpec],
) -> Option<&'a TemplateSpec> {
    others.iter().find(|o| {
        o.id != t.id
            && o.doctor_id == t.doctor_id
            && o.weekday == t.weekday
            && ranges_overlap(
                (t.start.into(), t.end.into()),
                (o.start.into(), o.end.into()),
            )
    })
}

/// The UTC instant of a local wall-clock time: `None` in a skipped hour, the earlier
/// instant in a repeated one.
fn instant(date: NaiveDate, minute: Minute, tz: Tz) -> Option<i64> {
    let naive = date.and_time(NaiveTime::MIN) + Duration::minutes(minute.into());
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|dt| dt.timestamp())
}

/// The zone's UTC offset in seconds at an instant.
fn offset_at(at: i64, tz: Tz) -> i32 {
    tz.offset_from_utc_datetime(
        &chrono::DateTime::from_timestamp(at, 0)
            .unwrap_or_default()
            .naive_utc(),
    )
    .fix()
    .local_minus_utc()
}

/// Every slot the templates call for on the clinic-local days `from..=to`, minus time
/// off, starting after `not_before` (slots are never planned in the past). Sorted
/// by doctor, then start. Never two overlapping slots of one doctor, provided the
/// templates of a doctor do not overlap (the core refuses those); overlaps are
/// dropped defensively anyway, keeping the earlier slot.
pub fn plan_slots(
    templates: &[TemplateSpec],
    time_off: &[TimeOffSpec],
    from: NaiveDate,
    to: NaiveDate,
    tz: Tz,
    not_before: i64,
) -> Vec<PlannedSlot> {
    let mut out = Vec::new();
    let mut date = from;
    while date <= to {
        let weekday = date.weekday().number_from_monday() as u8;
        for t in templates
            .iter()
            .filter(|t| t.weekday == weekday && t.slot_minutes > 0)
        {
            let off: Vec<Option<(Minute, Minute)>> = time_off
                .iter()
                .filter(|o| {
                    o.from <= date && date <= o.to && o.doctor_id.is_none_or(|d| d == t.doctor_id)
                })
                .map(|o| o.hours)
                .collect();
            if off.contains(&None) {
                continue; // the whole day off
            }
            let blocked: Vec<(Minute, Minute)> = t
                .breaks
                .iter()
                .copied()
                .chain(off.into_iter().flatten())
                .collect();
            let mut s = t.start;
            while s + t.slot_minutes <= t.end {
                let e = s + t.slot_minutes;
                let free = !blocked
                    .iter()
                    .any(|b| ranges_overlap((s.into(), e.into()), (b.0.into(), b.1.into())));
                if free {
                    if let Some(start_at) = instant(date, s, tz) {
                        let end_at = start_at + i64::from(t.slot_minutes) * 60;
                        // a clock change strictly inside the slot would make its wall-clock
                        // length wrong; a change exactly at its end is fine
                        if start_at > not_before
                            && offset_at(start_at, tz) == offset_at(end_at - 1, tz)
                        {
                            out.push(PlannedSlot {
                                doctor_id: t.doctor_id,
                                template_id: t.id,
                                start_at,
                                end_at,
                                mode: t.mode,
                            });
                        }
                    }
                }
                s = e;
            }
        }
        match date.succ_opt() {
            Some(d) => date = d,
            None => break,
        }
    }
    out.sort_by_key(|p| (p.doctor_id, p.start_at, p.end_at));
    let mut kept: Vec<PlannedSlot> = Vec::with_capacity(out.len());
    for p in out {
        match kept.last() {
            Some(k) if k.doctor_id == p.doctor_id && k.end_at > p.start_at => {}
            _ => kept.push(p),
        }
    }
    kept
}

/// A slot that exists, as reconciliation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExistingSlot {
    /// Row id.
    pub id: i64,
    /// Doctor.
    pub doctor_id: i64,
    /// Start (UTC seconds).
    pub start_at: i64,
    /// End (UTC seconds).
    pub end_at: i64,
    /// The template that generated it; `None` for a hand-made slot.
    pub template_id: Option<i64>,
    /// Blocked by an admin.
    pub blocked: bool,
    /// Has a live appointment (ordinary or overbooked).
    pub booked: bool,
    /// Has any appointment at all, cancelled ones included (their history needs the row).
    pub has_history: bool,
}

/// What regeneration will do, decided before any row changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reconciliation {
    /// Planned slots to insert.
    pub create: Vec<PlannedSlot>,
    /// Free generated slots no template wants: delete.
    pub remove: Vec<ExistingSlot>,
    /// Free generated slots no template wants but whose cancelled appointments keep
    /// them referenced: block them instead of deleting.
    pub retire: Vec<ExistingSlot>,
    /// Booked generated slots no template wants: kept, reported.
    pub kept_booked: Vec<ExistingSlot>,
    /// Planned slots not created because they overlap a slot that stays.
    pub skipped_overlaps: Vec<(PlannedSlot, i64)>,
    /// Existing slots that are exactly a planned slot (left as they are).
    pub unchanged: Vec<ExistingSlot>,
}

impl Reconciliation {
    /// Rows this reconciliation inserts, deletes or blocks.
    pub fn writes(&self) -> usize {
        self.create.len() + self.remove.len() + self.retire.len()
    }

    /// Appends another part's reconciliation.
    pub fn extend(&mut self, other: Reconciliation) {
        self.create.extend(other.create);
        self.remove.extend(other.remove);
        self.retire.extend(other.retire);
        self.kept_booked.extend(other.kept_booked);
        self.skipped_overlaps.extend(other.skipped_overlaps);
        self.unchanged.extend(other.unchanged);
    }

    /// Puts every list in one order (doctor, start, then id), so that the same
    /// changes read the same however they were found.
    pub fn sort(&mut self) {
        let planned = |p: &PlannedSlot| (p.doctor_id, p.start_at, p.end_at, p.template_id);
        let existing = |s: &ExistingSlot| (s.doctor_id, s.start_at, s.id);
        self.create.sort_by_key(planned);
        self.remove.sort_by_key(existing);
        self.retire.sort_by_key(existing);
        self.kept_booked.sort_by_key(existing);
        self.skipped_overlaps
            .sort_by_key(|(p, id)| (planned(p), *id));
        self.unchanged.sort_by_key(existing);
    }
}

/// Compares what the templates want with what exists, for the doctors in `doctors`
/// and the UTC window `[lo, hi)` (by start). `existing` must hold every slot of those
/// doctors starting within a day of the window, so that overlaps at its edges are seen.
/// Only future (`start_at > now`), unblocked, template-generated slots are ever
/// removed; booked ones are kept and reported; hand-made slots are never touched.
pub fn reconcile(
    planned: &[PlannedSlot],
    existing: &[ExistingSlot],
    doctors: &HashSet<i64>,
    window: (i64, i64),
    now: i64,
) -> Reconciliation {
    reconcile_part(
        planned,
        existing,
        doctors,
        window,
        (i64::MIN, i64::MAX),
        now,
    )
}

/// [`reconcile`] for one part `[part.0, part.1)` (by start) of the window, so that a
/// long generation can run as short transactions, one part each, in start order.
/// `planned` and `existing` must hold every planned and existing slot starting
/// within a day (the longest a slot may be) of the part. Only slots starting in the
/// part are created, removed, blocked or reported; the slots around it are judged
/// exactly as the whole window's reconciliation judges them (a free generated slot
/// that no template wants counts as gone, since its own part removes it), so running
/// the parts one after another ends where one reconciliation of the whole window
/// ends.
pub fn reconcile_part(
    planned: &[PlannedSlot],
    existing: &[ExistingSlot],
    doctors: &HashSet<i64>,
    window: (i64, i64),
    part: (i64, i64),
    now: i64,
) -> Reconciliation {
    let in_part = |start: i64| part.0 <= start && start < part.1;
    let wanted: HashSet<(i64, i64, i64)> = planned
        .iter()
        .map(|p| (p.doctor_id, p.start_at, p.end_at))
        .collect();
    let mut r = Reconciliation::default();
    // per doctor: start -> (end, index in `existing`) of the slots that stay
    let mut staying: HashMap<i64, BTreeMap<i64, (i64, usize)>> = HashMap::new();
    for (i, s) in existing.iter().enumerate() {
        let candidate = doctors.contains(&s.doctor_id)
            && s.template_id.is_some()
            && !s.blocked
            && s.start_at > now
            && s.start_at >= window.0
            && s.start_at < window.1
            && !wanted.contains(&(s.doctor_id, s.start_at, s.end_at));
        let mine = in_part(s.start_at);
        if candidate && s.booked {
            if mine {
                r.kept_booked.push(*s);
            }
        } else if candidate && s.has_history {
            if mine {
                r.retire.push(*s);
            }
        } else if candidate {
            if mine {
                r.remove.push(*s);
            }
            continue;
        }
        staying
            .entry(s.doctor_id)
            .or_default()
            .insert(s.start_at, (s.end_at, i));
    }
    for p in planned.iter().filter(|p| in_part(p.start_at)) {
        let slots = staying.entry(p.doctor_id).or_default();
        if let Some((end, i)) = slots.get(&p.start_at) {
            if *end == p.end_at {
                r.unchanged.push(existing[*i]);
                continue;
            }
        }
        // slots that stay never overlap one another, so the last one starting before
        // this one ends is the only one that can overlap it
        if let Some((_, (end, i))) = slots.range(..p.end_at).next_back() {
            if *end > p.start_at {
                r.skipped_overlaps.push((*p, existing[*i].id));
                continue;
            }
        }
        r.create.push(*p);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;
    use proptest::prelude::*;

    fn berlin() -> Tz {
        "Europe/Berlin".parse().unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn local(at: i64, tz: Tz) -> String {
        chrono::DateTime::from_timestamp(at, 0)
            .unwrap()
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    fn template(id: i64, weekday: u8, start: Minute, end: Minute, len: u16) -> TemplateSpec {
        TemplateSpec {
            id,
            doctor_id: 1,
            weekday,
            start,
            end,
            slot_minutes: len,
            mode: SlotMode::InPerson,
            breaks: vec![],
        }
    }

    #[test]
    fn a_morning_template_gives_its_slots_on_its_weekday_only() {
        // 2030-01-07 is a Monday
        let t = template(1, 1, 9 * 60, 12 * 60, 30);
        let slots = plan_slots(&[t], &[], date(2030, 1, 7), date(2030, 1, 13), berlin(), 0);
        assert_eq!(
            slots.len(),
            6,
            "09:00–12:00 in 30-minute slots on the one Monday"
        );
        assert_eq!(local(slots[0].start_at, berlin()), "2030-01-07 09:00");
        assert_eq!(local(slots[5].end_at, berlin()), "2030-01-07 12:00");
    }

    #[test]
    fn breaks_and_half_days_off_leave_holes_and_whole_days_off_leave_nothing() {
        let mut t = template(1, 1, 8 * 60, 12 * 60, 30);
        t.breaks = vec![(10 * 60, 10 * 60 + 30)];
        let half = TimeOffSpec {
            doctor_id: Some(1),
            from: date(2030, 1, 7),
            to: date(2030, 1, 7),
            hours: Some((8 * 60, 9 * 60)),
        };
        let slots = plan_slots(
            std::slice::from_ref(&t),
            &[half],
            date(2030, 1, 7),
            date(2030, 1, 7),
            berlin(),
            0,
        );
        let starts: Vec<String> = slots
            .iter()
            .map(|s| local(s.start_at, berlin())[11..].to_string())
            .collect();
        assert_eq!(
            starts,
            ["09:00", "09:30", "10:30", "11:00", "11:30"],
            "no slot in the break or the half day off"
        );
        let clinic_holiday = TimeOffSpec {
            doctor_id: None,
            from: date(2030, 1, 7),
            to: date(2030, 1, 7),
            hours: None,
        };
        assert!(plan_slots(
            &[t],
            &[clinic_holiday],
            date(2030, 1, 7),
            date(2030, 1, 7),
            berlin(),
            0
        )
        .is_empty());
    }

    #[test]
    fn nothing_is_planned_in_the_past() {
        let t = template(1, 1, 9 * 60, 12 * 60, 30);
        let ten = instant(date(2030, 1, 7), 10 * 60, berlin()).unwrap();
        let slots = plan_slots(&[t], &[], date(2030, 1, 7), date(2030, 1, 7), berlin(), ten);
        assert_eq!(slots.len(), 3, "only the slots starting after 10:00 remain");
    }

    #[test]
    fn skipped_hours_get_no_slots_and_repeated_hours_get_no_second_slot() {
        // Berlin: 2030-03-31 02:00 -> 03:00; 2030-10-27 03:00 -> 02:00 (both Sundays)
        let t = template(1, 7, 60, 4 * 60, 30);
        let spring = plan_slots(
            std::slice::from_ref(&t),
            &[],
            date(2030, 3, 31),
            date(2030, 3, 31),
            berlin(),
            0,
        );
        let starts: Vec<String> = spring
            .iter()
            .map(|s| local(s.start_at, berlin())[11..].to_string())
            .collect();
        assert_eq!(
            starts,
            ["01:00", "01:30", "03:00", "03:30"],
            "02:00 and 02:30 do not exist"
        );
        let autumn = plan_slots(
            &[t],
            &[],
            date(2030, 10, 27),
            date(2030, 10, 27),
            berlin(),
            0,
        );
        let starts: Vec<String> = autumn
            .iter()
            .map(|s| local(s.start_at, berlin())[11..].to_string())
            .collect();
        assert_eq!(
            starts,
            ["01:00", "01:30", "02:00", "02:30", "03:00", "03:30"],
            "02:xx once, not twice"
        );
        assert!(
            autumn.iter().all(|s| s.end_at - s.start_at == 1800),
            "every slot is 30 minutes long"
        );
    }

    #[test]
    fn a_slot_with_a_clock_change_inside_it_is_not_planned() {
        // 45-minute slots from 00:45 on the Berlin spring day: 01:30-02:15 would span the jump
        let t = template(1, 7, 45, 4 * 60 + 30, 45);
        let slots = plan_slots(&[t], &[], date(2030, 3, 31), date(2030, 3, 31), berlin(), 0);
        let starts: Vec<String> = slots
            .iter()
            .map(|s| local(s.start_at, berlin())[11..].to_string())
            .collect();
        assert_eq!(
            starts,
            ["00:45", "03:00", "03:45"],
            "01:30 spans the change and 02:15 does not exist"
        );
    }

    #[test]
    fn reconciliation_removes_only_free_future_generated_slots_and_keeps_booked_ones() {
        let t = template(1, 1, 9 * 60, 10 * 60, 30);
        let planned = plan_slots(&[t], &[], date(2030, 1, 7), date(2030, 1, 7), berlin(), 0);
        let ex = |id, start_at: i64, template_id, booked| ExistingSlot {
            id,
            doctor_id: 1,
            start_at,
            end_at: start_at + 1200,
            template_id,
            blocked: false,
            booked,
            has_history: booked,
        };
        let base = planned[0].start_at;
        // an old 20-minute layout: one booked, one free, one made by hand
        let existing = [
            ex(10, base, Some(9), true),
            ex(11, base + 1200, Some(9), false),
            ex(12, base + 2400, None, false),
        ];
        let r = reconcile(
            &planned,
            &existing,
            &HashSet::from([1]),
            (base - 3600, base + 7200),
            0,
        );
        assert_eq!(
            r.kept_booked.iter().map(|s| s.id).collect::<Vec<_>>(),
            [10],
            "the booked slot is kept"
        );
        assert_eq!(
            r.remove.iter().map(|s| s.id).collect::<Vec<_>>(),
            [11],
            "the free generated slot goes"
        );
        assert!(
            r.create.is_empty(),
            "both planned slots overlap slots that stay: {:?}",
            r.create
        );
        assert_eq!(r.skipped_overlaps.len(), 2);
    }

    fn arb_templates() -> impl Strategy<Value = Vec<TemplateSpec>> {
        prop::collection::vec(
            (
                1i64..=3,
                1u8..=7,
                0u16..1400,
                5u16..=240,
                prop::sample::select(vec![5u16, 10, 15, 20, 30, 45, 60, 90]),
            ),
            0..12,
        )
        .prop_map(|raw| {
            raw.into_iter()
                .enumerate()
                .map(|(i, (doctor_id, weekday, start, len, slot))| {
                    let end = (start + len).min(1440);
                    TemplateSpec {
                        id: i as i64 + 1,
                        doctor_id,
                        weekday,
                        start,
                        end,
                        slot_minutes: slot,
                        mode: SlotMode::InPerson,
                        breaks: vec![(start + 60, start + 75)],
                    }
                })
                .collect::<Vec<_>>()
        })
        .prop_map(|all| {
            // keep only templates that do not overlap an earlier one (the core refuses those)
            let mut kept: Vec<TemplateSpec> = Vec::new();
            for t in all {
                if overlapping_template(&t, &kept).is_none() {
                    kept.push(t);
                }
            }
            kept
        })
    }

    fn arb_time_off() -> impl Strategy<Value = Vec<TimeOffSpec>> {
        prop::collection::vec(
            (
                prop::option::of(1i64..=3),
                0i64..60,
                0i64..5,
                prop::option::of((0u16..1400, 1u16..300)),
            ),
            0..4,
        )
        .prop_map(|raw| {
            raw.into_iter()
                .map(|(doctor_id, start, days, hours)| {
                    let from = date(2030, 3, 1) + Duration::days(start);
                    TimeOffSpec {
                        doctor_id,
                        from,
                        to: from + Duration::days(days),
                        hours: hours.map(|(s, l)| (s, (s + l).min(1440))),
                    }
                })
                .collect()
        })
    }

    /// Applies a reconciliation to an in-memory slot table, as generation does.
    fn apply(store: &mut Vec<ExistingSlot>, r: &Reconciliation, next_id: &mut i64) {
        store.retain(|s| !r.remove.iter().any(|x| x.id == s.id));
        for s in store.iter_mut() {
            if r.retire.iter().any(|x| x.id == s.id) {
                s.blocked = true;
            }
        }
        for p in &r.create {
            *next_id += 1;
            store.push(ExistingSlot {
                id: *next_id,
                doctor_id: p.doctor_id,
                start_at: p.start_at,
                end_at: p.end_at,
                template_id: Some(p.template_id),
                blocked: false,
                booked: false,
                has_history: false,
            });
        }
    }

    /// The slots of a store, without ids, in one order.
    fn layout(store: &[ExistingSlot]) -> Vec<(i64, i64, i64, Option<i64>, bool, bool)> {
        let mut v: Vec<_> = store
            .iter()
            .map(|s| {
                (
                    s.doctor_id,
                    s.start_at,
                    s.end_at,
                    s.template_id,
                    s.blocked,
                    s.booked,
                )
            })
            .collect();
        v.sort_unstable();
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_templates_and_time_off_never_plan_overlapping_slots(
            templates in arb_templates(),
            time_off in arb_time_off(),
            zone in prop::sample::select(vec!["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]),
        ) {
            let tz: Tz = zone.parse().unwrap();
            // spans the March changes in Europe and America and the April one in Australia
            let slots = plan_slots(&templates, &time_off, date(2030, 3, 1), date(2030, 4, 15), tz, 0);
            for w in slots.windows(2) {
                if w[0].doctor_id == w[1].doctor_id {
                    prop_assert!(w[0].end_at <= w[1].start_at, "overlap: {:?} and {:?}", w[0], w[1]);
                }
            }
            for s in &slots {
                let t = templates.iter().find(|t| t.id == s.template_id).unwrap();
                prop_assert_eq!(s.end_at - s.start_at, i64::from(t.slot_minutes) * 60);
                let day = chrono::DateTime::from_timestamp(s.start_at, 0).unwrap().with_timezone(&tz).date_naive();
                prop_assert!(!time_off.iter().any(|o| o.hours.is_none() && o.from <= day && day <= o.to
                    && o.doctor_id.is_none_or(|d| d == s.doctor_id)), "slot on a day off: {:?}", s);
            }
            // every slot starts on its template's wall-clock grid, on its weekday
            for s in &slots {
                let t = templates.iter().find(|t| t.id == s.template_id).unwrap();
                let at = chrono::DateTime::from_timestamp(s.start_at, 0).unwrap().with_timezone(&tz);
                let minute = (at.hour() * 60 + at.minute()) as u16;
                prop_assert_eq!(at.weekday().number_from_monday() as u8, t.weekday);
                prop_assert!(minute >= t.start && minute + t.slot_minutes <= t.end && (minute - t.start).is_multiple_of(t.slot_minutes),
                    "{:?} starts at {} local, off the grid of {:?}", s, minute, t);
            }
        }

        #[test]
        fn reconciling_in_parts_one_after_another_ends_where_one_reconciliation_ends(
            old in arb_templates(),
            new in arb_templates(),
            flags in prop::collection::vec((0u8..6, 0u8..3), 0..400),
            cuts in prop::collection::vec((any::<prop::sample::Index>(), 0i64..3), 0..24),
        ) {
            let tz = berlin();
            let (from, to) = (date(2030, 3, 1), date(2030, 4, 15));
            let window = (
                crate::domain::clinic::day_bounds(from, tz).0,
                crate::domain::clinic::day_bounds(to, tz).1,
            );
            // what an earlier layout left: some booked, some with history, some
            // blocked, some made by hand; "now" lies a few days into the range
            let now = window.0 + 3 * 86_400 + 1800;
            let mut store: Vec<ExistingSlot> = plan_slots(&old, &[], from, to, tz, 0)
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let (state, kind) = flags.get(i).copied().unwrap_or((0, 0));
                    ExistingSlot {
                        id: i as i64 + 1,
                        doctor_id: p.doctor_id,
                        start_at: p.start_at,
                        end_at: p.end_at,
                        template_id: (kind != 2).then_some(p.template_id + 100),
                        blocked: state == 5,
                        booked: state == 1 || state == 2,
                        has_history: (1..=3).contains(&state),
                    }
                })
                .collect();
            let planned = plan_slots(&new, &[], from, to, tz, now);
            let doctors = HashSet::from([1, 2, 3]);
            let mut whole_store = store.clone();
            let mut whole = reconcile(&planned, &whole_store, &doctors, window, now);
            let mut next = 10_000;
            apply(&mut whole_store, &whole, &mut next);

            // parts end at slot starts (where cutting matters most) or a minute off them
            let starts: Vec<i64> = store
                .iter()
                .map(|s| s.start_at)
                .chain(planned.iter().map(|p| p.start_at))
                .collect();
            let mut bounds: Vec<i64> = if starts.is_empty() {
                Vec::new()
            } else {
                cuts.iter()
                    .map(|(i, shift)| i.get(&starts) + (shift - 1) * 60)
                    .filter(|t| window.0 < *t && *t < window.1)
                    .collect()
            };
            bounds.sort_unstable();
            bounds.dedup();
            let mut edges = vec![window.0];
            edges.extend(bounds);
            edges.push(window.1);
            let mut parts = Reconciliation::default();
            for w in edges.windows(2) {
                let (lo, hi) = (w[0], w[1]);
                let near = |start: i64| lo - 86_400 <= start && start < hi + 86_400;
                let existing: Vec<ExistingSlot> =
                    store.iter().filter(|s| near(s.start_at)).copied().collect();
                let planned: Vec<PlannedSlot> =
                    planned.iter().filter(|p| near(p.start_at)).copied().collect();
                let r = reconcile_part(&planned, &existing, &doctors, window, (lo, hi), now);
                apply(&mut store, &r, &mut next);
                parts.extend(r);
            }
            prop_assert_eq!(layout(&store), layout(&whole_store), "the same slots in the end");
            whole.sort();
            parts.sort();
            prop_assert_eq!(parts, whole, "the parts together report what the whole reports");
        }
    }
}
