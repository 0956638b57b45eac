// Small display helpers shared by the patients, waitlist and admin screens.

/** A Unix-seconds moment as clinic-local "YYYY-MM-DD HH:MM" (the time zone from the core). */
export function fmtMoment(at: number | null | undefined, timeZone?: string): string {
  if (at === null || at === undefined) return "—";
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(new Date(at * 1000));
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? "";
  return `${get("year")}-${get("month")}-${get("day")} ${get("hour")}:${get("minute")}`;
}

/** Today's date as "YYYY-MM-DD" in `timeZone`, shifted by `days`. */
export function isoDate(days = 0, timeZone?: string): string {
  return fmtMoment(Math.floor(Date.now() / 1000) + days * 86400, timeZone).slice(0, 10);
}

/** Microseconds as a short human figure. */
export function fmtMicros(us: number): string {
  if (us < 1000) return `${us} µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(1)} ms`;
  return `${(us / 1_000_000).toFixed(2)} s`;
}

/** Bytes as KB/MB. */
export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/** Local "YYYY-MM-DD" plus `days`. */
export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}
