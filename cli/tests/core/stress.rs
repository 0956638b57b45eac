//! `frontdesk stress`, short: many OS processes × threads booking, rescheduling,
//! cancelling, confirming and asking for passcodes on a dozen slots and a few
//! phones; afterwards the tool's own verdict, and a second opinion written here
//! from the raw journal and the raw tables.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use frontdesk::{Frontdesk, OpenOptions};
use serde_json::Value;

use crate::fixture;

/// Runs `frontdesk --json stress …` with `--journal`; the report and the journal.
pub fn stress(db: &Path, extra: &[&str]) -> (Value, Vec<Value>) {
    let journal = db.with_extension("journal");
    let out = Command::new(fixture::frontdesk_bin())
        .arg("--db")
        .arg(db)
        .args(["--json", "stress", "--journal"])
        .arg(&journal)
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
    let report = serde_json::from_str(stdout.trim()).expect("one JSON report on stdout");
    let lines = std::fs::read_to_string(&journal)
        .expect("the journal was written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per journal line"))
        .collect();
    (report, lines)
}

fn count(report: &Value, op: &str, column: usize) -> u64 {
    report["by_op"][op][column].as_u64().unwrap_or(0)
}

/// The name operation `e` acted under (as the worker makes it).
fn label(e: &Value) -> String {
    format!(
        "stress w{}.t{} #{}",
        e["worker"].as_u64().unwrap(),
        e["thread"].as_u64().unwrap(),
        e["seq"].as_u64().unwrap()
    )
}

/// A second opinion on a stress run, independent of the tool's verifier: from the
/// journal and the tables alone. Returns what is wrong, and how many operations
/// committed without a journal line (each must be the in-flight operation of a
/// thread of a killed worker).
pub fn second_opinion(db: &Path, report: &Value, journal: &[Value]) -> (Vec<String>, usize) {
    let mut wrong = Vec::new();
    // the report counts what the journal says
    let mut by_op: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    for e in journal {
        let column = match e["outcome"].as_str().unwrap() {
            "ok" => 0,
            "refused" => 1,
            _ => 2,
        };
        by_op
            .entry(e["op"].as_str().unwrap().to_string())
            .or_default()[column] += 1;
    }
    let reported: BTreeMap<String, [u64; 3]> =
        serde_json::from_value(report["by_op"].clone()).unwrap();
    if by_op != reported {
        wrong.push(format!(
            "the report counts {reported:?}, the journal {by_op:?}"
        ));
    }

    let conn = frontdesk::storage::db::open_keyed(db).unwrap();
    // (id, appointment, to_status, actor) of every history row, in commit order
    let rows: Vec<(i64, i64, String, Option<i64>, String)> = conn
        .prepare("SELECT id, appointment_id, to_status, to_slot_id, actor FROM appointment_status_history ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let overbooked: BTreeSet<i64> = conn
        .prepare("SELECT id FROM appointment WHERE overbooked = 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();

    // every history row is one journaled success with its status and version
    let by_label: HashMap<String, &Value> = journal.iter().map(|e| (label(e), e)).collect();
    let mut versions: HashMap<i64, i64> = HashMap::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut unjournaled: Vec<String> = Vec::new();
    for (id, appointment, status, _, actor) in &rows {
        let version = versions.entry(*appointment).or_default();
        *version += 1;
        *seen.entry(actor.clone()).or_default() += 1;
        match by_label.get(actor) {
            None => unjournaled.push(actor.clone()),
            Some(e) if e["outcome"] != "ok" => wrong.push(format!(
                "history row {id} was written by a refused operation: {e}"
            )),
            Some(e) => {
                if e["appointment"].as_i64() != Some(*appointment)
                    || e["status"].as_str() != Some(status)
                    || e["version"].as_i64() != Some(*version)
                {
                    wrong.push(format!(
                        "history row {id} (appointment {appointment} version {version}, {status}) does not match its journal line {e}"
                    ))
                }
            }
        }
    }
    for e in journal.iter().filter(|e| {
        e["outcome"] == "ok"
            && ["book", "reschedule", "cancel", "confirm"].contains(&e["op"].as_str().unwrap())
    }) {
        if seen.get(&label(e)).copied() != Some(1) {
            wrong.push(format!(
                "{} history rows for the reported success {e}",
                seen.get(&label(e)).copied().unwrap_or(0)
            ));
        }
    }
    // an operation nobody reported: only the next one of a killed worker's thread
    let killed: BTreeSet<u64> = report["killed_workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_u64().unwrap())
        .collect();
    let mut next: HashMap<(u64, u64), u64> = HashMap::new();
    for e in journal {
        let key = (e["worker"].as_u64().unwrap(), e["thread"].as_u64().unwrap());
        let n = next.entry(key).or_default();
        *n = (*n).max(e["seq"].as_u64().unwrap() + 1);
    }
    let unjournaled: BTreeSet<String> = unjournaled.into_iter().collect();
    let mut per_thread: HashMap<(u64, u64), usize> = HashMap::new();
    for actor in &unjournaled {
        let parsed = actor
            .strip_prefix("stress w")
            .and_then(|r| r.split_once(".t"))
            .and_then(|(w, r)| Some((w.parse::<u64>().ok()?, r.split_once(" #")?)))
            .and_then(|(w, (t, s))| Some((w, t.parse::<u64>().ok()?, s.parse::<u64>().ok()?)));
        match parsed {
            Some((w, t, s))
                if killed.contains(&w) && next.get(&(w, t)).copied().unwrap_or(0) == s =>
            {
                *per_thread.entry((w, t)).or_default() += 1;
            }
            _ => wrong.push(format!(
                "history rows by {actor}, which no journal reports and no kill explains"
            )),
        }
    }
    assert!(per_thread.values().all(|n| *n == 1));

    // replaying the rows in commit order, no slot is ever held twice
    let mut at: HashMap<i64, (i64, bool)> = HashMap::new();
    let mut holder: HashMap<i64, i64> = HashMap::new();
    for (id, appointment, status, to_slot, _) in &rows {
        let before = at.get(appointment).copied();
        let slot = to_slot.or(before.map(|b| b.0)).expect("a slot");
        if let Some((old, true)) = before {
            holder.remove(&old);
        }
        let live = status != "CANCELLED" && !overbooked.contains(appointment);
        if live {
            if let Some(other) = holder.insert(slot, *appointment) {
                wrong.push(format!(
                    "after history row {id} slot {slot} is held by {other} and {appointment}"
                ));
            }
        }
        at.insert(*appointment, (slot, live));
    }
    // …and the appointment rows are where the history left them
    for (appointment, (slot, _)) in &at {
        let (row_slot, row_version): (i64, i64) = conn
            .query_row(
                "SELECT slot_id, version FROM appointment WHERE id = ?1",
                [appointment],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        if row_slot != *slot || row_version != versions[appointment] {
            wrong.push(format!(
                "appointment {appointment} is in slot {row_slot} at version {row_version}; its history says slot {slot}, version {}",
                versions[appointment]
            ));
        }
    }
    (wrong, unjournaled.len())
}

#[test]
fn eight_processes_of_four_threads_on_a_dozen_slots_lose_nothing_and_invent_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stress.sqlite3");
    let (report, journal) = stress(
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

    // and independently of the tool's own verdict: the raw journal against the
    // raw tables (every row one reported success, no slot ever held twice)
    let (wrong, unjournaled) = second_opinion(&db, &report, &journal);
    assert!(wrong.is_empty(), "second opinion: {wrong:#?}");
    assert_eq!(
        unjournaled, 0,
        "nobody was killed, so every commit was reported"
    );
    let desk = Frontdesk::open(&db, OpenOptions::default()).unwrap();
    let check = desk.check().unwrap();
    assert!(
        check.ok,
        "check after the stress run: {:?}",
        check.items.iter().filter(|i| !i.ok).collect::<Vec<_>>()
    );
    assert!(
        desk.encryption().unwrap().encrypted,
        "all of it on an encrypted database (the default)"
    );
}

#[test]
fn the_second_opinion_catches_a_refusal_that_left_a_row_and_a_row_nobody_reported() {
    // the same run, then the database a broken implementation would have left:
    // a confirmation nobody reported, under the name of a refused operation
    // the forgery hides among the run's appointments, so the run must have
    // booked some: on a loaded machine the workers may need longer to start
    let dir = tempfile::tempdir().unwrap();
    let mut runs = ["2", "8", "30"]
        .into_iter()
        .enumerate()
        .map(|(i, seconds)| {
            let db = dir.path().join(format!("stress-{i}.sqlite3"));
            let (report, journal) = stress(
                &db,
                &["--processes", "2", "--threads", "2", "--seconds", seconds],
            );
            (db, report, journal)
        });
    let (db, report, journal) = runs
        .find(|(db, _, _)| {
            frontdesk::storage::db::open_keyed(db)
                .unwrap()
                .query_row("SELECT count(*) FROM appointment", [], |r| {
                    r.get::<_, i64>(0)
                })
                .unwrap()
                > 0
        })
        .expect("a stress run of 30 seconds booked something");
    let (wrong, _) = second_opinion(&db, &report, &journal);
    assert!(wrong.is_empty(), "{wrong:?}");
    // a refused booking, journaled as the next operation of worker 0's thread 0
    let mut journal = journal;
    let next = journal
        .iter()
        .filter(|e| e["worker"] == 0 && e["thread"] == 0)
        .map(|e| e["seq"].as_u64().unwrap() + 1)
        .max()
        .unwrap_or(0);
    let refused = serde_json::json!({
        "outcome": "refused", "op": "confirm", "code": "Conflict",
        "worker": 0, "thread": 0, "seq": next, "invoked": 1, "returned": 2,
    });
    journal.push(refused.clone());
    let mut report = report;
    let refusals = count(&report, "confirm", 1) + 1;
    let confirms = &mut report["by_op"]["confirm"];
    if confirms.is_null() {
        // a short run may not have confirmed anything
        *confirms = serde_json::json!([0, 0, 0]);
    }
    confirms[1] = refusals.into();
    let conn = frontdesk::storage::db::open_keyed(&db).unwrap();
    let live: i64 = conn
        .query_row("SELECT id FROM appointment ORDER BY id LIMIT 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    for actor in [label(&refused), "stress w99.t0 #0".to_string()] {
        conn.execute(
            "INSERT INTO appointment_status_history (appointment_id, from_status, to_status, actor, at)
             SELECT id, status, status, ?2, 0 FROM appointment WHERE id = ?1",
            rusqlite::params![live, actor],
        )
        .unwrap();
    }
    let (wrong, _) = second_opinion(&db, &report, &journal);
    assert!(
        wrong
            .iter()
            .any(|w| w.contains("written by a refused operation")),
        "{wrong:?}"
    );
    assert!(
        wrong.iter().any(|w| w.contains("no kill explains")),
        "{wrong:?}"
    );
    assert!(
        wrong.iter().any(|w| w.contains("its history says")),
        "the versions no longer add up: {wrong:?}"
    );
}

#[test]
fn the_stress_command_refuses_nonsense_settings() {
    let dir = tempfile::tempdir().unwrap();
    for args in [["--processes", "0"], ["--kills", "0"]] {
        let out = Command::new(fixture::frontdesk_bin())
            .arg("--db")
            .arg(dir.path().join("x.sqlite3"))
            .arg("stress")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?} is bad input");
    }
}
