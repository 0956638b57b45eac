//! Admin screens in the real window: staff, schedule (template → preview → generate →
//! the day view shows the slots), audit log and backups.

use frontdesk_e2e::{Clinic, Locator};

use crate::seed::{self, ADMIN};
use crate::steps::{click, click_button, fill, sign_in, text, wait_gone};

/// Opens Admin and the tab `id` (staff, settings, schedule, audit, metrics, backups,
/// reports, exports).
async fn admin_tab(desk: &frontdesk_e2e::Desk, id: &str) {
    click(desk, "[data-testid=rail-admin]").await;
    click(desk, &format!("#admin-tab-{id}")).await;
}

#[tokio::test]
async fn an_admin_adds_a_receptionist_who_can_then_sign_in() {
    let Some(clinic) = Clinic::for_test("admin_adds_receptionist") else {
        return;
    };
    seed::clinic_with_doctor(&clinic);
    let desk = clinic.open_desk().await;
    sign_in(&desk, ADMIN.0, ADMIN.1).await;
    admin_tab(&desk, "staff").await;
    fill(&desk, "#staff-username", "rita").await;
    fill(&desk, "#staff-name", "Rita Reception").await;
    fill(&desk, "#staff-password", "amber meadow violin 4").await;
    click(&desk, "#staff-add").await;
    desk.wait_for_text(".staff-table", "Rita Reception").await;
    // the only admin cannot deactivate themselves: the core's sentence is shown
    // (a deactivation asks first: No leaves the account alone, Yes goes ahead)
    click(&desk, ".staff-table tr:first-child button.danger").await;
    desk.wait_for_text(".staff-table [data-testid=confirm]", "Deactivate")
        .await;
    click(&desk, ".staff-table [data-testid=confirm-no]").await;
    wait_gone(&desk, ".staff-table [data-testid=confirm]").await;
    click(&desk, ".staff-table tr:first-child button.danger").await;
    click(&desk, ".staff-table [data-testid=confirm-yes]").await;
    desk.wait_for_text("[role=alert]", "last active admin")
        .await;
    desk.screenshot("an_admin_adds_a_receptionist_who_can_then_sign_in")
        .await;

    click(&desk, "[data-testid=logout]").await;
    sign_in(&desk, "rita", "amber meadow violin 4").await;
    let who = text(&desk, "[data-testid=signed-in-as]").await;
    assert!(
        who.contains("Rita Reception") && who.contains("Receptionist"),
        "the new receptionist is signed in, got {who:?}"
    );
    desk.close().await;
}

#[tokio::test]
async fn a_weekly_template_previewed_and_generated_fills_the_day_view() {
    let Some(clinic) = Clinic::for_test("template_generate") else {
        return;
    };
    seed::clinic_with_doctor(&clinic);
    let desk = clinic.open_desk().await;
    sign_in(&desk, ADMIN.0, ADMIN.1).await;
    admin_tab(&desk, "schedule").await;
    desk.wait_for("#template-weekday")
        .await
        .select_by_value(&seed::tomorrow_weekday().to_string())
        .await
        .unwrap();
    // 09:00–12:00 in 20-minute slots (the form's defaults): nine slots
    click(&desk, "#template-add").await;
    desk.wait_for_text(".template-block", "09:00–12:00").await;
    // two weeks from tomorrow: tomorrow's weekday comes twice, nine slots each
    for (field, date) in [
        ("#generate-from", seed::tomorrow()),
        ("#generate-to", seed::in_days(14)),
    ] {
        desk.wait_for(field).await;
        desk.client()
            .execute(
                "const el = document.querySelector(arguments[0]); el.value = arguments[1];
                 el.dispatchEvent(new Event('input', { bubbles: true }));",
                vec![field.into(), date.into()],
            )
            .await
            .unwrap();
    }
    click(&desk, "#generate-preview").await;
    let preview = text(&desk, ".generate-preview").await;
    assert!(
        preview.contains("Would create 18,"),
        "the preview counts the template's slots in the two weeks (2 × 9), got {preview:?}"
    );
    desk.screenshot("a_weekly_template_previewed_and_generated_fills_the_day_view_admin")
        .await;
    click(&desk, "#generate-apply").await;
    desk.wait_for_text(".ok", "Slots generated").await;

    click(&desk, "[data-testid=rail-day]").await;
    desk.find("button[aria-label^='Next day']")
        .await
        .click()
        .await
        .unwrap();
    desk.wait_for("[data-testid=day-grid] [data-testid=slot]")
        .await;
    let slots = desk
        .client()
        .find_all(Locator::Css("[data-testid=day-grid] [data-testid=slot]"))
        .await
        .unwrap()
        .len();
    assert_eq!(slots, 9, "tomorrow shows the nine generated slots");
    desk.screenshot("a_weekly_template_previewed_and_generated_fills_the_day_view")
        .await;
    desk.close().await;
}

#[tokio::test]
async fn the_audit_log_shows_a_booking_and_a_backup_appears_in_the_list() {
    let Some(clinic) = Clinic::for_test("audit_and_backup") else {
        return;
    };
    let doctor = seed::clinic_with_doctor(&clinic);
    let patient = seed::patient(&clinic, "Anna Alt", "0151 2345 6789");
    let slot = seed::slot_tomorrow(&clinic, doctor, "10:00");
    seed::book(&clinic, slot, patient);
    let desk = clinic.open_desk().await;
    sign_in(&desk, ADMIN.0, ADMIN.1).await;
    admin_tab(&desk, "audit").await;
    // actions read as words ("Appointment booked"), not as the code `appointment.book`
    desk.wait_for_text(".audit-table", "Appointment booked")
        .await;
    desk.screenshot("the_audit_log_shows_a_booking").await;

    admin_tab(&desk, "backups").await;
    click(&desk, "#backup-now").await;
    let done = desk.wait_for_text(".ok", "Backed up to").await;
    let file = done
        .rsplit('/')
        .next()
        .and_then(|f| f.split(" in ").next())
        .unwrap()
        .to_string();
    desk.wait_for_text(".backup-table", &file).await;
    desk.screenshot("a_backup_appears_in_the_list").await;

    // the CLI's booking above saved its lock figures: the contention table lists it
    admin_tab(&desk, "metrics").await;
    desk.wait_for_text(".metrics-table", "slot.add").await;
    desk.screenshot("contention_metrics_per_operation").await;
    desk.close().await;
}

#[tokio::test]
async fn restoring_a_backup_brings_back_the_clinic_as_it_was_and_the_desk_keeps_working() {
    let Some(clinic) = Clinic::for_test("restore_backup") else {
        return;
    };
    seed::clinic_with_doctor(&clinic);
    seed::patient(&clinic, "Anna Alt", "0151 2345 6789");
    let desk = clinic.open_desk().await;
    sign_in(&desk, ADMIN.0, ADMIN.1).await;
    admin_tab(&desk, "backups").await;
    click(&desk, "#backup-now").await;
    desk.wait_for_text(".ok", "Backed up to").await;
    // entered after the backup: the restore takes it away
    seed::patient(&clinic, "Zoe Zuletzt", "0151 1111 2222");

    click(&desk, ".backup-table .restore-backup").await;
    desk.wait_for_text(".restore-confirm", "1 patient,").await;
    desk.screenshot("restoring_a_backup_asks_first").await;
    click(&desk, "#restore-confirm").await;
    desk.wait_for_text(".ok", "Restored").await;
    desk.screenshot("restoring_a_backup_brings_back_the_clinic_as_it_was")
        .await;

    click(&desk, "[data-testid=rail-patients]").await;
    fill(&desk, "#patient-search", "0151").await;
    desk.wait_for_text(".patient-result", "Anna Alt").await;
    let found = text(&desk, "[aria-label='Patients found']").await;
    assert!(
        !found.contains("Zoe"),
        "the patient entered after the backup is gone after the restore, got {found:?}"
    );
    desk.close().await;
}

#[tokio::test]
async fn a_backup_frontdesk_did_not_write_with_an_extra_admin_is_restored_only_after_its_warnings()
{
    let Some(clinic) = Clinic::for_test("restore_foreign_backup") else {
        return;
    };
    seed::clinic_with_doctor(&clinic);
    let taken = seed::run(&clinic, &["backup"])["file"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    // a file from elsewhere: a copy someone changed, with an admin of their own,
    // named like a newer backup so it heads the list
    let foreign = std::path::Path::new(&taken).with_file_name("frontdesk-20991231-235959.sqlite3");
    std::fs::copy(&taken, &foreign).unwrap();
    seed::run_on(
        &foreign,
        &[
            "staff",
            "add",
            "--username",
            "mallory",
            "--name",
            "Mallory",
            "--role",
            "ADMIN",
        ],
    );
    let desk = clinic.open_desk().await;
    sign_in(&desk, ADMIN.0, ADMIN.1).await;
    admin_tab(&desk, "backups").await;
    desk.wait_for_text(".backup-table", "frontdesk-20991231-235959")
        .await;
    click(&desk, ".backup-table tbody tr:first-child .restore-backup").await;
    desk.wait_for_text(".restore-foreign", "did not write this file")
        .await;
    desk.wait_for_text(".restore-staff-change", "mallory").await;
    desk.screenshot("a_foreign_backup_with_an_extra_admin_shows_its_warnings")
        .await;
    click_button(&desk, ".restore-confirm", "Cancel").await;
    crate::steps::wait_gone(&desk, ".restore-confirm").await;
    desk.close().await;
}

#[tokio::test]
async fn the_audit_log_answers_who_saw_a_patient() {
    let Some(clinic) = Clinic::for_test("who_saw_a_patient") else {
        return;
    };
    seed::clinic_with_doctor(&clinic);
    let patient = seed::patient(&clinic, "Anna Alt", "0151 2345 6789");
    let desk = clinic.open_desk().await;
    sign_in(&desk, ADMIN.0, ADMIN.1).await;
    click(&desk, "[data-testid=rail-patients]").await;
    fill(&desk, "#patient-search", "Anna").await;
    desk.wait_for_text(".patient-result", "Anna Alt").await;
    click(&desk, ".patient-result").await;
    admin_tab(&desk, "audit").await;
    crate::steps::select(&desk, "#audit-entity", "patient").await;
    fill(&desk, "#audit-entity-id", &patient.to_string()).await;
    let rows = desk.wait_for_text(".audit-table", "Patient viewed").await;
    assert!(
        rows.contains(&format!("Patient {patient}")) && !rows.contains('#'),
        "the record view is listed for patient {patient}, in words: {rows:?}"
    );
    desk.screenshot("the_audit_log_answers_who_saw_a_patient")
        .await;
    desk.close().await;
}

#[tokio::test]
async fn settings_are_validated_by_the_core_inline_and_the_report_draws_a_chart() {
    let Some(clinic) = Clinic::for_test("settings_and_report") else {
        return;
    };
    let doctor = seed::clinic_with_doctor(&clinic);
    let patient = seed::patient(&clinic, "Anna Alt", "0151 2345 6789");
    let slot = seed::slot_tomorrow(&clinic, doctor, "10:00");
    seed::slot_tomorrow(&clinic, doctor, "10:30");
    seed::book(&clinic, slot, patient);
    let desk = clinic.open_desk().await;
    sign_in(&desk, ADMIN.0, ADMIN.1).await;
    admin_tab(&desk, "settings").await;
    fill(&desk, "#settings-tz", "Mars/Olympus").await;
    click(&desk, "#settings-save").await;
    desk.wait_for_text(
        "form[aria-label='Clinic settings'] [role=alert]",
        "Unknown time zone",
    )
    .await;
    desk.screenshot("settings_are_validated_by_the_core_inline")
        .await;

    admin_tab(&desk, "reports").await;
    desk.wait_for(".report-chart rect").await;
    let table = text(&desk, ".report-table").await;
    assert!(
        table.contains("Dr. Test") && table.contains("50 %"),
        "one of the doctor's two slots is booked: 50 % utilisation, got {table:?}"
    );
    desk.screenshot("the_report_draws_a_chart").await;
    desk.close().await;
}
