use std::sync::Arc;
use std::time::Instant;

use frontdesk::session::SessionStore;
use frontdesk::{Actor, Error, ErrorCode, Frontdesk, NewStaff, Role};

use crate::fixture::{Clinic, PASSWORD};

fn new_staff(username: &str, role: Role, password: &str) -> NewStaff {
    NewStaff {
        username: username.into(),
        display_name: username.into(),
        role,
        password: password.into(),
    }
}

fn failed_logins(c: &Clinic, username: &str) -> i64 {
    c.desk
        .read(|conn| {
            Ok(conn.query_row(
                "SELECT failed_logins FROM staff WHERE username = ?1",
                [username],
                |r| r.get(0),
            )?)
        })
        .unwrap()
}

fn audit_count(c: &Clinic, action: &str) -> i64 {
    c.count(&format!(
        "SELECT count(*) FROM audit_event WHERE action = '{action}'"
    ))
}

#[test]
fn the_first_admin_can_be_created_only_while_there_is_no_staff() {
    let c = Clinic::new();
    assert!(
        c.desk.needs_first_admin().unwrap(),
        "a new clinic needs its first admin"
    );
    let ada = c
        .desk
        .create_first_admin("ada", "Ada Admin", PASSWORD)
        .unwrap();
    assert_eq!(ada.role, Role::Admin, "the first account is an admin");
    assert!(
        !c.desk.needs_first_admin().unwrap(),
        "no longer needed once created"
    );
    let again = c.desk.create_first_admin("eve", "Eve", PASSWORD);
    assert!(
        matches!(again, Err(Error::Invalid(_))),
        "a second 'first admin' must be refused, got {again:?}"
    );
    let actor = c
        .desk
        .authenticate("ADA", PASSWORD)
        .expect("usernames are case-insensitive");
    assert_eq!(
        (actor.staff_id, actor.role),
        (Some(ada.id), Role::Admin),
        "signed in as the first admin"
    );
}

#[test]
fn unknown_users_and_wrong_passwords_get_the_same_error_after_similar_work() {
    let c = Clinic::new();
    c.account("rita", Role::Receptionist);
    // warm the dummy hash so its one-time creation does not count
    let _ = c.desk.authenticate("nobody", "whatever password");
    let t = Instant::now();
    let unknown = c
        .desk
        .authenticate("nobody", "some password 1")
        .unwrap_err();
    let unknown_time = t.elapsed();
    let t = Instant::now();
    let wrong = c.desk.authenticate("rita", "some password 1").unwrap_err();
    let wrong_time = t.elapsed();
    assert_eq!(
        unknown.to_string(),
        wrong.to_string(),
        "the message must not reveal whether the user exists"
    );
    assert_eq!(
        unknown.code(),
        ErrorCode::Unauthenticated,
        "a failed sign-in is Unauthenticated"
    );
    assert!(
        wrong.to_string().contains("wrong username or password"),
        "message: {wrong}"
    );
    // both verify one argon2 hash; without the dummy hash the unknown user would
    // answer many times faster
    assert!(
        unknown_time * 3 > wrong_time,
        "unknown user took {unknown_time:?}, wrong password {wrong_time:?}: the unknown user must cost a verification too"
    );
}

#[test]
fn five_failures_lock_an_account_for_fifteen_minutes_and_both_are_audited() {
    let c = Clinic::new();
    c.account("rita", Role::Receptionist);
    for i in 1..=5 {
        assert!(
            c.desk.authenticate("rita", "wrong password!").is_err(),
            "attempt {i} must fail"
        );
    }
    assert_eq!(audit_count(&c, "staff.lock"), 1, "the lock is audited once");
    let locked = c.desk.authenticate("rita", PASSWORD);
    assert!(
        matches!(locked, Err(Error::LoginFailed)),
        "even the right password is refused while locked: {locked:?}"
    );
    c.clock.advance(14 * 60);
    assert!(
        c.desk.authenticate("rita", PASSWORD).is_err(),
        "still locked after 14 minutes"
    );
    c.clock.advance(60);
    let actor = c
        .desk
        .authenticate("rita", PASSWORD)
        .expect("the lock ends after 15 minutes");
    assert_eq!(actor.role, Role::Receptionist, "signed in as rita");
    assert_eq!(audit_count(&c, "staff.unlock"), 1, "the unlock is audited");
    assert_eq!(
        failed_logins(&c, "rita"),
        0,
        "a success resets the failure count"
    );
    assert!(
        audit_count(&c, "staff.login_failed") >= 7,
        "every failed sign-in is audited"
    );
    assert_eq!(
        audit_count(&c, "staff.login"),
        1,
        "the successful sign-in is audited"
    );
    c.assert_check();
}

#[test]
fn fifty_parallel_wrong_passwords_count_at_most_five_failures() {
    let c = Clinic::new();
    c.account("rita", Role::Receptionist);
    let desk = &c.desk;
    std::thread::scope(|s| {
        for _ in 0..50 {
            s.spawn(move || {
                assert!(
                    desk.authenticate("rita", "not the password").is_err(),
                    "a wrong password must fail"
                )
            });
        }
    });
    assert_eq!(
        failed_logins(&c, "rita"),
        5,
        "exactly five failures are counted, however many ran at once"
    );
    assert_eq!(audit_count(&c, "staff.lock"), 1, "locked once");
    assert!(
        c.desk.authenticate("rita", PASSWORD).is_err(),
        "the account is locked now"
    );
    c.assert_check();
}

#[test]
fn deactivated_accounts_cannot_sign_in_and_their_sessions_end() {
    let c = Clinic::new();
    let rita = c.account("rita", Role::Receptionist);
    let sessions = SessionStore::new();
    let s = sessions.login(&c.desk, "rita", PASSWORD).unwrap();
    assert!(
        sessions.actor(&c.desk, &s.token).is_ok(),
        "a fresh session works"
    );
    c.desk
        .deactivate_staff(&Actor::local_admin(), rita)
        .unwrap();
    let after = sessions.actor(&c.desk, &s.token);
    assert!(
        matches!(after, Err(Error::Unauthenticated)),
        "the session ends with the account: {after:?}"
    );
    let login = c.desk.authenticate("rita", PASSWORD);
    assert!(
        matches!(login, Err(Error::LoginFailed)),
        "a deactivated account cannot sign in: {login:?}"
    );
}

#[test]
fn a_role_change_applies_to_open_sessions_at_the_next_operation() {
    let c = Clinic::new();
    let rita = c.account("rita", Role::Receptionist);
    let sessions = SessionStore::new();
    let s = sessions.login(&c.desk, "rita", PASSWORD).unwrap();
    assert_eq!(
        sessions.actor(&c.desk, &s.token).unwrap().role,
        Role::Receptionist,
        "starts as receptionist"
    );
    c.desk
        .change_role(&Actor::local_admin(), rita, Role::Admin)
        .unwrap();
    assert_eq!(
        sessions.actor(&c.desk, &s.token).unwrap().role,
        Role::Admin,
        "promoted without signing in again"
    );
}

#[test]
fn sessions_end_when_idle_or_twelve_hours_old_and_at_logout() {
    let c = Clinic::new();
    c.account("rita", Role::Receptionist);
    let sessions = SessionStore::new();
    let s = sessions.login(&c.desk, "rita", PASSWORD).unwrap();
    assert_eq!(s.token.len(), 64, "32 random bytes in hex");
    c.clock.advance(14 * 60);
    sessions
        .touch(&c.desk, &s.token)
        .expect("14 idle minutes are fine (default 15)");
    c.clock.advance(15 * 60);
    assert!(
        matches!(
            sessions.actor(&c.desk, &s.token),
            Err(Error::Unauthenticated)
        ),
        "15 idle minutes end it"
    );

    let s = sessions.login(&c.desk, "rita", PASSWORD).unwrap();
    for _ in 0..(12 * 6 - 1) {
        c.clock.advance(10 * 60);
        sessions
            .touch(&c.desk, &s.token)
            .expect("an active session lives up to 12 hours");
    }
    c.clock.advance(10 * 60);
    assert!(
        matches!(
            sessions.actor(&c.desk, &s.token),
            Err(Error::Unauthenticated)
        ),
        "12 hours end any session"
    );

    let s = sessions.login(&c.desk, "rita", PASSWORD).unwrap();
    sessions.logout(&s.token);
    assert!(
        matches!(
            sessions.actor(&c.desk, &s.token),
            Err(Error::Unauthenticated)
        ),
        "logout ends it"
    );
    assert!(
        matches!(
            sessions.actor(&c.desk, "forged"),
            Err(Error::Unauthenticated)
        ),
        "unknown tokens are refused"
    );
}

#[test]
fn the_idle_limit_follows_the_clinic_setting() {
    let c = Clinic::new();
    c.account("rita", Role::Receptionist);
    let mut settings = c.desk.settings().unwrap();
    settings.idle_minutes = 5;
    c.desk
        .update_clinic_settings(&Actor::local_admin(), &settings)
        .unwrap();
    let sessions = SessionStore::new();
    let s = sessions.login(&c.desk, "rita", PASSWORD).unwrap();
    c.clock.advance(5 * 60);
    assert!(
        sessions.actor(&c.desk, &s.token).is_err(),
        "5 idle minutes end it when the setting says 5"
    );
}

#[test]
fn the_last_active_admin_can_be_neither_deactivated_nor_demoted() {
    let c = Clinic::new();
    let ada = c
        .desk
        .create_first_admin("ada", "Ada", PASSWORD)
        .unwrap()
        .id;
    let cli = Actor::local_admin();
    assert!(
        matches!(c.desk.deactivate_staff(&cli, ada), Err(Error::Invalid(_))),
        "last admin cannot go"
    );
    assert!(
        matches!(
            c.desk.change_role(&cli, ada, Role::Receptionist),
            Err(Error::Invalid(_))
        ),
        "nor be demoted"
    );
    let bob = c.account("bob", Role::Admin);
    c.desk
        .change_role(&cli, ada, Role::Receptionist)
        .expect("with a second admin, demoting works");
    assert!(
        c.desk.deactivate_staff(&cli, bob).is_err(),
        "bob is now the last active admin"
    );
    let admins = c.count("SELECT count(*) FROM staff WHERE role = 'ADMIN' AND active = 1");
    assert_eq!(admins, 1, "one active admin remains");
}

#[test]
fn admins_add_staff_reset_passwords_and_unlock() {
    let c = Clinic::new();
    let cli = Actor::local_admin();
    let rita = c
        .desk
        .add_staff(&cli, &new_staff("rita", Role::Receptionist, PASSWORD))
        .unwrap()
        .id;
    let dup = c
        .desk
        .add_staff(&cli, &new_staff("RITA", Role::Admin, PASSWORD));
    assert!(
        matches!(dup, Err(Error::Invalid(_))),
        "usernames are unique regardless of case: {dup:?}"
    );
    for _ in 0..5 {
        let _ = c.desk.authenticate("rita", "wrong password!");
    }
    c.desk
        .reset_password(&cli, rita, "a brand new password")
        .unwrap();
    c.desk
        .authenticate("rita", "a brand new password")
        .expect("the reset password works and lifts the lock");
    assert!(
        c.desk.authenticate("rita", PASSWORD).is_err(),
        "the old password is gone"
    );
    let receptionist = c.desk.authenticate("rita", "a brand new password").unwrap();
    let refused = c
        .desk
        .add_staff(&receptionist, &new_staff("eve", Role::Admin, PASSWORD));
    assert!(
        matches!(refused, Err(Error::Forbidden(_))),
        "receptionists may not add staff: {refused:?}"
    );
    let stored: String = c
        .desk
        .read(|conn| {
            Ok(conn.query_row(
                "SELECT password_hash FROM staff WHERE id = ?1",
                [rita],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "stored as argon2id at OWASP strength: {stored}"
    );
}

#[test]
fn passwords_outside_the_rules_are_refused() {
    let c = Clinic::new();
    let cli = Actor::local_admin();
    for (pw, why) in [
        ("short", "under 10 characters"),
        (&*"x".repeat(1025), "over 1024 bytes"),
    ] {
        let r = c
            .desk
            .add_staff(&cli, &new_staff("rita", Role::Receptionist, pw));
        assert!(
            matches!(r, Err(Error::Invalid(_))),
            "a password {why} must be refused: {r:?}"
        );
    }
    let huge = "y".repeat(100_000);
    let t = Instant::now();
    assert!(
        c.desk.authenticate("nobody", &huge).is_err(),
        "an oversized password never signs in"
    );
    assert!(t.elapsed().as_secs() < 5, "and is not hashed at length");
}

#[test]
fn a_weaker_stored_hash_is_upgraded_at_the_next_sign_in() {
    let c = Clinic::new();
    let rita = c.account("rita", Role::Receptionist);
    // an older, weaker hash of the same password (m=4096, t=1)
    use argon2::password_hash::{PasswordHasher, SaltString};
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(4096, 1, 1, None).unwrap(),
    )
    .hash_password(
        PASSWORD.as_bytes(),
        &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
    )
    .unwrap()
    .to_string();
    c.desk
        .write("test.weaken", |tx| {
            Ok(tx.execute(
                "UPDATE staff SET password_hash = ?1 WHERE id = ?2",
                (&weak, rita),
            )?)
        })
        .unwrap();
    c.desk
        .authenticate("rita", PASSWORD)
        .expect("the weak hash still verifies");
    let stored: String = c
        .desk
        .read(|conn| {
            Ok(conn.query_row(
                "SELECT password_hash FROM staff WHERE id = ?1",
                [rita],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert!(
        stored.contains("m=19456,t=2,p=1"),
        "upgraded to today's parameters: {stored}"
    );
    c.desk
        .authenticate("rita", PASSWORD)
        .expect("and the new hash verifies");
}

#[test]
fn the_demo_creates_an_admin_and_a_receptionist_who_can_sign_in() {
    let c = Clinic::new();
    let cli = Actor::local_admin();
    c.desk.create_demo_clinic(&cli).unwrap();
    let accounts = c.desk.create_demo_staff(&cli).unwrap();
    let roles: Vec<(String, Role)> = accounts
        .iter()
        .map(|a| (a.username.clone(), a.role))
        .collect();
    assert_eq!(
        roles,
        [
            ("admin".to_string(), Role::Admin),
            ("desk".to_string(), Role::Receptionist)
        ],
        "the two demo accounts"
    );
    for a in &accounts {
        assert!(a.password.len() >= 10, "a strong random password");
        assert_eq!(
            c.desk.authenticate(&a.username, &a.password).unwrap().role,
            a.role,
            "{} signs in",
            a.username
        );
    }
    assert!(c.desk.create_demo_staff(&cli).is_err(), "only once");
    assert!(
        c.desk.settings().unwrap().demo,
        "the clinic is marked as a demo"
    );
}

#[test]
fn sign_ins_from_many_threads_on_two_handles_stay_consistent() {
    let c = Clinic::new();
    c.account("rita", Role::Receptionist);
    let other = Arc::new(c.reopen());
    let sessions = SessionStore::new();
    std::thread::scope(|s| {
        // one account signing in at four desks at once (more than five at once
        // would be refused: every attempt reserves a failure until it is checked)
        for i in 0..4 {
            let desk = if i % 2 == 0 { &c.desk } else { &*other };
            let sessions = &sessions;
            s.spawn(move || {
                sessions
                    .login(desk, "rita", PASSWORD)
                    .expect("the right password signs in")
            });
        }
    });
    assert_eq!(
        failed_logins(&c, "rita"),
        0,
        "successes leave no failures behind"
    );
    assert_eq!(sessions.live_count(&c.desk), 4, "four sessions");
}

fn cli(
    db: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, serde_json::Value, String) {
    let out = std::process::Command::new(crate::fixture::frontdesk_bin())
        .arg("--db")
        .arg(db)
        .arg("--json")
        .args(args)
        .env_remove("FRONTDESK_PASSWORD")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run frontdesk");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(serde_json::Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn the_command_line_creates_the_first_admin_once_and_manages_staff() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.sqlite3");
    let pw = [("FRONTDESK_ADMIN_PASSWORD", PASSWORD)];
    let (code, json, err) = cli(
        &db,
        &[
            "init",
            "--country",
            "DE",
            "--admin-username",
            "ada",
            "--admin-name",
            "Ada A",
        ],
        &pw,
    );
    assert_eq!(code, 0, "init with a first admin succeeds: {err}");
    assert_eq!(
        json["admin"]["username"], "ada",
        "the first admin is reported: {json}"
    );
    let (code, _, err) = cli(&db, &["init", "--admin-username", "eve"], &pw);
    assert_eq!(code, 2, "a second first admin is refused: {err}");
    let (code, json, err) = cli(
        &db,
        &["staff", "add", "--username", "rita", "--name", "Rita"],
        &[("FRONTDESK_PASSWORD", PASSWORD)],
    );
    assert_eq!(
        (code, json["staff"]["role"].as_str()),
        (0, Some("RECEPTIONIST")),
        "staff add: {err}"
    );
    let (code, _, err) = cli(
        &db,
        &["staff", "add", "--username", "bob", "--name", "Bob"],
        &[],
    );
    assert_eq!(
        code, 2,
        "no password on stdin or in the environment is refused: {err}"
    );
    let (_, json, _) = cli(&db, &["staff", "list"], &[]);
    assert_eq!(
        json["staff"].as_array().map(Vec::len),
        Some(2),
        "two accounts: {json}"
    );
    let (code, _, err) = cli(&db, &["staff", "deactivate", "ada"], &[]);
    assert_eq!(code, 2, "the last admin stays: {err}");
    let (code, json, err) = cli(
        &db,
        &["staff", "reset-password", "rita", "--generate-password"],
        &[],
    );
    let generated = json["password"].as_str().unwrap_or_default().to_string();
    assert!(
        code == 0 && generated.len() >= 10,
        "a generated password is printed once: {err}"
    );
    let desk = Frontdesk::open_default(&db).unwrap();
    assert!(
        desk.authenticate("rita", &generated).is_ok(),
        "the generated password signs in"
    );
    drop(desk);
    let (code, json, err) = cli(&db, &["audit", "--entity", "staff"], &[]);
    let actions: Vec<&str> = json["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        code == 0 && actions.contains(&"staff.reset_password") && actions.contains(&"staff.login"),
        "audit lists staff events: {actions:?} {err}"
    );
}

#[test]
fn the_demo_prints_its_two_accounts_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.sqlite3");
    let (code, json, err) = cli(&db, &["demo"], &[]);
    assert_eq!(code, 0, "demo: {err}");
    let accounts = json["accounts"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = accounts
        .iter()
        .filter_map(|a| a["username"].as_str())
        .collect();
    assert_eq!(
        names,
        ["admin", "desk"],
        "a demo admin and a demo receptionist: {json}"
    );
    let desk = Frontdesk::open_default(&db).unwrap();
    for a in &accounts {
        let actor = desk.authenticate(
            a["username"].as_str().unwrap(),
            a["password"].as_str().unwrap(),
        );
        assert!(
            actor.is_ok(),
            "{} signs in with the printed password",
            a["username"]
        );
    }
}
