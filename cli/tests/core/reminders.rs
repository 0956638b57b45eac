//! Appointment reminders: due at the lead time (hours before, or the day before at
//! a clinic-local time, across DST changes), the template filled in the clinic's
//! language, opt-out, cancellation and reschedule, retries of failed sends, and
//! exactly one message per reminder with several desks (threads) and several
//! `frontdesk reminders send` processes delivering at once.

use std::sync::{Arc, Barrier};

use frontdesk::domain::clinic::parse_moment;
use frontdesk::domain::reminders::Lead;
use frontdesk::senders::recording;
use frontdesk::{
    Action, Actor, Appointment, AppointmentStatus, BookRequest, Error, Role, SlotMode,
};

use crate::fixture::{self, Clinic, PASSWORD};

const BERLIN: &str = "Europe/Berlin";

/// A clinic in Berlin (phones in DE) with reminders at `lead`, its clock at
/// `now` (clinic time), and a doctor; returns the clinic and the doctor's id.
fn berlin(lead: &str, now: &str) -> (Clinic, i64) {
    let c = Clinic::new();
    let admin = c.admin();
    c.desk
        .set_setting(&admin, "clinic.time_zone", BERLIN)
        .unwrap();
    c.desk
        .set_setting(&admin, "clinic.name", "Praxis Sonne")
        .unwrap();
    c.desk.set_setting(&admin, "reminder.lead", lead).unwrap();
    c.clock.set(local(now));
    let doctor = c.doctor("Dr. Weber");
    (c, doctor)
}

/// A clinic-local time in Berlin as Unix seconds.
fn local(text: &str) -> i64 {
    parse_moment(text, BERLIN.parse().unwrap()).unwrap()
}

/// Books `patient` into a new 30-minute slot of `doctor` starting at `start`.
fn book_at(c: &Clinic, doctor: i64, start: i64, patient: i64) -> Appointment {
    let admin = Actor::local_admin();
    let slot = c
        .desk
        .add_slot(&admin, doctor, start, start + 1800, SlotMode::InPerson)
        .unwrap();
    c.desk
        .book(
            &admin,
            &BookRequest {
                slot_id: slot.id,
                patient_id: patient,
                reason: String::new(),
            },
        )
        .unwrap()
}

fn send(c: &Clinic) -> frontdesk::ReminderReport {
    c.desk.send_due_reminders(&c.receptionist()).unwrap()
}

/// The reminder rows of an appointment, as the drawer gets them.
fn reminders_of(c: &Clinic, id: i64) -> Vec<frontdesk::ReminderInfo> {
    c.desk.get_appointment(&c.admin(), id).unwrap().reminders
}

const MARIA: &str = "+4915123450001";

#[test]
fn a_reminder_is_due_hours_before_and_not_earlier_with_every_placeholder_filled() {
    let (c, doctor) = berlin("24h", "2030-03-25 08:00");
    let admin = c.admin();
    c.desk
        .set_setting(&admin, "clinic.phone", "030 1234567")
        .unwrap();
    c.desk
        .set_setting(
            &admin,
            "reminder.template",
            "Hi {first_name}: {doctor}, {date} {time}, {clinic} {clinic_phone}",
        )
        .unwrap();
    let maria = c.patient("Maria García López", "0151 2345 0001");
    let start = local("2030-04-01 09:00");
    let a = book_at(&c, doctor, start, maria);

    c.clock.set(start - 24 * 3600 - 1);
    let r = send(&c);
    assert!(r.enabled && r.sender_configured);
    assert_eq!((r.sent, r.failed), (0, 0), "not due a second early");
    assert!(c.messages(MARIA).is_empty());
    assert!(reminders_of(&c, a.id).is_empty());

    c.clock.set(start - 24 * 3600);
    assert_eq!(send(&c).sent, 1, "due exactly 24 hours before");
    assert_eq!(
        c.messages(MARIA),
        ["Hi Maria: Dr. Weber, Mon 1 Apr 2030 09:00, Praxis Sonne +49 30 1234567"]
    );
    c.clock.advance(600);
    assert_eq!(send(&c).sent, 0, "never twice");
    assert_eq!(c.messages(MARIA).len(), 1);
    let shown = reminders_of(&c, a.id);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].status, "SENT");
    assert_eq!(shown[0].sent_at, Some(start - 24 * 3600));
    assert_eq!(
        c.count(
            "SELECT count(*) FROM outbox WHERE kind = 'REMINDER' AND status = 'SENT' AND body = ''"
        ),
        1,
        "the text is blanked once sent"
    );
    assert_eq!(c.desk.list_outbox(&admin, 10).unwrap()[0].kind, "REMINDER");
    assert_eq!(
        c.count("SELECT count(*) FROM audit_event WHERE action = 'reminder.sent' AND entity = 'appointment'"),
        1
    );
    c.assert_check();
}

#[test]
fn hours_before_count_real_hours_across_the_spring_dst_change() {
    // Sunday 2030-03-31 10:00 CEST; 24 real hours before is Saturday 09:00 CET
    let (c, doctor) = berlin("24h", "2030-03-29 12:00");
    let maria = c.patient("Maria", "0151 2345 0001");
    book_at(&c, doctor, local("2030-03-31 10:00"), maria);
    c.clock.set(local("2030-03-30 08:59"));
    assert_eq!(send(&c).sent, 0);
    c.clock.set(local("2030-03-30 09:00"));
    assert_eq!(send(&c).sent, 1);
}

#[test]
fn the_day_before_at_a_clinic_time_follows_the_wall_clock_across_dst_changes() {
    let lead = Lead::parse("day_before 17:00").unwrap();
    let tz = BERLIN.parse().unwrap();
    // the spring change is on Sunday 2030-03-31, the autumn one on Sunday 2030-10-27
    for (appointment, due) in [
        ("2030-04-01 09:00", "2030-03-31 17:00"),
        ("2030-03-31 10:00", "2030-03-30 17:00"),
        ("2030-10-28 09:00", "2030-10-27 17:00"),
        ("2030-10-27 08:00", "2030-10-26 17:00"),
    ] {
        assert_eq!(
            lead.due_at(local(appointment), tz),
            Some(local(due)),
            "{appointment}"
        );
        assert!(lead.horizon(local(due) - 1, tz).unwrap() < local(appointment));
        assert!(lead.horizon(local(due), tz).unwrap() >= local(appointment));
    }

    let (c, doctor) = berlin("day_before 17:00", "2030-03-30 12:00");
    let maria = c.patient("Maria", "0151 2345 0001");
    let anna = c.patient("Anna", "0151 2345 0002");
    book_at(&c, doctor, local("2030-04-01 09:00"), maria);
    // a late appointment the same Monday, and one on the Tuesday
    book_at(&c, doctor, local("2030-04-01 18:30"), anna);
    let tuesday = c.patient("Tom", "0151 2345 0003");
    book_at(&c, doctor, local("2030-04-02 08:00"), tuesday);
    c.clock.set(local("2030-03-31 16:59"));
    assert_eq!(send(&c).sent, 0, "not before 17:00 the day before");
    c.clock.set(local("2030-03-31 17:00"));
    assert_eq!(send(&c).sent, 2, "both Monday appointments, not Tuesday's");
    assert!(c.messages("+4915123450003").is_empty());
    c.clock.set(local("2030-04-01 17:00"));
    assert_eq!(send(&c).sent, 1, "Tuesday's on Monday at 17:00");

    // autumn: 17:00 CET is 16:00 UTC
    let (c, doctor) = berlin("day_before 17:00", "2030-10-25 12:00");
    let maria = c.patient("Maria", "0151 2345 0001");
    book_at(&c, doctor, local("2030-10-28 09:00"), maria);
    c.clock.set(local("2030-10-27 17:00") - 1);
    assert_eq!(send(&c).sent, 0);
    c.clock.set(local("2030-10-27T16:00:00Z"));
    assert_eq!(send(&c).sent, 1);
}

#[test]
fn the_default_text_is_in_the_clinic_language() {
    let (c, doctor) = berlin("24h", "2030-03-28 08:00");
    let admin = c.admin();
    c.desk.set_setting(&admin, "clinic.language", "DE").unwrap();
    c.desk
        .set_setting(&admin, "clinic.phone", "+49 30 1234567")
        .unwrap();
    let maria = c.patient("Maria García", "0151 2345 0001");
    book_at(&c, doctor, local("2030-04-02 09:30"), maria);
    c.clock.set(local("2030-04-01 09:30"));
    assert_eq!(send(&c).sent, 1);
    assert_eq!(
        c.messages(MARIA),
        ["Hallo Maria, wir erinnern Sie an Ihren Termin bei Dr. Weber am Di 02.04.2030 um 09:30 Uhr (Praxis Sonne). Zum Ändern oder Absagen rufen Sie uns bitte an: +49 30 1234567."]
    );
}

#[test]
fn nothing_is_sent_while_reminders_are_off() {
    let (c, doctor) = berlin("off", "2030-03-31 12:00");
    let maria = c.patient("Maria", "0151 2345 0001");
    book_at(&c, doctor, local("2030-04-01 09:00"), maria);
    let r = send(&c);
    assert!(!r.enabled);
    assert_eq!(r.sent, 0);
    assert_eq!(c.count("SELECT count(*) FROM reminder"), 0);
}

#[test]
fn opted_out_patients_and_cancelled_appointments_get_no_reminder() {
    let (c, doctor) = berlin("24h", "2030-03-30 12:00");
    let admin = c.admin();
    let maria = c.patient("Maria", "0151 2345 0001");
    let anna = c.patient("Anna", "0151 2345 0002");
    let tom = c.patient("Tom", "0151 2345 0003");
    book_at(&c, doctor, local("2030-04-01 09:00"), maria);
    book_at(&c, doctor, local("2030-04-01 09:30"), anna);
    let toms = book_at(&c, doctor, local("2030-04-01 10:00"), tom);
    let before = c.desk.get_patient(&admin, anna).unwrap().version;
    let p = c
        .desk
        .set_reminders_opt_out(&c.receptionist(), anna, true)
        .unwrap();
    assert!(p.reminders_opt_out);
    assert_eq!(p.version, before + 1, "a change of the record");
    c.desk
        .change_status(
            &admin,
            toms.id,
            toms.version,
            AppointmentStatus::Cancelled,
            "patient called",
        )
        .unwrap();

    // all three are due
    c.clock.set(local("2030-03-31 10:00"));
    assert_eq!(send(&c).sent, 1);
    assert_eq!(c.messages(MARIA).len(), 1);
    assert!(c.messages("+4915123450002").is_empty(), "opted out");
    assert!(c.messages("+4915123450003").is_empty(), "cancelled");
    assert!(reminders_of(&c, toms.id).is_empty());

    // opted in again, before the appointment: the reminder goes out
    c.desk
        .set_reminders_opt_out(&c.receptionist(), anna, false)
        .unwrap();
    assert_eq!(send(&c).sent, 1);
    assert_eq!(c.messages("+4915123450002").len(), 1);
    assert_eq!(
        c.count("SELECT count(*) FROM audit_event WHERE action = 'patient.reminders'"),
        2
    );
    c.assert_check();

    // a reminder claimed after the cancellation (a forged row) is found by `check`
    c.desk
        .write("forge", |tx| {
            tx.execute(
                "INSERT INTO outbox (phone, body, created_at, status, attempts, sent_at, kind)
                 VALUES ('+4915123450003', '', 0, 'SENT', 1, 0, 'REMINDER')",
                [],
            )?;
            let outbox = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO reminder (appointment_id, start_at, outbox_id, status, attempts, created_at, attempted_at, sent_at, history_id)
                 VALUES (?1, ?2, ?3, 'SENT', 1, 0, 0, 0,
                         (SELECT max(id) FROM appointment_status_history WHERE appointment_id = ?1))",
                rusqlite::params![toms.id, toms.start_at, outbox],
            )?;
            Ok(())
        })
        .unwrap();
    let failed: Vec<String> = c
        .desk
        .check()
        .unwrap()
        .items
        .into_iter()
        .filter(|i| !i.ok)
        .map(|i| i.name)
        .collect();
    assert_eq!(
        failed,
        ["no reminder was claimed after its appointment was cancelled"]
    );
}

#[test]
fn a_reschedule_sends_a_new_reminder_for_the_new_time_and_only_one() {
    let (c, doctor) = berlin("24h", "2030-03-30 12:00");
    let maria = c.patient("Maria", "0151 2345 0001");
    let a = book_at(&c, doctor, local("2030-04-01 09:00"), maria);
    let later = c
        .desk
        .add_slot(
            &Actor::local_admin(),
            doctor,
            local("2030-04-01 15:00"),
            local("2030-04-01 15:30"),
            SlotMode::InPerson,
        )
        .unwrap();
    c.clock.set(local("2030-03-31 09:00"));
    assert_eq!(send(&c).sent, 1);
    let moved = c
        .desk
        .reschedule(&c.admin(), a.id, a.version, later.id)
        .unwrap();
    c.clock.set(local("2030-03-31 15:00"));
    assert_eq!(send(&c).sent, 1, "the new time is reminded of");
    assert_eq!(send(&c).sent, 0);
    let texts = c.messages(MARIA);
    assert_eq!(texts.len(), 2);
    assert!(
        texts[0].contains("09:00") && texts[1].contains("15:00"),
        "{texts:?}"
    );
    let shown = reminders_of(&c, moved.id);
    assert_eq!(
        shown.iter().map(|r| r.start_at).collect::<Vec<_>>(),
        [local("2030-04-01 09:00"), local("2030-04-01 15:00")]
    );
    // a second reminder for one (appointment, start) is refused by the schema
    let dup = c.desk.write("test", |tx| {
        Ok(tx.execute(
            "INSERT INTO reminder (appointment_id, start_at, outbox_id, status, attempts, created_at, attempted_at, history_id, sent_at)
             SELECT appointment_id, start_at, outbox_id, 'SENT', 1, 0, 0, history_id, 0 FROM reminder LIMIT 1",
            [],
        )?)
    });
    assert!(
        dup.unwrap_err().to_string().contains("UNIQUE"),
        "UNIQUE (appointment_id, start_at)"
    );
    c.assert_check();
}

#[test]
fn a_failed_send_is_retried_up_to_three_times_and_shown_on_the_appointment() {
    let (c, doctor) = berlin("24h", "2030-03-30 12:00");
    let maria = c.patient("Maria", "0151 2345 0001");
    let anna = c.patient("Anna", "0151 2345 0002");
    let a = book_at(&c, doctor, local("2030-04-01 09:00"), maria);
    let b = book_at(&c, doctor, local("2030-04-01 09:30"), anna);
    recording::set_failing(&c.senders(), true).unwrap();
    c.clock.set(local("2030-03-31 10:00"));
    let r = send(&c);
    assert_eq!((r.sent, r.failed), (0, 2));
    let shown = &reminders_of(&c, a.id)[0];
    assert_eq!((shown.status.as_str(), shown.attempts), ("FAILED", 1));
    assert!(shown.will_retry);
    assert!(
        shown
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("sender program failed"),
        "{shown:?}"
    );
    assert_eq!(send(&c).failed, 0, "not again at once");

    c.clock.advance(300);
    assert_eq!(send(&c).failed, 2, "second attempt");
    // Anna's third attempt goes through, Maria's fails for good
    recording::set_failing(&c.senders(), false).unwrap();
    c.desk
        .write("test", |tx| {
            Ok(tx.execute(
                "UPDATE reminder SET attempted_at = attempted_at + 1000 WHERE appointment_id = ?1",
                [a.id],
            )?)
        })
        .unwrap();
    c.clock.advance(300);
    assert_eq!(send(&c).sent, 1);
    recording::set_failing(&c.senders(), true).unwrap();
    c.clock.advance(1000);
    assert_eq!(send(&c).failed, 1);
    c.clock.advance(3600);
    let r = send(&c);
    assert_eq!((r.sent, r.failed), (0, 0), "three attempts at most");
    let shown = &reminders_of(&c, a.id)[0];
    assert_eq!((shown.status.as_str(), shown.attempts), ("FAILED", 3));
    assert!(!shown.will_retry);
    let shown = &reminders_of(&c, b.id)[0];
    assert_eq!((shown.status.as_str(), shown.attempts), ("SENT", 3));
    // the recording sender saw 3 attempts for each
    assert_eq!(c.messages(MARIA).len(), 3);
    assert_eq!(c.messages("+4915123450002").len(), 3);
    assert_eq!(
        c.count("SELECT count(*) FROM audit_event WHERE action = 'reminder.send_failed'"),
        5
    );
    c.assert_check();
}

#[test]
fn a_phone_that_cannot_take_texts_is_skipped_once_and_a_pc_without_sender_sends_nothing() {
    let (c, doctor) = berlin("24h", "2030-03-30 12:00");
    let landline = c.patient("Otto", "030 1234567");
    let a = book_at(&c, doctor, local("2030-04-01 09:00"), landline);
    c.clock.set(local("2030-03-31 10:00"));
    let r = send(&c);
    assert_eq!((r.sent, r.skipped), (0, 1));
    let shown = &reminders_of(&c, a.id)[0];
    assert!(!shown.will_retry && shown.status == "FAILED");
    assert!(shown.last_error.as_deref().unwrap().contains("landline"));
    c.clock.advance(3600);
    assert_eq!(send(&c).skipped, 0, "once");
    c.assert_check();

    let c = Clinic::without_sender();
    c.desk
        .set_setting(&c.admin(), "reminder.lead", "24h")
        .unwrap();
    let r = c.desk.send_due_reminders(&c.receptionist()).unwrap();
    assert!(r.enabled && !r.sender_configured);
    assert!(r.problem.unwrap().contains("sender"));
}

on_both! {
    fn bad_reminder_settings_are_refused_with_a_sentence(c) {
    let admin = c.admin();
    for (key, value, says) in [
        ("reminder.lead", "tomorrow", "reminder lead"),
        ("reminder.lead", "0h", "1h to 168h"),
        ("reminder.lead", "169h", "1h to 168h"),
        ("reminder.lead", "day_before 25:00", "day_before HH:MM"),
        ("reminder.template", "Hello {name}", "not a placeholder"),
        ("reminder.template", "Hello {first_name", "without its }"),
        ("clinic.language", "fr", "en (English) or de (German)"),
        ("clinic.phone", "hello", "not a phone number"),
    ] {
        match c.desk.set_setting(&admin, key, value) {
            Err(Error::Invalid(why)) => assert!(why.contains(says), "{key} {value}: {why}"),
            other => panic!("{key} {value} must be refused: {other:?}"),
        }
    }
    let long = "x".repeat(frontdesk::domain::reminders::MAX_TEMPLATE_CHARS + 1);
    assert!(c
        .desk
        .set_setting(&admin, "reminder.template", &long)
        .is_err());
    let set = |k: &str, v: &str| c.desk.set_setting(&admin, k, v).unwrap().value;
    assert_eq!(set("reminder.lead", " 24H "), "24h");
    assert_eq!(set("reminder.lead", "day_before 7:05"), "day_before 07:05");
    assert_eq!(set("clinic.phone", "030 1234567"), "+49301234567");
    assert_eq!(set("clinic.language", "de"), "de");
    // the empty template is the language's default
    assert!(set("reminder.template", "").starts_with("Hallo {first_name}"));
    assert!(c
        .desk
        .set_setting(&c.receptionist(), "reminder.lead", "24h")
        .is_err());
}
}

on_both! {
    fn receptionists_and_admins_may_send_reminders(c) {
    assert!(c.desk.send_due_reminders(&c.receptionist()).is_ok());
    assert!(c.desk.send_due_reminders(&c.admin()).is_ok());
    assert!(Action::SendReminders.allowed_for(Role::Receptionist));
    let changing = Actor {
        must_change_password: true,
        ..c.receptionist()
    };
    assert!(matches!(
        c.desk.send_due_reminders(&changing),
        Err(Error::PasswordChangeRequired)
    ));
}
}

#[test]
fn eight_desks_sending_at_once_send_every_reminder_exactly_once() {
    let (c, doctor) = berlin("24h", "2030-03-30 12:00");
    let phones: Vec<String> = (0..30)
        .map(|i| {
            let p = c.patient(&format!("Patient {i}"), &format!("0151 2346 {i:04}"));
            book_at(&c, doctor, local("2030-04-01 07:00") + i * 1800, p);
            format!("+49151234{:05}", 60000 + i)
        })
        .collect();
    // all 30 (07:00 to 21:30) are due
    c.clock.set(local("2030-03-31 22:00"));
    let barrier = Arc::new(Barrier::new(8));
    let reports: Vec<frontdesk::ReminderReport> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let desk = c.reopen();
                let barrier = barrier.clone();
                s.spawn(move || {
                    let actor = Actor::staff(10 + i, format!("desk {i}"), Role::Receptionist);
                    barrier.wait();
                    desk.send_due_reminders(&actor).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let sent: u32 = reports.iter().map(|r| r.sent).sum();
    assert_eq!(sent, 30, "{reports:?}");
    assert!(reports.iter().all(|r| r.failed == 0 && r.taken_over == 0));
    for phone in &phones {
        assert_eq!(c.messages(phone).len(), 1, "{phone} gets exactly one");
    }
    assert_eq!(
        c.count("SELECT count(*) FROM reminder WHERE status = 'SENT'"),
        30
    );
    assert_eq!(
        c.count("SELECT count(*) FROM outbox WHERE kind = 'REMINDER'"),
        30
    );
    c.assert_check();
}

#[test]
fn four_cli_processes_sending_at_once_give_each_patient_exactly_one_message() {
    // the command line runs on the real clock: appointments from two hours ahead
    let now = chrono::Utc::now().timestamp();
    let c = Clinic::new();
    c.clock.set(now);
    c.desk
        .set_setting(&c.admin(), "reminder.lead", "48h")
        .unwrap();
    let doctor = c.doctor("Dr. Weber");
    let first = now + 2 * 3600;
    let phones: Vec<String> = (0..40)
        .map(|i| {
            let p = c.patient(&format!("Patient {i}"), &format!("0151 2346 {i:04}"));
            book_at(&c, doctor, first + i * 1800, p);
            format!("+49151234{:05}", 60000 + i)
        })
        .collect();
    let desks: Vec<String> = (0..4)
        .map(|i| {
            let name = format!("desk{i}");
            c.account(&name, Role::Receptionist);
            name
        })
        .collect();
    let db = c.path();
    let children: Vec<_> = desks
        .iter()
        .map(|desk| {
            fixture::cli_as(&db, desk, PASSWORD)
                .args(["--json", "reminders", "send"])
                .env("FRONTDESK_SENDERS_FILE", c.senders())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start frontdesk")
        })
        .collect();
    let mut sent = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        sent += report["reminders"]["sent"].as_u64().unwrap();
    }
    assert_eq!(sent, 40);
    for phone in &phones {
        assert_eq!(c.messages(phone).len(), 1, "{phone} gets exactly one");
    }
    assert_eq!(
        c.count("SELECT count(*) FROM reminder WHERE status = 'SENT'"),
        40
    );
    c.assert_check();
}

on_both! {
    fn the_desk_worker_acts_for_the_signed_in_person_without_keeping_an_idle_desk_signed_in(c) {
    c.account("rita", Role::Receptionist);
    let sessions = frontdesk::service::session::SessionStore::new();
    let session = sessions.login(&c.desk, "rita", PASSWORD).unwrap();
    let idle = c.desk.settings().unwrap().idle_minutes as i64 * 60;
    c.clock.advance(idle - 60);
    let actor = sessions.background_actor(&c.desk, &session.token).unwrap();
    assert_eq!(actor.name, session.actor.name);
    assert!(c.desk.send_due_reminders(&actor).is_ok());
    // the worker's lookups did not count as activity: the desk goes idle on time
    c.clock.advance(60);
    assert!(matches!(
        sessions.background_actor(&c.desk, &session.token),
        Err(Error::Unauthenticated)
    ));
    assert!(matches!(
        sessions.actor(&c.desk, &session.token),
        Err(Error::Unauthenticated)
    ));
}
}

#[test]
fn a_reminder_whose_desk_stopped_while_sending_it_is_failed_and_sent_again() {
    let (c, doctor) = berlin("24h", "2030-03-30 12:00");
    let maria = c.patient("Maria", "0151 2345 0001");
    let a = book_at(&c, doctor, local("2030-04-01 09:00"), maria);
    c.clock.set(local("2030-03-31 10:00"));
    let now = c.desk.now();
    // what a desk killed between the claim and the sending leaves behind
    c.desk
        .write("test", |tx| {
            tx.execute(
                "INSERT INTO outbox (phone, body, created_at, status, attempts, claimed_at, claim_token, kind)
                 VALUES (?1, 'the text', ?2, 'SENDING', 1, ?2, 'gone', 'REMINDER')",
                rusqlite::params![MARIA, now - 200],
            )?;
            let outbox = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO reminder (appointment_id, start_at, outbox_id, status, attempts, created_at, attempted_at, history_id)
                 VALUES (?1, ?2, ?3, 'SENDING', 1, ?4, ?4,
                         (SELECT max(id) FROM appointment_status_history WHERE appointment_id = ?1))",
                rusqlite::params![a.id, a.start_at, outbox, now - 200],
            )?;
            Ok(())
        })
        .unwrap();
    assert_eq!(
        send(&c).sent,
        0,
        "the stale claim is failed, not sent at once"
    );
    let shown = &reminders_of(&c, a.id)[0];
    assert_eq!(shown.status, "FAILED");
    assert!(shown.will_retry);
    assert_eq!(
        c.count("SELECT count(*) FROM outbox WHERE status = 'FAILED' AND body = ''"),
        1,
        "its text is blanked"
    );
    c.clock.advance(100);
    assert_eq!(send(&c).sent, 1, "retried once the retry time has passed");
    let shown = &reminders_of(&c, a.id)[0];
    assert_eq!((shown.status.as_str(), shown.attempts), ("SENT", 2));
    assert_eq!(c.messages(MARIA).len(), 1);
    c.assert_check();
}

on_both! {
    fn the_command_line_says_when_reminders_are_off_and_sets_a_patient_s_opt_out(c) {
    c.cli_admin();
    let maria = c.patient("Maria", "0151 2345 0001");
    let out = fixture::cli(&c.path())
        .args(["reminders", "send"])
        .env("FRONTDESK_SENDERS_FILE", c.senders())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Reminders are off"));
    let out = fixture::cli(&c.path())
        .args(["patient", "opt-out", &maria.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        c.desk
            .get_patient(&c.admin(), maria)
            .unwrap()
            .reminders_opt_out
    );
    // reminders on, but this PC has no sender: a timer must notice (exit 3)
    c.desk
        .set_setting(&c.admin(), "reminder.lead", "24h")
        .unwrap();
    let out = fixture::cli(&c.path())
        .args(["reminders", "send"])
        .env(
            "FRONTDESK_SENDERS_FILE",
            c.dir.path().join("no-such-senders.toml"),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no reminder was sent"));
}
}
