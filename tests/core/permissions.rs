//! The permission table of DESIGN §3, walked in full: every public operation that
//! takes an actor × admin, receptionist and a signed-out desk. The actor always
//! comes from a Rust-side session, as in the desktop shell.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use frontdesk::session::SessionStore;
use frontdesk::store::appointments::AppointmentFilter;
use frontdesk::store::audit::AuditFilter;
use frontdesk::store::slots::SlotFilter;
use frontdesk::{
    Action, Actor, AppointmentStatus, BookRequest, Error, Frontdesk, NewPatient, NewStaff,
    OtpSender, PatientUpdate, Role,
};
use serde_json::json;

use crate::fixture::{Clinic, NOW, PASSWORD};

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
}

type Call = fn(&Frontdesk, &Actor, &Ids) -> Result<(), Error>;

/// Housekeeping any signed-in desk triggers, with no permission of its own (the
/// daily backup the app takes at sign-in); still refused when signed out.
const ANY_SIGNED_IN: &[&str] = &["backup_if_due"];

fn ok<T>(r: Result<T, Error>) -> Result<(), Error> {
    r.map(|_| ())
}

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("well-formed test input")
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
        ("backup_if_due", Action::ManageBackups, |d, a, _| {
            ok(d.backup_if_due(a))
        }),
        ("list_backups", Action::ManageBackups, |d, a, _| {
            ok(d.list_backups(a))
        }),
        ("check_backup", Action::ManageBackups, |d, a, i| {
            ok(d.check_backup(a, &i.dir.join("missing.sqlite3")))
        }),
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
        ("otp_sender", Action::ManageSettings, |d, a, _| {
            ok(d.otp_sender(a))
        }),
        ("set_otp_sender", Action::ManageSettings, |d, a, _| {
            ok(d.set_otp_sender(a, &OtpSender::default()))
        }),
        ("set_otp_sender_args", Action::ManageSettings, |d, a, _| {
            ok(d.set_otp_sender_args(a, &[]))
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

/// Names of every `pub fn NAME(&self, actor: &Actor, …)` in the core's sources.
fn operations_in_source() -> BTreeSet<String> {
    fn walk(dir: &std::path::Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("bin") {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (i, _) in text.match_indices("pub fn ") {
                    let rest = &text[i + 7..];
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    let head: String = rest
                        .chars()
                        .take(120)
                        .collect::<String>()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ");
                    if head.contains("(&self, actor: &Actor")
                        || head.contains("( &self, actor: &Actor")
                    {
                        out.insert(name);
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut out,
    );
    out
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
    ] {
        assert!(
            found.contains(known),
            "the source scan must find {known}: {found:?}"
        );
    }
    let missing: Vec<_> = found.difference(&tested).cloned().collect();
    assert!(missing.is_empty(), "operations not in the permission walk (add them to tests/core/permissions.rs): {missing:?}");
}

#[test]
fn every_operation_is_allowed_or_refused_exactly_as_the_table_says_for_each_role_and_signed_out() {
    let c = Clinic::new();
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
    };

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
                Some(_) => matches!(outcome, Err(Error::Forbidden(_))),
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
