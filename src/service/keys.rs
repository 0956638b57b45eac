//! The database key as desk operations (the key itself is in [`crate::storage::cipher`],
//! the rewriting in [`crate::storage::backup::convert`](mod@crate::storage::backup::convert)).

use serde::Serialize;
use ts_rs::TS;

use crate::domain::auth::{Action, Actor};
use crate::error::{Error, Result};
use crate::service::audit;
use crate::storage::backup::{self, Conversion, ConversionReport};
use crate::storage::cipher::{self, FileKind};
use crate::Frontdesk;

/// Whether the database is encrypted, and under which key.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct Encryption {
    /// The file is a SQLCipher database.
    pub encrypted: bool,
    /// Its key id (the first bytes of its salt), when encrypted.
    pub key_id: Option<String>,
}

/// The recovery key, for an admin to print and lock away.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct RecoveryKey {
    /// The key id it opens.
    pub key_id: String,
    /// 13 groups of four characters.
    pub recovery_key: String,
}

impl Frontdesk {
    /// Whether the database is encrypted (anyone at the desk may see that).
    pub fn encryption(&self) -> Result<Encryption> {
        let kind = cipher::file_kind(self.path())?;
        Ok(Encryption {
            encrypted: matches!(kind, FileKind::Encrypted(_)),
            key_id: kind.key_id(),
        })
    }

    /// The recovery key of the database's key (admins; audited, since whoever
    /// holds it can read every backup).
    pub fn recovery_key(&self, actor: &Actor) -> Result<RecoveryKey> {
        actor.require(Action::ManageKeys)?;
        let key = cipher::key_of(self.path())?.ok_or_else(|| {
            Error::invalid(
                "the database is not encrypted, so it has no recovery key; encrypt it first",
            )
        })?;
        let now = self.now();
        self.in_write("key.show_recovery", |tx| {
            audit(
                tx,
                now,
                actor,
                "key.show_recovery",
                "database",
                None,
                &format!("key id {}", key.id()),
            )
        })?;
        Ok(RecoveryKey {
            key_id: key.id(),
            recovery_key: key.recovery_key(),
        })
    }

    /// Encrypts a plain database, or gives an encrypted one a new key (see
    /// [`backup::convert()`]). Closes this handle first, as a restore does; the
    /// caller reopens the database afterwards whatever the outcome.
    pub fn convert_database(
        self,
        actor: &Actor,
        conversion: Conversion,
    ) -> Result<ConversionReport> {
        self.convert_database_with(actor, conversion, &mut crate::domain::progress::ignore)
    }

    /// [`convert_database`](Self::convert_database), reporting its phases to
    /// `progress` (the rewrite itself is one SQLCipher call: it has no total).
    pub fn convert_database_with(
        self,
        actor: &Actor,
        conversion: Conversion,
        progress: &mut dyn FnMut(crate::domain::progress::Progress),
    ) -> Result<ConversionReport> {
        actor.require(Action::ManageKeys)?;
        let (db, now) = (self.path().to_path_buf(), self.now());
        let keys = self.writer()?.seal().folder.clone();
        let _ = self.flush_metrics();
        drop(self);
        backup::convert::convert_with(actor, &db, conversion, now, &keys, progress)
    }
}
