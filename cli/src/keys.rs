//! `frontdesk unlock`, `frontdesk recovery-key`, `frontdesk encrypt`,
//! `frontdesk change-key`: the database key (see `frontdesk::storage::cipher`).
//!
//! `unlock` needs no sign-in: the recovery key is the credential, and without it
//! nobody can open the file to sign in. `encrypt` and `change-key` sign in on a
//! desk that is closed again before the database is rewritten, as `restore` does.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use clap::Args;
use frontdesk::clock::{Clock, SystemClock};
use frontdesk::storage::backup::{Conversion, ConversionReport};
use frontdesk::{Action, Error, Frontdesk};

use crate::output::Out;
use crate::signin::{self, BreakGlass};
use crate::{Ctx, Failure};

/// The variable a script may give the recovery key in (else standard input).
pub const RECOVERY_KEY_ENV: &str = "FRONTDESK_RECOVERY_KEY";

#[derive(Args)]
pub struct UnlockArgs {
    /// The encrypted file to open: a backup from another computer (default: the database)
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
}

/// Reads the recovery key: `FRONTDESK_RECOVERY_KEY`, else standard input (a prompt
/// at a terminal).
fn read_recovery_key() -> Result<String, Error> {
    if let Some(k) = std::env::var_os(RECOVERY_KEY_ENV) {
        return k
            .into_string()
            .map_err(|_| Error::invalid(format!("{RECOVERY_KEY_ENV} is not valid text")));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        // not echoed: it opens every backup
        return rpassword::prompt_password("Recovery key (13 groups of four characters): ")
            .map_err(|e| Error::invalid(format!("cannot read the recovery key: {e}")));
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::invalid(format!("cannot read the recovery key: {e}")))?;
    Ok(line)
}

/// Opens the database (or a backup) with the recovery key and keeps its key on
/// this computer.
pub fn unlock(db: &Path, a: &UnlockArgs, out: Out) -> Result<(), Failure> {
    let file = a.file.as_deref().unwrap_or(db);
    let text = read_recovery_key()?;
    let folder = frontdesk::storage::audit_key::KeyFolder::default_dir();
    let key_id = frontdesk::storage::cipher::unlock_with_recovery_key(file, &text, &folder)?;
    out.print(
        &serde_json::json!({ "file": file, "key_id": key_id, "key_folder": folder }),
        || {
            format!(
                "The recovery key opens {} (key id {key_id}); this computer keeps the key in {} from now on.",
                file.display(),
                folder.display()
            )
        },
    );
    Ok(())
}

pub fn recovery_key(ctx: &Ctx) -> Result<(), Error> {
    let r = ctx.desk.recovery_key(&ctx.actor)?;
    ctx.out.print(&r, || {
        format!(
            "Recovery key for key id {}:\n\n    {}\n\nPrint it and lock it away. With it, and a backup, the clinic's data can be opened on any computer.",
            r.key_id, r.recovery_key
        )
    });
    Ok(())
}

/// Signs in as an admin on a desk that is closed again, then rewrites the database.
pub fn convert(
    db: &Path,
    conversion: Conversion,
    user: Option<String>,
    glass: Option<BreakGlass>,
    out: Out,
) -> Result<(), Failure> {
    let actor = match glass {
        Some(glass) => glass.actor(),
        None => {
            let desk = Frontdesk::open_default(db)?;
            let actor = signin::sign_in(&desk, user)?;
            actor.require(Action::ManageKeys)?;
            actor
        }
    };
    let r = frontdesk::storage::backup::convert(&actor, db, conversion, SystemClock.now())?;
    out.print(&r, || describe(&r, conversion));
    Ok(())
}

fn describe(r: &ConversionReport, conversion: Conversion) -> String {
    let mut t = match conversion {
        Conversion::Encrypt => format!(
            "{} is now encrypted (key id {}), checked table by table against the plain file ({} ms).",
            r.database, r.key_id, r.millis
        ),
        Conversion::ChangeKey => format!(
            "{} now has a new key (key id {}, was {}), checked table by table ({} ms). Backups taken before \
             still need the old recovery key elsewhere; this computer keeps the old key.",
            r.database,
            r.key_id,
            r.previous_key_id.as_deref().unwrap_or("none"),
            r.millis
        ),
    };
    t += &format!(
        "\n\nNew recovery key:\n\n    {}\n\nPrint it and lock it away.",
        r.recovery_key
    );
    if conversion == Conversion::Encrypt {
        t += "\nThe old plain file's blocks may remain on the disk until the filesystem reuses them.";
    }
    if !r.plain_backups.is_empty() {
        t += &format!(
            "\n{} plain (unencrypted) backup(s) remain in the backup folder; take a new backup, then delete them:",
            r.plain_backups.len()
        );
        for b in &r.plain_backups {
            t += &format!("\n  {b}");
        }
    }
    if let Some(s) = &r.safety_copy {
        t += &format!("\nThe database it replaced is kept at {s}.");
    }
    t + "\nStart Frontdesk on the desks again."
}
