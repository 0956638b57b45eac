import { decimal, moment, number, weekdayName } from "../lib/i18n.svelte";
// Small display helpers shared by the patients, waitlist and admin screens.

/** A Unix-seconds moment in the clinic's time zone and locale ("2 Dec 2026, 13:59"; "—" for none). */
export function fmtMoment(at: number | null | undefined, timeZone?: string): string {
  return moment(at, timeZone);
}

/** Today's date as "YYYY-MM-DD" in `timeZone`, shifted by `days`. */
export function isoDate(days = 0, timeZone?: string): string {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(
    new Date(Date.now() + days * 86_400_000),
  );
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? "";
  return `${get("year")}-${get("month")}-${get("day")}`;
}

/** Microseconds as a short human figure. */
export function fmtMicros(us: number): string {
  if (us < 1000) return `${number(us)} µs`;
  if (us < 1_000_000) return `${decimal(us / 1000, 1)} ms`;
  return `${decimal(us / 1_000_000, 2)} s`;
}

/** Bytes as KB/MB. */
export function fmtBytes(n: number): string {
  if (n < 1024) return `${number(n)} B`;
  if (n < 1024 * 1024) return `${number(Math.round(n / 1024))} KB`;
  return `${decimal(n / 1024 / 1024, 1)} MB`;
}

/** Weekday names Monday first, in the desk's language. */
export function weekdays(): string[] {
  return [1, 2, 3, 4, 5, 6, 7].map(weekdayName);
}

/** Local "YYYY-MM-DD" plus `days`. */
export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}
