//! Deny by default, from one list: `commands.txt` names every command the UI may
//! call. From it this script
//! - makes tauri-build generate an `allow-<command>` permission per command and
//!   reject any command that no capability grants;
//! - writes the invoke handler `lib.rs` includes (`$OUT_DIR/invoke_handler.rs`);
//! - fails the build when `capabilities/main.json` (the main window's grants) does
//!   not grant exactly these commands, naming what is missing or extra.

use std::collections::BTreeSet;
use std::path::PathBuf;

/// The commands of `commands.txt`: `module::command` paths under `commands`.
fn command_paths() -> Vec<String> {
    let text = std::fs::read_to_string("commands.txt").expect("read commands.txt");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// The permissions `capabilities/main.json` grants.
fn granted() -> BTreeSet<String> {
    let text =
        std::fs::read_to_string("capabilities/main.json").expect("read capabilities/main.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("capabilities/main.json");
    json["permissions"]
        .as_array()
        .expect("capabilities/main.json has a permissions list")
        .iter()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect()
}

fn main() {
    println!("cargo:rerun-if-changed=commands.txt");
    println!("cargo:rerun-if-changed=capabilities/main.json");
    let paths = command_paths();
    let names: Vec<&'static str> = paths
        .iter()
        .map(|p| &*p.rsplit("::").next().unwrap().to_string().leak())
        .collect();

    let wanted: BTreeSet<String> = names
        .iter()
        .map(|n| format!("allow-{}", n.replace('_', "-")))
        .collect();
    let granted = granted();
    let missing: Vec<_> = wanted.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&wanted).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "capabilities/main.json must grant exactly the commands of commands.txt: \
         missing {missing:?}, not commands {extra:?}"
    );

    let handler = format!(
        "tauri::generate_handler![{}]",
        paths
            .iter()
            .map(|p| format!("crate::commands::{p}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("invoke_handler.rs");
    std::fs::write(out, handler).expect("write the invoke handler");

    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(names.leak())),
    )
    .expect("tauri-build failed");
}
