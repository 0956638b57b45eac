use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use frontdesk::SlotFilter;
use frontdesk::{BookRequest, Error, NewWaitlistEntry, WaitlistFilter, WaitlistStatus};

use crate::fixture::Clinic;
use crate::scheduling::{day, generate, in_zone, template};

on_both! {
    fn regenerating_slots_while_four_desks_book_the_same_days_never_loses_a_booking_or_overlaps(c) {
    let c = in_zone(c, "Europe/Berlin");
    let d = c.doctor("Dr. Busy");
    let mut templates: Vec<i64> = (1..=5)
        .map(|wd| template(&c, d, wd, "08:00", "12:00", 30))
        .collect();
    generate(&c, "2030-01-14", "2030-01-18");
    let patients: Vec<i64> = (0..4)
        .map(|i| c.patient(&format!("Racer {i}"), &format!("0151 2345 {i:04}")))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    // the admin starts regenerating once every desk holds two bookings
    let started = Arc::new(Barrier::new(5));
    let week = (c.desk.settings().unwrap().tz(), day("2030-01-14"));
    let (from, to) = (
        frontdesk::domain::clinic::day_bounds(week.1, week.0).0,
        frontdesk::domain::clinic::day_bounds(day("2030-01-18"), week.0).1,
    );
    let handles: Vec<_> = patients
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let (desk, actor, stop, started) =
                (c.reopen(), c.receptionist(), stop.clone(), started.clone());
            thread::spawn(move || {
                let mut booked = Vec::new();
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) && booked.len() < 15 {
                    let free = desk
                        .list_slots(
                            &actor,
                            &SlotFilter {
                                from,
                                to,
                                doctor_id: Some(d),
                                free_only: true,
                            },
                        )
                        .unwrap();
                    if free.is_empty() {
                        break;
                    }
                    n += 1;
                    let slot = free[(n * 7 + i * 13) % free.len()].slot.id;
                    match desk.book(
                        &actor,
                        &BookRequest {
                            slot_id: slot,
                            patient_id: p,
                            reason: String::new(),
                        },
                    ) {
                        Ok(a) => {
                            booked.push(a.id);
                            if booked.len() == 2 {
                                started.wait();
                            }
                        }
                        // another desk got it, or generation just removed or blocked it
                        Err(Error::SlotTaken | Error::NotFound(_) | Error::Invalid(_)) => {}
                        Err(e) => panic!("unexpected error while booking: {e}"),
                    }
                }
                booked
            })
        })
        .collect();
    started.wait();
    let mut kept_booked = 0;
    // meanwhile the admin switches the week between 30- and 20-minute slots and regenerates
    for round in 0..6 {
        for t in templates.drain(..) {
            c.desk.remove_template(&c.admin(), t).unwrap();
        }
        let minutes = if round % 2 == 0 { 20 } else { 30 };
        templates = (1..=5)
            .map(|wd| template(&c, d, wd, "08:00", "12:00", minutes))
            .collect();
        kept_booked += generate(&c, "2030-01-14", "2030-01-18").kept_booked.len();
    }
    stop.store(true, Ordering::Relaxed);
    let booked: Vec<i64> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("no desk thread panics"))
        .collect();
    assert!(booked.len() >= 8, "every desk booked at least twice");
    assert!(
        kept_booked > 0,
        "regeneration met booked slots that no longer fit, and kept them"
    );
    for id in &booked {
        let a = c
            .desk
            .get_appointment(&c.admin(), *id)
            .expect("every booking still exists")
            .appointment;
        assert_eq!(
            a.status,
            frontdesk::AppointmentStatus::Pending,
            "appointment {id} is untouched"
        );
    }
    assert_eq!(
        c.count("SELECT count(*) FROM appointment WHERE status = 'PENDING'") as usize,
        booked.len(),
        "no booking lost"
    );
    c.assert_check();
}
}

on_both! {
    fn two_desks_booking_the_last_slot_from_the_waitlist_give_exactly_one_winner(c) {
    let d = c.doctor("Dr. Popular");
    let slot = c.slots(d, 1)[0];
    let entries: Vec<i64> = (0..2)
        .map(|i| {
            let p = c.patient(&format!("Waiting {i}"), &format!("0151 2345 {i:04}"));
            c.desk
                .waitlist_add(
                    &c.receptionist(),
                    &NewWaitlistEntry {
                        patient_id: p,
                        doctor_id: d,
                        ..Default::default()
                    },
                )
                .unwrap()
                .id
        })
        .collect();
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = entries
        .iter()
        .map(|&e| {
            let (desk, actor, barrier) = (c.reopen(), c.receptionist(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                desk.book_from_waitlist(&actor, e, slot)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners = results.iter().filter(|r| r.is_ok()).count();
    let losers = results
        .iter()
        .filter(|r| matches!(r, Err(Error::SlotTaken)))
        .count();
    assert_eq!(
        (winners, losers),
        (1, 1),
        "one desk wins, the other hears SlotTaken: {results:?}"
    );
    let all = c
        .desk
        .waitlist_list(
            &c.admin(),
            &WaitlistFilter {
                include_closed: true,
                ..Default::default()
            },
        )
        .unwrap();
    let statuses: Vec<WaitlistStatus> = all.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == WaitlistStatus::Booked)
            .count(),
        1,
        "only the winner's entry closed"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == WaitlistStatus::Open)
            .count(),
        1,
        "the loser still waits"
    );
    c.assert_check();
}
}

/// The local start `hh:mm` of `date` in the clinic's zone, as UTC seconds.
fn at(c: &Clinic, date: &str, hh_mm: &str) -> i64 {
    let tz = c.desk.settings().unwrap().tz();
    let (h, m) = hh_mm.split_once(':').unwrap();
    frontdesk::domain::clinic::day_bounds(day(date), tz).0
        + h.parse::<i64>().unwrap() * 3600
        + m.parse::<i64>().unwrap() * 60
}

/// The id of `doctor`'s slot starting at that local time.
fn slot_at(c: &Clinic, doctor: i64, date: &str, hh_mm: &str) -> i64 {
    c.count(&format!(
        "SELECT id FROM slot WHERE doctor_id = {doctor} AND start_at = {}",
        at(c, date, hh_mm)
    ))
}

fn book_at(desk: &frontdesk::Frontdesk, c: &Clinic, slot_id: i64, patient: i64) -> i64 {
    desk.book(
        &c.receptionist(),
        &BookRequest {
            slot_id,
            patient_id: patient,
            reason: String::new(),
        },
    )
    .expect("the slot is free")
    .id
}

/// Every slot (without its id): doctor, start, end, template, blocked, and the
/// statuses of its appointments.
type Layout = Vec<(i64, i64, i64, Option<i64>, bool, Option<String>)>;

fn layout(c: &Clinic) -> Layout {
    if let Some((server, _)) = &c.server {
        return server
            .session()
            .unwrap()
            .query(
                "SELECT s.doctor_id, s.start_at, s.end_at, s.template_id, s.blocked,
                        (SELECT string_agg(a.status, ',' ORDER BY a.id) FROM appointment a
                          WHERE a.slot_id = s.id)
                 FROM slot s ORDER BY s.doctor_id, s.start_at",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
            .collect();
    }
    c.desk
        .read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT s.doctor_id, s.start_at, s.end_at, s.template_id, s.blocked,
                        (SELECT group_concat(a.status) FROM appointment a WHERE a.slot_id = s.id)
                 FROM slot s ORDER BY s.doctor_id, s.start_at",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<Layout>>()?)
        })
        .unwrap()
}

/// A second empty clinic on the backend a test runs on: another file, or
/// another database (named after `name`) on the server. Make it only once the
/// test's own clinic is dropped: each clinic on the server holds the server
/// (see [`crate::fixture::server::shared`]), and a thread must not take that
/// hold twice.
fn another_like(on_server: bool, name: &str) -> Clinic {
    if on_server {
        Clinic::on_server(&crate::fixture::database_name(name)).expect("the test's server")
    } else {
        Clinic::new()
    }
}

/// Two doctors had two weeks of 30-minute mornings generated; one of Dr. A's slots
/// is booked and one carries a cancelled appointment; then Dr. A switched to
/// 20-minute slots and took Thursday the 24th off. The next generation creates,
/// removes, blocks, keeps booked and skips. Returns the clinic, Dr. A, Dr. B and a
/// patient.
fn clinic_with_a_changed_week(c: Clinic) -> (Clinic, i64, i64, i64) {
    let c = in_zone(c, "Europe/Berlin");
    let (a, b) = (c.doctor("Dr. A"), c.doctor("Dr. B"));
    let p = c.patient("Maria Booked", "0151 2345 6789");
    let old: Vec<i64> = (1..=5)
        .map(|wd| template(&c, a, wd, "08:00", "12:00", 30))
        .collect();
    for wd in 1..=5 {
        template(&c, b, wd, "08:00", "12:00", 30);
    }
    generate(&c, "2030-01-14", "2030-01-25");
    book_at(&c.desk, &c, slot_at(&c, a, "2030-01-14", "09:30"), p);
    let cancelled = book_at(&c.desk, &c, slot_at(&c, a, "2030-01-15", "10:30"), p);
    c.desk
        .change_status(
            &c.admin(),
            cancelled,
            1,
            frontdesk::AppointmentStatus::Cancelled,
            "ill",
        )
        .unwrap();
    for t in old {
        c.desk.remove_template(&c.admin(), t).unwrap();
    }
    for wd in 1..=5 {
        template(&c, a, wd, "08:00", "12:00", 20);
    }
    c.desk
        .add_time_off(
            &c.admin(),
            &frontdesk::NewTimeOff {
                doctor_id: Some(a),
                from_date: "2030-01-24".into(),
                to_date: "2030-01-24".into(),
                hours: None,
                note: "conference".into(),
            },
        )
        .unwrap();
    (c, a, b, p)
}

fn counts(r: &frontdesk::GenerationReport) -> [usize; 6] {
    [
        r.created.len(),
        r.removed.len(),
        r.retired.len(),
        r.kept_booked.len(),
        r.skipped_overlaps.len(),
        r.unchanged as usize,
    ]
}

on_both! {
    fn a_generation_in_parts_lets_a_desk_book_between_parts_and_ends_as_one_transaction_would(c) {
    let (c, a, b, p) = clinic_with_a_changed_week(c);
    // Dr. A's old 10:00-10:30 slot on the 22nd no longer fits (it would be removed);
    // Dr. B's 11:00 on the 25th stays as it is
    let doomed = slot_at(&c, a, "2030-01-22", "10:00");
    let unchanged = slot_at(&c, b, "2030-01-25", "11:00");
    let desk = c.reopen();
    let mut parts = (0, 0);
    let mut between = |done: usize, all: usize| {
        if done == 1 {
            // another desk books while the generation is between its parts
            book_at(&desk, &c, doomed, p);
            book_at(&desk, &c, unchanged, p);
        }
        parts = (done, all);
        true
    };
    let r = c
        .desk
        .generate_slots_in_steps(
            &c.admin(),
            day("2030-01-14"),
            day("2030-01-25"),
            None,
            frontdesk::GenerationSteps {
                writes_per_part: 10,
                between_parts: &mut between,
            },
        )
        .expect("the generation finishes");
    assert!(
        parts.1 > 10 && parts.0 == parts.1 - 1,
        "the work ran in more than ten parts with a pause after each but the last: {parts:?}"
    );
    assert!(
        r.kept_booked.iter().any(|s| s.slot_id == Some(doomed)),
        "the slot booked between two parts is kept and reported: {:?}",
        r.kept_booked
    );
    assert!(
        !r.removed.iter().any(|s| s.slot_id == Some(doomed)),
        "the slot booked between two parts is not removed"
    );
    let in_parts = layout(&c);
    c.assert_check();
    let on_server = c.server.is_some();
    drop(desk);
    drop(c);

    // the same clinic, the same bookings made before one single-part generation
    let reference = another_like(on_server, &format!("{}::reference", module_path!()));
    let (reference, ra, rb, rp) = clinic_with_a_changed_week(reference);
    book_at(
        &reference.desk,
        &reference,
        slot_at(&reference, ra, "2030-01-22", "10:00"),
        rp,
    );
    book_at(
        &reference.desk,
        &reference,
        slot_at(&reference, rb, "2030-01-25", "11:00"),
        rp,
    );
    let one = generate(&reference, "2030-01-14", "2030-01-25");
    assert_eq!(
        counts(&r),
        counts(&one),
        "the parts created, removed, blocked, kept, skipped and left what one run does"
    );
    assert!(
        one.created.len() > 50 && one.removed.len() > 30 && one.retired.len() == 1,
        "the week change gives every kind of work: {:?}",
        counts(&one)
    );
    assert_eq!(
        in_parts,
        layout(&reference),
        "the same slots, blocks and bookings as after one transaction"
    );
    reference.assert_check();
}
}

on_both! {
    fn a_generation_stopped_midway_is_finished_by_running_it_again_with_the_result_of_one_run(c) {
    let (c, _, _, _) = clinic_with_a_changed_week(c);
    let before = layout(&c);
    let runs = "SELECT count(*) FROM audit_event WHERE action = 'slots.generate'";
    let part_rows = "SELECT count(*) FROM audit_event WHERE action = 'slots.generate.part'";
    let (runs_before, parts_before) = (c.count(runs), c.count(part_rows));
    let mut stop_after_three = |done: usize, _all: usize| done < 3;
    let stopped = c.desk.generate_slots_in_steps(
        &c.admin(),
        day("2030-01-14"),
        day("2030-01-25"),
        None,
        frontdesk::GenerationSteps {
            writes_per_part: 10,
            between_parts: &mut stop_after_three,
        },
    );
    assert!(
        matches!(stopped, Err(Error::Internal(_))),
        "the run stops after three parts, as a crash between parts would: {stopped:?}"
    );
    let midway = layout(&c);
    assert_ne!(midway, before, "three parts were committed");
    assert_eq!(
        (c.count(runs), c.count(part_rows)),
        (runs_before, parts_before + 3),
        "each committed part has its audit row; the unfinished run has no summary row"
    );
    c.assert_check();

    let rerun = generate(&c, "2030-01-14", "2030-01-25");
    let after_rerun = layout(&c);
    assert_eq!(
        c.count(runs),
        runs_before + 1,
        "the finished run's summary row"
    );
    let again = generate(&c, "2030-01-14", "2030-01-25");
    assert_eq!(
        (
            again.created.len(),
            again.removed.len(),
            again.retired.len()
        ),
        (0, 0, 0),
        "a third run finds nothing left to do"
    );
    c.assert_check();
    let on_server = c.server.is_some();
    drop(c);

    // the same clinic, generated in one uninterrupted run
    let reference = another_like(on_server, &format!("{}::reference", module_path!()));
    let (reference, _, _, _) = clinic_with_a_changed_week(reference);
    let one = generate(&reference, "2030-01-14", "2030-01-25");
    assert_eq!(
        after_rerun,
        layout(&reference),
        "the rerun ends where one uninterrupted run ends"
    );
    assert!(
        rerun.created.len() + rerun.removed.len() + rerun.retired.len()
            < one.created.len() + one.removed.len() + one.retired.len(),
        "the rerun did only what the stopped run had left"
    );
    reference.assert_check();
}
}

on_both! {
    fn applying_a_preview_after_the_template_was_replaced_under_the_same_id_is_refused_as_stale(c) {
    let c = in_zone(c, "Europe/Berlin");
    let d = c.doctor("Dr. Preview");
    let t = template(&c, d, 1, "08:00", "10:00", 30);
    let (from, to) = (day("2030-01-14"), day("2030-01-14"));
    let preview = c
        .desk
        .generate_slots(&c.admin(), from, to, None, true)
        .unwrap();
    assert_eq!(
        preview.created.len(),
        4,
        "the preview shows four 30-minute slots"
    );
    // meanwhile another desk replaces the template: the new one gets the freed id, so
    // the templates' count and highest id are what they were at the preview
    let other = c.reopen();
    other.remove_template(&c.admin(), t).unwrap();
    if c.server.is_some() {
        // SQLite hands the highest id out again by itself; a server's identity
        // never does, so it is wound back to the freed id here
        c.count(&format!(
            "SELECT setval(pg_get_serial_sequence('schedule_template', 'id'), {t}, false)"
        ));
    }
    let replaced = other
        .add_template(
            &c.admin(),
            &frontdesk::NewTemplate {
                doctor_id: d,
                weekday: 1,
                start: "09:00".into(),
                end: "11:00".into(),
                slot_minutes: 20,
                mode: frontdesk::SlotMode::InPerson,
                breaks: vec![],
            },
        )
        .unwrap();
    assert_eq!(replaced.id, t, "the replacement has the deleted template's id");
    let stale =
        c.desk
            .generate_slots_as_previewed(&c.admin(), from, to, None, &preview.preview_token);
    assert!(
        matches!(stale, Err(Error::Conflict { .. })),
        "the preview no longer shows what would happen, so applying it is refused: {stale:?}"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM slot"),
        0,
        "nothing was generated from the stale preview"
    );
    let fresh = c
        .desk
        .generate_slots(&c.admin(), from, to, None, true)
        .unwrap();
    assert_ne!(fresh.preview_token, preview.preview_token);
    let done = c
        .desk
        .generate_slots_as_previewed(&c.admin(), from, to, None, &fresh.preview_token)
        .expect("a fresh preview applies");
    assert_eq!(
        done.created.len(),
        6,
        "the six 20-minute slots the fresh preview showed"
    );
    assert_eq!(
        counts(&done),
        counts(&fresh),
        "what was previewed was applied"
    );
    c.assert_check();
}
}

on_both! {
    fn booking_a_slot_the_preview_would_remove_makes_it_stale_and_booking_one_it_keeps_does_not(c) {
    let c = in_zone(c, "Europe/Berlin");
    let (a, b) = (c.doctor("Dr. A"), c.doctor("Dr. B"));
    let p = c.patient("Maria Booked", "0151 2345 6789");
    let t = template(&c, a, 1, "08:00", "10:00", 30);
    template(&c, b, 1, "08:00", "10:00", 30);
    generate(&c, "2030-01-14", "2030-01-14");
    // Dr. A moves to hour-long slots: the preview removes the four half hours
    c.desk.remove_template(&c.admin(), t).unwrap();
    template(&c, a, 1, "08:00", "10:00", 60);
    let (from, to) = (day("2030-01-14"), day("2030-01-14"));
    let preview = c
        .desk
        .generate_slots(&c.admin(), from, to, None, true)
        .unwrap();
    assert_eq!(
        (preview.removed.len(), preview.created.len()),
        (4, 2),
        "four half hours go, two hours come"
    );
    let desk = c.reopen();
    book_at(&desk, &c, slot_at(&c, b, "2030-01-14", "08:00"), p);
    let again = c
        .desk
        .generate_slots(&c.admin(), from, to, None, true)
        .unwrap();
    assert_eq!(
        again.preview_token, preview.preview_token,
        "a booking of a slot the preview leaves alone changes nothing it showed"
    );
    book_at(&desk, &c, slot_at(&c, a, "2030-01-14", "09:30"), p);
    let stale =
        c.desk
            .generate_slots_as_previewed(&c.admin(), from, to, None, &preview.preview_token);
    assert!(
        matches!(stale, Err(Error::Conflict { .. })),
        "the preview would remove a slot that is booked now: {stale:?}"
    );
    let fresh = c
        .desk
        .generate_slots(&c.admin(), from, to, None, true)
        .unwrap();
    let done = c
        .desk
        .generate_slots_as_previewed(&c.admin(), from, to, None, &fresh.preview_token)
        .unwrap();
    assert_eq!(
        done.kept_booked.len(),
        1,
        "the booked half hour is kept, as the fresh preview said"
    );
    assert_eq!(counts(&done), counts(&fresh));
    c.assert_check();
}
}

on_both! {
    // on the server the plain booking is READ COMMITTED (fd_book) and the series
    // SERIALIZABLE: a date the series saw free and a desk booked meanwhile must be
    // skipped (the series runs again and sees it), never fail the whole series
    fn a_series_booking_what_is_free_skips_a_date_a_desk_books_meanwhile(c) {
    let c = in_zone(c, "Europe/Berlin");
    let d = c.doctor("Dr. Weekly");
    template(&c, d, 1, "09:00", "11:00", 30);
    generate(&c, "2030-01-14", "2030-12-30");
    let petra = c.patient("Petra Weekly", "0151 2345 6789");
    let otto = c.patient("Otto Other", "0151 2345 0000");
    // the Mondays' slots, by date and time
    let slots: Vec<frontdesk::SlotView> = c
        .desk
        .list_slots(
            &c.admin(),
            &SlotFilter {
                from: 0,
                to: i64::MAX,
                doctor_id: Some(d),
                free_only: false,
            },
        )
        .unwrap();
    let desks = [std::sync::Arc::new(c.reopen()), std::sync::Arc::new(c.reopen())];
    // a round per 09:00-09:30 … 10:30 start in the first weeks: the series takes
    // three weeks from it, the desk books its second week at the same moment
    let per_week = 4;
    for round in 0..12 {
        let first = slots[(round / per_week) * 3 * per_week + round % per_week].slot.id;
        let second = slots[(round / per_week) * 3 * per_week + per_week + round % per_week].slot.id;
        let barrier = Arc::new(Barrier::new(2));
        let series = {
            let (desk, barrier, actor) = (desks[0].clone(), barrier.clone(), c.receptionist());
            thread::spawn(move || {
                barrier.wait();
                desk.book_series(
                    &actor,
                    &frontdesk::SeriesRequest {
                        first_slot_id: first,
                        patient_id: petra,
                        every_weeks: 1,
                        count: Some(3),
                        until: None,
                        mode: frontdesk::SeriesMode::BookWhatIsFree,
                        reason: String::new(),
                    },
                )
            })
        };
        let single = {
            let (desk, barrier, actor) = (desks[1].clone(), barrier.clone(), c.receptionist());
            thread::spawn(move || {
                barrier.wait();
                desk.book(
                    &actor,
                    &BookRequest {
                        slot_id: second,
                        patient_id: otto,
                        reason: String::new(),
                    },
                )
            })
        };
        let (series, single) = (series.join().unwrap(), single.join().unwrap());
        let series = series.unwrap_or_else(|e| panic!("round {round}: the series failed: {e}"));
        let took_second = series.booked.iter().any(|a| a.slot_id == second);
        match single {
            Ok(_) => assert!(!took_second, "round {round}: both booked slot {second}"),
            Err(Error::SlotTaken) => assert!(took_second, "round {round}: nobody booked {second}"),
            Err(e) => panic!("round {round}: the desk's booking failed: {e}"),
        }
        assert_eq!(series.booked.len() + series.skipped.len(), 3);
    }
    c.assert_check();
}
}
