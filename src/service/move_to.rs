//! Moving the clinic from its file onto the clinic's PostgreSQL server
//! (`frontdesk move-to`): checked, copied whole, counted, sealed, and the file
//! then marked so that no desk carries on writing in it.

use serde::Serialize;
use ts_rs::TS;

use crate::domain::auth::{Action, Actor};
use crate::error::{Error, Result};
use crate::service::audit;
use crate::storage;
use crate::storage::pg::move_in::{self, MovedTable, ServerHolds};
use crate::storage::pg::PgClinic;
use crate::{Frontdesk, OpenOptions};

/// The setting that marks a file whose clinic moved to a server (its value: the
/// server's URL without a password).
pub const MOVED_TO_KEY: &str = "clinic.moved_to";

/// The refusal of every write to a file whose clinic moved to `server`.
pub(crate) fn moved_away(server: &str) -> Error {
    Error::Unusable(format!(
        "this clinic moved to its server ({server}); this file is kept as it was at the move \
         and takes no more changes. Connect this desk to the clinic server."
    ))
}

/// What a move did.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct MoveReport {
    /// The server, as the desks are to be told it (no password).
    pub server: String,
    /// Rows per table, equal in the file and on the server.
    pub tables: Vec<MovedTable>,
    /// Audit rows sealed on the server by this move.
    #[ts(type = "number")]
    pub audit_sealed: u64,
    /// The server already held exactly this clinic (an earlier move committed
    /// but could not mark the file); only the file was marked now.
    pub already_there: bool,
}

impl Frontdesk {
    /// Moves this clinic into the empty, set-up database at `url` (a role that
    /// owns it: the administrator's URL with the clinic database's name), then
    /// marks this file moved. Admins only; refused while any other desk has the
    /// file open, when `check` finds a problem in it (the audit chain included),
    /// and when the server database holds any clinic row. Consumes this handle,
    /// because the move needs the file to itself.
    pub fn move_to_server(self, actor: &Actor, url: &str) -> Result<MoveReport> {
        actor.require(Action::ManageBackups)?;
        if let Some(server) = &self.moved_to {
            return Err(moved_away(server));
        }
        let server = PgClinic::connect(url, 1)?;
        server.check_schema()?;
        let report = self.check()?;
        if !report.ok {
            let problems: Vec<String> = report
                .items
                .iter()
                .filter(|i| !i.ok)
                .map(|i| format!("{}: {}", i.name, i.detail))
                .collect();
            return Err(Error::invalid(format!(
                "the clinic file does not pass its check ({}); nothing was moved",
                problems.join("; ")
            )));
        }
        let options = OpenOptions {
            clock: self.clock.clone(),
            keys_dir: Some(self.writer()?.seal().folder.dir().to_path_buf()),
            senders_file: Some(self.senders_file.clone()),
            pool_size: 1,
            ..OpenOptions::default()
        };
        let path = self.path.clone();
        let _ = self.flush_metrics();
        drop(self);
        let alone = storage::presence::hold_exclusive(&path, "move the clinic")?;
        Frontdesk::open_holding(path, options, alone)?.move_alone(actor, &server, url)
    }

    /// The move, with the file held by this handle alone.
    fn move_alone(&self, actor: &Actor, server: &PgClinic, url: &str) -> Result<MoveReport> {
        if let Some(server) = &self.moved_to {
            return Err(moved_away(server));
        }
        let seal = self.writer()?.seal();
        let key = seal
            .key
            .as_ref()
            .ok_or_else(|| Error::Unusable(seal.missing.clone()))?;
        let (shown, now) = (storage::pg::without_password(url), self.now());
        let in_file = self.read(move_in::file_counts)?;
        let total: u64 = in_file.iter().map(|t| t.rows).sum();
        let (tables, already_there) =
            match server.holds(&seal.clinic)? {
                ServerHolds::Other => return Err(Error::invalid(
                    "the server database holds another clinic's rows: a clinic is moved only into \
                     an empty one; nothing was copied",
                )),
                ServerHolds::ThisClinic => {
                    let mut on_server = server.table_counts()?;
                    if let Some(log) = on_server.iter_mut().find(|t| t.table == "audit_event") {
                        // the move's own row on the server
                        log.rows = log.rows.saturating_sub(1);
                    }
                    let same = on_server
                        .iter()
                        .zip(&in_file)
                        .all(|(s, f)| s.rows == f.rows);
                    if !same {
                        return Err(Error::invalid(
                            "the server already holds this clinic, and it differs from this file \
                         (changes were made in one of them since the move); nothing was changed",
                        ));
                    }
                    (in_file, true)
                }
                ServerHolds::Nothing => {
                    let note = format!("moved from {} ({total} rows)", self.path.display());
                    let moved = self.read(|c| server.move_in(c, &actor.label(), now, &note))?;
                    (moved, false)
                }
            };
        let anchor = seal.folder.server_anchor(&seal.clinic)?;
        let audit_sealed = server.seal_audit(key, &anchor)?;
        let verdict = server.verify_audit(key, &anchor)?;
        if verdict.first_bad_seal.is_some() || verdict.anchored_seal_missing || verdict.unsealed > 0
        {
            return Err(Error::Internal(format!(
                "the audit log on the server does not verify after the move ({verdict:?}); this \
                 file was not marked moved"
            )));
        }
        self.in_write("clinic.move", |tx| {
            storage::settings::set(tx, MOVED_TO_KEY, &shown)?;
            audit(
                tx,
                now,
                actor,
                "clinic.move_to",
                "clinic",
                None,
                &format!("to {shown}: {total} rows"),
            )
        })?;
        Ok(MoveReport {
            server: shown,
            tables,
            audit_sealed,
            already_there,
        })
    }
}
