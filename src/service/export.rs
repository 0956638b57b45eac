//! Getting the clinic's data out: CSV exports of appointments and patients (for a
//! spreadsheet or another system) and a printable day sheet per doctor.
//!
//! CSV is written by the `csv` crate (RFC 4180 quoting: commas, quotes and line
//! breaks inside names survive), UTF-8, one header row, dates and times in the
//! clinic's time zone. Free-text cells that a spreadsheet would run as a formula
//! (starting with `=`, `+`, `-`, `@`, tab or carriage return) get a leading `'`
//! — the OWASP advice against CSV injection; phone numbers are E.164 and exported
//! as they are. Exports are admin work ([`Action::ViewReports`]); the day sheet is
//! desk work ([`Action::ViewSchedule`]): the desk prints it for the doctor.

use std::io::Write;

use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use serde::Serialize;
use ts_rs::TS;

use crate::domain::auth::{Action, Actor};
use crate::domain::clinic::{day_bounds, ClinicSettings};
use crate::domain::scheduling::SlotFilter;
use crate::error::{Error, Result};
use crate::service::range_bounds;
use crate::storage::{doctors, reports, slots};
use crate::Frontdesk;

/// The header of the appointments export.
pub const APPOINTMENT_COLUMNS: [&str; 13] = [
    "date",
    "time",
    "doctor",
    "patient",
    "phone",
    "status",
    "reason",
    "overbooked",
    "booked by",
    "charged",
    "paid",
    "owed",
    "currency",
];
/// The header of the patients export.
pub const PATIENT_COLUMNS: [&str; 7] = [
    "id",
    "name",
    "phone",
    "phone verified",
    "date of birth",
    "notes",
    "registered",
];

/// Neutralises a cell a spreadsheet would evaluate as a formula.
pub fn spreadsheet_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

fn local(at: i64, tz: Tz, format: &str) -> String {
    DateTime::from_timestamp(at, 0)
        .map(|d| d.with_timezone(&tz).format(format).to_string())
        .unwrap_or_default()
}

fn csv_error(e: csv::Error) -> Error {
    Error::invalid(format!("cannot write the export: {e}"))
}

/// One line of a day sheet.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct DaySheetLine {
    /// `HH:MM`–`HH:MM`, clinic time.
    pub time: String,
    /// Patient's name, or empty for a free or blocked slot.
    pub patient: String,
    /// Patient's phone, or empty.
    pub phone: String,
    /// Status (`CONFIRMED`…), `FREE` or `BLOCKED`.
    pub status: String,
    /// Reason for the visit.
    pub reason: String,
}

/// One doctor's day.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct DoctorDay {
    /// Doctor's name.
    pub doctor: String,
    /// Slots and appointments by time (cancelled appointments left out).
    pub lines: Vec<DaySheetLine>,
}

/// A printable day sheet: the day's schedule of one or every doctor.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct DaySheet {
    /// Clinic name.
    pub clinic: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// One section per doctor with slots that day.
    pub doctors: Vec<DoctorDay>,
}

impl DaySheet {
    /// Plain text for a printer or a terminal.
    pub fn to_text(&self) -> String {
        let mut t = String::new();
        for d in &self.doctors {
            t += &format!("{} — {} — {}\n", self.clinic, d.doctor, self.date);
            t += &format!(
                "{:<13} {:<28} {:<16} {:<10} {}\n",
                "time", "patient", "phone", "status", "reason"
            );
            for l in &d.lines {
                let line = format!(
                    "{:<13} {:<28} {:<16} {:<10} {}",
                    l.time, l.patient, l.phone, l.status, l.reason
                );
                t += line.trim_end();
                t += "\n";
            }
            t += "\n";
        }
        if self.doctors.is_empty() {
            t += &format!("{} — {}: no slots.\n", self.clinic, self.date);
        }
        t
    }

    /// A standalone HTML page, one doctor per printed page (classes `day-sheet`,
    /// `doctor`, `free`, `blocked` for the app's print stylesheet).
    pub fn to_html(&self) -> String {
        let e = html_escape;
        let mut h = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} {}</title>\n\
             <style>section.doctor{{page-break-after:always}}table{{border-collapse:collapse;width:100%}}\
             td,th{{border:1px solid #999;padding:4px;text-align:left}}tr.free,tr.blocked{{color:#777}}</style>\n\
             </head><body class=\"day-sheet\">\n",
            e(&self.clinic),
            e(&self.date)
        );
        for d in &self.doctors {
            h += &format!(
                "<section class=\"doctor\"><h1>{} — {}</h1><p>{}</p>\n<table><thead><tr><th>Time</th><th>Patient</th>\
                 <th>Phone</th><th>Status</th><th>Reason</th></tr></thead><tbody>\n",
                e(&d.doctor),
                e(&self.date),
                e(&self.clinic)
            );
            for l in &d.lines {
                h += &format!(
                    "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                    l.status.to_ascii_lowercase(),
                    e(&l.time),
                    e(&l.patient),
                    e(&l.phone),
                    e(&l.status),
                    e(&l.reason)
                );
            }
            h += "</tbody></table></section>\n";
        }
        h + "</body></html>\n"
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Frontdesk {
    /// Writes the appointments whose slot starts on the clinic-local days
    /// `from..=to` as CSV ([`APPOINTMENT_COLUMNS`]). Returns the number of rows.
    pub fn export_appointments_csv(
        &self,
        actor: &Actor,
        from: NaiveDate,
        to: NaiveDate,
        out: impl Write,
    ) -> Result<u64> {
        actor.require(Action::ViewReports)?;
        let mut w = csv::Writer::from_writer(out);
        w.write_record(APPOINTMENT_COLUMNS).map_err(csv_error)?;
        let mut n = 0;
        self.in_read(|c| {
            let tz = ClinicSettings::load(c)?.tz();
            let currency = crate::service::PaymentSettings::load(c)?.currency;
            let amount = |m: i64| crate::domain::payments::format_amount(m, &currency);
            let number = |m: i64| {
                amount(m)
                    .trim_end_matches(currency.as_str())
                    .trim_end()
                    .to_string()
            };
            let (start, end) = range_bounds(from, to, tz)?;
            reports::appointments_between(c, start, end, |a| {
                n += 1;
                let b = a.balance;
                w.write_record([
                    local(a.start_at, tz, "%Y-%m-%d").as_str(),
                    &local(a.start_at, tz, "%H:%M"),
                    &spreadsheet_safe(&a.doctor),
                    &spreadsheet_safe(&a.patient),
                    &a.phone,
                    &a.status,
                    &spreadsheet_safe(&a.reason),
                    if a.overbooked { "yes" } else { "no" },
                    &spreadsheet_safe(&a.booked_by),
                    &number(b.charged - b.waived),
                    &number(b.net_paid()),
                    &number(b.due()),
                    &currency,
                ])
                .map_err(csv_error)
            })
        })?;
        w.flush()
            .map_err(|e| Error::invalid(format!("cannot write the export: {e}")))?;
        self.audit_read(
            actor,
            "export.appointments",
            "export",
            None,
            &format!("{from}..{to}, {n} rows"),
        )?;
        Ok(n)
    }

    /// Writes every patient as CSV ([`PATIENT_COLUMNS`]). Returns the number of rows.
    pub fn export_patients_csv(&self, actor: &Actor, out: impl Write) -> Result<u64> {
        actor.require(Action::ViewReports)?;
        let mut w = csv::Writer::from_writer(out);
        w.write_record(PATIENT_COLUMNS).map_err(csv_error)?;
        let mut n = 0;
        self.in_read(|c| {
            let tz = ClinicSettings::load(c)?.tz();
            reports::patients(c, |p| {
                n += 1;
                w.write_record([
                    p.id.to_string().as_str(),
                    &spreadsheet_safe(&p.name),
                    &p.phone,
                    &p.phone_verified_at
                        .map(|t| local(t, tz, "%Y-%m-%d %H:%M"))
                        .unwrap_or_default(),
                    p.date_of_birth.as_deref().unwrap_or(""),
                    &spreadsheet_safe(&p.notes),
                    &local(p.created_at, tz, "%Y-%m-%d"),
                ])
                .map_err(csv_error)
            })
        })?;
        w.flush()
            .map_err(|e| Error::invalid(format!("cannot write the export: {e}")))?;
        self.audit_read(
            actor,
            "export.patients",
            "export",
            None,
            &format!("{n} rows"),
        )?;
        Ok(n)
    }

    /// The printable day sheet of `date` (clinic-local) for one doctor or all
    /// (audited: it lists patients and their phone numbers).
    pub fn day_sheet(
        &self,
        actor: &Actor,
        date: NaiveDate,
        doctor_id: Option<i64>,
    ) -> Result<DaySheet> {
        actor.require(Action::ViewSchedule)?;
        let sheet = self.in_read(|c| {
            let settings = ClinicSettings::load(c)?;
            let tz = settings.tz();
            let (from, to) = day_bounds(date, tz);
            if let Some(id) = doctor_id {
                doctors::get(c, id)?.ok_or(Error::NotFound("doctor"))?;
            }
            let slots = slots::list_with_appointments(
                c,
                &SlotFilter {
                    from,
                    to,
                    doctor_id,
                    free_only: false,
                },
            )?;
            let mut details = std::collections::HashMap::new();
            reports::appointments_between(c, from, to, |a| {
                details.insert(a.id, (a.phone, a.reason));
                Ok(())
            })?;
            let mut sheet: Vec<DoctorDay> = Vec::new();
            for d in doctors::list(c, true)? {
                let mut lines = Vec::new();
                for s in slots.iter().filter(|s| s.slot.doctor_id == d.id) {
                    let time = format!(
                        "{}–{}",
                        local(s.slot.start_at, tz, "%H:%M"),
                        local(s.slot.end_at, tz, "%H:%M")
                    );
                    // the slot view lists live (not cancelled) appointments only
                    if s.appointments.is_empty() {
                        let status = if s.slot.blocked { "BLOCKED" } else { "FREE" };
                        lines.push(DaySheetLine {
                            time: time.clone(),
                            patient: String::new(),
                            phone: String::new(),
                            status: status.into(),
                            reason: String::new(),
                        });
                    }
                    for a in &s.appointments {
                        let (phone, reason) = details.get(&a.id).cloned().unwrap_or_default();
                        lines.push(DaySheetLine {
                            time: time.clone(),
                            patient: a.patient_name.clone(),
                            phone,
                            status: a.status.as_str().into(),
                            reason,
                        });
                    }
                }
                if !lines.is_empty() {
                    sheet.push(DoctorDay {
                        doctor: d.name,
                        lines,
                    });
                }
            }
            Ok(DaySheet {
                clinic: settings.name,
                date: date.format("%Y-%m-%d").to_string(),
                doctors: sheet,
            })
        })?;
        let lines: usize = sheet.doctors.iter().map(|d| d.lines.len()).sum();
        let whose = doctor_id.map_or("every doctor".to_string(), |d| format!("doctor #{d}"));
        self.audit_read(
            actor,
            "print.day_sheet",
            "export",
            None,
            &format!("{date}, {whose}, {lines} lines"),
        )?;
        Ok(sheet)
    }
}
