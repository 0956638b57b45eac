// One human sentence per error code, with the next step where there is one
// (UI.md "Messages"), in the desk's language (lib/messages.ts). The core's message is used where it says more (which field is
// wrong, who changed what, how long to wait); nothing here shows a code or SQL.
import type { CommandError, ErrorCode } from "./api";
import { asCommandError } from "./api";
import { locale, t } from "./i18n.svelte";

/** The sentence per code in the desk's language (the catalogue's `errors`). */
const FALLBACK = new Proxy({} as Record<ErrorCode, string>, {
  get: (_, code: string) => t.errors[code as ErrorCode],
});

function sentence(text: string): string {
  const t = text.trim();
  if (!t) return t;
  const first = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : first + ".";
}

/** The sentence to show a person for an error from a command. */
export function humanMessage(raw: unknown): string {
  const e: CommandError = asCommandError(raw);
  // The core's messages are English (they also serve the command line and the
  // logs); a desk speaking another language shows the code's own sentence.
  if (locale.lang !== "en") return e.code === "SlotTaken" ? t.slotTakenRefreshed : FALLBACK[e.code];
  switch (e.code) {
    case "SlotTaken":
      return t.slotTakenRefreshed;
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
