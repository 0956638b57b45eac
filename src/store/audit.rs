//! The audit log: append-only (triggers refuse UPDATE and DELETE) and hash-chained.
//!
//! Each row's `hash` is SHA-256 over the previous row's hash and this row's fields,
//! so editing or removing a row with a raw SQL tool breaks the chain at that row,
//! which `check` reports. Never record a passcode, a password or a patient's data
//! in `detail`; ids and field names are enough.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};
use ts_rs::TS;

/// The hash before the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit row.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct AuditEvent {
    /// Row id (the chain order).
    #[ts(type = "number")]
    pub id: i64,
    /// Unix seconds UTC.
    #[ts(type = "number")]
    pub at: i64,
    /// Who did it.
    pub actor: String,
    /// What was done, e.g. `appointment.book`.
    pub action: String,
    /// The kind of record, e.g. `appointment`.
    pub entity: String,
    /// The record's id, if any.
    #[ts(type = "number | null")]
    pub entity_id: Option<i64>,
    /// Non-sensitive detail (ids, statuses, field names).
    pub detail: String,
}

fn chain_hash(
    prev: &str,
    at: i64,
    actor: &str,
    action: &str,
    entity: &str,
    entity_id: Option<i64>,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &at.to_string(),
        actor,
        action,
        entity,
        &entity_id.map(|i| i.to_string()).unwrap_or_default(),
        detail,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Appends one event, chained to the last one. Call inside the write transaction
/// of the change it records.
pub fn record(
    conn: &Connection,
    at: i64,
    actor: &str,
    action: &str,
    entity: &str,
    entity_id: Option<i64>,
    detail: &str,
) -> rusqlite::Result<()> {
    let prev: String = conn
        .prepare_cached("SELECT hash FROM audit_event ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or_else(|| GENESIS.to_string());
    let hash = chain_hash(&prev, at, actor, action, entity, entity_id, detail);
    conn.prepare_cached(
        "INSERT INTO audit_event (at, actor, action, entity, entity_id, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        at, actor, action, entity, entity_id, detail, prev, hash
    ])?;
    Ok(())
}

/// Walks the whole chain; returns the id of the first row whose hash or link is
/// wrong, or `None` when the chain is intact.
pub fn first_broken_link(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let mut stmt = conn.prepare(
        "SELECT id, at, actor, action, entity, entity_id, detail, prev_hash, hash FROM audit_event ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    let mut prev = GENESIS.to_string();
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let stored_prev: String = r.get(7)?;
        let stored: String = r.get(8)?;
        let expect = chain_hash(
            &prev,
            r.get(1)?,
            &r.get::<_, String>(2)?,
            &r.get::<_, String>(3)?,
            &r.get::<_, String>(4)?,
            r.get(5)?,
            &r.get::<_, String>(6)?,
        );
        if stored_prev != prev || stored != expect {
            return Ok(Some(id));
        }
        prev = stored;
    }
    Ok(None)
}

/// Filters for listing the audit log.
#[derive(Debug, Clone, Default, serde::Deserialize, TS)]
#[ts(export)]
pub struct AuditFilter {
    /// Substring of the actor label.
    pub actor: Option<String>,
    /// Entity kind, e.g. `appointment`.
    pub entity: Option<String>,
    /// Entity id.
    #[ts(type = "number | null")]
    pub entity_id: Option<i64>,
    /// From (Unix seconds, inclusive).
    #[ts(type = "number | null")]
    pub from: Option<i64>,
    /// To (Unix seconds, exclusive).
    #[ts(type = "number | null")]
    pub to: Option<i64>,
    /// Most rows to return (newest first); default 200.
    pub limit: Option<u32>,
}

/// Lists events, newest first.
pub fn list(conn: &Connection, f: &AuditFilter) -> rusqlite::Result<Vec<AuditEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, at, actor, action, entity, entity_id, detail FROM audit_event
         WHERE (?1 IS NULL OR instr(actor, ?1) > 0)
           AND (?2 IS NULL OR entity = ?2)
           AND (?3 IS NULL OR entity_id = ?3)
           AND (?4 IS NULL OR at >= ?4)
           AND (?5 IS NULL OR at < ?5)
         ORDER BY id DESC LIMIT ?6",
    )?;
    let rows = stmt.query_map(
        params![
            f.actor,
            f.entity,
            f.entity_id,
            f.from,
            f.to,
            f.limit.unwrap_or(200).min(10_000)
        ],
        |r| {
            Ok(AuditEvent {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                entity: r.get(4)?,
                entity_id: r.get(5)?,
                detail: r.get(6)?,
            })
        },
    )?;
    rows.collect()
}
