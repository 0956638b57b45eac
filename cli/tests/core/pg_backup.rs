//! A clinic server's backups (`pg_dump` archives) and restores against the real
//! test server: a backup restores whole with its audit seals, the database it
//! replaced is kept, and a changed, foreign, newer or unreadable archive is
//! refused with nothing changed.

use std::path::Path;
use std::process::Command;

use frontdesk::storage::audit_key::KeyFolder;
use frontdesk::storage::pg::{dump, PgClinic};
use frontdesk::BookRequest;

use crate::fixture::server::server;
use crate::fixture::{frontdesk_bin, Clinic};

fn one(url: &str, sql: &str) -> i64 {
    PgClinic::connect(url, 1)
        .unwrap()
        .session()
        .unwrap()
        .query_one(sql, &[])
        .unwrap()
        .get(0)
}

fn admin_run(admin_url: &str, sql: &str) {
    PgClinic::connect(admin_url, 1)
        .unwrap()
        .session()
        .unwrap()
        .batch_execute(sql)
        .unwrap();
}

/// `frontdesk --db URL restore FILE --admin-url ADMIN [extra]`: its success and
/// what it said.
fn restore(url: &str, admin_url: &str, file: &Path, extra: &[&str]) -> (bool, String) {
    let out = Command::new(frontdesk_bin())
        .args(["--db", url, "restore"])
        .arg(file)
        .args(["--admin-url", admin_url])
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn book_n(c: &Clinic, n: usize) {
    let doctor = c.doctor(&format!("Dr. {n}"));
    let patient = c.patient(&format!("Pat {n}"), "+4915112345678");
    for slot in c.slots(doctor, n) {
        c.desk
            .book(
                &c.receptionist(),
                &BookRequest {
                    slot_id: slot,
                    patient_id: patient,
                    reason: "Check-up".into(),
                },
            )
            .unwrap();
    }
}

/// The safety copies a restore of `database` left (dropped: a run before may
/// have left some).
fn drop_safety_copies(admin_url: &str, database: &str) -> Vec<String> {
    let admin = PgClinic::connect(admin_url, 1).unwrap();
    let mut s = admin.session().unwrap();
    let names: Vec<String> = s
        .query(
            "SELECT datname::text FROM pg_database WHERE datname LIKE $1",
            &[&format!("{database}_before_restore_%")],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for name in &names {
        s.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .unwrap();
    }
    names
}

/// `database` on the server of `admin_url`, as its administrator.
fn admin_db_url(admin_url: &str, database: &str) -> String {
    format!("{}/{database}", admin_url.rsplit_once('/').unwrap().0)
}

/// This PC's key folder for clinic servers (the tests' own, see the fixture).
fn this_pc_keys() -> KeyFolder {
    KeyFolder::for_server(KeyFolder::default_dir())
}

/// The clinic's id on the server.
fn clinic_id(clinic: &PgClinic) -> String {
    clinic
        .session()
        .unwrap()
        .query_one("SELECT value FROM setting WHERE key = 'clinic.id'", &[])
        .unwrap()
        .get(0)
}

/// Every seal of the log verifies under `keys`' key, the seal its anchor names
/// is there, and no row is left unsealed.
fn assert_log_verifies(clinic: &PgClinic, keys: &KeyFolder, id: &str) {
    let verdict = clinic
        .verify_audit(
            &keys.load(id).unwrap().unwrap(),
            &keys.server_anchor(id).unwrap(),
        )
        .unwrap();
    assert_eq!(verdict.first_bad_seal, None, "{verdict:?}");
    assert!(!verdict.anchored_seal_missing, "{verdict:?}");
    assert_eq!(verdict.unsealed, 0);
}

/// Runs `f` while the sealers' turn is held on `admin_db`: no desk's sealer
/// seals anything meanwhile.
fn while_sealers_wait<T>(admin_db: &str, f: impl FnOnce() -> T) -> T {
    let sealers = PgClinic::connect(admin_db, 1).unwrap();
    let mut session = sealers.session().unwrap();
    let mut turn = session.transaction().unwrap();
    turn.execute("SELECT pg_advisory_xact_lock(7436, 2)", &[])
        .unwrap();
    let out = f();
    turn.commit().unwrap();
    out
}

#[test]
fn a_server_backup_restores_whole_with_its_seals_and_keeps_the_database_it_replaced() {
    let Some(admin_url) = server() else { return };
    let Some(c) = Clinic::on_server("srv_backup") else {
        return;
    };
    let url = c.path().display().to_string();
    let database = "fd_srv_backup";
    drop_safety_copies(&admin_url, database);
    book_n(&c, 5);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clinic.pgdump");
    let taken = c.desk.backup_now(&c.admin(), Some(file.clone())).unwrap();
    assert_eq!(taken.file.path, file.display().to_string());
    assert!(taken.file.bytes > 0);
    // taken by the receptionist: refused, nothing written
    let other = dir.path().join("not.pgdump");
    assert!(c
        .desk
        .backup_now(&c.receptionist(), Some(other.clone()))
        .is_err());
    assert!(!other.exists());

    let check = c.desk.check_server_backup(&c.admin(), &file).unwrap();
    assert_eq!(check.rows("appointment"), 5);
    let events = check.rows("audit_event");
    assert!(events > 5, "{check:?}");
    // the backup sealed the log first: every row in it is verified
    assert_eq!(check.seals_verified, Some(events), "{check:?}");
    assert_eq!(check.unsealed, 0);

    // another desk PC with the clinic's key seals what is written after the
    // backup: its anchor is then past anything the backup holds
    let keys = this_pc_keys();
    let other_pc = tempfile::tempdir().unwrap();
    let other_keys = KeyFolder::for_server(other_pc.path().to_path_buf());
    std::fs::copy(
        keys.key_path(&check.clinic_id),
        other_keys.key_path(&check.clinic_id),
    )
    .unwrap();
    // more bookings after the backup, then the restore takes the clinic back
    book_n(&c, 3);
    let other = PgClinic::connect(&url, 1).unwrap();
    assert!(other.seal_now(&other_keys).unwrap() > 0);
    assert_eq!(one(&url, "SELECT count(*) FROM appointment"), 8);
    let (ok, said) = restore(&url, &admin_url, &file, &[]);
    assert!(ok, "{said}");
    assert!(said.contains("Restored into the server database"), "{said}");
    assert_eq!(one(&url, "SELECT count(*) FROM appointment"), 5);
    // the desk that was open reconnects by itself and books on
    book_n(&c, 1);
    assert_eq!(one(&url, "SELECT count(*) FROM appointment"), 6);
    assert_eq!(
        one(
            &url,
            "SELECT count(*) FROM audit_event e JOIN audit_seal s ON s.event_id = e.id
             WHERE e.action = 'backup.restore'"
        ),
        1,
        "the restore seals its own row"
    );
    // ids go on after the restored ones; the restore is in the log
    assert_eq!(
        one(
            &url,
            "SELECT count(*) FROM audit_event WHERE action = 'backup.restore'"
        ),
        1
    );
    assert_eq!(
        one(&url, "SELECT count(DISTINCT id) FROM appointment"),
        6,
        "ids collide after a restore"
    );
    // the other PC's sealer holds off (its newest seal is not in the restored
    // log) until its admin accepts the restore, which the log records
    let other = PgClinic::connect(&url, 1).unwrap();
    let err = other.seal_now(&other_keys).unwrap_err();
    assert!(err.to_string().contains("restored"), "{err}");
    let accepted = other
        .accept_restore(
            &other_keys.load(&check.clinic_id).unwrap().unwrap(),
            &other_keys.server_anchor(&check.clinic_id).unwrap(),
        )
        .unwrap();
    assert!(accepted.sealed > events, "{accepted:?}");
    book_n(&c, 2);
    assert!(other.seal_now(&other_keys).unwrap() > 0);
    // the restored log's seals verify and the new rows are sealed after them
    let clinic = PgClinic::connect(&url, 1).unwrap();
    clinic.seal_now(&keys).unwrap();
    assert_log_verifies(&clinic, &keys, &clinic_id(&clinic));
    // the database it replaced is kept, with the 8 appointments
    let kept = drop_safety_copies(&admin_url, database);
    assert_eq!(kept.len(), 1, "{kept:?}");
}

/// A restore run on a PC without the clinic's audit key cannot seal the
/// restored log; the desk PCs that have the key hold their sealers off (their
/// newest seal is gone) until their administrator accepts the restore, which
/// the log's restore row — written only by the database's owner — allows even
/// unsealed. Before, acceptance asked for a sealed restore row, which only a PC
/// with the key could make and none would: sealing stopped for good.
#[test]
fn a_restore_from_a_pc_without_the_audit_key_is_accepted_and_sealed_where_the_key_is() {
    let Some(admin_url) = server() else { return };
    let Some(c) = Clinic::on_server("srv_keyless") else {
        return;
    };
    let url = c.path().display().to_string();
    drop_safety_copies(&admin_url, "fd_srv_keyless");
    book_n(&c, 3);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clinic.pgdump");
    c.desk.backup_now(&c.admin(), Some(file.clone())).unwrap();
    // this PC (it has the key) seals what is written after the backup
    book_n(&c, 2);
    let keys = this_pc_keys();
    let clinic = PgClinic::connect(&url, 1).unwrap();
    assert!(clinic.seal_now(&keys).unwrap() > 0);

    let keyless = tempfile::tempdir().unwrap();
    let out = Command::new(frontdesk_bin())
        .env("FRONTDESK_KEYS_DIR", keyless.path())
        .args(["--db", &url, "restore"])
        .arg(&file)
        .args(["--admin-url", &admin_url, "--yes"])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("accept-restore"),
        "says what to do next: {said}"
    );
    assert_eq!(one(&url, "SELECT count(*) FROM appointment"), 3);
    let restore_row =
        "SELECT count(*) FROM audit_event e LEFT JOIN audit_seal s ON s.event_id = e.id
         WHERE e.action = 'backup.restore' AND s.event_id IS NULL";
    assert_eq!(one(&url, restore_row), 1, "the restore's row, unsealed");

    // the PC with the key holds off, then its administrator accepts
    let clinic = PgClinic::connect(&url, 1).unwrap();
    let err = clinic.seal_now(&keys).unwrap_err();
    assert!(err.to_string().contains("restored"), "{err}");
    let id = clinic_id(&clinic);
    clinic
        .accept_restore(
            &keys.load(&id).unwrap().unwrap(),
            &keys.server_anchor(&id).unwrap(),
        )
        .unwrap();
    assert!(clinic.seal_now(&keys).unwrap() > 0, "sealing goes on");
    assert_eq!(one(&url, restore_row), 0, "the restore's row is sealed");
    assert_log_verifies(&clinic, &keys, &id);
    drop_safety_copies(&admin_url, "fd_srv_keyless");
}

/// A backup whose log holds no seal at all (taken where no desk had the key),
/// restored with confirmation on a PC that has the key: the restoring PC's
/// anchor is emptied and the whole log sealed from its first row. Before, the
/// anchor was written without a seal's MAC, read back as damaged, and this PC
/// never sealed again; and accepting such a restore elsewhere was refused
/// ("the audit log has no seals").
#[test]
fn a_backup_without_any_seal_restored_where_the_key_is_is_sealed_from_its_first_row() {
    let Some(admin_url) = server() else { return };
    let Some(c) = Clinic::on_server("srv_sealless") else {
        return;
    };
    let url = c.path().display().to_string();
    let database = "fd_srv_sealless";
    let admin_db = admin_db_url(&admin_url, database);
    drop_safety_copies(&admin_url, database);
    book_n(&c, 2);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sealless.pgdump");
    // the log as no desk with the key ever saw it (the sealers' turn held, so
    // none seals it meanwhile)
    while_sealers_wait(&admin_db, || {
        admin_run(&admin_db, "DELETE FROM audit_seal");
        dump::dump(&url, &file).unwrap();
    });

    let (ok, said) = restore(&url, &admin_url, &file, &["--yes"]);
    assert!(ok, "{said}");
    assert!(!said.contains("could not be sealed"), "{said}");
    let unsealed = "SELECT count(*) FROM audit_event e LEFT JOIN audit_seal s ON s.event_id = e.id
                    WHERE s.event_id IS NULL";
    assert_eq!(one(&url, unsealed), 0, "the restore sealed the whole log");
    let keys = this_pc_keys();
    let clinic = PgClinic::connect(&url, 1).unwrap();
    let id = clinic_id(&clinic);
    book_n(&c, 1);
    assert!(clinic.seal_now(&keys).unwrap() > 0, "sealing goes on");
    assert_log_verifies(&clinic, &keys, &id);

    // a seal-less log accepted on another PC: its anchor is emptied
    let other = tempfile::tempdir().unwrap();
    let other_anchor = KeyFolder::for_server(other.path().into())
        .server_anchor(&id)
        .unwrap();
    let accepted = while_sealers_wait(&admin_db, || {
        admin_run(&admin_db, "DELETE FROM audit_seal");
        clinic
            .accept_restore(&keys.load(&id).unwrap().unwrap(), &other_anchor)
            .unwrap()
    });
    assert_eq!(accepted.head_seq, 0, "{accepted:?}");
    assert!(other_anchor.read().unwrap().is_none());
    drop_safety_copies(&admin_url, database);
}

#[test]
fn a_changed_foreign_newer_or_unreadable_server_backup_is_refused_and_nothing_changes() {
    let Some(admin_url) = server() else { return };
    let Some(c) = Clinic::on_server("srv_backup_bad") else {
        return;
    };
    let url = c.path().display().to_string();
    let database = "fd_srv_backup_bad";
    let admin_db = admin_db_url(&admin_url, database);
    drop_safety_copies(&admin_url, database);
    book_n(&c, 4);
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.pgdump");
    c.desk.backup_now(&c.admin(), Some(good.clone())).unwrap();
    let appointments = || one(&url, "SELECT count(*) FROM appointment");
    let refused = |file: &Path, extra: &[&str], why: &str| {
        let (ok, said) = restore(&url, &admin_url, file, extra);
        assert!(!ok, "{why}: restored: {said}");
        assert_eq!(appointments(), 4, "{why}: {said}");
        assert!(drop_safety_copies(&admin_url, database).is_empty(), "{why}");
        said
    };

    // not an archive at all
    let junk = dir.path().join("junk.pgdump");
    std::fs::write(&junk, b"PGDMP but not really \x00\x01\x02").unwrap();
    let said = refused(&junk, &[], "junk");
    assert!(said.contains("not a Frontdesk server backup"), "{said}");
    // a file of the clinic, not a server archive
    let said = refused(&c.desk.path().join("nothing"), &[], "missing file");
    assert!(!said.is_empty());

    // audit rows written after the last seal (by a desk whose PC has no key, or
    // in the moment before the snapshot): nothing shows whether they were
    // changed, so the restore asks
    let unsealed = dir.path().join("unsealed.pgdump");
    // (the sealers' turn held meanwhile: the desk's sealer cannot seal it first)
    while_sealers_wait(&admin_db, || {
        admin_run(
            &admin_db,
            "INSERT INTO audit_event (at, actor, action, entity, detail)
             VALUES (1, 'Rita', 'note', 'note', 'written after the last seal')",
        );
        dump::dump(&url, &unsealed).unwrap();
    });
    let said = refused(&unsealed, &[], "unsealed rows");
    assert!(said.contains("not sealed when it was taken"), "{said}");

    // a sealed audit row changed on the server (by someone with the server's
    // rights), then dumped: the seals do not verify
    let forged = dir.path().join("forged.pgdump");
    admin_run(
        &admin_db,
        "UPDATE audit_event SET detail = 'nothing happened'
         WHERE id = (SELECT min(event_id) FROM audit_seal)",
    );
    // Frontdesk's own backup refuses to publish it
    let err = c
        .desk
        .backup_now(&c.admin(), Some(dir.path().join("refused.pgdump")))
        .unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
    assert!(!dir.path().join("refused.pgdump").exists());
    dump::dump(&url, &forged).unwrap();
    let said = refused(&forged, &["--yes"], "forged audit row");
    assert!(said.contains("does not verify at seal"), "{said}");

    // a table that is not the clinic's
    let foreign = dir.path().join("foreign.pgdump");
    admin_run(
        &admin_db,
        "CREATE TABLE public.evil (x text); INSERT INTO evil VALUES ('boom')",
    );
    dump::dump(&url, &foreign).unwrap();
    admin_run(&admin_db, "DROP TABLE evil");
    let said = refused(&foreign, &["--yes"], "foreign table");
    assert!(said.contains("\"evil\""), "{said}");

    // a newer Frontdesk's
    let newer = dir.path().join("newer.pgdump");
    admin_run(&admin_db, "INSERT INTO schema_version VALUES (99)");
    dump::dump(&url, &newer).unwrap();
    admin_run(&admin_db, "DELETE FROM schema_version WHERE version = 99");
    let said = refused(&newer, &["--yes"], "newer schema");
    assert!(said.contains("schema version 99"), "{said}");

    // another clinic's backup needs --yes
    let Some(other) = Clinic::on_server("srv_backup_other") else {
        return;
    };
    book_n(&other, 2);
    let theirs = dir.path().join("theirs.pgdump");
    other
        .desk
        .backup_now(&other.admin(), Some(theirs.clone()))
        .unwrap();
    let said = refused(&theirs, &[], "another clinic's");
    assert!(said.contains("another clinic"), "{said}");
    // no admin URL: said what is needed
    let out = Command::new(frontdesk_bin())
        .args(["--db", &url, "restore"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--admin-url"));
    // and the good one still restores
    let (ok, said) = restore(&url, &admin_url, &good, &[]);
    assert!(ok, "{said}");
    drop_safety_copies(&admin_url, database);
}
