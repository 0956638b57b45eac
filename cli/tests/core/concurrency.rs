use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::thread;

use frontdesk::{AppointmentStatus, BookRequest, Error, Frontdesk, Role};
use rand::Rng;

use crate::fixture::{self, PASSWORD};

fn book(
    desk: &Frontdesk,
    actor: &frontdesk::Actor,
    slot: i64,
    patient: i64,
) -> Result<frontdesk::Appointment, Error> {
    desk.book(
        actor,
        &BookRequest {
            slot_id: slot,
            patient_id: patient,
            reason: String::new(),
        },
    )
}

on_both! {
    fn thirty_two_threads_booking_one_slot_give_exactly_one_success(c) {
    let slot = c.slots(c.doctor("Dr. A"), 1)[0];
    let patients: Vec<i64> = (0..32)
        .map(|i| c.patient(&format!("P{i}"), &format!("0151 2345 {i:04}")))
        .collect();
    // two desks in this process: each has its own write queue, the lock file joins them
    let desks = [Arc::new(c.reopen()), Arc::new(c.reopen())];
    let barrier = Arc::new(Barrier::new(32));
    let handles: Vec<_> = patients
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let (desk, barrier, actor) = (desks[i % 2].clone(), barrier.clone(), c.receptionist());
            thread::spawn(move || {
                barrier.wait();
                book(&desk, &actor, slot, p)
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("no thread panics"))
        .collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let taken = results
        .iter()
        .filter(|r| matches!(r, Err(Error::SlotTaken)))
        .count();
    assert_eq!(
        (ok, taken),
        (1, 31),
        "exactly one booking wins, every other one is SlotTaken: {results:?}"
    );
    assert_eq!(c.count("SELECT count(*) FROM appointment"), 1);
    c.assert_check();
}
}

on_both! {
    fn many_threads_booking_random_slots_never_double_book(c) {
    let doctors: Vec<i64> = (0..3).map(|i| c.doctor(&format!("Dr. {i}"))).collect();
    let slots: Vec<i64> = doctors.iter().flat_map(|&d| c.slots(d, 10)).collect();
    let patients: Vec<i64> = (0..20)
        .map(|i| c.patient(&format!("P{i}"), &format!("0151 2345 {i:04}")))
        .collect();
    let desk = Arc::new(c.reopen());
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let (desk, slots, patients, actor) = (
                desk.clone(),
                slots.clone(),
                patients.clone(),
                c.receptionist(),
            );
            thread::spawn(move || {
                let mut rng = rand::rng();
                let mut won = Vec::new();
                for _ in 0..40 {
                    let slot = slots[rng.random_range(0..slots.len())];
                    match book(
                        &desk,
                        &actor,
                        slot,
                        patients[rng.random_range(0..patients.len())],
                    ) {
                        Ok(a) => won.push(a.slot_id),
                        Err(Error::SlotTaken) => {}
                        Err(e) => panic!("unexpected error {e:?}"),
                    }
                }
                won
            })
        })
        .collect();
    let won: Vec<i64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let distinct: HashSet<_> = won.iter().collect();
    assert_eq!(won.len(), distinct.len(), "no slot was won twice");
    assert_eq!(
        c.count("SELECT count(*) FROM appointment"),
        won.len() as i64,
        "every success is in the database, nothing else"
    );
    assert_eq!(
        won.len(),
        slots.len(),
        "640 attempts on 30 slots fill every slot"
    );
    c.assert_check();
}
}

on_both! {
    fn two_admins_changing_one_appointment_at_once_exactly_one_wins(c) {
    let slots = c.slots(c.doctor("Dr. A"), 20);
    let p = c.patient("Ann", "0151 2345 6789");
    let desks = [Arc::new(c.reopen()), Arc::new(c.reopen())];
    for slot in slots {
        let a = book(&c.desk, &c.receptionist(), slot, p).unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let moves = [AppointmentStatus::Confirmed, AppointmentStatus::Cancelled];
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let (desk, barrier, actor) = (desks[i].clone(), barrier.clone(), c.admin());
                thread::spawn(move || {
                    barrier.wait();
                    desk.change_status(&actor, a.id, a.version, moves[i], "admin decision")
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let wins = results.iter().filter(|r| r.is_ok()).count();
        let conflicts = results
            .iter()
            .filter(|r| matches!(r, Err(Error::Conflict { .. })))
            .count();
        assert_eq!(
            (wins, conflicts),
            (1, 1),
            "one wins, the other gets Conflict: {results:?}"
        );
        let history = c.desk.get_appointment(&c.admin(), a.id).unwrap().history;
        assert_eq!(
            history.len(),
            2,
            "history shows the booking and exactly one change"
        );
        let winner = results.into_iter().find_map(Result::ok).unwrap();
        assert_eq!(
            history[1].to_status, winner.status,
            "the stored change is the winner's"
        );
    }
    c.assert_check();
}
}

on_both! {
    fn eight_cli_processes_racing_for_one_slot_give_exactly_one_success(c) {
    let slots = c.slots(c.doctor("Dr. A"), 3);
    let patients: Vec<i64> = (0..8)
        .map(|i| c.patient(&format!("P{i}"), &format!("0151 2345 {i:04}")))
        .collect();
    // each process signs in as its own receptionist: eight sign-ins under one name
    // at once would be slowed down by the sign-in throttle, and the race spread out
    let desks: Vec<String> = (0..8)
        .map(|i| {
            let name = format!("desk{i}");
            c.account(&name, Role::Receptionist);
            name
        })
        .collect();
    let db = c.path();
    for slot in slots {
        let children: Vec<_> = patients
            .iter()
            .zip(&desks)
            .map(|(p, desk)| {
                fixture::cli_as(&db, desk, PASSWORD)
                    .args([
                        "book",
                        "--slot",
                        &slot.to_string(),
                        "--patient",
                        &p.to_string(),
                    ])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("start frontdesk")
            })
            .collect();
        let outcomes: Vec<_> = children
            .into_iter()
            .map(|ch| ch.wait_with_output().unwrap())
            .collect();
        let codes: Vec<i32> = outcomes
            .iter()
            .map(|o| o.status.code().unwrap_or(-1))
            .collect();
        assert_eq!(
            codes.iter().filter(|&&c| c == 0).count(),
            1,
            "exactly one process books slot {slot}: {codes:?}"
        );
        assert!(
            codes.iter().all(|&c| c == 0 || c == 1),
            "the others are refused by the rule (exit 1): {codes:?}"
        );
        for o in outcomes.iter().filter(|o| o.status.code() == Some(1)) {
            assert!(
                String::from_utf8_lossy(&o.stderr).contains("already booked"),
                "the refusal says why"
            );
        }
    }
    assert_eq!(c.count("SELECT count(*) FROM appointment"), 3);
    c.assert_check();
}
}

on_both! {
    fn blocking_a_slot_while_it_is_booked_never_leaves_a_booking_in_a_blocked_slot(c) {
    // on the server the booking is READ COMMITTED (fd_book) and the blocking
    // SERIALIZABLE: the block decides on its snapshot, so the booking must make
    // it run again, never let it block a slot that got booked meanwhile
    let doctor = c.doctor("Dr. Race");
    let patient = c.patient("Pat Race", "0151 2345 9999");
    let slots = c.slots(doctor, 60);
    let desks = [Arc::new(c.reopen()), Arc::new(c.reopen())];
    let (admin, desk_actor) = (c.admin(), c.receptionist());
    let (mut booked, mut blocked) = (0, 0);
    for slot in slots {
        let barrier = Arc::new(Barrier::new(2));
        let booking = {
            let (desk, barrier, actor) = (desks[0].clone(), barrier.clone(), desk_actor.clone());
            thread::spawn(move || {
                barrier.wait();
                book(&desk, &actor, slot, patient).is_ok()
            })
        };
        let blocking = {
            let (desk, barrier, actor) = (desks[1].clone(), barrier.clone(), admin.clone());
            thread::spawn(move || {
                barrier.wait();
                desk.set_slot_blocked(&actor, slot, true).is_ok()
            })
        };
        let (b, k) = (booking.join().unwrap(), blocking.join().unwrap());
        assert!(!(b && k), "slot {slot}: booked and blocked both succeeded");
        booked += usize::from(b);
        blocked += usize::from(k);
    }
    assert_eq!(booked + blocked, 60, "one of the two wins every round");
    assert_eq!(
        c.count(
            "SELECT count(*) FROM appointment a JOIN slot s ON s.id = a.slot_id
             WHERE s.blocked AND a.status <> 'CANCELLED'"
        ),
        0
    );
    c.assert_check();
}
}

/// On a server the desks' SERIALIZABLE writes take turns (schema 4's
/// `write_turn`): without the turn, cancellations of neighbouring appointments
/// refused each other as serialization failures (the server tracks their reads
/// by index page) and the core ran them again, up to seconds for the slowest.
/// These cancellations refund a deposit each, so they are such writes (one
/// without money is a single call, schema 6), and their refunds number their
/// receipts in one gapless run.
#[test]
fn cancellations_refunding_at_many_desks_on_the_server_take_turns_and_never_run_twice() {
    use frontdesk::domain::payments::LedgerKind;
    let Some(c) = crate::fixture::Clinic::on_server("cancel_turns") else {
        return;
    };
    let doctor = c.doctor("Dr. A");
    let patient = c.patient("Ann", "0151 2345 6789");
    let admin = c.admin();
    // no hour counts as late: each cancellation refunds the deposit
    c.desk
        .set_setting(&admin, "payments.late_cancel_hours", "0")
        .unwrap();
    let booked: Vec<frontdesk::Appointment> = c
        .slots(doctor, 64)
        .into_iter()
        .map(|slot| c.book_paid(slot, patient, 2000).appointment)
        .collect();
    let before = c.desk.metrics().unwrap();
    let before = before.get("status").map_or(0, |m| m.busy_retries);
    let barrier = Barrier::new(8);
    thread::scope(|s| {
        for desk in booked.chunks(8) {
            let (c, admin, barrier) = (&c, &admin, &barrier);
            s.spawn(move || {
                barrier.wait();
                for a in desk {
                    c.desk
                        .change_status(admin, a.id, a.version, AppointmentStatus::Cancelled, "ill")
                        .unwrap();
                }
            });
        }
    });
    let after = c.desk.metrics().unwrap();
    let status = after.get("status").expect("the cancellations' figures");
    assert_eq!(
        status.busy_retries - before,
        0,
        "no cancellation ran twice: {status:?}"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM appointment WHERE status = 'CANCELLED'"),
        64
    );
    for a in &booked {
        let account = c.desk.appointment_account(&admin, a.id).unwrap();
        let refunds = account
            .entries
            .iter()
            .filter(|e| e.kind == LedgerKind::Refund);
        assert_eq!(
            (refunds.count(), account.balance.refunded, account.due),
            (1, 2000, 0),
            "one refund of the deposit, nothing owed: {:?}",
            account.entries
        );
    }
    // 64 deposits, then 64 refunds: receipts 1 to 128 of the year, each once
    assert_eq!(
        c.count(
            "SELECT count(DISTINCT receipt_no) FROM ledger
             WHERE receipt_no BETWEEN 1 AND 128 AND kind IN ('PAYMENT', 'REFUND')"
        ),
        128
    );
    c.assert_check();
}
