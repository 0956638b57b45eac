//! `frontdesk check` on a clinic server: what someone with the server's own
//! rights changed behind the desks is found — a sealed audit row, a record no
//! longer as its last audit row recorded, an appointment whose status is not its
//! history's, sealed rows removed from the end of the log.

use std::process::Command;

use frontdesk::storage::pg::PgClinic;
use frontdesk::BookRequest;

use crate::fixture::{frontdesk_bin, Clinic};

#[test]
fn check_on_the_server_finds_what_was_changed_behind_the_desks() {
    let Some(c) = Clinic::on_server("srv_check") else {
        return;
    };
    let doctor = c.doctor("Dr. Check");
    let patient = c.patient("Pat Check", "+4915112345670");
    let slots = c.slots(doctor, 3);
    let booked: Vec<i64> = slots
        .iter()
        .map(|s| {
            c.desk
                .book(
                    &c.receptionist(),
                    &BookRequest {
                        slot_id: *s,
                        patient_id: patient,
                        reason: "Check-up".into(),
                    },
                )
                .unwrap()
                .id
        })
        .collect();
    assert_eq!(c.check_failures(), "");
    // the command line says the same, and needs no sign-in
    let out = Command::new(frontdesk_bin())
        .args(["--db", &c.path().display().to_string(), "check"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("ok    the audit log's seals verify"),
        "{said}"
    );

    // with the server's own rights (the test role is its superuser)
    let url = c.path().display().to_string();
    let admin = PgClinic::connect(&url, 1).unwrap();
    let run = |sql: &str| admin.session().unwrap().batch_execute(sql).unwrap();

    // a status changed without its history or audit row
    run(&format!(
        "UPDATE appointment SET status = 'CONFIRMED' WHERE id = {}",
        booked[0]
    ));
    let found = c.check_failures();
    assert!(
        found.contains("status is its last history entry"),
        "{found}"
    );
    assert!(found.contains("as its last audit row recorded"), "{found}");
    run(&format!(
        "UPDATE appointment SET status = 'PENDING' WHERE id = {}",
        booked[0]
    ));
    assert_eq!(c.check_failures(), "");

    // a sealed audit row reworded
    run(
        "UPDATE audit_event SET actor = 'nobody' WHERE id = (SELECT min(event_id) FROM audit_seal)",
    );
    let found = c.check_failures();
    assert!(found.contains("does not verify"), "{found}");
    let out = Command::new(frontdesk_bin())
        .args(["--db", &url, "check"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL  the audit log's seals"));

    // a ledger audit row naming no record: its finding is built from a NULL,
    // and is still a finding (not a failed check)
    run("INSERT INTO audit_event (at, actor, action, entity, detail)
         VALUES (1, 'x', 'ledger.x', 'ledger', '')");
    let found = c.check_failures();
    assert!(
        found.contains("every ledger row was written with its audit row"),
        "{found}"
    );
}

#[test]
fn check_on_the_server_finds_the_newest_sealed_rows_removed() {
    let Some(c) = Clinic::on_server("srv_check_tail") else {
        return;
    };
    c.doctor("Dr. Tail");
    c.patient("Pat Tail", "+4915112345671");
    assert_eq!(c.check_failures(), "");
    let admin = PgClinic::connect(&c.path().display().to_string(), 1).unwrap();
    admin
        .session()
        .unwrap()
        .batch_execute(
            "DELETE FROM audit_seal WHERE seq = (SELECT max(seq) FROM audit_seal);
             DELETE FROM audit_event e WHERE NOT EXISTS
               (SELECT 1 FROM audit_seal s WHERE s.event_id = e.id);",
        )
        .unwrap();
    let found = c.check_failures();
    assert!(
        found.contains("newest seal this PC recorded is gone"),
        "{found}"
    );
    // the desks write on: nothing seals over the gap, so it stays found
    c.patient("Pat After", "+4915112345672");
    let keys = frontdesk::storage::audit_key::KeyFolder::for_server(
        frontdesk::storage::audit_key::KeyFolder::default_dir(),
    );
    let err = admin.seal_now(&keys).unwrap_err();
    assert!(
        err.to_string().contains("lost or changed its seal"),
        "{err}"
    );
    let found = c.check_failures();
    assert!(
        found.contains("newest seal this PC recorded is gone"),
        "{found}"
    );
    // and it is not passed off as a restore
    let err = c.desk.accept_restore(&c.admin()).unwrap_err();
    assert!(err.to_string().contains("records no restore"), "{err}");
    assert!(admin.seal_now(&keys).is_err());
}
