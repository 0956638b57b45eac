// One human sentence per error code, with the next step where there is one
// (UI.md "Messages"). The core's message is used where it says more (which field is
// wrong, who changed what, how long to wait); nothing here shows a code or SQL.
import type { CommandError, ErrorCode } from "./api";
import { asCommandError } from "./api";

const FALLBACK: Record<ErrorCode, string> = {
  NotFound: "That record no longer exists. Refresh the view and try again.",
  SlotTaken: "This slot was just booked at another desk. Pick another slot.",
  Conflict: "Someone else changed this meanwhile. The view was refreshed — check it and try again.",
  InvalidTransition: "That status change is not possible any more. The view was refreshed.",
  Invalid: "Please check the entry and try again.",
  RateLimited: "Too many attempts. Wait a moment and try again.",
  Unauthenticated: "Your session ended. Please sign in again.",
  Forbidden: "Your role may not do this. Ask an admin.",
  Busy: "The database is busy at another desk. Try again in a moment.",
  KeyNeeded:
    "This computer does not have the key of this encrypted file. Type the clinic's recovery key to open it.",
  Internal: "Something went wrong inside Frontdesk; nothing was saved. Try again, or restart the app.",
};

function sentence(text: string): string {
  const t = text.trim();
  if (!t) return t;
  const first = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : first + ".";
}

/** The sentence to show a person for an error from a command. */
export function humanMessage(raw: unknown): string {
  const e: CommandError = asCommandError(raw);
  switch (e.code) {
    case "SlotTaken":
      return "This slot was just booked at another desk. The day was refreshed — pick another slot.";
    case "Internal":
    case "Busy":
      return FALLBACK[e.code];
    case "Unauthenticated":
      // login failures carry the core's sentence (wrong username or password…)
      return e.message ? sentence(e.message) : FALLBACK.Unauthenticated;
    case "Forbidden":
      return e.message ? `${sentence(e.message)} Ask an admin.` : FALLBACK.Forbidden;
    default:
      return e.message ? sentence(e.message) : FALLBACK[e.code];
  }
}

export { FALLBACK as ERROR_SENTENCES };
