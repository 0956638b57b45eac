use frontdesk::{AppointmentStatus, BookRequest, Error, ErrorCode, SlotMode};

use crate::fixture::{Clinic, NOW};

fn req(slot: i64, patient: i64) -> BookRequest {
    BookRequest {
        slot_id: slot,
        patient_id: patient,
        reason: "Check-up".into(),
    }
}

on_both! {
    fn a_free_slot_is_booked_pending_and_the_slot_then_shows_as_taken(c) {
    let d = c.doctor("Dr. A");
    let s = c.slots(d, 1)[0];
    let p = c.patient("Maria García", "0151 2345 6789");
    let a = c.desk.book(&c.receptionist(), &req(s, p)).unwrap();
    assert_eq!(a.status, AppointmentStatus::Pending);
    assert_eq!(
        (a.doctor_id, a.patient_name.as_str(), a.version),
        (d, "Maria García", 1)
    );
    let views = c
        .desk
        .list_slots(
            &c.admin(),
            &frontdesk::SlotFilter {
                from: NOW,
                to: NOW + 86400,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(!views[0].is_free(), "the booked slot is no longer free");
    let err = c
        .desk
        .book(
            &c.receptionist(),
            &req(s, c.patient("Other", "0151 2345 0000")),
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::SlotTaken),
        "second booking must be SlotTaken, got {err:?}"
    );
    c.assert_check();
}
}

on_both! {
    fn past_blocked_missing_and_inactive_doctor_slots_cannot_be_booked(c) {
    let d = c.doctor("Dr. A");
    let slots = c.slots(d, 3);
    let p = c.patient("Ann", "0151 2345 6789");
    c.desk.set_slot_blocked(&c.admin(), slots[0], true).unwrap();
    assert_eq!(
        c.desk
            .book(&c.admin(), &req(slots[0], p))
            .unwrap_err()
            .code(),
        ErrorCode::Invalid,
        "blocked"
    );
    assert_eq!(
        c.desk.book(&c.admin(), &req(999, p)).unwrap_err().code(),
        ErrorCode::NotFound,
        "missing slot"
    );
    assert_eq!(
        c.desk
            .book(&c.admin(), &req(slots[1], 999))
            .unwrap_err()
            .code(),
        ErrorCode::NotFound,
        "missing patient"
    );
    c.clock.advance(10 * 3600);
    assert_eq!(
        c.desk
            .book(&c.admin(), &req(slots[1], p))
            .unwrap_err()
            .code(),
        ErrorCode::Invalid,
        "past slot"
    );
    c.clock.set(NOW);
    c.desk.deactivate_doctor(&c.admin(), d).unwrap();
    assert_eq!(
        c.desk
            .book(&c.admin(), &req(slots[2], p))
            .unwrap_err()
            .code(),
        ErrorCode::Invalid,
        "inactive doctor"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM appointment"),
        0,
        "no refusal left an appointment behind"
    );
    c.assert_check();
}
}

/// One doctor, one slot, booked by the desk for Ann: the slot and the appointment.
fn ann_booked(c: &Clinic) -> (i64, frontdesk::Appointment) {
    let s = c.slots(c.doctor("Dr. A"), 1)[0];
    let ann = c.patient("Ann", "0151 2345 6789");
    (s, c.desk.book(&c.receptionist(), &req(s, ann)).unwrap())
}

/// Inserts a live appointment with raw SQL, past every check of the core.
fn raw_insert(c: &Clinic, slot: i64, doctor: i64, patient: i64) -> frontdesk::Result<()> {
    c.desk.write("raw", |tx| {
        tx.execute(
            "INSERT INTO appointment (slot_id, doctor_id, patient_id, status, created_by, created_at, updated_by, updated_at)
             VALUES (?1, ?2, ?3, 'CONFIRMED', 'raw', 0, 'raw', 0)",
            [slot, doctor, patient],
        )?;
        Ok(())
    })
}

#[test]
fn a_raw_insert_of_a_second_live_appointment_is_rejected_by_the_unique_index() {
    let c = Clinic::new();
    let d = c.doctor("Dr. A");
    let s = c.slots(d, 1)[0];
    let p = c.patient("Ann", "0151 2345 6789");
    c.desk.book(&c.admin(), &req(s, p)).unwrap();
    let err = raw_insert(&c, s, d, p).unwrap_err();
    assert!(
        err.to_string().contains("UNIQUE"),
        "the index must refuse the insert: {err}"
    );
    assert_eq!(c.count("SELECT count(*) FROM appointment"), 1);
}

#[test]
fn an_appointment_cannot_point_at_a_slot_of_another_doctor() {
    let c = Clinic::new();
    let (d1, d2) = (c.doctor("Dr. A"), c.doctor("Dr. B"));
    let s = c.slots(d1, 1)[0];
    c.slots(d2, 1);
    let p = c.patient("Ann", "0151 2345 6789");
    let err = raw_insert(&c, s, d2, p).unwrap_err();
    assert!(
        err.to_string().contains("FOREIGN KEY"),
        "the composite foreign key must refuse it: {err}"
    );
}

on_both! {
    fn a_booking_and_each_status_change_answer_the_appointment_as_it_reads_after(c) {
    // (on a server both answer from one round trip, the row read back by the
    // server's own copy of the appointment query: it must agree with the
    // desk's, column for column)
    let d = c.doctor("Dr. A");
    let [s, other, paid] = c.slots(d, 3)[..] else { unreachable!() };
    let p = c
        .desk
        .add_patient(
            &c.receptionist(),
            &frontdesk::NewPatient {
                name: "Ann Lee".into(),
                phone: "0151 2345 6789".into(),
                alert: Some("Penicillin allergy".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let read = |id| c.desk.get_appointment(&c.admin(), id).unwrap().appointment;
    let mut a = c.desk.book(&c.receptionist(), &req(s, p.id)).unwrap();
    assert_eq!(a, read(a.id));
    assert_eq!(
        (a.patient_alert.as_str(), a.reason.as_str()),
        ("Penicillin allergy", "Check-up")
    );
    use AppointmentStatus::*;
    for (to, note) in [(Confirmed, ""), (Arrived, "at the desk"), (Completed, "")] {
        let before = a.version;
        a = c
            .desk
            .change_status(&c.admin(), a.id, a.version, to, note)
            .unwrap();
        assert_eq!((a.status, a.version), (to, before + 1));
        assert_eq!(a, read(a.id), "{to}");
    }
    // a refused move changes nothing
    let err = c
        .desk
        .change_status(&c.admin(), a.id, a.version - 1, Pending, "")
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    assert_eq!(a, read(a.id));
    // a cancellation with nothing to settle (one call on a server), then one
    // that refunds a deposit (the SERIALIZABLE transaction on a server, which
    // answers the appointment it wrote without reading it again)
    let b = c.desk.book(&c.receptionist(), &req(other, p.id)).unwrap();
    let e = c.book_paid(paid, p.id, 2000).appointment;
    for (booked, what) in [(b, "unpaid"), (e, "paid")] {
        let closed = c
            .desk
            .change_status(&c.admin(), booked.id, booked.version, Cancelled, "the patient called")
            .unwrap();
        assert_eq!(
            (closed.status, closed.version, closed.cancel_reason.as_deref()),
            (Cancelled, 2, Some("the patient called")),
            "{what}"
        );
        assert_eq!(closed, read(closed.id), "{what}");
    }
    c.assert_check();
    }
}

on_both! {
    fn status_changes_follow_the_state_machine_and_keep_history(c) {
    let d = c.doctor("Dr. A");
    let s = c.slots(d, 1)[0];
    let p = c.patient("Ann", "0151 2345 6789");
    let a = c.desk.book(&c.receptionist(), &req(s, p)).unwrap();
    let err = c
        .desk
        .change_status(
            &c.admin(),
            a.id,
            a.version,
            AppointmentStatus::Completed,
            "",
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidTransition { .. }),
        "PENDING -> COMPLETED is forbidden, got {err:?}"
    );
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
    let a = c
        .desk
        .change_status(
            &c.receptionist(),
            a.id,
            a.version,
            AppointmentStatus::Arrived,
            "",
        )
        .unwrap();
    let a = c
        .desk
        .change_status(
            &c.admin(),
            a.id,
            a.version,
            AppointmentStatus::Completed,
            "",
        )
        .unwrap();
    assert_eq!((a.status, a.version), (AppointmentStatus::Completed, 4));
    let detail = c.desk.get_appointment(&c.admin(), a.id).unwrap();
    let path: Vec<_> = detail.history.iter().map(|h| h.to_status).collect();
    use AppointmentStatus::*;
    assert_eq!(
        path,
        vec![Pending, Confirmed, Arrived, Completed],
        "history records every change in order"
    );
    assert!(
        detail.history[1].actor.contains("Ada Admin"),
        "history names who confirmed"
    );
    c.assert_check();
}
}

on_both! {
    fn a_receptionist_checks_in_a_pending_appointment_and_the_history_says_it_was_never_confirmed(c) {
    let (_, a) = ann_booked(&c);
    assert_eq!(a.status, AppointmentStatus::Pending);
    let a = c
        .desk
        .change_status(
            &c.receptionist(),
            a.id,
            a.version,
            AppointmentStatus::Arrived,
            "",
        )
        .unwrap();
    assert_eq!(a.status, AppointmentStatus::Arrived);
    let detail = c.desk.get_appointment(&c.receptionist(), a.id).unwrap();
    let last = detail.history.last().unwrap();
    assert_eq!(
        (last.from_status, last.to_status),
        (Some(AppointmentStatus::Pending), AppointmentStatus::Arrived),
        "the history shows PENDING -> ARRIVED: never confirmed"
    );
    // the receptionist still may not complete it or mark a no-show
    let err = c
        .desk
        .change_status(
            &c.receptionist(),
            a.id,
            a.version,
            AppointmentStatus::Completed,
            "",
        )
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden, "{err:?}");
    c.assert_check();
}
}

on_both! {
    fn a_stale_version_is_a_conflict_naming_who_changed_it(c) {
    let (_, a) = ann_booked(&c);
    c.desk
        .change_status(
            &c.admin(),
            a.id,
            a.version,
            AppointmentStatus::Confirmed,
            "",
        )
        .unwrap();
    let err = c
        .desk
        .change_status(
            &c.admin(),
            a.id,
            a.version,
            AppointmentStatus::Cancelled,
            "ill",
        )
        .unwrap_err();
    match err {
        Error::Conflict {
            changed_by,
            current,
            ..
        } => {
            assert!(changed_by.contains("Ada Admin"), "{changed_by}");
            assert_eq!(current, "CONFIRMED");
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
}
}

on_both! {
    fn receptionists_cannot_confirm_or_cancel(c) {
    let (_, a) = ann_booked(&c);
    for to in [AppointmentStatus::Confirmed, AppointmentStatus::Cancelled] {
        let err = c
            .desk
            .change_status(&c.receptionist(), a.id, a.version, to, "x")
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Forbidden, "receptionist -> {to}");
    }
}
}

on_both! {
    fn cancelling_frees_the_slot_and_needs_a_reason(c) {
    let (s, a) = ann_booked(&c);
    let err = c
        .desk
        .change_status(
            &c.admin(),
            a.id,
            a.version,
            AppointmentStatus::Cancelled,
            " ",
        )
        .unwrap_err();
    assert_eq!(
        err.code(),
        ErrorCode::Invalid,
        "a cancellation needs a reason"
    );
    let a = c
        .desk
        .change_status(
            &c.admin(),
            a.id,
            a.version,
            AppointmentStatus::Cancelled,
            "patient called",
        )
        .unwrap();
    assert_eq!(a.cancel_reason.as_deref(), Some("patient called"));
    let b = c
        .desk
        .book(
            &c.receptionist(),
            &req(s, c.patient("Ben", "0151 2345 0001")),
        )
        .unwrap();
    assert_eq!(b.slot_id, s, "the freed slot can be booked again");
    c.assert_check();
}
}

on_both! {
    fn reschedule_moves_atomically_to_a_free_slot_only(c) {
    let (d1, d2) = (c.doctor("Dr. A"), c.doctor("Dr. B"));
    let s1 = c.slots(d1, 2);
    let s2 = c.slots(d2, 1)[0];
    let ann = c.patient("Ann", "0151 2345 6789");
    let ben = c.patient("Ben", "0151 2345 0001");
    let a = c.desk.book(&c.receptionist(), &req(s1[0], ann)).unwrap();
    c.desk.book(&c.receptionist(), &req(s1[1], ben)).unwrap();
    let err = c
        .desk
        .reschedule(&c.receptionist(), a.id, a.version, s1[1])
        .unwrap_err();
    assert!(
        matches!(err, Error::SlotTaken),
        "moving into a taken slot is SlotTaken"
    );
    let moved = c
        .desk
        .reschedule(&c.receptionist(), a.id, a.version, s2)
        .unwrap();
    assert_eq!(
        (moved.slot_id, moved.doctor_id, moved.version),
        (s2, d2, 2),
        "moved to the other doctor's slot"
    );
    let again = c.desk.book(&c.receptionist(), &req(s1[0], ben)).unwrap();
    assert_eq!(again.slot_id, s1[0], "the old slot is free again");
    let err = c
        .desk
        .reschedule(&c.receptionist(), a.id, a.version, s1[0])
        .unwrap_err();
    assert_eq!(
        err.code(),
        ErrorCode::Conflict,
        "rescheduling on a stale version is refused"
    );
    c.assert_check();
}
}

on_both! {
    fn slots_of_one_doctor_never_overlap_and_bad_times_are_refused(c) {
    let d = c.doctor("Dr. A");
    let admin = c.admin();
    let start = NOW + 7200;
    c.desk
        .add_slot(&admin, d, start, start + 1800, SlotMode::InPerson)
        .unwrap();
    for (s, e, why) in [
        (start + 900, start + 2700, "overlap"),
        (start - 900, start + 60, "overlap at the start"),
        (start + 3600, start + 3600, "zero length"),
        (start + 3600, start + 1800, "end before start"),
        (NOW - 7200, NOW - 3600, "past"),
        (start + 3600, start + 3600 + 90_000, "longer than a day"),
    ] {
        let err = c
            .desk
            .add_slot(&admin, d, s, e, SlotMode::Video)
            .unwrap_err();
        assert_eq!(
            err.code(),
            ErrorCode::Invalid,
            "{why} must be refused, got {err:?}"
        );
    }
    c.desk
        .add_slot(&admin, d, start + 1800, start + 3600, SlotMode::Phone)
        .expect("adjacent slot is fine");
    assert_eq!(
        c.desk
            .add_slot(&admin, 99, start, start + 60, SlotMode::Phone)
            .unwrap_err()
            .code(),
        ErrorCode::NotFound
    );
    c.assert_check();
}
}

on_both! {
    fn a_slot_with_an_appointment_cannot_be_blocked(c) {
    let (s, _) = ann_booked(&c);
    assert_eq!(
        c.desk
            .set_slot_blocked(&c.admin(), s, true)
            .unwrap_err()
            .code(),
        ErrorCode::Invalid
    );
}
}

on_both! {
    fn every_change_is_audited_in_its_own_transaction(c) {
    let before = c.count("SELECT count(*) FROM audit_event");
    let s = c.slots(c.doctor("Dr. A"), 1)[0];
    let p = c.patient("Ann", "0151 2345 6789");
    let a = c.desk.book(&c.receptionist(), &req(s, p)).unwrap();
    c.desk
        .change_status(
            &c.admin(),
            a.id,
            a.version,
            AppointmentStatus::Confirmed,
            "",
        )
        .unwrap();
    let mut actions: Vec<String> = c
        .desk
        .list_audit(&c.admin(), &frontdesk::AuditFilter::default())
        .unwrap()
        .into_iter()
        .filter(|e| e.id > before && e.action != "staff.login")
        .map(|e| e.action)
        .collect();
    actions.reverse();
    assert_eq!(
        actions,
        [
            "doctor.add",
            "slot.add",
            "patient.add",
            "appointment.book",
            "appointment.status"
        ]
    );
    let refused = c.desk.book(&c.receptionist(), &req(s, p));
    assert!(
        matches!(refused, Err(ref e) if e.code() == ErrorCode::SlotTaken),
        "the slot is taken, so the booking is refused: {refused:?}"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM audit_event"),
        before + 5,
        "a refused booking writes no audit row"
    );
}
}

on_both! {
    fn the_day_view_lists_doctors_and_slots_of_the_local_day(c) {
    let d = c.doctor("Dr. A");
    let slots = c.slots(d, 3);
    let p = c.patient("Ann", "0151 2345 6789");
    c.desk.book(&c.receptionist(), &req(slots[1], p)).unwrap();
    let day = frontdesk::domain::clinic::today(NOW, chrono_tz::UTC);
    let view = c.desk.day_view(&c.receptionist(), day, None).unwrap();
    assert_eq!(view.doctors.len(), 1);
    assert_eq!(view.slots.len(), 3);
    assert_eq!(view.slots[1].appointments[0].patient_name, "Ann");
    assert!(view.slots[0].is_free() && !view.slots[1].is_free());
    let tomorrow = c
        .desk
        .day_view(&c.receptionist(), day.succ_opt().unwrap(), None)
        .unwrap();
    assert!(tomorrow.slots.is_empty(), "tomorrow has no slots");
}
}

on_both! {
    fn an_overbooked_appointment_moved_to_a_free_slot_becomes_an_ordinary_booking(c) {
    let slots = c.slots(c.doctor("Dr. A"), 2);
    let (ann, ben, cy) = (
        c.patient("Ann", "0151 2345 6789"),
        c.patient("Ben", "0151 2345 0001"),
        c.patient("Cy", "0151 2345 0002"),
    );
    c.desk.book(&c.receptionist(), &req(slots[0], ann)).unwrap();
    let squeezed = c
        .desk
        .overbook(&c.admin(), slots[0], ben, "acute pain")
        .unwrap();
    assert!(squeezed.overbooked);
    let moved = c
        .desk
        .reschedule(&c.admin(), squeezed.id, squeezed.version, slots[1])
        .unwrap();
    assert!(
        !moved.overbooked,
        "in its own slot it is an ordinary booking"
    );
    let err = c
        .desk
        .book(&c.receptionist(), &req(slots[1], cy))
        .unwrap_err();
    assert!(
        matches!(err, Error::SlotTaken),
        "the moved appointment holds its new slot, got {err:?}"
    );
    c.assert_check();
}
}

// A slot whose ordinary booking was cancelled still has the patient squeezed in
// beside it: blocking it would leave a live appointment in a blocked slot (which
// `check` reports), so it is refused like blocking a booked slot.
on_both! {
    fn a_slot_with_only_an_overbooked_appointment_left_cannot_be_blocked(c) {
    let slot = c.slots(c.doctor("Dr. A"), 1)[0];
    let (ann, ben) = (
        c.patient("Ann", "0151 2345 6789"),
        c.patient("Ben", "0151 2345 0001"),
    );
    let booked = c.desk.book(&c.receptionist(), &req(slot, ann)).unwrap();
    c.desk
        .overbook(&c.admin(), slot, ben, "acute pain")
        .unwrap();
    c.desk
        .change_status(
            &c.admin(),
            booked.id,
            booked.version,
            AppointmentStatus::Cancelled,
            "called off",
        )
        .unwrap();
    let refused = c
        .desk
        .set_slot_blocked(&c.admin(), slot, true)
        .expect_err("the squeezed-in patient still has the slot");
    assert!(
        refused.to_string().contains("has an appointment"),
        "says why: {refused}"
    );
    c.assert_check();
}
}

#[test]
fn a_slot_is_taken_exactly_while_its_appointment_occupies_it_and_final_statuses_lead_nowhere() {
    use AppointmentStatus::*;
    let c = Clinic::new();
    let d = c.doctor("Dr. States");
    let p = c.patient("Ann", "0151 2345 6789");
    let q = c.patient("Bo", "0151 2345 6790");
    // a path through the state machine to every status
    let paths: [&[AppointmentStatus]; 6] = [
        &[],
        &[Confirmed],
        &[Confirmed, Arrived],
        &[Confirmed, Arrived, Completed],
        &[Cancelled],
        &[Confirmed, NoShow],
    ];
    let mut reached = Vec::new();
    for path in paths {
        let s = c.slots(d, 1)[0];
        let mut a = c.desk.book(&c.admin(), &req(s, p)).unwrap();
        for to in path {
            a = c
                .desk
                .change_status(&c.admin(), a.id, a.version, *to, "on the way")
                .unwrap();
        }
        let status = a.status;
        reached.push(status);
        let again = c.desk.book(&c.admin(), &req(s, q));
        assert_eq!(
            matches!(again, Err(ref e) if e.code() == ErrorCode::SlotTaken),
            status.occupies_slot(),
            "a {status} appointment occupies its slot exactly when the model says so: {again:?}"
        );
        assert_eq!(
            status.is_final(),
            AppointmentStatus::ALL
                .iter()
                .all(|t| !status.can_become(*t)),
            "{status} is final exactly when no status can follow it"
        );
        if status.is_final() {
            for to in AppointmentStatus::ALL {
                let refused = c
                    .desk
                    .change_status(&c.admin(), a.id, a.version, to, "again");
                assert!(
                    refused.is_err(),
                    "a {status} appointment never becomes {to}: {refused:?}"
                );
            }
        }
    }
    assert_eq!(reached, AppointmentStatus::ALL, "every status was reached");
}

#[test]
fn the_appointment_list_shows_a_booking_under_its_filters_and_not_under_others() {
    use frontdesk::AppointmentFilter;
    let c = Clinic::new();
    let d = c.doctor("Dr. List");
    let s = c.slots(d, 1)[0];
    let p = c.patient("Ann", "0151 2345 6789");
    let a = c.desk.book(&c.receptionist(), &req(s, p)).unwrap();
    let ids = |f: AppointmentFilter| -> Vec<i64> {
        c.desk
            .list_appointments(&c.receptionist(), &f)
            .unwrap()
            .into_iter()
            .map(|x| x.id)
            .collect()
    };
    assert_eq!(ids(AppointmentFilter::default()), [a.id]);
    assert_eq!(
        ids(AppointmentFilter {
            status: Some(AppointmentStatus::Pending),
            doctor_id: Some(d),
            patient_id: Some(p),
            ..Default::default()
        }),
        [a.id]
    );
    assert!(ids(AppointmentFilter {
        status: Some(AppointmentStatus::Confirmed),
        ..Default::default()
    })
    .is_empty());
}

on_both! {
    fn blocking_and_unblocking_a_slot_is_audited_once_per_change_and_not_when_nothing_changes(c) {
    let s = c.slots(c.doctor("Dr. Block"), 1)[0];
    let audited = |action: &str| {
        c.count(&format!(
            "SELECT count(*) FROM audit_event WHERE action = '{action}' AND entity_id = {s}"
        ))
    };
    for (blocked, block_rows, unblock_rows) in [
        (true, 1, 0),
        (true, 1, 0), // already blocked: nothing changed, nothing audited
        (false, 1, 1),
        (false, 1, 1),
    ] {
        let slot = c.desk.set_slot_blocked(&c.admin(), s, blocked).unwrap();
        assert_eq!(slot.blocked, blocked);
        assert_eq!(
            (audited("slot.block"), audited("slot.unblock")),
            (block_rows, unblock_rows),
            "after setting blocked = {blocked}"
        );
    }
}
}

#[test]
fn the_demo_fills_todays_past_hours_with_every_status_and_check_passes() {
    use AppointmentStatus::*;
    let c = Clinic::new();
    // 14:00 in Berlin: the morning is over, the afternoon still ahead
    c.clock.set(NOW + 5 * 3600);
    c.desk
        .create_demo_clinic(&frontdesk::Actor::local_admin())
        .unwrap();
    let today = c
        .desk
        .list_appointments(
            &c.admin(),
            &frontdesk::AppointmentFilter {
                from: Some(NOW - 8 * 3600),
                to: Some(NOW + 16 * 3600),
                ..Default::default()
            },
        )
        .unwrap();
    let statuses: std::collections::BTreeSet<String> =
        today.iter().map(|a| a.status.to_string()).collect();
    for s in [Arrived, Completed, NoShow] {
        assert!(
            statuses.contains(&s.to_string()),
            "today shows {s}: {statuses:?}"
        );
    }
    // what is still ahead is pending or confirmed
    let ahead = c
        .desk
        .list_appointments(
            &c.admin(),
            &frontdesk::AppointmentFilter {
                from: Some(NOW + 5 * 3600 + 1),
                ..Default::default()
            },
        )
        .unwrap();
    for s in [Pending, Confirmed] {
        assert!(
            ahead.iter().any(|a| a.status == s),
            "the days ahead show {s}"
        );
    }
    assert!(ahead
        .iter()
        .all(|a| [Pending, Confirmed].contains(&a.status)));
    let morning = today.iter().filter(|a| a.start_at < NOW + 3600).count();
    assert!(
        morning >= 4,
        "the morning (12 slots before 10:00) is filled: {morning}"
    );
    assert!(
        today
            .iter()
            .filter(|a| a.start_at + 3600 <= NOW + 5 * 3600)
            .all(|a| [Completed, NoShow].contains(&a.status)),
        "what ended over an hour ago was completed or missed"
    );
    // someone was checked in without ever being confirmed
    let never_confirmed = today.iter().any(|a| {
        let h = c.desk.get_appointment(&c.admin(), a.id).unwrap().history;
        h.iter()
            .any(|e| e.from_status == Some(Pending) && e.to_status == Arrived)
    });
    assert!(never_confirmed, "a PENDING -> ARRIVED history row");
    c.assert_check();
}
