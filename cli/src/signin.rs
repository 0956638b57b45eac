//! Who the command line acts for.
//!
//! A command that reads or changes the clinic's data signs in as a staff member
//! through the core's own sign-in ([`Frontdesk::authenticate`]: the same password
//! check, throttling, locks and "must change password" as at a desk), and the
//! core then applies that person's role and audits under their name. The username
//! comes from `--user`, else `FRONTDESK_USER`, else a prompt; the password from
//! `FRONTDESK_PASSWORD`, else a prompt on the terminal without echo (never from
//! the command line, where `ps` and the shell history would show it). A *new*
//! account's password (`init`, `staff add`, `staff reset-password`) comes from
//! `FRONTDESK_NEW_PASSWORD` or standard input instead, so the signed-in person's
//! password can never become someone else's by mistake.
//!
//! The one way round it is `--break-glass REASON`: only for the operating-system
//! user that owns the database file (who could open it with any SQLite tool
//! anyway), with a reason, audited as `local administrator (OS user ann): REASON`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use frontdesk::{Actor, Error, ErrorCode, Frontdesk};

use crate::Failure;

/// The username to sign in with, for scripts (like `PGUSER`).
pub const USER_ENV: &str = "FRONTDESK_USER";
/// The signed-in person's own password, for scripts (like `PGPASSWORD`).
pub const PASSWORD_ENV: &str = "FRONTDESK_PASSWORD";
/// A new account's password (`init`, `staff add`, `staff reset-password`).
pub const NEW_PASSWORD_ENV: &str = "FRONTDESK_NEW_PASSWORD";

/// The longest the CLI waits out the core's sign-in throttle by itself, in all
/// (seconds); a longer wait is refused with the time to wait.
const MAX_THROTTLE_WAIT_SECS: i64 = 10;
/// The longest break-glass reason (characters).
const MAX_REASON_CHARS: usize = 200;

/// A checked `--break-glass`: who owns the file, and why they skip the sign-in.
pub struct BreakGlass {
    os_user: String,
    reason: String,
}

impl BreakGlass {
    /// Checks `--break-glass REASON` for the database at `db`: a reason of one line,
    /// an existing file, owned by the effective user of this process. Nothing is
    /// opened before this passes.
    pub fn check(db: &Path, reason: &str) -> Result<BreakGlass, Failure> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(Failure::Cli(
                ErrorCode::Invalid,
                "--break-glass needs a reason, which the audit log keeps, e.g. --break-glass \"lost the admin password\"".into(),
            ));
        }
        if reason.chars().count() > MAX_REASON_CHARS || reason.chars().any(char::is_control) {
            return Err(Failure::Cli(
                ErrorCode::Invalid,
                format!(
                    "the --break-glass reason is one line of at most {MAX_REASON_CHARS} characters"
                ),
            ));
        }
        let os_user = file_owner_is_me(db)?;
        Ok(BreakGlass {
            os_user,
            reason: reason.to_string(),
        })
    }

    /// The local administrator, named by operating-system user and reason.
    pub fn actor(&self) -> Actor {
        Actor::local_os_user(&self.os_user, &self.reason)
    }
}

/// The name of the operating-system user this process runs as (effective user).
pub fn current_os_user() -> String {
    #[cfg(unix)]
    {
        // SAFETY: geteuid cannot fail and has no preconditions
        user_name(unsafe { libc::geteuid() })
    }
    #[cfg(not(unix))]
    {
        std::env::var("USERNAME")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "unknown".into())
    }
}

/// The login name of `uid` from the user database, else `uid N`.
#[cfg(unix)]
fn user_name(uid: libc::uid_t) -> String {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: all-zero is a valid `passwd` (integers and null pointers)
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf.len()` is its size; the
    // strings `pwd` points to live in `buf`, which outlives their use below
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc == 0 && !found.is_null() && !pwd.pw_name.is_null() {
        // SAFETY: getpwuid_r succeeded, so pw_name is a NUL-terminated string in buf
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) }.to_string_lossy();
        if !name.is_empty() && !name.chars().any(char::is_control) {
            return name.into_owned();
        }
    }
    format!("uid {uid}")
}

/// The effective user's name when it owns the database file; else a refusal.
#[cfg(unix)]
fn file_owner_is_me(db: &Path) -> Result<String, Failure> {
    use std::os::unix::fs::MetadataExt;
    // the file the path names (a symlink is followed): its owner is the one who
    // holds the data
    let meta = std::fs::metadata(db).map_err(|e| {
        Failure::Cli(
            ErrorCode::NotFound,
            format!(
                "--break-glass acts only on an existing database file, for the operating-system user that owns it; {}: {e}",
                db.display()
            ),
        )
    })?;
    // SAFETY: geteuid cannot fail and has no preconditions
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(Failure::Cli(
            ErrorCode::Forbidden,
            format!(
                "--break-glass is only for the operating-system user that owns {} ({}); you are {}. Sign in as a staff member instead (FRONTDESK_USER and FRONTDESK_PASSWORD, or --user)",
                db.display(),
                user_name(meta.uid()),
                user_name(me)
            ),
        ));
    }
    Ok(user_name(me))
}

#[cfg(not(unix))]
fn file_owner_is_me(_db: &Path) -> Result<String, Failure> {
    Err(Failure::Cli(
        ErrorCode::Forbidden,
        "--break-glass needs a system whose files have an owning user (Linux, macOS); sign in as a staff member instead".into(),
    ))
}

fn sign_in_needed() -> Failure {
    Failure::Cli(
        ErrorCode::Unauthenticated,
        format!(
            "this command needs a staff sign-in: set {USER_ENV} and {PASSWORD_ENV}, or give --user NAME at a terminal to be asked for the password (the operating-system user that owns the database file may use --break-glass REASON instead)"
        ),
    )
}

/// Whether a person can be asked: the prompt goes to, and the password comes from,
/// the terminal itself (not standard input, which may carry a new password).
fn at_a_terminal() -> bool {
    std::io::stdin().is_terminal() || std::io::stderr().is_terminal()
}

fn username(flag: Option<String>) -> Result<String, Failure> {
    if let Some(u) = flag.filter(|u| !u.trim().is_empty()) {
        return Ok(u);
    }
    if let Some(u) = std::env::var(USER_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        return Ok(u);
    }
    // asked only when standard input is the terminal: piped input is data
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Sign in to Frontdesk\nUsername: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        stdin.lock().read_line(&mut line).map_err(|e| {
            Failure::Cli(ErrorCode::Invalid, format!("cannot read the username: {e}"))
        })?;
        if !line.trim().is_empty() {
            return Ok(line.trim().to_string());
        }
    }
    Err(sign_in_needed())
}

fn password(username: &str) -> Result<String, Failure> {
    if let Some(p) = std::env::var_os(PASSWORD_ENV) {
        return p.into_string().map_err(|_| {
            Failure::Cli(
                ErrorCode::Invalid,
                format!("{PASSWORD_ENV} is not valid UTF-8"),
            )
        });
    }
    if !at_a_terminal() {
        return Err(sign_in_needed());
    }
    rpassword::prompt_password(format!("Password for {}: ", username.trim())).map_err(|e| {
        Failure::Cli(
            ErrorCode::Unauthenticated,
            format!("cannot read the password from the terminal ({e}); set {PASSWORD_ENV} instead"),
        )
    })
}

/// Signs in through the core and returns the staff member to act for. A wrong
/// password and an unknown username are the core's one refusal; a short throttle
/// delay is waited out (said on stderr), a long one refused with its time; someone
/// who must choose a new password is told how.
pub fn sign_in(desk: &Frontdesk, user: Option<String>) -> Result<Actor, Failure> {
    let username = username(user)?;
    let password = password(&username)?;
    let mut waited = 0;
    let actor = loop {
        match desk.authenticate(&username, &password) {
            Ok(actor) => break actor,
            Err(Error::SignInThrottled {
                retry_after_secs, ..
            }) if retry_after_secs > 0 && waited + retry_after_secs <= MAX_THROTTLE_WAIT_SECS => {
                eprintln!(
                    "Waiting {retry_after_secs} s before signing in (failed sign-ins under this name)…"
                );
                std::thread::sleep(Duration::from_secs(retry_after_secs as u64));
                waited += retry_after_secs;
            }
            Err(e) => return Err(e.into()),
        }
    };
    if actor.must_change_password {
        return Err(Failure::Cli(
            ErrorCode::Forbidden,
            format!(
                "{}. Run `frontdesk staff change-password {}` ({PASSWORD_ENV} the current password, {NEW_PASSWORD_ENV} the new one).",
                Error::PasswordChangeRequired,
                username.trim()
            ),
        ));
    }
    Ok(actor)
}

/// A new account's password (`init`, `staff add`, `staff reset-password`):
/// `FRONTDESK_NEW_PASSWORD`, else standard input — typed at a terminal without
/// echo and twice, piped as one line. Never `FRONTDESK_PASSWORD`, the signed-in
/// person's own.
pub fn new_password(prompt: &str) -> Result<String, Error> {
    if std::env::var_os(NEW_PASSWORD_ENV).is_none() && std::io::stdin().is_terminal() {
        let ask = |p: &str| {
            rpassword::prompt_password(p).map_err(|e| {
                Error::invalid(format!("cannot read the password from the terminal: {e}"))
            })
        };
        let first = ask(&format!("{prompt}: "))?;
        if first.is_empty() {
            return Err(Error::invalid(format!(
                "no password given; set {NEW_PASSWORD_ENV} or type it on standard input"
            )));
        }
        if ask("The same password again: ")? != first {
            return Err(Error::invalid(
                "the two passwords differ; nothing was changed",
            ));
        }
        return Ok(first);
    }
    crate::staff::read_password(NEW_PASSWORD_ENV, prompt)
}
