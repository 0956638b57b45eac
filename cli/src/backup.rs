//! `frontdesk backup [PATH]`, `frontdesk backups list`, `frontdesk restore PATH`.
//!
//! `restore` opens the database as a desk only to sign in, and closes it before
//! restoring: a restore needs the file to itself, and this process must not be one
//! of the desks it waits for. Onto a path without a database (a new computer) it
//! needs no sign-in: nobody's data is there to change, and the backup's holder
//! already holds what is in it.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use frontdesk::clock::{Clock, SystemClock};
use frontdesk::{Action, Actor, Error, Frontdesk};

use crate::output::Out;
use crate::signin::{self, BreakGlass};
use crate::{Ctx, Failure};

#[derive(Args)]
pub struct BackupArgs {
    /// Where to write it: a folder (a dated file inside) or a file name.
    /// Default: the backup folder setting, with retention applied.
    path: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum BackupsCmd {
    /// The backups in the backup folder, newest first
    List,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// The backup file to restore
    path: PathBuf,
    /// Only verify the backup; change nothing
    #[arg(long)]
    check_only: bool,
    /// Restore even a file Frontdesk did not write for this database, or one whose
    /// staff accounts differ (the check lists what you confirm)
    #[arg(long)]
    yes: bool,
    /// On a clinic server: an administrator's URL on the server's own database
    /// (postgres://postgres@HOST/postgres), for the rights to build and rename
    /// the clinic's database
    #[arg(long)]
    admin_url: Option<String>,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

pub fn backup(ctx: &Ctx, a: BackupArgs) -> Result<(), Error> {
    let r = ctx.desk.backup_now(&ctx.actor, a.path)?;
    ctx.out.print(&r, || {
        let mut t = format!(
            "Backup written and checked: {} ({}, {} ms).",
            r.file.path,
            mib(r.file.bytes),
            r.millis
        );
        if !r.pruned.is_empty() {
            t += &format!("\nRemoved {} older backup(s) by retention.", r.pruned.len());
        }
        t
    });
    Ok(())
}

pub fn backups(ctx: &Ctx, cmd: BackupsCmd) -> Result<(), Error> {
    let BackupsCmd::List = cmd;
    let list = ctx.desk.list_backups(&ctx.actor)?;
    let tz = ctx.desk.settings()?.tz();
    ctx.out.print(&list, || {
        let keep = list.settings.retention;
        let mut t = format!(
            "Backup folder: {} (keeps the newest of {} days and {} weeks)\n",
            list.settings.folder, keep.keep_daily, keep.keep_weekly
        );
        for b in &list.backups {
            let kind = if b.safety_copy {
                "  (safety copy before a restore)"
            } else {
                ""
            };
            t += &format!(
                "{}  {:>10}  {}{kind}\n",
                frontdesk::domain::clinic::format_local(b.taken_at, tz),
                mib(b.bytes),
                b.name
            );
        }
        if list.backups.is_empty() {
            t += "No backups yet: run `frontdesk backup`.\n";
        }
        t
    });
    Ok(())
}

pub fn accept_restore(ctx: &Ctx) -> Result<(), Error> {
    let a = ctx.desk.accept_restore(&ctx.actor)?;
    let tz = ctx.desk.settings()?.tz();
    ctx.out.print(&a, || {
        format!(
            "Accepted the restore of {}: all {} seals verify; this PC seals again from seal {}.",
            frontdesk::domain::clinic::format_local(a.restored_at, tz),
            a.sealed,
            a.head_seq
        )
    });
    Ok(())
}

/// Who restores: the break-glass owner, the OS user onto a path without a
/// database, else a staff member signed in on a desk that is closed again before
/// the restore. Refuses before the sign-in writes anything when other desks are
/// open (the restore would refuse then).
fn restorer(
    db: &Path,
    a: &RestoreArgs,
    user: Option<String>,
    glass: Option<BreakGlass>,
) -> Result<Actor, Failure> {
    if let Some(glass) = glass {
        return Ok(glass.actor());
    }
    if !db.exists() {
        return Ok(Actor::local_os_user(
            &signin::current_os_user(),
            "restore onto a computer without a database",
        ));
    }
    if !a.check_only {
        drop(frontdesk::storage::presence::hold_exclusive(
            &frontdesk::storage::db::resolve_path(db)?,
            "restore",
        )?);
    }
    let desk = Frontdesk::open_default(db)?;
    let actor = signin::sign_in(&desk, user)?;
    actor.require(Action::ManageBackups)?;
    Ok(actor)
}

/// Verifies and restores without a desk open on `db`.
pub fn restore(
    db: &Path,
    a: &RestoreArgs,
    user: Option<String>,
    glass: Option<BreakGlass>,
    out: Out,
) -> Result<(), Failure> {
    if let Some(url) = frontdesk::storage::db::server_url(db) {
        return restore_on_server(url, a, user, out);
    }
    let actor = restorer(db, a, user, glass)?;
    if a.check_only {
        let keys = frontdesk::storage::audit_key::KeyFolder::new(
            frontdesk::storage::audit_key::KeyFolder::default_dir(),
            db,
        )?;
        let c = frontdesk::storage::backup::verify(&a.path, db, &keys)?;
        out.print(&c, || {
            let mut text = format!(
                "{} can be restored: schema version {}, {} appointments, {} patients, audit log intact ({} events).",
                c.path, c.schema_version, c.appointments, c.patients, c.audit_events
            );
            if c.needs_confirmation() {
                text += "\nRestoring it needs --yes, because:";
                for w in c.warnings() {
                    text += &format!("\n  - {w}");
                }
            }
            text
        });
        return Ok(());
    }
    let r = frontdesk::storage::backup::restore(&actor, db, &a.path, SystemClock.now(), a.yes)?;
    out.print(&r, || {
        let safety = r
            .safety_copy
            .as_deref()
            .map(|p| format!("\nThe database it replaced is kept at {p}."))
            .unwrap_or_default();
        format!(
            "Restored {} into {} ({} appointments, {} patients) in {} ms.{safety}\nStart Frontdesk on the desks again.",
            r.restored.path, r.database, r.restored.appointments, r.restored.patients, r.millis
        )
    });
    Ok(())
}

/// A clinic server's backup: checked by a signed-in admin (`--check-only`), or
/// restored with the server administrator's URL — whose holder may do anything
/// to the clinic's database anyway, also when it is too broken to sign in to.
fn restore_on_server(
    url: &str,
    a: &RestoreArgs,
    user: Option<String>,
    out: Out,
) -> Result<(), Failure> {
    use frontdesk::storage::pg::dump;
    if a.check_only {
        let desk = Frontdesk::open_default(Path::new(url))?;
        let actor = signin::sign_in(&desk, user)?;
        let c = desk.check_server_backup(&actor, &a.path)?;
        out.print(&c, || server_check_text(&c));
        return Ok(());
    }
    let admin_url = a.admin_url.as_deref().ok_or_else(|| {
        Error::invalid(
            "restoring a clinic server's backup needs --admin-url postgres://ADMIN@HOST/postgres \
             (a role that may create and rename databases)",
        )
    })?;
    let actor = format!(
        "server administrator (OS user {})",
        signin::current_os_user()
    );
    let keys = frontdesk::storage::audit_key::KeyFolder::for_server(
        frontdesk::storage::audit_key::KeyFolder::default_dir(),
    );
    let r = dump::restore(
        &dump::RestoreRequest {
            admin_url,
            desk_url: url,
            archive: &a.path,
            actor: &actor,
            now: SystemClock.now(),
            confirmed: a.yes,
        },
        &keys,
    )?;
    out.print(&r, || {
        let safety = r
            .safety_copy
            .as_deref()
            .map(|p| {
                format!(
                    "\nThe database it replaced is kept on the server as {p} (closed to \
                     connections; drop it when you no longer need it)."
                )
            })
            .unwrap_or_default();
        let warnings: String = r
            .warnings
            .iter()
            .map(|w| format!("\nWarning: {w}"))
            .collect();
        format!(
            "{}\nRestored into the server database {} in {} ms.{safety}\nThe desks reconnect by \
             themselves. On every other desk PC that has the clinic's audit key, an admin runs \
             `frontdesk --db URL accept-restore`: until then that PC seals nothing.{warnings}",
            server_check_text(&r.restored),
            r.database,
            r.millis
        )
    });
    Ok(())
}

fn server_check_text(c: &frontdesk::storage::pg::dump::ServerBackupCheck) -> String {
    let audit = match c.seals_verified {
        Some(n) => format!("audit log intact ({n} sealed events verified"),
        None => "audit log NOT verified (this PC has not the clinic's audit key".into(),
    };
    format!(
        "{} can be restored: schema version {}, {} appointments, {} patients, {audit}, {} not \
         sealed yet).",
        c.path,
        c.schema_version,
        c.rows("appointment"),
        c.rows("patient"),
        c.unsealed
    )
}
