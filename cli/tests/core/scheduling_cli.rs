use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::fixture::{self, CLI_ADMIN, NEW_PASSWORD_ENV, PASSWORD};

/// Runs the CLI signed in as the first admin that `init` makes.
fn run(db: &Path, args: &[&str]) -> Output {
    fixture::cli(db)
        // the first admin's password, for `init --admin-username`
        .env(NEW_PASSWORD_ENV, PASSWORD)
        .args(args)
        .output()
        .expect("run frontdesk")
}

fn json(db: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = run(db, &all);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

fn count(v: &Value, key: &str) -> usize {
    v[key].as_array().map_or(0, Vec::len)
}

#[test]
fn an_admin_goes_from_an_empty_clinic_to_a_bookable_month_with_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clinic.sqlite3");
    json(
        &db,
        &[
            "init",
            "--name",
            "Praxis Nord",
            "--time-zone",
            "Europe/Berlin",
            "--country",
            "DE",
            "--admin-username",
            CLI_ADMIN,
        ],
    );
    let doctor = json(&db, &["doctor", "add", "Dr. Anna Weber"])["doctor"]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    for day in ["mon", "tue", "wed", "thu", "fri"] {
        let args = [
            "template",
            "add",
            "--doctor",
            &doctor,
            "--weekday",
            day,
            "--start",
            "08:00",
            "--end",
            "12:00",
        ];
        json(
            &db,
            &[&args[..], &["--minutes", "30", "--break", "10:00-10:30"]].concat(),
        );
    }
    let clash = run(
        &db,
        &[
            "template",
            "add",
            "--doctor",
            &doctor,
            "--weekday",
            "mon",
            "--start",
            "11:00",
            "--end",
            "13:00",
        ],
    );
    assert_eq!(
        clash.status.code(),
        Some(2),
        "an overlapping template is bad input"
    );
    assert!(
        String::from_utf8_lossy(&clash.stderr).contains("overlaps"),
        "and says why"
    );
    json(
        &db,
        &[
            "timeoff",
            "add",
            "--from",
            "2031-03-10",
            "--note",
            "clinic holiday",
        ],
    );
    json(
        &db,
        &[
            "timeoff",
            "add",
            "--doctor",
            &doctor,
            "--from",
            "2031-03-12",
            "--hours",
            "08:00-10:00",
        ],
    );
    let month = [
        "slots",
        "generate",
        "--from",
        "2031-03-01",
        "--to",
        "2031-03-31",
    ];
    let preview = json(&db, &[&month[..], &["--dry-run"]].concat());
    // 21 weekdays x 7 slots, minus the holiday (7) and the half day (4)
    assert_eq!(
        count(&preview, "created"),
        136,
        "the preview counts the month's slots"
    );
    let token = preview["preview_token"].as_str().expect("a preview token");
    assert_eq!(
        count(
            &json(&db, &[&month[..], &["--preview-token", token]].concat()),
            "created"
        ),
        136,
        "generation creates what the preview announced"
    );
    let stale = run(&db, &[&month[..], &["--preview-token", token]].concat());
    assert_eq!(
        stale.status.code(),
        Some(1),
        "the same preview token again is refused as a conflict: the month it previewed is generated now ({})",
        String::from_utf8_lossy(&stale.stderr)
    );
    let again = json(&db, &month);
    assert_eq!(
        (count(&again, "created"), again["unchanged"].as_u64()),
        (0, Some(136)),
        "running it again changes nothing"
    );

    let patient = json(
        &db,
        &[
            "patient",
            "add",
            "--name",
            "Maria García",
            "--phone",
            "0151 2345 6789",
        ],
    )["patient"]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let day = json(&db, &["slot", "list", "--day", "2031-03-03", "--free"]);
    let first = day["slots"][0]["slot"]["id"].as_i64().unwrap().to_string();
    let book = [
        "book",
        "--slot",
        &first,
        "--patient",
        &patient,
        "--every-weeks",
        "1",
        "--count",
        "4",
    ];
    let refused = run(&db, &book);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "all or nothing fails on the holiday: {stderr}"
    );
    assert!(
        stderr.contains("2031-03-10 08:00"),
        "and names the date: {stderr}"
    );
    let series = json(&db, &[&book[..], &["--partial"]].concat());
    assert_eq!(
        (count(&series, "booked"), count(&series, "skipped")),
        (3, 1),
        "three Mondays booked, the holiday skipped: {series}"
    );

    json(
        &db,
        &[
            "waitlist",
            "add",
            "--patient",
            &patient,
            "--doctor",
            &doctor,
            "--hours",
            "08:00-09:00",
        ],
    );
    assert_eq!(
        count(&json(&db, &["waitlist", "list"]), "entries"),
        1,
        "the patient waits"
    );
    let overbooked = json(
        &db,
        &[
            "overbook",
            "--slot",
            &first,
            "--patient",
            &patient,
            "--reason",
            "acute pain",
        ],
    );
    assert_eq!(
        overbooked["appointment"]["overbooked"],
        Value::Bool(true),
        "flagged: {overbooked}"
    );
    let check = run(&db, &["check"]);
    assert!(
        check.status.success(),
        "the database check passes: {}",
        String::from_utf8_lossy(&check.stdout)
    );
}
