//! The scale clinic: years of appointments (20 doctors, 16 half-hour slots a day,
//! one appointment per slot) and many patients, generated in one transaction with
//! prepared statements, then the day view and the patient search timed on it.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::params;

use super::setup::{patient_name, patient_phone, NAME_QUERIES};
use super::{timed_reads, BenchRow};
use frontdesk::domain::clinic::ClinicSettings;
use frontdesk::error::Result;
use frontdesk::{Actor, Frontdesk, OpenOptions};

const DOCTORS: i64 = 20;
const SLOTS_PER_DAY: i64 = 16;
/// Monday 2020-01-06 00:00 UTC: the first generated day.
const FIRST_DAY: i64 = 1_578_268_800;

/// A small deterministic generator (the figures should not depend on luck).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// Fills an empty, migrated database with the scale clinic.
fn generate(path: &Path, appointments: u64, patients: u64) -> Result<()> {
    let mut conn = frontdesk::storage::db::open_keyed(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = DELETE; PRAGMA synchronous = OFF; PRAGMA foreign_keys = OFF; PRAGMA cache_size = -262144;",
    )?;
    let tx = conn.transaction()?;
    let now = FIRST_DAY;
    {
        let mut doctor = tx.prepare("INSERT INTO doctor (id, name, specialty, created_at) VALUES (?1, ?2, 'General practice', ?3)")?;
        for d in 1..=DOCTORS {
            doctor.execute(params![d, format!("Dr. Scale {d}"), now])?;
        }
        let mut patient = tx.prepare("INSERT INTO patient (id, name, phone, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)")?;
        for i in 0..patients {
            patient.execute(params![
                i as i64 + 1,
                patient_name(i),
                patient_phone(i),
                now
            ])?;
        }
        let mut slot = tx.prepare("INSERT INTO slot (id, doctor_id, start_at, end_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")?;
        let mut appt = tx.prepare(
            "INSERT INTO appointment (id, slot_id, doctor_id, patient_id, status, created_by, created_at, updated_by, updated_at)
             VALUES (?1, ?1, ?2, ?3, ?4, 'generator', ?5, 'generator', ?5)",
        )?;
        let mut rng = Lcg(7);
        let per_day = (DOCTORS * SLOTS_PER_DAY) as u64;
        for n in 0..appointments {
            let id = n as i64 + 1;
            let day = (n / per_day) as i64;
            let d = (n % per_day) as i64 / SLOTS_PER_DAY + 1;
            let k = (n % per_day) as i64 % SLOTS_PER_DAY;
            let start = FIRST_DAY + day * 86_400 + 8 * 3600 + k * 1800;
            slot.execute(params![id, d, start, start + 1800, now])?;
            let status = match rng.next() % 20 {
                0..=13 => "COMPLETED",
                14 | 15 => "CANCELLED",
                16 => "NO_SHOW",
                _ => "CONFIRMED",
            };
            let patient = (rng.next() % patients) as i64 + 1;
            appt.execute(params![id, d, patient, status, start - 86_400 * 7])?;
        }
    }
    tx.execute(
        "INSERT INTO appointment_status_history (appointment_id, to_status, to_slot_id, actor, at)
         SELECT id, status, slot_id, created_by, created_at FROM appointment ORDER BY id",
        [],
    )?;
    tx.commit()?;
    conn.execute_batch("PRAGMA journal_mode = WAL; ANALYZE;")?;
    Ok(())
}

/// Generates the clinic at `path` and times the reads on it; returns the rows
/// and how long generation took.
pub(crate) fn run(
    path: &Path,
    appointments: u64,
    patients: u64,
    quick: bool,
) -> Result<(Vec<BenchRow>, Duration)> {
    {
        let desk = Frontdesk::open(path, OpenOptions::default())?;
        desk.update_clinic_settings(
            &Actor::local_admin(),
            &ClinicSettings {
                phone_country: "DE".into(),
                ..ClinicSettings::default()
            },
        )?;
    }
    let t = Instant::now();
    generate(path, appointments, patients)?;
    let generation = t.elapsed();

    let desk = Frontdesk::open(path, OpenOptions::default())?;
    let actor = Actor::local_admin();
    let days = (appointments as i64 / (DOCTORS * SLOTS_PER_DAY)).max(1);
    let scale = format!(
        "at {}k appointments / {}k patients",
        appointments / 1000,
        patients / 1000
    );
    let n = if quick { 100 } else { 500 };
    let mut rng = Lcg(11);
    let mut day = move || {
        let at = FIRST_DAY + (rng.next() as i64 % days) * 86_400;
        chrono::DateTime::from_timestamp(at, 0)
            .map(|d| d.date_naive())
            .unwrap_or_default()
    };
    let mut rows = vec![timed_reads(
        &format!("day view, whole clinic, {scale}"),
        n,
        |_| desk.day_view(&actor, day(), None).map(|_| ()),
    )];
    rows.push(timed_reads(
        &format!("day view, one doctor, {scale}"),
        n,
        |i| {
            desk.day_view(&actor, day(), Some(i as i64 % DOCTORS + 1))
                .map(|_| ())
        },
    ));
    rows.push(timed_reads(
        &format!("patient search, name, {scale}"),
        n,
        |i| {
            desk.search_patients(&actor, NAME_QUERIES[i % NAME_QUERIES.len()], 20)
                .map(|_| ())
        },
    ));
    let mut rng = Lcg(13);
    rows.push(timed_reads(
        &format!("patient search, phone prefix, {scale}"),
        n,
        |_| {
            desk.search_patients(&actor, &format!("0151 {:04}", rng.next() % 10_000), 20)
                .map(|_| ())
        },
    ));
    Ok((rows, generation))
}
