//! Encrypting a plain database and changing the key of an encrypted one.
//!
//! Both rewrite the whole database under a new key and swap it in exactly as a
//! restore swaps in a backup (see [`super::restore`]): every desk closed, nobody
//! else holding the file, the rewritten copy checked (integrity, schema, audit
//! chain, and here also the row count of every table against the database it was
//! made from), a safety copy of the old file, an atomic rename.
//!
//! - **Encrypt**: the new key is made and kept in the key folder first, then the
//!   plain database is exported into an encrypted file (SQLCipher's
//!   `sqlcipher_export`). The plain safety copy is deleted once the encrypted
//!   database is in place. Plain backups already in the backup folder stay plain:
//!   the report names them. The old file's blocks may remain on the disk until
//!   the filesystem reuses them — SQLite cannot wipe what a filesystem keeps.
//! - **Change the key**: the same under a fresh key and salt. The old key stays
//!   in the key folder, so backups taken before still open on this computer, and
//!   elsewhere with the old recovery key; each backup names its key id in its
//!   first bytes.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::restore::{swap_in, Incoming};
use crate::domain::auth::{Action, Actor};
use crate::error::{Error, Result};
use crate::storage::audit_key::KeyFolder;
use crate::storage::cipher::{DbKey, FileKind};

/// Which rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub enum Conversion {
    /// A plain database becomes encrypted.
    Encrypt,
    /// An encrypted database gets a new key.
    ChangeKey,
}

/// What a conversion did.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct ConversionReport {
    /// The database file.
    pub database: String,
    /// The new key's id.
    pub key_id: String,
    /// The new recovery key: print it and lock it away.
    pub recovery_key: String,
    /// The key id the database had before (`None`: it was plain).
    pub previous_key_id: Option<String>,
    /// Rows in the rewritten database, every table counted against the old one.
    #[ts(type = "number")]
    pub rows: i64,
    /// Plain backups still in the backup folder (delete them once an encrypted
    /// backup was taken, or keep them locked away).
    pub plain_backups: Vec<String>,
    /// The safety copy of the old database, when it was kept (a key change; an
    /// encrypt deletes its plain one).
    pub safety_copy: Option<String>,
    /// How long it took (milliseconds).
    #[ts(type = "number")]
    pub millis: u64,
}

/// Encrypts the database at `db`, or changes its key (admins). No desk may have
/// it open, in this process or another; the new key is kept in this computer's
/// key folder.
pub fn convert(
    actor: &Actor,
    db: &Path,
    conversion: Conversion,
    now: i64,
) -> Result<ConversionReport> {
    let keys = KeyFolder::new(KeyFolder::default_dir(), db)?;
    convert_with(
        actor,
        db,
        conversion,
        now,
        &keys,
        &mut crate::domain::progress::ignore,
    )
}

/// [`convert`] with the key folder `keys`.
pub(crate) fn convert_with(
    actor: &Actor,
    db: &Path,
    conversion: Conversion,
    now: i64,
    keys: &KeyFolder,
    progress: &mut dyn FnMut(crate::domain::progress::Progress),
) -> Result<ConversionReport> {
    actor.require(Action::ManageKeys)?;
    let db = crate::storage::db::resolve_path(db)?;
    let before = crate::storage::cipher::file_kind(&db)?;
    match (conversion, before) {
        (_, FileKind::New) => {
            return Err(Error::invalid(format!(
                "there is no database at {}",
                db.display()
            )))
        }
        (_, FileKind::NotADatabase) => {
            return Err(Error::invalid(format!(
                "{} is not a Frontdesk database",
                db.display()
            )))
        }
        (Conversion::Encrypt, FileKind::Encrypted(_)) => {
            return Err(Error::invalid(format!(
                "the database is already encrypted (key id {}); to give it a new key, change the key instead",
                before.key_id().unwrap_or_default()
            )))
        }
        (Conversion::ChangeKey, FileKind::Plain) => {
            return Err(Error::invalid(
                "the database is not encrypted; encrypt it first (that makes its first key)",
            ))
        }
        _ => {}
    }
    // this computer can open it (an encrypted one needs its key here)
    crate::storage::cipher::key_of(&db)?;
    let key = DbKey::generate();
    let action = match conversion {
        Conversion::Encrypt => "database.encrypt",
        Conversion::ChangeKey => "database.change_key",
    };
    let report = swap_in(
        actor,
        &db,
        Incoming::Rewritten {
            key: &key,
            action,
            // an encrypt's safety copy is the plain database: it must not stay
            keep_old: conversion == Conversion::ChangeKey,
            was: before,
        },
        now,
        keys,
        progress,
    )?;
    Ok(ConversionReport {
        database: report.database,
        key_id: key.id(),
        recovery_key: key.recovery_key(),
        previous_key_id: before.key_id(),
        rows: report.restored.appointments + report.restored.patients,
        plain_backups: plain_backups(&db)?,
        safety_copy: report.safety_copy,
        millis: report.millis,
    })
}

/// The plain backups in the database's backup folder.
fn plain_backups(db: &Path) -> Result<Vec<String>> {
    let conn = crate::storage::db::open_connection(db, Duration::from_secs(10))?;
    let folder = super::backup_folder(&crate::storage::Conn::Lite(&conn), db);
    Ok(super::list_folder(&folder)?
        .into_iter()
        .filter(|b| {
            crate::storage::cipher::file_kind(Path::new(&b.path)).ok() == Some(FileKind::Plain)
        })
        .map(|b| b.path)
        .collect())
}

/// Writes the database at `db` (nobody else has it open) into a new file `to`
/// under `key`, and checks that every table came across whole.
pub(super) fn rewrite(db: &Path, to: &Path, key: &DbKey) -> Result<()> {
    let conn = crate::storage::db::open_connection(db, Duration::from_secs(10))?;
    crate::platform::create_private_file(to)
        .map_err(|e| Error::Internal(format!("cannot create {}: {e}", to.display())))?;
    let target = to
        .to_str()
        .ok_or_else(|| Error::invalid("the database path is not valid text"))?;
    conn.execute(
        &format!(
            "ATTACH DATABASE ?1 AS rewritten KEY {}",
            key.attach_clause()
        ),
        [target],
    )?;
    let outcome = (|| {
        conn.query_row("SELECT sqlcipher_export('rewritten')", [], |_| Ok(()))?;
        // the export copies schema and rows, not the schema version
        let version: i64 = conn.query_row("PRAGMA main.user_version", [], |r| r.get(0))?;
        conn.execute_batch(&format!("PRAGMA rewritten.user_version = {version};"))?;
        let tables: Vec<String> = conn
            // virtual tables (the patient search) keep their rows in shadow tables,
            // which are counted; the export copies their schema rows as they are
            .prepare("SELECT name FROM main.sqlite_schema WHERE type = 'table' AND rootpage > 0")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for table in tables {
            let quoted = table.replace('"', "\"\"");
            let count = |schema: &str| {
                conn.query_row(
                    &format!("SELECT count(*) FROM {schema}.\"{quoted}\""),
                    [],
                    |r| r.get::<_, i64>(0),
                )
            };
            let (old, new) = (count("main")?, count("rewritten")?);
            if old != new {
                return Err(Error::Internal(format!(
                    "the rewritten database has {new} rows in {table}, the database {old}; nothing was changed"
                )));
            }
        }
        if crate::storage::cipher::file_kind(db)? == FileKind::Plain {
            // a plain file's copy of "the audit key" is whatever anyone wrote there:
            // the encrypted database gets this computer's key when it is opened
            conn.execute(
                "DELETE FROM rewritten.setting WHERE key = ?1",
                [crate::storage::audit_key::ESCROW_SETTING],
            )?;
        }
        Ok(())
    })();
    let _ = conn.execute_batch("DETACH DATABASE rewritten;");
    outcome
}
