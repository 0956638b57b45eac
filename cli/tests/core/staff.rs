use std::sync::Arc;

use frontdesk::domain::password;
use frontdesk::service::session::SessionStore;
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
    c.count(&format!(
        "SELECT failed_logins FROM staff WHERE username = '{username}'"
    ))
}

fn audit_count(c: &Clinic, action: &str) -> i64 {
    c.count(&format!(
        "SELECT count(*) FROM audit_event WHERE action = '{action}'"
    ))
}

on_both! {
    fn the_first_admin_can_be_created_only_while_there_is_no_staff(c) {
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
}

on_both! {
    fn unknown_users_and_wrong_passwords_get_the_same_error_after_similar_work(c) {
    c.account("rita", Role::Receptionist);
    // the work each refusal did, counted on this thread: argon2 verifications
    // and their cost (the benchmark times them: "sign-in check" rows)
    let work = |f: &dyn Fn() -> Error| {
        let (n0, cost0) = password::verification_work_on_this_thread();
        let e = f();
        let (n1, cost1) = password::verification_work_on_this_thread();
        (e, n1 - n0, cost1 - cost0)
    };
    let (unknown, unknown_checks, unknown_cost) = work(&|| {
        c.desk
            .authenticate("nobody", "some password 1")
            .unwrap_err()
    });
    let (wrong, wrong_checks, wrong_cost) =
        work(&|| c.desk.authenticate("rita", "some password 1").unwrap_err());
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
    // both verify one argon2 hash of today's strength; without the dummy hash the
    // unknown user would answer many times faster
    assert_eq!(
        (unknown_checks, wrong_checks),
        (1, 1),
        "one verification each: the unknown user must cost a verification too"
    );
    assert_eq!(
        unknown_cost, wrong_cost,
        "the dummy hash costs what an account's hash costs"
    );
    assert!(
        !password::needs_rehash(password::dummy_hash()),
        "the dummy hash has today's parameters"
    );
}
}

/// The error of one sign-in attempt with a wrong password, as (kind, seconds to wait).
fn attempt(c: &Clinic, username: &str, password: &str) -> (&'static str, i64) {
    match c.desk.authenticate(username, password) {
        Ok(_) => ("signed in", 0),
        Err(Error::LoginFailed) => ("wrong", 0),
        Err(Error::SignInThrottled {
            retry_after_secs, ..
        }) => ("wait", retry_after_secs),
        Err(Error::AccountLocked) => ("locked", 0),
        Err(e) => panic!("unexpected refusal of a sign-in: {e:?}"),
    }
}

/// Fails `n` sign-ins in a row under `username`, waiting out every delay on the
/// manual clock; returns the delays that were asked for.
fn fail_sign_ins(c: &Clinic, username: &str, n: usize) -> Vec<i64> {
    let mut waits = Vec::new();
    let mut failed = 0;
    while failed < n {
        match attempt(c, username, "not the password") {
            ("wrong", _) => failed += 1,
            ("wait", secs) => {
                waits.push(secs);
                c.clock.advance(secs);
            }
            other => panic!("failure {} under {username}: got {other:?}", failed + 1),
        }
    }
    waits
}

#[test]
fn failed_sign_ins_make_the_next_attempt_wait_longer_instead_of_locking_the_account() {
    let c = Clinic::new();
    c.account("rita", Role::Receptionist);
    for i in 1..=3 {
        assert_eq!(
            attempt(&c, "rita", "wrong password!"),
            ("wrong", 0),
            "failure {i} of three costs no waiting"
        );
    }
    assert_eq!(
        attempt(&c, "rita", PASSWORD),
        ("wait", 2),
        "right after the third failure even the right password waits 2 s, unchecked"
    );
    assert_eq!(
        failed_logins(&c, "rita"),
        3,
        "an attempt refused for waiting is not counted"
    );
    c.clock.advance(2);
    assert_eq!(attempt(&c, "rita", "wrong password!"), ("wrong", 0));
    assert_eq!(
        attempt(&c, "rita", "wrong password!"),
        ("wait", 4),
        "the delay doubles with each failure"
    );
    c.clock.advance(4);
    assert_eq!(attempt(&c, "rita", "wrong password!"), ("wrong", 0));
    c.clock.advance(8);
    // five failures used to lock the account for 15 minutes
    let actor = c
        .desk
        .authenticate("rita", PASSWORD)
        .expect("after five failures the right password signs in once the delay is over");
    assert_eq!(actor.role, Role::Receptionist, "signed in as rita");
    assert_eq!(
        failed_logins(&c, "rita"),
        0,
        "a success forgets the failures"
    );
    assert_eq!(audit_count(&c, "staff.lock"), 0, "nothing was locked");
    assert_eq!(
        audit_count(&c, "staff.login_failed"),
        7,
        "every refused attempt is audited, the delayed ones too"
    );
    c.assert_check();
}

on_both! {
    fn the_delays_grow_to_five_minutes_and_twenty_failures_lock_until_an_admin_unlocks(c) {
    let rita = c.account("rita", Role::Receptionist);
    let waits = fail_sign_ins(&c, "rita", 20);
    assert_eq!(
        waits,
        [2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300, 300, 300, 300, 300, 300, 300],
        "2 s after the third failure, doubling, at most 5 minutes"
    );
    assert_eq!(audit_count(&c, "staff.lock"), 1, "the lock is audited once");
    c.clock.advance(2 * 86_400);
    assert_eq!(
        attempt(&c, "rita", PASSWORD),
        ("locked", 0),
        "two days later the right password is still refused: only an admin unlocks"
    );
    c.assert_check();
    let unlocked = c
        .desk
        .unlock_staff(&Actor::local_admin(), rita)
        .expect("an admin unlocks");
    assert_eq!(
        (unlocked.locked_at, unlocked.failed_logins),
        (None, 0),
        "unlocking forgets the failures"
    );
    c.desk
        .authenticate("rita", PASSWORD)
        .expect("after the unlock rita signs in at once");
    c.assert_check();
}
}

on_both! {
    fn an_unknown_username_is_slowed_down_and_locked_exactly_like_a_wrong_password(c) {
    c.account("rita", Role::Receptionist);
    let mut answers = Vec::new();
    for round in 0..50 {
        let known = attempt(&c, "rita", "not the password");
        let unknown = attempt(&c, "nobody", "not the password");
        assert_eq!(
            known, unknown,
            "round {round}: the same answer whether the username exists or not"
        );
        answers.push(known);
        // sometimes too soon, sometimes after the longest delay
        c.clock.advance(if round % 2 == 0 { 1 } else { 300 });
    }
    assert!(
        answers.iter().any(|a| a.0 == "wait"),
        "both were slowed down: {answers:?}"
    );
    assert_eq!(
        answers.last(),
        Some(&("locked", 0)),
        "both end locked after 20 failures: {answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|a| a.0 == "wrong").count(),
        20,
        "exactly 20 passwords were checked under each name: {answers:?}"
    );
    c.assert_check();
}
}

#[test]
fn failed_sign_ins_a_day_old_are_forgotten() {
    let c = Clinic::new();
    c.account("rita", Role::Receptionist);
    fail_sign_ins(&c, "rita", 8);
    c.clock.advance(24 * 3600);
    assert_eq!(
        attempt(&c, "rita", "not the password"),
        ("wrong", 0),
        "a day after the last failure the count starts again: no waiting"
    );
    assert_eq!(failed_logins(&c, "rita"), 1, "counted from one again");
}

#[test]
fn a_desk_that_failed_three_sign_ins_waits_whatever_username_it_tries_next() {
    let c = Clinic::new();
    c.account("rita", Role::Receptionist);
    c.account("ada", Role::Admin);
    let sessions = SessionStore::new();
    for name in ["mallory", "eve", "trent"] {
        let r = sessions.login(&c.desk, name, "some password 1");
        assert!(
            matches!(r, Err(Error::LoginFailed)),
            "{name}: a plain refusal, got {r:?}"
        );
    }
    let r = sessions.login(&c.desk, "ada", PASSWORD);
    assert!(
        matches!(
            r,
            Err(Error::SignInThrottled {
                retry_after_secs: 2,
                at_desk: true
            })
        ),
        "a fourth username at the same desk waits 2 s: {r:?}"
    );
    assert_eq!(
        failed_logins(&c, "ada"),
        0,
        "ada's own count is untouched: the desk refused before the database"
    );
    let other_desk = SessionStore::new();
    other_desk
        .login(&c.desk, "rita", PASSWORD)
        .expect("another desk is not slowed down by this one");
    c.clock.advance(2);
    sessions
        .login(&c.desk, "ada", PASSWORD)
        .expect("after the delay ada signs in at this desk");
    sessions
        .login(&c.desk, "rita", PASSWORD)
        .expect("a success cleared the desk's count");
}

#[test]
fn fifty_parallel_wrong_passwords_check_at_most_three_passwords() {
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
        3,
        "exactly three passwords were checked, however many attempts ran at once"
    );
    assert_eq!(
        audit_count(&c, "staff.login_failed"),
        50,
        "all fifty are audited, 47 of them as too soon"
    );
    assert!(
        matches!(
            c.desk.authenticate("rita", PASSWORD),
            Err(Error::SignInThrottled { .. })
        ),
        "the next attempt waits"
    );
    c.assert_check();
}

on_both! {
    fn deactivated_accounts_cannot_sign_in_and_their_sessions_end(c) {
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
}

on_both! {
    fn a_role_change_ends_the_persons_open_sessions_at_once(c) {
    let rita = c.account("rita", Role::Receptionist);
    c.account("bob", Role::Receptionist);
    let sessions = SessionStore::new();
    let s = sessions.login(&c.desk, "rita", PASSWORD).unwrap();
    let bob = sessions.login(&c.desk, "bob", PASSWORD).unwrap();
    assert_eq!(
        sessions.actor(&c.desk, &s.token).unwrap().role,
        Role::Receptionist,
        "starts as receptionist"
    );
    c.desk
        .change_role(&Actor::local_admin(), rita, Role::Admin)
        .unwrap();
    let after = sessions.actor(&c.desk, &s.token);
    assert!(
        matches!(after, Err(Error::Unauthenticated)),
        "the session ends with the old role: {after:?}"
    );
    assert!(
        sessions.actor(&c.desk, &bob.token).is_ok(),
        "someone else's session goes on"
    );
    let again = sessions.login(&c.desk, "rita", PASSWORD).unwrap();
    assert_eq!(
        again.actor.role,
        Role::Admin,
        "signing in again gives the new role"
    );
}
}

on_both! {
    fn a_password_reset_ends_the_persons_open_sessions_at_once(c) {
    let rita = c.account("rita", Role::Receptionist);
    let sessions = SessionStore::new();
    let other_desk = SessionStore::new();
    let here = sessions.login(&c.desk, "rita", PASSWORD).unwrap();
    let there = other_desk.login(&c.desk, "rita", PASSWORD).unwrap();
    c.desk
        .reset_password(&Actor::local_admin(), rita, "sunflower marble kettle")
        .unwrap();
    for (store, s) in [(&sessions, &here), (&other_desk, &there)] {
        let after = store.actor(&c.desk, &s.token);
        assert!(
            matches!(after, Err(Error::Unauthenticated)),
            "every open session of rita ends at the reset: {after:?}"
        );
    }
    let member = c.desk.list_staff(&Actor::local_admin()).unwrap();
    assert!(
        member
            .iter()
            .any(|m| m.id == rita && m.must_change_password),
        "the reset marks rita to choose a new password"
    );
}
}

on_both! {
    fn sessions_end_when_idle_or_twelve_hours_old_and_at_logout(c) {
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
}

on_both! {
    fn touching_a_session_keeps_it_alive_and_an_ended_one_cannot_be_touched(c) {
    c.account("rita", Role::Receptionist);
    let sessions = SessionStore::new();
    let s = sessions.login(&c.desk, "rita", PASSWORD).unwrap();
    c.clock.advance(10 * 60);
    sessions.touch(&c.desk, &s.token).unwrap();
    c.clock.advance(10 * 60);
    sessions
        .actor(&c.desk, &s.token)
        .expect("20 minutes after sign-in but 10 after activity: still signed in");
    sessions.logout(&s.token);
    assert!(
        matches!(
            sessions.touch(&c.desk, &s.token),
            Err(Error::Unauthenticated)
        ),
        "a session that ended cannot be touched back to life"
    );
    assert!(
        matches!(
            sessions.touch(&c.desk, "forged"),
            Err(Error::Unauthenticated)
        ),
        "nor can an unknown token"
    );
}
}

on_both! {
    fn the_idle_limit_follows_the_clinic_setting(c) {
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
}

on_both! {
    fn the_last_active_admin_can_be_neither_deactivated_nor_demoted(c) {
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
    let admins = c.count("SELECT count(*) FROM staff WHERE role = 'ADMIN' AND active");
    assert_eq!(admins, 1, "one active admin remains");
}
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
    fail_sign_ins(&c, "rita", 20);
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
    c.desk
        .change_password("rita", "a brand new password", "sunflower marble kettle")
        .expect("rita chooses her own password after the reset");
    let receptionist = c
        .desk
        .authenticate("rita", "sunflower marble kettle")
        .unwrap();
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

on_both! {
    fn passwords_outside_the_rules_are_refused(c) {
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
    let (checks, _) = password::verification_work_on_this_thread();
    assert!(
        c.desk.authenticate("nobody", &huge).is_err(),
        "an oversized password never signs in"
    );
    assert_eq!(
        password::verification_work_on_this_thread().0,
        checks,
        "and is not hashed at all"
    );
}
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

on_both! {
    fn the_demo_creates_an_admin_and_a_receptionist_who_can_sign_in(c) {
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
}

#[test]
fn sign_ins_from_many_threads_on_two_handles_stay_consistent() {
    let c = Clinic::new();
    c.account("rita", Role::Receptionist);
    let other = Arc::new(c.reopen());
    let sessions = SessionStore::new();
    std::thread::scope(|s| {
        // one account signing in at three desks at once (a fourth at the same
        // instant would wait: every attempt reserves a failure until it is checked,
        // and three failures make the next attempt wait)
        for i in 0..3 {
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
    assert_eq!(sessions.live_count(&c.desk), 3, "three sessions");
}

/// Runs the CLI signed in as `ada` (the first admin the tests' `init` makes, with
/// [`PASSWORD`]), with `env` on top.
fn cli(
    db: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, serde_json::Value, String) {
    let out = crate::fixture::cli_as(db, "ada", PASSWORD)
        .arg("--json")
        .args(args)
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
    let pw = [("FRONTDESK_NEW_PASSWORD", PASSWORD)];
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
        &[("FRONTDESK_NEW_PASSWORD", PASSWORD)],
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

on_both! {
    fn common_and_name_derived_passwords_are_refused_wherever_a_password_is_set(c) {
    let cli = Actor::local_admin();
    let mut s = c.desk.settings().unwrap();
    s.name = "Praxis Nord".into();
    c.desk.update_clinic_settings(&cli, &s).unwrap();
    let refused = |pw: &str| {
        [
            c.desk
                .create_first_admin("rita2", "Rita Desk", pw)
                .map(|_| ()),
            c.desk
                .add_staff(&cli, &new_staff("rita2", Role::Receptionist, pw))
                .map(|_| ()),
        ]
    };
    for (pw, why) in [
        ("aaaaaaaaaa", "one character repeated"),
        ("password12", "a common password"),
        ("          ", "ten spaces"),
        ("rita123456", "the username with digits"),
        ("Praxis Nord 2030", "the clinic's name with digits"),
        ("qwertzuiop", "a keyboard row"),
    ] {
        for r in refused(pw) {
            let Err(Error::Invalid(message)) = r else {
                panic!("{pw:?} ({why}) must be refused as invalid, got {r:?}");
            };
            assert!(
                message.contains("guess")
                    || message.contains("common")
                    || message.contains("spaces")
                    || message.contains("repeated"),
                "{pw:?}: the refusal says why: {message}"
            );
        }
    }
    assert_eq!(
        c.count("SELECT count(*) FROM staff"),
        0,
        "nothing was created"
    );
    let rita = c
        .desk
        .add_staff(&cli, &new_staff("rita2", Role::Receptionist, PASSWORD))
        .expect("a passphrase of unrelated words is fine");
    let reset = c.desk.reset_password(&cli, rita.id, "rita2rita2rita2");
    assert!(
        matches!(reset, Err(Error::Invalid(_))),
        "an admin's reset is checked the same way: {reset:?}"
    );
    let change = c.desk.change_password("rita2", PASSWORD, "password123456");
    assert!(
        matches!(change, Err(Error::Invalid(_))),
        "and so is one's own change: {change:?}"
    );
    c.desk
        .authenticate("rita2", PASSWORD)
        .expect("the refused changes left the password as it was");
}
}

on_both! {
    fn staff_change_their_own_password_and_their_other_sessions_end(c) {
    c.account("rita", Role::Receptionist);
    let here = SessionStore::new();
    let elsewhere = SessionStore::new();
    let s = here.login(&c.desk, "rita", PASSWORD).unwrap();
    let other = elsewhere.login(&c.desk, "rita", PASSWORD).unwrap();
    let (actor, member) = here
        .change_password(&c.desk, &s.token, PASSWORD, "sunflower marble kettle")
        .expect("rita changes her password with the current one");
    assert_eq!(
        (actor.role, member.username.as_str()),
        (Role::Receptionist, "rita"),
        "the answer names rita"
    );
    assert!(
        here.actor(&c.desk, &s.token).is_ok(),
        "the session she changed it in goes on"
    );
    assert!(
        matches!(
            elsewhere.actor(&c.desk, &other.token),
            Err(Error::Unauthenticated)
        ),
        "her session at another desk ends"
    );
    assert!(
        c.desk.authenticate("rita", PASSWORD).is_err(),
        "the old password no longer works"
    );
    c.desk
        .authenticate("rita", "sunflower marble kettle")
        .expect("the new one does");
    assert_eq!(
        audit_count(&c, "staff.change_password"),
        1,
        "the change is audited"
    );
    c.assert_check();
}
}

on_both! {
    fn the_desk_s_own_calls_during_its_password_change_keep_its_session(c) {
    // The app keeps calling while a password change runs (activity pings, a
    // refresh after the change's own write). Such a call used to read the new
    // generation the change had just committed before the session recorded it,
    // and ended the session: the person was signed out by changing their
    // password (an end-to-end run on a loaded machine showed it 3 times in 6).
    c.account("rita", Role::Receptionist);
    let here = SessionStore::new();
    let s = here.login(&c.desk, "rita", PASSWORD).unwrap();
    let passwords = [PASSWORD, "sunflower marble kettle"];
    let stop = std::sync::atomic::AtomicBool::new(false);
    let lookups = std::thread::scope(|scope| {
        let pinger = scope.spawn(|| {
            let mut ended = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Err(e) = here.touch(&c.desk, &s.token) {
                    ended.push(e);
                    break;
                }
                n += 1;
            }
            (n, ended)
        });
        let changed = (0..12).try_for_each(|round| {
            let (current, new) = (passwords[round % 2], passwords[(round + 1) % 2]);
            here.change_password(&c.desk, &s.token, current, new)
                .map(|_| ())
                .map_err(|e| format!("change {round}: {e:?}"))
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (changed, pinger.join().unwrap())
    });
    let (changed, (n, ended)) = lookups;
    assert_eq!(changed, Ok(()), "every change answers the person, still signed in");
    assert!(n > 12, "the desk kept calling during the changes ({n} calls)");
    assert!(
        ended.is_empty(),
        "none of the desk's {n} calls found its session ended: {ended:?}"
    );
    assert!(here.actor(&c.desk, &s.token).is_ok(), "the session goes on");
    c.assert_check();
}
}

on_both! {
    fn a_change_of_the_account_during_one_s_own_password_change_ends_the_session(c) {
    // A role change, an admin's reset or a deactivation ends the person's
    // sessions. One that committed while their own password change was being
    // checked used to be swallowed: the change committed the next generation
    // and the session carried on (with the new role), or it answered "your
    // current password is not right" and counted a failed sign-in. Each round
    // moves rita's account at another moment of her change: the session must
    // end whenever it lands, the answer must say truly whether the password
    // changed, and a right password must count no failure.
    let rita = c.account("rita", Role::Receptionist);
    // (another admin, so rita may be moved back from admin)
    c.account("ada", Role::Admin);
    let cli = Actor::local_admin();
    let here = SessionStore::new();
    let choices = ["sunflower marble kettle", "copper meadow violin"];
    let reset_to = "granite orchard lantern";
    // how long a change takes here, to spread the moves over it
    let s = here.login(&c.desk, "rita", PASSWORD).unwrap();
    let took = std::time::Instant::now();
    here.change_password(&c.desk, &s.token, PASSWORD, choices[0])
        .expect("a change with nothing beside it");
    let took = took.elapsed();
    let mut password = choices[0];
    let mut role = Role::Receptionist;
    let rounds = 12u32;
    for round in 0..rounds {
        let s = here.login(&c.desk, "rita", password).unwrap();
        let new = if password == choices[0] { choices[1] } else { choices[0] };
        let last = round == rounds - 1;
        let changed = std::thread::scope(|scope| {
            let mover = scope.spawn(|| {
                std::thread::sleep(took * round / rounds);
                let moved = if last {
                    c.desk.deactivate_staff(&cli, rita)
                } else if round % 2 == 1 {
                    c.desk.reset_password(&cli, rita, reset_to)
                } else {
                    let to = if role == Role::Admin { Role::Receptionist } else { Role::Admin };
                    c.desk.change_role(&cli, rita, to)
                };
                moved.expect("the admin moves rita's account");
            });
            let changed = here.change_password(&c.desk, &s.token, password, new);
            mover.join().unwrap();
            changed
        });
        match &changed {
            Ok((actor, _)) => {
                assert_eq!(actor.role, role, "round {round}: a change that answers done was made before the move");
                password = new;
            }
            Err(Error::Unauthenticated) => {}
            Err(e) => panic!("round {round}: the change answers done or signed out: {e:?}"),
        }
        assert!(
            matches!(here.actor(&c.desk, &s.token), Err(Error::Unauthenticated)),
            "round {round} (moved after {:?} of a {took:?} change; the change: {changed:?}): the session ended",
            took * round / rounds,
        );
        assert_eq!(failed_logins(&c, "rita"), 0, "round {round}: a right password counted no failure");
        if last {
            break;
        }
        if round % 2 == 1 {
            password = reset_to;
        } else {
            role = if role == Role::Admin { Role::Receptionist } else { Role::Admin };
        }
        let now = c
            .desk
            .authenticate("rita", password)
            .unwrap_or_else(|e| panic!("round {round}: the password the answer named works: {e:?}"));
        assert_eq!(now.role, role, "round {round}: the move was made");
    }
    c.assert_check();
}
}

#[test]
fn a_wrong_current_password_refuses_the_change_and_counts_as_a_failed_sign_in() {
    let c = Clinic::new();
    c.account("rita", Role::Receptionist);
    let sessions = SessionStore::new();
    let s = sessions.login(&c.desk, "rita", PASSWORD).unwrap();
    let refused = sessions.change_password(
        &c.desk,
        &s.token,
        "a wrong guess",
        "sunflower marble kettle",
    );
    let Err(Error::Invalid(message)) = &refused else {
        panic!("a wrong current password is refused as invalid (not a sign-out): {refused:?}");
    };
    assert!(
        message.contains("current password"),
        "the refusal names the current password: {message}"
    );
    assert_eq!(
        failed_logins(&c, "rita"),
        1,
        "the wrong guess counts like a failed sign-in"
    );
    let same = sessions.change_password(&c.desk, &s.token, PASSWORD, PASSWORD);
    assert!(
        matches!(same, Err(Error::Invalid(_))),
        "the new password must differ from the current one: {same:?}"
    );
    let cli =
        c.desk
            .change_own_password(&Actor::local_admin(), PASSWORD, "sunflower marble kettle");
    assert!(
        matches!(cli, Err(Error::Invalid(_))),
        "the command-line administrator has no password to change: {cli:?}"
    );
    assert!(
        sessions.actor(&c.desk, &s.token).is_ok(),
        "the session survives the refusals"
    );
}

on_both! {
    fn after_an_admin_reset_the_person_must_choose_a_new_password_before_anything_else(c) {
    let rita = c.account("rita", Role::Receptionist);
    let doctor = c.doctor("Dr. Who");
    c.desk
        .reset_password(&Actor::local_admin(), rita, "a brand new password")
        .unwrap();
    let actor = c.desk.authenticate("rita", "a brand new password").unwrap();
    assert!(
        actor.must_change_password,
        "the signed-in actor says a change is due"
    );
    let refused = c.desk.list_doctors(&actor, false);
    assert!(
        matches!(refused, Err(Error::PasswordChangeRequired)),
        "the core refuses every operation to such an actor: {refused:?}"
    );
    let sessions = SessionStore::new();
    let s = sessions
        .login(&c.desk, "rita", "a brand new password")
        .unwrap();
    assert!(s.actor.must_change_password, "the session says so too");
    let refused = sessions.actor(&c.desk, &s.token);
    assert!(
        matches!(refused, Err(Error::PasswordChangeRequired)),
        "the session gives no actor for anything else: {refused:?}"
    );
    assert!(
        sessions.touch(&c.desk, &s.token).is_ok(),
        "but it stays alive while she types"
    );
    let (actor, member) = sessions
        .change_password(
            &c.desk,
            &s.token,
            "a brand new password",
            "sunflower marble kettle",
        )
        .expect("she chooses her own");
    assert!(
        !actor.must_change_password && !member.must_change_password,
        "the flag is gone"
    );
    let actor = sessions
        .actor(&c.desk, &s.token)
        .expect("the same session now works");
    assert!(
        c.desk
            .list_doctors(&actor, false)
            .unwrap()
            .iter()
            .any(|d| d.id == doctor),
        "and may do a receptionist's work"
    );
}
}

#[test]
fn idle_logoff_is_at_most_thirty_minutes() {
    let c = Clinic::new();
    c.account("rita", Role::Receptionist);
    let cli = Actor::local_admin();
    for minutes in ["31", "480"] {
        let r = c.desk.set_setting(&cli, "session.idle_minutes", minutes);
        assert!(
            matches!(r, Err(Error::Invalid(_))),
            "{minutes} idle minutes must be refused: {r:?}"
        );
    }
    c.desk
        .set_setting(&cli, "session.idle_minutes", "30")
        .expect("30 is the most");
    // a value stored before the cap (or restored from an old backup)
    c.desk
        .write("test.old_setting", |tx| {
            Ok(tx.execute(
                "UPDATE setting SET value = '480' WHERE key = 'session.idle_minutes'",
                [],
            )?)
        })
        .unwrap();
    assert_eq!(
        c.desk.settings().unwrap().idle_minutes,
        30,
        "an old larger value reads as 30"
    );
    let sessions = SessionStore::new();
    let s = sessions.login(&c.desk, "rita", PASSWORD).unwrap();
    c.clock.advance(29 * 60);
    sessions
        .touch(&c.desk, &s.token)
        .expect("29 idle minutes are fine");
    c.clock.advance(30 * 60);
    assert!(
        matches!(
            sessions.actor(&c.desk, &s.token),
            Err(Error::Unauthenticated)
        ),
        "30 idle minutes end the session whatever the stored value"
    );
}

#[test]
fn the_command_line_changes_ones_password_and_unlocks_an_account() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.sqlite3");
    let (code, _, err) = cli(
        &db,
        &["init", "--country", "DE", "--admin-username", "ada"],
        &[("FRONTDESK_NEW_PASSWORD", PASSWORD)],
    );
    assert_eq!(code, 0, "init: {err}");
    let (code, _, err) = cli(
        &db,
        &["staff", "add", "--username", "rita2", "--name", "Rita"],
        &[("FRONTDESK_NEW_PASSWORD", "rita123456")],
    );
    assert!(
        code == 2 && err.contains("guess"),
        "a name-derived password is refused with exit 2 and a reason: {code} {err}"
    );
    let (code, _, err) = cli(
        &db,
        &["staff", "add", "--username", "rita", "--name", "Rita"],
        &[("FRONTDESK_NEW_PASSWORD", PASSWORD)],
    );
    assert_eq!(code, 0, "staff add: {err}");
    let (code, json, err) = cli(
        &db,
        &["staff", "reset-password", "rita"],
        &[("FRONTDESK_NEW_PASSWORD", "a brand new password")],
    );
    assert!(
        code == 0 && json["staff"]["must_change_password"] == true,
        "a reset marks the change as due: {json} {err}"
    );
    let (code, _, err) = cli(
        &db,
        &["staff", "change-password", "rita"],
        &[
            ("FRONTDESK_PASSWORD", "a wrong guess!"),
            ("FRONTDESK_NEW_PASSWORD", "sunflower marble kettle"),
        ],
    );
    assert_eq!(code, 1, "a wrong current password is refused: {err}");
    let (code, json, err) = cli(
        &db,
        &["staff", "change-password", "rita"],
        &[
            ("FRONTDESK_PASSWORD", "a brand new password"),
            ("FRONTDESK_NEW_PASSWORD", "sunflower marble kettle"),
        ],
    );
    assert!(
        code == 0 && json["staff"]["must_change_password"] == false,
        "rita chooses her own: {json} {err}"
    );
    // a lock as twenty failures leave it (the delays would take an hour of real time)
    {
        let desk = Frontdesk::open_default(&db).unwrap();
        desk.write("test.lock", |tx| {
            Ok(tx.execute(
                "UPDATE staff SET failed_logins = 20, last_failed_at = 0, locked_at = 0 WHERE username = 'rita'",
                [],
            )?)
        })
        .unwrap();
        assert!(
            matches!(
                desk.authenticate("rita", "sunflower marble kettle"),
                Err(Error::AccountLocked)
            ),
            "locked"
        );
    }
    let (_, json, _) = cli(&db, &["staff", "list"], &[]);
    assert!(
        json["staff"].as_array().is_some_and(|a| a
            .iter()
            .any(|m| m["username"] == "rita" && m["locked_at"] == 0)),
        "the list shows the lock: {json}"
    );
    let (code, json, err) = cli(&db, &["staff", "unlock", "rita"], &[]);
    assert!(
        code == 0 && json["staff"]["locked_at"].is_null(),
        "staff unlock lifts it: {json} {err}"
    );
    let desk = Frontdesk::open_default(&db).unwrap();
    desk.authenticate("rita", "sunflower marble kettle")
        .expect("rita signs in after the unlock");
}
