//! Undo of one's own booking, cancellation, check-in and block within the window:
//! allowed, refused when the record changed meanwhile, for another person's change,
//! after the window, or when the slot went; audited as undos; `check` passes.

use std::sync::{Arc, Barrier};

use frontdesk::{
    Actor, AppointmentStatus, AuditFilter, BookRequest, Error, Role, Undo, UNDO_LIMIT_SECS,
};

use serde_json::json;

use crate::fixture::Clinic;

fn req(slot: i64, patient: i64) -> BookRequest {
    BookRequest {
        slot_id: slot,
        patient_id: patient,
        reason: "Check-up".into(),
    }
}

/// A second receptionist, to make changes that are not Rita's.
fn other_receptionist() -> Actor {
    Actor::staff(3, "Otto Desk", Role::Receptionist)
}

/// The audit actions recorded for one record, oldest first (as the admins'
/// audit listing shows them).
fn audit_actions(c: &Clinic, entity: &str, id: i64) -> Vec<String> {
    let mut events = c
        .desk
        .list_audit(
            &Actor::local_admin(),
            &AuditFilter {
                entity: Some(entity.into()),
                entity_id: Some(id),
                limit: Some(10_000),
                ..Default::default()
            },
        )
        .unwrap();
    events.reverse();
    events.into_iter().map(|e| e.action).collect()
}

/// `c` with one doctor, two slots and a patient.
fn clinic(c: Clinic) -> (Clinic, Vec<i64>, i64) {
    let d = c.doctor("Dr. Undo");
    let slots = c.slots(d, 2);
    let p = c.patient("Una Undo", "0151 2345 6789");
    (c, slots, p)
}

on_both! {
    fn a_receptionist_undoes_their_own_booking_and_the_slot_is_free_again(c) {
    let (c, slots, p) = clinic(c);
    let rita = c.receptionist();
    let booked = c.desk.book(&rita, &req(slots[0], p)).unwrap();
    c.clock.advance(9);
    let undone = c
        .desk
        .undo(
            &rita,
            &Undo::Book {
                appointment_id: booked.id,
                version: booked.version,
            },
        )
        .expect("a receptionist may undo their own booking, though they may not cancel");
    let a = undone.appointment.expect("the appointment");
    assert_eq!(
        a.status,
        AppointmentStatus::Cancelled,
        "an undone booking no longer holds the slot"
    );
    assert_eq!(
        a.cancel_reason, None,
        "an undo is not a cancellation with a made-up reason"
    );
    assert_eq!(
        audit_actions(&c, "appointment", booked.id),
        ["appointment.book", "appointment.undo_book"],
        "audited as an undo of the booking, not as a cancel"
    );
    let history = c.desk.get_appointment(&rita, booked.id).unwrap().history;
    assert_eq!(history.last().unwrap().note, "booking undone");
    // the slot takes a booking again
    c.desk
        .book(&rita, &req(slots[0], c.patient("Next", "0151 2345 0001")))
        .expect("the slot is free again");
    c.assert_check();
}
}

on_both! {
    fn an_undone_cancellation_books_the_same_slot_again_in_its_earlier_status(c) {
    let (c, slots, p) = clinic(c);
    let admin = c.admin();
    let a = c.desk.book(&c.receptionist(), &req(slots[0], p)).unwrap();
    let a = c
        .desk
        .change_status(&admin, a.id, a.version, AppointmentStatus::Confirmed, "")
        .unwrap();
    let cancelled = c
        .desk
        .change_status(
            &admin,
            a.id,
            a.version,
            AppointmentStatus::Cancelled,
            "phoned",
        )
        .unwrap();
    c.clock.advance(3);
    let back = c
        .desk
        .undo(
            &admin,
            &Undo::Cancel {
                appointment_id: a.id,
                version: cancelled.version,
            },
        )
        .unwrap()
        .appointment
        .unwrap();
    assert_eq!(
        back.status,
        AppointmentStatus::Confirmed,
        "the status before the cancellation"
    );
    assert_eq!(back.slot_id, slots[0], "the same slot");
    assert_eq!(
        back.cancel_reason, None,
        "the cancellation's reason is gone with it"
    );
    assert_eq!(
        audit_actions(&c, "appointment", a.id)
            .last()
            .map(String::as_str),
        Some("appointment.undo_cancel")
    );
    let err = c
        .desk
        .book(
            &c.receptionist(),
            &req(slots[0], c.patient("Late", "0151 2345 0002")),
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::SlotTaken),
        "the slot is held again: {err:?}"
    );
    c.assert_check();
}
}

on_both! {
    fn an_undone_check_in_puts_back_the_status_the_history_names(c) {
    let (c, slots, p) = clinic(c);
    let rita = c.receptionist();
    let a = c.desk.book(&rita, &req(slots[0], p)).unwrap();
    let a = c
        .desk
        .change_status(
            &c.admin(),
            a.id,
            a.version,
            AppointmentStatus::Confirmed,
            "",
        )
        .unwrap();
    let arrived = c
        .desk
        .change_status(&rita, a.id, a.version, AppointmentStatus::Arrived, "")
        .unwrap();
    let back = c
        .desk
        .undo(
            &rita,
            &Undo::CheckIn {
                appointment_id: a.id,
                version: arrived.version,
            },
        )
        .expect(
            "the state machine refuses ARRIVED → CONFIRMED, the undo of one's check-in does not",
        )
        .appointment
        .unwrap();
    assert_eq!(back.status, AppointmentStatus::Confirmed);
    let history = c.desk.get_appointment(&rita, a.id).unwrap().history;
    let last = history.last().unwrap();
    assert_eq!(
        (last.from_status, last.to_status, last.note.as_str()),
        (
            Some(AppointmentStatus::Arrived),
            AppointmentStatus::Confirmed,
            "check-in undone"
        )
    );
    assert_eq!(
        audit_actions(&c, "appointment", a.id)
            .last()
            .map(String::as_str),
        Some("appointment.undo_check_in")
    );
    c.assert_check();
}
}

on_both! {
    fn an_undone_block_unblocks_the_slot_once(c) {
    let (c, slots, p) = clinic(c);
    let admin = c.admin();
    c.desk.set_slot_blocked(&admin, slots[1], true).unwrap();
    let undone = c
        .desk
        .undo(&admin, &Undo::Block { slot_id: slots[1] })
        .unwrap();
    assert!(!undone.slot.expect("the slot").blocked, "unblocked");
    assert_eq!(
        audit_actions(&c, "slot", slots[1])
            .last()
            .map(String::as_str),
        Some("slot.undo_block")
    );
    let again = c
        .desk
        .undo(&admin, &Undo::Block { slot_id: slots[1] })
        .unwrap_err();
    assert!(
        matches!(again, Error::Invalid(_)),
        "a second undo has nothing to undo: {again:?}"
    );
    c.desk
        .book(&c.receptionist(), &req(slots[1], p))
        .expect("bookable again");
    // a receptionist may not block, so may not undo a block either
    c.desk.set_slot_blocked(&admin, slots[0], true).unwrap();
    let err = c
        .desk
        .undo(&c.receptionist(), &Undo::Block { slot_id: slots[0] })
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
    c.assert_check();
}
}

on_both! {
    fn an_undo_is_refused_after_the_window(c) {
    let (c, slots, p) = clinic(c);
    let rita = c.receptionist();
    let booked = c.desk.book(&rita, &req(slots[0], p)).unwrap();
    c.desk.set_slot_blocked(&c.admin(), slots[1], true).unwrap();
    c.clock.advance(UNDO_LIMIT_SECS + 1);
    let err = c
        .desk
        .undo(
            &rita,
            &Undo::Book {
                appointment_id: booked.id,
                version: booked.version,
            },
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(m) if m.contains("too late")),
        "after the window the booking stays: {err:?}"
    );
    let err = c
        .desk
        .undo(&c.admin(), &Undo::Block { slot_id: slots[1] })
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(m) if m.contains("too late")),
        "{err:?}"
    );
    let a = c
        .desk
        .get_appointment(&rita, booked.id)
        .unwrap()
        .appointment;
    assert_eq!(a.status, AppointmentStatus::Pending, "nothing changed");
    c.assert_check();
}
}

on_both! {
    fn an_undo_of_another_person_s_change_is_refused(c) {
    let (c, slots, p) = clinic(c);
    let booked = c.desk.book(&c.receptionist(), &req(slots[0], p)).unwrap();
    let err = c
        .desk
        .undo(
            &other_receptionist(),
            &Undo::Book {
                appointment_id: booked.id,
                version: booked.version,
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Forbidden(_)),
        "Otto cannot undo Rita's booking: {err:?}"
    );
    // an admin may cancel it, but that is a cancellation, not an undo
    let err = c
        .desk
        .undo(
            &c.admin(),
            &Undo::Book {
                appointment_id: booked.id,
                version: booked.version,
            },
        )
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
    c.desk.set_slot_blocked(&c.admin(), slots[1], true).unwrap();
    let other_admin = Actor::staff(4, "Adam Other", Role::Admin);
    let err = c
        .desk
        .undo(&other_admin, &Undo::Block { slot_id: slots[1] })
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
    c.assert_check();
}
}

on_both! {
    fn an_undo_is_refused_when_the_record_changed_meanwhile(c) {
    let (c, slots, p) = clinic(c);
    let rita = c.receptionist();
    let booked = c.desk.book(&rita, &req(slots[0], p)).unwrap();
    c.desk
        .change_status(
            &c.admin(),
            booked.id,
            booked.version,
            AppointmentStatus::Confirmed,
            "",
        )
        .unwrap();
    let err = c
        .desk
        .undo(
            &rita,
            &Undo::Book {
                appointment_id: booked.id,
                version: booked.version,
            },
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { current, .. } if current == "CONFIRMED" || current.contains("onfirm")),
        "confirmed meanwhile: the booking stays, {err:?}"
    );
    // a reschedule of one's own booking is a change too
    let booked = c
        .desk
        .book(&rita, &req(slots[1], c.patient("Two", "0151 2345 0003")))
        .unwrap();
    let moved_to = c.slots(booked.doctor_id, 1)[0];
    c.desk
        .reschedule(&rita, booked.id, booked.version, moved_to)
        .unwrap();
    let err = c
        .desk
        .undo(
            &rita,
            &Undo::Book {
                appointment_id: booked.id,
                version: booked.version,
            },
        )
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    // a block undone after someone unblocked and blocked again is not the same block
    let admin = c.admin();
    let slot = c.slots(booked.doctor_id, 1)[0];
    c.desk.set_slot_blocked(&admin, slot, true).unwrap();
    let other_admin = Actor::staff(4, "Adam Other", Role::Admin);
    c.desk.set_slot_blocked(&other_admin, slot, false).unwrap();
    let err = c
        .desk
        .undo(&admin, &Undo::Block { slot_id: slot })
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    c.assert_check();
}
}

on_both! {
    fn an_undone_cancellation_is_refused_when_the_slot_was_taken_meanwhile(c) {
    let (c, slots, p) = clinic(c);
    let admin = c.admin();
    let a = c.desk.book(&admin, &req(slots[0], p)).unwrap();
    let cancelled = c
        .desk
        .change_status(
            &admin,
            a.id,
            a.version,
            AppointmentStatus::Cancelled,
            "phoned",
        )
        .unwrap();
    c.desk
        .book(
            &c.receptionist(),
            &req(slots[0], c.patient("Quick", "0151 2345 0004")),
        )
        .unwrap();
    let err = c
        .desk
        .undo(
            &admin,
            &Undo::Cancel {
                appointment_id: a.id,
                version: cancelled.version,
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::SlotTaken),
        "the slot went meanwhile: {err:?}"
    );
    let a = c.desk.get_appointment(&admin, a.id).unwrap().appointment;
    assert_eq!(a.status, AppointmentStatus::Cancelled, "it stays cancelled");
    c.assert_check();
}
}

on_both! {
    fn an_undone_cancellation_racing_another_desk_s_booking_of_the_slot_has_one_winner(c) {
    let (c, _, p) = clinic(c);
    let d = c.doctor("Dr. Race");
    // each round on a slot of its own, with a racer of its own
    let racers: Vec<i64> = (0..20)
        .map(|round| c.patient(&format!("Racer {round}"), &format!("0151 2345 {:04}", 100 + round)))
        .collect();
    for (round, other) in racers.into_iter().enumerate() {
        let slots = c.slots(d, 1);
        let admin = c.admin();
        let a = c.desk.book(&admin, &req(slots[0], p)).unwrap();
        let cancelled = c
            .desk
            .change_status(
                &admin,
                a.id,
                a.version,
                AppointmentStatus::Cancelled,
                "phoned",
            )
            .unwrap();
        let second = Arc::new(c.reopen());
        let barrier = Arc::new(Barrier::new(2));
        let (undo, book) = std::thread::scope(|s| {
            let b = barrier.clone();
            let desk = &c.desk;
            let undo = s.spawn(move || {
                b.wait();
                desk.undo(
                    &admin,
                    &Undo::Cancel {
                        appointment_id: a.id,
                        version: cancelled.version,
                    },
                )
            });
            let b = barrier.clone();
            let desk2 = second.clone();
            let rita = c.receptionist();
            let slot = slots[0];
            let book = s.spawn(move || {
                b.wait();
                desk2.book(&rita, &req(slot, other))
            });
            (undo.join().unwrap(), book.join().unwrap())
        });
        match (&undo, &book) {
            (Ok(_), Err(Error::SlotTaken)) | (Err(Error::SlotTaken), Ok(_)) => {}
            _ => panic!(
                "round {round}: exactly one wins, the other is SlotTaken: {undo:?} / {book:?}"
            ),
        }
        let live = c.count(&format!(
            "SELECT count(*) FROM appointment WHERE slot_id = {} AND status <> 'CANCELLED'",
            slots[0]
        ));
        assert_eq!(live, 1, "round {round}: one live appointment in the slot");
        c.assert_check();
    }
}
}

on_both! {
    fn an_undo_is_done_once(c) {
    let (c, slots, p) = clinic(c);
    let rita = c.receptionist();
    let booked = c.desk.book(&rita, &req(slots[0], p)).unwrap();
    let what = Undo::Book {
        appointment_id: booked.id,
        version: booked.version,
    };
    c.desk.undo(&rita, &what).unwrap();
    let err = c.desk.undo(&rita, &what).unwrap_err();
    assert!(
        matches!(err, Error::Conflict { .. }),
        "an undo is done once: {err:?}"
    );
    c.assert_check();
}
}

on_both! {
    fn money_is_never_undone_silently(c) {
    let (c, slots, p) = clinic(c);
    let rita = c.receptionist();
    let check_up = c
        .desk
        .add_appointment_type(
            &Actor::local_admin(),
            &from(json!({ "name": "Check-up", "price_minor": 5000 })),
        )
        .unwrap()
        .id;
    let paid = c
        .desk
        .pay_and_book(
            &rita,
            &req(slots[0], p),
            Some(check_up),
            Some(&from(json!({ "amount_minor": 2000, "method": "CASH" }))),
        )
        .unwrap()
        .appointment;
    let err = c
        .desk
        .undo(
            &rita,
            &Undo::Book {
                appointment_id: paid.id,
                version: paid.version,
            },
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(m) if m.contains("money")),
        "a booking with a payment is cancelled (and refunded) by an admin, not undone: {err:?}"
    );
    // a cancellation that refunded the deposit cannot be undone either
    let admin = c.admin();
    let cancelled = c
        .desk
        .change_status(
            &admin,
            paid.id,
            paid.version,
            AppointmentStatus::Cancelled,
            "phoned",
        )
        .unwrap();
    let err = c
        .desk
        .undo(
            &admin,
            &Undo::Cancel {
                appointment_id: paid.id,
                version: cancelled.version,
            },
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(m) if m.contains("money")),
        "{err:?}"
    );
    c.assert_check();
}
}

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("well-formed test input")
}
