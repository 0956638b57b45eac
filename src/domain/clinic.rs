//! Clinic-wide settings and the parsers that depend on them: phone numbers in the
//! clinic's country, wall-clock times in the clinic's time zone.
//!
//! Raw text from the CLI or the UI is parsed here once, at the boundary, into
//! validated values (E.164 phone strings, UTC seconds, dates).

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};

/// Setting keys.
pub mod keys {
    /// Clinic name shown in the top bar.
    pub const NAME: &str = "clinic.name";
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub const TIME_ZONE: &str = "clinic.time_zone";
    /// ISO 3166 country for phone numbers typed without `+`.
    pub const PHONE_COUNTRY: &str = "clinic.phone_country";
    /// `1` when the clinic is the demo clinic.
    pub const DEMO: &str = "clinic.demo";
    /// Minutes of inactivity before a desk session ends.
    pub const IDLE_MINUTES: &str = "session.idle_minutes";
    /// The clinic's language for messages to patients: `en` or `de`.
    pub const LANGUAGE: &str = "clinic.language";
    /// The clinic's own phone (E.164, or empty), for messages to patients.
    pub const PHONE: &str = "clinic.phone";
}

/// The longest idle time before a desk's session ends (minutes): the setting
/// `session.idle_minutes` may choose less, never more.
pub const MAX_IDLE_MINUTES: u32 = 30;

/// Where the clinic's settings are read from. The domain says which keys it
/// needs and what their values mean; the storage layer implements this for its
/// connections (and a second backend would for its own).
pub trait SettingsSource {
    /// The value of one setting, `None` when it was never set.
    fn setting(&self, key: &str) -> Result<Option<String>>;
}

/// The clinic's language for messages to patients (`clinic.language`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub enum Language {
    /// English (the default).
    #[default]
    #[serde(rename = "en")]
    En,
    /// German.
    #[serde(rename = "de")]
    De,
}

impl Language {
    /// The setting's value: `en` or `de`.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::De => "de",
        }
    }

    /// Parses `en` or `de` (any case), refusing anything else with a sentence.
    pub fn parse(value: &str) -> Result<Language> {
        match value.trim().to_ascii_lowercase().as_str() {
            "en" => Ok(Language::En),
            "de" => Ok(Language::De),
            other => Err(Error::invalid(format!(
                "{:?} is not a language Frontdesk writes messages in; use en (English) or de (German)",
                other
            ))),
        }
    }

    /// The clinic's language (English when unset or unknown).
    pub fn load(settings: &dyn SettingsSource) -> Result<Language> {
        Ok(settings
            .setting(keys::LANGUAGE)?
            .and_then(|v| Language::parse(&v).ok())
            .unwrap_or_default())
    }
}

/// The clinic's settings as the core uses them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ClinicSettings {
    /// Clinic name.
    pub name: String,
    /// IANA time zone name.
    pub time_zone: String,
    /// ISO 3166-1 alpha-2 country code for phone numbers.
    pub phone_country: String,
    /// The demo clinic (shows a DEMO badge).
    pub demo: bool,
    /// Idle minutes before automatic logoff.
    pub idle_minutes: u32,
    /// The clinic's language (`clinic.language`): the desk's UI and messages to
    /// patients (a desk may choose another for its own screen).
    #[serde(default)]
    pub language: Language,
}

impl Default for ClinicSettings {
    fn default() -> Self {
        ClinicSettings {
            name: "Frontdesk clinic".into(),
            time_zone: "UTC".into(),
            phone_country: "US".into(),
            demo: false,
            idle_minutes: 15,
            language: Language::En,
        }
    }
}

impl ClinicSettings {
    /// Loads the settings, falling back to defaults for keys never set.
    pub fn load(settings: &dyn SettingsSource) -> Result<Self> {
        let get = |key| settings.setting(key);
        let d = ClinicSettings::default();
        Ok(ClinicSettings {
            name: get(keys::NAME)?.unwrap_or(d.name),
            time_zone: get(keys::TIME_ZONE)?.unwrap_or(d.time_zone),
            phone_country: get(keys::PHONE_COUNTRY)?.unwrap_or(d.phone_country),
            demo: get(keys::DEMO)?.as_deref() == Some("1"),
            // a value from before the 30-minute cap (or from a backup) counts as 30
            idle_minutes: get(keys::IDLE_MINUTES)?
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(d.idle_minutes)
                .clamp(1, MAX_IDLE_MINUTES),
            language: Language::load(settings)?,
        })
    }

    /// The clinic's time zone.
    pub fn tz(&self) -> Tz {
        parse_time_zone(&self.time_zone).unwrap_or(chrono_tz::UTC)
    }
}

/// A change to some of the clinic settings: `None` leaves a key as it is in the
/// database, so a desk writes only what it changed and never puts back a value it
/// read earlier over another desk's change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ClinicSettingsChange {
    /// New clinic name.
    pub name: Option<String>,
    /// New IANA time zone name.
    pub time_zone: Option<String>,
    /// New two-letter phone country.
    pub phone_country: Option<String>,
    /// New idle minutes before automatic logoff.
    pub idle_minutes: Option<u32>,
    /// New language.
    #[serde(default)]
    pub language: Option<Language>,
}

impl ClinicSettingsChange {
    /// Every key set to `new`'s value (first-run set-up, where all are chosen).
    pub fn all(new: &ClinicSettings) -> Self {
        ClinicSettingsChange {
            name: Some(new.name.clone()),
            time_zone: Some(new.time_zone.clone()),
            phone_country: Some(new.phone_country.clone()),
            idle_minutes: Some(new.idle_minutes),
            language: Some(new.language),
        }
    }

    /// The fields a settings form edited: those where `edited` differs from the
    /// settings the form was loaded with (`seen`).
    pub fn between(seen: &ClinicSettings, edited: &ClinicSettings) -> Self {
        fn changed<T: PartialEq + Clone>(seen: &T, edited: &T) -> Option<T> {
            (seen != edited).then(|| edited.clone())
        }
        ClinicSettingsChange {
            name: changed(&seen.name, &edited.name),
            time_zone: changed(&seen.time_zone, &edited.time_zone),
            phone_country: changed(&seen.phone_country, &edited.phone_country),
            idle_minutes: changed(&seen.idle_minutes, &edited.idle_minutes),
            language: changed(&seen.language, &edited.language),
        }
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == ClinicSettingsChange::default()
    }
}

/// Parses an IANA time zone name.
pub fn parse_time_zone(name: &str) -> Result<Tz> {
    name.trim().parse::<Tz>().map_err(|_| {
        Error::invalid(format!(
            "unknown time zone {name:?}; use an IANA name such as Europe/Berlin"
        ))
    })
}

/// Parses a two-letter country code for phone numbers.
pub fn parse_country(code: &str) -> Result<phonenumber::country::Id> {
    code.trim()
        .to_ascii_uppercase()
        .parse::<phonenumber::country::Id>()
        .map_err(|_| {
            Error::invalid(format!(
                "unknown country code {code:?}; use two letters such as DE or US"
            ))
        })
}

/// Normalises a phone number to E.164, reading numbers without `+` as numbers of
/// `country`. Refuses anything that is not a valid number.
pub fn normalize_phone(input: &str, country: &str) -> Result<String> {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed.len() > 40 {
        return Err(Error::invalid("enter a phone number (up to 40 characters)"));
    }
    let country = parse_country(country)?;
    // A number written with `+` names its own country: parsing it with the clinic's
    // region lets the `phonenumber` crate strip that region's national prefix from
    // it (with US, "+49 151 23456789" became "+495123456789", someone else's phone).
    let region = if trimmed.starts_with('+') {
        None
    } else {
        Some(country)
    };
    let number = phonenumber::parse(region, trimmed)
        .map_err(|_| Error::invalid(format!("{trimmed:?} is not a phone number")))?;
    if !phonenumber::is_valid(&number) {
        return Err(Error::invalid(format!(
            "{trimmed:?} is not a valid phone number"
        )));
    }
    let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
    // read through an international call prefix ("00 7 811…" in GB) a number can
    // pass as valid although its E.164 form does not: only a form that reads back
    // as itself is accepted, so a stored number always normalises again
    let again = phonenumber::parse(None, &e164)
        .ok()
        .filter(phonenumber::is_valid)
        .map(|n| n.format().mode(phonenumber::Mode::E164).to_string());
    if again.as_deref() != Some(e164.as_str()) {
        return Err(Error::invalid(format!(
            "{trimmed:?} is not a valid phone number"
        )));
    }
    // E.164 allows at most 15 digits; the metadata accepts some longer German numbers
    if e164.len() > 16 {
        return Err(Error::invalid(format!(
            "{trimmed:?} is too long for a phone number"
        )));
    }
    Ok(e164)
}

/// Turns a partial phone number typed into search into an E.164 prefix: digits
/// with `+` are taken as they are; a national number drops its leading 0 and gets
/// the country's calling code. `None` when the text is not phone-like.
pub fn phone_search_prefix(input: &str, country: &str) -> Option<String> {
    let t = input.trim();
    let digits: String = t.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.is_empty()
        || t.chars()
            .any(|c| !(c.is_ascii_digit() || " +-()/.".contains(c)))
    {
        return None;
    }
    if t.starts_with('+') || t.starts_with("00") {
        let d = digits
            .strip_prefix("00")
            .filter(|_| !t.starts_with('+'))
            .unwrap_or(&digits);
        return Some(format!("+{d}"));
    }
    let id = parse_country(country).ok()?;
    let code = phonenumber::metadata::DATABASE
        .by_id(id.as_ref())?
        .country_code();
    Some(format!("+{code}{}", digits.trim_start_matches('0')))
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(input: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(input.trim(), "%Y-%m-%d")
        .map_err(|_| Error::invalid(format!("{input:?} is not a date; use YYYY-MM-DD")))
}

/// Parses a moment: RFC 3339 with an offset (`2026-12-01T09:00:00+01:00`, `…Z`) or
/// a clinic-local wall-clock time (`2026-12-01 09:00` / `2026-12-01T09:00`). A local
/// time that does not exist (skipped by a DST change) or exists twice is refused.
pub fn parse_moment(input: &str, tz: Tz) -> Result<i64> {
    let t = input.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp());
    }
    let naive = [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    .ok_or_else(|| {
        Error::invalid(format!(
            "{input:?} is not a time; use YYYY-MM-DD HH:MM (clinic time)"
        ))
    })?;
    local_to_utc(naive, tz)
}

/// The date a desk asks to jump to, relative to the clinic's `today`:
/// `2027-01-14`, `14.01.2027`, `14.1.` / `14.1` (that day this year, or next year
/// when it is more than half a year gone), `+6w` / `-2w` / `+3d` / `+1m` (weeks,
/// days, months from today), `mon` … `sun` or `monday`, and the German `mo` … `so`
/// / `montag` (the next such day after today), `today` / `heute`,
/// `tomorrow` / `morgen`. Anything else is refused with the forms it takes.
pub fn parse_date_jump(input: &str, today: NaiveDate) -> Result<NaiveDate> {
    use chrono::{Datelike, Days, Months, Weekday};
    let t = input.trim().to_lowercase();
    let refused = || {
        Error::invalid(format!(
            "{:?} is not a date to go to; type e.g. 14.1., 14.01.2027, 2027-01-14, +6w, -3d, mon or tomorrow",
            input.trim()
        ))
    };
    if t.is_empty() || t.chars().count() > 20 {
        return Err(refused());
    }
    match t.as_str() {
        "today" | "heute" => return Ok(today),
        "tomorrow" | "morgen" => return today.succ_opt().ok_or_else(refused),
        "yesterday" | "gestern" => return today.pred_opt().ok_or_else(refused),
        _ => {}
    }
    if let Ok(d) = NaiveDate::parse_from_str(&t, "%Y-%m-%d") {
        return Ok(d);
    }
    if let Some(rest) = t.strip_prefix(['+', '-']) {
        let back = t.starts_with('-');
        let (n, unit) = rest.split_at(
            rest.find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len()),
        );
        let n: u32 = n.parse().ok().filter(|n| *n <= 520).ok_or_else(refused)?;
        let days = |k: u64| {
            if back {
                today.checked_sub_days(Days::new(k))
            } else {
                today.checked_add_days(Days::new(k))
            }
        };
        let moved = match unit {
            "d" | "t" | "" => days(u64::from(n)),
            "w" => days(7 * u64::from(n)),
            "m" if back => today.checked_sub_months(Months::new(n)),
            "m" => today.checked_add_months(Months::new(n)),
            _ => None,
        };
        return moved.ok_or_else(refused);
    }
    const WEEKDAYS: [(Weekday, [&str; 4]); 7] = [
        (Weekday::Mon, ["mon", "monday", "mo", "montag"]),
        (Weekday::Tue, ["tue", "tuesday", "di", "dienstag"]),
        (Weekday::Wed, ["wed", "wednesday", "mi", "mittwoch"]),
        (Weekday::Thu, ["thu", "thursday", "do", "donnerstag"]),
        (Weekday::Fri, ["fri", "friday", "fr", "freitag"]),
        (Weekday::Sat, ["sat", "saturday", "sa", "samstag"]),
        (Weekday::Sun, ["sun", "sunday", "so", "sonntag"]),
    ];
    if let Some((day, _)) = WEEKDAYS
        .iter()
        .find(|(_, names)| names.contains(&t.as_str()))
    {
        let ahead = (7 + day.num_days_from_monday() - today.weekday().num_days_from_monday()) % 7;
        let ahead = if ahead == 0 { 7 } else { ahead };
        return today
            .checked_add_days(Days::new(u64::from(ahead)))
            .ok_or_else(refused);
    }
    // day.month.year, day.month. or day.month
    let parts: Vec<&str> = t.trim_end_matches('.').split('.').collect();
    let number = |p: &str| {
        p.parse::<u32>()
            .ok()
            .filter(|_| !p.is_empty() && p.len() <= 4)
    };
    match parts.as_slice() {
        [d, m, y] => {
            let y = number(y).ok_or_else(refused)?;
            let y = if y < 100 { 2000 + y } else { y };
            NaiveDate::from_ymd_opt(
                y as i32,
                number(m).ok_or_else(refused)?,
                number(d).ok_or_else(refused)?,
            )
            .ok_or_else(refused)
        }
        [d, m] => {
            let (d, m) = (
                number(d).ok_or_else(refused)?,
                number(m).ok_or_else(refused)?,
            );
            let this_year = NaiveDate::from_ymd_opt(today.year(), m, d);
            let next_year = NaiveDate::from_ymd_opt(today.year() + 1, m, d);
            match this_year {
                Some(date) if (today - date).num_days() <= 182 => Ok(date),
                _ => next_year.or(this_year).ok_or_else(refused),
            }
        }
        _ => Err(refused()),
    }
}

/// A clinic-local wall-clock time in UTC seconds; refuses skipped and repeated times.
pub fn local_to_utc(naive: NaiveDateTime, tz: Tz) -> Result<i64> {
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(dt) => Ok(dt.timestamp()),
        chrono::LocalResult::Ambiguous(_, _) => Err(Error::invalid(format!(
            "{naive} happens twice in {tz} (clocks go back); give the time with its UTC offset"
        ))),
        chrono::LocalResult::None => Err(Error::invalid(format!(
            "{naive} does not exist in {tz} (clocks go forward)"
        ))),
    }
}

/// The UTC bounds `[start, end)` of a clinic-local calendar day (23 or 25 hours on
/// DST change days).
pub fn day_bounds(date: NaiveDate, tz: Tz) -> (i64, i64) {
    let start_of = |d: NaiveDate| -> i64 {
        let midnight = d.and_time(NaiveTime::MIN);
        tz.from_local_datetime(&midnight)
            .earliest()
            // a zone whose clocks jump at midnight: the day starts at the first valid instant
            .unwrap_or_else(|| {
                tz.from_utc_datetime(&(midnight - tz.offset_from_utc_datetime(&midnight).fix()))
            })
            .timestamp()
    };
    (start_of(date), start_of(date.succ_opt().unwrap_or(date)))
}

/// Formats UTC seconds as clinic-local `YYYY-MM-DD HH:MM`.
pub fn format_local(at: i64, tz: Tz) -> String {
    DateTime::from_timestamp(at, 0)
        .map(|d| d.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| at.to_string())
}

/// Today's date in the clinic's zone.
pub fn today(now: i64, tz: Tz) -> NaiveDate {
    DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive()
}

/// Trims a required free-text field and bounds its length.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::invalid(format!("{field} must not be empty")));
    }
    optional_text(field, v, max)
}

/// Trims an optional free-text field and bounds its length; refuses control characters.
pub fn optional_text(field: &str, value: &str, max: usize) -> Result<String> {
    let v = value.trim();
    if v.chars().count() > max {
        return Err(Error::invalid(format!(
            "{field} is too long (at most {max} characters)"
        )));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Error::invalid(format!(
            "{field} contains control characters"
        )));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_desk_jumps_to_dates_typed_as_people_type_them() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap(); // a Wednesday
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        for (text, expected) in [
            ("14.1.", d(2027, 1, 14)),
            ("14.1", d(2027, 1, 14)),
            ("1.12.", d(2026, 12, 1)),
            ("14.01.2027", d(2027, 1, 14)),
            ("14.1.27", d(2027, 1, 14)),
            ("2027-01-14", d(2027, 1, 14)),
            ("+6w", d(2027, 1, 13)),
            ("-3d", d(2026, 11, 29)),
            ("+10", d(2026, 12, 12)),
            ("+1m", d(2027, 1, 2)),
            ("mon", d(2026, 12, 7)),
            ("Montag", d(2026, 12, 7)),
            ("wed", d(2026, 12, 9)),
            ("fr", d(2026, 12, 4)),
            (" Today ", today),
            ("morgen", d(2026, 12, 3)),
            ("15.6.", d(2026, 6, 15)),
            ("1.6.", d(2027, 6, 1)),
        ] {
            assert_eq!(parse_date_jump(text, today).unwrap(), expected, "{text:?}");
        }
        for bad in [
            "",
            "31.2.",
            "14.13.2027",
            "+",
            "+6y",
            "+99999w",
            "mond",
            "14..1",
            "a.b.",
            "2027-02-30",
            "99999999999999999999999",
        ] {
            let e = parse_date_jump(bad, today).unwrap_err();
            assert!(
                e.to_string().contains("not a date to go to"),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn phones_normalise_to_e164_with_the_clinic_country() {
        assert_eq!(
            normalize_phone("0151 2345 6789", "DE").unwrap(),
            "+4915123456789"
        );
        assert_eq!(
            normalize_phone("+1 (201) 555-0123", "DE").unwrap(),
            "+12015550123"
        );
        assert!(normalize_phone("12", "DE").is_err());
        assert!(normalize_phone("hello", "US").is_err());
        assert!(normalize_phone("0151 2345 6789", "XX").is_err());
        // found by the property tests: an international number keeps its digits
        // whatever the clinic's country, and nothing longer than E.164 passes
        assert_eq!(
            normalize_phone("+49 151 23456789", "US").unwrap(),
            "+4915123456789"
        );
        assert!(normalize_phone("20100000000000", "DE").is_err());
    }

    #[test]
    fn phone_search_prefixes_follow_the_country() {
        assert_eq!(
            phone_search_prefix("0151 23", "DE").as_deref(),
            Some("+4915123")
        );
        assert_eq!(
            phone_search_prefix("+1 201", "DE").as_deref(),
            Some("+1201")
        );
        assert_eq!(phone_search_prefix("Maria", "DE"), None);
    }

    #[test]
    fn local_times_skipped_or_repeated_by_dst_are_refused() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert!(
            parse_moment("2026-03-29 02:30", berlin).is_err(),
            "spring gap"
        );
        assert!(
            parse_moment("2026-10-25 02:30", berlin).is_err(),
            "autumn repeat"
        );
        assert_eq!(
            parse_moment("2026-03-29 03:30", berlin).unwrap(),
            parse_moment("2026-03-29T01:30:00Z", berlin).unwrap()
        );
        let (a, b) = day_bounds(NaiveDate::from_ymd_opt(2026, 3, 29).unwrap(), berlin);
        assert_eq!(b - a, 23 * 3600, "spring day is 23 hours");
    }
}
