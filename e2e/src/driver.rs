//! One `tauri-driver` child process (which runs one `WebKitWebDriver`).

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the driver may take to answer `/status` after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a stopped process may take to exit after SIGTERM.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `tauri-driver --port P --native-port P+1`, stopped on drop.
///
/// Stopping sends SIGTERM, never SIGKILL: on SIGTERM tauri-driver stops its
/// WebKitWebDriver; a SIGKILLed tauri-driver would leave WebKitWebDriver holding the
/// native port, and the next run would silently talk to that stale one. Any app
/// instance still running under it (a test that panicked before closing its
/// session) gets SIGTERM first.
#[derive(Debug)]
pub(crate) struct TauriDriver {
    child: Child,
    port: u16,
}

impl TauriDriver {
    /// Starts a driver on the first free port pair from 4444/4445 upwards (4446/4447
    /// for a second desk, …), with `env` added to the environment it passes on to
    /// WebKitWebDriver and so to the app. Its output (and the app's) goes to `log`.
    pub(crate) fn start(env: &[(&str, &Path)], log: &Path) -> Self {
        let port = free_port_pair();
        let log_file = File::create(log)
            .unwrap_or_else(|e| panic!("create the driver log {}: {e}", log.display()));
        let mut command = Command::new("tauri-driver");
        command
            .arg("--port")
            .arg(port.to_string())
            .arg("--native-port")
            .arg((port + 1).to_string())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone the log file handle"))
            .stderr(log_file);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().unwrap_or_else(|e| {
            panic!("start tauri-driver: {e} (is it installed? scripts/setup.sh installs it)")
        });
        let driver = Self { child, port };
        driver.wait_until_ready();
        driver
    }

    /// The WebDriver endpoint for clients.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Polls `GET /status`, which tauri-driver forwards to WebKitWebDriver, so a 200
    /// means both are listening.
    fn wait_until_ready(&self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if status_ok(self.port) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "tauri-driver on port {} did not answer /status within {READY_TIMEOUT:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TauriDriver {
    fn drop(&mut self) {
        let driver = self.child.id() as libc::pid_t;
        // Deepest first: the app (and its WebKit helper processes), then WebKitWebDriver.
        let mut tree = descendants(driver);
        tree.reverse();
        for pid in tree {
            terminate(pid);
        }
        terminate(driver);
        let deadline = Instant::now() + EXIT_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    eprintln!(
                        "tauri-driver (pid {driver}) did not exit within {EXIT_TIMEOUT:?} of SIGTERM"
                    );
                    return;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        // WebKitWebDriver is tauri-driver's child, not ours: wait until its port is free
        // so the next driver can bind it.
        let deadline = Instant::now() + EXIT_TIMEOUT;
        while !port_free(self.port + 1) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn terminate(pid: libc::pid_t) {
    // SAFETY: kill(2) with a pid we found in /proc and a valid signal number has no
    // memory-safety preconditions; a pid that has exited meanwhile yields ESRCH.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}

/// All descendants of `root`, parents before children, from /proc/<pid>/stat.
fn descendants(root: libc::pid_t) -> Vec<libc::pid_t> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<libc::pid_t>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid …": comm may contain spaces and parentheses.
            let Some(after_comm) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            if let Some(ppid) = after_comm
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<libc::pid_t>().ok())
            {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parent_of
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    found.remove(0);
    found
}

fn free_port_pair() -> u16 {
    (4444..4544)
        .step_by(2)
        .find(|&port| port_free(port) && port_free(port + 1))
        .expect("no free port pair between 4444 and 4543: stale WebDriver processes?")
}

fn port_free(port: u16) -> bool {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).is_ok()
}

fn status_ok(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port))) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    // Read the whole response (the server closes): hanging up early makes
    // tauri-driver log a "connection reset" error.
    let mut response = Vec::new();
    stream.read_to_end(&mut response).is_ok() && response.starts_with(b"HTTP/1.1 200")
}
