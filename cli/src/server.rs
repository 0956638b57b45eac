//! `frontdesk server …`: the clinic database on a PostgreSQL server.

use clap::{Args, Subcommand};
use frontdesk::storage::pg::setup;
use frontdesk::{Actor, Error, Frontdesk};

use crate::output::Out;

#[derive(Subcommand)]
pub enum ServerCmd {
    /// Make (or upgrade) the clinic's database on a PostgreSQL server and a
    /// least-privileged role for the desks; prints how the desks connect
    Setup {
        /// A postgres:// URL of a role that may create databases and roles (e.g. the
        /// server's postgres user)
        #[arg(long, value_name = "URL")]
        admin_url: String,
        /// The clinic database's name
        #[arg(long, default_value = "frontdesk")]
        database: String,
        /// The desks' role: no schema changes, the audit log insert-only
        #[arg(long, default_value = "frontdesk_desk")]
        role: String,
        /// The server's name or address as the desk PCs reach it, when the admin URL
        /// says otherwise (e.g. localhost on the server PC)
        #[arg(long, value_name = "HOST")]
        desk_host: Option<String>,
        /// Give the desks' role a new password (the old pgpass lines stop working)
        #[arg(long)]
        new_password: bool,
    },
}

pub fn server(cmd: ServerCmd, out: Out) -> Result<(), Error> {
    match cmd {
        ServerCmd::Setup {
            admin_url,
            database,
            role,
            desk_host,
            new_password,
        } => {
            let done = setup::setup(&setup::SetupRequest {
                admin_url: &admin_url,
                database: &database,
                role: &role,
                desk_host: desk_host.as_deref(),
                new_password,
            })?;
            out.print(&done, || {
                let mut s = format!(
                    "The clinic database {database} is {} (schema version {}).\n\
                     The desks' role {role} may read and write the clinic's rows, may not change \
                     the schema, and may only add to the audit log.\n\n",
                    if done.created { "ready" } else { "up to date" },
                    done.schema_version
                );
                match &done.pgpass_line {
                    Some(line) => s.push_str(&format!(
                        "On each desk PC, add this line to the pgpass file of the user who runs \
                         Frontdesk (~/.pgpass on Linux and macOS, %APPDATA%\\postgresql\\pgpass.conf \
                         on Windows; readable by that user only, chmod 600):\n\n    {line}\n\n\
                         The password is shown only now.\n"
                    )),
                    None => s.push_str(
                        "The desks' password is unchanged (--new-password sets a new one).\n",
                    ),
                }
                s.push_str(&format!(
                    "The desks work with this URL (--db or FRONTDESK_DB):\n\n    {}\n\n\
                     To move a clinic in from its file, on the PC that holds it:\n\n    \
                     frontdesk --db <clinic file> move-to <this admin URL, with /{database} as its database>\n\n\
                     A new clinic: frontdesk --db <the desks' URL> init --name … --admin-username …\n",
                    done.desk_url
                ));
                s
            });
            Ok(())
        }
    }
}

#[derive(Args)]
pub struct MoveToArgs {
    /// The clinic database on the server, as a role that owns it (the admin URL
    /// given to `server setup`, with the database's name: postgres://postgres@server/frontdesk)
    #[arg(value_name = "URL")]
    pub url: String,
}

pub fn move_to(desk: Frontdesk, actor: &Actor, a: MoveToArgs, out: Out) -> Result<(), Error> {
    let file = desk.path().display().to_string();
    let done = desk.move_to_server(actor, &a.url)?;
    out.print(&done, || {
        let mut s = if done.already_there {
            format!(
                "The server already held this clinic, exactly as in {file} (an earlier move);                  {file} is now marked moved.\n\n"
            )
        } else {
            let rows: u64 = done.tables.iter().map(|t| t.rows).sum();
            format!(
                "Moved the clinic from {file} to {}: {rows} rows, the same count in every table \
                 on both sides; the audit log sealed on the server ({} rows).\n\n",
                done.server, done.audit_sealed
            )
        };
        for t in done.tables.iter().filter(|t| t.rows > 0) {
            s.push_str(&format!("    {:<28} {:>8}\n", t.table, t.rows));
        }
        s.push_str(&format!(
            "\n{file} now takes no more changes (it is kept as it was at the move; a \
             backup restored over it is a clinic file again).\n"
        ));
        s
    });
    Ok(())
}
