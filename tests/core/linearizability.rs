//! Recorded histories: many threads on two desks (two write paths, as two desk
//! processes would have) book, cancel and look at three slots; every call's
//! invocation and return are stamped from one global counter, and each slot's
//! history must be linearizable against the sequential slot book (free or held;
//! booking succeeds iff free; cancelling frees it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use frontdesk::linearizability::{check, partition, Event, SlotBook, SlotOp, SlotRet, SlotState};
use frontdesk::{AppointmentStatus, BookRequest, ErrorCode, Frontdesk};
use rand::Rng;

use crate::fixture::Clinic;

/// The live appointment on a slot, as the desk's day view would read it.
fn holder(desk: &Frontdesk, slot: i64) -> Option<i64> {
    desk.read(|c| {
        Ok(c.query_row(
            "SELECT max(id) FROM appointment WHERE slot_id = ?1 AND status <> 'CANCELLED' AND overbooked = 0",
            [slot],
            |r| r.get(0),
        )?)
    })
    .unwrap()
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
                        // cancel whatever the desk last saw on the slot (maybe stale)
                        let Some(id) = holder(desk, slot) else {
                            continue;
                        };
                        let invoked_cancel = clock.fetch_add(1, Ordering::SeqCst);
                        let r =
                            desk.change_status(admin, id, 1, AppointmentStatus::Cancelled, "lin");
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
                        (SlotOp::Look, SlotRet::Holder(holder(desk, slot)))
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
    for (slot, events) in partition(history, |op| op.0) {
        let events: Vec<Event<SlotOp, SlotRet>> = events
            .into_iter()
            .map(|e| Event {
                thread: e.thread,
                invoked: e.invoked,
                returned: e.returned,
                op: e.op.1,
                ret: e.ret,
            })
            .collect();
        let n = events.len();
        let verdict = check(&SlotBook, SlotState::default(), &events);
        assert!(
            verdict.is_ok(),
            "slot {slot}: its {n} operations have no sequential explanation: {verdict:?}"
        );
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
