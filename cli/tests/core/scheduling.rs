use chrono::NaiveDate;
use frontdesk::domain::clinic::{day_bounds, format_local};
use frontdesk::{
    AppointmentStatus, BookRequest, Error, GenerationReport, NewTemplate, NewTimeOff,
    NewWaitlistEntry, SeenAppointment, SeriesMode, SeriesRequest, SlotMode, TimeRange,
    WaitlistFilter, WaitlistStatus,
};
use frontdesk::{AuditFilter, SlotFilter};
use proptest::prelude::*;

use crate::fixture::{Clinic, NOW};

pub fn day(s: &str) -> NaiveDate {
    s.parse().expect("a YYYY-MM-DD date")
}

/// `c` (a clinic file or a clinic server; the fixture starts in UTC) moved to `zone`.
pub fn in_zone(c: Clinic, zone: &str) -> Clinic {
    let mut s = c.desk.settings().unwrap();
    s.time_zone = zone.into();
    c.desk.update_clinic_settings(&c.admin(), &s).unwrap();
    c
}

pub fn template(c: &Clinic, doctor: i64, weekday: u8, start: &str, end: &str, minutes: u16) -> i64 {
    c.desk
        .add_template(
            &c.admin(),
            &NewTemplate {
                doctor_id: doctor,
                weekday,
                start: start.into(),
                end: end.into(),
                slot_minutes: minutes,
                mode: SlotMode::InPerson,
                breaks: vec![],
            },
        )
        .unwrap()
        .id
}

pub fn generate(c: &Clinic, from: &str, to: &str) -> GenerationReport {
    c.desk
        .generate_slots(&c.admin(), day(from), day(to), None, false)
        .unwrap()
}

/// The clinic-local "HH:MM" starts of a doctor's slots on a local day.
fn local_starts(c: &Clinic, doctor: i64, date: &str) -> Vec<String> {
    let tz = c.desk.settings().unwrap().tz();
    let (from, to) = day_bounds(day(date), tz);
    c.desk
        .list_slots(
            &c.admin(),
            &SlotFilter {
                from,
                to,
                doctor_id: Some(doctor),
                free_only: false,
            },
        )
        .unwrap()
        .iter()
        .map(|v| format_local(v.slot.start_at, tz)[11..].to_string())
        .collect()
}

fn slot_ids(c: &Clinic, doctor: i64, date: &str) -> Vec<i64> {
    let tz = c.desk.settings().unwrap().tz();
    let (from, to) = day_bounds(day(date), tz);
    c.desk
        .list_slots(
            &c.admin(),
            &SlotFilter {
                from,
                to,
                doctor_id: Some(doctor),
                free_only: false,
            },
        )
        .unwrap()
        .iter()
        .map(|v| v.slot.id)
        .collect()
}

fn book(c: &Clinic, slot: i64, patient: i64) -> frontdesk::Appointment {
    c.desk
        .book(
            &c.receptionist(),
            &BookRequest {
                slot_id: slot,
                patient_id: patient,
                reason: String::new(),
            },
        )
        .unwrap()
}

on_both! {
    fn generating_twice_creates_nothing_new_and_no_slot_overlaps(c) {
    let c = in_zone(c, "Europe/Berlin");
    let d = c.doctor("Dr. Weekly");
    for weekday in 1..=5 {
        template(&c, d, weekday, "08:00", "12:00", 30);
        template(&c, d, weekday, "13:00", "16:00", 20);
    }
    let first = generate(&c, "2030-01-14", "2030-01-27");
    assert_eq!(
        first.created.len(),
        2 * 5 * (8 + 9),
        "two weeks of 8 + 9 slots a weekday"
    );
    let again = generate(&c, "2030-01-14", "2030-01-27");
    assert!(
        again.created.is_empty() && again.removed.is_empty(),
        "the second run changes nothing: {again:?}"
    );
    assert_eq!(
        again.unchanged,
        first.created.len() as u64,
        "every slot is recognised as already there"
    );
    assert_eq!(
        local_starts(&c, d, "2030-01-14")[..3],
        ["08:00", "08:30", "09:00"]
    );
    assert!(
        local_starts(&c, d, "2030-01-19").is_empty(),
        "no template on Saturdays"
    );
    c.assert_check();
}
}

on_both! {
    fn templates_of_one_doctor_may_not_overlap_but_other_doctors_may_share_the_times(c) {
    // (the fixture clinic, in UTC)
    let (a, b) = (c.doctor("Dr. A"), c.doctor("Dr. B"));
    template(&c, a, 1, "08:00", "12:00", 30);
    let clash = NewTemplate {
        doctor_id: a,
        weekday: 1,
        start: "11:30".into(),
        end: "14:00".into(),
        slot_minutes: 30,
        mode: SlotMode::Video,
        breaks: vec![],
    };
    let err = c.desk.add_template(&c.admin(), &clash).unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(m) if m.contains("overlaps") && m.contains("Monday")),
        "refused with a reason: {err}"
    );
    template(&c, a, 1, "12:00", "14:00", 30); // touching is fine
    template(&c, b, 1, "08:00", "12:00", 30);
    let desk_err = c.desk.add_template(&c.receptionist(), &clash).unwrap_err();
    assert!(
        matches!(desk_err, Error::Forbidden(_)),
        "receptionists do not edit templates"
    );
}
}

on_both! {
    fn time_off_and_breaks_leave_their_hours_empty(c) {
    let c = in_zone(c, "Europe/Berlin");
    let (a, b) = (c.doctor("Dr. A"), c.doctor("Dr. B"));
    for d in [a, b] {
        c.desk
            .add_template(
                &c.admin(),
                &NewTemplate {
                    doctor_id: d,
                    weekday: 1,
                    start: "08:00".into(),
                    end: "12:00".into(),
                    slot_minutes: 60,
                    mode: SlotMode::InPerson,
                    breaks: vec![TimeRange {
                        start: "10:00".into(),
                        end: "11:00".into(),
                    }],
                },
            )
            .unwrap();
    }
    let off = |doctor, from: &str, to: &str, hours: Option<(&str, &str)>| NewTimeOff {
        doctor_id: doctor,
        from_date: from.into(),
        to_date: to.into(),
        hours: hours.map(|(s, e)| TimeRange {
            start: s.into(),
            end: e.into(),
        }),
        note: "leave".into(),
    };
    c.desk
        .add_time_off(&c.admin(), &off(Some(a), "2030-01-14", "2030-01-14", None))
        .unwrap();
    c.desk
        .add_time_off(
            &c.admin(),
            &off(
                Some(b),
                "2030-01-14",
                "2030-01-14",
                Some(("08:00", "09:00")),
            ),
        )
        .unwrap();
    c.desk
        .add_time_off(&c.admin(), &off(None, "2030-01-21", "2030-01-21", None))
        .unwrap();
    generate(&c, "2030-01-14", "2030-01-28");
    assert!(
        local_starts(&c, a, "2030-01-14").is_empty(),
        "Dr. A is on leave"
    );
    assert_eq!(
        local_starts(&c, b, "2030-01-14"),
        ["09:00", "11:00"],
        "half day off and the break"
    );
    assert!(
        local_starts(&c, a, "2030-01-21").is_empty()
            && local_starts(&c, b, "2030-01-21").is_empty(),
        "clinic holiday"
    );
    assert_eq!(
        local_starts(&c, a, "2030-01-28"),
        ["08:00", "09:00", "11:00"],
        "a normal Monday"
    );
    let listed = c
        .desk
        .list_time_off(&c.admin(), Some("2030-01-01"), None, Some(b))
        .unwrap();
    assert_eq!(
        listed.len(),
        2,
        "Dr. B's half day plus the clinic holiday: {listed:?}"
    );
    c.assert_check();
}
}

on_both! {
    fn regeneration_after_a_template_change_removes_free_slots_and_keeps_booked_ones(c) {
    let c = in_zone(c, "Europe/Berlin");
    let d = c.doctor("Dr. Change");
    let p = c.patient("Maria Booked", "0151 2345 6789");
    let t = template(&c, d, 1, "08:00", "10:00", 30);
    generate(&c, "2030-01-14", "2030-01-14");
    let ids = slot_ids(&c, d, "2030-01-14");
    let booked = book(&c, ids[1], p); // 08:30
                                      // the doctor now works 09:00-11:00 in 20-minute slots
    c.desk.remove_template(&c.admin(), t).unwrap();
    template(&c, d, 1, "09:00", "11:00", 20);
    let preview = c
        .desk
        .generate_slots(&c.admin(), day("2030-01-14"), day("2030-01-14"), None, true)
        .unwrap();
    assert_eq!(
        slot_ids(&c, d, "2030-01-14"),
        ids,
        "a preview changes nothing"
    );
    let r = generate(&c, "2030-01-14", "2030-01-14");
    assert_eq!(
        (
            preview.created.len(),
            preview.removed.len(),
            preview.kept_booked.len()
        ),
        (r.created.len(), r.removed.len(), r.kept_booked.len()),
        "the preview announced exactly what happened"
    );
    assert_eq!(
        r.kept_booked.iter().map(|s| s.slot_id).collect::<Vec<_>>(),
        [Some(ids[1])],
        "the booked 08:30 slot is kept and reported"
    );
    assert_eq!(
        r.removed.len(),
        3,
        "08:00, 09:00 and 09:30 were free and go"
    );
    assert!(
        r.skipped_overlaps.is_empty(),
        "the new slots start at 09:00, after the kept one: {:?}",
        r.skipped_overlaps
    );
    assert_eq!(
        local_starts(&c, d, "2030-01-14"),
        ["08:30", "09:00", "09:20", "09:40", "10:00", "10:20", "10:40"]
    );
    let after = c
        .desk
        .get_appointment(&c.admin(), booked.id)
        .unwrap()
        .appointment;
    assert_eq!(
        (after.slot_id, after.status),
        (ids[1], AppointmentStatus::Pending),
        "the booking is untouched"
    );
    c.assert_check();
}
}

on_both! {
    fn time_off_added_later_clears_free_slots_reports_booked_ones_and_never_touches_hand_made_slots(c) {
    let c = in_zone(c, "Europe/Berlin");
    let d = c.doctor("Dr. Later");
    let p = c.patient("Maria Booked", "0151 2345 6789");
    template(&c, d, 2, "08:00", "10:00", 60); // Tuesdays
    generate(&c, "2030-01-15", "2030-01-15");
    let ids = slot_ids(&c, d, "2030-01-15");
    let kept = book(&c, ids[0], p);
    // an extra evening slot added by hand that same day
    let (from, _) = day_bounds(day("2030-01-15"), c.desk.settings().unwrap().tz());
    let by_hand = c
        .desk
        .add_slot(
            &c.admin(),
            d,
            from + 18 * 3600,
            from + 19 * 3600,
            SlotMode::Phone,
        )
        .unwrap();
    c.desk
        .add_time_off(
            &c.admin(),
            &NewTimeOff {
                doctor_id: Some(d),
                from_date: "2030-01-15".into(),
                to_date: "2030-01-15".into(),
                hours: None,
                note: "conference".into(),
            },
        )
        .unwrap();
    let r = generate(&c, "2030-01-15", "2030-01-15");
    assert_eq!(
        r.removed.iter().map(|s| s.slot_id).collect::<Vec<_>>(),
        [Some(ids[1])],
        "the free 09:00 slot goes"
    );
    assert_eq!(
        r.kept_booked.iter().map(|s| s.slot_id).collect::<Vec<_>>(),
        [Some(ids[0])],
        "the booked 08:00 slot is reported"
    );
    assert_eq!(
        slot_ids(&c, d, "2030-01-15"),
        [ids[0], by_hand.id],
        "the booked and the hand-made slot stay"
    );
    assert_eq!(
        c.desk
            .get_appointment(&c.admin(), kept.id)
            .unwrap()
            .appointment
            .status,
        AppointmentStatus::Pending,
        "the booking is untouched"
    );
    c.assert_check();
}
}

on_both! {
    fn a_free_slot_that_no_longer_fits_but_has_a_cancelled_appointment_is_blocked_not_deleted(c) {
    let c = in_zone(c, "Europe/Berlin");
    let d = c.doctor("Dr. History");
    let p = c.patient("Maria Cancelled", "0151 2345 6789");
    let t = template(&c, d, 2, "08:00", "09:00", 60);
    generate(&c, "2030-01-15", "2030-01-15");
    let slot = slot_ids(&c, d, "2030-01-15")[0];
    let a = book(&c, slot, p);
    c.desk
        .change_status(
            &c.admin(),
            a.id,
            a.version,
            AppointmentStatus::Cancelled,
            "ill",
        )
        .unwrap();
    c.desk.remove_template(&c.admin(), t).unwrap();
    let r = generate(&c, "2030-01-15", "2030-01-15");
    assert_eq!(
        r.retired.iter().map(|s| s.slot_id).collect::<Vec<_>>(),
        [Some(slot)],
        "reported as blocked"
    );
    // (a flag is 0/1 on the file and a boolean on the server: counted, it is 1 either way)
    let blocked = c.count(&format!(
        "SELECT count(*) FROM slot WHERE id = {slot} AND blocked"
    ));
    assert_eq!(
        blocked, 1,
        "kept for the cancelled appointment's history, but nobody can book it"
    );
    assert_eq!(
        c.desk
            .get_appointment(&c.admin(), a.id)
            .unwrap()
            .history
            .len(),
        2,
        "the history is intact"
    );
    c.assert_check();
}
}

on_both! {
    fn generation_never_creates_slots_in_the_past(c) {
    // the fixture clinic: UTC; now is Monday 2030-01-07 08:00
    let d = c.doctor("Dr. Today");
    template(&c, d, 1, "06:00", "10:00", 60);
    let r = generate(&c, "2030-01-07", "2030-01-07");
    assert_eq!(
        local_starts(&c, d, "2030-01-07"),
        ["09:00"],
        "06:00-08:00 are over and 08:00 starts now: {r:?}"
    );
    assert!(r.created.iter().all(|s| s.start_at > NOW));
}
}

/// The local wall-clock starts of a doctor's slots on each day clocks change.
fn dst_case(
    c: Clinic,
    zone: &str,
    spring: &str,
    autumn: &str,
    spring_starts: &[&str],
    autumn_starts: &[&str],
) {
    let c = in_zone(c, zone);
    let d = c.doctor("Dr. Night");
    template(&c, d, 7, "00:30", "04:00", 30); // Sundays, across the change
    template(&c, d, 7, "09:00", "10:00", 30);
    template(&c, d, 1, "09:00", "09:30", 30); // and the Monday after
    generate(
        &c,
        spring,
        &(day(spring) + chrono::Duration::days(1)).to_string(),
    );
    generate(
        &c,
        autumn,
        &(day(autumn) + chrono::Duration::days(1)).to_string(),
    );
    let mut spring_expected: Vec<&str> = spring_starts.to_vec();
    spring_expected.extend(["09:00", "09:30"]);
    let mut autumn_expected: Vec<&str> = autumn_starts.to_vec();
    autumn_expected.extend(["09:00", "09:30"]);
    assert_eq!(
        local_starts(&c, d, spring),
        spring_expected,
        "{zone} spring: the skipped hour has no slots"
    );
    assert_eq!(
        local_starts(&c, d, autumn),
        autumn_expected,
        "{zone} autumn: the repeated hour has each slot once"
    );
    for monday in [
        day(spring) + chrono::Duration::days(1),
        day(autumn) + chrono::Duration::days(1),
    ] {
        assert_eq!(
            local_starts(&c, d, &monday.to_string()),
            ["09:00"],
            "{zone}: 09:00 stays 09:00 after the change"
        );
    }
    let lengths = c.count("SELECT count(*) FROM slot WHERE end_at - start_at <> 1800");
    assert_eq!(lengths, 0, "every slot lasts exactly 30 minutes");
    c.assert_check();
}

on_both! {
    fn slots_keep_their_local_times_across_daylight_saving_changes_in_berlin(c) {
    // 2030-03-31 02:00 -> 03:00 and 2030-10-27 03:00 -> 02:00
    dst_case(
        c,
        "Europe/Berlin",
        "2030-03-31",
        "2030-10-27",
        &["00:30", "01:00", "01:30", "03:00", "03:30"],
        &[
            "00:30", "01:00", "01:30", "02:00", "02:30", "03:00", "03:30",
        ],
    );
}
}

on_both! {
    fn slots_keep_their_local_times_across_daylight_saving_changes_in_new_york(c) {
    // 2030-03-10 02:00 -> 03:00 and 2030-11-03 02:00 -> 01:00
    dst_case(
        c,
        "America/New_York",
        "2030-03-10",
        "2030-11-03",
        &["00:30", "01:00", "01:30", "03:00", "03:30"],
        &[
            "00:30", "01:00", "01:30", "02:00", "02:30", "03:00", "03:30",
        ],
    );
}
}

/// A doctor with a Monday 09:00-10:00 template and ten Mondays of slots from 2030-01-14.
fn weekly_clinic(c: Clinic) -> (Clinic, i64, i64) {
    let c = in_zone(c, "Europe/Berlin");
    let d = c.doctor("Dr. Series");
    template(&c, d, 1, "09:00", "10:00", 30);
    generate(&c, "2030-01-14", "2030-03-24");
    let p = c.patient("Petra Weekly", "0151 2345 6789");
    (c, d, p)
}

fn series(first: i64, patient: i64, every: u32, count: u32, mode: SeriesMode) -> SeriesRequest {
    SeriesRequest {
        first_slot_id: first,
        patient_id: patient,
        every_weeks: every,
        count: Some(count),
        until: None,
        mode,
        reason: "physio".into(),
    }
}

on_both! {
    fn an_all_or_nothing_series_rolls_back_fully_when_one_date_is_taken(c) {
    let (c, d, p) = weekly_clinic(c);
    let other = c.patient("Otto Other", "0151 2345 0000");
    let first = slot_ids(&c, d, "2030-01-14")[0];
    let taken = slot_ids(&c, d, "2030-02-11")[0]; // the fifth Monday
    book(&c, taken, other);
    let before = c.count("SELECT count(*) FROM appointment");
    let err = c
        .desk
        .book_series(
            &c.receptionist(),
            &series(first, p, 1, 6, SeriesMode::AllOrNothing),
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(m) if m.contains("2030-02-11 09:00") && m.contains("already booked")),
        "names the date: {err}"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM appointment"),
        before,
        "nothing was booked"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM appointment_series"),
        0,
        "no series was kept"
    );
    c.assert_check();
}
}

on_both! {
    fn a_partial_series_books_what_is_free_and_reports_the_skipped_dates(c) {
    let (c, d, p) = weekly_clinic(c);
    let other = c.patient("Otto Other", "0151 2345 0000");
    let first = slot_ids(&c, d, "2030-01-14")[1]; // 09:30
    book(&c, slot_ids(&c, d, "2030-01-28")[1], other);
    c.desk
        .set_slot_blocked(&c.admin(), slot_ids(&c, d, "2030-02-11")[1], true)
        .unwrap();
    let r = c
        .desk
        .book_series(
            &c.receptionist(),
            &series(first, p, 2, 5, SeriesMode::BookWhatIsFree),
        )
        .unwrap();
    let tz = c.desk.settings().unwrap().tz();
    let booked: Vec<String> = r
        .booked
        .iter()
        .map(|a| format_local(a.start_at, tz))
        .collect();
    assert_eq!(
        booked,
        ["2030-01-14 09:30", "2030-02-25 09:30", "2030-03-11 09:30"],
        "every other Monday at 09:30, when free"
    );
    let skipped: Vec<&str> = r.skipped.iter().map(|s| s.when.as_str()).collect();
    assert_eq!(
        skipped,
        ["2030-01-28 09:30", "2030-02-11 09:30"],
        "the taken and the blocked date: {:?}",
        r.skipped
    );
    assert!(
        r.skipped[0].reason.contains("booked") && r.skipped[1].reason.contains("blocked"),
        "{:?}",
        r.skipped
    );
    assert_eq!(
        c.desk.list_series(&c.admin(), r.series_id).unwrap().len(),
        3
    );
    c.assert_check();
}
}

on_both! {
    fn a_series_until_a_date_stops_there_and_skips_weeks_without_a_slot(c) {
    let (c, d, p) = weekly_clinic(c);
    let req = SeriesRequest {
        count: None,
        until: Some("2030-04-07".into()),
        ..series(
            slot_ids(&c, d, "2030-03-04")[0],
            p,
            1,
            1,
            SeriesMode::BookWhatIsFree,
        )
    };
    let r = c.desk.book_series(&c.receptionist(), &req).unwrap();
    assert_eq!(
        r.booked.len(),
        3,
        "the Mondays 2030-03-04, -11 and -18 have slots"
    );
    let skipped: Vec<&str> = r.skipped.iter().map(|s| s.when.as_str()).collect();
    assert_eq!(
        skipped,
        ["2030-03-25 09:00", "2030-04-01 09:00"],
        "slots were generated only up to 03-24; 04-07 is a Sunday"
    );
    assert!(r.skipped.iter().all(|s| s.reason.contains("no slot")));
}
}

on_both! {
    fn cancelling_the_rest_of_a_series_leaves_earlier_occurrences_untouched(c) {
    let (c, d, p) = weekly_clinic(c);
    let r = c
        .desk
        .book_series(
            &c.receptionist(),
            &series(
                slot_ids(&c, d, "2030-01-14")[0],
                p,
                1,
                6,
                SeriesMode::AllOrNothing,
            ),
        )
        .unwrap();
    let third = &r.booked[2];
    let rest = c.desk.series_rest(&c.admin(), third.id).unwrap();
    assert_eq!(
        rest.iter().map(|a| a.id).collect::<Vec<_>>(),
        r.booked[2..].iter().map(|a| a.id).collect::<Vec<_>>(),
        "the rest is this occurrence and every later one"
    );
    let seen: Vec<SeenAppointment> = rest.iter().map(SeenAppointment::of).collect();
    let cancelled = c
        .desk
        .cancel_series_rest(&c.admin(), third.id, &seen, "moved away")
        .unwrap();
    assert_eq!(
        cancelled.iter().map(|a| a.id).collect::<Vec<_>>(),
        r.booked[2..].iter().map(|a| a.id).collect::<Vec<_>>()
    );
    let all = c.desk.list_series(&c.admin(), r.series_id).unwrap();
    let statuses: Vec<AppointmentStatus> = all.iter().map(|a| a.status).collect();
    use AppointmentStatus::*;
    assert_eq!(
        statuses,
        [Pending, Pending, Cancelled, Cancelled, Cancelled, Cancelled],
        "the first two stay booked"
    );
    let history = c
        .desk
        .get_appointment(&c.admin(), r.booked[5].id)
        .unwrap()
        .history;
    assert_eq!(
        history.last().map(|h| (h.to_status, h.note.as_str())),
        Some((Cancelled, "moved away"))
    );
    assert_eq!(
        c.count("SELECT count(*) FROM audit_event WHERE action = 'appointment.status'"),
        4,
        "one audit row per cancellation"
    );
    let err = c
        .desk
        .cancel_series_rest(&c.receptionist(), r.booked[0].id, &seen, "x")
        .unwrap_err();
    assert!(
        matches!(err, Error::Forbidden(_)),
        "receptionists do not cancel"
    );
    c.assert_check();
}
}

on_both! {
    fn only_an_admin_with_a_reason_may_overbook_a_taken_slot_and_it_shows(c) {
    let (c, d, p) = weekly_clinic(c);
    let q = c.patient("Quentin Squeeze", "0151 2345 1111");
    let slot = slot_ids(&c, d, "2030-01-14")[0];
    let err = c.desk.overbook(&c.admin(), slot, q, "urgent").unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(m) if m.contains("book it normally")),
        "a free slot is booked normally: {err}"
    );
    book(&c, slot, p);
    assert!(matches!(
        c.desk.overbook(&c.receptionist(), slot, q, "urgent"),
        Err(Error::Forbidden(_))
    ));
    assert!(
        matches!(
            c.desk.overbook(&c.admin(), slot, q, "  "),
            Err(Error::Invalid(_))
        ),
        "a reason is required"
    );
    let extra = c.desk.overbook(&c.admin(), slot, q, "acute pain").unwrap();
    assert!(extra.overbooked, "flagged as overbooked");
    let r = c.desk.book(
        &c.receptionist(),
        &BookRequest {
            slot_id: slot,
            patient_id: q,
            reason: String::new(),
        },
    );
    assert!(
        matches!(r, Err(Error::SlotTaken)),
        "ordinary bookings are still one per slot"
    );
    let (from, to) = day_bounds(day("2030-01-14"), c.desk.settings().unwrap().tz());
    let view = c
        .desk
        .list_slots(
            &c.admin(),
            &SlotFilter {
                from,
                to,
                doctor_id: Some(d),
                free_only: false,
            },
        )
        .unwrap();
    let flags: Vec<bool> = view
        .iter()
        .find(|v| v.slot.id == slot)
        .unwrap()
        .appointments
        .iter()
        .map(|a| a.overbooked)
        .collect();
    assert_eq!(
        flags,
        [false, true],
        "the day view shows the ordinary and the overbooked appointment"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM audit_event WHERE action = 'appointment.overbook'"),
        1
    );
    c.assert_check();
}
}

on_both! {
    fn the_waitlist_offers_a_freed_slot_to_matching_patients_oldest_first_and_closes_the_entry_on_booking(c) {
    let (c, d, p) = weekly_clinic(c);
    let (early, late, picky) = (
        c.patient("Anna Early", "0151 2345 2222"),
        c.patient("Bert Later", "0151 2345 3333"),
        c.patient("Cleo Picky", "0151 2345 4444"),
    );
    let slot = slot_ids(&c, d, "2030-01-21")[1]; // 09:30-10:00
    let appt = book(&c, slot, p);
    let add = |patient, from: Option<&str>, hours: Option<(&str, &str)>| {
        c.clock.advance(60);
        c.desk
            .waitlist_add(
                &c.receptionist(),
                &NewWaitlistEntry {
                    patient_id: patient,
                    doctor_id: d,
                    from_date: from.map(Into::into),
                    to_date: None,
                    hours: hours.map(|(s, e)| TimeRange {
                        start: s.into(),
                        end: e.into(),
                    }),
                    note: "any time".into(),
                },
            )
            .unwrap()
    };
    let e1 = add(early, None, None);
    let e2 = add(late, Some("2030-01-20"), Some(("09:00", "10:00")));
    add(picky, None, Some(("08:00", "09:30"))); // the slot ends after 09:30
    add(picky, Some("2030-02-01"), None); // too late
    c.desk
        .change_status(
            &c.admin(),
            appt.id,
            appt.version,
            AppointmentStatus::Cancelled,
            "ill",
        )
        .unwrap();
    let matches = c
        .desk
        .waitlist_matches_for_slot(&c.receptionist(), slot)
        .unwrap();
    assert_eq!(
        matches.iter().map(|e| e.id).collect::<Vec<_>>(),
        [e1.id, e2.id],
        "first come, first served; the picky ones do not match"
    );
    let booked = c
        .desk
        .book_from_waitlist(&c.receptionist(), e1.id, slot)
        .unwrap();
    assert_eq!((booked.patient_id, booked.slot_id), (early, slot));
    let entry = c
        .desk
        .waitlist_list(
            &c.admin(),
            &WaitlistFilter {
                include_closed: true,
                ..Default::default()
            },
        )
        .unwrap();
    let closed = entry.iter().find(|e| e.id == e1.id).unwrap();
    assert_eq!(
        (closed.status, closed.appointment_id),
        (WaitlistStatus::Booked, Some(booked.id)),
        "closed in the same step"
    );
    let err = c
        .desk
        .book_from_waitlist(&c.receptionist(), e2.id, slot)
        .unwrap_err();
    assert!(matches!(err, Error::SlotTaken), "the slot is gone: {err}");
    let open = c
        .desk
        .waitlist_list(&c.admin(), &WaitlistFilter::default())
        .unwrap();
    assert_eq!(open.len(), 3, "Bert and both of Cleo's entries still wait");
    c.desk.waitlist_remove(&c.receptionist(), e2.id).unwrap();
    assert_eq!(
        c.desk
            .waitlist_list(&c.admin(), &WaitlistFilter::default())
            .unwrap()
            .len(),
        2
    );
    c.assert_check();
}
}

on_both! {
    fn late_cancellations_and_no_shows_are_counted_per_patient(c) {
    let (c, d, p) = weekly_clinic(c);
    let ids = slot_ids(&c, d, "2030-01-14");
    let (early, late) = (
        book(&c, ids[0], p),
        book(&c, slot_ids(&c, d, "2030-01-21")[0], p),
    );
    let absent = book(&c, slot_ids(&c, d, "2030-01-28")[0], p);
    // a week ahead: not late
    c.desk
        .change_status(
            &c.admin(),
            early.id,
            early.version,
            AppointmentStatus::Cancelled,
            "plans changed",
        )
        .unwrap();
    // the 21st at 09:00 Berlin is 08:00 UTC; cancel at 2030-01-20 10:00 UTC, 22 hours before
    c.clock.set(NOW + 13 * 86_400 + 2 * 3600);
    c.desk
        .change_status(
            &c.admin(),
            late.id,
            late.version,
            AppointmentStatus::Cancelled,
            "overslept",
        )
        .unwrap();
    let confirmed = c
        .desk
        .change_status(
            &c.admin(),
            absent.id,
            absent.version,
            AppointmentStatus::Confirmed,
            "",
        )
        .unwrap();
    c.clock.set(NOW + 21 * 86_400 + 2 * 3600);
    c.desk
        .change_status(
            &c.admin(),
            absent.id,
            confirmed.version,
            AppointmentStatus::NoShow,
            "",
        )
        .unwrap();
    let a = c.desk.patient_attendance(&c.receptionist(), p).unwrap();
    assert_eq!(
        (a.late_cancellations, a.no_shows),
        (1, 1),
        "one late cancellation, one no-show: {a:?}"
    );
}
}

type Plan = (u8, u16, u16, u16);

fn plans() -> impl Strategy<Value = Vec<Plan>> {
    prop::collection::vec(
        (
            1u8..=7,
            0u16..20,
            1u16..8,
            prop::sample::select(vec![15u16, 20, 30, 45, 60]),
        ),
        1..6,
    )
}

/// Random templates and a clinic day off on `c` (moved to New York), a week
/// generated and partly booked, then other templates and the week generated again.
fn random_week_regenerated(
    c: Clinic,
    plans: &[Plan],
    off_day: i64,
    second: &[Plan],
) -> Result<(), TestCaseError> {
    let c = in_zone(c, "America/New_York");
    let d = c.doctor("Dr. Random");
    let add_all = |plans: &[Plan]| -> Vec<i64> {
        plans
            .iter()
            .filter_map(|(weekday, start_h, hours, len)| {
                let end_h = (start_h + hours).min(24);
                c.desk
                    .add_template(
                        &c.admin(),
                        &NewTemplate {
                            doctor_id: d,
                            weekday: *weekday,
                            start: format!("{start_h:02}:00"),
                            end: format!("{end_h:02}:00"),
                            slot_minutes: *len,
                            mode: SlotMode::InPerson,
                            breaks: vec![],
                        },
                    )
                    .ok()
                    .map(|t| t.id)
            })
            .collect()
    };
    let first = add_all(plans);
    let off = (day("2030-03-04") + chrono::Duration::days(off_day)).to_string();
    c.desk
        .add_time_off(
            &c.admin(),
            &NewTimeOff {
                doctor_id: None,
                from_date: off.clone(),
                to_date: off.clone(),
                hours: None,
                note: String::new(),
            },
        )
        .unwrap();
    generate(&c, "2030-03-04", "2030-03-17");
    // book a few, change the week, regenerate
    let p = c.patient("Pat Random", "0151 2345 6789");
    let free: Vec<i64> = c
        .desk
        .list_slots(
            &c.admin(),
            &SlotFilter {
                from: NOW,
                to: NOW + 400 * 86_400,
                doctor_id: Some(d),
                free_only: true,
            },
        )
        .unwrap()
        .iter()
        .step_by(7)
        .map(|v| v.slot.id)
        .collect();
    for s in &free {
        book(&c, *s, p);
    }
    for t in first {
        c.desk.remove_template(&c.admin(), t).unwrap();
    }
    add_all(second);
    let r = generate(&c, "2030-03-04", "2030-03-17");
    prop_assert!(
        r.kept_booked
            .iter()
            .all(|k| k.slot_id.is_some_and(|id| free.contains(&id))),
        "only booked slots are kept"
    );
    prop_assert_eq!(
        c.count("SELECT count(*) FROM appointment WHERE status = 'PENDING'") as usize,
        free.len(),
        "every booking survives"
    );
    let on_day_off = c.count(&format!(
        "SELECT count(*) FROM slot WHERE start_at >= {} AND start_at < {}",
        day_bounds(day(&off), chrono_tz::America::New_York).0,
        day_bounds(day(&off), chrono_tz::America::New_York).1
    ));
    prop_assert_eq!(on_day_off, 0, "no slot on the clinic's day off");
    let overlapping = c.count(
        "SELECT count(*) FROM slot s JOIN slot t ON t.doctor_id = s.doctor_id AND t.id < s.id
           AND t.start_at < s.end_at AND s.start_at < t.end_at",
    );
    prop_assert_eq!(overlapping, 0, "no two slots of the doctor overlap");
    if c.server.is_some() {
        c.assert_check();
    } else {
        let report = c.desk.check().unwrap();
        prop_assert!(
            report.ok,
            "check failed: {:?}",
            report.items.iter().filter(|i| !i.ok).collect::<Vec<_>>()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]
    #[test]
    fn random_templates_time_off_and_regeneration_never_store_overlapping_slots(
        plans in plans(),
        off_day in 0i64..14,
        second in plans(),
    ) {
        random_week_regenerated(Clinic::new(), &plans, off_day, &second)?;
    }

    #[test]
    fn random_templates_time_off_and_regeneration_never_store_overlapping_slots_on_postgres(
        plans in plans(),
        off_day in 0i64..14,
        second in plans(),
    ) {
        // each case on a fresh database of its own name (dropped at the next case)
        let name = crate::fixture::database_name(&format!("{}::random_week", module_path!()));
        if let Some(c) = Clinic::on_server(&name) {
            random_week_regenerated(c, &plans, off_day, &second)?;
        }
    }
}

on_both! {
    fn templates_time_off_generation_waitlist_series_and_overbooking_record_their_audit_events(c) {
    let (c, d, p) = weekly_clinic(c);
    let admin = c.admin();
    let newest = |c: &Clinic| {
        c.desk
            .list_audit(
                &admin,
                &AuditFilter {
                    limit: Some(1),
                    ..Default::default()
                },
            )
            .unwrap()[0]
            .id
    };
    let before = newest(&c);
    let q = c.patient("Quentin Squeeze", "0151 2345 1111");
    let w = c.patient("Wanda Waiting", "0151 2345 2222");
    let t = template(&c, d, 2, "09:00", "10:00", 30); // Tuesdays
    let off = c
        .desk
        .add_time_off(
            &admin,
            &NewTimeOff {
                doctor_id: Some(d),
                from_date: "2030-01-15".into(),
                to_date: "2030-01-15".into(),
                hours: Some(TimeRange {
                    start: "09:30".into(),
                    end: "10:00".into(),
                }),
                note: "dentist".into(),
            },
        )
        .unwrap();
    generate(&c, "2030-01-15", "2030-01-22");
    let waiting = c
        .desk
        .waitlist_add(
            &c.receptionist(),
            &NewWaitlistEntry {
                patient_id: w,
                doctor_id: d,
                note: "any time".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let mondays: Vec<i64> = ["2030-01-14", "2030-01-21", "2030-01-28"]
        .iter()
        .map(|date| slot_ids(&c, d, date)[0])
        .collect();
    let r = c
        .desk
        .book_series(
            &c.receptionist(),
            &series(mondays[0], p, 1, 3, SeriesMode::AllOrNothing),
        )
        .unwrap();
    let squeezed = c.desk.overbook(&admin, mondays[0], q, "acute pain").unwrap();
    let seen: Vec<SeenAppointment> = c
        .desk
        .series_rest(&admin, r.booked[1].id)
        .unwrap()
        .iter()
        .map(SeenAppointment::of)
        .collect();
    c.desk
        .cancel_series_rest(&admin, r.booked[1].id, &seen, "moved away")
        .unwrap();
    let from_waitlist = c
        .desk
        .book_from_waitlist(&c.receptionist(), waiting.id, mondays[1])
        .unwrap();
    let removed = c
        .desk
        .waitlist_add(
            &c.receptionist(),
            &NewWaitlistEntry {
                patient_id: q,
                doctor_id: d,
                ..Default::default()
            },
        )
        .unwrap();
    c.desk.waitlist_remove(&c.receptionist(), removed.id).unwrap();
    c.desk.remove_time_off(&admin, off.id).unwrap();
    c.desk.remove_template(&admin, t).unwrap();

    let mut events = c
        .desk
        .list_audit(
            &admin,
            &AuditFilter {
                from: Some(NOW),
                limit: Some(10_000),
                ..Default::default()
            },
        )
        .unwrap();
    events.retain(|e| e.id > before);
    events.reverse();
    // one line per row: who | what, on which record | the detail
    let got: Vec<String> = events
        .iter()
        .map(|e| match e.entity_id {
            Some(id) => format!("{} | {} {} {id} | {}", e.actor, e.action, e.entity, e.detail),
            None => format!("{} | {} {} | {}", e.actor, e.action, e.entity, e.detail),
        })
        .collect();
    let (ada, rita, cli) = (
        "Ada Admin (#1)",
        "Rita Desk (#2)",
        "cli (local administrator)",
    );
    let generated = "2030-01-15..2030-01-22 doctor all";
    let work = "created 3, removed 0, retired 0, kept booked 0, skipped 0";
    let (s, b, m) = (r.series_id, &r.booked, &mondays);
    let (entry, gone, moved) = (waiting.id, removed.id, from_waitlist.id);
    let expected = vec![
        format!("{cli} | patient.add patient {q} | "),
        format!("{cli} | patient.add patient {w} | "),
        format!("{ada} | template.add template {t} | doctor {d} Tuesday 09:00–10:00"),
        format!("{ada} | timeoff.add time_off {} | doctor {d} 2030-01-15..2030-01-15", off.id),
        format!("{ada} | slots.generate.part slot | {generated}, part 1 of 1: {work}"),
        format!("{ada} | slots.generate slot | {generated} in 1 parts: {work}"),
        format!("{rita} | waitlist.add waitlist_entry {entry} | doctor {d}"),
        format!("{rita} | appointment.book appointment {} | slot {}, series {s}", b[0].id, m[0]),
        format!("{rita} | appointment.book appointment {} | slot {}, series {s}", b[1].id, m[1]),
        format!("{rita} | appointment.book appointment {} | slot {}, series {s}", b[2].id, m[2]),
        format!("{rita} | series.book series {s} | every 1 weeks: 3 booked, 0 skipped"),
        format!("{ada} | appointment.overbook appointment {} | slot {}", squeezed.id, m[0]),
        format!(
            "{ada} | appointment.status appointment {} | PENDING -> CANCELLED (rest of series {s})",
            b[1].id
        ),
        format!(
            "{ada} | appointment.status appointment {} | PENDING -> CANCELLED (rest of series {s})",
            b[2].id
        ),
        format!("{rita} | appointment.book appointment {moved} | slot {}, waitlist entry {entry}", m[1]),
        format!("{rita} | waitlist.book waitlist_entry {entry} | appointment {moved}"),
        format!("{rita} | waitlist.add waitlist_entry {gone} | doctor {d}"),
        format!("{rita} | waitlist.remove waitlist_entry {gone} | "),
        format!("{ada} | timeoff.remove time_off {} | ", off.id),
        format!("{ada} | template.remove template {t} | "),
    ];
    assert_eq!(
        got, expected,
        "each operation's audit rows, in order: who, what, which record, the detail"
    );
    c.assert_check();
}
}

on_both! {
    fn the_schedule_waitlist_and_series_listings_answer_their_filters(c) {
    let (c, d, p) = weekly_clinic(c);
    let other_doctor = c.doctor("Dr. Other");
    let admin = c.admin();
    let t = c
        .desk
        .add_template(
            &admin,
            &NewTemplate {
                doctor_id: other_doctor,
                weekday: 3,
                start: "08:00".into(),
                end: "12:00".into(),
                slot_minutes: 60,
                mode: SlotMode::Video,
                breaks: vec![TimeRange {
                    start: "10:00".into(),
                    end: "10:30".into(),
                }],
            },
        )
        .unwrap();
    let all = c.desk.list_templates(&c.receptionist(), None).unwrap();
    assert_eq!(
        all.iter()
            .map(|t| (t.doctor_id, t.weekday, t.start.as_str(), t.end.as_str()))
            .collect::<Vec<_>>(),
        [(d, 1, "09:00", "10:00"), (other_doctor, 3, "08:00", "12:00")],
        "every doctor's templates, by doctor"
    );
    let theirs = c
        .desk
        .list_templates(&c.receptionist(), Some(other_doctor))
        .unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(
        (
            theirs[0].id,
            theirs[0].slot_minutes,
            theirs[0].mode,
            theirs[0].breaks.clone()
        ),
        (
            t.id,
            60,
            SlotMode::Video,
            vec![TimeRange {
                start: "10:00".into(),
                end: "10:30".into(),
            }]
        ),
        "one doctor's template with its break"
    );

    let off = |doctor: Option<i64>, from: &str, to: &str| {
        c.desk
            .add_time_off(
                &admin,
                &NewTimeOff {
                    doctor_id: doctor,
                    from_date: from.into(),
                    to_date: to.into(),
                    hours: None,
                    note: format!("{from} off"),
                },
            )
            .unwrap()
            .id
    };
    let early = off(Some(d), "2030-02-04", "2030-02-08");
    let holiday = off(None, "2030-02-18", "2030-02-18");
    let theirs_off = off(Some(other_doctor), "2030-03-01", "2030-03-10");
    let listed = |from: Option<&str>, to: Option<&str>, doctor: Option<i64>| -> Vec<i64> {
        c.desk
            .list_time_off(&c.receptionist(), from, to, doctor)
            .unwrap()
            .iter()
            .map(|t| t.id)
            .collect()
    };
    assert_eq!(listed(None, None, None), [early, holiday, theirs_off]);
    assert_eq!(
        listed(Some("2030-02-08"), None, None),
        [early, holiday, theirs_off],
        "the range touches the last day of the first"
    );
    assert_eq!(listed(Some("2030-02-09"), Some("2030-02-28"), None), [holiday]);
    assert_eq!(
        listed(None, None, Some(other_doctor)),
        [holiday, theirs_off],
        "a doctor's own time off and the clinic's"
    );

    let q = c.patient("Quentin Queue", "0151 2345 1111");
    let wait = |patient, doctor| {
        c.clock.advance(60);
        c.desk
            .waitlist_add(
                &c.receptionist(),
                &NewWaitlistEntry {
                    patient_id: patient,
                    doctor_id: doctor,
                    ..Default::default()
                },
            )
            .unwrap()
            .id
    };
    let (e1, e2, e3) = (wait(p, d), wait(q, d), wait(q, other_doctor));
    c.desk.waitlist_remove(&c.receptionist(), e2).unwrap();
    let entries = |filter: WaitlistFilter| -> Vec<i64> {
        c.desk
            .waitlist_list(&c.receptionist(), &filter)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect()
    };
    assert_eq!(entries(WaitlistFilter::default()), [e1, e3], "the open ones");
    assert_eq!(
        entries(WaitlistFilter {
            include_closed: true,
            ..Default::default()
        }),
        [e1, e2, e3],
        "oldest first, the removed one too"
    );
    assert_eq!(
        entries(WaitlistFilter {
            doctor_id: Some(d),
            include_closed: true,
            ..Default::default()
        }),
        [e1, e2]
    );
    assert_eq!(
        entries(WaitlistFilter {
            patient_id: Some(q),
            ..Default::default()
        }),
        [e3]
    );

    let r = c
        .desk
        .book_series(
            &c.receptionist(),
            &series(
                slot_ids(&c, d, "2030-01-14")[1],
                p,
                2,
                3,
                SeriesMode::AllOrNothing,
            ),
        )
        .unwrap();
    let single = book(&c, slot_ids(&c, d, "2030-01-21")[0], q);
    assert_eq!(
        c.desk
            .appointment_series_id(&c.receptionist(), r.booked[1].id)
            .unwrap(),
        Some(r.series_id)
    );
    assert_eq!(
        c.desk
            .appointment_series_id(&c.receptionist(), single.id)
            .unwrap(),
        None
    );
    let ids = |list: Vec<frontdesk::Appointment>| list.iter().map(|a| a.id).collect::<Vec<_>>();
    let booked = ids(r.booked.clone());
    assert_eq!(
        ids(c.desk.list_series(&c.receptionist(), r.series_id).unwrap()),
        booked
    );
    assert_eq!(
        ids(c.desk.series_rest(&c.receptionist(), r.booked[1].id).unwrap()),
        booked[1..],
        "the rest from the second occurrence on"
    );
    let view = c
        .desk
        .day_view(&c.receptionist(), day("2030-01-14"), Some(d))
        .unwrap();
    assert_eq!(
        (view.date.as_str(), view.time_zone.as_str()),
        ("2030-01-14", "Europe/Berlin")
    );
    assert_eq!(
        view.slots
            .iter()
            .map(|v| v.appointments.iter().map(|a| a.patient_id).collect::<Vec<_>>())
            .collect::<Vec<_>>(),
        [vec![], vec![p]],
        "09:00 free, 09:30 the series' first"
    );
    c.assert_check();
}
}
