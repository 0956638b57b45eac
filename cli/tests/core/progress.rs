//! Long jobs report their progress: within a phase `done` never goes back and never
//! passes `total`, and a phase with a total ends at it. A backup's copy stays one
//! snapshot while a desk writes between its steps.

use frontdesk::domain::progress::{Phase, Progress};
use frontdesk::storage::backup::Conversion;
use frontdesk::Actor;

use crate::fixture::{self, Clinic, NOW};
use crate::scheduling::{day, template};

/// Patients with padding, so the file has a few thousand pages.
fn bulk_patients(c: &Clinic, n: i64) {
    c.desk
        .write("test.patients", |tx| {
            for i in 0..n {
                tx.execute(
                    "INSERT INTO patient (name, phone, notes, created_at, updated_at) VALUES (?1, '+4915123456789', ?2, ?3, ?3)",
                    rusqlite::params![format!("Bulk Patient {i}"), "x".repeat(1000), NOW],
                )?;
            }
            Ok(())
        })
        .unwrap();
}

/// Checks the reports of every phase with a total: `done` never goes back within
/// the phase, never passes `total`, and the phase's last report is `done == total`.
/// Returns the phases in the order they started.
fn check_reports(reports: &[Progress]) -> Vec<Phase> {
    assert!(!reports.is_empty(), "the job reported something");
    let mut phases: Vec<Phase> = Vec::new();
    for (i, p) in reports.iter().enumerate() {
        if phases.last() != Some(&p.phase) {
            phases.push(p.phase);
        }
        let Some(total) = p.total else {
            assert_eq!(p.done, 0, "a phase without a total claims nothing: {p:?}");
            continue;
        };
        assert!(p.done <= total, "done passes total: {p:?}");
        match reports.get(i + 1) {
            Some(next) if next.phase == p.phase => {
                assert!(
                    next.done >= p.done && next.total == p.total,
                    "progress went back within {:?}: {p:?} then {next:?}",
                    p.phase
                );
            }
            _ => assert_eq!(p.done, total, "{:?} ends at its total: {p:?}", p.phase),
        }
    }
    phases
}

#[test]
fn a_backup_reports_pages_copied_up_to_all_of_them_and_stays_one_snapshot_while_a_desk_writes() {
    let c = Clinic::new();
    bulk_patients(&c, 6000);
    let before = c.count("SELECT count(*) FROM patient");
    let admin = c.admin();
    let mut reports = Vec::new();
    let mut wrote = false;
    let result = c
        .desk
        .backup_now_with(&admin, None, &mut |p| {
            reports.push(p);
            if p.phase == Phase::CopyingPages && !wrote {
                wrote = true;
                // another connection commits between two steps of the copy
                c.desk
                    .add_patient(
                        &Actor::local_admin(),
                        &frontdesk::NewPatient {
                            name: "Late Larissa".into(),
                            phone: "0151 9999 0000".into(),
                            ..Default::default()
                        },
                    )
                    .expect("the desk books while the backup copies");
            }
        })
        .expect("the backup is written");
    let phases = check_reports(&reports);
    assert_eq!(
        phases,
        vec![
            Phase::CopyingPages,
            Phase::CheckingBackup,
            Phase::Fingerprinting
        ],
        "{reports:?}"
    );
    let copying: Vec<&Progress> = reports
        .iter()
        .filter(|p| p.phase == Phase::CopyingPages)
        .collect();
    let pages = copying[0].total.unwrap();
    assert!(
        pages > 1500 && copying.len() >= 3,
        "a {pages}-page database is copied in several steps, each reported: {} reports",
        copying.len()
    );
    assert_eq!(c.count("SELECT count(*) FROM patient"), before + 1);
    let copy = frontdesk::storage::db::open_keyed(&result.file.path).unwrap();
    let in_backup: i64 = copy
        .query_row("SELECT count(*) FROM patient", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        in_backup, before,
        "the backup is the snapshot of its first step: the patient added meanwhile is not in it"
    );
}

#[test]
fn a_restore_reports_each_phase_and_bytes_and_pages_up_to_all_of_them() {
    let c = Clinic::new();
    bulk_patients(&c, 3000);
    let admin = c.admin();
    let taken = c.desk.backup_now(&admin, None).unwrap();
    let Clinic { desk, dir, .. } = c;
    let mut reports = Vec::new();
    desk.restore_backup_with(
        &admin,
        std::path::Path::new(&taken.file.path),
        false,
        &mut |p| reports.push(p),
    )
    .expect("the backup is restored");
    let phases = check_reports(&reports);
    assert_eq!(
        phases,
        vec![
            Phase::CheckingBackup,
            Phase::CopyingBackup,
            Phase::CheckingCopy,
            Phase::SavingSafetyCopy,
            Phase::CheckingSafetyCopy,
            Phase::SwappingIn,
        ],
        "{reports:?}"
    );
    let bytes = reports
        .iter()
        .find(|p| p.phase == Phase::CopyingBackup)
        .and_then(|p| p.total)
        .unwrap();
    assert_eq!(
        bytes, taken.file.bytes,
        "the copy counts the backup's bytes"
    );
    drop(dir);
}

on_both! {
    fn generating_a_year_of_slots_reports_the_parts_written_up_to_all_of_them(c) {
    let doctor = c.doctor("Dr. Year");
    for weekday in 1..=5 {
        template(&c, doctor, weekday, "08:00", "16:00", 15);
    }
    let mut reports = Vec::new();
    let report = c
        .desk
        .generate_slots_with(
            &c.admin(),
            day("2030-01-08"),
            day("2031-01-07"),
            None,
            None,
            &mut |p| reports.push(p),
        )
        .expect("a year is generated");
    let phases = check_reports(&reports);
    assert_eq!(
        phases,
        vec![Phase::PlanningSlots, Phase::WritingSlots],
        "{reports:?}"
    );
    let parts = reports.last().unwrap().total.unwrap();
    assert!(
        parts > 10,
        "{} slots are written in more than ten parts, got {parts}",
        report.created.len()
    );
    assert_eq!(
        reports
            .iter()
            .filter(|p| p.phase == Phase::WritingSlots)
            .count() as u64,
        parts + 1,
        "one report before the first part and one after each"
    );
}
}

#[test]
fn encrypting_reports_its_phases_and_no_made_up_total_for_the_rewrite() {
    let (_dir, _db, plain) = fixture::plain_demo_clinic();
    let mut reports = Vec::new();
    plain
        .convert_database_with(&Actor::local_admin(), Conversion::Encrypt, &mut |p| {
            reports.push(p)
        })
        .expect("the database is encrypted");
    let phases = check_reports(&reports);
    assert_eq!(phases[0], Phase::Encrypting, "{reports:?}");
    assert!(
        reports
            .iter()
            .filter(|p| p.phase == Phase::Encrypting)
            .all(|p| p.total.is_none()),
        "one SQLCipher call: no percentage is claimed"
    );
    assert_eq!(phases.last(), Some(&Phase::SwappingIn), "{reports:?}");
}
