//! Every person is named at the command line too (issue 11 §4): commands that read
//! or change the clinic's data sign in as a staff member, with the permissions of
//! that person's role and under their name in the audit log; the owner of the
//! database file has one audited way round it (`--break-glass REASON`); `init` and
//! `demo` on an empty clinic, `check` and `--help` stay open.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use frontdesk::{Actor, NewStaff, Role};

use crate::fixture::{self, Clinic, CLI_ADMIN, NEW_PASSWORD_ENV, PASSWORD};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(mut cmd: Command, args: &[&str]) -> Output {
    cmd.args(args).output().expect("run frontdesk")
}

/// Asserts the exit code and that stderr says `words` (case-insensitive).
fn refused(out: &Output, code: i32, words: &str, what: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: exit code; stderr: {stderr}"
    );
    assert!(
        stderr.to_lowercase().contains(&words.to_lowercase()),
        "{what}: expected {words:?} in {stderr:?}"
    );
    assert!(!stderr.contains("panicked"), "{what} panicked: {stderr}");
}

fn json(out: &Output, what: &str) -> serde_json::Value {
    assert!(out.status.success(), "{what} failed: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

/// The operating-system user running the tests, as `id` names it.
fn os_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    text(&out.stdout).trim().to_string()
}

/// The audit rows (actor, action, entity id) from `since_id` on, oldest first.
fn audit_since(c: &Clinic, since_id: i64) -> Vec<(String, String, Option<i64>)> {
    c.desk
        .read(|conn| {
            let mut st = conn.prepare(
                "SELECT actor, action, entity_id FROM audit_event WHERE id > ?1 ORDER BY id",
            )?;
            let rows = st
                .query_map([since_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .unwrap()
}

fn last_audit_id(c: &Clinic) -> i64 {
    c.count("SELECT coalesce(max(id), 0) FROM audit_event")
}

/// A clinic with a signed-up admin for the CLI, a doctor, a free slot and a patient.
struct Setup {
    c: Clinic,
    slot: i64,
    patient: i64,
}

fn setup() -> Setup {
    let c = Clinic::new();
    c.cli_admin();
    let doctor = c.doctor("Dr. Weber");
    let slot = c.slots(doctor, 1)[0];
    let patient = c.patient("Maria García", "0151 23456789");
    Setup { c, slot, patient }
}

#[test]
fn a_command_without_a_sign_in_is_refused_and_changes_and_shows_nothing() {
    let Setup { c, patient, .. } = setup();
    let db = c.path();
    let backup = c.desk.backup_now(&c.admin(), None).unwrap().file.path;
    let name = c.desk.settings().unwrap().name;
    let before = (
        last_audit_id(&c),
        c.count("SELECT count(*) FROM doctor"),
        c.count("SELECT count(*) FROM staff"),
    );
    let patient = patient.to_string();
    for args in [
        &["doctor", "add", "Dr. Nobody"][..],
        &["patient", "list"],
        &["patient", "show", &patient],
        &["patient", "search", "García"],
        &["staff", "list"],
        &[
            "staff",
            "add",
            "--username",
            "eve",
            "--name",
            "Eve",
            "--generate-password",
        ],
        &["settings", "get"],
        &["settings", "set", "clinic.name", "Nobody's Clinic"],
        &["backup"],
        &["backups", "list"],
        &["restore", "--check-only", &backup],
        &["audit"],
        &["export", "patients"],
        &["stats"],
    ] {
        let out = run(fixture::cli_anonymous(&db), args);
        refused(&out, 1, "needs a staff sign-in", &format!("{args:?}"));
        assert!(
            !text(&out.stdout).contains("García"),
            "{args:?} shows no patient data: {}",
            text(&out.stdout)
        );
    }
    let out = run(
        fixture::cli_anonymous(&db),
        &["--json", "doctor", "add", "Dr. Nobody"],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON error");
    assert_eq!(v["error"]["code"], "Unauthenticated", "{v}");
    assert_eq!(
        (
            last_audit_id(&c),
            c.count("SELECT count(*) FROM doctor"),
            c.count("SELECT count(*) FROM staff"),
        ),
        before,
        "nothing was written: no audit row, no doctor, no account"
    );
    assert_eq!(
        c.desk.settings().unwrap().name,
        name,
        "the name is unchanged"
    );
    c.assert_check();
}

#[test]
fn a_receptionist_at_the_command_line_may_book_but_not_back_up_restore_or_change_settings() {
    let Setup { c, slot, patient } = setup();
    let rita = c.account("rita", Role::Receptionist);
    let backup = c.desk.backup_now(&c.admin(), None).unwrap().file.path;
    let backups_before = c.desk.list_backups(&c.admin()).unwrap().backups.len();
    let name = c.desk.settings().unwrap().name;
    let db = c.path();
    let clock = c.clock.clone();
    let Clinic {
        desk, dir: _dir, ..
    } = c;
    // a restore needs every desk closed: this test's own desk too
    drop(desk);
    let as_rita = || fixture::cli_as(&db, "rita", PASSWORD);

    let booked = json(
        &run(
            as_rita(),
            &[
                "--json",
                "book",
                "--slot",
                &slot.to_string(),
                "--patient",
                &patient.to_string(),
            ],
        ),
        "rita books",
    );
    assert_eq!(booked["appointment"]["status"], "PENDING");
    let id = booked["appointment"]["id"].as_i64().unwrap();
    json(
        &run(as_rita(), &["--json", "patient", "search", "García"]),
        "rita searches patients",
    );

    for (args, words) in [
        (&["backup"][..], "may not manage backups"),
        (
            &["restore", "--check-only", &backup],
            "may not manage backups",
        ),
        (&["restore", "--yes", &backup], "may not manage backups"),
        (
            &["settings", "set", "clinic.name", "Rita's Clinic"],
            "may not change clinic settings",
        ),
        (
            &[
                "staff",
                "add",
                "--username",
                "eve",
                "--name",
                "Eve",
                "--generate-password",
            ],
            "may not manage staff",
        ),
        (&["audit"], "may not view the audit log"),
        (&["stats"], "may not view reports"),
        (
            &[
                "appointment",
                "status",
                "--id",
                &id.to_string(),
                "--to",
                "CONFIRMED",
                "--version",
                "1",
            ],
            "may not confirm",
        ),
    ] {
        refused(&run(as_rita(), args), 1, words, &format!("rita: {args:?}"));
    }

    let desk = fixture::open_at(&db, clock);
    let appointment = desk
        .get_appointment(&Actor::local_admin(), id)
        .unwrap()
        .appointment;
    assert_eq!(
        appointment.status,
        frontdesk::AppointmentStatus::Pending,
        "still pending, and still there: no restore replaced the database"
    );
    assert_eq!(
        appointment.created_by,
        format!("rita (test) (#{rita})"),
        "booked under rita's name"
    );
    assert_eq!(
        desk.settings().unwrap().name,
        name,
        "the clinic name is unchanged"
    );
    assert_eq!(
        desk.list_backups(&Actor::local_admin())
            .unwrap()
            .backups
            .len(),
        backups_before,
        "no backup was written"
    );
    let staff: i64 = desk
        .read(|c| Ok(c.query_row("SELECT count(*) FROM staff", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(staff, 2, "no account was added");
}

#[test]
fn a_wrong_password_and_an_unknown_username_are_refused_alike() {
    let Setup { c, .. } = setup();
    let db = c.path();
    let doctors = c.count("SELECT count(*) FROM doctor");
    let wrong = run(
        fixture::cli_as(&db, CLI_ADMIN, "not the password"),
        &["doctor", "add", "Dr. Wrong"],
    );
    let unknown = run(
        fixture::cli_as(&db, "nobody", PASSWORD),
        &["doctor", "add", "Dr. Unknown"],
    );
    refused(&wrong, 1, "wrong username or password", "wrong password");
    refused(
        &unknown,
        1,
        "wrong username or password",
        "unknown username",
    );
    assert_eq!(
        text(&wrong.stderr),
        text(&unknown.stderr),
        "the same sentence either way"
    );
    let out = run(
        fixture::cli_as(&db, "nobody", PASSWORD),
        &["--json", "doctor", "list"],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "Unauthenticated", "{v}");
    assert_eq!(
        c.count("SELECT count(*) FROM doctor"),
        doctors,
        "no doctor added"
    );
    assert!(
        c.count("SELECT count(*) FROM audit_event WHERE action = 'staff.login_failed'") >= 3,
        "the core counted and audited the failed sign-ins"
    );
}

#[test]
fn the_core_slows_down_sign_ins_after_failures_at_the_command_line_too() {
    let Setup { c, .. } = setup();
    let db = c.path();
    for i in 0..frontdesk::FREE_FAILED_LOGINS {
        let out = run(
            fixture::cli_as(&db, CLI_ADMIN, "not the password"),
            &["doctor", "list"],
        );
        refused(
            &out,
            1,
            "wrong username or password",
            &format!("failure {i}"),
        );
    }
    // the next attempt waits what is left of the core's delay (2 s after the last
    // failure: 1 or 2 s, depending on how long that process took to end), then
    // signs in
    let started = std::time::Instant::now();
    let out = run(fixture::cli(&db), &["doctor", "list"]);
    assert!(
        out.status.success(),
        "signed in after the wait: {}",
        text(&out.stderr)
    );
    assert!(
        ["Waiting 1 s", "Waiting 2 s"]
            .iter()
            .any(|w| text(&out.stderr).contains(w)),
        "says why it waits: {}",
        text(&out.stderr)
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "and did wait"
    );
    // a locked account stays locked at the command line
    c.desk
        .write("test.lock", |tx| {
            Ok(tx.execute(
                "UPDATE staff SET failed_logins = 20, last_failed_at = 0, locked_at = 0 WHERE username = ?1",
                [CLI_ADMIN],
            )?)
        })
        .unwrap();
    refused(
        &run(fixture::cli(&db), &["doctor", "list"]),
        1,
        "locked",
        "a locked account",
    );
}

#[test]
fn someone_whose_password_an_admin_reset_is_told_to_choose_a_new_one_first() {
    let Setup { c, .. } = setup();
    let rita = c.account("rita", Role::Receptionist);
    c.desk
        .reset_password(&Actor::local_admin(), rita, "a brand new password")
        .unwrap();
    let db = c.path();
    refused(
        &run(
            fixture::cli_as(&db, "rita", "a brand new password"),
            &["patient", "list"],
        ),
        1,
        "frontdesk staff change-password rita",
        "rita before choosing her own password",
    );
    let changed = run(
        fixture::cli_anonymous(&db),
        &["staff", "change-password", "rita"],
    );
    assert!(changed.status.code() != Some(0), "no password, no change");
    let mut cmd = fixture::cli_anonymous(&db);
    cmd.env(fixture::PASSWORD_ENV, "a brand new password")
        .env(NEW_PASSWORD_ENV, "sunflower marble kettle");
    let changed = run(cmd, &["staff", "change-password", "rita"]);
    assert!(changed.status.success(), "{}", text(&changed.stderr));
    let out = run(
        fixture::cli_as(&db, "rita", "sunflower marble kettle"),
        &["patient", "list"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn the_audit_log_names_the_person_who_signed_in_at_the_command_line() {
    let Setup { c, patient, .. } = setup();
    let ada = c
        .desk
        .add_staff(
            &Actor::local_admin(),
            &NewStaff {
                username: "ada".into(),
                display_name: "Ada Lovelace".into(),
                role: Role::Admin,
                password: PASSWORD.into(),
            },
        )
        .unwrap()
        .id;
    let db = c.path();
    let since = last_audit_id(&c);
    let added = json(
        &run(
            fixture::cli_as(&db, "ada", PASSWORD),
            &["--json", "doctor", "add", "Dr. Named"],
        ),
        "ada adds a doctor",
    );
    let doctor = added["doctor"]["id"].as_i64().unwrap();
    json(
        &run(
            fixture::cli_as(&db, "ada", PASSWORD),
            &["--json", "patient", "show", &patient.to_string()],
        ),
        "ada opens a record",
    );
    let rows = audit_since(&c, since);
    let label = format!("Ada Lovelace (#{ada})");
    assert!(
        rows.contains(&(label.clone(), "doctor.add".into(), Some(doctor))),
        "the doctor is audited under Ada's name: {rows:?}"
    );
    assert!(
        rows.contains(&(label.clone(), "patient.view".into(), Some(patient))),
        "so is her look at the record (who saw this patient): {rows:?}"
    );
    assert!(
        rows.iter()
            .any(|(actor, action, id)| actor == "Ada Lovelace"
                && action == "staff.login"
                && *id == Some(ada)),
        "and her sign-in: {rows:?}"
    );
    assert!(
        !rows
            .iter()
            .any(|(actor, ..)| actor.contains("local administrator")),
        "nothing is anonymous: {rows:?}"
    );
    // the audit view at the command line answers it too
    let listed = json(
        &run(
            fixture::cli(&db),
            &[
                "--json",
                "audit",
                "--actor",
                "Ada Lovelace",
                "--entity",
                "doctor",
            ],
        ),
        "audit --actor",
    );
    assert_eq!(
        listed["events"][0]["entity_id"].as_i64(),
        Some(doctor),
        "{listed}"
    );
    c.assert_check();
}

#[test]
fn a_new_accounts_password_never_comes_from_the_sign_in_password() {
    let Setup { c, .. } = setup();
    let db = c.path();
    let mut cmd = fixture::cli(&db);
    cmd.stdin(std::process::Stdio::null());
    refused(
        &run(cmd, &["staff", "add", "--username", "bob", "--name", "Bob"]),
        2,
        "FRONTDESK_NEW_PASSWORD",
        "staff add with only the signed-in admin's password",
    );
    assert_eq!(
        c.count("SELECT count(*) FROM staff WHERE username = 'bob'"),
        0
    );
    let mut cmd = fixture::cli(&db);
    cmd.env(NEW_PASSWORD_ENV, "sunflower marble kettle");
    json(
        &run(
            cmd,
            &[
                "--json",
                "staff",
                "add",
                "--username",
                "bob",
                "--name",
                "Bob",
            ],
        ),
        "staff add with a new password",
    );
    assert!(c
        .desk
        .authenticate("bob", "sunflower marble kettle")
        .is_ok());
    assert!(
        c.desk.authenticate("bob", PASSWORD).is_err(),
        "not the admin's"
    );
    // a new password on standard input works as well
    let mut child = fixture::cli(&db)
        .args(["staff", "reset-password", "bob"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "amber meadow violin 4").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(c.desk.authenticate("bob", "amber meadow violin 4").is_ok());
}

/// Takes `db` away from this user for as long as the guard lives (root only), so
/// the test can be someone who does not own the file.
#[cfg(unix)]
struct OwnedByNobody(PathBuf);

#[cfg(unix)]
impl OwnedByNobody {
    fn give(db: &Path) -> Option<Self> {
        // SAFETY: geteuid has no preconditions
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        std::os::unix::fs::chown(db, Some(65534), Some(65534)).unwrap();
        Some(OwnedByNobody(db.to_path_buf()))
    }
}

#[cfg(unix)]
impl Drop for OwnedByNobody {
    fn drop(&mut self) {
        let _ = std::os::unix::fs::chown(&self.0, Some(0), Some(0));
    }
}

#[cfg(unix)]
#[test]
fn break_glass_is_for_the_files_owner_with_a_reason_and_audited_with_both() {
    let Setup { c, .. } = setup();
    let db = c.path();
    let since = last_audit_id(&c);
    let doctors = c.count("SELECT count(*) FROM doctor");
    let glass = |reason: &str, args: &[&str]| {
        let mut cmd = fixture::cli_anonymous(&db);
        cmd.args(["--break-glass", reason]);
        run(cmd, args)
    };
    for reason in ["", "   ", "two\nlines", &"x".repeat(201)] {
        refused(
            &glass(reason, &["doctor", "add", "Dr. No Reason"]),
            2,
            "reason",
            &format!("break-glass with the reason {reason:?}"),
        );
    }
    refused(
        &run(
            fixture::cli_anonymous(&db),
            &["doctor", "add", "Dr. X", "--break-glass"],
        ),
        2,
        "a value is required",
        "break-glass without a value",
    );
    refused(
        &run(
            fixture::cli(&db),
            &[
                "--user",
                CLI_ADMIN,
                "--break-glass",
                "both",
                "doctor",
                "list",
            ],
        ),
        2,
        "cannot be used with",
        "break-glass and --user",
    );
    assert_eq!(
        c.count("SELECT count(*) FROM doctor"),
        doctors,
        "nothing added"
    );
    assert_eq!(last_audit_id(&c), since, "nothing written");

    // the owner, with a reason
    let me = os_user();
    let out = glass(
        "lost the admin password",
        &["--json", "doctor", "add", "Dr. Glass"],
    );
    let doctor = json(&out, "break-glass as the file's owner")["doctor"]["id"]
        .as_i64()
        .unwrap();
    let rows = audit_since(&c, since);
    assert_eq!(
        rows,
        vec![(
            format!("local administrator (OS user {me}): lost the admin password"),
            "doctor.add".to_string(),
            Some(doctor)
        )],
        "audited as the local administrator with the OS user's name and the reason"
    );

    // somebody who does not own the file: root gives it away for a moment; any
    // other user is not the owner of a system file (checked before it is opened)
    let since = last_audit_id(&c);
    let (target, _guard) = match OwnedByNobody::give(&db) {
        Some(guard) => (db.clone(), Some(guard)),
        None => (PathBuf::from("/etc/passwd"), None),
    };
    let mut cmd = fixture::cli_anonymous(&target);
    cmd.args(["--break-glass", "not mine"]);
    refused(
        &run(cmd, &["doctor", "add", "Dr. Not Mine"]),
        1,
        "only for the operating-system user that owns",
        "break-glass by someone who does not own the file",
    );
    drop(_guard);
    assert_eq!(last_audit_id(&c), since, "nothing written");
    assert_eq!(c.count("SELECT count(*) FROM doctor"), doctors + 1);
    c.assert_check();
}

#[test]
fn check_help_and_the_set_up_of_an_empty_clinic_stay_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("open.sqlite3");
    let help = run(fixture::cli_anonymous(&db), &["--help"]);
    assert!(help.status.success());
    let help = text(&help.stdout);
    for words in [
        "--user",
        "--break-glass",
        "FRONTDESK_USER",
        "FRONTDESK_PASSWORD",
    ] {
        assert!(help.contains(words), "--help explains {words}: {help}");
    }
    // a signed-in command on a file that does not exist creates nothing
    refused(
        &run(fixture::cli_anonymous(&db), &["doctor", "list"]),
        1,
        "no clinic database",
        "a command on a missing file",
    );
    assert!(!db.exists(), "no file was created");
    let mut cmd = fixture::cli_anonymous(&db);
    cmd.env(NEW_PASSWORD_ENV, PASSWORD);
    json(
        &run(
            cmd,
            &[
                "--json",
                "init",
                "--name",
                "Praxis Offen",
                "--admin-username",
                CLI_ADMIN,
            ],
        ),
        "init on an empty clinic, without a sign-in",
    );
    let check = run(fixture::cli_anonymous(&db), &["check"]);
    assert!(check.status.success(), "check: {}", text(&check.stdout));
    // now that the clinic has staff, its settings are a signed-in admin's
    let again = run(
        fixture::cli_anonymous(&db),
        &["init", "--name", "Praxis Anders"],
    );
    refused(
        &again,
        1,
        "needs a staff sign-in",
        "init on a clinic with staff",
    );
    refused(
        &run(fixture::cli_anonymous(&db), &["demo"]),
        2,
        "already has a clinic",
        "demo on a clinic with staff",
    );
    let signed_in = run(
        fixture::cli(&db),
        &["--json", "init", "--name", "Praxis Anders"],
    );
    assert_eq!(
        json(&signed_in, "init as the admin")["settings"]["name"],
        "Praxis Anders"
    );
    // the set-up is audited under the OS user's name, the later change under the
    // admin's
    let opened = frontdesk::Frontdesk::open_default(&db).unwrap();
    let actors: Vec<String> = opened
        .read(|c| {
            let mut st = c.prepare(
                "SELECT actor FROM audit_event WHERE action = 'setting.change' AND detail = 'clinic.name' ORDER BY id",
            )?;
            let rows = st
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(rows)
        })
        .unwrap();
    assert_eq!(
        actors,
        [
            format!(
                "local administrator (OS user {}): set-up of a clinic without staff accounts",
                os_user()
            ),
            format!("{CLI_ADMIN} (#1)"),
        ],
        "who named the clinic, twice"
    );
}

#[test]
fn the_measuring_tools_stay_open_but_only_on_their_own_databases() {
    let Setup { c, .. } = setup();
    let db = c.path();
    let before = (
        last_audit_id(&c),
        c.count("SELECT count(*) FROM slot"),
        c.count("SELECT count(*) FROM patient"),
    );
    for args in [
        &[
            "stress",
            "--processes",
            "1",
            "--threads",
            "1",
            "--seconds",
            "1",
        ][..],
        &[
            "stress-worker",
            "--worker",
            "0",
            "--threads",
            "1",
            "--millis",
            "200",
        ],
        &[
            "bench-worker",
            "--threads",
            "1",
            "--millis",
            "200",
            "--first-slot",
            "1",
            "--slots",
            "1",
            "--patient-lo",
            "1",
            "--patient-hi",
            "1",
        ],
    ] {
        refused(
            &run(fixture::cli_anonymous(&db), args),
            1,
            "only on its own test database",
            &format!("{args:?} on a clinic's database"),
        );
    }
    assert_eq!(
        (
            last_audit_id(&c),
            c.count("SELECT count(*) FROM slot"),
            c.count("SELECT count(*) FROM patient"),
        ),
        before,
        "nothing was written"
    );
    // on a new file of its own, stress needs no sign-in
    let dir = tempfile::tempdir().unwrap();
    let own = dir.path().join("stress.sqlite3");
    let out = run(
        fixture::cli_anonymous(&own),
        &[
            "stress",
            "--processes",
            "1",
            "--threads",
            "1",
            "--seconds",
            "1",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}
