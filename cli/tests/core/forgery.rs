//! Forgers with the database file but not the clinic's key: each edit behind the
//! app's back is found by `check`, naming the row; and hostile backups, each
//! refused (or neutralised) with its reason.

use std::path::{Path, PathBuf};

use frontdesk::{Actor, BookRequest, NewPatient, Role};

use crate::fixture::{Clinic, NOW};

/// A clinic with some history: a receptionist, a patient, a booked appointment.
fn clinic_with_history() -> (Clinic, i64, i64, i64) {
    let c = Clinic::new();
    let staff = c.account("rita", Role::Receptionist);
    let doctor = c.doctor("Dr. Weber");
    let slot = c.slots(doctor, 1)[0];
    let patient = c.patient("Maria García", "0151 23456789");
    let appointment = c
        .desk
        .book(
            &c.admin(),
            &BookRequest {
                slot_id: slot,
                patient_id: patient,
                reason: "check-up".into(),
            },
        )
        .unwrap()
        .id;
    (c, staff, patient, appointment)
}

/// Runs raw SQL on the file, as a forger with a sqlite3 shell would.
fn forge(c: &Clinic, sql: &str) {
    let conn = frontdesk::storage::db::open_keyed(c.path()).unwrap();
    conn.execute_batch(sql).unwrap();
}

/// (id, at, actor, action, entity, entity_id, detail) of an audit row.
type AuditRow = (i64, i64, String, String, String, Option<i64>, String);

fn trigger_sql(c: &Clinic, name: &str) -> String {
    frontdesk::storage::db::open_keyed(c.path())
        .unwrap()
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
            [name],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn an_untouched_clinic_passes_check() {
    let (c, _, _, _) = clinic_with_history();
    assert_eq!(c.check_failures(), "", "nothing to report");
}

#[test]
fn deleting_the_newest_audit_rows_behind_a_dropped_and_recreated_trigger_is_found() {
    let (c, _, _, _) = clinic_with_history();
    let last: i64 = c.count("SELECT max(id) FROM audit_event");
    let trigger = trigger_sql(&c, "audit_event_no_delete");
    forge(
        &c,
        &format!(
            "DROP TRIGGER audit_event_no_delete; DELETE FROM audit_event WHERE id > {}; {trigger};",
            last - 2
        ),
    );
    let found = c.check_failures();
    assert!(
        found.contains(&format!("ends before row {last}")),
        "the anchor outside the database names the removed head: {found}"
    );
}

/// Re-chains the log from row `from` on with the only function a forger can
/// compute without the key: plain SHA-256, over the fields of an unsealed row.
/// `unseal` also marks those rows unsealed, so each hash is right for what the
/// row claims to be (a downgrade); without it, the rows still claim a seal.
fn rechain_with_plain_sha256(conn: &rusqlite::Connection, from: i64, unseal: bool) {
    use sha2::{Digest, Sha256};
    let rows: Vec<AuditRow> = conn
        .prepare(
            "SELECT id, at, actor, action, entity, entity_id, detail FROM audit_event ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let mut prev: String = conn
        .query_row(
            "SELECT prev_hash FROM audit_event WHERE id = ?1",
            [from],
            |r| r.get(0),
        )
        .unwrap();
    for (id, at, actor, action, entity, entity_id, detail) in
        rows.into_iter().filter(|r| r.0 >= from)
    {
        let mut h = Sha256::new();
        for part in [
            prev.as_str(),
            &at.to_string(),
            &actor,
            &action,
            &entity,
            &entity_id.map(|i| i.to_string()).unwrap_or_default(),
            &detail,
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        let hash = hex::encode(h.finalize());
        conn.execute(
            "UPDATE audit_event SET prev_hash = ?2, hash = ?3,
               keyed = CASE WHEN ?4 THEN 0 ELSE keyed END WHERE id = ?1",
            rusqlite::params![id, prev, hash, unseal],
        )
        .unwrap();
        prev = hash;
    }
}

#[test]
fn rewriting_a_middle_row_and_recomputing_every_later_hash_is_found() {
    let (c, _, _, _) = clinic_with_history();
    let trigger = trigger_sql(&c, "audit_event_no_update");
    let middle: i64 = c.count("SELECT min(id) + 1 FROM audit_event");
    let conn = frontdesk::storage::db::open_keyed(c.path()).unwrap();
    conn.execute_batch("DROP TRIGGER audit_event_no_update")
        .unwrap();
    conn.execute(
        "UPDATE audit_event SET detail = 'nothing to see' WHERE id = ?1",
        [middle],
    )
    .unwrap();
    rechain_with_plain_sha256(&conn, middle, false);
    conn.execute_batch(&format!("{trigger};")).unwrap();
    drop(conn);
    let found = c.check_failures();
    assert!(
        found.contains(&format!("audit row {middle}")),
        "the rewritten row is named: {found}"
    );
}

/// The anchor outside the database also says from which row on the log is
/// sealed. When this computer loses the anchor file, the next desk rebuilds it
/// from the database's first sealed row, so a forger who later rewrites the
/// whole log as unsealed plain SHA-256 rows (every hash right for what the row
/// claims) is still found, at the first row that was sealed.
#[test]
fn a_log_rewritten_as_unsealed_after_the_anchor_was_rebuilt_is_found() {
    let (c, _, _, _) = clinic_with_history();
    let first_sealed: i64 = c.count("SELECT min(id) FROM audit_event WHERE keyed = 1");
    let clinic_id: String = frontdesk::storage::db::open_keyed(c.path())
        .unwrap()
        .query_row(
            "SELECT value FROM setting WHERE key = 'clinic.id'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let anchor = frontdesk::storage::audit_key::KeyFolder::default_dir()
        .join(format!("{clinic_id}.audit-head"));
    std::fs::remove_file(&anchor).expect("the clinic has an anchor file");
    // the next desk to open rebuilds it (this one stays open, as a desk would)
    let desk = c.reopen();
    assert!(anchor.exists(), "the anchor is written again");
    let trigger = trigger_sql(&c, "audit_event_no_update");
    let conn = frontdesk::storage::db::open_keyed(c.path()).unwrap();
    conn.execute_batch("DROP TRIGGER audit_event_no_update")
        .unwrap();
    rechain_with_plain_sha256(&conn, 1, true);
    conn.execute_batch(&format!("{trigger};")).unwrap();
    drop(conn);
    for (who, desk) in [
        ("the desk that rebuilt the anchor", &desk),
        ("a desk opened after", &c.reopen()),
    ] {
        let report = desk.check().unwrap();
        let found: Vec<&str> = report
            .items
            .iter()
            .filter(|i| !i.ok)
            .map(|i| i.detail.as_str())
            .collect();
        assert!(
            found
                .iter()
                .any(|f| f.contains(&format!("audit row {first_sealed} is not sealed"))),
            "{who} names the first row that was sealed: {found:?}"
        );
    }
}

#[test]
fn making_a_receptionist_an_admin_with_raw_sql_is_found() {
    let (c, staff, _, _) = clinic_with_history();
    forge(
        &c,
        &format!("UPDATE staff SET role = 'ADMIN' WHERE id = {staff}"),
    );
    let found = c.check_failures();
    assert!(
        found.contains(&format!("staff {staff} is role=ADMIN")),
        "the account is named with what changed: {found}"
    );
}

#[test]
fn editing_a_patient_or_an_appointment_with_raw_sql_is_found() {
    let (c, _, patient, appointment) = clinic_with_history();
    forge(
        &c,
        &format!(
            "UPDATE patient SET notes = 'edited behind the app' WHERE id = {patient};
             UPDATE appointment SET status = 'CONFIRMED', version = version + 1 WHERE id = {appointment};
             INSERT INTO appointment_status_history (appointment_id, from_status, to_status, at, actor)
               SELECT {appointment}, 'PENDING', 'CONFIRMED', 0, 'forger';"
        ),
    );
    let found = c.check_failures();
    assert!(
        found.contains(&format!("patient {patient} is")),
        "the edited patient is named: {found}"
    );
    assert!(
        found.contains(&format!("appointment {appointment} is status=CONFIRMED")),
        "the edited appointment is named: {found}"
    );
    assert!(
        !found.contains("edited behind the app"),
        "no patient data in the report: {found}"
    );
}

#[test]
fn a_trigger_added_to_the_database_is_found() {
    let (c, _, _, _) = clinic_with_history();
    forge(
        &c,
        "CREATE TRIGGER copy_patients AFTER INSERT ON patient BEGIN SELECT 1; END;",
    );
    let found = c.check_failures();
    assert!(
        found.contains("extra trigger copy_patients"),
        "the extra trigger is named: {found}"
    );
}

// ---- hostile backups ----------------------------------------------------------

/// A backup of the clinic, then `sql` run on a copy of it: the hostile file.
fn hostile_backup(c: &Clinic, name: &str, sql: &str) -> PathBuf {
    let taken = PathBuf::from(c.desk.backup_now(&c.admin(), None).unwrap().file.path);
    let hostile = c.dir.path().join(format!("{name}.sqlite3"));
    std::fs::copy(&taken, &hostile).unwrap();
    frontdesk::storage::db::open_keyed(&hostile)
        .unwrap()
        .execute_batch(sql)
        .unwrap();
    hostile
}

fn refusal(c: &Clinic, file: &Path) -> String {
    c.desk
        .check_backup(&c.admin(), file)
        .expect_err("a hostile backup is refused")
        .to_string()
}

#[test]
fn a_backup_with_an_extra_table_trigger_or_view_or_an_altered_trigger_is_refused_by_name() {
    let (c, _, _, _) = clinic_with_history();
    let cases = [
        ("extra-table", "CREATE TABLE stolen (x TEXT);", "extra table stolen"),
        (
            "extra-trigger",
            "CREATE TABLE stolen (x TEXT); CREATE TRIGGER leak AFTER INSERT ON patient BEGIN INSERT INTO stolen VALUES (NEW.name); END;",
            "extra trigger leak",
        ),
        ("extra-view", "CREATE VIEW everyone AS SELECT name FROM patient;", "extra view everyone"),
        (
            "altered-trigger",
            "DROP TRIGGER audit_event_no_delete; CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event BEGIN SELECT 1; END;",
            "altered trigger audit_event_no_delete",
        ),
    ];
    for (name, sql, expected) in cases {
        let hostile = hostile_backup(&c, name, sql);
        let why = refusal(&c, &hostile);
        assert!(
            why.contains(expected),
            "{name}: the refusal names it: {why}"
        );
    }
}

#[test]
fn a_backup_with_a_planted_admin_is_flagged_and_needs_confirmation() {
    let (c, _, _, _) = clinic_with_history();
    let hostile = hostile_backup(
        &c,
        "planted-admin",
        "INSERT INTO staff (username, display_name, role, password_hash, active, created_at, updated_at)
           SELECT 'mallory', 'Mallory', 'ADMIN', password_hash, 1, 0, 0 FROM staff LIMIT 1;",
    );
    let check = c.desk.check_backup(&c.admin(), &hostile).unwrap();
    assert!(check.foreign, "Frontdesk did not write this file");
    assert!(
        check.staff_changes.iter().any(|s| s.contains("mallory")),
        "the planted admin is listed: {:?}",
        check.staff_changes
    );
    let db = c.path();
    let Clinic { desk, .. } = c;
    let refused = desk
        .restore_backup(&Actor::local_admin(), &hostile, false)
        .expect_err("not restored without confirmation");
    assert!(
        refused.to_string().contains("mallory"),
        "the refusal says why: {refused}"
    );
    let staff: i64 = frontdesk::storage::db::open_keyed(&db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM staff WHERE username = 'mallory'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(staff, 0, "nothing was restored");
}

/// A plain file can carry any key at all, so on a computer without the clinic's
/// audit key a plain backup's own copy of that key is not used to verify its log
/// (an encrypted backup's copy is: only someone with the database key wrote it).
/// The copy planted here is even the right key; the log is still not taken as
/// verified.
#[test]
fn a_plain_backups_own_copy_of_the_audit_key_is_not_trusted_on_another_computer() {
    let (_dir, _db, desk) = crate::fixture::plain_demo_clinic();
    let taken = PathBuf::from(
        desk.backup_now(&Actor::local_admin(), None)
            .unwrap()
            .file
            .path,
    );
    drop(desk);
    let conn = frontdesk::storage::db::open_keyed(&taken).unwrap();
    let clinic_id: String = conn
        .query_row(
            "SELECT value FROM setting WHERE key = 'clinic.id'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let key = std::fs::read_to_string(
        frontdesk::storage::audit_key::KeyFolder::default_dir()
            .join(format!("{clinic_id}.audit-key")),
    )
    .unwrap();
    conn.execute(
        "INSERT OR REPLACE INTO setting (key, value) VALUES ('clinic.audit_key_copy', ?1)",
        [key.trim()],
    )
    .unwrap();
    drop(conn);
    let elsewhere = tempfile::tempdir().unwrap();
    let another_computer = elsewhere.path().join("data").join("clinic.sqlite3");
    let keys = frontdesk::storage::audit_key::KeyFolder::new(
        elsewhere.path().join("keys"),
        &another_computer,
    )
    .unwrap();
    let refused = frontdesk::storage::backup::verify(&taken, &another_computer, &keys)
        .expect_err("the log cannot be verified without this computer having the key");
    assert!(
        refused.to_string().contains("not on this computer"),
        "says the key is missing: {refused}"
    );
}

#[test]
fn a_backup_frontdesk_wrote_is_not_foreign_and_restores_without_confirmation() {
    let (c, _, _, _) = clinic_with_history();
    let taken = PathBuf::from(c.desk.backup_now(&c.admin(), None).unwrap().file.path);
    let check = c.desk.check_backup(&c.admin(), &taken).unwrap();
    assert!(!check.foreign, "its SHA-256 is recorded: {check:?}");
    assert!(check.staff_changes.is_empty(), "same staff: {check:?}");
    let clock = c.clock.clone();
    let db = c.path();
    let Clinic { desk, dir, .. } = c;
    desk.restore_backup(&Actor::local_admin(), &taken, false)
        .expect("restored without any confirmation");
    let reopened = crate::fixture::open_at(&db, clock);
    assert!(
        reopened.check().unwrap().ok,
        "the restored clinic checks out"
    );
    drop(dir);
}

#[test]
fn a_restore_keeps_this_computers_sender_and_backup_folder() {
    let c = Clinic::new();
    let folder = c.dir.path().join("our-backups");
    std::fs::create_dir(&folder).unwrap();
    c.desk
        .set_setting(
            &Actor::local_admin(),
            "backup.folder",
            folder.to_str().unwrap(),
        )
        .unwrap();
    let hostile = hostile_backup(
        &c,
        "settings",
        "UPDATE setting SET value = '/tmp/elsewhere' WHERE key = 'backup.folder';
         INSERT OR REPLACE INTO setting (key, value) VALUES ('otp.sender', '/bin/sh');
         INSERT OR REPLACE INTO setting (key, value) VALUES ('otp.sender_name', 'theirs');",
    );
    let db = c.path();
    let clock = c.clock.clone();
    let Clinic { desk, dir, .. } = c;
    desk.restore_backup(&Actor::local_admin(), &hostile, true)
        .expect("restored after confirmation");
    let desk = crate::fixture::open_at(&db, clock);
    let settings: Vec<(String, String)> = desk
        .read(|conn| {
            let mut s = conn.prepare(
                "SELECT key, value FROM setting WHERE key IN ('backup.folder', 'otp.sender', 'otp.sender_name') ORDER BY key",
            )?;
            let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .unwrap();
    assert_eq!(
        settings,
        vec![(
            "backup.folder".to_string(),
            folder.to_str().unwrap().to_string()
        )],
        "this computer's backup folder stays, and neither a sender nor a sender choice comes from the backup"
    );
    drop(dir);
}

#[test]
fn patients_added_by_the_app_are_audited_with_their_state() {
    let c = Clinic::new();
    let p = c
        .desk
        .add_patient(
            &Actor::local_admin(),
            &NewPatient {
                name: "Anna Müller".into(),
                phone: "0151 23456780".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let state: String = c
        .desk
        .read(|conn| {
            Ok(conn.query_row(
                "SELECT state FROM audit_event WHERE entity = 'patient' AND entity_id = ?1",
                [p.id],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert!(
        state.starts_with("version=1 fields=") && !state.contains("Anna"),
        "the state is recorded, the name is not: {state}"
    );
    let _ = NOW;
}
