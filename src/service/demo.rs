//! The demo clinic (open every day, so there is always a day to look at): three
//! doctors, two weeks of slots from today, forty patients
//! and a spread of appointments in every status — something to look at and try.
//! Today is filled from the morning on: the hours already gone hold arrived,
//! completed and missed visits, each with the history that led there.

use chrono::{Datelike, Duration as Days, NaiveTime};
use rand::Rng;
use serde::Serialize;
use ts_rs::TS;

use crate::domain::auth::{Action, Actor};
use crate::domain::clinic::{keys, local_to_utc, today};
use crate::domain::model::AppointmentStatus;
use crate::domain::payments::{LedgerKind, PaymentMethod};
use crate::error::{Error, Result};
use crate::service::audit;
use crate::service::payment_keys;
use crate::storage::appointments::{self, NewAppointment};
use crate::storage::payments::{self, NewEntry};
use crate::storage::{doctors, patients, settings, slots};
use crate::Frontdesk;

/// What the demo created.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct DemoSummary {
    /// Doctors created.
    pub doctors: u32,
    /// Slots created.
    pub slots: u32,
    /// Patients created.
    pub patients: u32,
    /// Appointments created.
    pub appointments: u32,
}

const DOCTORS: [(&str, &str); 3] = [
    ("Dr. Hannah Weber", "General practice"),
    ("Dr. Omar Haddad", "Paediatrics"),
    ("Dr. Lena Fischer", "Dermatology"),
];
const FIRST: [&str; 20] = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Elif",
    "Felix",
    "Greta",
    "Hamza",
    "Ida",
    "Jonas",
    "Katarzyna",
    "Luca",
    "Mia",
    "Noah",
    "Olga",
    "Paul",
    "Rosa",
    "Sven",
    "Yusuf",
    "Zoë",
];
const LAST: [&str; 20] = [
    "Müller",
    "Schmidt",
    "Yılmaz",
    "Nowak",
    "Rossi",
    "García",
    "Becker",
    "Hoffmann",
    "Schulz",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Lange",
];
/// The demo's price list (EUR cents), matching the reasons.
const PRICES: [(&str, i64); 4] = [
    ("Check-up", 4500),
    ("Vaccination", 2500),
    ("Follow-up", 3000),
    ("Blood test results", 2000),
];
const REASONS: [&str; 6] = [
    "Check-up",
    "Vaccination",
    "Follow-up",
    "Rash",
    "Blood test results",
    "",
];

impl Frontdesk {
    /// Fills an empty database with the demo clinic (marked as a demo).
    pub fn create_demo_clinic(&self, actor: &Actor) -> Result<DemoSummary> {
        actor.require(Action::ManageSettings)?;
        let now = self.now();
        let tz: chrono_tz::Tz = chrono_tz::Europe::Berlin;
        let mut rng = rand::rng();
        let label = actor.label();
        // everything random is drawn before the transaction
        let patient_rows: Vec<(String, String)> = (0..40)
            .map(|i| {
                let name = format!("{} {}", FIRST[i % 20], LAST[(i * 7 + i / 20) % 20]);
                (
                    name,
                    format!("+49151{:08}", rng.random_range(10_000_000..99_999_999)),
                )
            })
            .collect();
        let draws: Vec<(f64, usize, usize)> = (0..2000)
            .map(|_| {
                (
                    rng.random::<f64>(),
                    rng.random_range(0..40),
                    rng.random_range(0..REASONS.len()),
                )
            })
            .collect();
        self.in_write("demo", |tx| {
            if !doctors::list(tx, true)?.is_empty() {
                return Err(Error::invalid(
                    "this database already has a clinic; the demo needs an empty database",
                ));
            }
            for (k, v) in [
                (keys::NAME, "Lindenhof Demo Clinic"),
                (keys::TIME_ZONE, tz.name()),
                (keys::PHONE_COUNTRY, "DE"),
                (keys::DEMO, "1"),
                (payment_keys::CURRENCY, "EUR"),
                (payment_keys::ADDRESS, "Lindenstraße 12, 10969 Berlin"),
                (payment_keys::TAX_NUMBER, "DE 123 456 789"),
            ] {
                settings::set(tx, k, v)?;
            }
            let type_ids: Vec<i64> = PRICES
                .iter()
                .map(|(name, price)| payments::add_type(tx, name, *price, name, &label, now))
                .collect::<crate::storage::SqlResult<_>>()?;
            let day = today(now, tz);
            let stamp = (day.format("%Y-%m-%d").to_string(), i64::from(day.year()));
            let mut paid = 0;
            let mut s = DemoSummary {
                doctors: 0,
                slots: 0,
                patients: 0,
                appointments: 0,
            };
            let doctor_ids: Vec<i64> = DOCTORS
                .iter()
                .map(|(n, sp)| doctors::insert(tx, n, sp, now))
                .collect::<crate::storage::SqlResult<_>>()?;
            s.doctors = doctor_ids.len() as u32;
            let patient_ids: Vec<i64> = patient_rows
                .iter()
                .map(|(n, p)| patients::insert(tx, n, p, None, "", now))
                .collect::<crate::storage::SqlResult<_>>()?;
            s.patients = patient_ids.len() as u32;
            let start_day = today(now, tz);
            let mut draw = draws.iter().cycle();
            // visits of today's past hours, counted: what became of each
            let mut past_n = 0_u32;
            for day in (0..14).map(|d| start_day + Days::days(d)) {
                for &doctor in &doctor_ids {
                    for minutes in (8 * 60..12 * 60).chain(13 * 60..16 * 60).step_by(30) {
                        let t = NaiveTime::from_hms_opt(minutes / 60, minutes % 60, 0)
                            .expect("valid time");
                        let Ok(start) = local_to_utc(day.and_time(t), tz) else {
                            continue;
                        };
                        // today's hours already gone are filled too (below, with
                        // what happened to them); other days start from now
                        let begun = start <= now;
                        if begun && day != start_day {
                            continue;
                        }
                        let slot =
                            slots::insert(tx, doctor, start, start + 1800, "IN_PERSON", now)?;
                        s.slots += 1;
                        let &(p, who, why) = draw.next().expect("cycle never ends");
                        // the nearer the day, the fuller the book
                        let fill = if begun {
                            0.85
                        } else {
                            0.55 - 0.03 * (day - start_day).num_days() as f64
                        };
                        if p >= fill {
                            continue;
                        }
                        // a visit of today's past hours was booked days before
                        let booked_at = if begun { start - 3 * 86_400 } else { now };
                        let appt = NewAppointment {
                            slot_id: slot,
                            doctor_id: doctor,
                            patient_id: patient_ids[who],
                            reason: REASONS[why],
                            overbooked: false,
                            actor: &label,
                            now: booked_at,
                        };
                        let id = appointments::insert(tx, &appt)?;
                        s.appointments += 1;
                        // what became of a visit whose time has come
                        let path = if begun {
                            past_n += 1;
                            past_visit(past_n, start, now)
                        } else {
                            &[][..]
                        };
                        let missed = path.last() == Some(&AppointmentStatus::NoShow);
                        // a priced visit is charged; every third one paid a deposit
                        // (a missed one owes nothing: check holds it to that)
                        let priced = PRICES.iter().position(|(n, _)| *n == REASONS[why]);
                        if let Some(k) = priced.filter(|_| !missed) {
                            payments::set_appointment_type(tx, id, type_ids[k])?;
                            let charge = NewEntry {
                                appointment_id: id,
                                patient_id: patient_ids[who],
                                kind: LedgerKind::Charge,
                                amount_minor: PRICES[k].1,
                                currency: "EUR",
                                method: None,
                                reference: "",
                                refund_of: None,
                                reason: PRICES[k].0,
                                receipt_year: None,
                                desk: &label,
                                actor: &label,
                                now,
                                day: &stamp.0,
                            };
                            // every ledger row has its audit row (check verifies)
                            let row = payments::append(tx, &charge)?;
                            audit(tx, now, actor, "payment.charge", "ledger", Some(row), "")?;
                            paid += 1;
                            if paid % 3 == 0 {
                                let deposit = NewEntry {
                                    kind: LedgerKind::Payment,
                                    amount_minor: 1000,
                                    method: Some(PaymentMethod::Cash),
                                    reason: "",
                                    receipt_year: Some(stamp.1),
                                    ..charge
                                };
                                let row = payments::append(tx, &deposit)?;
                                audit(tx, now, actor, "payment.take", "ledger", Some(row), "")?;
                            }
                        }
                        if begun {
                            // each step with its history row, as the desk would have
                            // made it: the status is the last history entry
                            let mut from = AppointmentStatus::Pending;
                            for (version, (to, at)) in (1..).zip(timed(path, start, now)) {
                                appointments::set_status(tx, id, version, to, None, &label, at)?;
                                appointments::add_history(
                                    tx,
                                    id,
                                    Some(from),
                                    to,
                                    None,
                                    None,
                                    "",
                                    &label,
                                    at,
                                )?;
                                from = to;
                            }
                        } else if p < fill * 0.6 {
                            appointments::set_status(
                                tx,
                                id,
                                1,
                                AppointmentStatus::Confirmed,
                                None,
                                &label,
                                now,
                            )?;
                            appointments::add_history(
                                tx,
                                id,
                                Some(AppointmentStatus::Pending),
                                AppointmentStatus::Confirmed,
                                None,
                                None,
                                "",
                                &label,
                                now,
                            )?;
                        }
                    }
                }
            }
            audit(
                tx,
                now,
                actor,
                "demo.create",
                "clinic",
                None,
                &format!("{} slots, {} appointments", s.slots, s.appointments),
            )?;
            Ok(s)
        })
    }
}

/// What became of the `n`th (from 1) demo visit of today that has begun
/// (`start <= now`): the path from PENDING through the state machine. Counted, not
/// drawn, so a day with a few past visits shows each outcome. A visit still under
/// way, or ended within the last half hour, is ARRIVED (every third checked in
/// without ever being confirmed); an earlier one COMPLETED (every fifth never
/// confirmed) or, every sixth, NO_SHOW.
fn past_visit(n: u32, start: i64, now: i64) -> &'static [AppointmentStatus] {
    use AppointmentStatus::*;
    if start + 3600 > now {
        if n.is_multiple_of(3) {
            &[Arrived]
        } else {
            &[Confirmed, Arrived]
        }
    } else if n % 6 == 2 {
        &[Confirmed, NoShow]
    } else if n % 5 == 1 {
        &[Arrived, Completed]
    } else {
        &[Confirmed, Arrived, Completed]
    }
}

/// When each step of a past visit happened: confirmed two days before, arrived five
/// minutes before the start, completed or missed by its end (never after `now`).
fn timed(
    path: &[AppointmentStatus],
    start: i64,
    now: i64,
) -> impl Iterator<Item = (AppointmentStatus, i64)> + '_ {
    path.iter().map(move |&to| {
        let at = match to {
            AppointmentStatus::Confirmed => start - 2 * 86_400,
            AppointmentStatus::Arrived => start - 300,
            _ => start + 1800,
        };
        (to, at.min(now))
    })
}
