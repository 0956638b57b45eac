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
        history.contains("pending"),
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
    let status = desk.wait_for_text(".verify-phone", "attempt(s) left").await;
    assert!(
        status.contains("5 attempt(s) left") && status.contains(":"),
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
    desk.screenshot("verifying_a_phone_shows_the_code_field_with_attempts_and_time_left")
        .await;
    desk.close().await;
}
