//! [`Input`]: a command argument whose parse failure crosses IPC as the same
//! `{code: "Invalid", message}` as every other refusal, instead of Tauri's own
//! error string (the UI and the command fuzz rely on one error shape).

use frontdesk::ErrorCode;
use serde::de::DeserializeOwned;
use tauri::ipc::{CommandArg, CommandItem, InvokeError};
use tauri::Runtime;

use crate::error::CommandError;

/// A command argument parsed from the page's JSON; `T` is a core input type.
#[derive(Debug)]
pub struct Input<T>(pub T);

impl<'de, R: Runtime, T: DeserializeOwned> CommandArg<'de, R> for Input<T> {
    fn from_command(command: CommandItem<'de, R>) -> Result<Self, InvokeError> {
        let (name, key) = (command.name, command.key);
        T::deserialize(command).map(Input).map_err(|e| {
            tracing::debug!("{name}: argument {key} refused: {e}");
            let refusal = CommandError::new(
                ErrorCode::Invalid,
                format!("the app sent {name} an unusable {key}; reload the window and try again"),
            );
            InvokeError::from(serde_json::to_value(refusal).unwrap_or_default())
        })
    }
}
