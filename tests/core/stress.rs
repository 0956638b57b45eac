//! `frontdesk stress`, short: many OS processes × threads booking, rescheduling,
//! cancelling, confirming and asking for passcodes on a dozen slots and a few
//! phones; afterwards the database passes `check` and the workers' journals
//! balance against it.

use std::process::Command;

use frontdesk::{Frontdesk, OpenOptions};
use serde_json::Value;

use crate::fixture;

fn stress(db: &std::path::Path, extra: &[&str]) -> Value {
    let out = Command::new(fixture::frontdesk_bin())
        .arg("--db")
        .arg(db)
        .args(["--json", "stress"])
        .args(extra)
        .output()
        .expect("run frontdesk stress");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stress should find no violation; exit {:?}\nstdout: {stdout}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("one JSON report on stdout")
}

fn count(report: &Value, op: &str, column: usize) -> u64 {
    report["by_op"][op][column].as_u64().unwrap_or(0)
}

#[test]
fn eight_processes_of_four_threads_on_a_dozen_slots_lose_nothing_and_invent_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stress.sqlite3");
    let report = stress(
        &db,
        &["--processes", "8", "--threads", "4", "--seconds", "3"],
    );

    assert_eq!(
        report["violations"],
        serde_json::json!([]),
        "no violation expected: {report}"
    );
    assert_eq!(
        report["errors"], 0,
        "no Busy or internal error may reach a desk: {report}"
    );
    assert_eq!(report["kills"], 0);
    assert_eq!(
        report["unreported_commits"], 0,
        "without kills every commit is reported: {report}"
    );
    for op in ["book", "reschedule", "cancel", "confirm"] {
        assert!(
            count(&report, op, 0) > 0,
            "some {op} should succeed: {report}"
        );
        assert!(
            count(&report, op, 1) > 0,
            "some {op} should be refused by a racing desk: {report}"
        );
    }
    assert!(
        count(&report, "otp.request", 0) > 0,
        "some passcode requests should succeed: {report}"
    );
    assert!(
        count(&report, "otp.request", 1) > 0,
        "the rate limit should refuse most requests: {report}"
    );

    // and independently of the tool's own verdict
    let desk = Frontdesk::open(&db, OpenOptions::default()).unwrap();
    let check = desk.check().unwrap();
    assert!(
        check.ok,
        "check after the stress run: {:?}",
        check.items.iter().filter(|i| !i.ok).collect::<Vec<_>>()
    );
    let live_twice: i64 = desk
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM (SELECT slot_id FROM appointment WHERE status <> 'CANCELLED' AND overbooked = 0
                 GROUP BY slot_id HAVING count(*) > 1)",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(live_twice, 0, "no slot may hold two live appointments");
}

#[test]
fn the_stress_command_refuses_nonsense_settings() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(fixture::frontdesk_bin())
        .arg("--db")
        .arg(dir.path().join("x.sqlite3"))
        .args(["stress", "--processes", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "zero processes is bad input");
}
