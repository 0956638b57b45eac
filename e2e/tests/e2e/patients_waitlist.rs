//! Patients and waitlist screens in the real window.

use frontdesk_e2e::Clinic;

use crate::seed::{self, ADMIN};
use crate::steps::{click, fill, sign_in, text};

#[tokio::test]
async fn a_patient_is_found_edited_and_shows_their_appointments() {
    let Some(clinic) = Clinic::for_test("patient_edit_history") else {
        return;
    };
    let doctor = seed::clinic_with_doctor(&clinic);
    let patient = seed::patient(&clinic, "Anna Alt", "0151 2345 6789");
    let slot = seed::slot_tomorrow(&clinic, doctor, "10:00");
    seed::book(&clinic, slot, patient);
    let desk = clinic.open_desk().await;
    sign_in(&desk, ADMIN.0, ADMIN.1).await;
    click(&desk, "[data-testid=rail-patients]").await;
    fill(&desk, "#patient-search", "0151").await;
    desk.wait_for_text(".patient-result", "Anna Alt").await;
    click(&desk, ".patient-result").await;
    desk.wait_for_text(".patient-history", "Dr. Test").await;

    click(&desk, "#edit-patient").await;
    fill(&desk, "textarea[name=notes]", "Prefers mornings").await;
    click(&desk, "form[aria-label='Edit patient'] button[type=submit]").await;
    desk.wait_for_text(".patient-details .ok", "Saved").await;
    desk.wait_for_text(".patient-details", "Prefers mornings")
        .await;
    let history = text(&desk, ".patient-history").await;
    assert!(
        history.contains("Pending"),
        "the booking is listed as pending, got {history:?}"
    );
    desk.screenshot("a_patient_is_found_edited_and_shows_their_appointments")
        .await;
    desk.close().await;
}

#[tokio::test]
async fn a_cancelled_slot_is_filled_from_the_waitlist_in_one_step() {
    let Some(clinic) = Clinic::for_test("waitlist_fill") else {
        return;
    };
    let doctor = seed::clinic_with_doctor(&clinic);
    let anna = seed::patient(&clinic, "Anna Alt", "0151 2345 6789");
    seed::patient(&clinic, "Bert Berg", "0151 9876 5432");
    let slot = seed::slot_tomorrow(&clinic, doctor, "10:00");
    let (appointment, version) = seed::book(&clinic, slot, anna);

    let desk = clinic.open_desk().await;
    sign_in(&desk, ADMIN.0, ADMIN.1).await;
    click(&desk, "[data-testid=rail-waitlist]").await;
    fill(&desk, "#waitlist-patient", "Bert Berg").await;
    desk.wait_for_text(".waitlist-chosen", "Chosen: Bert Berg")
        .await;
    click(&desk, "#waitlist-add").await;
    desk.wait_for_text(".waitlist-entry", "Bert Berg").await;

    // another desk cancels Anna's appointment: the slot is free again
    seed::run(
        &clinic,
        &[
            "appointment",
            "status",
            "--id",
            &appointment.to_string(),
            "--to",
            "CANCELLED",
            "--version",
            &version.to_string(),
            "--note",
            "ill",
        ],
    );
    desk.client()
        .execute(
            "const el = document.querySelector('#waitlist-slot-date'); el.value = arguments[0]; \
             el.dispatchEvent(new Event('input', { bubbles: true }));",
            vec![serde_json::json!(seed::tomorrow())],
        )
        .await
        .unwrap();
    click(&desk, ".free-slot").await;
    desk.wait_for_text(".waitlist-panel", "Bert Berg").await;
    click(&desk, ".book-from-waitlist").await;
    desk.wait_for_text(".waitlist-notice", "Booked Bert Berg")
        .await;
    desk.screenshot("a_cancelled_slot_is_filled_from_the_waitlist_in_one_step")
        .await;

    let listed = seed::run(
        &clinic,
        &["appointment", "list", "--day", &seed::tomorrow()],
    );
    assert!(
        listed.to_string().contains("Bert Berg"),
        "Bert now has the appointment, got {listed}"
    );
    desk.close().await;
}

#[tokio::test]
async fn verifying_a_phone_shows_the_code_field_with_attempts_and_time_left() {
    let Some(clinic) = Clinic::for_test("verify_phone") else {
        return;
    };
    seed::clinic_with_doctor(&clinic);
    seed::patient(&clinic, "Anna Alt", "0151 2345 6789");
    let desk = clinic.open_desk().await;
    sign_in(&desk, ADMIN.0, ADMIN.1).await;
    click(&desk, "[data-testid=rail-patients]").await;
    fill(&desk, "#patient-search", "Anna").await;
    click(&desk, ".patient-result").await;
    click(&desk, "#verify-phone").await;
    let status = desk.wait_for_text(".verify-phone", "attempts left").await;
    assert!(
        status.contains("5 attempts left") && status.contains(":"),
        "got {status:?}"
    );
    fill(&desk, "#passcode", "000000").await;
    click(&desk, ".verify-phone button[type=submit]").await;
    desk.wait_for_text(".verify-phone [role=alert]", "attempt")
        .await;
    let after = text(&desk, ".verify-phone").await;
    assert!(
        after.contains("4 attempt(s) left"),
        "a wrong code uses one attempt, got {after:?}"
    );
    // the code as the patient's phone got it (on the sender's standard input)
    let code = clinic
        .last_code("+4915123456789")
        .expect("the desk sent the code at once");
    fill(&desk, "#passcode", &code).await;
    click(&desk, ".verify-phone button[type=submit]").await;
    desk.wait_for_text(".verify-phone [role=status]", "Phone verified")
        .await;
    desk.screenshot("verifying_a_phone_shows_the_code_field_with_attempts_and_time_left")
        .await;
    desk.close().await;
}

#[tokio::test]
async fn a_patient_edit_made_meanwhile_at_another_desk_is_not_overwritten() {
    let Some(clinic) = Clinic::for_test("patient_edit_conflict") else {
        return;
    };
    seed::clinic_with_doctor(&clinic);
    seed::patient(&clinic, "Anna Alt", "0151 2345 6789");
    let first = clinic.open_desk().await;
    let second = clinic.open_desk().await;
    for desk in [&first, &second] {
        sign_in(desk, ADMIN.0, ADMIN.1).await;
        click(desk, "[data-testid=rail-patients]").await;
        fill(desk, "#patient-search", "Anna").await;
        click(desk, ".patient-result").await;
        click(desk, "#edit-patient").await;
    }
    fill(&second, "textarea[name=notes]", "Allergic to penicillin").await;
    click(
        &second,
        "form[aria-label='Edit patient'] button[type=submit]",
    )
    .await;
    second.wait_for_text(".patient-details .ok", "Saved").await;

    fill(&first, "textarea[name=notes]", "Prefers mornings").await;
    click(
        &first,
        "form[aria-label='Edit patient'] button[type=submit]",
    )
    .await;
    first
        .wait_for_text(".patient-details [role=alert]", "was changed by")
        .await;
    // the first desk now shows what the second saved, instead of overwriting it
    first
        .wait_for_text(".patient-details", "Allergic to penicillin")
        .await;
    first
        .screenshot("a_patient_edit_made_meanwhile_at_another_desk_is_not_overwritten")
        .await;
    first.close().await;
    second.close().await;
}

#[tokio::test]
async fn exports_are_saved_beside_the_backups_and_the_outbox_lists_the_passcode() {
    let Some(clinic) = Clinic::for_test("exports_outbox") else {
        return;
    };
    seed::clinic_with_doctor(&clinic);
    seed::patient(&clinic, "Anna Alt", "0151 2345 6789");
    seed::run(&clinic, &["otp", "request", "0151 2345 6789"]);
    let desk = clinic.open_desk().await;
    sign_in(&desk, ADMIN.0, ADMIN.1).await;
    click(&desk, "[data-testid=rail-admin]").await;
    click(&desk, "#admin-tab-exports").await;
    click(&desk, "#export-patients").await;
    let saved = desk.wait_for_text(".export-saved", "Saved 1 row to").await;
    let path = saved.rsplit(" to ").next().unwrap().trim().to_string();
    assert!(
        path.contains("/exports/") && std::path::Path::new(&path).is_file(),
        "the patient list is a file in the exports folder, got {saved:?}"
    );
    let csv = std::fs::read_to_string(&path).unwrap();
    assert!(
        csv.contains("Anna Alt"),
        "the export lists the patient, got {csv:?}"
    );

    // the CLI's request was sent at once by the PC's sender
    // the phone as people write it in the clinic's country, not E.164
    desk.wait_for_text(".outbox-table", "01512 3456789").await;
    let outbox = text(&desk, ".outbox-table").await;
    assert!(outbox.contains("sent"), "listed as sent, got {outbox:?}");
    click(&desk, "#deliver-now").await;
    desk.wait_for_text(".delivery-result", "Sent 0, failed 0")
        .await;
    let logs = text(&desk, ".log-dir").await;
    assert!(
        !logs.is_empty() && logs != "—",
        "the log folder is shown, got {logs:?}"
    );
    desk.screenshot("exports_are_saved_beside_the_backups_and_the_outbox_lists_the_passcode")
        .await;
    desk.close().await;
}
