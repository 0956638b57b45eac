// The desk's shared state: who is signed in, the clinic, the shown date, the
// multi-desk change feed and toasts. Components read it; only the desk flows write.
import type { ClinicSettings } from "../bindings/ClinicSettings";
import type { SignedIn } from "../bindings/SignedIn";
import type { Action } from "../bindings/Action";
import type { Undo } from "../bindings/Undo";

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

/** `HH:MM` of a Unix time in the clinic's time zone. */
const clockFormats = new Map<string, Intl.DateTimeFormat>();

export function clock(at: number, timeZone: string): string {
  let f = clockFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-GB", {
      timeZone,
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    clockFormats.set(timeZone, f);
  }
  return f.format(new Date(at * 1000));
}

/** "Mon 7 Jan 2030, 09:00" in the clinic's time zone. */
export function when(at: number, timeZone: string): string {
  return new Intl.DateTimeFormat("en-GB", {
    timeZone,
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).format(new Date(at * 1000));
}

/** "Monday, 7 January 2030" for a `YYYY-MM-DD` date. */
export function longDate(date: string): string {
  return new Intl.DateTimeFormat("en-GB", {
    timeZone: "UTC",
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
  }).format(new Date(date + "T12:00:00Z"));
}
