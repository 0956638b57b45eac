//! The clinic's nouns as plain data, and the appointment state machine.
//!
//! Every time is Unix seconds in UTC (`i64`); the clinic's time zone is applied only
//! for display and when turning local wall-clock input into UTC.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::Error;

/// A staff member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[ts(export)]
pub enum Role {
    /// Everything, including confirming and cancelling, staff, settings and backups.
    Admin,
    /// Booking, rescheduling, check-in, patients and passcodes.
    Receptionist,
}

impl Role {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Receptionist => "RECEPTIONIST",
        }
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_uppercase().as_str() {
            "ADMIN" => Ok(Role::Admin),
            "RECEPTIONIST" => Ok(Role::Receptionist),
            _ => Err(Error::invalid(format!(
                "unknown role {s:?}; use ADMIN or RECEPTIONIST"
            ))),
        }
    }
}

/// An appointment's status. `CANCELLED`, `COMPLETED` and `NO_SHOW` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[ts(export)]
pub enum AppointmentStatus {
    /// Booked at the desk, waiting for an admin to confirm.
    Pending,
    /// Confirmed by an admin.
    Confirmed,
    /// The patient is at the clinic.
    Arrived,
    /// Seen by the doctor.
    Completed,
    /// Called off; the slot is free again.
    Cancelled,
    /// The patient did not come.
    NoShow,
}

impl AppointmentStatus {
    /// Every status, in the order of the state machine.
    pub const ALL: [AppointmentStatus; 6] = [
        AppointmentStatus::Pending,
        AppointmentStatus::Confirmed,
        AppointmentStatus::Arrived,
        AppointmentStatus::Completed,
        AppointmentStatus::Cancelled,
        AppointmentStatus::NoShow,
    ];

    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Pending => "PENDING",
            AppointmentStatus::Confirmed => "CONFIRMED",
            AppointmentStatus::Arrived => "ARRIVED",
            AppointmentStatus::Completed => "COMPLETED",
            AppointmentStatus::Cancelled => "CANCELLED",
            AppointmentStatus::NoShow => "NO_SHOW",
        }
    }

    /// Whether the state machine allows `self → to`.
    pub fn can_become(self, to: AppointmentStatus) -> bool {
        use AppointmentStatus::*;
        matches!(
            (self, to),
            (Pending, Confirmed)
                | (Pending, Cancelled)
                | (Pending, Arrived)
                | (Confirmed, Arrived)
                | (Confirmed, Cancelled)
                | (Confirmed, NoShow)
                | (Arrived, Completed)
        )
    }

    /// Final statuses never change again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            AppointmentStatus::Cancelled | AppointmentStatus::Completed | AppointmentStatus::NoShow
        )
    }

    /// Still open: it may be cancelled or rescheduled.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            AppointmentStatus::Pending | AppointmentStatus::Confirmed
        )
    }

    /// Money may still be taken for it: not cancelled and not a no-show (their
    /// charge was settled, by the cancellation policy, when they closed).
    pub fn takes_payment(self) -> bool {
        !matches!(
            self,
            AppointmentStatus::Cancelled | AppointmentStatus::NoShow
        )
    }

    /// Moving an appointment here settles its money by the cancellation policy
    /// (refunds, the charge waived or kept): the statuses that take no payment.
    pub fn settles_money(self) -> bool {
        !self.takes_payment()
    }

    /// A live appointment occupies its slot (everything but cancelled).
    pub fn occupies_slot(self) -> bool {
        self != AppointmentStatus::Cancelled
    }
}

impl fmt::Display for AppointmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AppointmentStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let norm = s.trim().to_ascii_uppercase().replace(['-', ' '], "_");
        AppointmentStatus::ALL.into_iter().find(|st| st.as_str() == norm).ok_or_else(|| {
            Error::invalid(format!(
                "unknown status {s:?}; use one of PENDING, CONFIRMED, ARRIVED, COMPLETED, CANCELLED, NO_SHOW"
            ))
        })
    }
}

/// How a slot's consultation happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[ts(export)]
pub enum SlotMode {
    /// At the clinic.
    #[default]
    InPerson,
    /// Video call.
    Video,
    /// Phone call.
    Phone,
}

impl SlotMode {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SlotMode::InPerson => "IN_PERSON",
            SlotMode::Video => "VIDEO",
            SlotMode::Phone => "PHONE",
        }
    }
}

impl FromStr for SlotMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s
            .trim()
            .to_ascii_uppercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "IN_PERSON" | "INPERSON" => Ok(SlotMode::InPerson),
            "VIDEO" => Ok(SlotMode::Video),
            "PHONE" => Ok(SlotMode::Phone),
            _ => Err(Error::invalid(format!(
                "unknown slot mode {s:?}; use IN_PERSON, VIDEO or PHONE"
            ))),
        }
    }
}

/// A doctor whose slots the desk books.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Doctor {
    /// Row id.
    #[ts(type = "number")]
    pub id: i64,
    /// Full name as shown to patients.
    pub name: String,
    /// e.g. "General practice".
    pub specialty: String,
    /// Inactive doctors keep their history but take no new bookings.
    pub active: bool,
}

/// A bookable period of one doctor's time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Slot {
    /// Row id.
    #[ts(type = "number")]
    pub id: i64,
    /// Whose time it is.
    #[ts(type = "number")]
    pub doctor_id: i64,
    /// Start, Unix seconds UTC.
    #[ts(type = "number")]
    pub start_at: i64,
    /// End, Unix seconds UTC.
    #[ts(type = "number")]
    pub end_at: i64,
    /// In person, video or phone.
    pub mode: SlotMode,
    /// Blocked slots cannot be booked.
    pub blocked: bool,
}

/// The part of an appointment the day view shows in a slot cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AppointmentSummary {
    /// Appointment id.
    #[ts(type = "number")]
    pub id: i64,
    /// Patient id.
    #[ts(type = "number")]
    pub patient_id: i64,
    /// Patient name.
    pub patient_name: String,
    /// Current status.
    pub status: AppointmentStatus,
    /// Squeezed in on purpose by an admin.
    pub overbooked: bool,
    /// Version for the next status change.
    #[ts(type = "number")]
    pub version: i64,
}

/// A slot with what occupies it: the live appointment (at most one ordinary one)
/// and any overbooked extras. "Booked" is derived from this, never stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SlotView {
    /// The slot.
    pub slot: Slot,
    /// Live appointments on it (cancelled ones are not listed).
    pub appointments: Vec<AppointmentSummary>,
}

impl SlotView {
    /// Free: not blocked and no live ordinary appointment.
    pub fn is_free(&self) -> bool {
        !self.slot.blocked && !self.appointments.iter().any(|a| !a.overbooked)
    }
}

/// A patient of the clinic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Patient {
    /// Row id.
    #[ts(type = "number")]
    pub id: i64,
    /// Full name.
    pub name: String,
    /// Mobile number in E.164 (`+4915112345678`).
    pub phone: String,
    /// When the phone was last verified by passcode (Unix seconds), if ever.
    #[ts(type = "number | null")]
    pub phone_verified_at: Option<i64>,
    /// Who verified it.
    pub phone_verified_by: Option<String>,
    /// ISO date `YYYY-MM-DD`, if known.
    pub date_of_birth: Option<String>,
    /// Free-text notes for the desk.
    pub notes: String,
    /// Optimistic-concurrency version; edits must name it.
    #[ts(type = "number")]
    pub version: i64,
    /// The patient asked for no appointment reminders.
    #[serde(default)]
    pub reminders_opt_out: bool,
    /// An alert the desk must see (allergy, mobility, interpreter); empty if none.
    #[serde(default)]
    pub alert: String,
}

/// A patient's next upcoming appointment (pending or confirmed, not yet begun):
/// shown beside search results so two patients of one name can be told apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NextAppointment {
    /// The patient.
    #[ts(type = "number")]
    pub patient_id: i64,
    /// The appointment.
    #[ts(type = "number")]
    pub appointment_id: i64,
    /// Slot start (Unix seconds).
    #[ts(type = "number")]
    pub start_at: i64,
    /// With whom.
    pub doctor_name: String,
    /// Pending or confirmed.
    pub status: AppointmentStatus,
}

/// Input for registering a patient (validated by the core).
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NewPatient {
    /// Full name.
    pub name: String,
    /// Phone as typed; normalised to E.164 with the clinic's country.
    pub phone: String,
    /// `YYYY-MM-DD`, optional.
    pub date_of_birth: Option<String>,
    /// Optional notes.
    #[serde(default)]
    pub notes: String,
    /// Optional alert shown wherever the patient is booked or checked in (at most
    /// 200 characters). Absent (older desks, the command line): registration
    /// stores none and an edit keeps the stored alert; `Some("")` clears it.
    #[serde(default)]
    #[ts(optional)]
    pub alert: Option<String>,
}

/// An appointment with everything the desk shows about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Appointment {
    /// Row id.
    #[ts(type = "number")]
    pub id: i64,
    /// The slot it occupies.
    #[ts(type = "number")]
    pub slot_id: i64,
    /// The slot's doctor.
    #[ts(type = "number")]
    pub doctor_id: i64,
    /// Doctor's name.
    pub doctor_name: String,
    /// The patient.
    #[ts(type = "number")]
    pub patient_id: i64,
    /// Patient's name.
    pub patient_name: String,
    /// Patient's phone (E.164).
    pub patient_phone: String,
    /// Slot start (Unix seconds UTC).
    #[ts(type = "number")]
    pub start_at: i64,
    /// Slot end (Unix seconds UTC).
    #[ts(type = "number")]
    pub end_at: i64,
    /// Current status.
    pub status: AppointmentStatus,
    /// Why the patient comes.
    pub reason: String,
    /// Why it was cancelled, if it was.
    pub cancel_reason: Option<String>,
    /// Squeezed into a taken slot on purpose by an admin.
    pub overbooked: bool,
    /// Optimistic-concurrency version; status changes must name it.
    #[ts(type = "number")]
    pub version: i64,
    /// Who booked it.
    pub created_by: String,
    /// When it was booked.
    #[ts(type = "number")]
    pub created_at: i64,
    /// Who changed it last.
    pub updated_by: String,
    /// When it was changed last.
    #[ts(type = "number")]
    pub updated_at: i64,
    /// The patient's alert (allergy, mobility…), shown in the appointment panel;
    /// empty if none.
    #[serde(default)]
    pub patient_alert: String,
}

/// One entry of an appointment's status history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct HistoryEntry {
    /// Status before (none for the booking itself).
    pub from_status: Option<AppointmentStatus>,
    /// Status after.
    pub to_status: AppointmentStatus,
    /// Slot before, for a reschedule.
    #[ts(type = "number | null")]
    pub from_slot_id: Option<i64>,
    /// Slot after, for a booking or a reschedule.
    #[ts(type = "number | null")]
    pub to_slot_id: Option<i64>,
    /// Reason or note given with the change.
    pub note: String,
    /// Who made the change.
    pub actor: String,
    /// When (Unix seconds UTC).
    #[ts(type = "number")]
    pub at: i64,
}

/// An appointment with its full status history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AppointmentDetail {
    /// The appointment.
    pub appointment: Appointment,
    /// Oldest first.
    pub history: Vec<HistoryEntry>,
    /// Its reminders (one per slot start it had), oldest first.
    #[serde(default)]
    pub reminders: Vec<ReminderInfo>,
}

/// A reminder of an appointment, as the desk shows it ("Reminder sent Mon
/// 17:00", "Reminder failed: …, will retry").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReminderInfo {
    /// Row id.
    #[ts(type = "number")]
    pub id: i64,
    /// The slot start it reminds of (an earlier one when the appointment was
    /// rescheduled since).
    #[ts(type = "number")]
    pub start_at: i64,
    /// `SENDING`, `SENT` or `FAILED`.
    pub status: String,
    /// Sending attempts so far (at most 3).
    #[ts(type = "number")]
    pub attempts: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the last attempt was made (Unix seconds).
    #[ts(type = "number")]
    pub attempted_at: i64,
    /// When it was sent (Unix seconds).
    #[ts(type = "number | null")]
    pub sent_at: Option<i64>,
    /// A failed reminder that will be tried again (attempts left, the
    /// appointment still open, at this start and ahead).
    pub will_retry: bool,
}

#[cfg(test)]
mod tests {
    use super::AppointmentStatus::{self, *};

    /// The state machine as the UI sees it, written next to ts-rs's bindings
    /// (`TS_RS_EXPORT_DIR`) like them: the drawer offers exactly the changes the
    /// core allows, with the action each needs, and the test command fails when
    /// the committed file is stale.
    #[test]
    fn export_the_state_machine_for_the_ui() {
        let Ok(dir) = std::env::var("TS_RS_EXPORT_DIR") else {
            return;
        };
        fn json(value: &impl serde::Serialize) -> String {
            serde_json::to_string(value).unwrap()
        }
        let mut next = String::new();
        let mut action = String::new();
        for from in AppointmentStatus::ALL {
            let to: Vec<String> = AppointmentStatus::ALL
                .into_iter()
                .filter(|to| from.can_become(*to))
                .map(|to| json(&to))
                .collect();
            next.push_str(&format!("  {}: [{}],\n", from.as_str(), to.join(", ")));
            let needs = crate::domain::auth::Action::for_status_change(from);
            action.push_str(&format!("  {}: {},\n", from.as_str(), json(&needs)));
        }
        let open: Vec<String> = AppointmentStatus::ALL
            .into_iter()
            .filter(|s| s.is_open())
            .map(|s| json(&s))
            .collect();
        let text = format!(
            "// Generated by `cargo test` from src/domain/model.rs and src/domain/auth.rs. Do not edit this file manually.\n\
             import type {{ Action }} from \"./Action\";\n\
             import type {{ AppointmentStatus }} from \"./AppointmentStatus\";\n\n\
             /** The statuses each status may change to (`AppointmentStatus::can_become`). */\n\
             export const NEXT_STATUSES: Record<AppointmentStatus, AppointmentStatus[]> = {{\n{next}}};\n\n\
             /** The action a change to each status needs (`Action::for_status_change`). */\n\
             export const CHANGE_ACTION: Record<AppointmentStatus, Action> = {{\n{action}}};\n\n\
             /** Statuses still open: cancelled or rescheduled only from these (`AppointmentStatus::is_open`). */\n\
             export const OPEN_STATUSES: AppointmentStatus[] = [{}];\n",
            open.join(", ")
        );
        let path = std::path::Path::new(&dir).join("statusMachine.ts");
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&path, text).unwrap();
        }
    }

    #[test]
    fn the_state_machine_allows_exactly_the_documented_moves() {
        let allowed = [
            (Pending, Confirmed),
            (Pending, Cancelled),
            // a patient at the desk is checked in whether or not anyone confirmed
            (Pending, Arrived),
            (Confirmed, Arrived),
            (Confirmed, Cancelled),
            (Confirmed, NoShow),
            (Arrived, Completed),
        ];
        for from in AppointmentStatus::ALL {
            for to in AppointmentStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
        for s in [Cancelled, Completed, NoShow] {
            assert!(s.is_final() && AppointmentStatus::ALL.iter().all(|t| !s.can_become(*t)));
        }
    }

    #[test]
    fn statuses_parse_leniently_and_reject_unknown_words() {
        assert_eq!("no-show".parse::<AppointmentStatus>().unwrap(), NoShow);
        assert_eq!(
            " confirmed ".parse::<AppointmentStatus>().unwrap(),
            Confirmed
        );
        assert!("DONE".parse::<AppointmentStatus>().is_err());
    }
}

/// Filters for listing appointments.
#[derive(Debug, Clone, Default)]
pub struct AppointmentFilter {
    /// Slot start from (inclusive).
    pub from: Option<i64>,
    /// Slot start to (exclusive).
    pub to: Option<i64>,
    /// Only this doctor.
    pub doctor_id: Option<i64>,
    /// Only this patient.
    pub patient_id: Option<i64>,
    /// Only this status.
    pub status: Option<AppointmentStatus>,
    /// At most this many (default 500).
    pub limit: Option<u32>,
}
