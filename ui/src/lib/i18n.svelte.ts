// The desk's language and the clinic's formats (UI.md "Messages").
//
// Which language: the clinic's (`clinic.language`, part of the clinic settings every
// signed-in desk reads), unless this desk chose another for its own screen — that
// choice is kept in the desk's localStorage (`frontdesk.language`), so it belongs to
// the PC, not to a person or the clinic. The login screen already knows the clinic's
// language (the `startup` command answers with the clinic settings).
//
// Formats: dates, times, numbers and money through Intl with the clinic's locale
// (language + the clinic's country, e.g. de-DE, en-GB) and the clinic's time zone;
// phone numbers through libphonenumber-js (Google's libphonenumber metadata, as the
// core's `phonenumber` crate), national for the clinic's own country, international
// for others — never raw E.164.
import { parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js";
import type { Language } from "../bindings/Language";
import { CATALOGUES, type Messages } from "./messages";

const OVERRIDE_KEY = "frontdesk.language";

function stored(key: string): Language | null {
  try {
    const v = localStorage.getItem(key);
    return v === "en" || v === "de" ? v : null;
  } catch {
    return null;
  }
}

function store(key: string, value: Language | null): void {
  try {
    if (value) localStorage.setItem(key, value);
    else localStorage.removeItem(key);
  } catch {
    // a desk without storage keeps the choice until it closes
  }
}

class Locale {
  /** The clinic's language (`clinic.language`). */
  clinic: Language = $state("en");
  /** This desk's own choice, if any (localStorage). */
  override: Language | null = $state(stored(OVERRIDE_KEY));
  /** The clinic's IANA time zone. */
  timeZone: string = $state("UTC");
  /** The clinic's country (ISO 3166 alpha-2), for number formats and phone numbers. */
  country: string = $state("US");

  /** The language the desk speaks. */
  get lang(): Language {
    return this.override ?? this.clinic;
  }

  /** The BCP 47 locale for Intl: the language in the clinic's country where Intl knows it. */
  get tag(): string {
    const wanted = `${this.lang}-${this.country}`;
    try {
      if (Intl.DateTimeFormat.supportedLocalesOf([wanted]).length > 0) return wanted;
    } catch {
      // an odd country code: the language alone
    }
    return this.lang === "de" ? "de-DE" : "en-GB";
  }

  /** Called with the clinic settings after sign-in and whenever they change. */
  setClinic(language: Language, timeZone: string, country: string): void {
    this.clinic = language;
    this.timeZone = timeZone;
    this.country = country;
  }

  /** This desk's choice: a language, or null for the clinic's. */
  choose(language: Language | null): void {
    this.override = language;
    store(OVERRIDE_KEY, language);
  }
}

export const locale = new Locale();

/** The messages in the desk's language: `t.today`, `t.appointments(3)`. Reactive in templates. */
export const t: Messages = new Proxy({} as Messages, {
  get: (_, key: string) => CATALOGUES[locale.lang][key as keyof Messages],
});

// ---------------------------------------------------------------- formats

const cache = new Map<string, Intl.DateTimeFormat>();

function dtf(options: Intl.DateTimeFormatOptions, timeZone = locale.timeZone): Intl.DateTimeFormat {
  const key = `${locale.tag}|${timeZone}|${JSON.stringify(options)}`;
  let f = cache.get(key);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat(locale.tag, { ...options, timeZone });
    } catch {
      f = new Intl.DateTimeFormat(locale.tag, { ...options, timeZone: "UTC" });
    }
    cache.set(key, f);
  }
  return f;
}

const day = (date: string) => new Date(`${date}T12:00:00Z`);

/** "Wednesday, 2 December 2026" / "Mittwoch, 2. Dezember 2026" for a `YYYY-MM-DD` date. */
export function fullDate(date: string): string {
  return date ? dtf({ dateStyle: "full" }, "UTC").format(day(date)) : "";
}

/** "2 Dec 2026" / "02.12.2026" for a `YYYY-MM-DD` date. */
export function shortDate(date: string | null | undefined): string {
  return date ? dtf({ dateStyle: "medium" }, "UTC").format(day(date)) : "";
}

/** "Wed 2 Dec" / "Mi., 2. Dez." — a week view's column heading. */
export function weekdayDate(date: string): string {
  return dtf({ weekday: "short", day: "numeric", month: "short" }, "UTC").format(day(date));
}

/** "Mon".."Sun" / "Mo".."So" for ISO weekdays 1..7. */
export function weekdayName(isoWeekday: number): string {
  // 2024-01-01 was a Monday
  return dtf({ weekday: "short" }, "UTC").format(day(`2024-01-0${isoWeekday}`));
}

/** "13:59" (or "1:59 PM" where the clinic's locale says so) of a Unix time, clinic time. */
export function time(at: number, timeZone = locale.timeZone): string {
  return dtf({ hour: "2-digit", minute: "2-digit" }, timeZone).format(new Date(at * 1000));
}

/** The clinic's wall-clock time now, for the status line. */
export function timeNow(): string {
  return dtf({ hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date());
}

/** "2 Dec 2026, 13:59" / "02.12.2026, 13:59" of a Unix time, clinic time; "—" for none. */
export function moment(at: number | null | undefined, timeZone = locale.timeZone): string {
  if (at === null || at === undefined) return "—";
  return dtf({ dateStyle: "medium", timeStyle: "short" }, timeZone).format(new Date(at * 1000));
}

/** "Wed, 2 Dec 2026, 13:59" of a Unix time in the clinic's time zone. */
export function momentLong(at: number, timeZone = locale.timeZone): string {
  return dtf(
    { weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" },
    timeZone,
  ).format(new Date(at * 1000));
}

/** "Week 49, 2026" / "KW 49 2026" for an ISO week's Monday (`YYYY-MM-DD`). */
export function weekLabel(monday: string): string {
  const d = day(monday);
  const thursday = new Date(d);
  thursday.setUTCDate(d.getUTCDate() + 3);
  const yearStart = Date.UTC(thursday.getUTCFullYear(), 0, 1);
  const week = Math.floor((thursday.getTime() - yearStart) / 86_400_000 / 7) + 1;
  return t.week(week, thursday.getUTCFullYear());
}

/** A whole number in the clinic's locale ("1,234" / "1.234"). */
export function number(n: number): string {
  return new Intl.NumberFormat(locale.tag).format(n);
}

/** A decimal number in the clinic's locale with `digits` fraction digits ("1.5" / "1,5"). */
export function decimal(n: number, digits: number): string {
  return new Intl.NumberFormat(locale.tag, { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(n);
}

/**
 * A clinic-local "YYYY-MM-DD HH:MM" (as the core writes it on receipts) in the
 * clinic's format; inside a longer text ("Dr. Test, 2026-12-02 09:00") only that part.
 */
export function localMoment(text: string): string {
  return text.replace(/(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})/, (_, d: string, hm: string) =>
    dtf({ dateStyle: "medium", timeStyle: "short" }, "UTC").format(new Date(`${d}T${hm}:00Z`)),
  );
}

/** A report's period: "2026-W49" → "Week 49, 2026"; "2026-12" → "December 2026". */
export function periodLabel(period: string): string {
  const w = /^(\d{4})-W(\d{1,2})$/.exec(period);
  if (w) return t.week(Number(w[2]), Number(w[1]));
  const m = /^(\d{4})-(\d{2})$/.exec(period);
  if (m) return dtf({ month: "long", year: "numeric" }, "UTC").format(new Date(`${m[1]}-${m[2]}-15T12:00:00Z`));
  return period;
}

/** Unix seconds of midnight starting a `YYYY-MM-DD` day in the clinic's time zone. */
export function startOfDay(date: string, timeZone = locale.timeZone): number {
  const utc = Date.parse(`${date}T00:00:00Z`);
  const offset = (at: number) => {
    const p = dtf({ year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }, timeZone)
      .formatToParts(new Date(at));
    const get = (k: string) => Number(p.find((x) => x.type === k)?.value ?? 0);
    return Date.UTC(get("year"), get("month") - 1, get("day"), get("hour") % 24, get("minute"), get("second")) - at;
  };
  let at = utc - offset(utc);
  at = utc - offset(at);
  return Math.floor(at / 1000);
}

/** The plural category of `n` in the desk's language. */
export function pluralOf(n: number): Intl.LDMLPluralRule {
  return new Intl.PluralRules(locale.lang).select(n);
}

/** A phone number as people read it: national in the clinic's country, else international. */
export function phone(e164: string | null | undefined): string {
  if (!e164) return "";
  const parsed = parsePhoneNumberFromString(e164, locale.country as CountryCode);
  if (!parsed) return e164;
  return parsed.country === locale.country ? parsed.formatNational() : parsed.formatInternational();
}

/** A person as the desk names them: the command line's actor in words, others by name. */
export function person(name: string | null | undefined): string {
  if (!name) return "";
  if (name === "cli (local administrator)") return t.localAdmin;
  // the audit log's actors carry their record number ("Demo Admin (#1)"): the name is enough
  return name.replace(/\s*\(#\d+\)$/, "");
}

// ---------------------------------------------------------------- date and time inputs

/** The order of day, month and year in the locale's short date ("dmy", "mdy", "ymd"). */
function dateOrder(): string {
  return dtf({ year: "numeric", month: "2-digit", day: "2-digit" }, "UTC")
    .formatToParts(day("2026-12-31"))
    .filter((p) => p.type === "day" || p.type === "month" || p.type === "year")
    .map((p) => p.type[0])
    .join("");
}

/** A `YYYY-MM-DD` date as typed in a date field: "02.12.2026", "02/12/2026", "12/02/2026". */
export function dateInputText(iso: string | null | undefined): string {
  return iso ? dtf({ year: "numeric", month: "2-digit", day: "2-digit" }, "UTC").format(day(iso)) : "";
}

/** The empty date field's hint: "DD.MM.YYYY" / "DD/MM/YYYY". */
export function datePlaceholder(): string {
  return dateInputText("2026-12-31").replace("31", t.dd).replace("12", t.mm).replace("2026", t.yyyy);
}

/**
 * Reads a typed date in the locale's order ("2.12.2026", "2/12/26") or ISO
 * ("2026-12-02"); "" for an empty field; null when it is not a date.
 */
export function parseDateInput(text: string): string | null {
  const s = text.trim();
  if (!s) return "";
  let y: number, m: number, d: number;
  const iso = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(s);
  if (iso) {
    [y, m, d] = [Number(iso[1]), Number(iso[2]), Number(iso[3])];
  } else {
    const parts = s.split(/[./\-\s]+/).filter(Boolean).map(Number);
    if (parts.length !== 3 || parts.some((n) => !Number.isInteger(n))) return null;
    const order = dateOrder();
    const at = (c: string) => parts[order.indexOf(c)] ?? NaN;
    [y, m, d] = [at("y"), at("m"), at("d")];
    if (y < 100) y += 2000;
  }
  const date = new Date(Date.UTC(y, m - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return null;
  return date.toISOString().slice(0, 10);
}

/** Reads "9:30", "09:30", "930", "9.30" as "HH:MM" (24 h); "" for empty; null otherwise. */
export function parseTimeInput(text: string): string | null {
  const s = text.trim();
  if (!s) return "";
  const m = /^(\d{1,2})(?:[:.]?(\d{2}))?\s*(am|pm|AM|PM)?$/.exec(s);
  if (!m) return null;
  let h = Number(m[1]);
  const min = Number(m[2] ?? "0");
  const ampm = m[3]?.toLowerCase();
  if (ampm === "pm" && h < 12) h += 12;
  if (ampm === "am" && h === 12) h = 0;
  if (h > 23 || min > 59) return null;
  return `${String(h).padStart(2, "0")}:${String(min).padStart(2, "0")}`;
}
