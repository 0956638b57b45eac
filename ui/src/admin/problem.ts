// How the patients, waitlist and admin screens turn a failed command into words
// (the sentences live in ../lib/errors.ts).
import type { ErrorCode } from "../bindings/ErrorCode";
import { asCommandError } from "../lib/api";
import { humanMessage } from "../lib/errors";

/** True when `e` is a command error of `code`. */
export function isCode(e: unknown, code: ErrorCode): boolean {
  return asCommandError(e).code === code;
}

/** One sentence for a person, with the next step where there is one. */
export const problemText = (e: unknown): string => humanMessage(e);
