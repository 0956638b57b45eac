//! Checking a stressed (or crashed) database against the workers' journals.
//!
//! Every row an operation writes carries its name ([`journal::label`]), so the
//! check is a ledger, not a balance of totals:
//! - every appointment history row and every passcode audit row of the run belongs
//!   to exactly one journaled success, with the status, slot and version it
//!   reported, made on the version it was based on; a row of a refused operation,
//!   or of an operation nobody reported, is a violation — except the one operation
//!   each killed thread had in flight (the next number after its last journal
//!   line), which may have committed without being printed;
//! - every appointment row equals its last history entry (status, slot, version =
//!   number of entries), and each entry starts where the previous one ended;
//! - replaying the history rows in commit order, no slot is ever held by two live
//!   ordinary appointments at once;
//! - each history row has exactly one audit row under the same name;
//! - per slot, the journaled bookings, cancellations and moves (with their
//!   invocation and return times, from one clock shared by all processes) are
//!   linearizable against the sequential slot book ([`crate::linearizability`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use rusqlite::Connection;

use super::journal::{parse_label, Entry};
use super::Area;
use crate::linearizability::{self, Event, SlotBook, SlotOp, SlotRet, SlotState};
use frontdesk::error::Result;
use frontdesk::{Frontdesk, OpenOptions};

/// An operation's identity: (worker, thread, number within the thread).
type Key = (u32, u32, u64);

/// Where the run's rows start (the area is fresh, but passcode and audit tables
/// are shared with whatever the database held before).
pub(crate) struct Baseline {
    audit_after: i64,
    otp_request_after: i64,
    outbox_after: i64,
}

impl Baseline {
    pub(crate) fn take(db: &Path) -> Result<Baseline> {
        Self::of(&Frontdesk::open(db, OpenOptions::default())?)
    }

    /// The baseline of an open desk.
    pub(crate) fn of(desk: &Frontdesk) -> Result<Baseline> {
        let max = |c: &Connection, table: &str| -> rusqlite::Result<i64> {
            c.query_row(
                &format!("SELECT coalesce(max(id), 0) FROM {table}"),
                [],
                |r| r.get(0),
            )
        };
        desk.read(|c| {
            Ok(Baseline {
                audit_after: max(c, "audit_event")?,
                otp_request_after: max(c, "otp_request")?,
                outbox_after: max(c, "outbox")?,
            })
        })
    }

    /// Nothing before (a database made just for a test).
    #[cfg(test)]
    pub(crate) fn empty() -> Baseline {
        Baseline {
            audit_after: 0,
            otp_request_after: 0,
            outbox_after: 0,
        }
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

/// One row of `appointment_status_history`.
#[derive(Debug, Clone)]
struct HistoryRow {
    id: i64,
    appointment: i64,
    from_status: Option<String>,
    to_status: String,
    from_slot: Option<i64>,
    to_slot: Option<i64>,
    actor: String,
}

/// One appointment of the area.
#[derive(Debug, Clone)]
struct AppointmentRow {
    id: i64,
    slot: i64,
    status: String,
    version: i64,
    overbooked: bool,
}

/// One audit row written under a stress operation's name.
#[derive(Debug, Clone)]
struct AuditRow {
    actor: String,
    action: String,
    entity_id: Option<i64>,
    /// For `otp.request`: the phone of the queued message it names.
    phone: Option<String>,
}

/// What the database holds about the area, read in one transaction.
struct Snapshot {
    appointments: Vec<AppointmentRow>,
    /// In commit order (row id).
    history: Vec<HistoryRow>,
    audits: Vec<AuditRow>,
    otp_requests: i64,
    outbox: i64,
    phones_with_two_codes: i64,
    /// Phones with a patient still unverified.
    unverified_phones: BTreeSet<String>,
}

fn snapshot(c: &Connection, area: &Area, base: &Baseline) -> rusqlite::Result<Snapshot> {
    let in_area = format!(
        "SELECT id FROM appointment WHERE slot_id IN ({})",
        ids(&area.slots)
    );
    let appointments = c
        .prepare(&format!(
            "SELECT id, slot_id, status, version, overbooked FROM appointment WHERE id IN ({in_area}) ORDER BY id"
        ))?
        .query_map([], |r| {
            Ok(AppointmentRow {
                id: r.get(0)?,
                slot: r.get(1)?,
                status: r.get(2)?,
                version: r.get(3)?,
                overbooked: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let history = c
        .prepare(&format!(
            "SELECT id, appointment_id, from_status, to_status, from_slot_id, to_slot_id, actor
               FROM appointment_status_history WHERE appointment_id IN ({in_area}) ORDER BY id"
        ))?
        .query_map([], |r| {
            Ok(HistoryRow {
                id: r.get(0)?,
                appointment: r.get(1)?,
                from_status: r.get(2)?,
                to_status: r.get(3)?,
                from_slot: r.get(4)?,
                to_slot: r.get(5)?,
                actor: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let audits = c
        .prepare(
            "SELECT a.actor, a.action, a.entity_id, o.phone FROM audit_event a
               LEFT JOIN outbox o ON a.action = 'otp.request' AND o.id = a.entity_id
              WHERE a.id > ?1 AND a.actor LIKE 'stress w%'
                AND a.action IN ('appointment.book', 'appointment.reschedule', 'appointment.status', 'otp.request', 'otp.verify')
              ORDER BY a.id",
        )?
        .query_map([base.audit_after], |r| {
            Ok(AuditRow {
                actor: r.get(0)?,
                action: r.get(1)?,
                entity_id: r.get(2)?,
                phone: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let phones = area
        .phones
        .iter()
        .map(|p| format!("'{}'", p.replace('\'', "")))
        .collect::<Vec<_>>()
        .join(",");
    let one = |sql: String, after: i64| -> rusqlite::Result<i64> {
        c.query_row(&sql, [after], |r| r.get(0))
    };
    let otp_requests = one(
        format!("SELECT count(*) FROM otp_request WHERE id > ?1 AND phone IN ({phones})"),
        base.otp_request_after,
    )?;
    let outbox = one(
        format!("SELECT count(*) FROM outbox WHERE id > ?1 AND phone IN ({phones})"),
        base.outbox_after,
    )?;
    let phones_with_two_codes = c.query_row(
        &format!("SELECT count(*) FROM (SELECT phone FROM otp_code WHERE phone IN ({phones}) GROUP BY phone HAVING count(*) > 1)"),
        [],
        |r| r.get(0),
    )?;
    let unverified_phones = c
        .prepare(&format!(
            "SELECT DISTINCT phone FROM patient WHERE phone IN ({phones}) AND phone_verified_at IS NULL"
        ))?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<BTreeSet<String>>>()?;
    Ok(Snapshot {
        appointments,
        history,
        audits,
        otp_requests,
        outbox,
        phones_with_two_codes,
        unverified_phones,
    })
}

/// Every success in `journal` (of a worker just killed, while others still run) is
/// in the database: the history row under its name has its status and slot. One
/// pass over the history (the actor column has no index).
fn successes_present(conn: &Connection, journal: &[Entry]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let wanted: HashMap<String, &Entry> = journal
        .iter()
        .filter(|e| e.ok() && e.is_appointment_op())
        .map(|e| (e.label(), e))
        .collect();
    let mut found: HashMap<String, Vec<(i64, String, Option<i64>)>> = HashMap::new();
    let mut stmt = conn.prepare(
        "SELECT appointment_id, to_status, to_slot_id, actor FROM appointment_status_history
          WHERE actor LIKE 'stress w%'",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let actor: String = r.get(3)?;
        if wanted.contains_key(&actor) {
            found
                .entry(actor)
                .or_default()
                .push((r.get(0)?, r.get(1)?, r.get(2)?));
        }
    }
    for (label, e) in &wanted {
        let what = format!("{} of appointment {:?} ({label})", e.op, e.appointment);
        match found.get(label).map(Vec::as_slice).unwrap_or(&[]) {
            [] => out.push(format!("{what} reported committed but missing")),
            [(id, status, slot)] => {
                if Some(*id) != e.appointment {
                    out.push(format!("{what}: the database has it on appointment {id}"));
                } else if Some(status) != e.status.as_ref() {
                    out.push(format!(
                        "{what} reported {:?}, the database has {status}",
                        e.status
                    ));
                } else if matches!(e.op.as_str(), "book" | "reschedule") && *slot != e.slot {
                    out.push(format!(
                        "{what} reported slot {:?}, the database has {slot:?}",
                        e.slot
                    ));
                }
            }
            more => out.push(format!("{what} left {} history rows", more.len())),
        }
    }
    Ok(out)
}

/// After a kill: reopen, check, and find every success the killed worker reported.
pub(crate) fn after_kill(db: &Path, journal: &[Entry]) -> Result<Vec<String>> {
    let desk = Frontdesk::open(db, OpenOptions::default())?;
    after_kill_on(&desk, journal)
}

/// [`after_kill`] on a desk just opened.
pub(crate) fn after_kill_on(desk: &Frontdesk, journal: &[Entry]) -> Result<Vec<String>> {
    let mut out = check(desk)?;
    out.extend(desk.read(|c| successes_present(c, journal))?);
    Ok(out)
}

/// At the end: `check`, the ledger, the replay and the linearizability of every
/// slot's history (see the module docs). `killed` are the workers killed with
/// SIGKILL. Also returns how many operations committed without being reported
/// (each the in-flight operation of a killed thread).
pub(crate) fn final_state(
    db: &Path,
    area: &Area,
    base: &Baseline,
    journal: &[Entry],
    killed: &BTreeSet<u32>,
) -> Result<(Vec<String>, i64)> {
    let desk = Frontdesk::open(db, OpenOptions::default())?;
    final_state_on(&desk, area, base, journal, killed)
}

/// [`final_state`] on a desk just opened.
pub(crate) fn final_state_on(
    desk: &Frontdesk,
    area: &Area,
    base: &Baseline,
    journal: &[Entry],
    killed: &BTreeSet<u32>,
) -> Result<(Vec<String>, i64)> {
    let mut out = check(desk)?;
    let snap = desk.read(|c| Ok(snapshot(c, area, base)?))?;
    let (found, unreported) = ledger(&snap, journal, killed);
    out.extend(found);
    Ok((out, unreported))
}

/// Which operations a journal reports, and which unreported ones are allowed.
struct Journal<'a> {
    by_key: HashMap<Key, &'a Entry>,
    /// The next operation number of each thread (its last journaled one + 1).
    next_seq: HashMap<(u32, u32), u64>,
    killed: &'a BTreeSet<u32>,
}

impl<'a> Journal<'a> {
    fn new(journal: &'a [Entry], killed: &'a BTreeSet<u32>, out: &mut Vec<String>) -> Self {
        let mut by_key = HashMap::new();
        let mut next_seq: HashMap<(u32, u32), u64> = HashMap::new();
        for e in journal {
            if by_key.insert(e.key(), e).is_some() {
                out.push(format!("the journal reports {} twice", e.label()));
            }
            let next = next_seq.entry((e.worker, e.thread)).or_default();
            *next = (*next).max(e.seq + 1);
        }
        Journal {
            by_key,
            next_seq,
            killed,
        }
    }

    /// Whether `key`, not in the journal, is the operation its killed thread had
    /// in flight.
    fn in_flight_when_killed(&self, key: Key) -> bool {
        let (worker, thread, seq) = key;
        self.killed.contains(&worker)
            && self.next_seq.get(&(worker, thread)).copied().unwrap_or(0) == seq
    }
}

/// The ledger over a snapshot (see the module docs): violations, and how many
/// operations committed unreported.
fn ledger(snap: &Snapshot, journal: &[Entry], killed: &BTreeSet<u32>) -> (Vec<String>, i64) {
    let mut out = Vec::new();
    let known = Journal::new(journal, killed, &mut out);
    let mut unreported: BTreeSet<Key> = BTreeSet::new();
    // which operation wrote a row: its journal entry, or an allowed in-flight one
    let mut owner = |actor: &str, what: &str, out: &mut Vec<String>| -> Option<Option<&Entry>> {
        let Some(key) = parse_label(actor) else {
            out.push(format!(
                "{what} was written by {actor:?}, not by an operation of this run"
            ));
            return None;
        };
        match known.by_key.get(&key) {
            Some(e) => Some(Some(*e)),
            None if known.in_flight_when_killed(key) => {
                unreported.insert(key);
                Some(None)
            }
            None => {
                let why = if known.killed.contains(&key.0) {
                    "not the operation its killed thread had in flight"
                } else {
                    "and its worker was not killed"
                };
                out.push(format!(
                    "{what} was written by {actor}, which no journal reports ({why})"
                ));
                None
            }
        }
    };

    // 1. every history row belongs to one reported success (or an in-flight one)
    let mut rows_of: BTreeMap<i64, Vec<&HistoryRow>> = BTreeMap::new();
    for h in &snap.history {
        rows_of.entry(h.appointment).or_default().push(h);
    }
    let mut claimed: HashMap<Key, usize> = HashMap::new();
    let mut history_by_name: HashMap<(String, i64), usize> = HashMap::new();
    for (&appointment, rows) in &rows_of {
        for (i, h) in rows.iter().enumerate() {
            let version = i as i64 + 1;
            *history_by_name
                .entry((h.actor.clone(), appointment))
                .or_default() += 1;
            let what = format!(
                "history row {} (appointment {appointment} version {version})",
                h.id
            );
            let Some(Some(e)) = owner(&h.actor, &what, &mut out) else {
                continue;
            };
            if !e.ok() || !e.is_appointment_op() {
                out.push(format!(
                    "a {} {} ({}, code {:?}) left {what}",
                    e.outcome,
                    e.op,
                    e.label(),
                    e.code
                ));
                continue;
            }
            *claimed.entry(e.key()).or_default() += 1;
            out.extend(entry_matches_row(e, h, version, &what));
        }
    }
    for e in journal.iter().filter(|e| e.ok() && e.is_appointment_op()) {
        match claimed.get(&e.key()).copied().unwrap_or(0) {
            1 => {}
            0 => out.push(format!(
                "{} of appointment {:?} (version {:?}, {}) reported committed but missing",
                e.op,
                e.appointment,
                e.version,
                e.label()
            )),
            n => out.push(format!(
                "{} of appointment {:?} ({}) left {n} history rows",
                e.op,
                e.appointment,
                e.label()
            )),
        }
    }

    // 2. each appointment row is its last history entry; entries chain
    for a in &snap.appointments {
        let rows = rows_of.get(&a.id).map(Vec::as_slice).unwrap_or(&[]);
        out.extend(row_is_its_history(a, rows));
    }

    // 3. replay in commit order: never two live ordinary appointments in one slot
    out.extend(replay(snap));

    // 4. one audit row per history row, under the same name
    let mut audit_by_name: HashMap<(String, i64), usize> = HashMap::new();
    for a in snap
        .audits
        .iter()
        .filter(|a| a.action.starts_with("appointment."))
    {
        *audit_by_name
            .entry((a.actor.clone(), a.entity_id.unwrap_or(0)))
            .or_default() += 1;
    }
    let names: BTreeSet<&(String, i64)> =
        history_by_name.keys().chain(audit_by_name.keys()).collect();
    for name in names {
        let (h, a) = (
            history_by_name.get(name).copied().unwrap_or(0),
            audit_by_name.get(name).copied().unwrap_or(0),
        );
        if h != a {
            out.push(format!(
                "{a} audit rows for {h} history rows of appointment {} by {}",
                name.1, name.0
            ));
        }
    }

    // 5. passcodes: each request and verification audit row is one reported success
    let mut passcode_claims: HashMap<Key, usize> = HashMap::new();
    let mut requests_committed = 0i64;
    for a in snap.audits.iter().filter(|a| a.action.starts_with("otp.")) {
        let op = a.action.as_str();
        if op == "otp.request" {
            requests_committed += 1;
        }
        let what = format!("an {op} audit row");
        let Some(found) = owner(&a.actor, &what, &mut out) else {
            continue;
        };
        let Some(e) = found else { continue };
        if !e.ok() || e.op != op {
            out.push(format!(
                "a {} {} ({}, code {:?}) left {what}",
                e.outcome,
                e.op,
                e.label(),
                e.code
            ));
            continue;
        }
        if op == "otp.request" && a.phone != e.phone {
            out.push(format!(
                "{} reported a passcode for {:?}, its message went to {:?}",
                e.label(),
                e.phone,
                a.phone
            ));
        }
        *passcode_claims.entry(e.key()).or_default() += 1;
    }
    for e in journal.iter().filter(|e| e.ok() && !e.is_appointment_op()) {
        let n = passcode_claims.get(&e.key()).copied().unwrap_or(0);
        if n != 1 {
            out.push(format!(
                "{} ({}) reported done, {n} audit rows record it",
                e.op,
                e.label()
            ));
        }
        if e.op == "otp.verify" {
            if let Some(phone) = e
                .phone
                .as_ref()
                .filter(|p| snap.unverified_phones.contains(*p))
            {
                out.push(format!(
                    "a verification of {phone} was reported but a patient with it is unverified"
                ));
            }
        }
    }
    for (what, n) in [
        ("logged requests", snap.otp_requests),
        ("queued messages", snap.outbox),
    ] {
        if n != requests_committed {
            out.push(format!(
                "{n} {what} for {requests_committed} committed passcode requests"
            ));
        }
    }
    if snap.phones_with_two_codes > 0 {
        out.push(format!(
            "{} phones with more than one live passcode",
            snap.phones_with_two_codes
        ));
    }

    // 6. every slot's history is linearizable
    out.extend(linearizable(snap, journal, &unreported));
    (out, unreported.len() as i64)
}

/// A journaled success against the history row under its name.
fn entry_matches_row(e: &Entry, h: &HistoryRow, version: i64, what: &str) -> Vec<String> {
    let mut out = Vec::new();
    let said = format!("{} ({})", e.op, e.label());
    if e.appointment != Some(h.appointment) {
        out.push(format!(
            "{said} reported appointment {:?}, wrote {what}",
            e.appointment
        ));
        return out;
    }
    if e.version != Some(version) {
        out.push(format!(
            "{said} reported version {:?}, wrote {what}",
            e.version
        ));
    }
    if e.status.as_deref() != Some(h.to_status.as_str()) {
        out.push(format!(
            "{said} reported {:?}, the database has {} in {what}",
            e.status, h.to_status
        ));
    }
    let kind_fits = match e.op.as_str() {
        "book" => h.from_status.is_none() && version == 1,
        "reschedule" => h.from_slot.is_some() && h.to_slot.is_some(),
        "cancel" => h.to_status == "CANCELLED" && h.to_slot.is_none(),
        "confirm" => h.to_status == "CONFIRMED" && h.to_slot.is_none(),
        _ => false,
    };
    if !kind_fits {
        out.push(format!("{said} wrote {what}, which is not a {}", e.op));
    }
    if matches!(e.op.as_str(), "book" | "reschedule") && h.to_slot != e.slot {
        out.push(format!(
            "{said} reported slot {:?}, the database has {:?} in {what}",
            e.slot, h.to_slot
        ));
    }
    if e.op != "book" && e.based_on != Some(version - 1) {
        out.push(format!(
            "{said} was made on version {:?} but wrote {what}: a change on a stale version was accepted",
            e.based_on
        ));
    }
    if e.op == "reschedule" && e.from_slot.is_some() && h.from_slot != e.from_slot {
        out.push(format!(
            "{said} moved the appointment from slot {:?} as seen, the database says from {:?} in {what}",
            e.from_slot, h.from_slot
        ));
    }
    out
}

/// The appointment row against its history entries (in order).
fn row_is_its_history(a: &AppointmentRow, rows: &[&HistoryRow]) -> Vec<String> {
    let mut out = Vec::new();
    let Some(last) = rows.last() else {
        out.push(format!("appointment {} has no history", a.id));
        return out;
    };
    let mut status: Option<&str> = None;
    let mut slot: Option<i64> = None;
    for h in rows {
        if h.from_status.as_deref() != status {
            out.push(format!(
                "history row {} of appointment {} starts from {:?}, the entry before ended at {status:?}",
                h.id, a.id, h.from_status
            ));
        }
        if h.from_slot.is_some() && h.from_slot != slot {
            out.push(format!(
                "history row {} of appointment {} moves it from slot {:?}, it was in {slot:?}",
                h.id, a.id, h.from_slot
            ));
        }
        status = Some(h.to_status.as_str());
        slot = h.to_slot.or(slot);
    }
    if a.status != last.to_status {
        out.push(format!(
            "appointment {} is {} but its last history entry says {}",
            a.id, a.status, last.to_status
        ));
    }
    if Some(a.slot) != slot {
        out.push(format!(
            "appointment {} is in slot {} but its history puts it in {slot:?}",
            a.id, a.slot
        ));
    }
    if a.version != rows.len() as i64 {
        out.push(format!(
            "appointment {} has version {} and {} history entries",
            a.id,
            a.version,
            rows.len()
        ));
    }
    out
}

/// Replays every history row in commit order: no slot ever has two live ordinary
/// appointments.
fn replay(snap: &Snapshot) -> Vec<String> {
    let overbooked: BTreeSet<i64> = snap
        .appointments
        .iter()
        .filter(|a| a.overbooked)
        .map(|a| a.id)
        .collect();
    let mut out = Vec::new();
    let mut at: HashMap<i64, (i64, bool)> = HashMap::new(); // appointment -> (slot, live)
    let mut holder: HashMap<i64, i64> = HashMap::new(); // slot -> appointment
    for h in &snap.history {
        let before = at.get(&h.appointment).copied();
        let Some(slot) = h.to_slot.or(before.map(|b| b.0)) else {
            out.push(format!(
                "history row {} names no slot for appointment {}",
                h.id, h.appointment
            ));
            continue;
        };
        let live = h.to_status != "CANCELLED" && !overbooked.contains(&h.appointment);
        if let Some((old, true)) = before {
            if holder.get(&old) == Some(&h.appointment) {
                holder.remove(&old);
            }
        }
        if live {
            if let Some(other) = holder.get(&slot).filter(|o| **o != h.appointment) {
                out.push(format!(
                    "slot {slot} was held by appointments {other} and {} at once (history row {})",
                    h.appointment, h.id
                ));
            }
            holder.insert(slot, h.appointment);
        }
        at.insert(h.appointment, (slot, live));
    }
    out
}

/// Builds each slot's history from the journal (and the in-flight operations that
/// committed, as never returning) and checks it against the slot book.
fn linearizable(snap: &Snapshot, journal: &[Entry], unreported: &BTreeSet<Key>) -> Vec<String> {
    type Ev = Event<SlotOp, SlotRet>;
    let mut per_slot: BTreeMap<i64, Vec<Ev>> = BTreeMap::new();
    let mut add = |slot: Option<i64>, e: &Entry, invoked: u64, returned: u64, op, ret| {
        if let Some(slot) = slot {
            per_slot.entry(slot).or_default().push(Event {
                thread: e.thread as usize,
                invoked,
                returned,
                op,
                ret,
            });
        }
    };
    for e in journal.iter().filter(|e| e.returned > e.invoked) {
        let id = e.appointment.unwrap_or(0);
        let (t0, t1) = (e.invoked, e.returned);
        match (e.op.as_str(), e.ok(), e.code.as_deref()) {
            ("book", true, _) => add(e.slot, e, t0, t1, SlotOp::Book, SlotRet::Booked(id)),
            ("book", false, Some("SlotTaken")) => {
                add(e.slot, e, t0, t1, SlotOp::Book, SlotRet::Taken)
            }
            ("reschedule", true, _) => {
                add(e.from_slot, e, t0, t1, SlotOp::MoveOut(id), SlotRet::Moved);
                add(e.slot, e, t0, t1, SlotOp::MoveIn(id), SlotRet::Moved);
            }
            ("reschedule", false, Some("SlotTaken")) => {
                add(e.slot, e, t0, t1, SlotOp::MoveIn(id), SlotRet::Taken)
            }
            ("cancel", true, _) => add(e.slot, e, t0, t1, SlotOp::Cancel(id), SlotRet::Cancelled),
            // confirmations leave the slot's holder as it was; refusals on a stale
            // version say nothing about the slot
            _ => {}
        }
    }
    // an in-flight operation that committed: invoked at the latest when its
    // thread's previous operation returned, never returned
    if !unreported.is_empty() {
        let returned_at: HashMap<Key, u64> =
            journal.iter().map(|e| (e.key(), e.returned)).collect();
        let mut slot_of: HashMap<i64, i64> = HashMap::new();
        for h in &snap.history {
            let before = slot_of.get(&h.appointment).copied();
            let slot = h.to_slot.or(before);
            if let Some(key) = parse_label(&h.actor).filter(|k| unreported.contains(k)) {
                let since = key
                    .2
                    .checked_sub(1)
                    .and_then(|s| returned_at.get(&(key.0, key.1, s)).copied())
                    .unwrap_or(0);
                let pending = Entry {
                    thread: key.1,
                    ..Entry::failed("in flight", &frontdesk::Error::Busy)
                };
                let id = h.appointment;
                match (h.from_status.is_none(), h.from_slot, h.to_status.as_str()) {
                    (true, _, _) => add(
                        slot,
                        &pending,
                        since,
                        u64::MAX,
                        SlotOp::Book,
                        SlotRet::Booked(id),
                    ),
                    (false, Some(from), _) => {
                        add(
                            Some(from),
                            &pending,
                            since,
                            u64::MAX,
                            SlotOp::MoveOut(id),
                            SlotRet::Moved,
                        );
                        add(
                            slot,
                            &pending,
                            since,
                            u64::MAX,
                            SlotOp::MoveIn(id),
                            SlotRet::Moved,
                        );
                    }
                    (false, None, "CANCELLED") => add(
                        slot,
                        &pending,
                        since,
                        u64::MAX,
                        SlotOp::Cancel(id),
                        SlotRet::Cancelled,
                    ),
                    _ => {}
                }
            }
            if let Some(s) = slot {
                slot_of.insert(h.appointment, s);
            }
        }
    }
    let mut out = Vec::new();
    for (slot, events) in per_slot {
        if let Err(e) = linearizability::check(&SlotBook, SlotState::default(), &events) {
            out.push(format!(
                "slot {slot}: its {} bookings, cancellations and moves are not linearizable (a valid order covers only {} of them)",
                events.len(),
                e.longest_prefix.len()
            ));
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    //! The verifier must fail on broken implementations: each test below builds
    //! the database a broken implementation would leave (or the journal it would
    //! print) and requires the matching violation.

    use super::*;
    use crate::stress::journal::{self, Entry};
    use frontdesk::{Actor, AppointmentStatus, BookRequest, Error};

    pub(crate) struct Rig {
        pub(crate) _dir: crate::bench::TempDir,
        pub(crate) db: std::path::PathBuf,
        pub(crate) desk: Frontdesk,
        pub(crate) area: Area,
    }

    pub(crate) fn rig(slots: usize, patients: usize) -> Rig {
        let dir = crate::bench::temp_dir("stress-verify").unwrap();
        let db = dir.path.join("verify.sqlite3");
        let senders = frontdesk::senders::recording::write(&dir.path).unwrap();
        let desk = Frontdesk::open(
            &db,
            OpenOptions {
                senders_file: Some(senders),
                ..OpenOptions::default()
            },
        )
        .unwrap();
        let area = super::super::create_area(&desk, slots, patients).unwrap();
        Rig {
            _dir: dir,
            db,
            desk,
            area,
        }
    }

    fn stamp(mut e: Entry, key: Key, at: u64) -> Entry {
        (e.worker, e.thread, e.seq) = key;
        e.invoked = at;
        e.returned = at + 1;
        e
    }

    fn book(r: &Rig, key: Key, slot: usize, at: u64) -> Entry {
        let req = BookRequest {
            slot_id: r.area.slots[slot],
            patient_id: r.area.patients[0],
            reason: String::new(),
        };
        let a = r
            .desk
            .book(&journal::actor(key.0, key.1, key.2), &req)
            .unwrap();
        stamp(Entry::appointment("book", &a), key, at)
    }

    fn change(
        r: &Rig,
        key: Key,
        op: &str,
        id: i64,
        version: i64,
        at: u64,
        f: impl FnOnce(&Actor) -> frontdesk::Result<frontdesk::domain::model::Appointment>,
    ) -> Entry {
        let from_slot = r
            .desk
            .read(|c| {
                Ok(
                    c.query_row("SELECT slot_id FROM appointment WHERE id = ?1", [id], |r| {
                        r.get(0)
                    })?,
                )
            })
            .unwrap();
        let mut e = match f(&journal::actor(key.0, key.1, key.2)) {
            Ok(a) => Entry::appointment(op, &a),
            Err(err) => Entry::failed(op, &err),
        };
        e.appointment = Some(id);
        e.based_on = Some(version);
        e.from_slot = Some(from_slot);
        stamp(e, key, at)
    }

    fn verdict(r: &Rig, journal: &[Entry], killed: &[u32]) -> (Vec<String>, i64) {
        let killed: BTreeSet<u32> = killed.iter().copied().collect();
        final_state(&r.db, &r.area, &Baseline::empty(), journal, &killed).unwrap()
    }

    fn raw(r: &Rig, sql: &str) {
        let c = frontdesk::storage::db::open_keyed(&r.db).unwrap();
        c.execute_batch(sql).unwrap();
    }

    fn flagged(found: &[String], needle: &str) -> bool {
        found.iter().any(|v| v.contains(needle))
    }

    /// An honest run: book, confirm, reschedule, a refused booking.
    fn honest(r: &Rig) -> Vec<Entry> {
        let booked = book(r, (0, 0, 0), 0, 10);
        let id = booked.appointment.unwrap();
        let confirmed = change(r, (0, 0, 1), "confirm", id, 1, 20, |a| {
            r.desk
                .change_status(a, id, 1, AppointmentStatus::Confirmed, "")
        });
        let moved = change(r, (0, 1, 0), "reschedule", id, 2, 30, |a| {
            r.desk.reschedule(a, id, 2, r.area.slots[1])
        });
        let refused = {
            let req = BookRequest {
                slot_id: r.area.slots[1],
                patient_id: r.area.patients[0],
                reason: String::new(),
            };
            let err = r
                .desk
                .book(&journal::actor(0, 1, 1), &req)
                .expect_err("the slot is taken");
            let mut e = Entry::failed("book", &err);
            e.slot = Some(r.area.slots[1]);
            stamp(e, (0, 1, 1), 40)
        };
        vec![booked, confirmed, moved, refused]
    }

    #[test]
    fn an_honest_journal_balances_to_the_last_row() {
        let r = rig(3, 1);
        let journal = honest(&r);
        let (found, unreported) = verdict(&r, &journal, &[]);
        assert!(found.is_empty(), "an honest journal balances: {found:?}");
        assert_eq!(unreported, 0);
    }

    #[test]
    fn an_invented_success_is_missing() {
        let r = rig(3, 1);
        let mut journal = honest(&r);
        let mut invented = journal[1].clone();
        invented.seq = 2;
        invented.version = Some(4);
        invented.based_on = Some(3);
        journal.push(invented);
        let (found, _) = verdict(&r, &journal, &[]);
        assert!(
            flagged(&found, "reported committed but missing"),
            "{found:?}"
        );
    }

    #[test]
    fn a_wrong_status_or_slot_in_the_journal_is_flagged() {
        let r = rig(3, 1);
        let mut journal = honest(&r);
        journal[1].status = Some("CANCELLED".into());
        let (found, _) = verdict(&r, &journal, &[]);
        assert!(flagged(&found, "reported Some(\"CANCELLED\")"), "{found:?}");

        let r = rig(3, 1);
        let mut journal = honest(&r);
        journal[2].slot = Some(r.area.slots[2]);
        let (found, _) = verdict(&r, &journal, &[]);
        assert!(flagged(&found, "reported slot"), "{found:?}");
    }

    #[test]
    fn a_change_accepted_on_a_stale_version_is_flagged() {
        // what a reschedule that ignored the version would leave: the desk saw
        // version 1, the database was at 2, and the move went through as version 3
        let r = rig(3, 1);
        let mut journal = honest(&r);
        journal[2].based_on = Some(1);
        let (found, _) = verdict(&r, &journal, &[]);
        assert!(flagged(&found, "stale version was accepted"), "{found:?}");
    }

    #[test]
    fn a_refusal_that_left_rows_is_flagged() {
        // a confirm reported as refused, but its history and audit rows are there
        let r = rig(3, 1);
        let mut journal = honest(&r);
        journal[1] = Entry {
            outcome: "refused".into(),
            code: Some("Conflict".into()),
            version: None,
            status: None,
            ..journal[1].clone()
        };
        let (found, _) = verdict(&r, &journal, &[]);
        assert!(flagged(&found, "a refused confirm"), "{found:?}");
    }

    #[test]
    fn a_row_nobody_reported_is_flagged_unless_a_killed_thread_had_it_in_flight() {
        let r = rig(3, 1);
        let mut journal = honest(&r);
        // thread 0.1 booked again (its operation 2) and never said so
        let unsaid = book(&r, (0, 1, 2), 2, 50);
        let _ = unsaid;
        let (found, unreported) = verdict(&r, &journal, &[]);
        assert!(flagged(&found, "its worker was not killed"), "{found:?}");
        assert_eq!(unreported, 0);

        let (found, unreported) = verdict(&r, &journal, &[0]);
        assert!(
            found.is_empty(),
            "worker 0 was killed with operation 0.1 #2 in flight: {found:?}"
        );
        assert_eq!(unreported, 1);

        // …but only the operation right after its last journal line
        journal.pop(); // the refused booking (0.1 #1) was never printed either
        let (found, _) = verdict(&r, &journal, &[0]);
        assert!(
            flagged(&found, "not the operation its killed thread had in flight"),
            "{found:?}"
        );
    }

    #[test]
    fn an_appointment_row_that_differs_from_its_last_history_entry_is_flagged() {
        let r = rig(3, 1);
        let journal = honest(&r);
        raw(
            &r,
            &format!(
                "UPDATE appointment SET slot_id = {} WHERE slot_id = {}",
                r.area.slots[2], r.area.slots[1]
            ),
        );
        let (found, _) = verdict(&r, &journal, &[]);
        assert!(flagged(&found, "but its history puts it in"), "{found:?}");
    }

    #[test]
    fn a_double_booking_is_flagged_by_the_replay_and_the_linearizability_check() {
        // a broken implementation without the index and the in-transaction check:
        // two bookings of one slot, overlapping in time, both succeed
        let r = rig(3, 2);
        raw(&r, "DROP INDEX appointment_one_live_per_slot");
        let first = book(&r, (0, 0, 0), 0, 10);
        let actor = journal::actor(1, 0, 0);
        let id: i64 = r
            .desk
            .write("broken book", |tx| {
                let slot = r.area.slots[0];
                let doctor: i64 =
                    tx.query_row("SELECT doctor_id FROM slot WHERE id = ?1", [slot], |r| {
                        r.get(0)
                    })?;
                let new = frontdesk::storage::appointments::NewAppointment {
                    slot_id: slot,
                    doctor_id: doctor,
                    patient_id: r.area.patients[1],
                    reason: "",
                    overbooked: false,
                    actor: &actor.label(),
                    now: 0,
                };
                let id = frontdesk::storage::appointments::insert(
                    &frontdesk::storage::Conn::Lite(tx),
                    &new,
                )?;
                frontdesk::storage::audit::record(
                    &frontdesk::storage::Conn::Lite(tx),
                    0,
                    &actor.label(),
                    "appointment.book",
                    "appointment",
                    Some(id),
                    "",
                )?;
                Ok(id)
            })
            .unwrap();
        let second = r
            .desk
            .read(|c| {
                Ok(
                    frontdesk::storage::appointments::get(&frontdesk::storage::Conn::Lite(c), id)?
                        .unwrap(),
                )
            })
            .unwrap();
        // the two calls overlapped: 10..11 and 5..15
        let mut second = stamp(Entry::appointment("book", &second), (1, 0, 0), 5);
        second.returned = 15;
        let (found, _) = verdict(&r, &[first, second], &[]);
        assert!(flagged(&found, "held by appointments"), "{found:?}");
        assert!(flagged(&found, "not linearizable"), "{found:?}");
        assert!(flagged(&found, "live appointments"), "check too: {found:?}");
    }

    #[test]
    fn a_booking_refused_although_the_slot_was_free_is_not_linearizable() {
        // a stale read: "taken" returned before anything was ever booked there
        let r = rig(3, 1);
        let req = BookRequest {
            slot_id: r.area.slots[0],
            patient_id: r.area.patients[0],
            reason: String::new(),
        };
        let mut refused = Entry::failed("book", &Error::SlotTaken);
        refused.slot = Some(req.slot_id);
        let refused = stamp(refused, (0, 0, 0), 1);
        let booked = book(&r, (0, 1, 0), 0, 10);
        let (found, _) = verdict(&r, &[refused, booked], &[]);
        assert!(flagged(&found, "not linearizable"), "{found:?}");
    }

    #[test]
    fn a_passcode_request_reported_but_never_logged_or_refused_but_logged_is_flagged() {
        let r = rig(1, 1);
        let phone = r.area.phones[0].clone();
        let ok = r
            .desk
            .request_otp(&journal::actor(0, 0, 0), &phone)
            .unwrap();
        let mut e = stamp(Entry::passcode("otp.request", &ok.phone), (0, 0, 0), 1);
        e.phone = Some(phone.clone());
        let (found, _) = verdict(&r, std::slice::from_ref(&e), &[]);
        assert!(found.is_empty(), "{found:?}");

        let mut refused = e.clone();
        refused.outcome = "refused".into();
        refused.code = Some("RateLimited".into());
        let (found, _) = verdict(&r, &[refused], &[]);
        assert!(flagged(&found, "a refused otp.request"), "{found:?}");

        let mut invented = e.clone();
        invented.seq = 1;
        let (found, _) = verdict(&r, &[e, invented], &[]);
        assert!(flagged(&found, "reported done, 0 audit rows"), "{found:?}");
    }
}
