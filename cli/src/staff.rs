//! Staff accounts: add, list, reset a password, change one's own, deactivate,
//! change role, unlock. Passwords come from environment variables or lines on
//! standard input — never from the command line, where `ps` and shell history
//! would show them.

use std::io::{BufRead, IsTerminal, Write};

use clap::Subcommand;
use frontdesk::StaffMember;
use frontdesk::{Error, NewStaff, Role};

use crate::Ctx;

#[derive(Subcommand)]
pub enum StaffCmd {
    /// Add a staff account (password from FRONTDESK_NEW_PASSWORD or stdin)
    Add {
        /// Sign-in name
        #[arg(long)]
        username: String,
        /// Name shown in the app and the audit log
        #[arg(long)]
        name: String,
        /// ADMIN or RECEPTIONIST
        #[arg(long, default_value = "RECEPTIONIST")]
        role: String,
        /// Generate a random password and print it once instead of reading one
        #[arg(long)]
        generate_password: bool,
    },
    /// List staff accounts
    List,
    /// Set a new password (from FRONTDESK_NEW_PASSWORD or stdin) that the person must
    /// replace at their next sign-in; also lifts a lock and ends their sessions
    ResetPassword {
        /// Username or id
        who: String,
        /// Generate a random password and print it once instead of reading one
        #[arg(long)]
        generate_password: bool,
    },
    /// Deactivate an account (not the last active admin)
    Deactivate {
        /// Username or id
        who: String,
    },
    /// Change an account's role (ADMIN or RECEPTIONIST)
    Role {
        /// Username or id
        who: String,
        role: String,
    },
    /// Change your own password: the current one from FRONTDESK_PASSWORD, the new
    /// one from FRONTDESK_NEW_PASSWORD (else each from a line of stdin)
    ChangePassword {
        /// Your username
        username: String,
    },
    /// Lift a sign-in lock (and forget the failed sign-ins that slow sign-in down)
    Unlock {
        /// Username or id
        who: String,
    },
}

/// Reads a password from `env_var`, else one line from stdin (prompting when
/// stdin is a terminal). The trailing newline is dropped; nothing is echoed back.
pub fn read_password(env_var: &str, prompt: &str) -> Result<String, Error> {
    if let Ok(p) = std::env::var(env_var) {
        return Ok(p);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{prompt}: ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).map_err(|e| {
        Error::invalid(format!("cannot read the password from standard input: {e}"))
    })?;
    let p = line.strip_suffix('\n').unwrap_or(&line);
    let p = p.strip_suffix('\r').unwrap_or(p);
    if p.is_empty() {
        return Err(Error::invalid(format!(
            "no password given; set {env_var} or type it on standard input"
        )));
    }
    Ok(p.to_string())
}

fn password(generate: bool) -> Result<(String, bool), Error> {
    if generate {
        Ok((frontdesk::domain::password::random_password()?, true))
    } else {
        // FRONTDESK_PASSWORD is the signed-in person's own
        Ok((
            crate::signin::new_password("New password for the account")?,
            false,
        ))
    }
}

fn resolve(ctx: &Ctx, who: &str) -> Result<StaffMember, Error> {
    let all = ctx.desk.list_staff(&ctx.actor)?;
    let by_id = who.parse::<i64>().ok();
    all.into_iter()
        .find(|m| Some(m.id) == by_id || m.username.eq_ignore_ascii_case(who.trim()))
        .ok_or(Error::NotFound("staff member"))
}

fn line(m: &StaffMember) -> String {
    format!(
        "#{:<4} {:<20} {:<28} {:<13} {}{}{}\n",
        m.id,
        m.username,
        m.display_name,
        m.role.as_str(),
        if m.active { "active" } else { "deactivated" },
        if m.locked_at.is_some() {
            ", locked"
        } else if m.failed_logins > 0 {
            ", failed sign-ins"
        } else {
            ""
        },
        if m.must_change_password {
            ", must change password"
        } else {
            ""
        }
    )
}

pub fn staff(ctx: &Ctx, cmd: StaffCmd) -> Result<(), Error> {
    match cmd {
        StaffCmd::Add {
            username,
            name,
            role,
            generate_password,
        } => {
            let role: Role = role.parse()?;
            let (password, generated) = password(generate_password)?;
            let m = ctx.desk.add_staff(
                &ctx.actor,
                &NewStaff {
                    username,
                    display_name: name,
                    role,
                    password: password.clone(),
                },
            )?;
            let shown = generated.then_some(password);
            ctx.out.print(
                &serde_json::json!({ "staff": m, "password": shown }),
                || {
                    let mut t = format!(
                        "Added {} {:?} as {}.",
                        m.username,
                        m.display_name,
                        m.role.as_str()
                    );
                    if let Some(p) = &shown {
                        t += &format!("\nPassword (shown once): {p}");
                    }
                    t
                },
            );
        }
        StaffCmd::List => {
            let all = ctx.desk.list_staff(&ctx.actor)?;
            ctx.out.print(&serde_json::json!({ "staff": all }), || {
                if all.is_empty() {
                    "No staff accounts yet; create the first admin with `frontdesk init --admin-username NAME`.".into()
                } else {
                    all.iter().map(line).collect()
                }
            });
        }
        StaffCmd::ResetPassword {
            who,
            generate_password,
        } => {
            let target = resolve(ctx, &who)?;
            let (password, generated) = password(generate_password)?;
            let m = ctx.desk.reset_password(&ctx.actor, target.id, &password)?;
            let shown = generated.then_some(password);
            ctx.out.print(
                &serde_json::json!({ "staff": m, "password": shown }),
                || {
                    let mut t = format!(
                        "New password set for {}; they must choose their own at the next sign-in.",
                        m.username
                    );
                    if let Some(p) = &shown {
                        t += &format!("\nPassword (shown once): {p}");
                    }
                    t
                },
            );
        }
        StaffCmd::Deactivate { who } => {
            let target = resolve(ctx, &who)?;
            let m = ctx.desk.deactivate_staff(&ctx.actor, target.id)?;
            ctx.out.print(&serde_json::json!({ "staff": m }), || {
                format!("{} is deactivated.", m.username)
            });
        }
        StaffCmd::Role { who, role } => {
            let target = resolve(ctx, &who)?;
            let m = ctx.desk.change_role(&ctx.actor, target.id, role.parse()?)?;
            ctx.out.print(&serde_json::json!({ "staff": m }), || {
                format!("{} is now {}.", m.username, m.role.as_str())
            });
        }
        StaffCmd::ChangePassword { username } => {
            let current = read_password("FRONTDESK_PASSWORD", "Current password")?;
            let new = read_password("FRONTDESK_NEW_PASSWORD", "New password")?;
            let m = ctx.desk.change_password(&username, &current, &new)?;
            ctx.out.print(&serde_json::json!({ "staff": m }), || {
                format!(
                    "Password of {} changed; their other sessions ended.",
                    m.username
                )
            });
        }
        StaffCmd::Unlock { who } => {
            let target = resolve(ctx, &who)?;
            let m = ctx.desk.unlock_staff(&ctx.actor, target.id)?;
            ctx.out.print(&serde_json::json!({ "staff": m }), || {
                format!("{} may sign in again.", m.username)
            });
        }
    }
    Ok(())
}
