//! Printing results: text for people, or exactly one JSON object for scripts.

use std::io::{self, Write};

use frontdesk::{Error, ErrorCode};
use serde::Serialize;

/// Standard output for answers. When its reader has gone away (`frontdesk … |
/// head`), the command ends quietly with status 0, as Unix tools do, instead of
/// panicking on the closed pipe (`println!`). Nothing is cut short by that: every
/// command writes its answer after its change is saved. Signals stay as they
/// are, so a passcode sender that closes its input early is still an error of
/// that sending, not the end of the process.
pub struct Answer;

impl Write for Answer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        ends_quietly_without_reader(io::stdout().write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        ends_quietly_without_reader(io::stdout().flush())
    }
}

fn ends_quietly_without_reader<T>(result: io::Result<T>) -> io::Result<T> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => crate::exit_now(0),
        other => other,
    }
}

/// Writes one line of an answer; a failure other than a closed pipe (a full
/// disk behind a redirection) is reported on stderr.
fn answer_line(text: &str) {
    if let Err(e) = writeln!(Answer, "{text}") {
        eprintln!("frontdesk: cannot write the answer: {e}");
    }
}

#[derive(Clone, Copy)]
pub struct Out {
    pub json: bool,
}

impl Out {
    /// Prints `value` as JSON, or the text `human` builds.
    pub fn print<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            answer_line(
                &serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")),
            );
        } else {
            let text = human();
            if !text.is_empty() {
                answer_line(text.trim_end());
            }
        }
    }

    /// Reports an error: a sentence on stderr, and a JSON object on stdout in JSON mode.
    pub fn error(&self, e: &Error) {
        if let Error::Database(_) | Error::Internal(_) = e {
            eprintln!("frontdesk: {e}");
        }
        self.refusal(e.code(), &e.public_message());
    }

    /// Reports a refusal of kind `code` with its sentence (as [`Out::error`]).
    pub fn refusal(&self, code: ErrorCode, message: &str) {
        eprintln!("error: {message}");
        if self.json {
            answer_line(
                &serde_json::json!({ "error": { "code": code, "message": message } }).to_string(),
            );
        }
    }
}
