//! Recorded histories: many threads on two desks (two write paths, as two desk
//! processes would have) book, cancel and look at three slots; every call's
//! invocation and return are stamped from one global counter, and each slot's
//! history must be linearizable against the sequential slot book (free or held;
//! booking succeeds iff free; cancelling frees it). A look goes through the desk's
//! own day view and records every live appointment it shows, so a second one on a
//! slot could not hide. The multi-process stress runs give their journals to the
//! same checker (`proof/src/stress/verify.rs`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use frontdesk::{Actor, AppointmentStatus, BookRequest, ErrorCode, Frontdesk};
use frontdesk_proof::linearizability::{
    check, check_slots, Event, SlotBook, SlotOp, SlotRet, SlotState,
};
use rand::Rng;

use crate::fixture::{Clinic, NOW};

/// What a desk shows on a slot, read through its own day view: every live
/// ordinary appointment there (id and version), however many there are.
fn on_slot(desk: &Frontdesk, actor: &Actor, slot: i64) -> Vec<(i64, i64)> {
    let day = frontdesk::domain::clinic::today(NOW, chrono_tz::UTC);
    desk.day_view(actor, day, None)
        .unwrap()
        .slots
        .into_iter()
        .find(|s| s.slot.id == slot)
        .expect("the slot is in its day's view")
        .appointments
        .into_iter()
        .filter(|a| !a.overbooked && a.status != AppointmentStatus::Cancelled)
        .map(|a| (a.id, a.version))
        .collect()
}

/// A look at the slot as the checker records it: two holders are recorded as
/// such (and can never be explained by the slot book).
fn seen(on: &[(i64, i64)]) -> SlotRet {
    match on {
        [] => SlotRet::Holder(None),
        [(a, _)] => SlotRet::Holder(Some(*a)),
        [(a, _), (b, _), ..] => SlotRet::Holders(*a, *b),
    }
}

#[test]
fn concurrent_bookings_and_cancellations_on_three_slots_are_linearizable() {
    let c = Clinic::new();
    let doctor = c.doctor("Dr. Lin");
    let slots = c.slots(doctor, 3);
    let patient = c.patient("Lina Lin", "0151 2345 6789");
    let desks = [c.reopen(), c.reopen()];
    let admin = c.admin();
    let clock = AtomicU64::new(0);
    let history: Mutex<Vec<Event<(i64, SlotOp), SlotRet>>> = Mutex::new(Vec::new());

    std::thread::scope(|s| {
        for thread in 0..8usize {
            let (desk, admin, clock, history, slots) =
                (&desks[thread % 2], &admin, &clock, &history, &slots);
            s.spawn(move || {
                let mut rng = rand::rng();
                let mut mine = Vec::new();
                for _ in 0..120 {
                    let slot = slots[rng.random_range(0..slots.len())];
                    let roll = rng.random_range(0..100);
                    let invoked = clock.fetch_add(1, Ordering::SeqCst);
                    let (op, ret) = if roll < 45 {
                        let r = desk.book(
                            admin,
                            &BookRequest {
                                slot_id: slot,
                                patient_id: patient,
                                reason: String::new(),
                            },
                        );
                        let ret = match r {
                            Ok(a) => SlotRet::Booked(a.id),
                            Err(e) if e.code() == ErrorCode::SlotTaken => SlotRet::Taken,
                            Err(e) => panic!("booking failed unexpectedly: {e:?}"),
                        };
                        (SlotOp::Book, ret)
                    } else if roll < 80 {
                        // cancel what the desk last saw on the slot, on the version it
                        // saw (maybe stale by now)
                        let Some(&(id, version)) = on_slot(desk, admin, slot).first() else {
                            continue;
                        };
                        let invoked_cancel = clock.fetch_add(1, Ordering::SeqCst);
                        let r = desk.change_status(
                            admin,
                            id,
                            version,
                            AppointmentStatus::Cancelled,
                            "lin",
                        );
                        let ret = match r {
                            Ok(_) => SlotRet::Cancelled,
                            Err(e)
                                if matches!(
                                    e.code(),
                                    ErrorCode::Conflict | ErrorCode::InvalidTransition
                                ) =>
                            {
                                SlotRet::NotLive
                            }
                            Err(e) => panic!("cancelling failed unexpectedly: {e:?}"),
                        };
                        let returned = clock.fetch_add(1, Ordering::SeqCst);
                        mine.push(Event {
                            thread,
                            invoked: invoked_cancel,
                            returned,
                            op: (slot, SlotOp::Cancel(id)),
                            ret,
                        });
                        continue;
                    } else {
                        (SlotOp::Look, seen(&on_slot(desk, admin, slot)))
                    };
                    let returned = clock.fetch_add(1, Ordering::SeqCst);
                    mine.push(Event {
                        thread,
                        invoked,
                        returned,
                        op: (slot, op),
                        ret,
                    });
                }
                history.lock().unwrap().extend(mine);
            });
        }
    });

    let history = history.into_inner().unwrap();
    let taken = history.iter().filter(|e| e.ret == SlotRet::Taken).count();
    let stale = history.iter().filter(|e| e.ret == SlotRet::NotLive).count();
    assert!(
        taken > 0 && stale > 0,
        "the threads should really race (taken {taken}, stale cancels {stale})"
    );
    if let Err(why) = check_slots(history) {
        panic!("{why}");
    }
    c.assert_check();
}

#[test]
fn the_checker_rejects_a_history_where_a_slot_was_booked_twice() {
    // what two desks without the write lock could produce: both saw the slot free
    let h = vec![
        Event {
            thread: 0,
            invoked: 0,
            returned: 3,
            op: SlotOp::Book,
            ret: SlotRet::Booked(1),
        },
        Event {
            thread: 1,
            invoked: 1,
            returned: 2,
            op: SlotOp::Book,
            ret: SlotRet::Booked(2),
        },
    ];
    assert!(
        check(&SlotBook, SlotState::default(), &h).is_err(),
        "a double booking must be rejected"
    );
}

#[test]
fn a_look_shows_every_live_appointment_so_a_double_booking_cannot_hide() {
    // what a broken booking without the unique index leaves: two live
    // appointments on one slot; reading only max(id) would show one holder
    let c = Clinic::new();
    let doctor = c.doctor("Dr. Twice");
    let slot = c.slots(doctor, 1)[0];
    let patient = c.patient("Lina Lin", "0151 2345 6789");
    let admin = c.admin();
    let first = c
        .desk
        .book(
            &admin,
            &BookRequest {
                slot_id: slot,
                patient_id: patient,
                reason: String::new(),
            },
        )
        .unwrap();
    c.desk
        .write("broken book", |tx| {
            tx.execute_batch("DROP INDEX appointment_one_live_per_slot")?;
            tx.execute(
                "INSERT INTO appointment (slot_id, doctor_id, patient_id, status, reason, overbooked, created_by, created_at, updated_by, updated_at)
                 SELECT slot_id, doctor_id, patient_id, 'PENDING', '', 0, 'broken', created_at, 'broken', updated_at FROM appointment WHERE id = ?1",
                [first.id],
            )?;
            Ok(())
        })
        .unwrap();
    let look = seen(&on_slot(&c.desk, &admin, slot));
    assert!(
        matches!(look, SlotRet::Holders(a, _) if a == first.id),
        "the desk's view shows both: {look:?}"
    );
    let history = [Event {
        thread: 0,
        invoked: 0,
        returned: 1,
        op: SlotOp::Look,
        ret: look,
    }];
    assert!(
        check(&SlotBook, SlotState::default(), &history).is_err(),
        "and no sequential slot book explains it"
    );
}
