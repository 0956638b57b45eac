//! The scheduling nouns that cross to the desk UI: weekly templates, time off,
//! generation reports, recurring series, the waitlist and attendance counts — plus
//! the parsers for the clinic-local times of day and dates they are written in.
//!
//! Times of day are `"HH:MM"` strings at this boundary (`"24:00"` ends a day) and
//! minutes after local midnight inside; dates are `"YYYY-MM-DD"`, clinic-local.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::domain::model::{Appointment, SlotMode};
use crate::domain::planner::Minute;
use crate::error::{Error, Result};

/// Why an existing, free slot cannot take a new appointment now: one wording
/// for every backend (SQLite checks in the write transaction, the PostgreSQL
/// booking function raises a code per case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotRefusal {
    /// An admin blocked it.
    Blocked,
    /// It has ended.
    Past,
    /// Its doctor was deactivated.
    DoctorInactive,
}

impl From<SlotRefusal> for Error {
    fn from(r: SlotRefusal) -> Error {
        Error::invalid(match r {
            SlotRefusal::Blocked => "this slot is blocked",
            SlotRefusal::Past => "this slot is in the past",
            SlotRefusal::DoctorInactive => "this doctor no longer takes appointments",
        })
    }
}

/// A late cancellation is one made less than this long before the slot starts.
pub const LATE_CANCELLATION_SECS: i64 = 24 * 3600;

/// Parses `"HH:MM"` (00:00 … 24:00) into minutes after local midnight.
pub fn parse_time_of_day(input: &str) -> Result<Minute> {
    let bad = || {
        Error::invalid(format!(
            "{input:?} is not a time of day; use HH:MM, e.g. 08:30"
        ))
    };
    let (h, m) = input.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m >= 60 || h > 24 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Formats minutes after local midnight as `"HH:MM"`.
pub fn format_time_of_day(minute: Minute) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// A `[start, end)` local time-of-day range, `"HH:MM"` each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TimeRange {
    /// Start, e.g. `"12:00"`.
    pub start: String,
    /// End, e.g. `"13:00"` (`"24:00"` for midnight).
    pub end: String,
}

impl TimeRange {
    /// Parses and checks that the range ends after it starts.
    pub fn minutes(&self, what: &str) -> Result<(Minute, Minute)> {
        let (s, e) = (
            parse_time_of_day(&self.start)?,
            parse_time_of_day(&self.end)?,
        );
        if e <= s {
            return Err(Error::invalid(format!(
                "{what} must end after it starts ({}–{})",
                self.start, self.end
            )));
        }
        Ok((s, e))
    }

    /// From minutes.
    pub fn from_minutes(start: Minute, end: Minute) -> Self {
        TimeRange {
            start: format_time_of_day(start),
            end: format_time_of_day(end),
        }
    }
}

/// The ISO weekday name (1 = Monday).
pub fn weekday_name(weekday: u8) -> &'static str {
    [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ]
    .get(usize::from(weekday.max(1)) - 1)
    .copied()
    .unwrap_or("?")
}

/// Parses a weekday: `1`–`7` (Monday = 1) or an English name or its first three letters.
pub fn parse_weekday(input: &str) -> Result<u8> {
    let t = input.trim().to_ascii_lowercase();
    if let Ok(n) = t.parse::<u8>() {
        if (1..=7).contains(&n) {
            return Ok(n);
        }
    }
    (1..=7u8)
        .find(|d| {
            let name = weekday_name(*d).to_ascii_lowercase();
            t.len() >= 3 && name.starts_with(&t)
        })
        .ok_or_else(|| {
            Error::invalid(format!(
                "{input:?} is not a weekday; use Monday … Sunday or 1 … 7"
            ))
        })
}

/// A new weekly template, as typed.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NewTemplate {
    /// Whose week.
    #[ts(type = "number")]
    pub doctor_id: i64,
    /// ISO weekday, 1 = Monday … 7 = Sunday.
    pub weekday: u8,
    /// First slot starts at, `"HH:MM"` clinic time.
    pub start: String,
    /// Last slot ends by, `"HH:MM"`.
    pub end: String,
    /// Slot length in minutes (5 … 480).
    pub slot_minutes: u16,
    /// Consultation mode.
    #[serde(default)]
    pub mode: SlotMode,
    /// Breaks with no slots (lunch).
    #[serde(default)]
    pub breaks: Vec<TimeRange>,
}

/// A doctor's weekly template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Template {
    /// Row id.
    #[ts(type = "number")]
    pub id: i64,
    /// Whose week.
    #[ts(type = "number")]
    pub doctor_id: i64,
    /// ISO weekday, 1 = Monday … 7 = Sunday.
    pub weekday: u8,
    /// `"HH:MM"` clinic time.
    pub start: String,
    /// `"HH:MM"` clinic time.
    pub end: String,
    /// Slot length in minutes.
    pub slot_minutes: u16,
    /// Consultation mode.
    pub mode: SlotMode,
    /// Breaks.
    pub breaks: Vec<TimeRange>,
}

/// New time off, as typed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NewTimeOff {
    /// The doctor; `None` closes the whole clinic.
    #[ts(type = "number | null")]
    pub doctor_id: Option<i64>,
    /// First day, `"YYYY-MM-DD"`.
    pub from_date: String,
    /// Last day, inclusive.
    pub to_date: String,
    /// Only this part of each day (a half day); `None` for whole days.
    pub hours: Option<TimeRange>,
    /// Why (holiday, leave, training).
    #[serde(default)]
    pub note: String,
}

/// Days (or part of each day) without slots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TimeOff {
    /// Row id.
    #[ts(type = "number")]
    pub id: i64,
    /// The doctor, or `None` for the whole clinic.
    #[ts(type = "number | null")]
    pub doctor_id: Option<i64>,
    /// First day.
    pub from_date: String,
    /// Last day, inclusive.
    pub to_date: String,
    /// Only this part of each day, if set.
    pub hours: Option<TimeRange>,
    /// Why.
    pub note: String,
    /// Who entered it.
    pub created_by: String,
}

/// One slot in a generation report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SlotChange {
    /// The slot's id (`None` for a slot a preview would create).
    #[ts(type = "number | null")]
    pub slot_id: Option<i64>,
    /// Doctor.
    #[ts(type = "number")]
    pub doctor_id: i64,
    /// Start (UTC seconds).
    #[ts(type = "number")]
    pub start_at: i64,
    /// End (UTC seconds).
    #[ts(type = "number")]
    pub end_at: i64,
    /// For a skipped slot: the existing slot it would overlap.
    #[ts(type = "number | null")]
    pub conflicts_with: Option<i64>,
}

/// What slot generation did (or, for a preview, would do).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct GenerationReport {
    /// A preview: nothing was changed.
    pub dry_run: bool,
    /// First clinic-local day.
    pub from_date: String,
    /// Last clinic-local day, inclusive.
    pub to_date: String,
    /// New slots.
    pub created: Vec<SlotChange>,
    /// Free future slots the templates no longer call for, deleted.
    pub removed: Vec<SlotChange>,
    /// Free future slots the templates no longer call for that carry cancelled
    /// appointments' history, so they are blocked instead of deleted.
    pub retired: Vec<SlotChange>,
    /// Booked slots the templates no longer call for: kept (never deleted); move or
    /// cancel their appointments by hand.
    pub kept_booked: Vec<SlotChange>,
    /// Slots the templates call for but that overlap an existing slot: not created.
    pub skipped_overlaps: Vec<SlotChange>,
    /// Slots the templates call for that already exist.
    #[ts(type = "number")]
    pub unchanged: u64,
    /// A fingerprint of what this preview showed and depended on; applying with it
    /// (`generate_slots_as_previewed`) is refused if anything changed since.
    #[serde(default)]
    pub preview_token: String,
}

/// How a series treats occurrences that cannot be booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[ts(export)]
pub enum SeriesMode {
    /// Book every occurrence or none (the default).
    #[default]
    AllOrNothing,
    /// Book the free occurrences and report the others.
    BookWhatIsFree,
}

/// A request to book the same patient with the same doctor every N weeks.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SeriesRequest {
    /// The first occurrence's slot; later ones are the same doctor's slots at the
    /// same local time and length, N weeks apart.
    #[ts(type = "number")]
    pub first_slot_id: i64,
    /// The patient.
    #[ts(type = "number")]
    pub patient_id: i64,
    /// Weeks between occurrences (1 … 52).
    pub every_weeks: u32,
    /// Number of occurrences, the first included.
    pub count: Option<u32>,
    /// Or: every occurrence up to this date, `"YYYY-MM-DD"` inclusive.
    pub until: Option<String>,
    /// All or nothing, or book what is free.
    #[serde(default)]
    pub mode: SeriesMode,
    /// Reason for the visits.
    #[serde(default)]
    pub reason: String,
}

/// An occurrence a series could not book.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SkippedOccurrence {
    /// Clinic-local date and time, `"YYYY-MM-DD HH:MM"`.
    pub when: String,
    /// Why, in words.
    pub reason: String,
}

/// An appointment as a desk saw it: its id and the version it had then. Given to
/// [`crate::Frontdesk::cancel_series_rest`] so that occurrences changed since are
/// not cancelled unseen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SeenAppointment {
    /// The appointment.
    #[ts(type = "number")]
    pub id: i64,
    /// Its version when the desk read it.
    #[ts(type = "number")]
    pub version: i64,
}

impl SeenAppointment {
    /// What a desk sees of an appointment it read.
    pub fn of(a: &Appointment) -> Self {
        SeenAppointment {
            id: a.id,
            version: a.version,
        }
    }
}

/// The outcome of a series booking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SeriesBooking {
    /// The series id.
    #[ts(type = "number")]
    pub series_id: i64,
    /// The appointments made, in date order.
    pub booked: Vec<Appointment>,
    /// The occurrences left out (partial mode only).
    pub skipped: Vec<SkippedOccurrence>,
}

/// Whether a waitlist entry still waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[ts(export)]
pub enum WaitlistStatus {
    /// Waiting.
    Open,
    /// Booked from the waitlist.
    Booked,
    /// Taken off the list.
    Removed,
}

impl WaitlistStatus {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitlistStatus::Open => "OPEN",
            WaitlistStatus::Booked => "BOOKED",
            WaitlistStatus::Removed => "REMOVED",
        }
    }

    /// From the database spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [
            WaitlistStatus::Open,
            WaitlistStatus::Booked,
            WaitlistStatus::Removed,
        ]
        .into_iter()
        .find(|w| w.as_str() == s)
    }
}

/// A patient to put on the waitlist.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NewWaitlistEntry {
    /// The patient.
    #[ts(type = "number")]
    pub patient_id: i64,
    /// The doctor they wait for.
    #[ts(type = "number")]
    pub doctor_id: i64,
    /// Earliest acceptable day, `"YYYY-MM-DD"`.
    pub from_date: Option<String>,
    /// Latest acceptable day, inclusive.
    pub to_date: Option<String>,
    /// Acceptable time of day (the whole slot inside it).
    pub hours: Option<TimeRange>,
    /// Note for the desk.
    #[serde(default)]
    pub note: String,
}

/// A patient waiting for a slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct WaitlistEntry {
    /// Row id.
    #[ts(type = "number")]
    pub id: i64,
    /// The patient.
    #[ts(type = "number")]
    pub patient_id: i64,
    /// Patient's name.
    pub patient_name: String,
    /// The doctor.
    #[ts(type = "number")]
    pub doctor_id: i64,
    /// Earliest day.
    pub from_date: Option<String>,
    /// Latest day.
    pub to_date: Option<String>,
    /// Time of day.
    pub hours: Option<TimeRange>,
    /// Note.
    pub note: String,
    /// Open, booked or removed.
    pub status: WaitlistStatus,
    /// The appointment it was booked as.
    #[ts(type = "number | null")]
    pub appointment_id: Option<i64>,
    /// Who put the patient on the list.
    pub created_by: String,
    /// When (the queue order).
    #[ts(type = "number")]
    pub created_at: i64,
}

/// Which waitlist entries to list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct WaitlistFilter {
    /// Only this doctor.
    #[ts(type = "number | null")]
    pub doctor_id: Option<i64>,
    /// Only this patient.
    #[ts(type = "number | null")]
    pub patient_id: Option<i64>,
    /// Include booked and removed entries.
    #[serde(default)]
    pub include_closed: bool,
}

/// How reliably a patient keeps appointments, shown at booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PatientAttendance {
    /// Cancellations made less than 24 hours before the slot started.
    pub late_cancellations: u32,
    /// Appointments marked as no-show.
    pub no_shows: u32,
}

/// Parses an optional `YYYY-MM-DD`.
pub(crate) fn parse_optional_date(input: Option<&str>) -> Result<Option<NaiveDate>> {
    input
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(crate::domain::clinic::parse_date)
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day_parse_to_minutes_and_back() {
        assert_eq!(parse_time_of_day("08:30").unwrap(), 510);
        assert_eq!(parse_time_of_day("24:00").unwrap(), 1440);
        assert_eq!(format_time_of_day(1440), "24:00");
        for bad in ["8", "25:00", "12:60", "24:01", "noon"] {
            assert!(parse_time_of_day(bad).is_err(), "{bad} must be refused");
        }
        assert!(TimeRange {
            start: "13:00".into(),
            end: "12:00".into()
        }
        .minutes("the break")
        .is_err());
    }

    #[test]
    fn weekdays_parse_by_number_or_name() {
        assert_eq!(parse_weekday("1").unwrap(), 1);
        assert_eq!(parse_weekday("tue").unwrap(), 2);
        assert_eq!(parse_weekday("Sunday").unwrap(), 7);
        assert!(parse_weekday("8").is_err() && parse_weekday("mo").is_err());
    }
}

/// Filters for listing slots.
#[derive(Debug, Clone, Default)]
pub struct SlotFilter {
    /// From (Unix seconds, inclusive, by start).
    pub from: i64,
    /// To (Unix seconds, exclusive, by start).
    pub to: i64,
    /// Only this doctor.
    pub doctor_id: Option<i64>,
    /// Only free, unblocked slots.
    pub free_only: bool,
}
