// Typed access to the app's commands. Every type comes from Rust (ts-rs, in
// ../bindings); CI fails when those files are stale. A failing command throws a
// CommandError `{code, message}`; `call` also tells the app when the session ended
// (idle logoff) so it returns to the login screen.
import { Channel, invoke } from "@tauri-apps/api/core";
import type { AppInfo } from "../bindings/AppInfo";
import type { Command } from "../bindings/Command";
import type { CommandError } from "../bindings/CommandError";
import type { ErrorCode } from "../bindings/ErrorCode";

export type { AppInfo, Command, CommandError, ErrorCode };

const CODES: readonly ErrorCode[] = [
  "NotFound",
  "SlotTaken",
  "Conflict",
  "InvalidTransition",
  "Invalid",
  "RateLimited",
  "Unauthenticated",
  "Forbidden",
  "Busy",
  "KeyNeeded",
  "Internal",
];

/** True for the `{code, message}` a command rejects with. */
export function isCommandError(e: unknown): e is CommandError {
  return (
    typeof e === "object" &&
    e !== null &&
    CODES.includes((e as CommandError).code) &&
    typeof (e as CommandError).message === "string"
  );
}

/** Turns anything thrown into a CommandError (IPC failures become Internal). */
export function asCommandError(e: unknown): CommandError {
  if (isCommandError(e)) return e;
  return { code: "Internal", message: String(e) };
}

let onSignedOut: (() => void) | null = null;

/** The app registers what to do when a command answers Unauthenticated. */
export function setSignedOutHandler(handler: () => void): void {
  onSignedOut = handler;
}

/**
 * Calls a command; resolves with its result or throws a CommandError.
 * `signedOutIsExpected` is for login/first-run, where Unauthenticated means a
 * wrong password, not an ended session.
 */
export async function call<T>(
  cmd: Command,
  args?: Record<string, unknown>,
  opts: { signedOutIsExpected?: boolean } = {},
): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (raw) {
    const e = asCommandError(raw);
    if (e.code === "Unauthenticated" && !opts.signedOutIsExpected) onSignedOut?.();
    throw e;
  }
}

/**
 * A `call` for a view that reloads on every change. Each command runs on its own
 * thread, so answers can arrive out of order; an older answer must not replace a
 * newer one (a drawer showing a superseded version would send it and be told
 * Conflict). The answer to a request that a later one has superseded, or its
 * error, comes back as `undefined`: the caller keeps what it shows.
 */
export function newestOnly(): <T>(cmd: Command, args?: Record<string, unknown>) => Promise<T | undefined> {
  let latest = 0;
  return async <T>(cmd: Command, args?: Record<string, unknown>) => {
    const mine = ++latest;
    try {
      const answer = await call<T>(cmd, args);
      return mine === latest ? answer : undefined;
    } catch (e) {
      if (mine === latest) throw e;
      return undefined;
    }
  };
}

/** Version and database location of this desk, for the status line. */
export function appInfo(): Promise<AppInfo> {
  return call<AppInfo>("app_info");
}

/** Subscribes to the multi-desk change feed: `onChange` runs whenever anyone commits. */
export async function watchChanges(onChange: (version: number) => void): Promise<void> {
  const channel = new Channel<number>();
  channel.onmessage = onChange;
  await call<void>("watch_changes", { onChange: channel });
}
