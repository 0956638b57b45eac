//! `frontdesk server setup`: the clinic's database on a PostgreSQL server, made
//! once by an administrator — the database, the schema (migrations run with the
//! administrator's rights), and a least-privileged role for the desks: no DDL,
//! no TRUNCATE, and the audit log INSERT-only (a desk can add to it, never change
//! or remove a line). Running it again upgrades the schema and re-grants; the
//! role's password is kept unless `new_password` is asked for.
//!
//! The desks' password never becomes a setting: setup prints the line for each
//! desk PC's pgpass file, which [`super::PgClinic::connect`] reads (libpq's
//! format and rules).

use std::path::{Path, PathBuf};

use super::{to_error, PgClinic};
use crate::error::{Error, Result};

/// What setup made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Setup {
    /// The URL the desks connect with (no password in it).
    pub desk_url: String,
    /// The line for each desk PC's pgpass file, when a password was set now.
    pub pgpass_line: Option<String>,
    /// The schema version now.
    pub schema_version: i32,
    /// Whether the database was created now (not found and upgraded).
    pub created: bool,
}

/// A database or role name Frontdesk is willing to put into DDL.
pub(super) fn identifier(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{what} {name:?}: use lower-case letters, digits and _ (at most 63)"
        )))
    }
}

/// The URL the desks use: `url`'s server (or `desk_host`) with `database` as
/// its database and `user` as its user, no password, and of its parameters only
/// those about TLS (`sslmode`, `sslrootcert`).
fn url_for(url: &str, desk_host: Option<&str>, user: &str, database: &str) -> Result<String> {
    let tls: Vec<&str> = url
        .split_once('?')
        .map(|(_, q)| {
            q.split('&')
                .filter(|p| p.starts_with("sslmode=") || p.starts_with("sslrootcert="))
                .collect()
        })
        .unwrap_or_default();
    let query = if tls.is_empty() {
        String::new()
    } else {
        format!("?{}", tls.join("&"))
    };
    let (url, _) = super::take_param(url, "sslrootcert");
    let config: postgres::Config = url
        .parse()
        .map_err(|e| Error::invalid(format!("this is not a usable server URL: {e}")))?;
    let host = match (desk_host, config.get_hosts().first()) {
        (Some(h), _) => h.to_string(),
        (None, Some(postgres::config::Host::Tcp(h))) => h.clone(),
        _ => {
            return Err(Error::invalid(
                "give the server's host name or address in the URL (or --desk-host)",
            ))
        }
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    Ok(format!("postgres://{user}@{host}:{port}/{database}{query}"))
}

/// What `frontdesk server setup` is asked.
pub struct SetupRequest<'a> {
    /// A role that may create databases and roles.
    pub admin_url: &'a str,
    /// The clinic database's name.
    pub database: &'a str,
    /// The desks' role.
    pub role: &'a str,
    /// The server's name or address as the desks reach it, when the admin URL
    /// names it otherwise (e.g. `localhost` on the server PC).
    pub desk_host: Option<&'a str>,
    /// Give the role a new password.
    pub new_password: bool,
}

/// Sets the clinic's database up on the server the admin URL names: the
/// database, the schema, and the desks' role.
pub fn setup(r: &SetupRequest<'_>) -> Result<Setup> {
    let (admin_url, database, role) = (r.admin_url, r.database, r.role);
    identifier("the database name", database)?;
    identifier("the desks' role name", role)?;
    if ["postgres", "template0", "template1"].contains(&database) {
        return Err(Error::invalid(format!(
            "{database} is the server's own database; name the clinic's (--database)"
        )));
    }
    // before anything is changed: the URL the desks will need must be makeable
    let desk_url = url_for(admin_url, r.desk_host, role, database)?;
    let admin = PgClinic::connect(admin_url, 1)?;
    let mut s = admin.session()?;
    let exists: bool = s
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
            &[&database],
        )
        .map_err(to_error)?
        .get(0);
    if !exists {
        s.batch_execute(&format!("CREATE DATABASE {database}"))
            .map_err(to_error)?;
    }
    let admin_db = url_for_admin(admin_url, database)?;
    let clinic = PgClinic::connect(&admin_db, 1)?;
    // a database that holds something else is not made into a clinic
    let (tables, ours): (i64, bool) = {
        let row = clinic
            .session()?
            .query_one(
                "SELECT count(*), bool_or(tablename = 'schema_version') FROM pg_tables
                 WHERE schemaname = 'public'",
                &[],
            )
            .map_err(to_error)?;
        (row.get(0), row.get::<_, Option<bool>>(1).unwrap_or(false))
    };
    if tables > 0 && !ours {
        return Err(Error::invalid(format!(
            "the database {database} already holds {tables} tables that are not a Frontdesk \
             clinic's; name another database (--database)"
        )));
    }
    // an existing role must be a plain one: never an administrator's
    let existing: Option<bool> = s
        .query_opt(
            "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls
             FROM pg_roles WHERE rolname = $1",
            &[&role],
        )
        .map_err(to_error)?
        .map(|row| row.get(0));
    if existing == Some(true) {
        return Err(Error::invalid(format!(
            "the role {role} has administrative rights; the desks need a plain role of their own \
             (--role)"
        )));
    }
    let role_exists = existing.is_some();
    let password = (r.new_password || !role_exists).then(new_role_password);
    if !role_exists {
        s.batch_execute(&format!(
            "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT"
        ))
        .map_err(to_error)?;
    }
    if let Some(p) = &password {
        // sent as a SCRAM verifier, so the password itself never reaches the
        // server's logs (the verifier's characters need no escaping)
        let verifier = postgres_protocol::password::scram_sha_256(p.as_bytes());
        s.batch_execute(&format!("ALTER ROLE {role} PASSWORD '{verifier}'"))
            .map_err(to_error)?;
    }
    drop(s);

    let schema_version = clinic.migrate()?;
    clinic
        .session()?
        .batch_execute(&grants(database, role))
        .map_err(to_error)?;
    let pgpass_line = password.map(|p| {
        let (url, _) = super::take_param(&desk_url, "sslrootcert");
        let config: postgres::Config = url.parse().expect("made above");
        let host = match config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "localhost".into(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        format!("{host}:{port}:{database}:{role}:{p}")
    });
    Ok(Setup {
        desk_url,
        pgpass_line,
        schema_version,
        created: !exists,
    })
}

/// `admin_url` pointed at `database` (keeping its user and password).
pub(super) fn url_for_admin(admin_url: &str, database: &str) -> Result<String> {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    Ok(match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    })
}

/// The desks' rights: reading and writing the clinic's rows, nothing on the
/// schema, and on the audit log and its seals only adding.
pub(super) fn grants(database: &str, role: &str) -> String {
    format!(
        "REVOKE ALL ON DATABASE {database} FROM PUBLIC;
         GRANT CONNECT ON DATABASE {database} TO {role};
         REVOKE TEMPORARY ON DATABASE {database} FROM {role};
         REVOKE CREATE ON SCHEMA public FROM PUBLIC;
         GRANT USAGE ON SCHEMA public TO {role};
         REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role};
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
         REVOKE UPDATE, DELETE ON audit_event, audit_seal, ledger, cash_up FROM {role};
         REVOKE INSERT, UPDATE, DELETE ON schema_version FROM {role};
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};"
    )
}

/// A password of 32 letters and digits (190 bits).
fn new_role_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..32)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The pgpass file libpq would read: `PGPASSFILE`, else `~/.pgpass`
/// (`%APPDATA%\postgresql\pgpass.conf` on Windows).
pub fn pgpass_path() -> Option<PathBuf> {
    if let Some(file) = std::env::var_os("PGPASSFILE") {
        return Some(PathBuf::from(file));
    }
    if cfg!(windows) {
        dirs::config_dir().map(|d| d.join("postgresql").join("pgpass.conf"))
    } else {
        dirs::home_dir().map(|h| h.join(".pgpass"))
    }
}

/// The password for `host:port:database:user` in a pgpass file (libpq's format:
/// `*` matches anything, `\` escapes `:` and `\`; the first match wins). Like
/// libpq, a file others may read is ignored.
pub fn pgpass_lookup(
    file: &Path,
    host: &str,
    port: u16,
    database: &str,
    user: &str,
) -> Option<String> {
    if !crate::platform::private_to_owner(file) {
        tracing::warn!(
            "{} is readable by others; ignored (chmod 600 it)",
            file.display()
        );
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let port = port.to_string();
    let wanted = [host, port.as_str(), database, user];
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .find_map(|line| {
            let fields = split_pgpass(line);
            if fields.len() != 5 {
                return None;
            }
            let matches = fields[..4]
                .iter()
                .zip(wanted)
                .all(|(f, w)| f == "*" || f == w);
            matches.then(|| fields[4].clone())
        })
}

fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().expect("one field").push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_reach_ddl_are_plain_identifiers() {
        for ok in ["frontdesk", "clinic_2", "_x"] {
            assert!(identifier("n", ok).is_ok(), "{ok}");
        }
        for bad in ["", "Frontdesk", "a-b", "x;drop", "9lives", &"a".repeat(64)] {
            assert!(identifier("n", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pgpass_lines_split_on_unescaped_colons() {
        assert_eq!(
            split_pgpass(r"db.clinic:5432:frontdesk:desk:pa\:ss\\word"),
            ["db.clinic", "5432", "frontdesk", "desk", r"pa:ss\word"]
        );
        assert_eq!(split_pgpass("*:*:*:*:a:b"), ["*", "*", "*", "*", "a:b"]);
    }

    #[cfg(unix)]
    #[test]
    fn the_password_comes_from_a_private_pgpass_file_first_match_wins() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(
            &file,
            "# the clinic\nother:5432:*:*:no\ndb.clinic:5432:frontdesk:desk:first\n*:*:*:desk:second\n",
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let look = |host, port, db| pgpass_lookup(&file, host, port, db, "desk");
        assert_eq!(
            look("db.clinic", 5432, "frontdesk").as_deref(),
            Some("first")
        );
        assert_eq!(
            look("db.clinic", 5433, "frontdesk").as_deref(),
            Some("second")
        );
        assert_eq!(
            pgpass_lookup(&file, "db.clinic", 5432, "frontdesk", "x"),
            None
        );
        // readable by others: ignored, as libpq does
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(look("db.clinic", 5432, "frontdesk"), None);
    }

    #[test]
    fn the_desk_url_names_the_role_and_the_database_and_no_password() {
        let desk = |url, host| url_for(url, host, "desk", "clinic").unwrap();
        assert_eq!(
            desk("postgres://postgres:secret@10.0.0.5:5433/postgres", None),
            "postgres://desk@10.0.0.5:5433/clinic"
        );
        assert_eq!(
            desk(
                "postgres://postgres@db.clinic/postgres?sslmode=require&sslrootcert=/etc/ca.pem",
                None
            ),
            "postgres://desk@db.clinic:5432/clinic?sslmode=require&sslrootcert=/etc/ca.pem"
        );
        // the admin's user and password never reach the desks' URL
        assert_eq!(
            desk(
                "postgres://localhost/postgres?user=postgres&password=secret&sslmode=require",
                Some("192.168.1.10")
            ),
            "postgres://desk@192.168.1.10:5432/clinic?sslmode=require"
        );
        assert_eq!(
            url_for_admin(
                "postgres://postgres:secret@10.0.0.5/postgres?sslmode=require",
                "clinic"
            )
            .unwrap(),
            "postgres://postgres:secret@10.0.0.5/clinic?sslmode=require"
        );
        assert_eq!(
            url_for_admin("postgres://postgres@host", "clinic").unwrap(),
            "postgres://postgres@host/clinic"
        );
    }
}
