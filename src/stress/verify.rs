//! Checking a stressed (or crashed) database against the workers' journals.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::journal::Entry;
use super::Area;
use crate::error::Result;
use crate::{Frontdesk, OpenOptions};

/// Figures of the stress area before the run (it is fresh, so all zero unless a
/// later version reuses areas).
pub(crate) struct Baseline {
    appointments: i64,
}

impl Baseline {
    pub(crate) fn take(db: &Path, area: &Area) -> Result<Baseline> {
        let desk = Frontdesk::open(db, OpenOptions::default())?;
        let appointments = desk.read(|c| {
            Ok(c.query_row(
                &format!(
                    "SELECT count(*) FROM appointment WHERE slot_id IN ({})",
                    ids(&area.slots)
                ),
                [],
                |r| r.get(0),
            )?)
        })?;
        Ok(Baseline { appointments })
    }
}

fn ids(v: &[i64]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// `frontdesk check` on a freshly opened database, as violations.
fn check(desk: &Frontdesk) -> Result<Vec<String>> {
    let report = desk.check()?;
    Ok(report
        .items
        .into_iter()
        .filter(|i| !i.ok)
        .map(|i| format!("check failed: {}: {}", i.name, i.detail))
        .collect())
}

/// Every success in `journal` is in the database (see the module docs of `stress`).
fn successes_present(conn: &Connection, journal: &[Entry]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut nth = conn.prepare(
        "SELECT to_status, to_slot_id FROM appointment_status_history WHERE appointment_id = ?1 ORDER BY id LIMIT 1 OFFSET ?2",
    )?;
    for e in journal.iter().filter(|e| e.ok()) {
        let (Some(id), Some(version), Some(status)) = (e.appointment, e.version, &e.status) else {
            continue;
        };
        // version n is the n-th history entry: booking writes the first, every
        // reschedule and status change adds one and bumps the version
        let row: Option<(String, Option<i64>)> = nth
            .query_row(params![id, version - 1], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match row {
            None => out.push(format!("{} of appointment {id} (version {version}) reported committed but missing", e.op)),
            Some((s, _)) if &s != status => {
                out.push(format!("{} of appointment {id} (version {version}) reported {status}, the database has {s}", e.op))
            }
            Some((_, slot)) if matches!(e.op.as_str(), "book" | "reschedule") && slot != e.slot => out.push(format!(
                "{} of appointment {id} (version {version}) reported slot {:?}, the database has {slot:?}",
                e.op, e.slot
            )),
            Some(_) => {}
        }
    }
    Ok(out)
}

/// After a kill: reopen, check, and find every success the killed worker reported.
pub(crate) fn after_kill(db: &Path, journal: &[Entry]) -> Result<Vec<String>> {
    let desk = Frontdesk::open(db, OpenOptions::default())?;
    let mut out = check(&desk)?;
    out.extend(desk.read(|c| successes_present(c, journal))?);
    Ok(out)
}

/// At the end: check, every success present, and the totals balance (within
/// `slack` operations committed by killed workers but never reported).
/// Also returns how many committed operations no journal reported (killed between
/// commit and print).
pub(crate) fn final_state(
    db: &Path,
    area: &Area,
    base: &Baseline,
    journal: &[Entry],
    slack: u64,
) -> Result<(Vec<String>, i64)> {
    let desk = Frontdesk::open(db, OpenOptions::default())?;
    let mut out = check(&desk)?;
    out.extend(desk.read(|c| successes_present(c, journal))?);
    let ok = |op: &str| journal.iter().filter(|e| e.ok() && e.op == op).count() as i64;
    let books = ok("book");
    let changes = books + ok("reschedule") + ok("cancel") + ok("confirm");
    let slack = slack as i64;
    let area_appointments = format!(
        "SELECT id FROM appointment WHERE slot_id IN ({})",
        ids(&area.slots)
    );
    let (appointments, versions, history, audits): (i64, i64, i64, i64) = desk.read(|c| {
        let one = |sql: String| -> rusqlite::Result<i64> { c.query_row(&sql, [], |r| r.get(0)) };
        Ok((
            one(format!("SELECT count(*) FROM appointment WHERE id IN ({area_appointments})"))? - base.appointments,
            one(format!("SELECT coalesce(sum(version), 0) FROM appointment WHERE id IN ({area_appointments})"))?,
            one(format!("SELECT count(*) FROM appointment_status_history WHERE appointment_id IN ({area_appointments})"))?,
            one(format!(
                "SELECT count(*) FROM audit_event WHERE entity = 'appointment' AND entity_id IN ({area_appointments})
                   AND action IN ('appointment.book', 'appointment.reschedule', 'appointment.status')"
            ))?,
        ))
    })?;
    if !(books..=books + slack).contains(&appointments) {
        out.push(format!("{appointments} appointments in the area but {books} bookings reported (allowed surplus {slack})"));
    }
    if !(changes..=changes + slack).contains(&versions) {
        out.push(format!("appointment versions add up to {versions} but {changes} changes were reported (allowed surplus {slack})"));
    }
    if history != versions {
        out.push(format!("{history} history entries for {versions} versions"));
    }
    if audits != versions {
        out.push(format!(
            "{audits} audit rows for {versions} appointment changes"
        ));
    }
    out.extend(desk.read(|c| passcodes_balance(c, area, journal, slack))?);
    Ok((out, versions - changes))
}

/// Passcodes: every reported request is logged and queued (and nothing more than
/// the killed workers' slack), every reported verification marked the phone.
fn passcodes_balance(
    c: &Connection,
    area: &Area,
    journal: &[Entry],
    slack: i64,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let phones = area
        .phones
        .iter()
        .map(|p| format!("'{}'", p.replace('\'', "")))
        .collect::<Vec<_>>()
        .join(",");
    let requests = journal
        .iter()
        .filter(|e| e.ok() && e.op == "otp.request")
        .count() as i64;
    for (what, table) in [
        ("logged requests", "otp_request"),
        ("queued messages", "outbox"),
    ] {
        let n: i64 = c.query_row(
            &format!("SELECT count(*) FROM {table} WHERE phone IN ({phones})"),
            [],
            |r| r.get(0),
        )?;
        if !(requests..=requests + slack).contains(&n) {
            out.push(format!(
                "{n} {what} for {requests} reported passcode requests (allowed surplus {slack})"
            ));
        }
    }
    let live: i64 = c.query_row(
        &format!("SELECT count(*) FROM (SELECT phone FROM otp_code WHERE phone IN ({phones}) GROUP BY phone HAVING count(*) > 1)"),
        [],
        |r| r.get(0),
    )?;
    if live > 0 {
        out.push(format!("{live} phones with more than one live passcode"));
    }
    for e in journal.iter().filter(|e| e.ok() && e.op == "otp.verify") {
        let phone = e.phone.as_deref().unwrap_or_default();
        let unverified: i64 = c.query_row(
            "SELECT count(*) FROM patient WHERE phone = ?1 AND phone_verified_at IS NULL",
            [phone],
            |r| r.get(0),
        )?;
        if unverified > 0 {
            out.push(format!("a verification of {phone} was reported but {unverified} patients with it are unverified"));
        }
    }
    Ok(out)
}
