//! Appointment reminders: the settings (when a reminder is due, its text, the
//! clinic's language and phone), their validation, and the text of one reminder.
//! Sending them is [`crate::Frontdesk::send_due_reminders`] (`src/service/reminders.rs`).
//!
//! Settings (changed with `set_setting`, so validated and audited there):
//! - `reminder.lead`: `off` (the default), `Nh` (N = 1–168 real hours before the
//!   slot starts), or `day_before HH:MM` (the day before the appointment's date,
//!   at that wall-clock time in the clinic's time zone, DST included);
//! - `reminder.template`: the text, with the placeholders in [`PLACEHOLDERS`];
//!   empty means the default text in the clinic's language;
//! - `clinic.language`: `en` or `de` (dates and the default text);
//! - `clinic.phone`: the clinic's phone, normalised like a patient's (or empty).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;

use crate::domain::clinic::{self, Language};
use crate::error::{Error, Result};

/// Setting keys.
pub mod keys {
    /// When a reminder is due: `off`, `24h`, `day_before 17:00`.
    pub const LEAD: &str = "reminder.lead";
    /// The reminder text with placeholders (empty: the language's default).
    pub const TEMPLATE: &str = "reminder.template";
}

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 6] = [
    "first_name",
    "date",
    "time",
    "doctor",
    "clinic_phone",
    "clinic",
];

/// A template is at most this many characters (three text-message parts).
pub const MAX_TEMPLATE_CHARS: usize = 459;

/// The longest lead in hours (a week).
pub const MAX_LEAD_HOURS: u32 = 168;

/// When a reminder is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lead {
    /// No reminders.
    #[default]
    Off,
    /// This many real hours before the slot starts.
    Hours(u32),
    /// The day before the appointment's date, at this clinic-local time.
    DayBefore(NaiveTime),
}

impl Lead {
    /// Parses `off`, `Nh` (1–168) or `day_before HH:MM`, refusing anything else
    /// with a sentence.
    pub fn parse(value: &str) -> Result<Lead> {
        let v = value.trim().to_ascii_lowercase();
        let refuse = || {
            Error::invalid(format!(
                "{value:?} is not a reminder lead; use off, a number of hours before the appointment such as 24h (1h to {MAX_LEAD_HOURS}h), or day_before HH:MM (e.g. day_before 17:00, clinic time)"
            ))
        };
        if v == "off" {
            return Ok(Lead::Off);
        }
        if let Some(hours) = v.strip_suffix('h') {
            let n: u32 = hours.trim().parse().map_err(|_| refuse())?;
            return if (1..=MAX_LEAD_HOURS).contains(&n) {
                Ok(Lead::Hours(n))
            } else {
                Err(refuse())
            };
        }
        if let Some(time) = v
            .strip_prefix("day_before")
            .or_else(|| v.strip_prefix("day-before"))
        {
            let t = NaiveTime::parse_from_str(time.trim(), "%H:%M").map_err(|_| refuse())?;
            return Ok(Lead::DayBefore(t));
        }
        Err(refuse())
    }

    /// The setting's canonical value.
    pub fn value(self) -> String {
        match self {
            Lead::Off => "off".into(),
            Lead::Hours(n) => format!("{n}h"),
            Lead::DayBefore(t) => format!("day_before {}", t.format("%H:%M")),
        }
    }

    /// The latest slot start whose reminder is due at `now` (a reminder is due
    /// for every open appointment starting after `now` and at or before this);
    /// `None` when reminders are off.
    pub fn horizon(self, now: i64, tz: Tz) -> Option<i64> {
        match self {
            Lead::Off => None,
            Lead::Hours(n) => Some(now + i64::from(n) * 3600),
            Lead::DayBefore(at) => {
                // appointments of a later local date are due later; those on the
                // day after `today` are due once today's `at` has passed
                let today = clinic::today(now, tz);
                let last_day = if resolve(today, at, tz) <= now {
                    today.succ_opt()?
                } else {
                    today
                };
                let (_, next_day_start) = clinic::day_bounds(last_day, tz);
                Some(next_day_start - 1)
            }
        }
    }

    /// When the reminder of a slot starting at `start_at` is due; `None` when off.
    pub fn due_at(self, start_at: i64, tz: Tz) -> Option<i64> {
        match self {
            Lead::Off => None,
            Lead::Hours(n) => Some(start_at - i64::from(n) * 3600),
            Lead::DayBefore(at) => {
                let date = clinic::today(start_at, tz).pred_opt()?;
                Some(resolve(date, at, tz))
            }
        }
    }
}

/// A clinic-local date and time in UTC seconds: the earlier of a repeated time,
/// and for a time skipped by the clocks going forward, the same wall-clock time
/// an hour later.
fn resolve(date: NaiveDate, at: NaiveTime, tz: Tz) -> i64 {
    let naive = date.and_time(at);
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })
        .map(|d| d.timestamp())
        .unwrap_or_else(|| naive.and_utc().timestamp())
}

/// Checks a template: every `{name}` is a known placeholder, braces match, it
/// is not empty (empty is the default) nor longer than [`MAX_TEMPLATE_CHARS`],
/// and has no control characters but line breaks. Returns it trimmed.
pub fn check_template(template: &str) -> Result<String> {
    let t = template.trim();
    if t.chars().count() > MAX_TEMPLATE_CHARS {
        return Err(Error::invalid(format!(
            "the reminder text is too long: at most {MAX_TEMPLATE_CHARS} characters (three text messages)"
        )));
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::invalid(
            "the reminder text contains control characters",
        ));
    }
    let mut rest = t;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err(Error::invalid(
                "the reminder text has a } without its {; placeholders are written {first_name}",
            ));
        }
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| {
            Error::invalid(
                "the reminder text has a { without its }; placeholders are written {first_name}",
            )
        })?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(Error::invalid(format!(
                "the reminder text uses {{{name}}}, which is not a placeholder; the placeholders are {}",
                PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
            )));
        }
        rest = &after[close + 1..];
    }
    Ok(t.to_string())
}

/// The default reminder text in `language` (with the clinic's phone if it has one).
pub fn default_template(language: Language, has_phone: bool) -> &'static str {
    match (language, has_phone) {
        (Language::En, true) => "Hello {first_name}, this is a reminder of your appointment with {doctor} on {date} at {time} at {clinic}. To change or cancel it, please call {clinic_phone}.",
        (Language::En, false) => "Hello {first_name}, this is a reminder of your appointment with {doctor} on {date} at {time} at {clinic}. To change or cancel it, please call us.",
        (Language::De, true) => "Hallo {first_name}, wir erinnern Sie an Ihren Termin bei {doctor} am {date} um {time} Uhr ({clinic}). Zum Ändern oder Absagen rufen Sie uns bitte an: {clinic_phone}.",
        (Language::De, false) => "Hallo {first_name}, wir erinnern Sie an Ihren Termin bei {doctor} am {date} um {time} Uhr ({clinic}). Zum Ändern oder Absagen rufen Sie uns bitte an.",
    }
}

/// A date in the language's style: "Tue 1 Dec 2026" / "Di 01.12.2026".
pub fn format_date(at: i64, tz: Tz, language: Language) -> String {
    let Some(d) = DateTime::from_timestamp(at, 0).map(|d| d.with_timezone(&tz)) else {
        return at.to_string();
    };
    match language {
        Language::En => d.format("%a %-d %b %Y").to_string(),
        Language::De => {
            const DAYS: [&str; 7] = ["Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"];
            let day = DAYS[d.weekday().num_days_from_monday() as usize];
            format!("{day} {}", d.format("%d.%m.%Y"))
        }
    }
}

/// A clinic-local time of day: "09:30".
pub fn format_time(at: i64, tz: Tz) -> String {
    DateTime::from_timestamp(at, 0)
        .map(|d| d.with_timezone(&tz).format("%H:%M").to_string())
        .unwrap_or_default()
}

/// A phone for people to read: "+49 30 1234567" (E.164 when it cannot be parsed).
pub fn display_phone(e164: &str) -> String {
    phonenumber::parse(None, e164)
        .map(|n| {
            n.format()
                .mode(phonenumber::Mode::International)
                .to_string()
        })
        .unwrap_or_else(|_| e164.to_string())
}

/// Everything a reminder's text is made from, read once per run.
#[derive(Debug, Clone)]
pub struct ReminderConfig {
    /// When reminders are due.
    pub lead: Lead,
    /// The template (the default already chosen when unset).
    pub template: String,
    /// The clinic's language.
    pub language: Language,
    /// The clinic's time zone.
    pub tz: Tz,
    /// The clinic's name.
    pub clinic: String,
    /// The clinic's phone for people to read (empty when unset).
    pub clinic_phone: String,
}

impl ReminderConfig {
    /// Reads the settings (lenient: a value that no longer parses counts as unset).
    pub fn load(settings: &dyn clinic::SettingsSource) -> Result<ReminderConfig> {
        let get = |key| settings.setting(key);
        let clinic = clinic::ClinicSettings::load(settings)?;
        let language = clinic.language;
        let lead = get(keys::LEAD)?
            .and_then(|v| Lead::parse(&v).ok())
            .unwrap_or_default();
        let phone = get(clinic::keys::PHONE)?.unwrap_or_default();
        let clinic_phone = if phone.trim().is_empty() {
            String::new()
        } else {
            display_phone(phone.trim())
        };
        let template = get(keys::TEMPLATE)?
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| default_template(language, !clinic_phone.is_empty()).to_string());
        Ok(ReminderConfig {
            lead,
            template,
            language,
            tz: clinic.tz(),
            clinic: clinic.name,
            clinic_phone,
        })
    }

    /// The reminder text for a patient (full name), doctor and slot start.
    pub fn render(&self, patient_name: &str, doctor: &str, start_at: i64) -> String {
        render(
            &self.template,
            &[
                ("first_name", first_name(patient_name)),
                ("date", &format_date(start_at, self.tz, self.language)),
                ("time", &format_time(start_at, self.tz)),
                ("doctor", doctor),
                ("clinic_phone", &self.clinic_phone),
                ("clinic", &self.clinic),
            ],
        )
    }
}

/// The first word of a full name.
pub fn first_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}

/// Fills `{name}` placeholders in one pass (a value's own braces stay as they are).
fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after
            .find('}')
            .and_then(|close| Some((close, values.iter().find(|(k, _)| *k == &after[..close])?)))
        {
            Some((close, (_, value))) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Validates a reminder setting's value (`reminder.*`, `clinic.language`,
/// `clinic.phone`) and returns what to store; `None` for other keys.
pub fn clean_setting(key: &str, value: &str, phone_country: &str) -> Option<Result<String>> {
    Some(match key {
        keys::LEAD => Lead::parse(value).map(Lead::value),
        keys::TEMPLATE if value.trim().is_empty() => Ok(String::new()),
        keys::TEMPLATE => check_template(value),
        clinic::keys::LANGUAGE => Language::parse(value).map(|l| l.code().to_string()),
        clinic::keys::PHONE if value.trim().is_empty() => Ok(String::new()),
        clinic::keys::PHONE => clinic::normalize_phone(value, phone_country),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leads_parse_to_their_canonical_form_and_bad_ones_are_refused() {
        assert_eq!(Lead::parse(" OFF ").unwrap(), Lead::Off);
        assert_eq!(Lead::parse("24h").unwrap().value(), "24h");
        assert_eq!(Lead::parse("2 h").unwrap().value(), "2h");
        assert_eq!(
            Lead::parse("day_before 17:00").unwrap().value(),
            "day_before 17:00"
        );
        for bad in ["0h", "169h", "24", "day_before", "day_before 25:00", "soon"] {
            let e = Lead::parse(bad).unwrap_err().to_string();
            assert!(e.contains("reminder lead"), "{bad}: {e}");
        }
    }

    #[test]
    fn templates_refuse_unknown_placeholders_and_unmatched_braces() {
        assert!(
            check_template("Hi {first_name}, {date} {time} {doctor} {clinic} {clinic_phone}")
                .is_ok()
        );
        let e = check_template("Hi {name}").unwrap_err().to_string();
        assert!(e.contains("{name}") && e.contains("{first_name}"), "{e}");
        assert!(check_template("Hi {first_name").is_err());
        assert!(check_template("Hi first_name}").is_err());
        assert!(check_template(&"x".repeat(MAX_TEMPLATE_CHARS + 1)).is_err());
        for l in [Language::En, Language::De] {
            for p in [true, false] {
                assert!(check_template(default_template(l, p)).is_ok());
            }
        }
    }

    #[test]
    fn rendering_fills_each_placeholder_once() {
        let text = render(
            "{first_name}: {date} {x} {clinic}{",
            &[("first_name", "{date}"), ("date", "D"), ("clinic", "C")],
        );
        assert_eq!(text, "{date}: D {x} C{");
    }

    #[test]
    fn dates_follow_the_language() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        // 2026-12-01 08:30 UTC = 09:30 in Berlin, a Tuesday
        let at = 1_796_113_800;
        assert_eq!(format_date(at, tz, Language::En), "Tue 1 Dec 2026");
        assert_eq!(format_date(at, tz, Language::De), "Di 01.12.2026");
        assert_eq!(format_time(at, tz), "09:30");
    }
}
