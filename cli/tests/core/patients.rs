use frontdesk::{ErrorCode, NewPatient, PatientUpdate};

#[allow(unused_imports)]
use crate::fixture::Clinic;

fn np(name: &str, phone: &str) -> NewPatient {
    NewPatient {
        name: name.into(),
        phone: phone.into(),
        ..Default::default()
    }
}

on_both! {
    fn phones_are_stored_in_e164_and_bad_ones_refused(c) {
    let p = c
        .desk
        .add_patient(&c.receptionist(), &np("Ann Lee", "0151 2345-6789"))
        .unwrap();
    assert_eq!(p.phone, "+4915123456789");
    for bad in ["", "123", "not a phone", "+99 1234"] {
        let err = c
            .desk
            .add_patient(&c.receptionist(), &np("Bob", bad))
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Invalid, "{bad:?} must be refused");
    }
    assert_eq!(
        c.desk
            .add_patient(&c.receptionist(), &np("  ", "0151 2345 6789"))
            .unwrap_err()
            .code(),
        ErrorCode::Invalid
    );
}
}

on_both! {
    fn the_same_name_and_phone_cannot_be_registered_twice_but_a_family_can_share_a_phone(c) {
    let first = c
        .desk
        .add_patient(&c.receptionist(), &np("Ann Lee", "0151 2345 6789"))
        .unwrap();
    let err = c
        .desk
        .add_patient(&c.receptionist(), &np("ann  LEE", "+49 151 23456789"))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Invalid);
    assert!(
        err.to_string().contains(&format!("#{}", first.id)),
        "the message names the existing record: {err}"
    );
    c.desk
        .add_patient(&c.receptionist(), &np("Tom Lee", "0151 2345 6789"))
        .expect("a child on the parent's phone");
    let dups = c
        .desk
        .possible_duplicates(&c.receptionist(), &np("Ann Lee", "0170 0000000"))
        .unwrap();
    assert_eq!(
        dups.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![first.id],
        "same name is a possible duplicate"
    );
}
}

on_both! {
    fn search_finds_word_prefixes_of_names_and_phone_prefixes(c) {
    let maria = c.patient("Maria García", "0151 2345 6789");
    let mark = c.patient("Mark Twain", "0170 1111111");
    let ids = |q: &str| {
        c.desk
            .search_patients(&c.receptionist(), q, 10)
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids("gar"), vec![maria], "a surname prefix, accents ignored");
    let mut both = ids("mar");
    both.sort();
    assert_eq!(both, vec![maria, mark], "a first-name prefix matches both");
    assert_eq!(ids("0151 23"), vec![maria], "a national phone prefix");
    assert_eq!(ids("+49170"), vec![mark], "an international phone prefix");
    assert!(ids("\"*) OR (").is_empty(), "FTS syntax is treated as text");
    assert!(ids("").is_empty());
}
}

#[test]
fn an_edit_on_a_stale_version_is_a_conflict_and_a_new_phone_is_unverified() {
    let c = Clinic::new();
    let p = c
        .desk
        .add_patient(&c.receptionist(), &np("Ann Lee", "0151 2345 6789"))
        .unwrap();
    c.desk
        .write("verify", |tx| {
            Ok(frontdesk::storage::patients::mark_phone_verified(
                &frontdesk::storage::Conn::Lite(tx),
                &p.phone,
                1,
                "test",
            )?)
        })
        .unwrap();
    let p = c.desk.get_patient(&c.receptionist(), p.id).unwrap();
    assert!(p.phone_verified_at.is_some());
    let edit = PatientUpdate {
        expected_version: p.version,
        details: np("Ann Lee-Smith", "0151 2345 6789"),
    };
    let p2 = c
        .desk
        .update_patient(&c.receptionist(), p.id, &edit)
        .unwrap();
    assert!(p2.phone_verified_at.is_some(), "same phone stays verified");
    let err = c.desk.update_patient(&c.admin(), p.id, &edit).unwrap_err();
    assert_eq!(
        err.code(),
        ErrorCode::Conflict,
        "the second edit on the old version is refused"
    );
    assert!(
        err.to_string().contains("Rita Desk"),
        "the refusal names who changed it: {err}"
    );
    let edit = PatientUpdate {
        expected_version: p2.version,
        details: np("Ann Lee-Smith", "0170 2222222"),
    };
    let p3 = c
        .desk
        .update_patient(&c.receptionist(), p.id, &edit)
        .unwrap();
    assert!(
        p3.phone_verified_at.is_none(),
        "a new phone number is not verified"
    );
    assert_eq!(
        c.desk
            .search_patients(&c.receptionist(), "smith", 5)
            .unwrap()[0]
            .id,
        p.id,
        "search follows the rename"
    );
}

#[test]
fn a_patient_alert_is_stored_validated_kept_by_old_callers_and_audited() {
    let c = Clinic::new();
    let p = c
        .desk
        .add_patient(
            &c.receptionist(),
            &NewPatient {
                alert: Some("  Penicillin allergy ".into()),
                ..np("Ann Lee", "0151 2345 6789")
            },
        )
        .unwrap();
    assert_eq!(p.alert, "Penicillin allergy", "trimmed and stored");
    c.assert_check();
    // an edit that does not send an alert (an older desk or the CLI) keeps it
    let p = c
        .desk
        .update_patient(
            &c.receptionist(),
            p.id,
            &PatientUpdate {
                expected_version: p.version,
                details: np("Ann Lee", "0151 2345 6789"),
            },
        )
        .unwrap();
    assert_eq!(p.alert, "Penicillin allergy");
    // too long is refused, nothing changes
    let err = c
        .desk
        .update_patient(
            &c.receptionist(),
            p.id,
            &PatientUpdate {
                expected_version: p.version,
                details: NewPatient {
                    alert: Some("x".repeat(201)),
                    ..np("Ann Lee", "0151 2345 6789")
                },
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Invalid, "{err}");
    // an alert changed behind the app's back differs from the audited state
    c.desk
        .write("forge", |tx| {
            tx.execute("UPDATE patient SET alert = 'Latex' WHERE id = ?1", [p.id])?;
            Ok(())
        })
        .unwrap();
    let report = c.desk.check().unwrap();
    assert!(!report.ok, "check notices a changed alert");
    // cleared through the core: audited again, check passes
    c.desk
        .write("unforge", |tx| {
            tx.execute(
                "UPDATE patient SET alert = 'Penicillin allergy' WHERE id = ?1",
                [p.id],
            )?;
            Ok(())
        })
        .unwrap();
    let p = c
        .desk
        .update_patient(
            &c.receptionist(),
            p.id,
            &PatientUpdate {
                expected_version: p.version,
                details: NewPatient {
                    alert: Some(String::new()),
                    ..np("Ann Lee", "0151 2345 6789")
                },
            },
        )
        .unwrap();
    assert_eq!(p.alert, "");
    c.assert_check();
}

on_both! {
    fn next_appointments_tell_two_patients_of_one_name_apart(c) {
    let d = c.doctor("Dr. Next");
    let a = c.patient("Anna Müller", "0151 2345 6789");
    let b = c.patient("Anna Müller", "0151 2345 6790");
    let s = c.slots(d, 2);
    let booked = c
        .desk
        .book(
            &c.receptionist(),
            &frontdesk::BookRequest {
                slot_id: s[1],
                patient_id: a,
                reason: String::new(),
            },
        )
        .unwrap();
    let next = c
        .desk
        .next_appointments(&c.receptionist(), &[a, b, 999])
        .unwrap();
    assert_eq!(next.len(), 1, "only Anna #{a} has one: {next:?}");
    assert_eq!(
        (
            next[0].patient_id,
            next[0].appointment_id,
            next[0].doctor_name.as_str()
        ),
        (a, booked.id, "Dr. Next")
    );
    let too_many: Vec<i64> = (0..101).collect();
    assert!(c
        .desk
        .next_appointments(&c.receptionist(), &too_many)
        .is_err());
}
}

/// `check` on one long-lived desk between patients added one at a time: the
/// name index merges its segments as it grows (after 16, removing the old ones),
/// and the check must see the index as it is, not as the desk's read connection
/// last saw it (which reported the merged-away segments as corruption).
#[test]
fn check_passes_between_patients_added_one_at_a_time_on_one_desk() {
    let c = Clinic::new();
    c.patient("Ann First", "+4915100000000");
    c.assert_check();
    for i in 0..40 {
        c.patient(&format!("Patient Number{i}"), &format!("+49151234{i:05}"));
        c.assert_check();
    }
    let found = c
        .desk
        .search_patients(&c.receptionist(), "number", 100)
        .unwrap();
    assert_eq!(found.len(), 40, "every patient is found by name");
}

/// The other face of the same: a long-lived desk's check finds a name index
/// damaged after its last check (a segment written since then, removed).
#[test]
fn check_on_a_long_lived_desk_finds_a_name_index_damaged_since_its_last_check() {
    let c = Clinic::new();
    c.assert_check();
    c.patient("Ann First", "+4915100000000");
    let raw = frontdesk::storage::db::open_keyed(c.path()).unwrap();
    let removed = raw
        .execute(
            "DELETE FROM patient_name_fts_data WHERE id = (SELECT max(id) FROM patient_name_fts_data)",
            [],
        )
        .unwrap();
    assert_eq!(removed, 1);
    drop(raw);
    let report = c.desk.check().unwrap();
    let integrity = report
        .items
        .iter()
        .find(|i| i.name == "SQLite integrity_check")
        .unwrap();
    assert!(
        !integrity.ok && integrity.detail.contains("patient_name_fts"),
        "the damaged index is reported: {integrity:?}"
    );
    assert!(!report.ok);
}
