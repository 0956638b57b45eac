//! Seeding a test clinic through the `frontdesk` command line (the same core the app
//! uses), so a screen test starts from exactly the records it needs.

use std::path::PathBuf;
use std::process::Command;

use frontdesk_e2e::Clinic;
use serde_json::Value;

/// The first admin every seeded clinic has.
pub const ADMIN: (&str, &str) = ("admin", "quiet harbor lantern 7");

/// The `frontdesk` CLI built next to the app binary.
fn cli() -> PathBuf {
    frontdesk_e2e::app_binary().with_file_name("frontdesk")
}

/// Runs `frontdesk --db <clinic> --json <args>` signed in as [`ADMIN`] (`init`
/// makes that account, with its password as the new one) and returns its JSON
/// answer.
pub fn run(clinic: &Clinic, args: &[&str]) -> Value {
    run_on(clinic.db_path(), args)
}

/// [`run`] on the database file `db` (e.g. a copy of a backup).
pub fn run_on(db: &std::path::Path, args: &[&str]) -> Value {
    let out = Command::new(cli())
        .arg("--db")
        .arg(db)
        .arg("--json")
        .args(args)
        .env("FRONTDESK_USER", ADMIN.0)
        .env("FRONTDESK_PASSWORD", ADMIN.1)
        .env("FRONTDESK_NEW_PASSWORD", ADMIN.1)
        // the clinic's test PC's senders file, beside its database (Clinic::senders_file)
        .env(
            "FRONTDESK_SENDERS_FILE",
            db.with_file_name("senders").join("senders.toml"),
        )
        .output()
        .expect("the frontdesk CLI runs (cargo build --workspace builds it)");
    assert!(
        out.status.success(),
        "frontdesk {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

/// A clinic in UTC with its admin and one doctor; returns the doctor's id.
pub fn clinic_with_doctor(clinic: &Clinic) -> i64 {
    run(
        clinic,
        &[
            "init",
            "--name",
            "Test Clinic",
            "--time-zone",
            "UTC",
            "--country",
            "DE",
            "--admin-username",
            ADMIN.0,
        ],
    );
    run(
        clinic,
        &[
            "doctor",
            "add",
            "Dr. Test",
            "--specialty",
            "General practice",
        ],
    )["doctor"]["id"]
        .as_i64()
        .unwrap()
}

/// Adds a patient; returns the id.
pub fn patient(clinic: &Clinic, name: &str, phone: &str) -> i64 {
    run(
        clinic,
        &["patient", "add", "--name", name, "--phone", phone],
    )["patient"]["id"]
        .as_i64()
        .unwrap()
}

/// Adds a 30-minute slot tomorrow (UTC) at `hh_mm`; returns the slot id.
pub fn slot_tomorrow(clinic: &Clinic, doctor: i64, hh_mm: &str) -> i64 {
    let start = format!("{} {hh_mm}", tomorrow());
    run(
        clinic,
        &[
            "slot",
            "add",
            "--doctor",
            &doctor.to_string(),
            "--start",
            &start,
            "--minutes",
            "30",
        ],
    )["slot"]["id"]
        .as_i64()
        .unwrap()
}

/// Books `slot` for `patient`; returns (appointment id, version).
pub fn book(clinic: &Clinic, slot: i64, patient: i64) -> (i64, i64) {
    let a = &run(
        clinic,
        &[
            "book",
            "--slot",
            &slot.to_string(),
            "--patient",
            &patient.to_string(),
            "--reason",
            "Checkup",
        ],
    )["appointment"];
    (a["id"].as_i64().unwrap(), a["version"].as_i64().unwrap())
}

/// Tomorrow's date in UTC, `YYYY-MM-DD`.
pub fn tomorrow() -> String {
    in_days(1)
}

/// The date `n` days from today in UTC, `YYYY-MM-DD`.
pub fn in_days(n: i64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + n * 86_400;
    civil(secs.div_euclid(86_400))
}

/// Days since 1970-01-01 as `YYYY-MM-DD` (Howard Hinnant's civil_from_days).
fn civil(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// ISO weekday (1 = Monday) of tomorrow, UTC.
pub fn tomorrow_weekday() -> i64 {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        / 86_400
        + 1;
    // 1970-01-01 was a Thursday (4)
    (days + 3).rem_euclid(7) + 1
}
