//! End-to-end harness: the real `frontdesk-app` binary in a real window (under Xvfb),
//! driven over WebDriver through `tauri-driver` → `WebKitWebDriver`.
//!
//! A test opens a [`Clinic`] (its own temporary database file), opens one or more
//! [`Desk`]s on it (each a running app instance), drives them with CSS selectors,
//! saves a screenshot and closes them:
//!
//! ```no_run
//! # async fn example() {
//! let Some(clinic) = frontdesk_e2e::Clinic::for_test("status_line") else { return };
//! let desk = clinic.open_desk().await;
//! desk.wait_for_text("[data-testid=db-path]", &clinic.db_path_text()).await;
//! desk.screenshot("status_line").await;
//! desk.close().await;
//! # }
//! ```
//!
//! # How the database path reaches the app
//! `tauri-driver` starts `WebKitWebDriver`, which starts the app binary named in the
//! `tauri:options` capability; each inherits its parent's environment. So every
//! [`Desk`] runs its **own** `tauri-driver` child with `FRONTDESK_DB` set to the
//! clinic's file. (`tauri:options` also takes `args`, passed to the app as
//! command-line arguments, but there is no `env` option.)
//!
//! # Passcodes
//! Every clinic's temporary directory holds a passcode senders file describing a
//! recording sender (a `/bin/sh` script that appends each message it reads on
//! standard input to `senders/sent/<phone>.txt`), and every desk and every seeding
//! CLI call get `FRONTDESK_SENDERS_FILE` pointing at it: a test reads the code the
//! way the patient's phone would ([`Clinic::last_code`]).
//!
//! # Several desks at once
//! One `WebKitWebDriver` serves one session at a time: asking it for a second
//! session while the first is open fails with "session not created: Maximum number
//! of active sessions". Two desks on one database therefore use two `tauri-driver`s on
//! separate port pairs (4444/4445, 4446/4447, …), which work side by side under one
//! X display; see [`Clinic::open_desk`] and `tests/e2e/two_desks.rs`.
//!
//! # When the tests run
//! Only when `FRONTDESK_E2E` is set (`scripts/test.sh` sets it and wraps the run in
//! `xvfb-run`); otherwise each test prints why it skipped and passes. With
//! `FRONTDESK_E2E` set, a missing `DISPLAY` or app binary is a failure, not a skip.
//! The binary is not built by this crate: run `cargo build -p frontdesk-app` first.

mod desk;
mod driver;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

pub use desk::Desk;
pub use fantoccini::Locator;

/// The environment variable that turns the end-to-end tests on.
pub const ENABLE_ENV: &str = "FRONTDESK_E2E";

/// One clinic database in a fresh temporary directory, shared by the desks opened on
/// it. The directory is removed when the clinic is dropped.
#[derive(Debug)]
pub struct Clinic {
    test_name: String,
    dir: tempfile::TempDir,
    db_path: PathBuf,
    desks_opened: AtomicUsize,
}

impl Clinic {
    /// A new, empty clinic for the test `test_name` (used to name screenshots and
    /// logs), or `None` when end-to-end tests are off (the skip is printed).
    ///
    /// # Panics
    /// When `FRONTDESK_E2E` is set but there is no `DISPLAY` or no app binary.
    pub fn for_test(test_name: &str) -> Option<Self> {
        if !enabled() {
            eprintln!(
                "skipped {test_name}: end-to-end tests run only with {ENABLE_ENV}=1 under a display \
                 (scripts/test.sh runs them under xvfb-run)"
            );
            return None;
        }
        assert!(
            std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty()),
            "{ENABLE_ENV} is set but DISPLAY is not: run the end-to-end tests under \
             `xvfb-run -a -s \"-screen 0 1366x768x24\"` (without a display the WebDriver \
             session hangs instead of failing)"
        );
        let app = app_binary();
        assert!(
            app.is_file(),
            "the app binary {} does not exist: run `cargo build -p frontdesk-app` first",
            app.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("frontdesk-e2e-")
            .tempdir()
            .expect("create a temporary directory for the clinic database");
        let db_path = dir.path().join("clinic.sqlite3");
        write_recording_sender(dir.path());
        Some(Self {
            test_name: test_name.to_owned(),
            dir,
            db_path,
            desks_opened: AtomicUsize::new(0),
        })
    }

    /// Like [`Clinic::for_test`], the clinic's database a new, empty one on the
    /// test PostgreSQL server (`FRONTDESK_TEST_PG`, which `scripts/test.sh` sets
    /// and serves), migrated; the desks open it by its URL. `None` when end-to-end
    /// tests are off.
    ///
    /// # Panics
    /// As [`Clinic::for_test`]; and when there is no test server.
    pub fn on_server(test_name: &str) -> Option<Self> {
        let mut clinic = Self::for_test(test_name)?;
        let url = off_runtime(|| fresh_server_database(test_name));
        clinic.db_path = PathBuf::from(url);
        Some(clinic)
    }
}

/// Runs `f` on a thread of its own: the clinic server's synchronous client (and
/// anything holding one, a `Frontdesk` on a server) must not block the test's
/// async runtime, nor be dropped on it.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("no panic off the runtime"))
}

/// A new empty database for `test_name` on the test server, migrated; its URL.
fn fresh_server_database(test_name: &str) -> String {
    let admin_url = std::env::var("FRONTDESK_TEST_PG")
        .expect("FRONTDESK_TEST_PG names the test server (scripts/test.sh starts one)");
    let admin = frontdesk::storage::pg::PgClinic::connect(&admin_url, 1)
        .expect("connect to the test server");
    let name = format!("fd_e2e_{test_name}");
    let mut session = admin.session().expect("a session on the test server");
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        session.batch_execute(&sql).expect("make the test database");
    }
    let (base, _) = admin_url.rsplit_once('/').expect("a URL with a database");
    let url = format!("{base}/{name}");
    frontdesk::storage::pg::PgClinic::connect(&url, 1)
        .and_then(|c| c.migrate())
        .expect("migrate the test database");
    url
}

impl Clinic {
    /// The database file every desk of this clinic opens.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// The database path as the app displays it.
    pub fn db_path_text(&self) -> String {
        self.db_path.display().to_string()
    }

    /// The temporary directory holding the database (and anything else the test
    /// wants to put beside it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts one more app instance on this clinic's database and waits until its
    /// page has loaded. Desks are numbered 1, 2, … in the order they are opened.
    pub async fn open_desk(&self) -> Desk {
        let number = self.desks_opened.fetch_add(1, Ordering::Relaxed) + 1;
        Desk::open(self, number, &[], &[]).await
    }

    /// Like [`Clinic::open_desk`], passing command-line arguments to the app
    /// (e.g. `--demo`).
    pub async fn open_desk_with_args(&self, args: &[&str]) -> Desk {
        let number = self.desks_opened.fetch_add(1, Ordering::Relaxed) + 1;
        Desk::open(self, number, args, &[]).await
    }

    /// Like [`Clinic::open_desk`], with more environment variables for the app
    /// (e.g. `FRONTDESK_KEYS_DIR`: a computer whose key folder is elsewhere).
    pub async fn open_desk_with_env(&self, env: &[(&str, &Path)]) -> Desk {
        let number = self.desks_opened.fetch_add(1, Ordering::Relaxed) + 1;
        Desk::open(self, number, &[], env).await
    }

    /// This clinic's passcode senders file (the recording sender).
    pub fn senders_file(&self) -> PathBuf {
        self.dir.path().join("senders").join("senders.toml")
    }

    /// The six-digit code in the newest message the recording sender sent to
    /// `phone` (E.164), if any.
    pub fn last_code(&self, phone: &str) -> Option<String> {
        let sent = self.dir.path().join("senders").join("sent");
        let text = std::fs::read_to_string(sent.join(format!("{phone}.txt"))).ok()?;
        text.lines()
            .last()?
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .map(str::to_string)
    }

    /// The test's name, for screenshots and logs.
    pub fn test_name(&self) -> &str {
        &self.test_name
    }
}

/// Writes `<dir>/senders/`: a recording sender script, its `sent/` folder and a
/// `senders.toml` naming it (all private to this user, as Frontdesk requires).
fn write_recording_sender(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let root = dir.join("senders");
    let sent = root.join("sent");
    std::fs::create_dir_all(&sent).expect("create the senders folder");
    let script = root.join("record.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n# $1 = the folder to record into, $2 = the phone; the message on stdin\nmessage=$(cat)\nprintf '%s\\n' \"$message\" >> \"$1/$2.txt\"\n",
    )
    .expect("write the recording sender");
    let file = root.join("senders.toml");
    std::fs::write(
        &file,
        format!(
            "[sender.record]\nprogram = \"{}\"\nargs = [\"{}\", \"{{phone}}\"]\n",
            script.display(),
            sent.display()
        ),
    )
    .expect("write the senders file");
    for (path, mode) in [
        (&root, 0o700),
        (&sent, 0o700),
        (&script, 0o700),
        (&file, 0o600),
    ] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .expect("make the senders files private");
    }
}

fn enabled() -> bool {
    std::env::var_os(ENABLE_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

/// `target/debug/frontdesk-app` (or `FRONTDESK_APP_BIN`), as an absolute path:
/// found from this test binary's own location (`target/debug/deps/…`), so it also
/// honours `CARGO_TARGET_DIR`.
pub fn app_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("FRONTDESK_APP_BIN") {
        return std::path::absolute(bin).expect("FRONTDESK_APP_BIN as an absolute path");
    }
    profile_dir().join("frontdesk-app")
}

/// Where screenshots go: `target/e2e-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    target_dir().join("e2e-screenshots")
}

/// Where each desk's driver and app output goes: `target/e2e-logs/` (`<desk>.log`;
/// the app's own log, `FRONTDESK_LOG_DIR`, in `<desk>.app/`).
pub fn log_dir() -> PathBuf {
    target_dir().join("e2e-logs")
}

/// `target/debug`: the test executable lives in `target/debug/deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    profile_dir()
        .parent()
        .expect("<target>/<profile> has a parent")
        .to_path_buf()
}
