//! `frontdesk manual DIR`: the man pages (roff) the package installs —
//! `frontdesk(1)` and one per command — made from the same definitions as `--help`,
//! plus what `--help` has no room for: the environment, the files and the exit
//! status.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use crate::Cli;

/// The variables the CLI reads, each with what it does.
const ENVIRONMENT: &[(&str, &str)] = &[
    ("FRONTDESK_DB", "The clinic database file when --db is not given."),
    ("FRONTDESK_USER", "The staff member to sign in as when --user is not given."),
    (
        "FRONTDESK_PASSWORD",
        "That staff member's password (else it is asked for at the terminal, without echo).",
    ),
    (
        "FRONTDESK_NEW_PASSWORD",
        "The password of a new staff account (else it is read twice from standard input).",
    ),
    (
        "FRONTDESK_RECOVERY_KEY",
        "The clinic's recovery key for `frontdesk unlock` (else read from standard input).",
    ),
    (
        "FRONTDESK_KEYS_DIR",
        "The folder with the database and audit keys (default below); the OS keyring is not used then.",
    ),
    (
        "FRONTDESK_SENDERS_FILE",
        "This PC's passcode senders file (default /etc/frontdesk/senders.toml).",
    ),
    ("FRONTDESK_LOCK_TIMEOUT", "Seconds a change waits for the write lock (1-600, default 10)."),
    ("FRONTDESK_LOG", "Log to standard error at this level (error, warn, info, debug)."),
];

/// Where things live on Linux, for the FILES section.
const FILES: &[(&str, &str)] = &[
    (
        "~/.local/share/org.frontdesk.desk/frontdesk.sqlite3",
        "The clinic database the app and the CLI open by default (with its -wal and -shm files).",
    ),
    (
        "~/.local/share/org.frontdesk.desk/backups/",
        "The default backup folder (see `frontdesk settings`).",
    ),
    ("~/.local/share/org.frontdesk.desk/logs/", "The desktop app's logs."),
    (
        "~/.config/org.frontdesk.desk/keys/",
        "The audit key and, where there is no OS keyring, the database key. Keep the recovery key on paper: it opens the database without this folder.",
    ),
    (
        "/etc/frontdesk/senders.toml",
        "The programs this PC may run to send passcodes; never taken from a database or a backup.",
    ),
];

/// Exit statuses, as `main` maps the core's error codes.
const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Done."),
    (
        "1",
        "Refused: not found, slot taken, changed by someone else, not allowed, rate limited, or not signed in.",
    ),
    ("2", "Invalid input."),
    ("3", "Busy (the write lock was not free in time) or an internal error."),
    ("4", "The database's key is needed on this computer: see `frontdesk unlock`."),
];

/// Writes `frontdesk.1` and a page per command (`frontdesk-init.1`,
/// `frontdesk-doctor-add.1`, …: the names the pages refer to each other by) into `dir`.
pub fn manual(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    // clap's `help` commands would only repeat the pages
    let mut cli = without_help_commands(Cli::command());
    // names every command's page after its parents (display name `frontdesk-doctor-add`)
    cli.build();
    let mut page = Vec::new();
    clap_mangen::Man::new(cli.clone()).render(&mut page)?;
    section(&mut page, "ENVIRONMENT", ENVIRONMENT)?;
    section(&mut page, "FILES", FILES)?;
    section(&mut page, "EXIT STATUS", EXIT_STATUS)?;
    writeln!(
        page,
        ".SH SEE ALSO\nThe page of each command above; the Frontdesk README in /usr/share/doc/frontdesk."
    )?;
    std::fs::write(dir.join("frontdesk.1"), page)?;
    command_pages(&cli, dir)
}

/// A page for each visible command below `parent`, and theirs in turn.
fn command_pages(parent: &clap::Command, dir: &Path) -> std::io::Result<()> {
    for command in parent.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = command
            .get_display_name()
            .unwrap_or(command.get_name())
            .to_string();
        let mut page = Vec::new();
        clap_mangen::Man::new(command.clone()).render(&mut page)?;
        writeln!(page, ".SH SEE ALSO\nfrontdesk(1)")?;
        std::fs::write(dir.join(format!("{name}.1")), page)?;
        command_pages(command, dir)?;
    }
    Ok(())
}

fn without_help_commands(command: clap::Command) -> clap::Command {
    let names: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    names
        .iter()
        .fold(command.disable_help_subcommand(true), |parent, name| {
            parent.mut_subcommand(name, without_help_commands)
        })
}

fn section(page: &mut Vec<u8>, title: &str, items: &[(&str, &str)]) -> std::io::Result<()> {
    writeln!(page, ".SH {title}")?;
    for (term, text) in items {
        writeln!(page, ".TP\n\\fB{}\\fR\n{}", roff(term), roff(text))?;
    }
    Ok(())
}

/// Escapes what roff would read as its own: backslashes, and a leading dot or quote.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}
