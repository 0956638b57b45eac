//! What the shell's unit tests share: a mock app on a fresh database, and calling
//! a command as the page would, through the real IPC and access-control path.

use serde_json::Value;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::INVOKE_KEY;
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime};
use tauri::webview::InvokeRequest;
use tauri::{App, Manager, WebviewWindow, WebviewWindowBuilder};

use crate::state::AppState;

/// A mock app whose state holds a fresh database of its own (in the returned
/// folder), started as the event loop would, and its main window.
pub(crate) fn desk_on_new_database(
    name: &str,
) -> (
    App<MockRuntime>,
    WebviewWindow<MockRuntime>,
    tempfile::TempDir,
) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("frontdesk-app-{name}-"))
        .tempdir()
        .unwrap();
    let db = dir.path().join("clinic.sqlite3");
    let mut app = crate::install(mock_builder())
        .build(mock_context(noop_assets()))
        .unwrap();
    // managed before setup runs, so setup's own open is not the one used
    app.manage(AppState::new(frontdesk::Frontdesk::open_default(&db)));
    // Deprecated because a loop of it busy-waits; called once on the mock runtime
    // it only runs start-up, without entering an event loop the test can't leave.
    #[allow(deprecated)]
    app.run_iteration(|_, _| {});
    let window = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    (app, window, dir)
}

/// Calls the command `cmd` with `args` as the page in `window` would; the answer
/// or the error as JSON (`null` for none).
pub(crate) fn invoke(
    window: &WebviewWindow<MockRuntime>,
    cmd: &str,
    args: Value,
) -> Result<Value, Value> {
    get_ipc_response(
        window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize().unwrap_or(Value::Null))
}
