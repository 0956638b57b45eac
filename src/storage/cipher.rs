//! Encryption at rest: the clinic database and its backups are SQLCipher files
//! (AES-256 pages, each with an HMAC-SHA-512), unreadable without the clinic's key.
//!
//! - **The key** is 32 random bytes made when the database is created, used raw
//!   (no password derivation: the key is random, so opening a connection costs
//!   nothing extra). It comes with 16 random bytes of **salt**, which SQLCipher
//!   writes in clear as the first 16 bytes of every file encrypted under the key —
//!   the database and each backup. The salt is not secret; it names the key (its
//!   first four bytes are the **key id** people see), so a desk finds the key of
//!   any file by reading its first 16 bytes, and a backup says by itself which key
//!   it needs, even after the clinic changed its key.
//! - **Where it is kept**: in the operating system's keyring when there is one
//!   (Secret Service on Linux desktops, the Keychain on macOS, the Credential
//!   Manager on Windows; entry `org.frontdesk.desk` / `database-key-<salt>`),
//!   otherwise in this computer's key folder (see [`crate::storage::audit_key`]: the
//!   user's configuration folder; never the data or backup folder) as
//!   `<salt>.db-key`, 0600, next to the audit key. Setting `FRONTDESK_KEYS_DIR`
//!   means "keep keys in this folder": the keyring is then left alone (tests,
//!   servers without a desktop session). Old keys stay after a key change, so old
//!   backups still open on this computer.
//! - **The recovery key** is the same 32 bytes written for people: 52 characters of
//!   Crockford's base 32 in groups of four (no I, L, O or U; typing them anyway, or
//!   lower case, is forgiven). With it, a new computer opens the database or a
//!   backup ([`unlock_with_recovery_key`]) and keeps the key from then on.
//!
//! A plain (unencrypted) database from an older Frontdesk still opens as it is;
//! `frontdesk encrypt` converts it (see [`crate::storage::backup::convert`](mod@crate::storage::backup::convert)).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rand::RngCore;
use rusqlite::Connection;

use crate::error::{Error, Result};

/// The first 16 bytes of a plain SQLite database.
const PLAIN_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Crockford's base 32 alphabet.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A database key and the salt that names it.
#[derive(Clone, PartialEq, Eq)]
pub struct DbKey {
    key: [u8; 32],
    salt: [u8; 16],
}

impl std::fmt::Debug for DbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DbKey({})", self.id())
    }
}

impl DbKey {
    /// A fresh random key with a fresh salt.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut key);
        // a salt that reads as text would make the file look like no database at
        // all (see [`FileKind::NotADatabase`]): drawn again, about once in 4 million
        while {
            rand::rng().fill_bytes(&mut salt);
            head_kind(&salt) != FileKind::Encrypted(salt)
        } {}
        DbKey { key, salt }
    }

    /// The key id people see: the first four bytes of the salt, `ab12-cd34`.
    pub fn id(&self) -> String {
        key_id(&self.salt)
    }

    /// The key as people write it down: 13 groups of four characters.
    pub fn recovery_key(&self) -> String {
        let mut bits: u32 = 0;
        let mut n = 0;
        let mut chars = Vec::with_capacity(52);
        for b in self.key {
            bits = ((bits << 8) | b as u32) & 0xffff;
            n += 8;
            while n >= 5 {
                n -= 5;
                chars.push(ALPHABET[((bits >> n) & 31) as usize]);
            }
        }
        chars.push(ALPHABET[((bits << (5 - n)) & 31) as usize]);
        chars
            .chunks(4)
            .map(|g| String::from_utf8_lossy(g).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// The key written as a recovery key, for a file with `salt`.
    fn from_recovery_key(text: &str, salt: [u8; 16]) -> Result<Self> {
        let wrong = || {
            Error::invalid(
                "that is not a recovery key: it has 52 letters and digits in groups of four, as printed \
                 when the clinic was set up",
            )
        };
        let mut bits: u64 = 0;
        let mut n = 0;
        let mut key = Vec::with_capacity(33);
        let mut count = 0;
        for c in text.chars().filter(|c| !c.is_whitespace() && *c != '-') {
            let c = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            let v = ALPHABET
                .iter()
                .position(|&a| a as char == c)
                .ok_or_else(wrong)?;
            count += 1;
            bits = ((bits << 5) | v as u64) & 0xffff;
            n += 5;
            if n >= 8 {
                n -= 8;
                key.push((bits >> n) as u8);
            }
        }
        // 52 characters carry 260 bits: the key and four zero bits
        if count != 52 || key.len() != 32 || bits & ((1 << n) - 1) != 0 {
            return Err(wrong());
        }
        Ok(DbKey {
            key: key.try_into().map_err(|_| wrong())?,
            salt,
        })
    }

    /// The `PRAGMA key` value: raw key and salt, in hex.
    fn pragma(&self) -> String {
        format!(
            "PRAGMA key = \"x'{}{}'\";",
            hex::encode(self.key),
            hex::encode(self.salt)
        )
    }

    /// Keys `conn` (a connection that has not read anything yet) with this key.
    pub fn apply(&self, conn: &Connection) -> rusqlite::Result<()> {
        conn.execute_batch(&self.pragma())
    }

    /// The `KEY` clause for `ATTACH DATABASE … AS x KEY …`.
    pub(crate) fn attach_clause(&self) -> String {
        format!("\"x'{}{}'\"", hex::encode(self.key), hex::encode(self.salt))
    }
}

fn key_id(salt: &[u8; 16]) -> String {
    format!("{}-{}", hex::encode(&salt[..2]), hex::encode(&salt[2..4]))
}

/// What a file is, judged by its first 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Missing or empty: a database yet to be created.
    New,
    /// A plain SQLite database.
    Plain,
    /// Encrypted under the key with this salt (or not a database at all, which
    /// opening it with the key shows).
    Encrypted([u8; 16]),
    /// Not a database: shorter than a header, or text (16 bytes that are all
    /// printable or white space; a salt is drawn again rather than look like that).
    NotADatabase,
}

impl FileKind {
    /// The key id people see, for an encrypted file.
    pub fn key_id(&self) -> Option<String> {
        match self {
            FileKind::Encrypted(salt) => Some(key_id(salt)),
            _ => None,
        }
    }
}

/// Reads the first 16 bytes of `path`.
pub fn file_kind(path: &Path) -> Result<FileKind> {
    let mut head = Vec::with_capacity(16);
    match std::fs::File::open(path) {
        Ok(f) => {
            f.take(16)
                .read_to_end(&mut head)
                .map_err(|e| Error::Unusable(format!("cannot read {}: {e}", path.display())))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileKind::New),
        Err(e) => {
            return Err(Error::Unusable(format!(
                "cannot open {}: {e}",
                path.display()
            )))
        }
    }
    Ok(head_kind(&head))
}

/// What a file starting with `head` (its first 16 bytes, or all of it) is.
fn head_kind(head: &[u8]) -> FileKind {
    let text = |b: &u8| b.is_ascii_graphic() || b.is_ascii_whitespace();
    match <[u8; 16]>::try_from(head) {
        _ if head.is_empty() => FileKind::New,
        Ok(h) if &h == PLAIN_HEADER => FileKind::Plain,
        Ok(h) if h.iter().all(text) => FileKind::NotADatabase,
        Ok(h) => FileKind::Encrypted(h),
        Err(_) => FileKind::NotADatabase,
    }
}

/// Keys known to this process, by salt.
static KNOWN: Mutex<Option<HashMap<[u8; 16], [u8; 32]>>> = Mutex::new(None);
/// Key folders this process was told about (a clinic opened with its own folder).
static FOLDERS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn remember(key: &DbKey) {
    KNOWN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(key.salt, key.key);
}

/// Looks in `folder` too when looking for a key (first in line).
pub(crate) fn use_folder(folder: &Path) {
    let mut folders = FOLDERS.lock().unwrap_or_else(|p| p.into_inner());
    if !folders.iter().any(|f| f == folder) {
        folders.insert(0, folder.to_path_buf());
    }
}

/// Whether this process keeps keys in the OS keyring (see [`use_os_keyring`]).
static OS_KEYRING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// How long a keyring may take to answer (a locked one may wait for a person to
/// unlock it in a dialog, for ever); after that the key folder is used.
const KEYRING_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// Lets this process keep database keys in the OS keyring (the app and the
/// command line turn it on at start; the library alone, and so every test, uses
/// key files only and never touches a developer's own keyring).
pub fn use_os_keyring() {
    OS_KEYRING.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Runs `f` on the keyring entry of the key with `salt`, when keys go to the OS
/// keyring (turned on, and the key folder is the default one: no
/// `FRONTDESK_KEYS_DIR`), within [`KEYRING_PATIENCE`]. `None`: no keyring to ask,
/// or it did not answer in time.
fn with_keyring<T: Send + 'static>(
    folder: &Path,
    salt: &[u8; 16],
    f: impl FnOnce(&keyring::Entry) -> keyring::Result<T> + Send + 'static,
) -> Option<keyring::Result<T>> {
    let default = OS_KEYRING.load(std::sync::atomic::Ordering::Relaxed)
        && std::env::var_os(crate::storage::audit_key::KEYS_DIR_ENV).is_none_or(|v| v.is_empty())
        && folder == crate::storage::audit_key::KeyFolder::default_dir();
    if !default {
        return None;
    }
    let user = format!("database-key-{}", hex::encode(salt));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(
            keyring::Entry::new(crate::storage::db::APP_IDENTIFIER, &user).and_then(|e| f(&e)),
        );
    });
    match rx.recv_timeout(KEYRING_PATIENCE) {
        Ok(answer) => Some(answer),
        Err(_) => {
            tracing::warn!(
                "the OS keyring did not answer within {KEYRING_PATIENCE:?}; using the key folder"
            );
            None
        }
    }
}

/// The key with `salt` from the OS keyring, if it is used and has the key.
fn from_keyring(folder: &Path, salt: &[u8; 16]) -> Option<[u8; 32]> {
    match with_keyring(folder, salt, |e| e.get_password())? {
        Ok(text) => hex::decode(text.trim()).ok()?.try_into().ok(),
        Err(keyring::Error::NoEntry) => None,
        Err(e) => {
            tracing::warn!("the OS keyring could not be read ({e}); looking in the key folder");
            None
        }
    }
}

fn key_file(folder: &Path, salt: &[u8; 16]) -> PathBuf {
    folder.join(format!("{}.db-key", hex::encode(salt)))
}

/// The key with `salt`: from this process's memory, else a key folder this process
/// uses, else the default key folder. `None` when this computer does not have it.
pub fn find(salt: &[u8; 16]) -> Result<Option<DbKey>> {
    if let Some(key) = KNOWN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(|m| m.get(salt))
    {
        return Ok(Some(DbKey {
            key: *key,
            salt: *salt,
        }));
    }
    let mut folders = FOLDERS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    folders.push(crate::storage::audit_key::KeyFolder::default_dir());
    for folder in folders {
        if let Some(key) = from_keyring(&folder, salt) {
            let key = DbKey { key, salt: *salt };
            remember(&key);
            return Ok(Some(key));
        }
        let path = key_file(&folder, salt);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let key = hex::decode(text.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| {
                        Error::Unusable(format!("the database key {} is damaged", path.display()))
                    })?;
                let key = DbKey { key, salt: *salt };
                remember(&key);
                return Ok(Some(key));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::Unusable(format!(
                    "cannot read the database key {}: {e}",
                    path.display()
                )))
            }
        }
    }
    Ok(None)
}

/// Keeps `key` in the OS keyring when `folder` is the default one and a keyring
/// answers, else in `folder` (0600, written whole, then linked into place); and in
/// this process's memory.
pub fn store(key: &DbKey, folder: &Path) -> Result<()> {
    let secret = hex::encode(key.key);
    match with_keyring(folder, &key.salt, move |e| e.set_password(&secret)) {
        // read back: a keyring that accepts but does not keep is no keyring
        Some(Ok(())) if from_keyring(folder, &key.salt) == Some(key.key) => {
            remember(key);
            return Ok(());
        }
        Some(Ok(())) => {
            tracing::warn!("the OS keyring did not keep the database key; using the key folder")
        }
        Some(Err(e)) => {
            tracing::info!("no OS keyring ({e}); the database key goes to the key folder")
        }
        None => {}
    }
    crate::platform::create_private_dir(folder)?;
    let path = key_file(folder, &key.salt);
    let temp = folder.join(format!(
        ".{}.{}.tmp",
        hex::encode(key.salt),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&temp);
    let written = crate::platform::create_private_file(&temp).and_then(|mut f| {
        f.write_all(hex::encode(key.key).as_bytes())?;
        f.sync_all()
    });
    let linked = written.and_then(|()| match std::fs::hard_link(&temp, &path) {
        // the same salt is the same key (salts are random): kept; a file that holds
        // anything else (damaged, or a wrong key put there) is replaced
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            match std::fs::read_to_string(&path) {
                Ok(text) if text.trim() == hex::encode(key.key) => Ok(()),
                _ => std::fs::rename(&temp, &path),
            }
        }
        other => other,
    });
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => crate::platform::sync_dir(folder),
        Err(e) => {
            return Err(Error::Unusable(format!(
                "cannot keep the database key in {}: {e}",
                folder.display()
            )))
        }
    }
    remember(key);
    Ok(())
}

/// The key of the file at `path`: `None` for a plain or new file; for an encrypted
/// one, its key or [`Error::KeyNeeded`].
pub fn key_of(path: &Path) -> Result<Option<DbKey>> {
    match file_kind(path)? {
        FileKind::New | FileKind::Plain | FileKind::NotADatabase => Ok(None),
        FileKind::Encrypted(salt) => find(&salt)?.map(Some).ok_or_else(|| Error::KeyNeeded {
            key_id: key_id(&salt),
        }),
    }
}

/// Keys `conn`, just opened on `path`, for the file's own key (nothing for a plain
/// file). Call before anything reads through `conn`.
pub(crate) fn key_connection(conn: &Connection, path: &Path) -> Result<()> {
    if let Some(key) = key_of(path)? {
        key.apply(conn)?;
    }
    Ok(())
}

/// Turns SQLite's "file is not a database" on an encrypted file into the sentence
/// a person can act on.
pub(crate) fn explain_not_a_database(e: rusqlite::Error, path: &Path) -> Error {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) {
        if let Ok(FileKind::Encrypted(salt)) = file_kind(path) {
            return Error::Unusable(format!(
                "{} does not open with the key this computer has for key id {} (or it is not a \
                 Frontdesk database at all); nothing was changed",
                path.display(),
                key_id(&salt)
            ));
        }
    }
    Error::from(e)
}

/// Opens the encrypted file at `path` with the recovery key `text` and, when it
/// opens, keeps the key in `folder` so this computer opens the file (and every
/// backup under the same key) from now on. Returns the key id.
pub fn unlock_with_recovery_key(path: &Path, text: &str, folder: &Path) -> Result<String> {
    let salt = match file_kind(path)? {
        FileKind::Encrypted(salt) => salt,
        FileKind::New => {
            return Err(Error::invalid(format!(
                "there is no database at {}",
                path.display()
            )))
        }
        FileKind::Plain => {
            return Err(Error::invalid(format!(
                "{} is not encrypted; it needs no key",
                path.display()
            )))
        }
        FileKind::NotADatabase => {
            return Err(Error::invalid(format!(
                "{} is not a Frontdesk database",
                path.display()
            )))
        }
    };
    let key = DbKey::from_recovery_key(text, salt)?;
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| Error::Unusable(format!("cannot open {}: {e}", path.display())))?;
    key.apply(&conn)?;
    match conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => {}
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) => {
            return Err(Error::invalid(format!(
                "this recovery key does not open {} (it needs the recovery key of key id {}); check it \
                 for typos — nothing was stored",
                path.display(),
                key.id()
            )))
        }
        Err(e) => return Err(e.into()),
    }
    store(&key, folder)?;
    Ok(key.id())
}

/// Quietens SQLCipher's own logging (it writes every failed page check to standard
/// error; Frontdesk reports these itself, in words).
pub(crate) fn quiet_logging(conn: &Connection) {
    let _ = conn.execute_batch("PRAGMA cipher_log_level = NONE;");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recovery_key_reads_back_as_the_key_however_it_is_typed() {
        for _ in 0..200 {
            let key = DbKey::generate();
            let written = key.recovery_key();
            assert_eq!(written.len(), 52 + 12, "13 groups of four: {written}");
            assert_eq!(DbKey::from_recovery_key(&written, key.salt).unwrap(), key);
            let sloppy = written
                .to_lowercase()
                .replace('-', " ")
                .replace('0', "o")
                .replace('1', "l");
            assert_eq!(DbKey::from_recovery_key(&sloppy, key.salt).unwrap(), key);
        }
    }

    #[test]
    fn a_recovery_key_with_a_missing_extra_or_foreign_character_is_refused() {
        let key = DbKey::generate();
        let written = key.recovery_key();
        for bad in [
            written[..written.len() - 1].to_string(),
            format!("{written}7"),
            written.replacen(|c: char| c.is_ascii_alphanumeric(), "U", 1),
            String::new(),
        ] {
            assert!(
                DbKey::from_recovery_key(&bad, key.salt).is_err(),
                "refused: {bad}"
            );
        }
    }

    #[test]
    fn files_are_told_apart_by_their_first_sixteen_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        assert_eq!(file_kind(&p).unwrap(), FileKind::New);
        std::fs::write(&p, b"").unwrap();
        assert_eq!(file_kind(&p).unwrap(), FileKind::New);
        std::fs::write(&p, b"SQLite format 3\0rest").unwrap();
        assert_eq!(file_kind(&p).unwrap(), FileKind::Plain);
        std::fs::write(&p, b"not a database at all").unwrap();
        assert_eq!(file_kind(&p).unwrap(), FileKind::NotADatabase);
        std::fs::write(&p, [7u8; 15]).unwrap();
        assert_eq!(file_kind(&p).unwrap(), FileKind::NotADatabase);
        std::fs::write(&p, [7u8; 40]).unwrap();
        assert_eq!(file_kind(&p).unwrap(), FileKind::Encrypted([7u8; 16]));
        assert_eq!(file_kind(&p).unwrap().key_id().unwrap(), "0707-0707");
    }
}
