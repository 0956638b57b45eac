//! Printing results: text for people, or exactly one JSON object for scripts.

use frontdesk::{Error, ErrorCode};
use serde::Serialize;

#[derive(Clone, Copy)]
pub struct Out {
    pub json: bool,
}

impl Out {
    /// Prints `value` as JSON, or the text `human` builds.
    pub fn print<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
            );
        } else {
            let text = human();
            if !text.is_empty() {
                println!("{}", text.trim_end());
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
            println!(
                "{}",
                serde_json::json!({ "error": { "code": code, "message": message } })
            );
        }
    }
}
