//! Crash injection: desk processes killed with SIGKILL at random moments in the
//! middle of writes. After every kill the database is reopened and must pass
//! `check` (integrity, foreign keys, invariants, audit chain), and every
//! operation the killed process reported as committed must be there. Restores
//! tried meanwhile must be refused while the other workers have the file open.

use frontdesk::{Frontdesk, OpenOptions};

use crate::stress::{second_opinion, stress};

/// Kills in the run: the run lasts until this many have happened (not a time).
const KILLS: u64 = 12;
const THREADS: u64 = 2;

#[test]
fn killing_writers_mid_transaction_again_and_again_loses_no_reported_change() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.sqlite3");
    let (report, journal) = stress(
        &db,
        &[
            "--processes",
            "4",
            "--threads",
            &THREADS.to_string(),
            "--kills",
            &KILLS.to_string(),
            "--kill-every-ms",
            "40",
            // not a pace to keep: a bound that only a hang reaches
            "--seconds",
            "600",
        ],
    );
    assert_eq!(report["violations"], serde_json::json!([]));
    assert_eq!(
        report["kills"].as_u64().unwrap(),
        KILLS,
        "the run goes on until {KILLS} kills: {report}"
    );
    assert_eq!(
        report["kills_holding_lock"].as_u64().unwrap(),
        KILLS / 2,
        "every other kill lands on a worker stopped while it held the write lock: {report}"
    );
    assert_eq!(
        report["killed_workers"].as_array().unwrap().len() as u64,
        KILLS,
        "{report}"
    );
    assert_eq!(
        report["checks"].as_u64().unwrap(),
        KILLS + 1,
        "a full check after every kill and at the end"
    );
    assert_eq!(
        report["restores_tried"].as_u64().unwrap(),
        KILLS / 3,
        "every third kill also tries a restore while the other workers run; a restore that went through would be a violation"
    );
    assert!(
        report["succeeded"].as_u64().unwrap() >= KILLS * 3,
        "between two kills the workers report at least three successes: {report}"
    );

    // a second opinion from the raw journal and tables: every row is a reported
    // success, except at most the one operation each killed thread had in flight
    let (wrong, unjournaled) = second_opinion(&db, &report, &journal);
    assert!(wrong.is_empty(), "second opinion: {wrong:#?}");
    let unreported = report["unreported_commits"].as_u64().unwrap() as usize;
    assert!(
        unjournaled <= unreported && unreported as u64 <= KILLS * THREADS,
        "the tool found {unreported} operations committed but cut off before reporting, the second opinion \
         {unjournaled} with history rows (passcode requests have none); at most one per killed thread"
    );

    let desk = Frontdesk::open(&db, OpenOptions::default()).unwrap();
    assert!(
        desk.check().unwrap().ok,
        "the database passes check after the last kill"
    );
    assert!(
        desk.encryption().unwrap().encrypted,
        "all of it on an encrypted database (the default)"
    );
}
