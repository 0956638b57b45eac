//! The toast's *Undo*: a booking undone frees the slot again, a cancellation undone
//! brings the appointment back; and a blocked slot is asked about first.

use frontdesk_e2e::{Clinic, Desk};

use crate::steps::{click, click_button, fill, sign_in, text, wait_day_loaded};

/// Books the first free slot of the shown day for a new patient; its slot id.
async fn book_first_free(desk: &Desk, name: &str, phone: &str) -> String {
    let free = desk.wait_for("[data-testid=slot].free").await;
    let slot = free.attr("data-slot-id").await.unwrap().unwrap();
    free.click().await.unwrap();
    click(
        desk,
        "[data-testid=booking-drawer] [data-testid=new-patient]",
    )
    .await;
    fill(
        desk,
        "[data-testid=booking-drawer] input[name=new-name]",
        name,
    )
    .await;
    fill(
        desk,
        "[data-testid=booking-drawer] input[name=new-phone]",
        phone,
    )
    .await;
    click(desk, "[data-testid=booking-drawer] [data-testid=book]").await;
    desk.wait_for_text(&format!("[data-slot-id='{slot}']"), name)
        .await;
    slot
}

#[tokio::test]
async fn undo_in_the_toast_takes_back_a_booking_and_a_cancellation() {
    let Some(clinic) = Clinic::for_test("undo_toast") else {
        return;
    };
    let desk = clinic.open_desk_with_args(&["--demo"]).await;
    let password = text(&desk, "[data-testid=demo-password-admin]").await;
    sign_in(&desk, "admin", &password).await;
    click(&desk, "nav.date-nav button[aria-label^='Next day']").await;
    desk.wait_for("[data-testid=day-grid] [data-testid=status]")
        .await;
    wait_day_loaded(&desk).await;

    // a booking, then Undo in its toast: the slot is free again
    let slot = book_first_free(&desk, "Ulla Undo", "0151 2345 7001").await;
    desk.wait_for_text("[data-testid=toast]", "Booked Ulla Undo")
        .await;
    click(&desk, "[data-testid=toast-undo]").await;
    desk.wait_for_text("[data-testid=toast]", "Undone").await;
    desk.wait_for_text(&format!("[data-slot-id='{slot}']"), "Free")
        .await;
    desk.screenshot("undo_in_the_toast-booking_undone").await;

    // a cancellation, then Undo: the appointment is back in its slot
    let slot = book_first_free(&desk, "Carl Cancel", "0151 2345 7002").await;
    click(&desk, &format!("[data-slot-id='{slot}']")).await;
    click_button(&desk, "[data-testid=appt-actions]", "Cancel").await;
    fill(&desk, "input[name=cancel-reason]", "Patient called").await;
    click_button(
        &desk,
        "[data-testid=appointment-drawer] form",
        "Cancel appointment",
    )
    .await;
    desk.wait_for_text("[data-testid=appt-status]", "Cancelled")
        .await;
    desk.wait_for_text(&format!("[data-slot-id='{slot}']"), "Free")
        .await;
    click(&desk, "[data-testid=toast-undo]").await;
    desk.wait_for_text("[data-testid=toast]", "Undone").await;
    desk.wait_for_text(&format!("[data-slot-id='{slot}']"), "Carl Cancel")
        .await;
    desk.wait_for_text(&format!("[data-slot-id='{slot}']"), "Pending")
        .await;
    desk.screenshot("undo_in_the_toast-cancellation_undone")
        .await;

    // blocking a slot asks first; No leaves it free
    let free = desk.wait_for("[data-testid=slot].free").await;
    let slot = free.attr("data-slot-id").await.unwrap().unwrap();
    free.click().await.unwrap();
    click(&desk, "[data-testid=block-slot]").await;
    desk.wait_for_text("[data-testid=confirm]", "Block this slot?")
        .await;
    click(&desk, "[data-testid=confirm-no]").await;
    click(&desk, "[data-testid=block-slot]").await;
    click(&desk, "[data-testid=confirm-yes]").await;
    desk.wait_for_text(&format!("[data-slot-id='{slot}']"), "Blocked")
        .await;
    click(&desk, "[data-testid=toast-undo]").await;
    desk.wait_for_text(&format!("[data-slot-id='{slot}']"), "Free")
        .await;
    desk.close().await;
}
