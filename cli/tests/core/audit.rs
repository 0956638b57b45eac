use frontdesk::AuditFilter;
use frontdesk::{Actor, Error, Role};

use crate::fixture::{Clinic, NOW, PASSWORD};

#[test]
fn raw_updates_and_deletes_of_the_audit_log_are_rejected() {
    let c = Clinic::new();
    c.doctor("Dr. Audit");
    let before = c.count("SELECT count(*) FROM audit_event");
    assert!(before > 0, "setting up the clinic left audit rows");
    let update = c.desk.write("test.tamper", |tx| {
        Ok(tx.execute("UPDATE audit_event SET actor = 'nobody'", [])?)
    });
    assert!(update.is_err(), "an UPDATE must be rejected");
    let delete = c.desk.write("test.tamper", |tx| {
        Ok(tx.execute("DELETE FROM audit_event", [])?)
    });
    assert!(delete.is_err(), "a DELETE must be rejected");
    assert_eq!(
        c.count("SELECT count(*) FROM audit_event"),
        before,
        "no row changed"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM audit_event WHERE actor = 'nobody'"),
        0,
        "no actor rewritten"
    );
    c.assert_check();
}

#[test]
fn check_names_the_first_row_edited_behind_the_triggers_back() {
    let c = Clinic::new();
    for name in ["Dr. A", "Dr. B", "Dr. C"] {
        c.doctor(name);
    }
    let target: i64 = c.count(
        "SELECT id FROM audit_event WHERE action = 'doctor.add' ORDER BY id LIMIT 1 OFFSET 1",
    );
    c.desk
        .write("test.tamper", |tx| {
            tx.execute_batch("DROP TRIGGER audit_event_no_update")?;
            tx.execute(
                "UPDATE audit_event SET detail = 'nothing happened' WHERE id = ?1",
                [target],
            )?;
            Ok(())
        })
        .unwrap();
    let report = c.desk.check().unwrap();
    assert!(!report.ok, "the check must fail after tampering");
    let chain = report
        .items
        .iter()
        .find(|i| i.name.contains("chain is intact"))
        .expect("a chain check");
    assert!(
        !chain.ok && chain.detail.contains(&format!("row {target} ")),
        "the first broken row {target} is named: {}",
        chain.detail
    );
}

on_both! {
    fn only_admins_list_the_audit_log_with_filters(c) {
    c.account("ada", Role::Admin);
    c.account("rita", Role::Receptionist);
    let admin = c.desk.authenticate("ada", PASSWORD).unwrap();
    let desk = c.desk.authenticate("rita", PASSWORD).unwrap();
    let refused = c.desk.list_audit(&desk, &AuditFilter::default());
    assert!(
        matches!(refused, Err(Error::Forbidden(_))),
        "receptionists may not read the audit log: {refused:?}"
    );

    c.clock.advance(3600);
    c.desk.add_doctor(&admin, "Dr. Later", "GP").unwrap();
    let all = c.desk.list_audit(&admin, &AuditFilter::default()).unwrap();
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let by_actor = c
        .desk
        .list_audit(
            &admin,
            &AuditFilter {
                actor: Some("ada".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(
        !by_actor.is_empty() && by_actor.iter().all(|e| e.actor.contains("ada")),
        "filtered by actor: {by_actor:?}"
    );
    let doctors = c
        .desk
        .list_audit(
            &admin,
            &AuditFilter {
                entity: Some("doctor".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(doctors.len(), 1, "one doctor event");
    let later = c
        .desk
        .list_audit(
            &admin,
            &AuditFilter {
                from: Some(NOW + 3600),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        later.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["doctor.add"],
        "only the later event"
    );
    let earlier = c
        .desk
        .list_audit(
            &admin,
            &AuditFilter {
                to: Some(NOW + 3600),
                limit: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(earlier.len(), 2, "the limit applies");
    assert!(
        earlier.iter().all(|e| e.at < NOW + 3600),
        "the end is exclusive"
    );
}
}

on_both! {
    fn sign_ins_and_passcodes_are_audited_without_secrets(c) {
    c.account("rita", Role::Receptionist);
    let _ = c.desk.authenticate("rita", "guessed wrong!");
    let _ = c.desk.authenticate("ghost", "guessed wrong!");
    let rita = c.desk.authenticate("rita", PASSWORD).unwrap();
    c.desk.request_otp(&rita, "0151 2345 6789").unwrap();
    let code = c.last_code("+4915123456789");
    let _ = c.desk.verify_otp(
        &rita,
        "0151 2345 6789",
        if code == "000000" { "111111" } else { "000000" },
    );
    c.desk.verify_otp(&rita, "0151 2345 6789", &code).unwrap();
    let events = c
        .desk
        .list_audit(
            &Actor::local_admin(),
            &AuditFilter {
                limit: Some(1000),
                ..Default::default()
            },
        )
        .unwrap();
    let actions: Vec<&str> = events.iter().rev().map(|e| e.action.as_str()).collect();
    for expected in [
        "staff.login_failed",
        "staff.login",
        "otp.request",
        "otp.verify_failed",
        "otp.verify",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} is recorded: {actions:?}"
        );
    }
    let everything: String = events
        .iter()
        .map(|e| format!("{} {} {}", e.actor, e.action, e.detail))
        .collect();
    for secret in [PASSWORD, "guessed wrong!", "ghost", &code, "+4915123456789"] {
        assert!(
            !everything.contains(secret),
            "the audit log must not contain {secret:?}"
        );
    }
    c.assert_check();
}
}

on_both! {
    fn opening_a_record_exporting_and_printing_are_audited_so_admins_see_who_saw_a_patient(c) {
    let doctor = c.doctor("Dr. Weber");
    c.slots(doctor, 2);
    let patient = c.patient("Maria García", "0151 23456789");
    let other = c.patient("Otto Other", "0151 23456780");
    let rita = c.receptionist();
    c.desk.get_patient(&rita, patient).unwrap();
    let day = chrono::NaiveDate::from_ymd_opt(2030, 1, 7).unwrap();
    c.desk.day_sheet(&rita, day, None).unwrap();
    let admin = c.admin();
    let rows = c.desk.export_patients_csv(&admin, Vec::new()).unwrap();
    c.desk
        .export_appointments_csv(&admin, day, day, Vec::new())
        .unwrap();
    let who_saw = c
        .desk
        .list_audit(
            &admin,
            &AuditFilter {
                entity: Some("patient".into()),
                entity_id: Some(patient),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(
        who_saw
            .iter()
            .any(|e| e.action == "patient.view" && e.actor.contains("Rita Desk")),
        "the record view names the receptionist: {who_saw:?}"
    );
    let views = c
        .desk
        .list_audit(
            &admin,
            &AuditFilter {
                entity: Some("patient".into()),
                entity_id: Some(other),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(
        !views.iter().any(|e| e.action == "patient.view"),
        "nobody opened the other record: {views:?}"
    );
    let exports = c
        .desk
        .list_audit(
            &admin,
            &AuditFilter {
                entity: Some("export".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let said = |action: &str, detail: &str| {
        exports
            .iter()
            .any(|e| e.action == action && e.detail.contains(detail))
    };
    assert!(
        said("export.patients", &format!("{rows} rows")),
        "the patient export with its row count: {exports:?}"
    );
    assert!(
        said("export.appointments", "2030-01-07..2030-01-07"),
        "the appointment export with its range: {exports:?}"
    );
    assert!(
        said("print.day_sheet", "2030-01-07, every doctor"),
        "the printed day sheet: {exports:?}"
    );
    c.assert_check();
}
}

/// The rows of [`legacy_log`]: one appointment's history.
const LEGACY_ROWS: [(&str, &str); 3] = [
    ("appointment.book", "slot 1"),
    ("appointment.status", "PENDING -> CONFIRMED"),
    ("appointment.status", "CONFIRMED -> ARRIVED"),
];

/// A log from before the clinic had a key (schema 6): rows chained with plain
/// SHA-256 over the length-prefixed fields, computed here from that definition.
fn legacy_log() -> rusqlite::Connection {
    use sha2::{Digest, Sha256};
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE audit_event (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL,
           action TEXT NOT NULL, entity TEXT NOT NULL, entity_id INTEGER, detail TEXT NOT NULL DEFAULT '',
           prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
    )
    .unwrap();
    let mut prev = frontdesk::storage::audit::GENESIS.to_string();
    for (i, (action, detail)) in LEGACY_ROWS.iter().enumerate() {
        let at = (1_700_000_000 + i as i64).to_string();
        let entity_id = (i as i64 + 1).to_string();
        let mut h = Sha256::new();
        for part in [
            prev.as_str(),
            &at,
            "legacy desk",
            action,
            "appointment",
            &entity_id,
            detail,
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        let hash = hex::encode(h.finalize());
        conn.execute(
            "INSERT INTO audit_event (at, actor, action, entity, entity_id, detail, prev_hash, hash)
             VALUES (?1, 'legacy desk', ?2, 'appointment', ?3, ?4, ?5, ?6)",
            rusqlite::params![at.parse::<i64>().unwrap(), action, i as i64 + 1, detail, prev, hash],
        )
        .unwrap();
        prev = hash;
    }
    conn
}

#[test]
fn a_log_from_before_the_key_is_verified_with_plain_sha256_and_an_edit_is_found() {
    use frontdesk::storage::audit::{verify_chain, ChainFault};
    let conn = legacy_log();
    assert!(
        matches!(
            verify_chain(&frontdesk::storage::Conn::Lite(&conn), None, None),
            Ok(None)
        ),
        "an intact pre-key log verifies"
    );
    conn.execute("UPDATE audit_event SET detail = 'slot 2' WHERE id = 1", [])
        .unwrap();
    assert!(
        matches!(
            verify_chain(&frontdesk::storage::Conn::Lite(&conn), None, None),
            Ok(Some(ChainFault::Broken(1)))
        ),
        "an edited row is named"
    );
}

#[test]
fn a_row_from_the_keys_start_on_chained_with_plain_sha256_is_named_unsealed() {
    use frontdesk::storage::audit::{verify_chain, ChainFault};
    // a forger without the key rewrites the log from row 2 on with plain SHA-256
    // (a downgrade): every hash is right, but the key was there from row 2
    let conn = legacy_log();
    assert!(
        matches!(
            verify_chain(&frontdesk::storage::Conn::Lite(&conn), None, Some(2)),
            Ok(Some(ChainFault::Unsealed(2)))
        ),
        "the first row that should have been sealed is named"
    );
    assert!(
        matches!(
            verify_chain(&frontdesk::storage::Conn::Lite(&conn), None, Some(4)),
            Ok(None)
        ),
        "rows before the key's start may be plain"
    );
}

/// A write that appended an audit row and then failed is rolled back whole, and
/// the anchor outside the database stays where it was: `check` still passes, and
/// so it does after the next write takes the rolled-back row's id.
#[test]
fn a_write_that_fails_after_appending_an_audit_row_leaves_the_anchor_where_it_was() {
    let c = Clinic::new();
    c.doctor("Dr. Before");
    let failed = c.desk.write("raw", |tx| {
        frontdesk::storage::audit::record(
            &frontdesk::storage::Conn::Lite(tx),
            NOW,
            "test",
            "test.append",
            "doctor",
            None,
            "rolled back",
        )?;
        Err::<(), _>(Error::invalid("and then it fails"))
    });
    assert!(failed.is_err(), "the write failed");
    c.assert_check();
    c.doctor("Dr. After");
    c.assert_check();
}
