use serde::Deserialize;
use ts_rs::TS;

use crate::domain::auth::{Action, Actor};
use crate::domain::clinic::{
    normalize_phone, optional_text, parse_date, phone_search_prefix, required_text, ClinicSettings,
};
use crate::domain::model::{NewPatient, NextAppointment, Patient};
use crate::error::{Error, Result};
use crate::service::audit;
use crate::storage::{appointments, patients};
use crate::Frontdesk;

/// An edit of a patient's details, made on the version the desk saw.
#[derive(Debug, Clone, Deserialize, TS)]
#[ts(export)]
pub struct PatientUpdate {
    /// The version the edit was made on.
    #[ts(type = "number")]
    pub expected_version: i64,
    /// New details.
    pub details: NewPatient,
}

/// Validated patient details.
struct CleanPatient {
    name: String,
    phone: String,
    dob: Option<String>,
    notes: String,
    /// `None`: the caller did not send one (keep what is stored).
    alert: Option<String>,
}

fn clean(p: &NewPatient, country: &str, today: chrono::NaiveDate) -> Result<CleanPatient> {
    let name = required_text("the patient's name", &p.name, 200)?;
    let phone = normalize_phone(&p.phone, country)?;
    let dob = match p
        .date_of_birth
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(d) => {
            let date = parse_date(d)?;
            if date > today
                || date < chrono::NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid date")
            {
                return Err(Error::invalid(
                    "the date of birth must be between 1900-01-01 and today",
                ));
            }
            Some(date.format("%Y-%m-%d").to_string())
        }
        None => None,
    };
    let notes = optional_text("the notes", &p.notes, 2000)?;
    let alert = p
        .alert
        .as_deref()
        .map(|a| optional_text("the alert", a, 200))
        .transpose()?;
    Ok(CleanPatient {
        name,
        phone,
        dob,
        notes,
        alert,
    })
}

fn same_person(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    norm(a) == norm(b)
}

impl Frontdesk {
    fn clean_patient(&self, p: &NewPatient) -> Result<CleanPatient> {
        let settings = self.settings()?;
        clean(
            p,
            &settings.phone_country,
            crate::domain::clinic::today(self.now(), settings.tz()),
        )
    }

    /// Registers a patient. The phone is normalised to E.164; a patient with the
    /// same name and phone already registered is refused (use that record).
    pub fn add_patient(&self, actor: &Actor, p: &NewPatient) -> Result<Patient> {
        actor.require(Action::ManagePatients)?;
        let c = self.clean_patient(p)?;
        let now = self.now();
        self.in_write("patient.add", |tx| {
            if let Some(dup) = patients::with_phone(tx, &c.phone)?.into_iter().find(|x| same_person(&x.name, &c.name)) {
                return Err(Error::invalid(format!(
                    "this patient is already registered with this phone (patient #{}); use that record",
                    dup.id
                )));
            }
            let id = patients::insert(tx, &c.name, &c.phone, c.dob.as_deref(), &c.notes, now)?;
            if let Some(alert) = c.alert.as_deref().filter(|a| !a.is_empty()) {
                patients::set_alert(tx, id, alert)?;
            }
            audit(tx, now, actor, "patient.add", "patient", Some(id), "")?;
            patients::get(tx, id)?.ok_or(Error::NotFound("patient"))
        })
    }

    /// Patients who may be the same person as `p` (same phone, or same name with
    /// any phone), for the desk's duplicate warning before registering.
    pub fn possible_duplicates(&self, actor: &Actor, p: &NewPatient) -> Result<Vec<Patient>> {
        actor.require(Action::ManagePatients)?;
        let country = self.settings()?.phone_country;
        self.in_read(|c| {
            let mut out = match normalize_phone(&p.phone, &country) {
                Ok(phone) => patients::with_phone(c, &phone)?,
                Err(_) => Vec::new(),
            };
            for x in patients::search_name(c, &p.name, 50)? {
                if same_person(&x.name, &p.name) && !out.iter().any(|o| o.id == x.id) {
                    out.push(x);
                }
            }
            Ok(out)
        })
    }

    /// One patient's record; opening it is audited ("who saw this patient").
    pub fn get_patient(&self, actor: &Actor, id: i64) -> Result<Patient> {
        actor.require(Action::ManagePatients)?;
        let patient = self.in_read(|c| patients::get(c, id)?.ok_or(Error::NotFound("patient")))?;
        self.audit_read(actor, "patient.view", "patient", Some(id), "")?;
        Ok(patient)
    }

    /// Patients by name (the first `limit`).
    pub fn list_patients(&self, actor: &Actor, limit: u32) -> Result<Vec<Patient>> {
        actor.require(Action::ManagePatients)?;
        self.in_read(|c| Ok(patients::list(c, limit.clamp(1, 10_000))?))
    }

    /// Search as you type: a phone prefix (digits, with or without `+`) or words
    /// that start words of the name.
    pub fn search_patients(&self, actor: &Actor, text: &str, limit: u32) -> Result<Vec<Patient>> {
        actor.require(Action::ManagePatients)?;
        let text = optional_text("the search text", text, 100)?;
        let limit = limit.clamp(1, 100);
        if text.is_empty() {
            return Ok(Vec::new());
        }
        self.in_read(|c| {
            let country = ClinicSettings::load(c)?.phone_country;
            match phone_search_prefix(&text, &country) {
                Some(prefix) => Ok(patients::search_phone_prefix(c, &prefix, limit)?),
                None => Ok(patients::search_name(c, &text, limit)?),
            }
        })
    }

    /// Each listed patient's next upcoming appointment (pending or confirmed, from
    /// now on), for search results: at most 100 patients, unknown ids skipped.
    pub fn next_appointments(
        &self,
        actor: &Actor,
        patient_ids: &[i64],
    ) -> Result<Vec<NextAppointment>> {
        actor.require(Action::ViewSchedule)?;
        if patient_ids.len() > 100 {
            return Err(Error::invalid("ask for at most 100 patients at a time"));
        }
        let now = self.now();
        self.in_read(|c| {
            let mut out = Vec::new();
            for &id in patient_ids {
                if let Some(next) = appointments::next_open_of(c, id, now)? {
                    out.push(next);
                }
            }
            Ok(out)
        })
    }

    /// Edits a patient, refusing with `Conflict` if someone changed the record
    /// since `expected_version`.
    pub fn update_patient(
        &self,
        actor: &Actor,
        id: i64,
        update: &PatientUpdate,
    ) -> Result<Patient> {
        actor.require(Action::ManagePatients)?;
        let c = self.clean_patient(&update.details)?;
        let now = self.now();
        let label = actor.label();
        self.in_write("patient.update", |tx| {
            let current = patients::get(tx, id)?.ok_or(Error::NotFound("patient"))?;
            if !patients::update(
                tx,
                id,
                update.expected_version,
                &c.name,
                &c.phone,
                c.dob.as_deref(),
                &c.notes,
                &label,
                now,
            )? {
                let (by, at) = patients::last_change(tx, id)?.unwrap_or_default();
                return Err(Error::Conflict {
                    what: "the patient",
                    changed_by: if by.is_empty() {
                        "another desk".into()
                    } else {
                        by
                    },
                    changed_at: at,
                    current: format!("version {}", current.version),
                });
            }
            if let Some(alert) = &c.alert {
                patients::set_alert(tx, id, alert)?;
            }
            audit(tx, now, actor, "patient.update", "patient", Some(id), "")?;
            patients::get(tx, id)?.ok_or(Error::NotFound("patient"))
        })
    }
}
