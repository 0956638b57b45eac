//! The benchmark's clinic: doctors, a long run of free future slots handed out
//! one by one, and patients with realistic names and phones.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::NaiveDate;
use rusqlite::params;

use frontdesk::domain::clinic::ClinicSettings;
use frontdesk::error::{Error, Result};
use frontdesk::{Actor, Frontdesk, OpenOptions};

/// First names the generated patients get.
pub(crate) const FIRST: &[&str] = &[
    "Maria", "Anna", "Jonas", "Lukas", "Sophie", "Lea", "Ben", "Paul", "Emma", "Mia", "Leon",
    "Felix", "Hannah", "Lina", "Noah", "Elias", "Marie", "Clara", "David", "Julia", "Laura", "Tim",
    "Jan", "Nina", "Sara", "Tom", "Eva", "Max", "Ida", "Ole", "Greta", "Karl",
];
/// Last names the generated patients get.
pub(crate) const LAST: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Braun",
    "Zimmermann",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Schmitt",
    "Werner",
    "Krause",
    "Meier",
    "Lehmann",
    "Schmid",
    "Schulze",
    "Maier",
    "Köhler",
    "Herrmann",
    "König",
    "Walter",
    "Mayer",
    "Huber",
    "Kaiser",
    "Fuchs",
    "Peters",
    "Lang",
    "Scholz",
    "Möller",
    "Weiß",
    "Jung",
    "Hahn",
    "Schubert",
    "Vogel",
    "Friedrich",
    "Keller",
    "García",
    "Günther",
    "Frank",
    "Berger",
    "Winkler",
    "Roth",
    "Beck",
    "Lorenz",
    "Baumann",
    "Franke",
    "Albrecht",
    "Schuster",
    "Simon",
    "Ludwig",
];
/// What the desk types into the patient search.
pub(crate) const NAME_QUERIES: &[&str] = &[
    "mar", "anna sch", "müll", "garc", "jonas k", "lea w", "fis", "hof",
];

/// A patient name for number `i` (first × last, then a middle initial so names
/// repeat rarely).
pub(crate) fn patient_name(i: u64) -> String {
    let f = FIRST[(i as usize) % FIRST.len()];
    let l = LAST[(i as usize / FIRST.len()) % LAST.len()];
    let m = (b'A' + ((i as usize / (FIRST.len() * LAST.len())) % 26) as u8) as char;
    format!("{f} {m}. {l}")
}

fn open_with(path: &Path, senders: &Path, encrypt_new: bool) -> Result<Frontdesk> {
    Frontdesk::open(
        path,
        OpenOptions {
            senders_file: Some(senders.to_path_buf()),
            encrypt_new,
            ..OpenOptions::default()
        },
    )
}

/// A German mobile number for patient `i` (distinct for i < 10^8).
pub(crate) fn patient_phone(i: u64) -> String {
    format!("+49151{:08}", (i * 9_973) % 100_000_000)
}

/// The benchmark clinic.
pub(crate) struct BenchClinic {
    path: PathBuf,
    /// The senders file of the bench's "PC": the recording sender, beside the
    /// database.
    senders: PathBuf,
    next_slot: AtomicI64,
    last_slot: i64,
    patients: Vec<i64>,
    /// Doctor ids.
    pub(crate) doctors: Vec<i64>,
    /// The first day with slots (the day view shows it).
    pub(crate) first_day: NaiveDate,
}

impl BenchClinic {
    /// Creates the clinic (encrypted, as every new clinic) with `slots` free slots
    /// from tomorrow on.
    pub(crate) fn create(path: &Path, slots: i64) -> Result<BenchClinic> {
        Self::create_with(path, slots, true)
    }

    /// [`BenchClinic::create`], a plain (unencrypted) database unless `encrypted`.
    pub(crate) fn create_with(path: &Path, slots: i64, encrypted: bool) -> Result<BenchClinic> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let senders = frontdesk::senders::recording::write(dir)
            .map_err(|e| Error::Internal(format!("cannot write the bench's senders file: {e}")))?;
        let desk = open_with(path, &senders, encrypted)?;
        let admin = Actor::local_admin();
        desk.update_clinic_settings(
            &admin,
            &ClinicSettings {
                phone_country: "DE".into(),
                ..ClinicSettings::default()
            },
        )?;
        let doctors: Vec<i64> = (0..10)
            .map(|i| {
                desk.add_doctor(&admin, &format!("Dr. Bench {i}"), "General practice")
                    .map(|d| d.id)
            })
            .collect::<Result<_>>()?;
        let tomorrow = (desk.now().div_euclid(86_400) + 1) * 86_400;
        let first_day = chrono::DateTime::from_timestamp(tomorrow, 0)
            .map(|d| d.date_naive())
            .unwrap_or_default();
        let now = desk.now();
        let (first, last, patients) = desk.write("bench.setup", |tx| {
            let mut slot = tx.prepare_cached("INSERT INTO slot (doctor_id, start_at, end_at, created_at) VALUES (?1, ?2, ?3, ?4)")?;
            let mut ids = Vec::with_capacity(slots as usize);
            let mut k = 0i64;
            while (ids.len() as i64) < slots {
                for d in &doctors {
                    let start = tomorrow + k * 1800;
                    slot.execute(params![d, start, start + 1800, now])?;
                    ids.push(tx.last_insert_rowid());
                }
                k += 1;
            }
            let mut patient = tx.prepare_cached("INSERT INTO patient (name, phone, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)")?;
            let mut patients = Vec::new();
            for i in 0..1000u64 {
                patient.execute(params![patient_name(i), patient_phone(i), now])?;
                patients.push(tx.last_insert_rowid());
            }
            Ok((ids[0], *ids.last().expect("slots were made"), patients))
        })?;
        if last - first + 1 < slots {
            return Err(Error::Internal(
                "bench slots are not numbered consecutively".into(),
            ));
        }
        Ok(BenchClinic {
            path: path.to_path_buf(),
            senders,
            next_slot: AtomicI64::new(first),
            last_slot: last,
            patients,
            doctors,
            first_day,
        })
    }

    /// A fresh handle on the clinic (fresh contention figures).
    pub(crate) fn open(&self) -> Result<Frontdesk> {
        open_with(&self.path, &self.senders, true)
    }

    /// The senders file passcodes go through (the recording sender).
    pub(crate) fn senders(&self) -> &Path {
        &self.senders
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The next never-used slot.
    pub(crate) fn take_slot(&self) -> Result<i64> {
        self.take_slots(1).map(|(a, _)| a)
    }

    /// `n` consecutive never-used slots `[first, first + n)`.
    pub(crate) fn take_slots(&self, n: i64) -> Result<(i64, i64)> {
        let first = self.next_slot.fetch_add(n, Ordering::Relaxed);
        if first + n - 1 > self.last_slot {
            return Err(Error::Internal(
                "the benchmark ran out of free slots".into(),
            ));
        }
        Ok((first, first + n))
    }

    /// Patient number `i` (wrapping).
    pub(crate) fn patient(&self, i: usize) -> i64 {
        self.patients[i % self.patients.len()]
    }

    /// The range of patient ids.
    pub(crate) fn patient_range(&self) -> (i64, i64) {
        (
            self.patients[0],
            *self.patients.last().expect("patients were made"),
        )
    }
}
