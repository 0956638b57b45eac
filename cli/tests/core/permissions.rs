//! The permission table of DESIGN §3, walked in full: every public operation that
//! takes an actor × admin, receptionist, a signed-out desk and an idle-expired
//! one. The actor always comes from a Rust-side session, as in the desktop shell.
//!
//! Which operations exist is derived from one place, the core's public
//! signatures: every `pub fn` under `src/` that takes an `Actor` anywhere in its
//! parameters — a method with any receiver (`&self`, `self`), or a free function
//! such as `backup::restore` — is an operation, and the walk must list exactly
//! those ([`operations_in_source`], which is itself tested on the signatures a
//! text match used to miss).

use std::collections::BTreeSet;

use chrono::NaiveDate;
use frontdesk::service::session::SessionStore;
use frontdesk::AppointmentFilter;
use frontdesk::AuditFilter;
use frontdesk::SlotFilter;
use frontdesk::{
    Action, Actor, AppointmentStatus, BookRequest, Error, Frontdesk, NewPatient, NewStaff,
    PatientUpdate, Role,
};
use serde_json::json;

use crate::fixture::{NOW, PASSWORD};

/// Records the operations under test refer to.
struct Ids {
    doctor: i64,
    slot: i64,
    free_slot: i64,
    patient: i64,
    appointment: i64,
    version: i64,
    date: NaiveDate,
    dir: std::path::PathBuf,
    /// A real backup of the clinic (a restore gets as far as its own refusals).
    backup: std::path::PathBuf,
}

type Call = fn(&Frontdesk, &Actor, &Ids) -> Result<(), Error>;

/// Housekeeping any signed-in desk triggers, with no permission of its own (the
/// daily backup the app takes at sign-in), and changing one's own password; still
/// refused when signed out.
const ANY_SIGNED_IN: &[&str] = &["backup_if_due", "backup_if_due_with", "change_own_password"];

fn ok<T>(r: Result<T, Error>) -> Result<(), Error> {
    r.map(|_| ())
}

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("well-formed test input")
}

/// The word of an action's name a refusal must mention: its last, in lower case
/// (`ManageBackups` → "backups", `MarkNoShow` → "show").
fn named(action: Action) -> String {
    let name = format!("{action:?}");
    let last = name
        .char_indices()
        .rfind(|(_, c)| c.is_uppercase())
        .map_or(0, |(i, _)| i);
    name[last..].to_lowercase()
}

/// Every operation with the action DESIGN §3 says it needs.
fn operations() -> Vec<(&'static str, Action, Call)> {
    vec![
        // appointments
        ("book", Action::Book, |d, a, i| {
            ok(d.book(
                a,
                &BookRequest {
                    slot_id: i.free_slot,
                    patient_id: i.patient,
                    reason: String::new(),
                },
            ))
        }),
        ("reschedule", Action::Reschedule, |d, a, i| {
            ok(d.reschedule(a, i.appointment, i.version, i.free_slot))
        }),
        ("change_status", Action::CheckIn, |d, a, i| {
            ok(d.change_status(a, i.appointment, 0, AppointmentStatus::Arrived, ""))
        }),
        ("change_status", Action::Confirm, |d, a, i| {
            ok(d.change_status(a, i.appointment, 0, AppointmentStatus::Confirmed, ""))
        }),
        ("change_status", Action::Cancel, |d, a, i| {
            ok(d.change_status(a, i.appointment, 0, AppointmentStatus::Cancelled, ""))
        }),
        ("change_status", Action::MarkNoShow, |d, a, i| {
            ok(d.change_status(a, i.appointment, 0, AppointmentStatus::NoShow, ""))
        }),
        ("change_status", Action::Complete, |d, a, i| {
            ok(d.change_status(a, i.appointment, 0, AppointmentStatus::Completed, ""))
        }),
        ("get_appointment", Action::ViewSchedule, |d, a, i| {
            ok(d.get_appointment(a, i.appointment))
        }),
        ("list_appointments", Action::ViewSchedule, |d, a, _| {
            ok(d.list_appointments(a, &AppointmentFilter::default()))
        }),
        ("overbook", Action::Overbook, |d, a, i| {
            ok(d.overbook(a, 999_999, i.patient, ""))
        }),
        ("book_series", Action::Book, |d, a, i| {
            ok(d.book_series(a, &from(json!({ "first_slot_id": 999_999, "patient_id": i.patient, "every_weeks": 1, "count": 2 }))))
        }),
        ("cancel_series_rest", Action::Cancel, |d, a, _| {
            ok(d.cancel_series_rest(a, 999_999, &[], "test"))
        }),
        ("series_rest", Action::ViewSchedule, |d, a, i| {
            ok(d.series_rest(a, i.appointment))
        }),
        ("appointment_series_id", Action::ViewSchedule, |d, a, i| {
            ok(d.appointment_series_id(a, i.appointment))
        }),
        ("list_series", Action::ViewSchedule, |d, a, _| {
            ok(d.list_series(a, 999_999))
        }),
        ("patient_attendance", Action::ViewSchedule, |d, a, i| {
            ok(d.patient_attendance(a, i.patient))
        }),
        // payments
        ("pay_and_book", Action::Book, |d, a, i| {
            ok(d.pay_and_book(
                a,
                &from(json!({ "slot_id": i.free_slot, "patient_id": i.patient })),
                None,
                None,
            ))
        }),
        ("take_payment", Action::TakePayment, |d, a, i| {
            ok(d.take_payment(
                a,
                i.appointment,
                &from(json!({ "amount_minor": 100, "method": "CASH" })),
            ))
        }),
        ("refund", Action::Refund, |d, a, _| {
            ok(d.refund(a, 999_999, 100, "test"))
        }),
        ("appointment_account", Action::ViewSchedule, |d, a, i| {
            ok(d.appointment_account(a, i.appointment))
        }),
        ("patient_balance", Action::ViewSchedule, |d, a, i| {
            ok(d.patient_balance(a, i.patient))
        }),
        ("closing_preview", Action::ViewSchedule, |d, a, i| {
            ok(d.closing_preview(a, i.appointment, AppointmentStatus::Cancelled))
        }),
        ("receipt", Action::ViewSchedule, |d, a, _| {
            ok(d.receipt(a, 999_999))
        }),
        ("payment_settings", Action::ViewSchedule, |d, a, _| {
            ok(d.payment_settings(a))
        }),
        ("list_appointment_types", Action::ViewSchedule, |d, a, _| {
            ok(d.list_appointment_types(a, true))
        }),
        ("add_appointment_type", Action::ManageSettings, |d, a, _| {
            ok(d.add_appointment_type(a, &from(json!({ "name": "", "price_minor": 100 }))))
        }),
        (
            "update_appointment_type",
            Action::ManageSettings,
            |d, a, _| {
                ok(d.update_appointment_type(
                    a,
                    999_999,
                    &from(json!({ "name": "x", "price_minor": 100 })),
                    true,
                ))
            },
        ),
        ("set_doctor_price", Action::ManageSettings, |d, a, i| {
            ok(d.set_doctor_price(
                a,
                999_999,
                &from(json!({ "doctor_id": i.doctor, "price_minor": 100 })),
                false,
            ))
        }),
        ("till", Action::TakePayment, |d, a, _| ok(d.till(a, None))),
        ("close_till", Action::TakePayment, |d, a, _| {
            ok(d.close_till(a, None, &[], ""))
        }),
        ("cash_up_report", Action::ViewReports, |d, a, _| {
            ok(d.cash_up_report(a, "2030-01-07", "2030-01-07"))
        }),
        ("export_cash_ups_csv", Action::ViewReports, |d, a, _| {
            ok(d.export_cash_ups_csv(a, "2030-01-07", "2030-01-07", std::io::sink()))
        }),
        // waitlist
        ("waitlist_add", Action::ManageWaitlist, |d, a, i| {
            ok(d.waitlist_add(
                a,
                &from(json!({ "patient_id": i.patient, "doctor_id": i.doctor })),
            ))
        }),
        ("waitlist_list", Action::ViewSchedule, |d, a, _| {
            ok(d.waitlist_list(a, &from(json!({}))))
        }),
        (
            "waitlist_matches_for_slot",
            Action::ViewSchedule,
            |d, a, i| ok(d.waitlist_matches_for_slot(a, i.slot)),
        ),
        ("waitlist_remove", Action::ManageWaitlist, |d, a, _| {
            ok(d.waitlist_remove(a, 999_999))
        }),
        ("book_from_waitlist", Action::Book, |d, a, i| {
            ok(d.book_from_waitlist(a, 999_999, i.free_slot))
        }),
        // slots, doctors, templates
        ("add_slot", Action::ManageSchedule, |d, a, i| {
            ok(d.add_slot(
                a,
                i.doctor,
                NOW + 40 * 86_400,
                NOW + 40 * 86_400 + 1800,
                frontdesk::SlotMode::InPerson,
            ))
        }),
        ("undo", Action::Book, |d, a, i| {
            ok(d.undo(
                a,
                &frontdesk::Undo::Book {
                    appointment_id: i.appointment,
                    version: 0,
                },
            ))
        }),
        ("undo", Action::Cancel, |d, a, i| {
            ok(d.undo(
                a,
                &frontdesk::Undo::Cancel {
                    appointment_id: i.appointment,
                    version: 0,
                },
            ))
        }),
        ("undo", Action::CheckIn, |d, a, i| {
            ok(d.undo(
                a,
                &frontdesk::Undo::CheckIn {
                    appointment_id: i.appointment,
                    version: 0,
                },
            ))
        }),
        ("undo", Action::ManageSchedule, |d, a, _| {
            ok(d.undo(a, &frontdesk::Undo::Block { slot_id: 999_999 }))
        }),
        ("set_slot_blocked", Action::ManageSchedule, |d, a, _| {
            ok(d.set_slot_blocked(a, 999_999, true))
        }),
        ("list_slots", Action::ViewSchedule, |d, a, _| {
            ok(d.list_slots(
                a,
                &SlotFilter {
                    from: NOW,
                    to: NOW + 86_400,
                    ..Default::default()
                },
            ))
        }),
        ("day_view", Action::ViewSchedule, |d, a, i| {
            ok(d.day_view(a, i.date, None))
        }),
        ("generate_slots", Action::ManageSchedule, |d, a, i| {
            ok(d.generate_slots(a, i.date, i.date, None, true))
        }),
        ("generate_slots_with", Action::ManageSchedule, |d, a, i| {
            let ignore = &mut frontdesk::domain::progress::ignore;
            ok(d.generate_slots_with(a, i.date, i.date, None, Some("stale token"), ignore))
        }),
        (
            "generate_slots_as_previewed",
            Action::ManageSchedule,
            |d, a, i| ok(d.generate_slots_as_previewed(a, i.date, i.date, None, "stale token")),
        ),
        (
            "generate_slots_in_steps",
            Action::ManageSchedule,
            |d, a, i| {
                ok(d.generate_slots_in_steps(
                    a,
                    i.date,
                    i.date,
                    None,
                    frontdesk::GenerationSteps {
                        writes_per_part: 1,
                        between_parts: &mut |_, _| true,
                    },
                ))
            },
        ),
        ("add_doctor", Action::ManageDoctors, |d, a, _| {
            ok(d.add_doctor(a, "Dr. New", "GP"))
        }),
        ("list_doctors", Action::ViewSchedule, |d, a, _| {
            ok(d.list_doctors(a, true))
        }),
        ("deactivate_doctor", Action::ManageDoctors, |d, a, _| {
            ok(d.deactivate_doctor(a, 999_999))
        }),
        ("add_template", Action::ManageSchedule, |d, a, i| {
            ok(d.add_template(a, &from(json!({ "doctor_id": i.doctor, "weekday": 3, "start": "09:00", "end": "10:00", "slot_minutes": 30 }))))
        }),
        ("remove_template", Action::ManageSchedule, |d, a, _| {
            ok(d.remove_template(a, 999_999))
        }),
        ("list_templates", Action::ViewSchedule, |d, a, _| {
            ok(d.list_templates(a, None))
        }),
        ("add_time_off", Action::ManageSchedule, |d, a, i| {
            ok(d.add_time_off(a, &from(json!({ "doctor_id": i.doctor, "from_date": "2031-01-01", "to_date": "2031-01-02" }))))
        }),
        ("remove_time_off", Action::ManageSchedule, |d, a, _| {
            ok(d.remove_time_off(a, 999_999))
        }),
        ("list_time_off", Action::ViewSchedule, |d, a, _| {
            ok(d.list_time_off(a, None, None, None))
        }),
        // patients
        ("add_patient", Action::ManagePatients, |d, a, _| {
            ok(d.add_patient(
                a,
                &NewPatient {
                    name: "New Patient".into(),
                    phone: "0151 1111 2222".into(),
                    ..Default::default()
                },
            ))
        }),
        ("possible_duplicates", Action::ManagePatients, |d, a, _| {
            ok(d.possible_duplicates(
                a,
                &NewPatient {
                    name: "Anna".into(),
                    phone: "0151 2345 6789".into(),
                    ..Default::default()
                },
            ))
        }),
        ("get_patient", Action::ManagePatients, |d, a, i| {
            ok(d.get_patient(a, i.patient))
        }),
        ("list_patients", Action::ManagePatients, |d, a, _| {
            ok(d.list_patients(a, 10))
        }),
        ("search_patients", Action::ManagePatients, |d, a, _| {
            ok(d.search_patients(a, "ann", 10))
        }),
        ("next_appointments", Action::ViewSchedule, |d, a, i| {
            ok(d.next_appointments(a, &[i.patient]))
        }),
        ("update_patient", Action::ManagePatients, |d, a, i| {
            let details = NewPatient {
                name: "Anna Test".into(),
                phone: "0151 2345 6789".into(),
                ..Default::default()
            };
            ok(d.update_patient(
                a,
                i.patient,
                &PatientUpdate {
                    expected_version: 0,
                    details,
                },
            ))
        }),
        // settings, demo
        (
            "update_clinic_settings",
            Action::ManageSettings,
            |d, a, _| ok(d.update_clinic_settings(a, &d.settings()?)),
        ),
        (
            "change_clinic_settings",
            Action::ManageSettings,
            |d, a, _| ok(d.change_clinic_settings(a, &Default::default())),
        ),
        ("create_demo_clinic", Action::ManageSettings, |d, a, _| {
            ok(d.create_demo_clinic(a))
        }),
        // refused past the permission here: the test desk was not connected to
        // its server by "Connect to the clinic server" (end to end it is)
        ("disconnect_desk", Action::ManageSettings, |d, a, _| {
            ok(d.disconnect_desk(a))
        }),
        ("may_disconnect_desk", Action::ManageSettings, |d, a, _| {
            ok(d.may_disconnect_desk(a))
        }),
        ("list_settings", Action::ManageSettings, |d, a, _| {
            ok(d.list_settings(a))
        }),
        ("set_setting", Action::ManageSettings, |d, a, _| {
            ok(d.set_setting(a, "clinic.name", "Permission Clinic"))
        }),
        ("backup_settings", Action::ManageBackups, |d, a, _| {
            ok(d.backup_settings(a))
        }),
        // backups, reports, exports
        ("backup_now", Action::ManageBackups, |d, a, i| {
            ok(d.backup_now(a, Some(i.dir.join("b.sqlite3"))))
        }),
        ("backup_now_with", Action::ManageBackups, |d, a, i| {
            let ignore = &mut frontdesk::domain::progress::ignore;
            ok(d.backup_now_with(a, Some(i.dir.join("bw.sqlite3")), ignore))
        }),
        ("backup_if_due", Action::ManageBackups, |d, a, _| {
            ok(d.backup_if_due(a))
        }),
        ("backup_if_due_with", Action::ManageBackups, |d, a, _| {
            ok(d.backup_if_due_with(a, &mut |_| {}))
        }),
        ("list_backups", Action::ManageBackups, |d, a, _| {
            ok(d.list_backups(a))
        }),
        ("check_backup", Action::ManageBackups, |d, a, i| {
            ok(d.check_backup(a, &i.dir.join("missing.sqlite3")))
        }),
        ("check_server_backup", Action::ManageBackups, |d, a, i| {
            ok(d.check_server_backup(a, &i.dir.join("missing.dump")))
        }),
        ("accept_restore", Action::ManageBackups, |d, a, _| {
            ok(d.accept_restore(a))
        }),
        // the most destructive operation: on a second handle (it consumes the
        // handle it runs on); with the walk's desk open it is refused as in use
        // once the permission lets it through, so it never replaces the file
        ("restore_backup", Action::ManageBackups, |d, a, i| {
            let other = Frontdesk::open(d.path(), frontdesk::OpenOptions::default())?;
            ok(other.restore_backup(a, &i.backup, true))
        }),
        ("restore_backup_with", Action::ManageBackups, |d, a, i| {
            let other = Frontdesk::open(d.path(), frontdesk::OpenOptions::default())?;
            let ignore = &mut frontdesk::domain::progress::ignore;
            ok(other.restore_backup_with(a, &i.backup, true, ignore))
        }),
        // on a second handle too (it consumes it); once the permission lets it by,
        // the URL is refused before anything is read or moved
        ("move_to_server", Action::ManageBackups, |d, a, _| {
            let other = Frontdesk::open(d.path(), frontdesk::OpenOptions::default())?;
            ok(other.move_to_server(a, "not a server URL"))
        }),
        (
            "storage::backup::restore::restore",
            Action::ManageBackups,
            |d, a, i| {
                ok(frontdesk::storage::backup::restore(
                    a,
                    d.path(),
                    &i.backup,
                    NOW,
                    true,
                ))
            },
        ),
        // the database key: shown (audited), or the database rewritten under a new
        // one — refused as in use, like a restore, once the permission lets it by
        ("recovery_key", Action::ManageKeys, |d, a, _| {
            ok(d.recovery_key(a))
        }),
        ("convert_database", Action::ManageKeys, |d, a, _| {
            let other = Frontdesk::open(d.path(), frontdesk::OpenOptions::default())?;
            ok(other.convert_database(a, frontdesk::storage::backup::Conversion::ChangeKey))
        }),
        ("convert_database_with", Action::ManageKeys, |d, a, _| {
            let other = Frontdesk::open(d.path(), frontdesk::OpenOptions::default())?;
            let ignore = &mut frontdesk::domain::progress::ignore;
            ok(other.convert_database_with(
                a,
                frontdesk::storage::backup::Conversion::ChangeKey,
                ignore,
            ))
        }),
        (
            "storage::backup::convert::convert",
            Action::ManageKeys,
            |d, a, _| {
                ok(frontdesk::storage::backup::convert(
                    a,
                    d.path(),
                    frontdesk::storage::backup::Conversion::ChangeKey,
                    NOW,
                ))
            },
        ),
        ("report", Action::ViewReports, |d, a, i| {
            ok(d.report(a, i.date, i.date, frontdesk::ReportPeriod::Week))
        }),
        ("export_appointments_csv", Action::ViewReports, |d, a, i| {
            ok(d.export_appointments_csv(a, i.date, i.date, std::io::sink()))
        }),
        ("export_patients_csv", Action::ViewReports, |d, a, _| {
            ok(d.export_patients_csv(a, std::io::sink()))
        }),
        ("day_sheet", Action::ViewSchedule, |d, a, i| {
            ok(d.day_sheet(a, i.date, None))
        }),
        // staff
        ("add_staff", Action::ManageStaff, |d, a, _| {
            ok(d.add_staff(
                a,
                &NewStaff {
                    username: "newbie".into(),
                    display_name: "New".into(),
                    role: Role::Receptionist,
                    password: PASSWORD.into(),
                },
            ))
        }),
        ("change_own_password", Action::ViewSchedule, |d, a, _| {
            ok(d.change_own_password(a, PASSWORD, "aaaaaaaaaa"))
        }),
        ("list_staff", Action::ManageStaff, |d, a, _| {
            ok(d.list_staff(a))
        }),
        ("reset_password", Action::ManageStaff, |d, a, _| {
            ok(d.reset_password(a, 999_999, PASSWORD))
        }),
        ("unlock_staff", Action::ManageStaff, |d, a, _| {
            ok(d.unlock_staff(a, 999_999))
        }),
        ("deactivate_staff", Action::ManageStaff, |d, a, _| {
            ok(d.deactivate_staff(a, 999_999))
        }),
        ("change_role", Action::ManageStaff, |d, a, _| {
            ok(d.change_role(a, 999_999, Role::Admin))
        }),
        ("create_demo_staff", Action::ManageStaff, |d, a, _| {
            ok(d.create_demo_staff(a))
        }),
        // passcodes
        ("request_otp", Action::VerifyPhone, |d, a, _| {
            ok(d.request_otp(a, "0151 2345 6789"))
        }),
        ("verify_otp", Action::VerifyPhone, |d, a, _| {
            ok(d.verify_otp(a, "0151 2345 6789", "000000"))
        }),
        ("deliver_outbox", Action::VerifyPhone, |d, a, _| {
            ok(d.deliver_outbox(a))
        }),
        ("send_due_reminders", Action::SendReminders, |d, a, _| {
            ok(d.send_due_reminders(a))
        }),
        (
            "set_reminders_opt_out",
            Action::ManagePatients,
            |d, a, i| ok(d.set_reminders_opt_out(a, i.patient, true)),
        ),
        ("otp_sender", Action::ManageSettings, |d, a, _| {
            ok(d.otp_sender(a))
        }),
        ("set_otp_sender", Action::ManageSettings, |d, a, _| {
            ok(d.set_otp_sender(a, None))
        }),
        ("list_outbox", Action::ManageSettings, |d, a, _| {
            ok(d.list_outbox(a, 10))
        }),
        // audit
        ("list_audit", Action::ViewAudit, |d, a, _| {
            ok(d.list_audit(a, &AuditFilter::default()))
        }),
        // diagnostics
        ("contention_metrics", Action::ViewReports, |d, a, _| {
            ok(d.contention_metrics(a))
        }),
        ("log_folder", Action::ViewReports, |d, a, _| {
            ok(d.log_folder(a))
        }),
    ]
}

/// Every public function under `src/` (the CLI in `src/bin` aside) that takes an
/// `Actor` among its parameters: methods by name, free functions as
/// `module::path::name` (from the file's path).
fn operations_in_source() -> BTreeSet<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("bin") {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let module = module_path(path.strip_prefix(root).unwrap());
                let text = std::fs::read_to_string(&path).unwrap();
                out.extend(operations_in(&text, &module));
            }
        }
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../src");
    let mut out = BTreeSet::new();
    walk(&src, &src, &mut out);
    out
}

/// `backup/restore.rs` → `backup::restore`; `lib.rs`, `x/mod.rs` name their folder.
fn module_path(file: &std::path::Path) -> String {
    let mut parts: Vec<String> = file
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    parts.join("::")
}

/// Rust source with comments, string and char literals blanked out (same length),
/// so a signature in a doc comment or a string is not taken for code.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(b.len(), |n| i + n);
                blank(&mut out, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                let mut j = i;
                while j < b.len() {
                    if b[j..].starts_with(b"/*") {
                        depth += 1;
                        j += 2;
                    } else if b[j..].starts_with(b"*/") {
                        depth -= 1;
                        j += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        j += 1;
                    }
                }
                blank(&mut out, i, j);
                i = j;
            }
            b'r' if (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let hashes = b[i + 1..].iter().take_while(|c| **c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let start = i + 2 + hashes;
                let end = text[start..]
                    .find(&close)
                    .map_or(b.len(), |n| start + n + close.len());
                blank(&mut out, i, end);
                i = end;
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                blank(&mut out, i, j + 1);
                i = j + 1;
            }
            // a char literal ('x', '\n', '\''), not a lifetime ('a)
            b'\'' if b.get(i + 2) == Some(&b'\'') || b.get(i + 1) == Some(&b'\\') => {
                let mut j = i + 1;
                if b[j] == b'\\' {
                    j += 2;
                }
                while j < b.len() && b[j] != b'\'' {
                    j += 1;
                }
                blank(&mut out, i, j + 1);
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    String::from_utf8(out).expect("blanking keeps UTF-8 (only ASCII bytes change)")
}

/// The operations declared in one file's source (see [`operations_in_source`]).
fn operations_in(text: &str, module: &str) -> Vec<String> {
    let code = code_only(text);
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(n) = code[at..].find("fn ") {
        let start = at + n;
        at = start + 3;
        let before = &code[..start];
        if before
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue; // part of a longer word
        }
        // `pub` (not `pub(crate)`) then only qualifiers before `fn`
        let mut head = before.trim_end();
        for qualifier in ["unsafe", "async", "const"] {
            head = head.strip_suffix(qualifier).unwrap_or(head).trim_end();
        }
        let is_pub = head.ends_with("pub")
            && !head[..head.len() - 3]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !is_pub {
            continue;
        }
        let rest = &code[start + 3..];
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // the parameter list: the first `(` after the name and generics, balanced
        let Some(open) = rest.find('(') else { continue };
        let mut depth = 0;
        let mut close = open;
        for (k, c) in rest[open..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + k;
                        break;
                    }
                }
                _ => {}
            }
        }
        let params = &rest[open + 1..close];
        let tokens = words(params);
        if !tokens.iter().any(|w| w == "Actor") {
            continue;
        }
        let first = params.split(',').next().unwrap_or("");
        let is_method = words(first)
            .first()
            .is_some_and(|w| w == "self" || w == "mut")
            && words(first).iter().any(|w| w == "self");
        found.push(if is_method {
            name
        } else {
            format!("{module}::{name}")
        });
    }
    found
}

#[test]
fn the_source_scan_finds_every_shape_of_signature_and_nothing_in_comments_or_strings() {
    let src = r##"
        impl Frontdesk {
            pub fn plain(&self, actor: &Actor, x: i64) -> Result<()> { todo!() }
            pub fn consuming(self, actor: &Actor, candidate: &Path) -> Result<()> { todo!() }
            pub fn spread(
                &self,
                who:
                    &crate::auth::Actor,
            ) -> Result<()> { todo!() }
            pub fn generic<T: Into<String>>(&self, x: T, a: &Actor) {}
            pub async fn later(&self, actor: Actor) {}
            pub fn no_actor(&self, x: i64) -> Actor { todo!() }
            pub(crate) fn internal(&self, actor: &Actor) {}
            fn private(&self, actor: &Actor) {}
            pub fn by_mut(&mut self, a: &Actor) {}
        }
        pub fn restore(actor: &Actor, db: &Path) -> Result<()> { todo!() }
        // pub fn in_a_comment(&self, actor: &Actor) {}
        /* pub fn in_a_block(&self, actor: &Actor) {} */
        const S: &str = "pub fn in_a_string(&self, actor: &Actor) {}";
        const R: &str = r#"pub fn in_a_raw_string(&self, actor: &Actor) {}"#;
        pub fn with_chars(c: char, a: &Actor) -> bool { c == '(' || c == '"' }
        pub fn lifetimes<'a>(x: &'a str, a: &Actor) {}
    "##;
    let found: BTreeSet<String> = operations_in(src, "backup::restore").into_iter().collect();
    let expected: BTreeSet<String> = [
        "plain",
        "consuming",
        "spread",
        "generic",
        "later",
        "by_mut",
        "backup::restore::restore",
        "backup::restore::with_chars",
        "backup::restore::lifetimes",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    assert_eq!(found, expected);
    assert_eq!(
        module_path(std::path::Path::new("backup/restore.rs")),
        "backup::restore"
    );
    assert_eq!(module_path(std::path::Path::new("ops/mod.rs")), "ops");
}

#[test]
fn the_permission_table_covers_every_operation_that_takes_an_actor() {
    let tested: BTreeSet<String> = operations().iter().map(|(n, _, _)| n.to_string()).collect();
    let found = operations_in_source();
    for known in [
        "book",
        "change_status",
        "list_audit",
        "verify_otp",
        "add_staff",
        "restore_backup",
        "storage::backup::restore::restore",
    ] {
        assert!(
            found.contains(known),
            "the source scan must find {known}: {found:?}"
        );
    }
    let missing: Vec<_> = found.difference(&tested).cloned().collect();
    assert!(missing.is_empty(), "operations not in the permission walk (add them to tests/core/permissions.rs): {missing:?}");
    let gone: Vec<_> = tested.difference(&found).cloned().collect();
    assert!(
        gone.is_empty(),
        "the walk names operations the core no longer has (or misspells them): {gone:?}"
    );
}

on_both! {
    fn every_operation_is_allowed_or_refused_exactly_as_the_table_says_for_each_role_and_signed_out(c) {
    let admin_id = c.account("ada", Role::Admin);
    c.account("rita", Role::Receptionist);
    let doctor = c.doctor("Dr. Perm");
    let slots = c.slots(doctor, 3);
    let patient = c.patient("Anna Test", "0151 2345 6789");
    let booked = c
        .desk
        .book(
            &Actor::local_admin(),
            &BookRequest {
                slot_id: slots[0],
                patient_id: patient,
                reason: String::new(),
            },
        )
        .unwrap();
    let ids = Ids {
        doctor,
        slot: slots[0],
        free_slot: slots[2],
        patient,
        appointment: booked.id,
        version: booked.version,
        date: NaiveDate::from_ymd_opt(2030, 1, 7).unwrap(),
        dir: c.dir.path().to_path_buf(),
        backup: c.dir.path().join("walk-backup.sqlite3"),
    };
    c.desk
        .backup_now(&Actor::local_admin(), Some(ids.backup.clone()))
        .unwrap();

    let sessions = SessionStore::new();
    let idle = sessions.login(&c.desk, "rita", PASSWORD).unwrap();
    let logged_out = sessions.login(&c.desk, "ada", PASSWORD).unwrap();
    sessions.logout(&logged_out.token);
    c.clock.advance(16 * 60);
    let admin = sessions.login(&c.desk, "ada", PASSWORD).unwrap();
    let desk = sessions.login(&c.desk, "rita", PASSWORD).unwrap();
    assert_eq!(
        admin.actor.staff_id,
        Some(admin_id),
        "the admin session is ada's"
    );

    let who: [(&str, &str, Option<Role>); 4] = [
        ("receptionist", &desk.token, Some(Role::Receptionist)),
        ("admin", &admin.token, Some(Role::Admin)),
        ("logged out", &logged_out.token, None),
        ("idle too long", &idle.token, None),
    ];
    let mut wrong = Vec::new();
    for (name, action, call) in operations() {
        for (label, token, role) in who {
            // the shell's pattern: the actor comes from the session, never the payload
            let outcome = sessions
                .actor(&c.desk, token)
                .and_then(|actor| call(&c.desk, &actor, &ids));
            let fine = match role {
                None => matches!(outcome, Err(Error::Unauthenticated)),
                Some(r) if action.allowed_for(r) || ANY_SIGNED_IN.contains(&name) => {
                    !matches!(outcome, Err(Error::Forbidden(_) | Error::Unauthenticated))
                }
                // refused, in a sentence that names what was refused
                Some(_) => matches!(&outcome, Err(e @ Error::Forbidden(_))
                    if e.to_string().to_lowercase().contains(&named(action))),
            };
            if !fine {
                wrong.push(format!("{name} ({action:?}) as {label}: {outcome:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "operations not matching DESIGN §3:\n{}",
        wrong.join("\n")
    );
    // the table itself, as DESIGN §3 words it
    let desk_work = [
        Action::ViewSchedule,
        Action::Book,
        Action::Reschedule,
        Action::CheckIn,
        Action::ManagePatients,
        Action::VerifyPhone,
        Action::ManageWaitlist,
        Action::TakePayment,
        Action::SendReminders,
    ];
    for action in Action::ALL {
        assert!(action.allowed_for(Role::Admin), "admins may {action:?}");
        assert_eq!(
            action.allowed_for(Role::Receptionist),
            desk_work.contains(&action),
            "receptionist and {action:?}"
        );
    }
}
}
