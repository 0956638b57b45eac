//! One running app instance and its WebDriver session.

use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::NewSessionError;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::driver::TauriDriver;
use crate::Clinic;

/// Session creation starts the app; without a display it hangs instead of failing.
const SESSION_TIMEOUT: Duration = Duration::from_secs(60);
/// Now and then (a few percent of sessions here) tauri-driver's forwarded
/// `POST /session` has its connection to WebKitWebDriver reset; the same request
/// sent straight to WebKitWebDriver never failed in 70 tries. A fresh driver then
/// works, so transport failures are retried with a new driver and a new log.
const SESSION_ATTEMPTS: usize = 3;
/// How long `wait_for*` helpers wait for the page to reach the expected state.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How many of the app's warnings and errors a failed wait quotes.
pub const APP_PROBLEMS_SHOWN: usize = 20;

/// A running `frontdesk-app` on a clinic's database, driven over WebDriver.
///
/// Close it with [`Desk::close`]; if a test panics first, dropping the desk still
/// stops the app and its driver (SIGTERM).
#[derive(Debug)]
pub struct Desk {
    client: Client,
    name: String,
    /// The app's own log folder (`FRONTDESK_LOG_DIR`): `target/e2e-logs/<name>.app/`.
    app_log: std::path::PathBuf,
    // Dropped after `client`: the driver outlives the session.
    _driver: TauriDriver,
}

impl Desk {
    pub(crate) async fn open(
        clinic: &Clinic,
        number: usize,
        args: &[&str],
        env: &[(&str, &std::path::Path)],
    ) -> Self {
        let name = format!("{}-desk{number}", clinic.test_name());
        let log_dir = crate::log_dir();
        std::fs::create_dir_all(&log_dir).expect("create target/e2e-logs");
        // the app's log of this desk alone (not the user's app-data folder shared
        // by every desk), emptied first: a failure quotes its warnings and errors
        let app_log = log_dir.join(format!("{name}.app"));
        let _ = std::fs::remove_dir_all(&app_log);
        let capabilities = json!({
            "browserName": "wry",
            "tauri:options": { "application": crate::app_binary(), "args": args },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };

        for attempt in 1..=SESSION_ATTEMPTS {
            let log = log_dir.join(match attempt {
                1 => format!("{name}.log"),
                n => format!("{name}.attempt{n}.log"),
            });
            let senders = clinic.senders_file();
            // the desk's own settings (a clinic server it was connected to) stay
            // with the test's clinic, never in this user's configuration folder
            let desk_config = clinic.dir().join("desk-config");
            let mut vars = vec![
                ("FRONTDESK_DB", clinic.db_path()),
                ("FRONTDESK_SENDERS_FILE", senders.as_path()),
                ("FRONTDESK_LOG_DIR", app_log.as_path()),
                ("FRONTDESK_CONFIG_DIR", desk_config.as_path()),
            ];
            vars.extend_from_slice(env);
            let driver = TauriDriver::start(&vars, &log);
            let mut builder = ClientBuilder::new(HttpConnector::new());
            builder.capabilities(capabilities.clone());
            let url = driver.url();
            let client = match tokio::time::timeout(SESSION_TIMEOUT, builder.connect(&url)).await {
                Ok(Ok(client)) => client,
                Ok(Err(
                    e @ (NewSessionError::Failed(_)
                    | NewSessionError::FailedC(_)
                    | NewSessionError::Lost(_)),
                )) if attempt < SESSION_ATTEMPTS => {
                    eprintln!(
                        "{name}: WebDriver session attempt {attempt} failed: {e}; \
                         restarting tauri-driver (output: {})",
                        log.display()
                    );
                    drop(driver);
                    continue;
                }
                Err(_) if attempt < SESSION_ATTEMPTS => {
                    eprintln!(
                        "{name}: no WebDriver session within {SESSION_TIMEOUT:?} (attempt \
                         {attempt}); restarting tauri-driver (output: {})",
                        log.display()
                    );
                    drop(driver);
                    continue;
                }
                Ok(Err(e)) => panic!(
                    "{name}: WebDriver session not created: {e} (driver and app output: {})",
                    log.display()
                ),
                Err(_) => panic!(
                    "{name}: no WebDriver session within {SESSION_TIMEOUT:?}; is DISPLAY a live \
                     X server? (driver and app output: {})",
                    log.display()
                ),
            };
            let desk = Self {
                client,
                name,
                app_log,
                _driver: driver,
            };
            // The frame is mounted once the status line exists.
            desk.wait_for("[data-testid=status-line]").await;
            return desk;
        }
        unreachable!("the last attempt returns or panics")
    }

    /// `<test>-desk<N>`: names this desk's screenshots and log.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The WebDriver client, for anything the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The first element matching `css`, now.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{}: no element matches {css:?}: {e}", self.name))
    }

    /// The first element matching `css`, waiting up to [`WAIT_TIMEOUT`] for it.
    pub async fn wait_for(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(WAIT_TIMEOUT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "{}: no element matched {css:?} within {WAIT_TIMEOUT:?}: {e}{}{}",
                self.name,
                self.page_text().await,
                self.app_problems()
            ),
        }
    }

    /// What the window shows (its visible text, shortened), for a failure's
    /// message: a CI log has no screenshot to look at.
    pub async fn page_text(&self) -> String {
        let text = self
            .client
            .execute(
                "return document.body ? document.body.innerText.slice(0, 1500) : '(no body)';",
                Vec::new(),
            )
            .await
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .unwrap_or_else(|e| format!("(could not read it: {e})"));
        format!("\n  the window shows: {text:?}")
    }

    /// Waits until the element matching `css` has text containing `expected` and
    /// returns its whole text; fails with the last text seen.
    pub async fn wait_for_text(&self, css: &str, expected: &str) -> String {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        let mut last_seen = None;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                if let Ok(text) = element.text().await {
                    if text.contains(expected) {
                        return text;
                    }
                    last_seen = Some(text);
                }
            }
            if Instant::now() >= deadline {
                let shot = self
                    .screenshot(&format!("{}-did-not-show", self.name))
                    .await;
                panic!(
                    "{}: {css:?} did not show {expected:?} within {WAIT_TIMEOUT:?}; last text: \
                     {last_seen:?} (the window: {}){}{}",
                    self.name,
                    shot.display(),
                    self.page_text().await,
                    self.app_problems()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The app's log folder for this desk.
    pub fn app_log(&self) -> &std::path::Path {
        &self.app_log
    }

    /// For a failure message: the warnings and errors in this desk's app log so
    /// far (the last [`APP_PROBLEMS_SHOWN`]), and where the whole log is. A failed
    /// background job (a backup) shows nothing on the screen it was not started
    /// from; its error is here.
    pub fn app_problems(&self) -> String {
        let mut lines = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&self.app_log) {
            let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
            files.sort();
            for file in files {
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                lines.extend(
                    text.lines()
                        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
                        .map(str::to_owned),
                );
            }
        }
        let skip = lines.len().saturating_sub(APP_PROBLEMS_SHOWN);
        let shown = if lines.is_empty() {
            " none".to_owned()
        } else {
            lines[skip..]
                .iter()
                .map(|l| format!("\n    {l}"))
                .collect::<String>()
        };
        format!(
            "\n  the app's warnings and errors ({}):{shown}",
            self.app_log.display()
        )
    }

    /// Saves a PNG of the window's page to `target/e2e-screenshots/<file_stem>.png`.
    ///
    /// Waits for two animation frames first: WebKit's snapshot is the last painted
    /// frame, which can lag behind a DOM change the test has just seen.
    pub async fn screenshot(&self, file_stem: &str) -> std::path::PathBuf {
        self.client
            .execute_async(
                "const done = arguments[arguments.length - 1];\n\
                 requestAnimationFrame(() => requestAnimationFrame(() => done()));",
                Vec::new(),
            )
            .await
            .unwrap_or_else(|e| panic!("{}: waiting for a painted frame failed: {e}", self.name));
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("{}: screenshot failed: {e}", self.name));
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{}: the screenshot is not a PNG",
            self.name
        );
        let dir = crate::screenshot_dir();
        std::fs::create_dir_all(&dir).expect("create target/e2e-screenshots");
        let path = dir.join(format!("{file_stem}.png"));
        std::fs::write(&path, png)
            .unwrap_or_else(|e| panic!("write the screenshot {}: {e}", path.display()));
        path
    }

    /// Ends the session (which closes the app window) and stops the driver.
    pub async fn close(self) {
        let Self {
            client,
            name,
            app_log: _,
            _driver,
        } = self;
        if let Err(e) = client.close().await {
            eprintln!("{name}: closing the WebDriver session failed: {e}");
        }
        drop(_driver);
    }
}
