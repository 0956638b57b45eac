use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use frontdesk::limits::{
    MAX_FAILED_VERIFICATIONS_PER_PHONE_PER_DAY, MAX_REQUESTS_PER_DESK_PER_HOUR,
};
use frontdesk::senders::recording;
use frontdesk::{Actor, Error};

use crate::fixture::Clinic;

const PHONE: &str = "0151 2345 6789";
const E164: &str = "+4915123456789";

fn wrong(code: &str) -> String {
    // a different 6-digit code
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

fn attempts(c: &Clinic) -> i64 {
    c.count(&format!(
        "SELECT attempts FROM otp_code WHERE phone = '{E164}'"
    ))
}

on_both! {
    fn twenty_threads_requesting_for_one_phone_leave_exactly_one_live_code(c) {
    let desk = &c.desk;
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| s.spawn(move || desk.request_otp(&Actor::local_admin(), PHONE)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let limited = results.iter().filter(|r| matches!(r, Err(Error::RateLimited { retry_after_secs }) if *retry_after_secs == 60)).count();
    assert_eq!(
        (ok, limited),
        (1, 19),
        "one request wins, the other 19 are told to wait 60 s: {results:?}"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM otp_code"),
        1,
        "exactly one live code"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM outbox WHERE status = 'SENT'"),
        1,
        "exactly one message sent"
    );
    assert_eq!(c.messages(E164).len(), 1, "and one reached the phone");
    c.assert_check();
}
}

on_both! {
    fn requests_are_rate_limited_to_one_a_minute_and_five_an_hour(c) {
    let cli = Actor::local_admin();
    c.desk.request_otp(&cli, PHONE).unwrap();
    c.clock.advance(30);
    let r = c.desk.request_otp(&cli, PHONE);
    assert!(
        matches!(
            r,
            Err(Error::RateLimited {
                retry_after_secs: 30
            })
        ),
        "30 s after the last one: wait 30 s, got {r:?}"
    );
    c.clock.advance(30);
    c.desk
        .request_otp(&cli, PHONE)
        .expect("a minute after the last one is fine");
    for _ in 0..3 {
        c.clock.advance(60);
        c.desk
            .request_otp(&cli, PHONE)
            .expect("a minute apart is fine");
    }
    c.clock.advance(60);
    let r = c.desk.request_otp(&cli, PHONE);
    // requests at 0, 60, 120, 180, 240 s; now 300 s: the first leaves the hour at 3600 s
    assert!(
        matches!(
            r,
            Err(Error::RateLimited {
                retry_after_secs: 3300
            })
        ),
        "the sixth in an hour waits for the first to age out: {r:?}"
    );
    c.desk
        .request_otp(&cli, "0151 2345 6780")
        .expect("other phones are not affected");
    c.clock.advance(3300);
    c.desk
        .request_otp(&cli, PHONE)
        .expect("an hour after the first request, one more is allowed");
}
}

on_both! {
    fn a_code_verifies_once_marks_the_patients_and_cannot_be_replayed(c) {
    let p1 = c.patient("Anna Weber", PHONE);
    let p2 = c.patient("Ben Weber", PHONE);
    let cli = Actor::local_admin();
    c.desk.request_otp(&cli, PHONE).unwrap();
    let code = c.last_code(E164);
    let v = c
        .desk
        .verify_otp(&cli, "+49 151 23456789", &code)
        .expect("the right code verifies");
    assert_eq!(
        v.patients_verified, 2,
        "both patients sharing the phone are verified"
    );
    for id in [p1, p2] {
        let p = c.desk.get_patient(&cli, id).unwrap();
        assert_eq!(
            p.phone_verified_at,
            Some(v.verified_at),
            "verified at that time"
        );
        assert_eq!(
            p.phone_verified_by.as_deref(),
            Some("cli (local administrator)"),
            "by that staff member"
        );
    }
    let replay = c.desk.verify_otp(&cli, PHONE, &code);
    assert!(
        matches!(replay, Err(Error::Invalid(_))),
        "a used code cannot be replayed: {replay:?}"
    );
    c.assert_check();
}
}

on_both! {
    fn a_replaced_code_no_longer_verifies(c) {
    let cli = Actor::local_admin();
    c.desk.request_otp(&cli, PHONE).unwrap();
    let old = c.last_code(E164);
    c.clock.advance(60);
    c.desk.request_otp(&cli, PHONE).unwrap();
    let new = c.last_code(E164);
    if old != new {
        assert!(
            c.desk.verify_otp(&cli, PHONE, &old).is_err(),
            "the replaced code fails"
        );
    }
    c.desk
        .verify_otp(&cli, PHONE, &new)
        .expect("the newest code works");
    assert_eq!(
        c.count("SELECT count(*) FROM outbox WHERE status = 'SENT' AND body = ''"),
        2,
        "both messages were sent at once and keep no text"
    );
}
}

on_both! {
    fn fifty_parallel_wrong_guesses_use_at_most_five_attempts_and_exhaust_the_code(c) {
    c.desk.request_otp(&Actor::local_admin(), PHONE).unwrap();
    let code = c.last_code(E164);
    let guess = wrong(&code);
    let desk = &c.desk;
    std::thread::scope(|s| {
        for _ in 0..50 {
            let guess = &guess;
            s.spawn(move || {
                assert!(
                    desk.verify_otp(&Actor::local_admin(), PHONE, guess)
                        .is_err(),
                    "a wrong guess fails"
                )
            });
        }
    });
    assert_eq!(
        attempts(&c),
        5,
        "exactly five attempts were reserved, however many ran at once"
    );
    let right = c.desk.verify_otp(&Actor::local_admin(), PHONE, &code);
    assert!(
        matches!(right, Err(Error::Invalid(_))),
        "after five wrong guesses even the right code fails: {right:?}"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM patient WHERE phone_verified_at IS NOT NULL"),
        0,
        "nothing verified"
    );
    c.assert_check();
}
}

on_both! {
    fn codes_expire_after_five_minutes(c) {
    let cli = Actor::local_admin();
    c.desk.request_otp(&cli, PHONE).unwrap();
    let code = c.last_code(E164);
    c.clock.advance(5 * 60);
    let r = c.desk.verify_otp(&cli, PHONE, &code);
    assert!(
        matches!(&r, Err(Error::Invalid(m)) if m.contains("expired")),
        "a five-minute-old code is expired: {r:?}"
    );
    c.desk.request_otp(&cli, PHONE).unwrap();
    let code = c.last_code(E164);
    c.clock.advance(5 * 60 - 1);
    c.desk
        .verify_otp(&cli, PHONE, &code)
        .expect("one second before expiry it still works");
}
}

on_both! {
    fn input_that_is_not_six_digits_is_refused_without_using_an_attempt(c) {
    let cli = Actor::local_admin();
    c.desk.request_otp(&cli, PHONE).unwrap();
    for bad in ["12345", "1234567", "12 456", "abcdef", ""] {
        assert!(
            matches!(c.desk.verify_otp(&cli, PHONE, bad), Err(Error::Invalid(_))),
            "{bad:?} is refused"
        );
    }
    assert_eq!(attempts(&c), 0, "malformed input costs no attempt");
}
}

/// Waits (with a bound only a hang reaches) until none of `files` holds `text`:
/// the background checkpointer truncates the WAL shortly after the text is erased
/// (it never waits inside the write lock).
fn wait_until_no_file_holds(files: &[PathBuf], text: &str) {
    let holds = |file: &Path| {
        let bytes = std::fs::read(file).unwrap_or_default();
        bytes.windows(text.len()).any(|w| w == text.as_bytes())
    };
    let started = Instant::now();
    for file in files {
        while holds(file) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{} still contains {text:?}",
                file.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn after_delivery_the_code_is_in_neither_the_database_nor_the_wal() {
    let c = Clinic::new();
    let cli = Actor::local_admin();
    let r = c.desk.request_otp(&cli, PHONE).unwrap();
    assert!(r.sent, "the request sent the code at once: {r:?}");
    let code = c.last_code(E164);
    let db = c.path();
    let files = [db.clone(), frontdesk::storage::db::sibling(&db, "-wal")];
    // the message text, and the code as it stood in it
    wait_until_no_file_holds(&files, &c.messages(E164)[0]);
    wait_until_no_file_holds(&files, &format!("is {code}."));
    let audit: String = c
        .desk
        .read(|conn| {
            Ok(conn.query_row(
                "SELECT group_concat(detail, ' ') FROM audit_event",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert!(!audit.contains(&code), "the audit log never holds the code");
    assert_eq!(
        c.count("SELECT count(*) FROM outbox WHERE status = 'SENT' AND body = ''"),
        1,
        "sent and blanked"
    );
    let secure_delete: i64 = c
        .desk
        .write("test.pragma", |tx| {
            Ok(tx.query_row("PRAGMA secure_delete", [], |r| r.get(0))?)
        })
        .unwrap();
    assert_eq!(secure_delete, 1, "the writer erases with secure_delete on");
}

on_both! {
    fn the_sender_gets_the_message_on_standard_input_and_only_the_phone_as_an_argument(c) {
    let cli = Actor::local_admin();
    c.desk.request_otp(&cli, PHONE).unwrap();
    let code = c.last_code(E164);
    let message = &c.messages(E164)[0];
    assert!(
        message.starts_with("Your ") && message.contains(&format!("passcode is {code}.")),
        "the whole message came on standard input: {message:?}"
    );
    let argv = recording::argv(&c.senders());
    assert_eq!(argv.len(), 1, "the sender ran once: {argv:?}");
    let record = recording::record_dir(&c.senders());
    assert_eq!(
        argv[0],
        format!("{} {E164}", record.display()),
        "its arguments are the configured one and the phone, nothing else"
    );
    assert!(!argv[0].contains(&code), "never the code: {argv:?}");
}
}

#[test]
fn without_a_sender_on_this_pc_requesting_a_code_is_refused() {
    let c = Clinic::without_sender();
    let cli = Actor::local_admin();
    let r = c.desk.request_otp(&cli, PHONE);
    let Err(Error::Invalid(m)) = &r else {
        panic!("refused without a sender, got {r:?}");
    };
    assert!(
        m.contains("a sender must be set up") && m.contains(&c.senders().display().to_string()),
        "the refusal says a sender must be set up, and where: {m}"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM otp_code") + c.count("SELECT count(*) FROM outbox"),
        0,
        "no code and no message were made"
    );
    // a file describing several senders and no default, the clinic naming none
    write_senders(
        &c,
        "[sender.a]\nprogram = \"/bin/true\"\n[sender.b]\nprogram = \"/bin/true\"\n",
    );
    let r = c.desk.request_otp(&cli, PHONE);
    assert!(
        matches!(&r, Err(Error::Invalid(m)) if m.contains("a sender must be set up")),
        "refused while none is chosen: {r:?}"
    );
    let sweep = c.desk.deliver_outbox(&cli).unwrap();
    assert!(
        !sweep.sender_configured && sweep.problem.is_some(),
        "{sweep:?}"
    );
}

/// Replaces this test PC's senders file (private to its owner).
fn write_senders(c: &Clinic, text: &str) {
    let file = c.senders();
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(
            file.parent().unwrap(),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
    }
}

on_both! {
    fn the_desk_says_sent_only_when_the_sender_said_so(c) {
    let cli = Actor::local_admin();
    recording::set_failing(&c.senders(), true).unwrap();
    let r = c.desk.request_otp(&cli, PHONE).unwrap();
    let code = c.last_code(E164);
    assert!(!r.sent, "the sender failed, so it was not sent: {r:?}");
    let reason = r.not_sent_reason.clone().unwrap_or_default();
    assert!(
        reason.contains("no modem"),
        "the sender's complaint: {reason}"
    );
    assert!(!reason.contains(&code), "but never the code: {reason}");
    let m = &c.desk.list_outbox(&cli, 10).unwrap()[0];
    assert_eq!(
        (
            m.status.as_str(),
            m.last_error.as_deref().unwrap_or("").contains(&code)
        ),
        ("FAILED", false),
        "given up at once (a new code is the retry), without the code: {m:?}"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM outbox WHERE body <> ''"),
        0,
        "no text kept"
    );

    recording::set_failing(&c.senders(), false).unwrap();
    c.clock.advance(60);
    let r = c.desk.request_otp(&cli, PHONE).unwrap();
    assert!(
        r.sent && r.not_sent_reason.is_none(),
        "sent when it exits 0: {r:?}"
    );
}
}

on_both! {
    fn landlines_and_toll_free_numbers_are_refused_for_a_clinic_in_germany(c) {
    let cli = Actor::local_admin();
    for (number, says) in [("030 1234567", "landline"), ("0800 1234567", "toll-free")] {
        let r = c.desk.request_otp(&cli, number);
        assert!(
            matches!(&r, Err(Error::Invalid(m)) if m.contains(says) && m.contains("text messages")),
            "{number} is refused as a {says}: {r:?}"
        );
    }
    assert_eq!(c.count("SELECT count(*) FROM otp_code"), 0, "no code made");
    assert!(recording::argv(&c.senders()).is_empty(), "nothing sent");
    c.desk
        .request_otp(&cli, PHONE)
        .expect("a mobile number takes a passcode");
}
}

on_both! {
    fn failed_verifications_are_capped_per_phone_per_day_across_codes(c) {
    let cli = Actor::local_admin();
    let per_code = frontdesk::MAX_ATTEMPTS as usize;
    let codes = MAX_FAILED_VERIFICATIONS_PER_PHONE_PER_DAY / per_code;
    for _ in 0..codes {
        c.desk.request_otp(&cli, PHONE).unwrap();
        let code = c.last_code(E164);
        for _ in 0..per_code {
            assert!(c.desk.verify_otp(&cli, PHONE, &wrong(&code)).is_err());
        }
        c.clock.advance(15 * 60);
    }
    // a day's worth of failures: no new code for this phone today…
    let r = c.desk.request_otp(&cli, PHONE);
    let day_left = 24 * 3600 - (codes as i64) * 15 * 60;
    assert!(
        matches!(r, Err(Error::RateLimited { retry_after_secs }) if retry_after_secs == day_left),
        "no new code until the first failure is a day old ({day_left} s): {r:?}"
    );
    c.desk
        .request_otp(&cli, "0151 2345 6780")
        .expect("other phones are not affected");
    c.clock.advance(day_left);
    c.desk.request_otp(&cli, PHONE).expect("a day later, again");
    let code = c.last_code(E164);
    c.desk
        .verify_otp(&cli, PHONE, &code)
        .expect("and the right code verifies");
}
}

// Only failures count toward the daily cap: a phone verified correctly more
// times in a day than the cap allows failures is never held back.
on_both! {
    fn verifications_that_succeed_do_not_count_toward_the_daily_cap(c) {
    let cli = Actor::local_admin();
    for round in 0..=MAX_FAILED_VERIFICATIONS_PER_PHONE_PER_DAY {
        c.desk
            .request_otp(&cli, PHONE)
            .unwrap_or_else(|e| panic!("request {round}: {e}"));
        let code = c.last_code(E164);
        c.desk
            .verify_otp(&cli, PHONE, &code)
            .unwrap_or_else(|e| panic!("verification {round}: {e}"));
        c.clock.advance(15 * 60);
    }
}
}

on_both! {
    fn the_daily_cap_holds_for_a_live_code_too(c) {
    let cli = Actor::local_admin();
    let per_code = frontdesk::MAX_ATTEMPTS as usize;
    // two codes' failures minus one, then a fresh code: one more failure fills the day
    for round in 0..MAX_FAILED_VERIFICATIONS_PER_PHONE_PER_DAY / per_code {
        c.desk.request_otp(&cli, PHONE).unwrap();
        let code = c.last_code(E164);
        let guesses = if round == 0 { per_code } else { per_code - 1 };
        for _ in 0..guesses {
            assert!(c.desk.verify_otp(&cli, PHONE, &wrong(&code)).is_err());
        }
        c.clock.advance(15 * 60);
    }
    c.desk.request_otp(&cli, PHONE).unwrap();
    let code = c.last_code(E164);
    assert!(c.desk.verify_otp(&cli, PHONE, &wrong(&code)).is_err());
    let r = c.desk.verify_otp(&cli, PHONE, &code);
    assert!(
        matches!(r, Err(Error::RateLimited { .. })),
        "after the day's failures even the right code waits: {r:?}"
    );
}
}

on_both! {
    fn requests_are_capped_per_desk_per_hour_across_phones(c) {
    let rita = c.receptionist();
    let phone = |i: usize| format!("0151 2345 6{i:03}");
    for i in 0..MAX_REQUESTS_PER_DESK_PER_HOUR {
        c.desk
            .request_otp(&rita, &phone(i))
            .unwrap_or_else(|e| panic!("request {i} is within the desk's hour: {e}"));
        c.clock.advance(10);
    }
    let r = c.desk.request_otp(&rita, &phone(900));
    let wait = 3600 - 10 * MAX_REQUESTS_PER_DESK_PER_HOUR as i64;
    assert!(
        matches!(r, Err(Error::RateLimited { retry_after_secs }) if retry_after_secs == wait),
        "one request too many for this desk this hour, whatever the phone: {r:?}"
    );
    c.desk
        .request_otp(&c.admin(), &phone(901))
        .expect("another desk is not affected");
    c.clock.advance(wait);
    c.desk
        .request_otp(&rita, &phone(900))
        .expect("once the first request is an hour old, one more");
}
}

on_both! {
    fn a_senders_file_others_can_change_or_that_passes_the_message_as_an_argument_is_refused(c) {
    let cli = Actor::local_admin();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let file = c.senders();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        let r = c.desk.request_otp(&cli, PHONE);
        assert!(
            matches!(&r, Err(Error::Invalid(m)) if m.contains("other users") && m.contains(&file.display().to_string())),
            "a world-writable senders file is refused, naming it: {r:?}"
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let dir = file.parent().unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o775)).unwrap();
        let r = c.desk.request_otp(&cli, PHONE);
        assert!(
            matches!(&r, Err(Error::Invalid(m)) if m.contains("the folder")),
            "so is one in a folder others can change: {r:?}"
        );
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let script = dir.join("record.sh");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o777)).unwrap();
        let r = c.desk.request_otp(&cli, PHONE).unwrap();
        assert!(
            !r.sent
                && r.not_sent_reason
                    .as_deref()
                    .unwrap_or("")
                    .contains("other users"),
            "and a program others can change is not run: {r:?}"
        );
        assert!(recording::argv(&c.senders()).is_empty(), "it never ran");
        c.clock.advance(60);
    }
    write_senders(
        &c,
        "[sender.sms]\nprogram = \"/bin/echo\"\nargs = [\"{phone}\", \"{message}\"]\n",
    );
    let r = c.desk.request_otp(&cli, PHONE);
    assert!(
        matches!(&r, Err(Error::Invalid(m)) if m.contains("{message}") && m.contains("standard input")),
        "{{message}} as an argument is refused: {r:?}"
    );
}
}

#[test]
fn the_database_only_chooses_among_the_senders_this_pc_describes() {
    let c = Clinic::new();
    let cli = Actor::local_admin();
    // a database edited behind the app's back (or restored) names a program
    let planted = c.dir.path().join("planted");
    c.desk
        .write("test.plant", |tx| {
            tx.execute(
                "INSERT INTO setting (key, value) VALUES ('otp.sender', '/bin/sh'), ('otp.sender_args', ?1)",
                [serde_json::json!(["-c", format!("touch {}", planted.display())]).to_string()],
            )?;
            Ok(())
        })
        .unwrap();
    let r = c.desk.request_otp(&cli, PHONE).unwrap();
    assert!(r.sent, "{r:?}");
    assert!(
        !planted.exists(),
        "a program named in the database never runs"
    );
    assert_eq!(c.messages(E164).len(), 1, "the PC's sender sent it");

    let other = c.dir.path().join("other.log");
    let text = std::fs::read_to_string(c.senders()).unwrap();
    write_senders(
        &c,
        &format!(
            "{text}\n[sender.other]\nprogram = \"/bin/sh\"\nargs = [\"-c\", \"cat >> {}\", \"sh\"]\n",
            other.display()
        ),
    );
    let refused = c.desk.set_otp_sender(&cli, Some("/bin/sh"));
    assert!(
        matches!(&refused, Err(Error::Invalid(_))),
        "not a sender's name: {refused:?}"
    );
    let refused = c.desk.set_otp_sender(&cli, Some("evil"));
    assert!(
        matches!(&refused, Err(Error::Invalid(m)) if m.contains("describes no sender")),
        "a name this PC does not describe is refused: {refused:?}"
    );
    let status = c.desk.set_otp_sender(&cli, Some("other")).unwrap();
    assert_eq!(
        (status.active.as_deref(), status.configured.len()),
        (Some("other"), 2),
        "{status:?}"
    );
    c.clock.advance(60);
    assert!(c.desk.request_otp(&cli, PHONE).unwrap().sent);
    assert!(
        std::fs::read_to_string(&other)
            .unwrap()
            .contains("passcode is"),
        "the chosen sender got the message on its standard input"
    );
    // the PC's administrator removes it: the clinic's choice no longer sends
    write_senders(&c, &text);
    c.clock.advance(60);
    let r = c.desk.request_otp(&cli, PHONE);
    assert!(
        matches!(&r, Err(Error::Invalid(m)) if m.contains("\"other\" is not described")),
        "{r:?}"
    );
    let r = c.desk.set_setting(&cli, "otp.sender", "/bin/sh");
    assert!(
        matches!(&r, Err(Error::Invalid(m)) if m.contains("not a clinic setting")),
        "the old setting is refused: {r:?}"
    );
}

#[test]
fn a_message_a_stopped_desk_left_is_erased_when_its_code_expires() {
    let c = Clinic::new();
    let cli = Actor::local_admin();
    // a desk that committed its request and stopped before it could send
    c.desk
        .write("test.stopped", |tx| {
            Ok(frontdesk::storage::otp::queue_claimed(
                &frontdesk::storage::Conn::Lite(tx),
                E164,
                "Your passcode is 123456.",
                c.desk.now(),
                "a-stopped-desk",
            )?)
        })
        .unwrap();
    c.clock.advance(5 * 60);
    // the next request, for any phone, erases it
    c.desk.request_otp(&cli, "0151 2345 6780").unwrap();
    assert_eq!(
        c.count("SELECT count(*) FROM outbox WHERE body <> ''"),
        0,
        "the expired message keeps no text"
    );
    assert_eq!(
        c.count(
            "SELECT count(*) FROM outbox WHERE status = 'FAILED' AND last_error LIKE '%expired%'"
        ),
        1,
        "it is given up as expired"
    );
}

#[test]
fn the_sweep_sends_what_a_stopped_desk_left_and_erases_it() {
    let c = Clinic::new();
    let cli = Actor::local_admin();
    c.desk
        .write("test.stopped", |tx| {
            Ok(frontdesk::storage::otp::queue_claimed(
                &frontdesk::storage::Conn::Lite(tx),
                E164,
                "Your passcode is 123456.",
                c.desk.now(),
                "a-stopped-desk",
            )?)
        })
        .unwrap();
    let r = c.desk.deliver_outbox(&cli).unwrap();
    assert!(r.sender_configured, "this PC has a sender: {r:?}");
    assert_eq!(r.sent, 0, "a claim still fresh is left to its desk: {r:?}");
    c.clock.advance(121);
    let r = c.desk.deliver_outbox(&cli).unwrap();
    assert_eq!(r.sent, 1, "a stale claim is taken over and sent: {r:?}");
    assert_eq!(c.messages(E164), ["Your passcode is 123456."]);
    assert_eq!(c.count("SELECT count(*) FROM outbox WHERE body <> ''"), 0);
}

/// χ² with `df` degrees of freedom stays below this with probability 1 − 10⁻⁴
/// (Wilson–Hilferty approximation, z = 3.719).
fn chi2_critical(df: f64) -> f64 {
    let z = 3.719;
    df * (1.0 - 2.0 / (9.0 * df) + z * (2.0 / (9.0 * df)).sqrt()).powi(3)
}

fn chi2(counts: &[u64], n: u64) -> f64 {
    let expected = n as f64 / counts.len() as f64;
    counts
        .iter()
        .map(|&o| (o as f64 - expected).powi(2) / expected)
        .sum()
}

#[test]
fn generated_codes_are_uniform_by_a_chi_square_test_on_200000_draws() {
    let n = 200_000u64;
    let mut leading = vec![0u64; 1000];
    let mut trailing = vec![0u64; 1000];
    let mut digits = vec![vec![0u64; 10]; 6];
    for _ in 0..n {
        let code = frontdesk::generate_code().unwrap();
        assert_eq!(code.len(), 6, "six digits: {code}");
        let v: usize = code.parse().unwrap();
        leading[v / 1000] += 1;
        trailing[v % 1000] += 1;
        for (i, d) in code.bytes().enumerate() {
            digits[i][(d - b'0') as usize] += 1;
        }
    }
    for (name, counts) in [
        ("first three digits", &leading),
        ("last three digits", &trailing),
    ] {
        let (x, limit) = (chi2(counts, n), chi2_critical(999.0));
        assert!(x < limit, "{name}: χ² = {x:.1} over the limit {limit:.1}");
    }
    for (i, counts) in digits.iter().enumerate() {
        let (x, limit) = (chi2(counts, n), chi2_critical(9.0));
        assert!(
            x < limit,
            "digit {i}: χ² = {x:.1} over the limit {limit:.1}"
        );
    }
    // the test has teeth: a generator moving 2% of one digit's draws to another
    // is caught
    let mut skewed = vec![0u64; 10];
    for i in 0..n {
        skewed[if i % 50 == 1 { 0 } else { (i % 10) as usize }] += 1;
    }
    assert!(
        chi2(&skewed, n) > chi2_critical(9.0),
        "a 2% skew must fail the same test"
    );
}

#[test]
fn the_command_line_sends_at_once_with_this_pcs_sender_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("otp.sqlite3");
    let senders = recording::write(dir.path()).unwrap();
    let run_with = |file: &Path, args: &[&str]| {
        // signed in as the first admin that `init` makes
        let out = crate::fixture::cli(&db)
            .env(crate::fixture::NEW_PASSWORD_ENV, crate::fixture::PASSWORD)
            .arg("--json")
            .args(args)
            .env(frontdesk::senders::SENDERS_FILE_ENV, file)
            .output()
            .expect("run frontdesk");
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (
            out.status.code().unwrap_or(-1),
            json,
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let run = |args: &[&str]| run_with(&senders, args);
    assert_eq!(
        run(&[
            "init",
            "--country",
            "DE",
            "--admin-username",
            crate::fixture::CLI_ADMIN
        ])
        .0,
        0,
        "init"
    );
    let (code, _, err) = run_with(&dir.path().join("none.toml"), &["otp", "request", PHONE]);
    assert!(
        code == 2 && err.contains("a sender must be set up"),
        "refused without a sender on this PC: {code} {err}"
    );
    let (code, json, err) = run(&["otp", "request", PHONE]);
    assert_eq!(
        (code, json["otp"]["sent"].as_bool()),
        (0, Some(true)),
        "sent at once: {err}"
    );
    let (code, json, err) = run(&["otp", "request", PHONE]);
    assert_eq!(
        (code, json["error"]["code"].as_str()),
        (1, Some("RateLimited")),
        "a second request within 60 s: {err}"
    );
    let (code, _, err) = run(&["otp", "request", "030 1234567"]);
    assert!(code == 2 && err.contains("landline"), "{code} {err}");
    let (code, _, err) = run(&["settings", "set", "otp.sender", "/bin/sh", "-c", "id"]);
    assert!(
        code == 2 && err.contains(&senders.display().to_string()),
        "the program is not a setting; the refusal says where it is configured: {err}"
    );
    let (code, _, err) = run(&["settings", "set", "otp.sender_name", "record"]);
    assert_eq!(code, 0, "choosing a sender this PC describes: {err}");
    let (_, json, _) = run(&["otp", "sender"]);
    assert_eq!(json["sender"]["active"], "record", "{json}");
    let (code, _, _) = run(&["settings", "set", "otp.sender_name", "elsewhere"]);
    assert_eq!(code, 2, "a name this PC does not describe");

    let code = recording::last_code(&senders, E164).expect("the phone got a code");
    assert_eq!(
        run(&["otp", "verify", PHONE, "12345"]).0,
        2,
        "five digits are bad input"
    );
    let (status, json, err) = run(&["otp", "verify", PHONE, &code]);
    assert_eq!(
        (status, json["verified"]["phone"].as_str()),
        (0, Some(E164)),
        "the delivered code verifies: {err}"
    );
    let (_, json, _) = run(&["otp", "outbox"]);
    assert_eq!(
        json["outbox"][0]["status"], "SENT",
        "the outbox shows it sent: {json}"
    );
    assert!(
        !json.to_string().contains(&code),
        "the outbox listing never shows the code"
    );
    recording::set_failing(&senders, true).unwrap();
    let (status, json, err) = run(&["otp", "request", "0151 2345 6780"]);
    assert!(
        status == 3
            && json["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("was not sent"),
        "a sender that failed is never reported as sent: {status} {json} {err}"
    );
}

on_both! {
    fn wrong_passcodes_say_how_many_attempts_are_left_and_the_last_says_none(c) {
    let cli = Actor::local_admin();
    c.desk.request_otp(&cli, PHONE).unwrap();
    let bad = wrong(&c.last_code(E164));
    let mut said = Vec::new();
    for _ in 0..5 {
        match c.desk.verify_otp(&cli, PHONE, &bad) {
            Err(Error::Invalid(m)) => said.push(m),
            other => panic!("a wrong code is refused, got {other:?}"),
        }
    }
    assert_eq!(
        said,
        [
            "wrong passcode; 4 attempt(s) left",
            "wrong passcode; 3 attempt(s) left",
            "wrong passcode; 2 attempt(s) left",
            "wrong passcode; 1 attempt(s) left",
            "wrong passcode; no attempts left, request a new one",
        ]
    );
    let sixth = c.desk.verify_otp(&cli, PHONE, &bad);
    assert!(
        matches!(&sixth, Err(Error::Invalid(m)) if m == "too many wrong passcodes; request a new one"),
        "the code is used up (not expired): {sixth:?}"
    );
}
}

on_both! {
    fn the_request_log_keeps_an_hour_and_the_attempt_log_a_day(c) {
    let cli = Actor::local_admin();
    c.desk.request_otp(&cli, PHONE).unwrap();
    let _ = c.desk.verify_otp(&cli, PHONE, &wrong(&c.last_code(E164)));
    assert_eq!(c.count("SELECT count(*) FROM otp_request"), 1);
    assert_eq!(c.count("SELECT count(*) FROM otp_attempt"), 1);
    // an hour later the next request prunes the old one
    c.clock.advance(3601);
    c.desk.request_otp(&cli, PHONE).unwrap();
    assert_eq!(
        c.count("SELECT count(*) FROM otp_request"),
        1,
        "requests older than an hour are pruned by the next one"
    );
    // a day after the first attempt the next attempt prunes it
    c.clock.advance(23 * 3600);
    c.desk.request_otp(&cli, PHONE).unwrap();
    let _ = c.desk.verify_otp(&cli, PHONE, &wrong(&c.last_code(E164)));
    assert_eq!(
        c.count("SELECT count(*) FROM otp_attempt"),
        1,
        "attempts older than a day are pruned by the next one"
    );
}
}

#[test]
fn a_request_expires_neither_a_queued_message_whose_code_is_live_nor_one_a_desk_is_sending() {
    let c = Clinic::new();
    let cli = Actor::local_admin();
    let now = c.desk.now();
    c.desk
        .write("test.outbox", |tx| {
            // waiting to be sent, its code still live
            tx.execute(
                "INSERT INTO outbox (phone, body, status, created_at) VALUES (?1, 'Your passcode is 111111.', 'QUEUED', ?2)",
                rusqlite::params![E164, now],
            )?;
            // old, but taken over by a desk that is sending it right now
            tx.execute(
                "INSERT INTO outbox (phone, body, status, claimed_at, claim_token, created_at)
                 VALUES (?1, 'Your passcode is 222222.', 'SENDING', ?2, 'another-desk', ?3)",
                rusqlite::params![E164, now - 10, now - 400],
            )?;
            Ok(())
        })
        .unwrap();
    c.desk.request_otp(&cli, "0151 2345 6780").unwrap();
    let left: Vec<(String, String)> = c
        .desk
        .read(|conn| {
            let mut st =
                conn.prepare("SELECT status, body FROM outbox WHERE phone = ?1 ORDER BY id")?;
            let rows = st
                .query_map([E164], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .unwrap();
    assert_eq!(
        left,
        [
            ("QUEUED".to_string(), "Your passcode is 111111.".to_string()),
            (
                "SENDING".to_string(),
                "Your passcode is 222222.".to_string()
            ),
        ],
        "neither message was given up"
    );
}

on_both! {
    fn a_request_for_one_phone_leaves_another_phone_s_live_code_alone_and_drops_long_dead_ones(c) {
    let cli = Actor::local_admin();
    const OTHER: &str = "0151 2345 6780";
    c.desk.request_otp(&cli, PHONE).unwrap();
    let code = c.last_code(E164);
    c.clock.advance(60);
    c.desk.request_otp(&cli, OTHER).unwrap();
    c.desk
        .verify_otp(&cli, PHONE, &code)
        .expect("the first phone's code is still live after a request for another phone");
    // the other phone's code expires and lies dead for over an hour: the next
    // request (for any phone) drops it
    c.clock.advance(2 * 3600);
    c.desk.request_otp(&cli, PHONE).unwrap();
    assert_eq!(
        c.count("SELECT count(*) FROM otp_code"),
        1,
        "only the new code is kept"
    );
}
}

on_both! {
    fn desks_verifying_one_code_at_once_verify_it_once(c) {
    c.patient("Anna Weber", PHONE);
    let cli = Actor::local_admin();
    c.desk.request_otp(&cli, PHONE).unwrap();
    let code = c.last_code(E164);
    let desks: Vec<_> = (0..4).map(|_| c.reopen()).collect();
    let start = std::sync::Barrier::new(desks.len());
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = desks
            .iter()
            .map(|d| {
                let (start, code, cli) = (&start, &code, &cli);
                s.spawn(move || {
                    start.wait();
                    d.verify_otp(cli, PHONE, code)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let verified = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        verified, 1,
        "one desk verifies the code, the others are told it was used: {results:?}"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM audit_event WHERE action = 'otp.verify'"),
        1
    );
}
}
