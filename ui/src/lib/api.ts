// Typed wrappers over the app's commands. The types come from Rust (ts-rs) in
// ../bindings; a Rust test fails when they are stale.
import { invoke } from "@tauri-apps/api/core";
import type { AppInfo } from "../bindings/AppInfo";

export type { AppInfo };

/** Version and database location of this desk, for the status line. */
export function appInfo(): Promise<AppInfo> {
  return invoke<AppInfo>("app_info");
}
