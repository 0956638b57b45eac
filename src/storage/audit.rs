//! The audit log: append-only (triggers refuse UPDATE and DELETE) and chained.
//!
//! Each row's `hash` is an HMAC-SHA-256, under the clinic's audit key (kept outside
//! the database, see [`crate::storage::audit_key`]), over the previous row's hash and this
//! row's fields, including `state`: the state the audited record was left in
//! (captured here, inside the same transaction, so no operation can forget it).
//! Editing or removing a row with a raw SQL tool breaks the chain at that row, and
//! without the key nobody can recompute the chain after it; `check` reports both,
//! and compares each staff member, appointment and patient with the state its last
//! audit row recorded. Rows written before the clinic had a key (`keyed = 0`) are
//! chained with plain SHA-256. Never record a passcode, a password or a patient's
//! data in `detail`; ids and field names are enough.
//!
//! The MAC is computed by the SQL function `frontdesk_audit_mac`, which
//! [`register_mac`] installs on the connections Frontdesk writes with, holding the
//! key: a connection without it (a `sqlite3` shell) cannot append to the log.

use crate::storage::Conn;
use std::cell::RefCell;

use hmac::{Hmac, Mac};
use rusqlite::functions::FunctionFlags;
use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::domain::audit::{AuditEvent, AuditFilter};
use crate::storage::audit_key::AuditKey;

/// The hash before the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The SQL function that seals a row.
const MAC_FUNCTION: &str = "frontdesk_audit_mac";

/// The fields a row's hash covers, in order, each length-prefixed.
struct Sealed<'a> {
    prev: &'a str,
    at: i64,
    actor: &'a str,
    action: &'a str,
    entity: &'a str,
    entity_id: Option<i64>,
    detail: &'a str,
    state: &'a str,
}

impl Sealed<'_> {
    fn feed(&self, mut update: impl FnMut(&[u8]), keyed: bool) {
        let at = self.at.to_string();
        let id = self.entity_id.map(|i| i.to_string()).unwrap_or_default();
        let mut parts = vec![
            self.prev,
            &at,
            self.actor,
            self.action,
            self.entity,
            &id,
            self.detail,
        ];
        if keyed {
            parts.push(self.state);
        }
        for part in parts {
            update(&(part.len() as u64).to_le_bytes());
            update(part.as_bytes());
        }
    }

    /// Plain SHA-256 (rows from before the clinic had a key).
    fn sha(&self) -> String {
        let mut h = Sha256::new();
        self.feed(|b| h.update(b), false);
        hex::encode(h.finalize())
    }

    /// HMAC-SHA-256 under the clinic's key.
    fn mac(&self, key: &AuditKey) -> String {
        let mut m = Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC takes any key length");
        self.feed(|b| m.update(b), true);
        hex::encode(m.finalize().into_bytes())
    }
}

/// Installs the sealing function (and the digest of a record's fields) on `conn`.
/// Without a key (this computer does not have the clinic's), appending to the log
/// fails with `missing` as the reason.
pub fn register_mac(conn: &Conn, key: Option<AuditKey>, missing: String) -> rusqlite::Result<()> {
    let conn = conn.lite()?;
    let digest_key = key.clone();
    let digest_missing = missing.clone();
    conn.create_scalar_function(
        "frontdesk_audit_digest",
        -1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| {
            let Some(key) = &digest_key else {
                return Err(rusqlite::Error::UserFunctionError(
                    digest_missing.clone().into(),
                ));
            };
            let mut m = Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC takes any key length");
            m.update(b"fields");
            for i in 0..ctx.len() {
                let part = ctx.get::<rusqlite::types::Value>(i)?;
                let text = match part {
                    rusqlite::types::Value::Null => String::new(),
                    rusqlite::types::Value::Integer(n) => n.to_string(),
                    rusqlite::types::Value::Real(f) => f.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    rusqlite::types::Value::Blob(b) => hex::encode(b),
                };
                m.update(&(text.len() as u64).to_le_bytes());
                m.update(text.as_bytes());
            }
            Ok(hex::encode(&m.finalize().into_bytes()[..8]))
        },
    )?;
    conn.create_scalar_function(
        MAC_FUNCTION,
        8,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| {
            let Some(key) = &key else {
                return Err(rusqlite::Error::UserFunctionError(missing.clone().into()));
            };
            let text = |i| ctx.get::<String>(i);
            let row = Sealed {
                prev: &text(0)?,
                at: ctx.get(1)?,
                actor: &text(2)?,
                action: &text(3)?,
                entity: &text(4)?,
                entity_id: ctx.get(5)?,
                detail: &text(6)?,
                state: &text(7)?,
            };
            Ok(row.mac(key))
        },
    )
}

thread_local! {
    /// The newest row this thread appended in its current write transaction.
    static APPENDED: RefCell<Option<(i64, String)>> = const { RefCell::new(None) };
}

/// Forgets what this thread appended (the writer calls it before a transaction).
pub(crate) fn forget_appended() {
    APPENDED.with(|a| a.borrow_mut().take());
}

/// The newest row (id, MAC) this thread appended since [`forget_appended`].
pub(crate) fn take_appended() -> Option<(i64, String)> {
    APPENDED.with(|a| a.borrow_mut().take())
}

/// The records whose state an audit row captures: (entity, table, the state as an
/// SQL expression both backends evaluate alike, but for the patient's digest).
/// `check` compares each record with the same expression.
/// A patient's fields enter only as a keyed digest (`frontdesk_audit_digest`),
/// never in clear: the log holds no patient data. The alert (migration 12) enters
/// the digest only when it is set, so every patient without one keeps the state its
/// last audit row recorded before the column existed.
pub(crate) const AUDITED: &[(&str, &str, &str)] = &[
    (
        "appointment",
        "appointment",
        "'status=' || status || ' version=' || version || ' slot=' || slot_id || ' patient=' || patient_id",
    ),
    (
        "staff",
        "staff",
        "'role=' || role || ' active=' || CASE WHEN active THEN 1 ELSE 0 END",
    ),
    (
        "ledger",
        "ledger",
        "'kind=' || kind || ' amount=' || amount_minor || ' ' || currency || ' appointment=' || appointment_id \
         || ' patient=' || patient_id || ' method=' || coalesce(method, '') \
         || ' refund_of=' || coalesce(CAST(refund_of AS TEXT), '') \
         || ' receipt=' || coalesce(CAST(receipt_year AS TEXT), '') || '-' || coalesce(CAST(receipt_no AS TEXT), '') \
         || ' desk=' || desk || ' day=' || day",
    ),
    (
        "patient",
        "patient",
        "'version=' || version || ' fields=' || CASE WHEN alert = '' \
         THEN frontdesk_audit_digest(name, phone, coalesce(date_of_birth, ''), \
         notes, coalesce(phone_verified_at, ''), coalesce(phone_verified_by, '')) \
         ELSE frontdesk_audit_digest(name, phone, coalesce(date_of_birth, ''), \
         notes, coalesce(phone_verified_at, ''), coalesce(phone_verified_by, ''), alert) END",
    ),
];

/// A patient's audited state on the clinic server: its version alone (the
/// server has no digest function holding the key).
pub(crate) const SERVER_PATIENT_STATE: &str = "'version=' || version";

/// The query for the state of an audited record of `entity`, if it is one, its
/// id the parameter `id` (e.g. `?1`).
fn state_sql(entity: &str, id: &str) -> Option<String> {
    AUDITED
        .iter()
        .find(|(e, _, _)| *e == entity)
        .map(|(_, table, state)| format!("SELECT {state} FROM {table} WHERE id = {id}"))
}

/// The state an audited change left its record in (empty for other entities),
/// in a clinic file.
fn state_of(conn: &Conn, entity: &str, entity_id: Option<i64>) -> rusqlite::Result<String> {
    Ok(match (state_sql(entity, "?1"), entity_id) {
        (Some(sql), Some(id)) => conn.opt(&sql, &[&id], |r| r.get(0))?.unwrap_or_default(),
        _ => String::new(),
    })
}

/// [`state_sql`] on the clinic server. A patient's state there is its version
/// alone: the server has no digest function holding the key.
fn server_state_sql(entity: &str, id: &str) -> Option<String> {
    match entity {
        "patient" => Some(format!(
            "SELECT {SERVER_PATIENT_STATE} FROM patient WHERE id = {id}"
        )),
        // an appointment also changes outside the SERIALIZABLE transactions on
        // a server (`fd_change_status`): its row is locked as its state is
        // read, so a change committed since this transaction's snapshot makes
        // it run again (a serialization failure) instead of recording a state
        // already gone, and one not committed yet waits until this row is in
        "appointment" => state_sql(entity, id).map(|sql| sql + " FOR SHARE"),
        _ => state_sql(entity, id),
    }
}

/// Appends one event, chained to the last one and sealed with the clinic's key,
/// with the state its record is left in. Call inside the write transaction of the
/// change it records, after the change.
pub fn record(
    conn: &Conn,
    at: i64,
    actor: &str,
    action: &str,
    entity: &str,
    entity_id: Option<i64>,
    detail: &str,
) -> rusqlite::Result<()> {
    let conn = match conn {
        Conn::Lite(c) => c,
        Conn::Server(_) => {
            // the row only: the server numbers it and a sealer chains it afterwards,
            // in commit order (see `storage::pg::audit`), so writers never queue
            // on the log's head; the record's state read in the same statement
            let state = server_state_sql(entity, "?5")
                .map_or_else(|| "''".to_string(), |sql| format!("coalesce(({sql}), '')"));
            conn.run(
                &format!(
                    "INSERT INTO audit_event (at, actor, action, entity, entity_id, detail, state)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, {state})"
                ),
                &[&at, &actor, &action, &entity, &entity_id, &detail],
            )?;
            return Ok(());
        }
    };
    let state = state_of(&Conn::Lite(conn), entity, entity_id)?;
    let prev: String = conn
        .prepare_cached("SELECT hash FROM audit_event ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or_else(|| GENESIS.to_string());
    let appended = conn
        .prepare_cached(
            "INSERT INTO audit_event (at, actor, action, entity, entity_id, detail, state, keyed, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, frontdesk_audit_mac(?8, ?1, ?2, ?3, ?4, ?5, ?6, ?7))
             RETURNING id, hash",
        )?
        .query_row(
            params![at, actor, action, entity, entity_id, detail, state, prev],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )?;
    APPENDED.with(|a| *a.borrow_mut() = Some(appended));
    Ok(())
}

/// What is wrong with the chain, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainFault {
    /// The row's hash or its link to the previous row is wrong.
    Broken(i64),
    /// A row from `keyed_from` on is not sealed with the key.
    Unsealed(i64),
    /// The chain is sealed with a key this computer does not have.
    KeyMissing,
}

impl std::fmt::Display for ChainFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainFault::Broken(id) => write!(f, "audit row {id} does not match the chain"),
            ChainFault::Unsealed(id) => write!(
                f,
                "audit row {id} is not sealed with the clinic's key although every row since the key was made must be"
            ),
            ChainFault::KeyMissing => f.write_str(
                "the audit log is sealed with a key that is not on this computer, so it cannot be verified",
            ),
        }
    }
}

/// Walks the whole chain with the clinic's key; the first fault, or `None` when
/// the chain is intact. Rows from `keyed_from` on must be sealed with the key
/// (from the anchor outside the database when there is one: a forger cannot move
/// it); earlier rows may be plain SHA-256.
pub fn verify_chain(
    conn: &Conn,
    key: Option<&AuditKey>,
    keyed_from: Option<i64>,
) -> rusqlite::Result<Option<ChainFault>> {
    let conn = conn.lite()?;
    // a log from before sealing (schema < 7) has neither column
    let sealable: bool = conn.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('audit_event') WHERE name = 'keyed'",
        [],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(if sealable {
        "SELECT id, at, actor, action, entity, entity_id, detail, state, keyed, prev_hash, hash
         FROM audit_event ORDER BY id"
    } else {
        "SELECT id, at, actor, action, entity, entity_id, detail, '', 0, prev_hash, hash
         FROM audit_event ORDER BY id"
    })?;
    let mut rows = stmt.query([])?;
    let mut prev = GENESIS.to_string();
    let mut sealed_seen = false;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let keyed: bool = r.get(8)?;
        let stored_prev: String = r.get(9)?;
        let stored: String = r.get(10)?;
        let must_be_sealed = sealed_seen || keyed_from.is_some_and(|from| id >= from);
        if must_be_sealed && !keyed {
            return Ok(Some(ChainFault::Unsealed(id)));
        }
        let (actor, action, entity, detail, state): (String, String, String, String, String) =
            (r.get(2)?, r.get(3)?, r.get(4)?, r.get(6)?, r.get(7)?);
        let row = Sealed {
            prev: &prev,
            at: r.get(1)?,
            actor: &actor,
            action: &action,
            entity: &entity,
            entity_id: r.get(5)?,
            detail: &detail,
            state: &state,
        };
        let expect = if keyed {
            sealed_seen = true;
            match key {
                Some(k) => row.mac(k),
                None => return Ok(Some(ChainFault::KeyMissing)),
            }
        } else {
            row.sha()
        };
        if stored_prev != prev || stored != expect {
            return Ok(Some(ChainFault::Broken(id)));
        }
        prev = stored;
    }
    Ok(None)
}

/// The newest row's id and hash (`(0, GENESIS)` for an empty log).
pub fn head(conn: &Conn) -> rusqlite::Result<(i64, String)> {
    let conn = conn.lite()?;
    Ok(conn
        .query_row(
            "SELECT id, hash FROM audit_event ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or_else(|| (0, GENESIS.to_string())))
}

/// The hash of row `id`, if it exists.
pub fn hash_of(conn: &Conn, id: i64) -> rusqlite::Result<Option<String>> {
    let conn = conn.lite()?;
    conn.query_row("SELECT hash FROM audit_event WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .optional()
}

/// The first row sealed with a key, if any.
pub fn first_sealed(conn: &Conn) -> rusqlite::Result<Option<i64>> {
    let conn = conn.lite()?;
    conn.query_row("SELECT min(id) FROM audit_event WHERE keyed = 1", [], |r| {
        r.get(0)
    })
}

/// Lists events, newest first.
pub fn list(conn: &Conn, f: &AuditFilter) -> rusqlite::Result<Vec<AuditEvent>> {
    let contains = match conn {
        Conn::Lite(_) => "instr(actor, ?1) > 0",
        Conn::Server(_) => "strpos(actor, ?1) > 0",
    };
    conn.all(
        &format!(
            "SELECT id, at, actor, action, entity, entity_id, detail FROM audit_event
             WHERE (?1 IS NULL OR {contains})
               AND (?2 IS NULL OR entity = ?2)
               AND (?3 IS NULL OR entity_id = ?3)
               AND (?4 IS NULL OR at >= ?4)
               AND (?5 IS NULL OR at < ?5)
             ORDER BY id DESC LIMIT ?6"
        ),
        &[
            &f.actor,
            &f.entity,
            &f.entity_id,
            &f.from,
            &f.to,
            &f.limit.unwrap_or(200).min(10_000),
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
    )
}

/// The newest audit row of one record whose action starts with `prefix`
/// (`slot.` for a slot's blocks and unblocks): who did what, when.
pub fn last_of(
    conn: &Conn,
    entity: &str,
    entity_id: i64,
    prefix: &str,
) -> rusqlite::Result<Option<(String, String, i64)>> {
    conn.opt(
        "SELECT actor, action, at FROM audit_event
         WHERE entity = ?1 AND entity_id = ?2 AND substr(action, 1, length(?3)) = ?3
         ORDER BY id DESC LIMIT 1",
        &[&entity, &entity_id, &prefix],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// Who made the newest audited change to any of `entities`, and when.
pub fn last_change_of(conn: &Conn, entities: &[&str]) -> rusqlite::Result<Option<(String, i64)>> {
    if entities.is_empty() {
        return Ok(None);
    }
    let marks = (1..=entities.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let params: Vec<&dyn crate::storage::sql::Param> = entities
        .iter()
        .map(|e| e as &dyn crate::storage::sql::Param)
        .collect();
    conn.opt(
        &format!(
            "SELECT actor, at FROM audit_event WHERE entity IN ({marks}) ORDER BY id DESC LIMIT 1"
        ),
        &params,
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}
