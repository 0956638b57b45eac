//! `frontdesk check`: on a file, SQLite's own integrity checks, the invariants Frontdesk
//! promises (each a query that must return nothing), the schema exactly as the
//! migrations make it, and the audit log: its chain sealed with the clinic's key,
//! its head where the anchor outside the database says, and every audited record
//! in the state its last audit row recorded. On a clinic server the same
//! invariants and audit checks, the log's seals in place of its chain
//! ([`run_on_server`]).

use rusqlite::Connection;
use serde::Serialize;
use ts_rs::TS;

use crate::error::Result;
use crate::storage::audit;
use crate::storage::audit_key::{KeyFolder, Seal};
use crate::storage::pg::PgClinic;
use crate::storage::Conn;

/// The outcome of one check.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct CheckItem {
    /// What was checked.
    pub name: String,
    /// Whether it held.
    pub ok: bool,
    /// What was found when it did not hold.
    pub detail: String,
}

/// All checks.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct CheckReport {
    /// True when every check held.
    pub ok: bool,
    /// Each check.
    pub items: Vec<CheckItem>,
}

impl CheckItem {
    /// A check named `name` that held when nothing was found (the first ten
    /// findings are kept).
    fn of(name: &str, problems: Vec<String>) -> Self {
        CheckItem {
            name: name.into(),
            ok: problems.is_empty(),
            detail: problems.into_iter().take(10).collect::<Vec<_>>().join("; "),
        }
    }
}

impl CheckReport {
    fn of(items: Vec<CheckItem>) -> Self {
        CheckReport {
            ok: items.iter().all(|i| i.ok),
            items,
        }
    }
}

/// The invariants as (name, query returning offending rows as text), in SQL
/// both backends speak.
const INVARIANTS: &[(&str, &str)] = &[
    (
        "at most one live appointment per slot",
        "SELECT 'slot ' || slot_id || ' has ' || count(*) || ' live appointments' FROM appointment
         WHERE status <> 'CANCELLED' AND NOT overbooked GROUP BY slot_id HAVING count(*) > 1",
    ),
    (
        "every appointment's doctor is its slot's doctor",
        "SELECT 'appointment ' || a.id FROM appointment a JOIN slot s ON s.id = a.slot_id WHERE a.doctor_id <> s.doctor_id",
    ),
    (
        "no two slots of one doctor overlap",
        "SELECT 'slot ' || id || ' overlaps an earlier slot' FROM (
           SELECT id, start_at, max(end_at) OVER (PARTITION BY doctor_id ORDER BY start_at, id
                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end FROM slot) AS w
         WHERE prev_end > start_at",
    ),
    (
        "every appointment's status is its last history entry",
        "SELECT 'appointment ' || a.id FROM appointment a WHERE a.status IS DISTINCT FROM
           (SELECT h.to_status FROM appointment_status_history h WHERE h.appointment_id = a.id ORDER BY h.id DESC LIMIT 1)",
    ),
    (
        "no live appointment in a blocked slot",
        "SELECT 'appointment ' || a.id FROM appointment a JOIN slot s ON s.id = a.slot_id
         WHERE s.blocked AND a.status IN ('PENDING', 'CONFIRMED')",
    ),
    (
        "templates of one doctor do not overlap",
        "SELECT 'template ' || t.id || ' overlaps template ' || u.id FROM schedule_template t JOIN schedule_template u
           ON u.doctor_id = t.doctor_id AND u.weekday = t.weekday AND u.id < t.id
          AND u.start_minute < t.end_minute AND t.start_minute < u.end_minute",
    ),
    (
        "every appointment of a series is its patient's, with its doctor",
        "SELECT 'appointment ' || a.id FROM appointment a JOIN appointment_series s ON s.id = a.series_id
         WHERE a.patient_id <> s.patient_id OR a.doctor_id <> s.doctor_id",
    ),
    (
        "a waitlist entry booked as an appointment names its patient and doctor",
        "SELECT 'waitlist entry ' || w.id FROM waitlist_entry w JOIN appointment a ON a.id = w.appointment_id
         WHERE a.patient_id <> w.patient_id OR a.doctor_id <> w.doctor_id",
    ),
    (
        "sent and given-up messages keep no text",
        "SELECT 'outbox message ' || id FROM outbox WHERE status IN ('SENT', 'FAILED') AND body <> ''",
    ),
    (
        "every ledger row's patient is its appointment's patient",
        "SELECT 'ledger row ' || l.id FROM ledger l JOIN appointment a ON a.id = l.appointment_id
         WHERE a.patient_id <> l.patient_id",
    ),
    (
        "a refund returns part of one payment of its appointment, never more than it took",
        "SELECT 'payment ' || l.refund_of FROM ledger l LEFT JOIN ledger p ON p.id = l.refund_of
         WHERE l.kind = 'REFUND' GROUP BY l.refund_of
         HAVING max(p.kind) IS DISTINCT FROM 'PAYMENT' OR max(p.appointment_id) <> max(l.appointment_id)
             OR sum(l.amount_minor) > max(p.amount_minor)",
    ),
    (
        "no appointment keeps more than it was charged, or waives more",
        "SELECT 'appointment ' || appointment_id FROM ledger GROUP BY appointment_id HAVING
           coalesce(sum(CASE kind WHEN 'PAYMENT' THEN amount_minor WHEN 'REFUND' THEN -amount_minor END), 0)
             > coalesce(sum(CASE kind WHEN 'CHARGE' THEN amount_minor WHEN 'WAIVE' THEN -amount_minor END), 0)
           OR coalesce(sum(CASE kind WHEN 'WAIVE' THEN amount_minor END), 0)
             > coalesce(sum(CASE kind WHEN 'CHARGE' THEN amount_minor END), 0)",
    ),
    (
        "a cancelled or missed appointment owes nothing",
        "SELECT 'appointment ' || a.id FROM appointment a JOIN ledger l ON l.appointment_id = a.id
         WHERE a.status IN ('CANCELLED', 'NO_SHOW') GROUP BY a.id
         HAVING sum(CASE l.kind WHEN 'CHARGE' THEN l.amount_minor WHEN 'WAIVE' THEN -l.amount_minor
                                WHEN 'PAYMENT' THEN -l.amount_minor ELSE l.amount_minor END) <> 0",
    ),
    (
        "every ledger row was written with its audit row, and none audited is gone",
        "SELECT 'ledger row ' || l.id || ' has no audit row' FROM ledger l
         WHERE NOT EXISTS (SELECT 1 FROM audit_event e WHERE e.entity = 'ledger' AND e.entity_id = l.id)
         UNION ALL
         SELECT DISTINCT 'ledger row ' || e.entity_id || ' was audited but is gone' FROM audit_event e
         WHERE e.entity = 'ledger' AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.id = e.entity_id)",
    ),
    (
        "receipt numbers of each year run 1, 2, 3 without gaps",
        "SELECT 'receipts of ' || receipt_year || ': ' || count(*) || ' numbered up to ' || max(receipt_no)
         FROM ledger WHERE receipt_no IS NOT NULL GROUP BY receipt_year
         HAVING min(receipt_no) <> 1 OR max(receipt_no) <> count(*)",
    ),
    (
        "at most one reminder per appointment and slot start",
        "SELECT 'appointment ' || appointment_id || ' has ' || count(*) || ' reminders for one start'
         FROM reminder GROUP BY appointment_id, start_at HAVING count(*) > 1",
    ),
    (
        "every reminder has the status of its own outbox message",
        "SELECT 'reminder ' || r.id FROM reminder r LEFT JOIN outbox o ON o.id = r.outbox_id
         WHERE o.id IS NULL OR o.kind <> 'REMINDER' OR o.status <> r.status",
    ),
    (
        "no reminder was claimed after its appointment was cancelled",
        "SELECT 'reminder ' || r.id FROM reminder r WHERE EXISTS
           (SELECT 1 FROM appointment_status_history h WHERE h.appointment_id = r.appointment_id
              AND h.to_status = 'CANCELLED' AND h.id <= r.history_id)",
    ),
];

/// The invariants that hold a limit kept in Rust (the limit goes into the query).
fn limit_invariants() -> [(String, String); 2] {
    use crate::domain::passcodes::limits::{CODE_TTL_SECS, MAX_ATTEMPTS};
    use crate::domain::staff::LOCK_AFTER_FAILED_LOGINS;
    [
        (
            format!(
                "a passcode has at most {MAX_ATTEMPTS} attempts and lives {} minutes",
                CODE_TTL_SECS / 60
            ),
            format!(
                "SELECT 'passcode issued at ' || created_at FROM otp_code
                 WHERE attempts > {MAX_ATTEMPTS} OR expires_at - created_at <> {CODE_TTL_SECS}"
            ),
        ),
        (
            format!("a locked account has {LOCK_AFTER_FAILED_LOGINS} failed sign-ins"),
            format!(
                "SELECT 'staff ' || id FROM staff
                 WHERE locked_at IS NOT NULL AND failed_logins < {LOCK_AFTER_FAILED_LOGINS}"
            ),
        ),
    ]
}

fn strings(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([], |r| r.get::<_, rusqlite::types::Value>(0))?;
    rows.map(|v| {
        v.map(|v| match v {
            rusqlite::types::Value::Text(t) => t,
            other => format!("{other:?}"),
        })
    })
    .collect()
}

/// Runs every check on `conn`, with the clinic's audit seal; `anchored`: compare
/// the log's end with the anchor (not for a copy, which may be older).
/// `conn` is best opened for the check: FTS5's part of `integrity_check` walks
/// the index structure the connection last read, which on a long-lived
/// connection may predate others' writes (see `Frontdesk::read_fresh`).
pub fn run(conn: &Connection, seal: &Seal, anchored: bool) -> Result<CheckReport> {
    let mut items = Vec::new();
    let mut add = |name: &str, problems: Vec<String>| items.push(CheckItem::of(name, problems));
    let integrity = strings(conn, "PRAGMA integrity_check")?;
    add(
        "SQLite integrity_check",
        integrity.into_iter().filter(|s| s != "ok").collect(),
    );
    let fk = strings(
        conn,
        "SELECT \"table\" || ' row ' || rowid || ' -> ' || parent FROM pragma_foreign_key_check",
    )?;
    add("SQLite foreign_key_check", fk);
    add(
        "the schema, triggers included, is exactly what the migrations make",
        crate::storage::db::schema_differences(conn)?,
    );
    invariants(&Conn::Lite(conn), &mut add)?;
    let chain = audit::verify_chain(
        &crate::storage::Conn::Lite(conn),
        seal.key.as_ref(),
        Some(seal.keyed_from),
    )?
    .map(|fault| fault.to_string())
    .into_iter()
    .collect();
    add(
        "the audit log's chain is intact and sealed with the clinic's key",
        chain,
    );
    if anchored {
        add(
            "the audit log ends where the anchor outside the database says",
            anchor_problems(conn, seal)?,
        );
    }
    reconcile(&Conn::Lite(conn), &mut add)?;
    Ok(CheckReport::of(items))
}

/// The invariants, on either backend.
fn invariants(conn: &Conn, add: &mut impl FnMut(&str, Vec<String>)) -> Result<()> {
    for (name, sql) in INVARIANTS {
        add(name, texts(conn, sql)?);
    }
    for (name, sql) in limit_invariants() {
        add(&name, texts(conn, &sql)?);
    }
    Ok(())
}

fn texts(conn: &Conn, sql: &str) -> rusqlite::Result<Vec<String>> {
    // (a finding built from a NULL is still a finding)
    conn.all(sql, &[], |r| {
        Ok(r.get::<Option<String>>(0)?
            .unwrap_or_else(|| "(a row with a missing value)".into()))
    })
}

/// Every audited record against its last sealed audit row, on either backend.
fn reconcile(conn: &Conn, add: &mut impl FnMut(&str, Vec<String>)) -> Result<()> {
    let mut unaudited = Vec::new();
    for (entity, table, state) in audit::AUDITED {
        let (state, sealed) = match conn {
            Conn::Lite(_) => (*state, "e.keyed = 1"),
            Conn::Server(_) => (
                if *entity == "patient" {
                    audit::SERVER_PATIENT_STATE
                } else {
                    *state
                },
                "EXISTS (SELECT 1 FROM audit_seal s WHERE s.event_id = e.id)",
            ),
        };
        unaudited.extend(texts(conn, &reconcile_sql(entity, table, state, sealed))?);
    }
    add(
        "every staff member, appointment, patient and ledger row is as its last audit row recorded",
        unaudited,
    );
    Ok(())
}

/// Audit rows a sealer has had time to seal (written a minute ago or more).
const SEAL_GRACE_SECS: i64 = 60;

/// Every check on the clinic server, in one read-only transaction (`conn`) and
/// with the audit key of this PC (`keys`): the schema's version, the
/// invariants, the audit log's seals under the clinic's key and its end against
/// this PC's anchor, rows left unsealed, and every audited record against its
/// last sealed audit row. (The server itself keeps its pages whole and its
/// foreign keys enforced: the file's integrity and foreign key checks have no
/// counterpart to run.)
pub fn run_on_server(
    conn: &Conn,
    server: &PgClinic,
    keys: &KeyFolder,
    now: i64,
) -> Result<CheckReport> {
    let mut items = Vec::new();
    let mut add = |name: &str, problems: Vec<String>| items.push(CheckItem::of(name, problems));
    // a big clinic's checks run longer than a desk's statement may
    conn.run("SET LOCAL statement_timeout = 0", &[])?;
    let version = server.check_schema()?;
    add(
        &format!("the schema is this Frontdesk's (version {version})"),
        Vec::new(),
    );
    invariants(conn, &mut add)?;
    let clinic: String = crate::storage::settings::get(conn, "clinic.id")?.unwrap_or_default();
    let (seals, anchor) = match keys.load(&clinic)? {
        None => {
            let missing = format!(
                "this PC has not the clinic's audit key ({}): run the check on a desk that has it",
                keys.key_path(&clinic).display()
            );
            (vec![missing.clone()], vec![missing])
        }
        Some(key) => {
            let verdict = server.verify_audit(&key, &keys.server_anchor(&clinic)?)?;
            (
                verdict
                    .first_bad_seal
                    .map(|seq| {
                        format!(
                            "seal {seq} does not verify: a sealed row was changed or removed, or \
                             a seal was changed"
                        )
                    })
                    .into_iter()
                    .collect(),
                verdict
                    .anchored_seal_missing
                    .then(|| {
                        "the newest seal this PC recorded is gone or changed: sealed rows were \
                         removed"
                            .to_string()
                    })
                    .into_iter()
                    .collect(),
            )
        }
    };
    add("the audit log's seals verify under the clinic's key", seals);
    add(
        "the audit log ends where the anchor on this PC says",
        anchor,
    );
    let unsealed: i64 = conn.value(
        "SELECT count(*) FROM audit_event e WHERE e.at <= ?1
           AND NOT EXISTS (SELECT 1 FROM audit_seal s WHERE s.event_id = e.id)",
        &[&(now - SEAL_GRACE_SECS)],
    )?;
    add(
        "every audit row older than a minute is sealed",
        (unsealed > 0)
            .then(|| {
                format!(
                    "{unsealed} rows are not sealed: no desk with the clinic's audit key has run \
                     since they were written"
                )
            })
            .into_iter()
            .collect(),
    );
    reconcile(conn, &mut add)?;
    Ok(CheckReport::of(items))
}

/// The newest row any desk on this computer saw saved must still be there, with
/// the same MAC: otherwise rows were removed (or rewritten) behind the app's back.
fn anchor_problems(conn: &Connection, seal: &Seal) -> Result<Vec<String>> {
    let Some(anchor) = seal.anchor.read()? else {
        return Ok(Vec::new());
    };
    if anchor.head_id == 0 {
        return Ok(Vec::new());
    }
    Ok(match audit::hash_of(&crate::storage::Conn::Lite(conn), anchor.head_id)? {
        Some(hash) if hash == anchor.head_hash => Vec::new(),
        Some(_) => vec![format!(
            "audit row {} differs from the one recorded outside the database",
            anchor.head_id
        )],
        None => vec![format!(
            "the audit log ends before row {}, which was saved and recorded outside the database: rows were removed",
            anchor.head_id
        )],
    })
}

/// Records whose state differs from what their last sealed audit row recorded.
/// Records whose last audited change predates sealed audit rows are not compared.
fn reconcile_sql(entity: &str, table: &str, state: &str, sealed: &str) -> String {
    format!(
        "SELECT '{entity} ' || t.id || ' is ' || ({state}) || ' but its last audit row (' || last.id || ') recorded ' || last.state
         FROM {table} t
         JOIN audit_event last ON last.id = (
             SELECT max(e.id) FROM audit_event e
             WHERE e.entity = '{entity}' AND e.entity_id = t.id AND {sealed} AND e.state <> '')
         WHERE last.state IS DISTINCT FROM ({state})"
    )
}
