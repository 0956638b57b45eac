//! Moving a clinic from its SQLite file into an empty server database: every
//! table of the clinic copied in one server transaction, parents before children,
//! ids kept (the identity sequences moved past them), the row counts compared
//! before the commit. Only the file's own bookkeeping stays behind (its backup
//! runs name files on one PC; its contention figures are per process).
//!
//! The audit log: the file's hash chain is verified before the move (by `check`,
//! which the caller runs) and the rows are copied in their order; on the server
//! the sealer chains them anew under the same clinic key (see [`super::audit`]),
//! so the chain's own columns (`prev_hash`, `hash`, `keyed`) stay behind.

use std::io::Write;

use rusqlite::types::ValueRef;
use rusqlite::Connection;
use serde::Serialize;
use ts_rs::TS;

use super::{to_error, PgClinic};
use crate::error::{Error, Result};

/// The clinic's tables in the order they are copied (a row's parents first).
pub const TABLES: &[&str] = &[
    "setting",
    "staff",
    "sign_in_throttle",
    "doctor",
    "patient",
    "slot",
    "schedule_template",
    "schedule_template_break",
    "time_off",
    "appointment_type",
    "doctor_price",
    "appointment_series",
    "appointment",
    "appointment_status_history",
    "waitlist_entry",
    "ledger",
    "cash_up",
    "outbox",
    "reminder",
    "otp_code",
    "otp_request",
    "otp_attempt",
    "audit_event",
];

/// The file's own bookkeeping, not the clinic's: left behind.
const LEFT_BEHIND: &[&str] = &["backup_run", "contention_counter", "contention_histogram"];

/// Which rows of `table` are the clinic's to move. The copy of the audit key an
/// encrypted file keeps among its settings stays in the file: on the server every
/// desk's role could read it, and the key is what makes the seals unforgeable.
fn moved_rows(table: &str) -> String {
    match table {
        "setting" => format!(
            " WHERE key <> '{}'",
            crate::storage::audit_key::ESCROW_SETTING
        ),
        _ => String::new(),
    }
}

/// The file's audit chain, replaced on the server by its seals.
const AUDIT_CHAIN: &[&str] = &["prev_hash", "hash", "keyed"];

/// What a move copied.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct MovedTable {
    /// The table.
    pub table: String,
    /// Rows in the file, and on the server after the copy (they are equal, or
    /// nothing was committed).
    #[ts(type = "number")]
    pub rows: u64,
}

/// Whether the server database holds nothing of a clinic yet, this clinic
/// (`clinic.id` equal: an earlier move committed), or another one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerHolds {
    /// Every clinic table is empty.
    Nothing,
    /// The clinic with this `clinic.id`.
    ThisClinic,
    /// Rows of another clinic (or of none: rows without a `clinic.id`).
    Other,
}

/// What an empty server database holds all the same: the identity its schema
/// gave it, which the moving clinic's replaces.
const NOT_DATA: &str = "key = 'clinic.id'";

/// `table`'s rows that are a clinic's data (see [`NOT_DATA`]).
fn data_rows(table: &str) -> String {
    match table {
        "setting" => format!("SELECT 1 FROM setting WHERE NOT ({NOT_DATA})"),
        _ => format!("SELECT 1 FROM {}", quote(table)),
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The columns of `table` in the file.
fn file_columns(conn: &Connection, table: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({})", quote(table)))?;
    let cols = stmt
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(cols)
}

/// Every table of the file is either copied or named as left behind: a table a
/// later version adds cannot be forgotten by a move silently.
fn check_every_table_known(conn: &Connection) -> Result<()> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table'
           AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'patient_name_fts%'",
    )?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    match names
        .iter()
        .find(|n| !TABLES.contains(&n.as_str()) && !LEFT_BEHIND.contains(&n.as_str()))
    {
        Some(unknown) => Err(Error::Internal(format!(
            "the clinic file has a table this Frontdesk cannot move ({unknown}); nothing was copied"
        ))),
        None => Ok(()),
    }
}

/// One value in COPY's text format.
fn copy_text(v: ValueRef<'_>, out: &mut Vec<u8>) -> Result<()> {
    match v {
        ValueRef::Null => out.extend_from_slice(b"\\N"),
        ValueRef::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        ValueRef::Real(x) => out.extend_from_slice(x.to_string().as_bytes()),
        ValueRef::Text(t) => {
            for &b in t {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    // the server's text cannot hold a NUL: refused with the row
                    0 => {
                        return Err(Error::invalid(
                            "the clinic file holds text with a NUL character, which the server \
                             cannot store; nothing was copied",
                        ))
                    }
                    _ => out.push(b),
                }
            }
        }
        ValueRef::Blob(_) => return Err(Error::Internal(
            "the clinic file holds binary data where text or a number belongs; nothing was copied"
                .into(),
        )),
    }
    Ok(())
}

impl PgClinic {
    /// What the server database holds (see [`ServerHolds`]); `clinic_id` is the
    /// moving clinic's `clinic.id` setting.
    pub fn holds(&self, clinic_id: &str) -> Result<ServerHolds> {
        let mut s = self.session()?;
        let any = TABLES
            .iter()
            .map(|t| format!("EXISTS ({})", data_rows(t)))
            .collect::<Vec<_>>()
            .join(" OR ");
        let row = s
            .query_one(
                &format!("SELECT {any}, (SELECT value FROM setting WHERE key = 'clinic.id')"),
                &[],
            )
            .map_err(to_error)?;
        let (any, id): (bool, Option<String>) = (row.get(0), row.get(1));
        Ok(match (any, id) {
            (false, _) => ServerHolds::Nothing,
            (true, Some(id)) if id == clinic_id => ServerHolds::ThisClinic,
            (true, _) => ServerHolds::Other,
        })
    }

    /// Copies every clinic table of `file` (read in one transaction the caller
    /// holds, with no writer able to change it) into this empty server database,
    /// adds the `move_note` audit row (by `actor`, at `now`), compares the counts
    /// and commits — all or nothing. Refuses a database that holds any clinic row.
    pub fn move_in(
        &self,
        file: &Connection,
        actor: &str,
        now: i64,
        move_note: &str,
    ) -> Result<Vec<MovedTable>> {
        check_every_table_known(file)?;
        let mut s = self.session()?;
        let mut tx = s.transaction().map_err(to_error)?;
        // two moves into one server take turns; the second finds it not empty
        tx.execute("SELECT pg_advisory_xact_lock(7436, 3)", &[])
            .map_err(to_error)?;
        for table in TABLES {
            let any: bool = tx
                .query_one(&format!("SELECT EXISTS ({})", data_rows(table)), &[])
                .map_err(to_error)?
                .get(0);
            if any {
                return Err(Error::invalid(format!(
                    "the server database is not empty (its {table} table has rows): a clinic is \
                     moved only into an empty one; nothing was copied"
                )));
            }
        }
        tx.execute(&format!("DELETE FROM setting WHERE {NOT_DATA}"), &[])
            .map_err(to_error)?;
        let mut moved = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let server_cols: Vec<String> = tx
                .query(
                    "SELECT column_name::text FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name = $1",
                    &[table],
                )
                .map_err(to_error)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let mut cols = Vec::new();
            for col in file_columns(file, table)? {
                if server_cols.contains(&col) {
                    cols.push(col);
                } else if !(*table == "audit_event" && AUDIT_CHAIN.contains(&col.as_str())) {
                    return Err(Error::Internal(format!(
                        "the server's {table} table has no column {col}; nothing was copied"
                    )));
                }
            }
            let list = cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
            let order = if cols.iter().any(|c| c == "id") {
                " ORDER BY id"
            } else {
                ""
            };
            let mut stmt = file.prepare(&format!(
                "SELECT {list} FROM {}{}{order}",
                quote(table),
                moved_rows(table)
            ))?;
            let mut rows = stmt.query([])?;
            let mut writer = tx
                .copy_in(&format!("COPY {} ({list}) FROM STDIN", quote(table)))
                .map_err(to_error)?;
            let (mut buf, mut count) = (Vec::with_capacity(1 << 16), 0u64);
            while let Some(row) = rows.next()? {
                for i in 0..cols.len() {
                    if i > 0 {
                        buf.push(b'\t');
                    }
                    copy_text(row.get_ref(i)?, &mut buf)?;
                }
                buf.push(b'\n');
                count += 1;
                if buf.len() >= 1 << 20 {
                    writer
                        .write_all(&buf)
                        .map_err(|e| Error::Internal(format!("copying {table}: {e}")))?;
                    buf.clear();
                }
            }
            writer
                .write_all(&buf)
                .map_err(|e| Error::Internal(format!("copying {table}: {e}")))?;
            let copied = writer.finish().map_err(to_error)?;
            if copied != count {
                return Err(Error::Internal(format!(
                    "{table}: {count} rows read from the file but {copied} copied; nothing was committed"
                )));
            }
            moved.push(MovedTable {
                table: table.to_string(),
                rows: count,
            });
            // new rows continue after the moved ones (the audit log's numbers come
            // from its own sequence, which the copy advanced)
            if *table != "audit_event" && server_cols.iter().any(|c| c == "id") {
                tx.execute(
                    &format!(
                        "SELECT setval(pg_get_serial_sequence($1, 'id'), coalesce(max(id), 0) + 1, false)
                         FROM {}",
                        quote(table)
                    ),
                    &[&quote(table)],
                )
                .map_err(to_error)?;
            }
        }
        tx.execute(
            "INSERT INTO audit_event (at, actor, action, entity, detail)
             VALUES ($1, $2, 'clinic.move_in', 'clinic', $3)",
            &[&now, &actor, &move_note],
        )
        .map_err(to_error)?;
        // the counts, read back inside the transaction before it commits
        for m in &moved {
            let mut on_server: i64 = tx
                .query_one(&format!("SELECT count(*) FROM {}", quote(&m.table)), &[])
                .map_err(to_error)?
                .get(0);
            if m.table == "audit_event" {
                on_server -= 1;
            }
            if on_server as u64 != m.rows {
                return Err(Error::Internal(format!(
                    "{}: {} rows in the file but {on_server} on the server; nothing was committed",
                    m.table, m.rows
                )));
            }
        }
        tx.commit().map_err(to_error)?;
        Ok(moved)
    }

    /// The rows of each clinic table on the server (the move's counts, checked
    /// again by a move that finds its clinic already there).
    pub fn table_counts(&self) -> Result<Vec<MovedTable>> {
        let mut s = self.session()?;
        TABLES
            .iter()
            .map(|t| {
                let n: i64 = s
                    .query_one(&format!("SELECT count(*) FROM {}", quote(t)), &[])
                    .map_err(to_error)?
                    .get(0);
                Ok(MovedTable {
                    table: t.to_string(),
                    rows: n as u64,
                })
            })
            .collect()
    }
}

/// The rows of each clinic table in the file.
pub fn file_counts(file: &Connection) -> Result<Vec<MovedTable>> {
    TABLES
        .iter()
        .map(|t| {
            let n: i64 = file.query_row(
                &format!("SELECT count(*) FROM {}{}", quote(t), moved_rows(t)),
                [],
                |r| r.get(0),
            )?;
            Ok(MovedTable {
                table: t.to_string(),
                rows: n as u64,
            })
        })
        .collect()
}
