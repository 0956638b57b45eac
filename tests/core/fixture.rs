//! Shared fixtures: a temp-file clinic with a doctor, future slots and patients.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use frontdesk::clock::ManualClock;
use frontdesk::{Actor, Frontdesk, NewPatient, OpenOptions, Role, SlotMode};
use tempfile::TempDir;

/// A fixed "now": 2030-01-07 08:00 UTC, a Monday.
pub const NOW: i64 = 1_894_003_200;

/// A clinic database in a temp dir, with a manual clock.
pub struct Clinic {
    pub desk: Frontdesk,
    pub clock: Arc<ManualClock>,
    pub dir: TempDir,
}

impl Clinic {
    /// An empty clinic (UTC, phones in DE).
    pub fn new() -> Clinic {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = Arc::new(ManualClock::new(NOW));
        let desk = open_at(&dir.path().join("clinic.sqlite3"), clock.clone());
        let admin = Actor::local_admin();
        let mut s = desk.settings().unwrap();
        s.phone_country = "DE".into();
        desk.update_clinic_settings(&admin, &s).unwrap();
        Clinic { desk, clock, dir }
    }

    pub fn path(&self) -> PathBuf {
        self.desk.path().to_path_buf()
    }

    /// Another handle on the same file (a second desk in this process).
    pub fn reopen(&self) -> Frontdesk {
        open_at(&self.path(), self.clock.clone())
    }

    pub fn admin(&self) -> Actor {
        Actor::staff(1, "Ada Admin", Role::Admin)
    }

    pub fn receptionist(&self) -> Actor {
        Actor::staff(2, "Rita Desk", Role::Receptionist)
    }

    pub fn doctor(&self, name: &str) -> i64 {
        self.desk
            .add_doctor(&Actor::local_admin(), name, "General practice")
            .unwrap()
            .id
    }

    /// `n` consecutive 30-minute slots for `doctor` starting an hour from now.
    pub fn slots(&self, doctor: i64, n: usize) -> Vec<i64> {
        let base = self.latest_slot_end(doctor).max(NOW + 3600);
        (0..n)
            .map(|i| {
                let start = base + i as i64 * 1800;
                self.desk
                    .add_slot(
                        &Actor::local_admin(),
                        doctor,
                        start,
                        start + 1800,
                        SlotMode::InPerson,
                    )
                    .unwrap()
                    .id
            })
            .collect()
    }

    fn latest_slot_end(&self, doctor: i64) -> i64 {
        self.desk
            .read(|c| {
                Ok(c.query_row(
                    "SELECT coalesce(max(end_at), 0) FROM slot WHERE doctor_id = ?1",
                    [doctor],
                    |r| r.get(0),
                )?)
            })
            .unwrap()
    }

    pub fn patient(&self, name: &str, phone: &str) -> i64 {
        self.desk
            .add_patient(
                &Actor::local_admin(),
                &NewPatient {
                    name: name.into(),
                    phone: phone.into(),
                    ..Default::default()
                },
            )
            .unwrap()
            .id
    }

    /// Asserts `frontdesk check` passes.
    pub fn assert_check(&self) {
        let report = self.desk.check().unwrap();
        assert!(
            report.ok,
            "database check failed: {:#?}",
            report.items.iter().filter(|i| !i.ok).collect::<Vec<_>>()
        );
    }

    /// Counts rows with a SQL query returning one integer.
    pub fn count(&self, sql: &str) -> i64 {
        self.desk
            .read(|c| Ok(c.query_row(sql, [], |r| r.get(0))?))
            .unwrap()
    }
}

pub fn open_at(path: &std::path::Path, clock: Arc<ManualClock>) -> Frontdesk {
    Frontdesk::open(
        path,
        OpenOptions {
            clock,
            ..OpenOptions::default()
        },
    )
    .expect("open clinic database")
}

/// The built `frontdesk` binary (cargo builds it for integration tests).
pub fn frontdesk_bin() -> &'static str {
    env!("CARGO_BIN_EXE_frontdesk")
}

/// A password that satisfies the rules, for staff accounts in tests.
pub const PASSWORD: &str = "correct horse battery";

/// The admin that command-line tests sign in as (password [`PASSWORD`]): made by
/// [`Clinic::cli_admin`], or by `init --admin-username` in tests that start from
/// an empty file.
pub const CLI_ADMIN: &str = "cli.admin";

/// The environment the CLI signs in from (see the README's "The command line").
pub const USER_ENV: &str = "FRONTDESK_USER";
/// The signed-in person's password.
pub const PASSWORD_ENV: &str = "FRONTDESK_PASSWORD";
/// A new account's password (`init --admin-username`, `staff add`, resets).
pub const NEW_PASSWORD_ENV: &str = "FRONTDESK_NEW_PASSWORD";

/// Takes the caller's sign-in variables out of `cmd`'s environment, so a
/// developer's own `FRONTDESK_USER` never reaches a test run.
pub fn without_sign_in(cmd: &mut Command) -> &mut Command {
    cmd.env_remove(USER_ENV)
        .env_remove(PASSWORD_ENV)
        .env_remove(NEW_PASSWORD_ENV)
}

/// Makes `cmd` sign in as `user` with `password` (`FRONTDESK_USER` and
/// `FRONTDESK_PASSWORD`), and nothing else from the caller's sign-in.
pub fn signed_in<'a>(cmd: &'a mut Command, user: &str, password: &str) -> &'a mut Command {
    without_sign_in(cmd)
        .env(USER_ENV, user)
        .env(PASSWORD_ENV, password)
}

/// `frontdesk --db <db>`, signed in as `user` with `password`.
pub fn cli_as(db: &Path, user: &str, password: &str) -> Command {
    let mut cmd = Command::new(frontdesk_bin());
    cmd.arg("--db").arg(db);
    signed_in(&mut cmd, user, password);
    cmd
}

/// `frontdesk --db <db>`, signed in as [`CLI_ADMIN`].
pub fn cli(db: &Path) -> Command {
    cli_as(db, CLI_ADMIN, PASSWORD)
}

/// `frontdesk --db <db>` with no sign-in at all.
pub fn cli_anonymous(db: &Path) -> Command {
    let mut cmd = Command::new(frontdesk_bin());
    cmd.arg("--db").arg(db);
    without_sign_in(&mut cmd);
    cmd
}

impl Clinic {
    /// A real staff account (username = `username`, password [`PASSWORD`]); its id.
    pub fn account(&self, username: &str, role: Role) -> i64 {
        let new = frontdesk::NewStaff {
            username: username.into(),
            display_name: format!("{username} (test)"),
            role,
            password: PASSWORD.into(),
        };
        self.desk
            .add_staff(&Actor::local_admin(), &new)
            .expect("add staff account")
            .id
    }

    /// Creates [`CLI_ADMIN`], the admin command-line runs sign in as ([`cli`]);
    /// its id. Call it before counting rows: it writes the account and its audit row.
    pub fn cli_admin(&self) -> i64 {
        self.account(CLI_ADMIN, Role::Admin)
    }

    /// The outbox text of the newest message to `phone` (tests read the code
    /// the way the sender would).
    pub fn last_code(&self, phone_e164: &str) -> String {
        let body: String = self
            .desk
            .read(|c| {
                Ok(c.query_row(
                    "SELECT body FROM outbox WHERE phone = ?1 ORDER BY id DESC LIMIT 1",
                    [phone_e164],
                    |r| r.get(0),
                )?)
            })
            .expect("a queued message");
        body.split_whitespace()
            .find(|w| {
                w.len() == 7 && w.ends_with('.') && w[..6].bytes().all(|b| b.is_ascii_digit())
            })
            .map(|w| w[..6].to_string())
            .unwrap_or_else(|| panic!("no passcode in the queued message"))
    }
}
