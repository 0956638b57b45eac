use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use frontdesk::store::slots::SlotFilter;
use frontdesk::{BookRequest, Error, NewWaitlistEntry, WaitlistFilter, WaitlistStatus};

use crate::fixture::Clinic;
use crate::scheduling::{clinic_in, day, generate, template};

#[test]
fn regenerating_slots_while_four_desks_book_the_same_days_never_loses_a_booking_or_overlaps() {
    let c = clinic_in("Europe/Berlin");
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
        frontdesk::clinic::day_bounds(week.1, week.0).0,
        frontdesk::clinic::day_bounds(day("2030-01-18"), week.0).1,
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

#[test]
fn two_desks_booking_the_last_slot_from_the_waitlist_give_exactly_one_winner() {
    let c = Clinic::new();
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
