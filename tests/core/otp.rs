use frontdesk::{Actor, Error, OtpSender};

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

#[test]
fn twenty_threads_requesting_for_one_phone_leave_exactly_one_live_code() {
    let c = Clinic::new();
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
        c.count("SELECT count(*) FROM outbox WHERE status = 'QUEUED'"),
        1,
        "exactly one message queued"
    );
    c.assert_check();
}

#[test]
fn requests_are_rate_limited_to_one_a_minute_and_five_an_hour() {
    let c = Clinic::new();
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

#[test]
fn a_code_verifies_once_marks_the_patients_and_cannot_be_replayed() {
    let c = Clinic::new();
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

#[test]
fn a_replaced_code_no_longer_verifies() {
    let c = Clinic::new();
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
        c.count("SELECT count(*) FROM outbox WHERE status = 'FAILED' AND body = '' AND last_error LIKE 'replaced%'"),
        1,
        "the replaced message is given up unsent and blanked"
    );
}

#[test]
fn fifty_parallel_wrong_guesses_use_at_most_five_attempts_and_exhaust_the_code() {
    let c = Clinic::new();
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

#[test]
fn codes_expire_after_five_minutes() {
    let c = Clinic::new();
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

#[test]
fn input_that_is_not_six_digits_is_refused_without_using_an_attempt() {
    let c = Clinic::new();
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

#[test]
fn the_database_file_holds_no_plaintext_code_after_delivery() {
    let c = Clinic::new();
    let cli = Actor::local_admin();
    c.desk
        .set_otp_sender(
            &cli,
            &OtpSender {
                program: Some("/bin/true".into()),
                args: vec![],
            },
        )
        .unwrap();
    c.desk.request_otp(&cli, PHONE).unwrap();
    let code = c.last_code(E164);
    let message = format!("passcode is {code}");
    let report = c.desk.deliver_outbox(&cli).unwrap();
    assert_eq!(report.sent, 1, "the sender ran: {report:?}");
    let db = c.path();
    // the background checkpointer erases it from the -wal file (it never waits
    // inside the write lock): wait for that, with a bound only a hang reaches
    let holds_text = |file: &std::path::Path| {
        let bytes = std::fs::read(file).unwrap_or_default();
        bytes
            .windows(message.len())
            .any(|w| w == message.as_bytes())
    };
    let started = std::time::Instant::now();
    for file in [db.clone(), db.with_extension("sqlite3-wal")] {
        while holds_text(&file) {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "{} still contains the passcode text",
                file.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
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
}

#[test]
fn without_a_sender_messages_stay_queued_and_a_failing_sender_is_recorded() {
    let c = Clinic::new();
    let cli = Actor::local_admin();
    c.desk.request_otp(&cli, PHONE).unwrap();
    let r = c.desk.deliver_outbox(&cli).unwrap();
    assert!(
        !r.sender_configured && r.sent == 0,
        "nothing sent without a sender: {r:?}"
    );
    assert_eq!(
        c.desk.list_outbox(&cli, 10).unwrap()[0].status,
        "QUEUED",
        "admins see it queued"
    );

    c.desk
        .set_otp_sender(
            &cli,
            &OtpSender {
                program: Some("/bin/sh".into()),
                args: vec![
                    "-c".into(),
                    "echo \"no modem for $0: $1\" >&2; exit 3".into(),
                ],
            },
        )
        .unwrap();
    let code = c.last_code(E164);
    let r = c.desk.deliver_outbox(&cli).unwrap();
    assert_eq!((r.sent, r.failed), (0, 1), "the failure is counted: {r:?}");
    let m = &c.desk.list_outbox(&cli, 10).unwrap()[0];
    let error = m.last_error.clone().unwrap_or_default();
    assert!(
        error.contains("no modem"),
        "the sender's complaint is kept: {error}"
    );
    assert!(!error.contains(&code), "but never the code: {error}");
    assert_eq!(m.status, "QUEUED", "a failed attempt is retried later");
    c.desk.deliver_outbox(&cli).unwrap();
    c.desk.deliver_outbox(&cli).unwrap();
    let m = &c.desk.list_outbox(&cli, 10).unwrap()[0];
    assert_eq!(
        (m.status.as_str(), m.attempts),
        ("FAILED", 3),
        "given up after three attempts"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM outbox WHERE body <> ''"),
        0,
        "a given-up message keeps no text"
    );
}

#[test]
fn the_sender_gets_the_phone_and_message_as_separate_arguments() {
    let c = Clinic::new();
    let cli = Actor::local_admin();
    let out = c.dir.path().join("sent.txt");
    let script = format!(
        "printf '%s|%s|%s' \"$1\" \"$2\" \"$3\" > '{}'",
        out.display()
    );
    let sender = OtpSender {
        program: Some("/bin/sh".into()),
        args: vec!["-c".into(), script, "sender".into(), "--to".into()],
    };
    c.desk.set_otp_sender(&cli, &sender).unwrap();
    c.desk.request_otp(&cli, PHONE).unwrap();
    let code = c.last_code(E164);
    assert_eq!(c.desk.deliver_outbox(&cli).unwrap().sent, 1, "sent");
    let got = std::fs::read_to_string(&out).unwrap();
    let parts: Vec<&str> = got.split('|').collect();
    assert_eq!(parts[0], "--to", "configured arguments come first");
    assert_eq!(parts[1], E164, "then the phone, as one argument");
    assert!(
        parts[2].contains(&code) && parts[2].contains(' '),
        "then the whole message as one argument: {got}"
    );
}

#[test]
fn unsent_messages_are_blanked_once_their_code_expires() {
    let c = Clinic::new();
    let cli = Actor::local_admin();
    c.desk.request_otp(&cli, PHONE).unwrap();
    c.clock.advance(5 * 60);
    let r = c.desk.deliver_outbox(&cli).unwrap();
    assert_eq!(r.expired, 1, "the expired message is given up: {r:?}");
    assert_eq!(
        c.count("SELECT count(*) FROM outbox WHERE body <> ''"),
        0,
        "and keeps no text"
    );
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
fn the_command_line_requests_delivers_and_verifies_passcodes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("otp.sqlite3");
    let run = |args: &[&str]| {
        // signed in as the first admin that `init` makes
        let out = crate::fixture::cli(&db)
            .env(crate::fixture::NEW_PASSWORD_ENV, crate::fixture::PASSWORD)
            .arg("--json")
            .args(args)
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
    let (code, json, err) = run(&["otp", "request", PHONE]);
    assert_eq!(
        (code, json["delivery"]["sender_configured"].as_bool()),
        (0, Some(false)),
        "queued without a sender: {err}"
    );
    let (code, json, err) = run(&["otp", "request", PHONE]);
    assert_eq!(
        (code, json["error"]["code"].as_str()),
        (1, Some("RateLimited")),
        "a second request within 60 s: {err}"
    );
    let (code, _, err) = run(&["settings", "set", "otp.sender", "/bin/true", "--quiet"]);
    assert_eq!(code, 0, "setting the sender: {err}");
    let (_, json, _) = run(&["settings", "get", "otp.sender_args"]);
    assert_eq!(
        json["settings"]["otp.sender_args"],
        serde_json::json!(["--quiet"]),
        "arguments after the program are kept"
    );
    let desk = crate::fixture::open_at(
        &db,
        std::sync::Arc::new(frontdesk::clock::ManualClock::new(0)),
    );
    let body: String = desk
        .read(|c| {
            Ok(
                c.query_row("SELECT body FROM outbox WHERE status = 'QUEUED'", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .unwrap();
    drop(desk);
    let code = body
        .split_whitespace()
        .find(|w| w.len() == 7 && w.ends_with('.'))
        .unwrap()[..6]
        .to_string();
    let (status, json, err) = run(&["otp", "deliver"]);
    assert_eq!(
        (status, json["delivery"]["sent"].as_u64()),
        (0, Some(1)),
        "delivered with the sender: {err}"
    );
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
        json.to_string().find(&code).is_none(),
        "the outbox listing never shows the code"
    );
}
