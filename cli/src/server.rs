//! `frontdesk server …`: the clinic database on a PostgreSQL server.

use clap::Subcommand;
use frontdesk::storage::pg::setup;
use frontdesk::Error;

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
                    "Then start Frontdesk on each desk with the clinic server's URL:\n\n    {}\n",
                    done.desk_url
                ));
                s
            });
            Ok(())
        }
    }
}
