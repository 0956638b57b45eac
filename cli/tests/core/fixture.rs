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

/// A payment of `minor` units in cash.
pub fn cash(minor: i64) -> frontdesk::NewPayment {
    frontdesk::NewPayment {
        amount_minor: minor,
        method: frontdesk::domain::payments::PaymentMethod::Cash,
        reference: String::new(),
    }
}

/// A clinic database in a temp dir, with a manual clock, on a "PC" whose
/// passcode senders file (in the temp dir too) describes the recording sender.
pub struct Clinic {
    pub desk: Frontdesk,
    pub clock: Arc<ManualClock>,
    pub dir: TempDir,
    /// On a clinic server ([`Clinic::on_server`]): a superuser session on its
    /// database, for the tests' own queries, and the hold on the server.
    pub server: Option<(frontdesk::storage::pg::PgClinic, server::Use)>,
}

impl Clinic {
    /// An empty clinic (UTC, phones in DE) whose passcodes go to the recording
    /// sender ([`frontdesk::senders::recording`]).
    pub fn new() -> Clinic {
        let dir = tempfile::tempdir().expect("temp dir");
        let written =
            frontdesk::senders::recording::write(dir.path()).expect("write the senders file");
        assert_eq!(written, senders_file(dir.path()));
        Clinic::on(dir)
    }

    /// An empty clinic on a PC with no senders file.
    pub fn without_sender() -> Clinic {
        Clinic::on(tempfile::tempdir().expect("temp dir"))
    }

    fn on(dir: TempDir) -> Clinic {
        let clock = Arc::new(ManualClock::new(NOW));
        let desk = open_with_senders(
            &dir.path().join("clinic.sqlite3"),
            clock.clone(),
            &senders_file(dir.path()),
        );
        let admin = Actor::local_admin();
        let mut s = desk.settings().unwrap();
        s.phone_country = "DE".into();
        desk.update_clinic_settings(&admin, &s).unwrap();
        Clinic {
            desk,
            clock,
            dir,
            server: None,
        }
    }

    /// The same empty clinic (UTC, phones in DE, the recording sender) in a new
    /// database `fd_<name>` on the test PostgreSQL server, the desk connected to
    /// it by URL; `None` when there is no server to test on (see
    /// [`server::server`]).
    pub fn on_server(name: &str) -> Option<Clinic> {
        let admin_url = server::server()?;
        let hold = server::shared();
        let url = server::fresh_database(&admin_url, name);
        let admin = frontdesk::storage::pg::PgClinic::connect(&url, 2).unwrap();
        admin.migrate().expect("migrate the test database");
        server::name_the_clinic(&admin);
        let dir = tempfile::tempdir().expect("temp dir");
        frontdesk::senders::recording::write(dir.path()).expect("write the senders file");
        let clock = Arc::new(ManualClock::new(NOW));
        let desk = open_with_senders(Path::new(&url), clock.clone(), &senders_file(dir.path()));
        let actor = Actor::local_admin();
        let mut s = desk.settings().unwrap();
        s.phone_country = "DE".into();
        desk.update_clinic_settings(&actor, &s).unwrap();
        Some(Clinic {
            desk,
            clock,
            dir,
            server: Some((admin, hold)),
        })
    }

    /// This test PC's passcode senders file (missing for [`Clinic::without_sender`]).
    pub fn senders(&self) -> PathBuf {
        senders_file(self.dir.path())
    }

    pub fn path(&self) -> PathBuf {
        self.desk.path().to_path_buf()
    }

    /// Another handle on the same file (a second desk in this process, on the
    /// same PC).
    pub fn reopen(&self) -> Frontdesk {
        open_with_senders(&self.path(), self.clock.clone(), &self.senders())
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

    /// A check-up at 50.00 EUR (added the first time it is asked for); its id.
    pub fn check_up(&self) -> i64 {
        let types = self
            .desk
            .list_appointment_types(&self.admin(), true)
            .unwrap();
        if let Some(t) = types.iter().find(|t| t.name == "Check-up") {
            return t.id;
        }
        self.desk
            .add_appointment_type(
                &Actor::local_admin(),
                &frontdesk::NewAppointmentType {
                    name: "Check-up".into(),
                    price_minor: 5000,
                    default_reason: "Routine check-up".into(),
                },
            )
            .unwrap()
            .id
    }

    /// `slot` booked at the desk for `patient` as a [check-up](Self::check_up),
    /// with `paid` (minor units) taken in cash, or nothing when it is 0.
    pub fn book_paid(&self, slot: i64, patient: i64, paid: i64) -> frontdesk::Booked {
        let request = frontdesk::BookRequest {
            slot_id: slot,
            patient_id: patient,
            reason: String::new(),
        };
        self.desk
            .pay_and_book(
                &self.receptionist(),
                &request,
                Some(self.check_up()),
                (paid > 0).then(|| cash(paid)).as_ref(),
            )
            .unwrap()
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
        self.count(&format!(
            "SELECT coalesce(max(end_at), 0) FROM slot WHERE doctor_id = {doctor}"
        ))
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

    /// Asserts `frontdesk check` passes (on a file or on the server).
    pub fn assert_check(&self) {
        let report = self.desk.check().unwrap();
        assert!(
            report.ok,
            "database check failed: {:#?}",
            report.items.iter().filter(|i| !i.ok).collect::<Vec<_>>()
        );
    }

    /// The problems `check` reports, a line each (empty when it passes).
    pub fn check_failures(&self) -> String {
        let report = self.desk.check().unwrap();
        report
            .items
            .iter()
            .filter(|i| !i.ok)
            .map(|i| format!("{}: {}", i.name, i.detail))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Counts rows with a SQL query returning one integer (on a server, one it
    /// understands too).
    pub fn count(&self, sql: &str) -> i64 {
        match &self.server {
            Some((admin, _)) => {
                // (a pooled session a server restore ended is passed over)
                let row = (0..4)
                    .find_map(|_| admin.session().unwrap().query_one(sql, &[]).ok())
                    .unwrap_or_else(|| admin.session().unwrap().query_one(sql, &[]).unwrap());
                match row.try_get::<_, i64>(0) {
                    Ok(n) => n,
                    Err(_) => i64::from(row.get::<_, i32>(0)),
                }
            }
            None => self
                .desk
                .read(|c| Ok(c.query_row(sql, [], |r| r.get(0))?))
                .unwrap(),
        }
    }
}

/// Runs each test body twice: `on_sqlite` on a clinic file and `on_postgres` on
/// a clinic server (skipped without a test server, see [`server::server`]) —
/// the same operations, the same expected answers.
#[macro_export]
macro_rules! on_both {
    ($(fn $name:ident($c:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn on_sqlite() {
                let $c = $crate::fixture::Clinic::new();
                $body
            }

            #[test]
            fn on_postgres() {
                let Some($c) = $crate::fixture::Clinic::on_server(
                    &$crate::fixture::database_name(module_path!()),
                ) else {
                    return;
                };
                $body
            }
        }
    )*};
}

/// A short database name for a test's module path (server names end at 63 bytes).
pub fn database_name(test: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    test.hash(&mut h);
    format!("t{:016x}", h.finish())
}

/// The demo clinic in a plain (not encrypted) database, as an older Frontdesk
/// made them: `clinic.sqlite3` in a temp dir, and the desk open on it.
pub fn plain_demo_clinic() -> (TempDir, PathBuf, Frontdesk) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("clinic.sqlite3");
    let desk = Frontdesk::open(
        &db,
        OpenOptions {
            encrypt_new: false,
            ..OpenOptions::default()
        },
    )
    .expect("open a plain database");
    desk.create_demo_clinic(&Actor::local_admin())
        .expect("the demo clinic");
    (dir, db, desk)
}

/// Opens `path` on the test PC of the folder it is in: its senders file is
/// `senders/senders.toml` beside it (see [`senders_file`]), if there is one.
pub fn open_at(path: &std::path::Path, clock: Arc<ManualClock>) -> Frontdesk {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    open_with_senders(path, clock, &senders_file(dir))
}

/// Where a clinic in `dir` has its PC's senders file.
pub fn senders_file(dir: &std::path::Path) -> PathBuf {
    dir.join("senders").join("senders.toml")
}

/// Opens `path` on a PC whose senders file is `senders`.
pub fn open_with_senders(
    path: &std::path::Path,
    clock: Arc<ManualClock>,
    senders: &std::path::Path,
) -> Frontdesk {
    Frontdesk::open(
        path,
        OpenOptions {
            clock,
            senders_file: Some(senders.to_path_buf()),
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

    /// The passcode in the newest message the recording sender sent to `phone`
    /// (tests read the code the way the patient's phone would).
    pub fn last_code(&self, phone_e164: &str) -> String {
        frontdesk::senders::recording::last_code(&self.senders(), phone_e164)
            .unwrap_or_else(|| panic!("no passcode was sent to {phone_e164}"))
    }

    /// Every message the recording sender sent to `phone`, oldest first.
    pub fn messages(&self, phone_e164: &str) -> Vec<String> {
        frontdesk::senders::recording::messages(&self.senders(), phone_e164)
    }
}

/// The test PostgreSQL server (`scripts/test.sh` starts a throwaway one).
pub mod server {
    use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

    use frontdesk::storage::pg::PgClinic;

    /// Names a migrated server database's clinic "Test Clinic", in UTC.
    pub fn name_the_clinic(clinic: &PgClinic) {
        clinic
            .session()
            .unwrap()
            .batch_execute(
                "INSERT INTO setting (key, value) VALUES
                     ('clinic.name', 'Test Clinic'), ('clinic.time_zone', 'UTC')",
            )
            .unwrap();
    }

    /// A `postgres://` URL of a role that may create databases.
    pub const SERVER: &str = "FRONTDESK_TEST_PG";
    /// Set: a test that needs the server fails without one instead of passing.
    pub const REQUIRE: &str = "FRONTDESK_REQUIRE_PG";

    /// The test that restarts the server runs alone; the others share it.
    pub static SERVER_IN_USE: RwLock<()> = RwLock::new(());

    /// A hold on the server for a test's lifetime.
    #[allow(dead_code)] // held for its lifetime only
    pub enum Use {
        Shared(RwLockReadGuard<'static, ()>),
        Alone(RwLockWriteGuard<'static, ()>),
    }

    /// A shared hold.
    pub fn shared() -> Use {
        Use::Shared(SERVER_IN_USE.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The server's admin URL; `None` (the test says it skipped) when there is
    /// none, unless [`REQUIRE`] is set.
    pub fn server() -> Option<String> {
        match std::env::var(SERVER) {
            Ok(url) => Some(url),
            Err(_) if std::env::var_os(REQUIRE).is_some() => {
                panic!("{REQUIRE} is set but {SERVER} is not: no PostgreSQL server to test on")
            }
            Err(_) => {
                eprintln!("skipped: set {SERVER} to a postgres:// URL (scripts/test.sh does)");
                None
            }
        }
    }

    /// A new empty database `fd_<name>` on the server (dropped first if a run
    /// before left it); its URL.
    pub fn fresh_database(admin_url: &str, name: &str) -> String {
        let admin = PgClinic::connect(admin_url, 1).expect("connect to the test server");
        let db = format!("fd_{name}");
        let mut session = admin.session().unwrap();
        // (one statement per call: neither may run inside a transaction block)
        for sql in [
            format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
            format!("CREATE DATABASE {db}"),
        ] {
            session.batch_execute(&sql).expect("make the test database");
        }
        let (base, _) = admin_url.rsplit_once('/').expect("a URL with a database");
        format!("{base}/{db}")
    }
}
