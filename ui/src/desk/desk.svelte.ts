// The desk's shared state: who is signed in, the clinic, the shown date, the
// multi-desk change feed and toasts. Components read it; only the desk flows write.
import type { ClinicSettings } from "../bindings/ClinicSettings";
import type { SignedIn } from "../bindings/SignedIn";
import type { Action } from "../bindings/Action";
import type { Undo } from "../bindings/Undo";
import { fullDate, momentLong, time } from "../lib/i18n.svelte";

/** How long the toast offers *Undo* (the core's `UNDO_WINDOW_SECS`; it allows a little slack). */
export const UNDO_MS = 10_000;

class Desk {
  signedIn: SignedIn | null = $state(null);
  clinic: ClinicSettings | null = $state(null);
  /** Clinic-local date shown in the day view, `YYYY-MM-DD`. */
  date: string = $state("");
  /** Clinic-local today. */
  today: string = $state("");
  /** Bumped whenever anyone commits (this desk or another): views reload. */
  changes: number = $state(0);
  /** The watcher is subscribed. */
  live: boolean = $state(false);
  /** When the current view last reloaded. */
  lastRefresh: Date | null = $state(null);
  toast: string | null = $state(null);
  /** The change the shown toast can take back (its *Undo* button), if any. */
  toastUndo: Undo | null = $state(null);
  /** Which toast is shown, so an older one's timer does not hide a newer one. */
  private toastSeq = 0;
  /** `performance.now()` when Book was clicked, until the day view shows the result. */
  bookClickedAt: number | null = null;
  /** The Day view shows one doctor's week instead (the Day / Week toggle, `w`). */
  week: boolean = $state(false);
  /** The doctor the week view shows (null: the first). */
  weekDoctor: number | null = $state(null);
  /** The "go to date" box is open (the date label, or the `g` key). */
  jumping: boolean = $state(false);
  /** `performance.now()` when Sign in was clicked, until the day view first shows. */
  signInClickedAt: number | null = null;
  /** Pending appointments (admins), for the rail badge. */
  pendingCount: number = $state(0);

  may(action: Action): boolean {
    return this.signedIn?.allowed.includes(action) ?? false;
  }

  isAdmin(): boolean {
    return this.signedIn?.actor.role === "ADMIN";
  }

  /** Shows a short toast; with `undo`, an *Undo* button for ten seconds. */
  say(message: string, undo?: Undo): void {
    this.toast = message;
    this.toastUndo = undo ?? null;
    const shown = ++this.toastSeq;
    setTimeout(
      () => {
        if (this.toastSeq === shown) {
          this.toast = null;
          this.toastUndo = null;
        }
      },
      undo ? UNDO_MS : 3500,
    );
  }
}

export const desk = new Desk();

/** Adds `days` to a `YYYY-MM-DD` date. */
export function addDays(date: string, days: number): string {
  const d = new Date(date + "T12:00:00Z");
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** The time of a Unix time in the clinic's time zone and locale ("13:59"). */
export function clock(at: number, timeZone: string): string {
  return time(at, timeZone);
}

/** "Wed, 2 Dec 2026, 09:00" / "Mi., 2. Dez. 2026, 09:00" in the clinic's time zone. */
export function when(at: number, timeZone: string): string {
  return momentLong(at, timeZone);
}

/** "Wednesday, 2 December 2026" / "Mittwoch, 2. Dezember 2026" for a `YYYY-MM-DD` date. */
export function longDate(date: string): string {
  return fullDate(date);
}
