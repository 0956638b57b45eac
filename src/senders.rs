//! The programs that send passcode messages, configured per PC in a file that
//! only the PC's administrator can change — never in the database.
//!
//! A restored backup or anyone who can write the database file could otherwise
//! make a desk run any command (issue 11). The database only *names* one of the
//! senders described here (the `otp.sender_name` setting); a name this PC does
//! not describe sends nothing.
//!
//! ```toml
//! # /etc/frontdesk/senders.toml (Linux), writable by root only
//! default = "modem"            # used when the clinic names no sender
//!
//! [sender.modem]
//! program = "/usr/local/bin/sms-send"   # an absolute path; no shell
//! args = ["--device", "/dev/ttyUSB0", "--to", "{phone}"]
//! ```
//!
//! The program gets the arguments, with an argument `{phone}` (or any text in
//! one) replaced by the phone in E.164 — or the phone appended as the last
//! argument when none names it — and **the message on standard input** (one line
//! of UTF-8 text), never as an argument: arguments are visible to every user of
//! the PC (`ps`). Exit status 0 means sent. The file is found at
//! `FRONTDESK_SENDERS_FILE` if set, else at [`default_senders_file`]'s place for
//! the operating system. On Unix it is refused when anyone other than root or the
//! user Frontdesk runs as owns it, or it or a folder above it can be changed by
//! other users (group- or world-writable, unless a sticky folder like `/tmp`);
//! the same holds for each sender's program.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::{Error, Result};

/// The variable naming another senders file (tests, unusual installs).
pub const SENDERS_FILE_ENV: &str = "FRONTDESK_SENDERS_FILE";
/// The clinic setting naming which of this PC's senders passcodes use.
pub const SENDER_NAME_KEY: &str = "otp.sender_name";
/// The settings that held a program and its arguments before issue 11; they are
/// removed by migration 08 and refused if anyone sets them.
pub const RETIRED_KEYS: [&str; 2] = ["otp.sender", "otp.sender_args"];
/// How long a sender program may run before it is stopped.
pub const SENDER_TIMEOUT: Duration = Duration::from_secs(30);
/// The placeholder replaced by the phone (E.164) in an argument.
pub const PHONE_PLACEHOLDER: &str = "{phone}";

const MAX_FILE_BYTES: u64 = 64 * 1024;
const MAX_SENDERS: usize = 32;
const MAX_ARGS: usize = 32;
const MAX_ARG_BYTES: usize = 1024;

/// Where this PC's senders file is: `FRONTDESK_SENDERS_FILE` when set, else
/// `/etc/frontdesk/senders.toml` (Linux and other Unix),
/// `/Library/Application Support/Frontdesk/senders.toml` (macOS) or
/// `%ProgramData%\Frontdesk\senders.toml` (Windows).
pub fn default_senders_file() -> PathBuf {
    if let Some(p) = std::env::var_os(SENDERS_FILE_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    os_senders_file()
}

#[cfg(target_os = "macos")]
fn os_senders_file() -> PathBuf {
    PathBuf::from("/Library/Application Support/Frontdesk/senders.toml")
}

#[cfg(windows)]
fn os_senders_file() -> PathBuf {
    let base = std::env::var_os("ProgramData")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"));
    base.join("Frontdesk").join("senders.toml")
}

#[cfg(not(any(target_os = "macos", windows)))]
fn os_senders_file() -> PathBuf {
    PathBuf::from("/etc/frontdesk/senders.toml")
}

/// One configured sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// Its name in the file (what the clinic's setting names).
    pub name: String,
    /// The program, an absolute path.
    pub program: PathBuf,
    /// Its arguments (`{phone}` replaced when it runs).
    pub args: Vec<String>,
}

/// This PC's senders, as read from its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendersFile {
    /// Where they were read from.
    pub path: PathBuf,
    /// The sender used when the clinic names none.
    pub default: Option<String>,
    /// By name.
    pub senders: BTreeMap<String, Sender>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    default: Option<String>,
    #[serde(default)]
    sender: BTreeMap<String, RawSender>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSender {
    program: String,
    #[serde(default)]
    args: Vec<String>,
}

/// A sender's name: 1–64 letters, digits, `.`, `_` or `-`.
pub fn check_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty()
        || n.len() > 64
        || !n
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(Error::invalid(
            "a sender's name is 1-64 letters, digits, '.', '_' or '-'",
        ));
    }
    Ok(n.to_string())
}

fn refused(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::invalid(format!(
        "this PC's passcode senders file {} cannot be used: {why}",
        path.display()
    ))
}

/// Reads this PC's senders file: `Ok(None)` when there is none; an error saying
/// why when it exists but cannot be used (permissions, syntax, a bad entry).
pub fn load(path: &Path) -> Result<Option<SendersFile>> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(refused(path, format!("it cannot be read ({e})"))),
    };
    crate::platform::check_trusted(path).map_err(|why| refused(path, why))?;
    let mut text = String::new();
    Read::by_ref(&mut file)
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| refused(path, format!("it cannot be read as UTF-8 text ({e})")))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(refused(path, "it is larger than 64 KiB"));
    }
    let raw: RawFile = toml::from_str(&text).map_err(|e| {
        refused(
            path,
            format!("it is not a valid senders file: {}", e.message()),
        )
    })?;
    if raw.sender.len() > MAX_SENDERS {
        return Err(refused(path, "it describes more than 32 senders"));
    }
    let mut senders = BTreeMap::new();
    for (name, s) in raw.sender {
        let name = check_name(&name).map_err(|e| refused(path, format!("[sender.{name}]: {e}")))?;
        let sender = check_sender(&name, s).map_err(|why| refused(path, why))?;
        senders.insert(name, sender);
    }
    let default = match raw.default {
        Some(d) if !senders.contains_key(d.trim()) => {
            return Err(refused(
                path,
                format!("default = {d:?} names no [sender.{d}] in it"),
            ))
        }
        d => d.map(|d| d.trim().to_string()),
    };
    Ok(Some(SendersFile {
        path: path.to_path_buf(),
        default,
        senders,
    }))
}

fn check_sender(name: &str, s: RawSender) -> std::result::Result<Sender, String> {
    let program = PathBuf::from(s.program.trim());
    if !program.is_absolute()
        || s.program.len() > MAX_ARG_BYTES
        || s.program.chars().any(char::is_control)
    {
        return Err(format!(
            "[sender.{name}]: program must be an absolute path (e.g. /usr/local/bin/sms-send), got {:?}",
            s.program
        ));
    }
    if s.args.len() > MAX_ARGS || s.args.iter().any(|a| a.len() > MAX_ARG_BYTES) {
        return Err(format!(
            "[sender.{name}]: at most {MAX_ARGS} arguments of at most {MAX_ARG_BYTES} bytes"
        ));
    }
    if s.args.iter().any(|a| a.contains('\0')) {
        return Err(format!(
            "[sender.{name}]: an argument contains a NUL character"
        ));
    }
    if s.args.iter().any(|a| a.contains("{message}")) {
        return Err(format!(
            "[sender.{name}]: {{message}} is not allowed in the arguments: the message goes to the program on standard input, where other users of the PC cannot see it"
        ));
    }
    Ok(Sender {
        name: name.to_string(),
        program,
        args: s.args,
    })
}

impl SendersFile {
    /// The sender passcodes use: the one the clinic's setting names, else the
    /// file's `default`, else the only one described. `Ok(None)` when none
    /// applies (several described, no default, none named); an error when the
    /// clinic names one this PC does not describe.
    pub fn choose(&self, named: Option<&str>) -> Result<Option<&Sender>> {
        match named.map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => self.senders.get(n).map(Some).ok_or_else(|| {
                Error::invalid(format!(
                    "the clinic's passcode sender {n:?} is not described in this PC's senders file {} (it describes: {}); the PC's administrator must add it, or an admin must choose another",
                    self.path.display(),
                    self.names().join(", ")
                ))
            }),
            None => Ok(match &self.default {
                Some(d) => self.senders.get(d),
                None if self.senders.len() == 1 => self.senders.values().next(),
                None => None,
            }),
        }
    }

    /// The names described, sorted.
    pub fn names(&self) -> Vec<String> {
        self.senders.keys().cloned().collect()
    }
}

/// The sentence for "no sender": what the PC's administrator has to do.
pub fn no_sender_message(path: &Path, file: Option<&SendersFile>) -> String {
    match file {
        None => format!(
            "no passcode sender is set up on this PC: a sender must be set up first — the PC's administrator describes one in {} (see \"Configuring a sender\" in the README)",
            path.display()
        ),
        Some(f) => format!(
            "no passcode sender is chosen: this PC's senders file {} describes several ({}) and no default; a sender must be set up — an admin chooses one in Settings (otp.sender_name)",
            path.display(),
            f.names().join(", ")
        ),
    }
}

impl Sender {
    /// Runs the program for one message: the phone as an argument, the message on
    /// standard input. `Err` carries a reason without digits (a program may echo
    /// the message).
    pub fn send(&self, phone: &str, message: &str) -> std::result::Result<(), String> {
        crate::platform::check_trusted(&self.program).map_err(|why| {
            format!(
                "the sender program {} is refused: {why}",
                self.program.display()
            )
        })?;
        let mut cmd = Command::new(&self.program);
        let mut named = false;
        for a in &self.args {
            if a.contains(PHONE_PLACEHOLDER) {
                named = true;
                cmd.arg(a.replace(PHONE_PLACEHOLDER, phone));
            } else {
                cmd.arg(a);
            }
        }
        if !named {
            cmd.arg(phone);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            format!(
                "cannot start the sender program {}: {}",
                self.program.display(),
                redact(&e.to_string())
            )
        })?;
        if let Some(mut stdin) = child.stdin.take() {
            // a short line fits the pipe's buffer: this never waits for the
            // program; one that exits without reading it is its own business
            let _ = stdin.write_all(message.as_bytes());
            let _ = stdin.write_all(b"\n");
        }
        let mut stderr = child.stderr.take();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(s) = stderr.as_mut() {
                let _ = s.take(4096).read_to_string(&mut text);
                let _ = std::io::copy(s, &mut std::io::sink());
            }
            text
        });
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if started.elapsed() > SENDER_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(format!(
                        "the sender program took longer than {} s and was stopped",
                        SENDER_TIMEOUT.as_secs()
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => break Err(format!("waiting for the sender failed: {e}")),
            }
        };
        let err_text = reader.join().unwrap_or_default();
        match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(format!(
                "the sender program failed ({s}): {}",
                redact(&err_text)
            )),
            Err(e) => Err(e),
        }
    }
}

/// Keeps digits out of a sender's error text (it may echo the message) and
/// bounds it.
pub fn redact(text: &str) -> String {
    let mut out = String::new();
    let mut digits = 0;
    for c in text.chars().take(300) {
        if c.is_ascii_digit() {
            digits += 1;
            if digits == 1 {
                out.push('#');
            }
        } else {
            digits = 0;
            out.push(if c.is_control() { ' ' } else { c });
        }
    }
    out.trim().to_string()
}

/// A sender for tests and the measuring tools: a small `/bin/sh` script that
/// records each message it is given, so a test reads the passcode the way the
/// patient's phone would. Unix only.
pub mod recording {
    use std::path::{Path, PathBuf};

    /// The name the recording sender has in its file (also the file's default).
    pub const NAME: &str = "record";

    const SCRIPT: &str = r#"#!/bin/sh
# Frontdesk's recording sender: $1 = the folder to record into, $2 = the phone.
# Each run appends one line to argv.log (its arguments) and the message it read
# on standard input to <phone>.txt; a file named "fail" there makes it fail.
dir="$1"
message=$(cat)
printf '%s\n' "$*" >> "$dir/argv.log"
printf '%s\n' "$message" >> "$dir/$2.txt"
if [ -f "$dir/fail" ]; then
    echo "no modem for $2: $message" >&2
    exit 3
fi
exit 0
"#;

    /// Writes `<dir>/senders/` with the script, its record folder and a
    /// `senders.toml` naming it as the default; returns the senders file.
    pub fn write(dir: &Path) -> std::io::Result<PathBuf> {
        let root = dir.join("senders");
        let record = root.join("sent");
        std::fs::create_dir_all(&record)?;
        let script = root.join("record.sh");
        std::fs::write(&script, SCRIPT)?;
        let file = root.join("senders.toml");
        let toml = format!(
            "default = \"{NAME}\"\n\n[sender.{NAME}]\nprogram = \"{}\"\nargs = [\"{}\", \"{{phone}}\"]\n",
            escape(&script),
            escape(&record)
        );
        std::fs::write(&file, toml)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for (p, mode) in [
                (&root, 0o700),
                (&record, 0o700),
                (&script, 0o700),
                (&file, 0o600),
            ] {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))?;
            }
        }
        Ok(file)
    }

    fn escape(p: &Path) -> String {
        p.display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    }

    /// The folder the recording sender of `senders_file` writes into.
    pub fn record_dir(senders_file: &Path) -> PathBuf {
        senders_file.parent().unwrap_or(Path::new(".")).join("sent")
    }

    /// Makes the recording sender fail (exit 3) or succeed again.
    pub fn set_failing(senders_file: &Path, failing: bool) -> std::io::Result<()> {
        let flag = record_dir(senders_file).join("fail");
        if failing {
            std::fs::write(flag, b"")
        } else {
            match std::fs::remove_file(flag) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        }
    }

    /// Every message sent to `phone` (E.164), oldest first.
    pub fn messages(senders_file: &Path, phone: &str) -> Vec<String> {
        std::fs::read_to_string(record_dir(senders_file).join(format!("{phone}.txt")))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The arguments of every run, one line each.
    pub fn argv(senders_file: &Path) -> Vec<String> {
        std::fs::read_to_string(record_dir(senders_file).join("argv.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The passcode in the newest message sent to `phone`.
    pub fn last_code(senders_file: &Path, phone: &str) -> Option<String> {
        messages(senders_file, phone)
            .last()
            .and_then(|m| code_in(m))
    }

    /// The six-digit code in a message.
    pub fn code_in(message: &str) -> Option<String> {
        message
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("senders.toml");
        std::fs::write(&p, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        p
    }

    #[test]
    fn a_missing_file_is_no_sender_and_a_bad_one_says_why() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(&dir.path().join("none.toml")).unwrap(), None);
        for (text, says) in [
            ("[sender.a]\nprogram = \"sms\"\n", "absolute path"),
            (
                "[sender.a]\nprogram = \"/bin/sms\"\nargs = [\"{message}\"]\n",
                "standard input",
            ),
            (
                "[sender.a]\nprogram = \"/bin/sms\"\nargs = [\"--text={message}\"]\n",
                "standard input",
            ),
            (
                "default = \"b\"\n[sender.a]\nprogram = \"/bin/sms\"\n",
                "names no",
            ),
            (
                "[sender.a]\nprogram = \"/bin/sms\"\nshell = true\n",
                "valid senders file",
            ),
            ("[sender.\"a b\"]\nprogram = \"/bin/sms\"\n", "name"),
            ("sender = 3", "valid senders file"),
        ] {
            let p = file(dir.path(), text);
            let e = load(&p).unwrap_err().to_string();
            assert!(
                e.contains(says) && e.contains(&p.display().to_string()),
                "{text:?}: {e}"
            );
        }
    }

    #[test]
    fn the_clinic_chooses_by_name_else_the_default_else_the_only_one() {
        let dir = tempfile::tempdir().unwrap();
        let two = "[sender.a]\nprogram = \"/bin/a\"\n[sender.b]\nprogram = \"/bin/b\"\n";
        let f = load(&file(dir.path(), two)).unwrap().unwrap();
        assert_eq!(f.choose(None).unwrap(), None, "two and no default: none");
        assert_eq!(f.choose(Some("b")).unwrap().unwrap().name, "b");
        let e = f.choose(Some("/bin/sh")).unwrap_err().to_string();
        assert!(e.contains("not described"), "{e}");
        let f = load(&file(dir.path(), &format!("default = \"a\"\n{two}")))
            .unwrap()
            .unwrap();
        assert_eq!(f.choose(Some("")).unwrap().unwrap().name, "a");
        let f = load(&file(dir.path(), "[sender.only]\nprogram = \"/bin/a\"\n"))
            .unwrap()
            .unwrap();
        assert_eq!(f.choose(None).unwrap().unwrap().name, "only");
    }

    #[cfg(unix)]
    #[test]
    fn a_file_or_folder_others_can_change_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = file(dir.path(), "[sender.a]\nprogram = \"/bin/a\"\n");
        assert!(load(&p).is_ok());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains("other users") && e.contains("0666"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains("the folder") && e.contains("0777"), "{e}");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(load(&p).is_ok(), "a sticky folder is fine");
    }

    #[test]
    fn sender_errors_never_carry_digits() {
        assert_eq!(
            redact("bad number +49151 code 123456\n"),
            "bad number +# code #"
        );
    }
}
