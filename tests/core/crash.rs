//! Crash injection: desk processes killed with SIGKILL at random moments in the
//! middle of writes. After every kill the database is reopened and must pass
//! `check` (integrity, foreign keys, invariants, audit chain), and every
//! operation the killed process reported as committed must be there. Restores
//! tried meanwhile must be refused while the other workers have the file open.

use std::process::Command;

use frontdesk::{Frontdesk, OpenOptions};
use serde_json::Value;

use crate::fixture;

#[test]
fn killing_writers_mid_transaction_again_and_again_loses_no_reported_change() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.sqlite3");
    let out = Command::new(fixture::frontdesk_bin())
        .arg("--db")
        .arg(&db)
        .args([
            "--json",
            "stress",
            "--processes",
            "4",
            "--threads",
            "2",
            "--seconds",
            "8",
            "--kill-every-ms",
            "80",
        ])
        .output()
        .expect("run frontdesk stress with kills");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "no violation expected after kills; exit {:?}\nstdout: {stdout}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON report");
    let kills = report["kills"].as_u64().unwrap();
    assert!(
        report["kills_holding_lock"].as_u64().unwrap() > 0,
        "some kills should land inside a transaction: {report}"
    );
    assert!(
        kills >= 10,
        "at least 10 kills expected in 8 s at one per ~80 ms plus a full check each (about 40 on an idle machine, fewer under load), got {kills}"
    );
    assert_eq!(
        report["checks"].as_u64().unwrap(),
        kills + 1,
        "a full check after every kill and at the end"
    );
    assert_eq!(
        report["restores_tried"].as_u64().unwrap(),
        kills / 3,
        "every third kill also tries a restore while the other workers run; a restore that went through would be a violation"
    );
    assert_eq!(report["violations"], serde_json::json!([]));
    assert!(
        report["succeeded"].as_u64().unwrap() > 100,
        "the workers should get work done between kills: {report}"
    );
    let unreported = report["unreported_commits"].as_i64().unwrap();
    assert!(
        (0..=(kills as i64) * 2).contains(&unreported),
        "at most one unreported commit per killed thread, got {unreported} for {kills} kills"
    );

    let desk = Frontdesk::open(&db, OpenOptions::default()).unwrap();
    assert!(
        desk.check().unwrap().ok,
        "the database passes check after the last kill"
    );
}
