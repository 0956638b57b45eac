//! The audit log's key and its head anchor, kept outside the database.
//!
//! Each audit row is chained to the previous one with an HMAC-SHA-256 under a
//! random 256-bit key of the clinic (see [`crate::storage::audit`]). Whoever can
//! edit the database file but not read the key cannot rewrite a row and recompute
//! the chain after it. The key lives in a key folder of the operating-system user
//! that runs the desks, never in the data or backup folder:
//! `FRONTDESK_KEYS_DIR` when set, else `~/.config/org.frontdesk.desk/keys` on Linux
//! (`~/Library/Application Support/org.frontdesk.desk/keys` on macOS,
//! `%APPDATA%\org.frontdesk.desk\keys` on Windows), folder 0700, files 0600.
//!
//! Files are named after the clinic's random id (`clinic.id` in the settings):
//! - `<id>.audit-key` — the key, 64 hex digits;
//! - `<id>.audit-head` — the **anchor**: the first keyed row and the newest row
//!   (id and MAC) any desk on this computer saw saved. Deleting the newest rows of
//!   the log (after dropping its delete trigger) leaves the anchor pointing past the
//!   end, which `check` reports. The anchor is advanced after the write-ahead log
//!   holding the row was synced, so a power cut cannot leave it ahead of the data.
//!   It is rewritten in place and not synced itself: a power cut may leave it
//!   behind (harmless), empty or zero-filled; the last two read as no anchor, and
//!   the next open makes it again from the log (the power-cut harness,
//!   `stress::power_cut`, does all three to it).
//!
//! Moving a clinic to another computer means copying its key folder along with the
//! database (or restoring a backup there after copying it).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rand::RngCore;

use crate::error::{Error, Result};

/// The variable naming the key folder.
pub const KEYS_DIR_ENV: &str = "FRONTDESK_KEYS_DIR";

/// A clinic's audit key.
#[derive(Clone)]
pub struct AuditKey(pub(crate) [u8; 32]);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(…)")
    }
}

impl AuditKey {
    /// A fresh random key (tools and tests; a clinic's key comes from [`KeyFolder`]).
    pub fn random() -> Self {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        AuditKey(k)
    }
}

/// The head of the audit log as recorded outside the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The first row chained with the key (earlier rows use plain SHA-256).
    pub keyed_from: i64,
    /// The newest row seen saved (0: none yet).
    pub head_id: i64,
    /// Its MAC.
    pub head_hash: String,
}

/// The key folder of this computer's user.
#[derive(Debug, Clone)]
pub struct KeyFolder {
    dir: PathBuf,
}

impl KeyFolder {
    /// `FRONTDESK_KEYS_DIR`, else the user's configuration folder.
    pub fn default_dir() -> PathBuf {
        if let Some(p) = std::env::var_os(KEYS_DIR_ENV).filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        dirs::config_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join(crate::storage::db::APP_IDENTIFIER)
            .join("keys")
    }

    /// The folder `dir` for a clinic on its server (no data file to keep it apart
    /// from).
    pub fn for_server(dir: PathBuf) -> Self {
        KeyFolder {
            dir: std::path::absolute(&dir).unwrap_or(dir),
        }
    }

    /// The folder `dir` (created 0700 when first needed); refused when it is the
    /// database's folder or inside it, where a copy of the data would carry the key.
    pub fn new(dir: PathBuf, db: &Path) -> Result<Self> {
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        if let Some(data) = db.parent() {
            if dir.starts_with(data) {
                return Err(Error::Unusable(format!(
                    "the key folder {} is inside the database folder {}; keep keys apart from the data \
                     (set {KEYS_DIR_ENV} to a folder elsewhere)",
                    dir.display(),
                    data.display()
                )));
            }
        }
        Ok(KeyFolder { dir })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, clinic: &str, suffix: &str) -> PathBuf {
        self.dir.join(format!("{clinic}.{suffix}"))
    }

    /// Where the clinic's key is (for messages).
    pub fn key_path(&self, clinic: &str) -> PathBuf {
        self.path(clinic, "audit-key")
    }

    /// The clinic's key, `None` when this computer does not have it.
    pub fn load(&self, clinic: &str) -> Result<Option<AuditKey>> {
        let path = self.key_path(clinic);
        match std::fs::read_to_string(&path) {
            Ok(text) => parse_key(text.trim()).map(Some).ok_or_else(|| {
                Error::Unusable(format!("the audit key {} is damaged", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Unusable(format!(
                "cannot read the audit key {}: {e}",
                path.display()
            ))),
        }
    }

    /// Creates the clinic's key (0600) unless another desk just did; returns the
    /// key that is now on disk and whether this call made it. The key is written
    /// whole to a temporary file first and then linked into place, so another desk
    /// never reads a half-written key.
    pub fn create(&self, clinic: &str) -> Result<(AuditKey, bool)> {
        self.create_with(clinic, AuditKey::random())
    }

    fn create_with(&self, clinic: &str, key: AuditKey) -> Result<(AuditKey, bool)> {
        crate::platform::create_private_dir(&self.dir)?;
        let path = self.key_path(clinic);
        let temp = self.path(
            clinic,
            &format!("audit-key.{}.tmp", hex::encode(AuditKey::random().0)),
        );
        let written = crate::platform::create_private_file(&temp).and_then(|mut f| {
            f.write_all(hex::encode(key.0).as_bytes())?;
            f.sync_all()
        });
        let linked = written.and_then(|()| std::fs::hard_link(&temp, &path));
        let _ = std::fs::remove_file(&temp);
        match linked {
            Ok(()) => {
                crate::platform::sync_dir(&self.dir);
                Ok((key, true))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let key = self.load(clinic)?.ok_or_else(|| {
                    Error::Unusable("the audit key vanished while it was created".into())
                })?;
                Ok((key, false))
            }
            Err(e) => Err(Error::Unusable(format!(
                "cannot create the audit key in {}: {e}",
                self.dir.display()
            ))),
        }
    }

    /// Keeps `key` (found in the clinic's encrypted database) as the clinic's key,
    /// unless this computer has one already; returns the key now on disk.
    pub fn adopt(&self, clinic: &str, key: AuditKey) -> Result<AuditKey> {
        Ok(self.create_with(clinic, key)?.0)
    }

    /// The clinic's anchor file, opened (created 0600 when missing).
    pub fn anchor(&self, clinic: &str) -> Result<AnchorFile> {
        self.anchor_named(clinic, "audit-head")
    }

    /// The anchor of the clinic's audit seals on its server (a chain of its own:
    /// the server's seals, not the file's hashes).
    pub fn server_anchor(&self, clinic: &str) -> Result<AnchorFile> {
        self.anchor_named(clinic, "server-audit-head")
    }

    fn anchor_named(&self, clinic: &str, suffix: &str) -> Result<AnchorFile> {
        crate::platform::create_private_dir(&self.dir)?;
        let path = self.path(clinic, suffix);
        let file = match crate::platform::create_private_file(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| Error::Unusable(format!("cannot open {}: {e}", path.display())))?,
            Err(e) => {
                return Err(Error::Unusable(format!(
                    "cannot create {}: {e}",
                    path.display()
                )))
            }
        };
        Ok(AnchorFile {
            file: Mutex::new(file),
        })
    }
}

fn parse_key(text: &str) -> Option<AuditKey> {
    let bytes = hex::decode(text).ok()?;
    Some(AuditKey(bytes.try_into().ok()?))
}

/// The open anchor file of one clinic. Writers of several processes advance it
/// under an exclusive `flock`, and only forwards.
pub struct AnchorFile {
    file: Mutex<File>,
}

impl AnchorFile {
    /// The anchor, `None` while none was written.
    pub fn read(&self) -> Result<Option<Anchor>> {
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.lock_shared()
            .map_err(|e| Error::Internal(format!("cannot lock the audit anchor: {e}")))?;
        let anchor = read_anchor(&mut f);
        let _ = f.unlock();
        anchor
    }

    /// When the anchor was last written (Unix seconds, this PC's clock), `None`
    /// while none was.
    pub fn written_at(&self) -> Option<i64> {
        let f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let meta = f.metadata().ok().filter(|m| m.len() > 0)?;
        let at = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some(at.as_secs() as i64)
    }

    /// Records `(id, hash)` as the newest saved row unless the anchor is already
    /// at or past it. `keyed_from` is kept from the file once set.
    pub fn advance(&self, keyed_from: i64, id: i64, hash: &str) -> Result<()> {
        self.write_if(keyed_from, id, hash, |old| old.head_id < id)
    }

    /// Sets the anchor to exactly `(id, hash)` (a restore moved the log back).
    pub fn reset(&self, keyed_from: i64, id: i64, hash: &str) -> Result<()> {
        self.write_if(keyed_from, id, hash, |_| true)
    }

    /// Empties the anchor: no row is anchored (a restored log without seals).
    pub fn clear(&self) -> Result<()> {
        let failed =
            |e: std::io::Error| Error::Internal(format!("cannot clear the audit anchor: {e}"));
        let f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.lock().map_err(failed)?;
        let outcome = f.set_len(0).map_err(failed);
        let _ = f.unlock();
        outcome
    }

    fn write_if(
        &self,
        keyed_from: i64,
        id: i64,
        hash: &str,
        replace: impl Fn(&Anchor) -> bool,
    ) -> Result<()> {
        let failed =
            |e: std::io::Error| Error::Internal(format!("cannot write the audit anchor: {e}"));
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.lock().map_err(failed)?;
        let outcome = (|| {
            let old = read_anchor(&mut f)?;
            if old.as_ref().is_some_and(|o| !replace(o)) {
                return Ok(());
            }
            let keyed_from = old.map(|o| o.keyed_from).unwrap_or(keyed_from);
            let line = format!("{keyed_from} {id} {hash}\n");
            f.set_len(0)
                .and_then(|()| f.seek(SeekFrom::Start(0)))
                .and_then(|_| f.write_all(line.as_bytes()))
                .map_err(failed)
        })();
        let _ = f.unlock();
        outcome
    }
}

fn read_anchor(f: &mut File) -> Result<Option<Anchor>> {
    let mut text = String::new();
    f.seek(SeekFrom::Start(0))
        .and_then(|_| f.read_to_string(&mut text))
        .map_err(|e| Error::Internal(format!("cannot read the audit anchor: {e}")))?;
    // The anchor is rewritten in place and never synced (it only has to stay behind
    // the synced log). A power cut can leave the new length on disk without the new
    // line: zeros, which say nothing — as good as no anchor (which is re-made from
    // the log at the next open), never a reason to refuse to open the clinic.
    if !text.is_empty() && text.bytes().all(|b| b == 0) {
        tracing::warn!("the audit anchor file holds only zeros (a power cut while it was written); it is made again");
        return Ok(None);
    }
    let parts: Vec<&str> = text.split_whitespace().collect();
    Ok(match parts.as_slice() {
        [] => None,
        [from, id, hash] => Some(Anchor {
            keyed_from: from.parse().map_err(|_| damaged())?,
            head_id: id.parse().map_err(|_| damaged())?,
            head_hash: hash.to_string(),
        }),
        _ => return Err(damaged()),
    })
}

fn damaged() -> Error {
    Error::Unusable("the audit anchor file is damaged".into())
}

/// The setting that keeps a copy of the audit key inside an encrypted database.
///
/// A clinic moving to a new computer with only a backup and its recovery key
/// must be able to restore and keep sealing its log. Inside an encrypted file the
/// copy is as safe as the rows it seals: whoever can read it holds the database
/// key, and could rewrite every row anyway. A plain database never gets one.
pub(crate) const ESCROW_SETTING: &str = "clinic.audit_key_copy";

/// The audit key kept in the (encrypted) database, if any.
pub(crate) fn escrowed(conn: &rusqlite::Connection) -> Result<Option<AuditKey>> {
    Ok(
        crate::storage::settings::get(&crate::storage::Conn::Lite(conn), ESCROW_SETTING)?
            .as_deref()
            .and_then(parse_key),
    )
}

/// What a desk needs to seal the audit log of the database it opened: the
/// clinic's key (if this computer has it) and its anchor.
pub struct Seal {
    /// The clinic's id (`clinic.id`).
    pub clinic: String,
    /// The key; `None` when the log is sealed with a key this computer lacks.
    pub key: Option<AuditKey>,
    /// The first row sealed with the key, as recorded outside the database.
    pub keyed_from: i64,
    /// The anchor file.
    pub anchor: AnchorFile,
    /// Why nothing can be saved without the key (the message names the file).
    pub missing: String,
    /// The key folder it came from.
    pub folder: KeyFolder,
}

impl Seal {
    /// Loads (or, for a clinic whose log was never sealed, creates) the key of the
    /// clinic in the database at `db`, and its anchor.
    pub fn open(db: &Path, folder: &KeyFolder) -> Result<Seal> {
        let conn = crate::storage::db::open_connection(db, std::time::Duration::from_secs(5))?;
        let clinic =
            crate::storage::settings::get(&crate::storage::Conn::Lite(&conn), "clinic.id")?
                .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or_else(|| Error::Unusable("the database has no valid clinic id".into()))?;
        let first_sealed = crate::storage::audit::first_sealed(&crate::storage::Conn::Lite(&conn))?;
        let encrypted = crate::storage::cipher::key_of(db)?.is_some();
        let escrow = match encrypted {
            true => escrowed(&conn)?,
            false => None,
        };
        let key = match (folder.load(&clinic)?, first_sealed, escrow.clone()) {
            (Some(key), _, _) => Some(key),
            // a new computer that opened the database with the recovery key
            (None, _, Some(copy)) => Some(folder.adopt(&clinic, copy)?),
            (None, Some(_), None) => None,
            (None, None, None) => Some(folder.create(&clinic)?.0),
        };
        if let (true, Some(key)) = (encrypted, &key) {
            // once per database, like a migration (and again if the copy is not this
            // computer's key: one planted in a restored file is replaced)
            if escrow.as_ref().map(|c| c.0) != Some(key.0) {
                conn.execute(
                    "INSERT OR REPLACE INTO setting (key, value) VALUES (?1, ?2)",
                    [ESCROW_SETTING, &hex::encode(key.0)],
                )?;
            }
        }
        let anchor = folder.anchor(&clinic)?;
        let keyed_from = match anchor.read()? {
            Some(a) => a.keyed_from,
            None => {
                let (head_id, head_hash) =
                    crate::storage::audit::head(&crate::storage::Conn::Lite(&conn))?;
                let keyed_from = first_sealed.unwrap_or(head_id + 1);
                anchor.reset(keyed_from, head_id, &head_hash)?;
                keyed_from
            }
        };
        let missing = format!(
            "the audit key of this clinic is not on this computer ({}). Copy it from the computer where the \
             clinic was set up; until then nothing can be saved here.",
            folder.key_path(&clinic).display()
        );
        Ok(Seal {
            clinic,
            key,
            keyed_from,
            anchor,
            missing,
            folder: folder.clone(),
        })
    }

    /// Installs the sealing function on a connection that writes the log.
    pub fn install(&self, conn: &rusqlite::Connection) -> Result<()> {
        crate::storage::audit::register_mac(
            &crate::storage::Conn::Lite(conn),
            self.key.clone(),
            self.missing.clone(),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchor_holding(bytes: &[u8]) -> (std::path::PathBuf, AnchorFile) {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "frontdesk-anchor-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.audit-head");
        std::fs::write(&path, bytes).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        (
            dir,
            AnchorFile {
                file: Mutex::new(file),
            },
        )
    }

    #[test]
    fn an_anchor_left_zero_filled_by_a_power_cut_counts_as_none_and_is_written_again() {
        let (dir, anchor) = anchor_holding(&[0u8; 80]);
        assert!(anchor.read().unwrap().is_none());
        anchor.advance(1, 7, "abc").unwrap();
        let a = anchor.read().unwrap().expect("written again");
        assert_eq!(
            (a.keyed_from, a.head_id, a.head_hash.as_str()),
            (1, 7, "abc")
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_anchor_with_other_junk_is_still_damaged() {
        let (dir, anchor) = anchor_holding(b"1 2\n");
        assert!(anchor.read().is_err());
        let (dir2, anchor) = anchor_holding(b"\x001 2 abc\n");
        assert!(anchor.read().is_err());
        let _ = std::fs::remove_dir_all(dir);
        let _ = std::fs::remove_dir_all(dir2);
    }
}
