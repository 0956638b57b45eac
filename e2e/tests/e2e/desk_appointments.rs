//! The appointment drawer on the demo clinic: reschedule by picking a free slot,
//! and an admin's overbooking of a taken slot (reason required).

use frontdesk_e2e::{Clinic, Locator};

use crate::steps::{click, click_button, fill, sign_in, text, wait_day_loaded};

#[tokio::test]
async fn an_admin_reschedules_an_appointment_and_overbooks_a_taken_slot() {
    let Some(clinic) = Clinic::for_test("desk_appointments") else {
        return;
    };
    let desk = clinic.open_desk_with_args(&["--demo"]).await;
    let password = text(&desk, "[data-testid=demo-password-admin]").await;
    sign_in(&desk, "admin", &password).await;
    // tomorrow: every slot is still in the future (today's may all be over, and
    // the demo has none left to show after hours)
    click(&desk, "nav.date-nav button[aria-label^='Next day']").await;
    desk.wait_for("[data-testid=day-grid] [data-testid=status]")
        .await;
    wait_day_loaded(&desk).await;

    // a pending appointment moves to the first free slot
    let taken = desk
        .client()
        .find_all(Locator::Css("[data-testid=slot]:not(.free):not(.blocked)"))
        .await
        .unwrap();
    let mut from = None;
    for cell in taken {
        if cell.text().await.unwrap().contains("Pending") {
            from = Some(cell);
            break;
        }
    }
    let from = from.expect("the demo day has a pending appointment");
    let from_id = from.attr("data-slot-id").await.unwrap().unwrap();
    from.click().await.unwrap();
    let patient = text(&desk, "[data-testid=appt-patient]").await;
    click_button(&desk, "[data-testid=appt-actions]", "Reschedule").await;
    desk.wait_for_text("main", "Pick a free slot").await;
    let free = desk.wait_for("[data-testid=slot].free").await;
    let to_id = free.attr("data-slot-id").await.unwrap().unwrap();
    free.click().await.unwrap();
    desk.wait_for_text(&format!("[data-slot-id='{to_id}']"), &patient)
        .await;
    desk.wait_for_text(&format!("[data-slot-id='{from_id}']"), "Free")
        .await;

    // the admin squeezes another patient into that now-taken slot
    click(&desk, &format!("[data-slot-id='{to_id}']")).await;
    click_button(
        &desk,
        "[data-testid=appointment-drawer]",
        "Overbook this slot",
    )
    .await;
    fill(&desk, "input[name=overbook-search]", "a").await;
    click_button(&desk, "[data-testid=appointment-drawer] form", " · ").await;
    fill(&desk, "input[name=overbook-reason]", "Acute pain").await;
    click_button(&desk, "[data-testid=appointment-drawer] form", "Overbook").await;
    desk.wait_for_text(&format!("[data-slot-id='{to_id}']"), "Overbooked")
        .await;
    desk.screenshot("an_admin_reschedules_an_appointment_and_overbooks_a_taken_slot")
        .await;

    // and blocks a free slot, then unblocks it
    click(&desk, "[data-testid=appointment-drawer] button.close").await;
    click(&desk, &format!("[data-slot-id='{from_id}']")).await;
    click(&desk, "[data-testid=block-slot]").await;
    click(&desk, "[data-testid=confirm-yes]").await;
    desk.wait_for_text(&format!("[data-slot-id='{from_id}']"), "Blocked")
        .await;
    click(&desk, &format!("[data-slot-id='{from_id}']")).await;
    click_button(&desk, "[data-testid=appointment-drawer]", "Unblock slot").await;
    desk.wait_for_text(&format!("[data-slot-id='{from_id}']"), "Free")
        .await;
    desk.close().await;
}

#[tokio::test]
async fn a_weekly_series_books_what_is_free_and_lists_the_skipped_dates() {
    let Some(clinic) = Clinic::for_test("desk_series") else {
        return;
    };
    let desk = clinic.open_desk_with_args(&["--demo"]).await;
    let password = text(&desk, "[data-testid=demo-password-desk]").await;
    sign_in(&desk, "desk", &password).await;
    // tomorrow, whose slots are all ahead whatever the time of day
    click(&desk, "nav.date-nav button[aria-label^='Next day']").await;
    desk.wait_for("[data-testid=day-grid] [data-testid=status]")
        .await;
    wait_day_loaded(&desk).await;
    click(&desk, "[data-testid=slot].free").await;
    fill(
        &desk,
        "[data-testid=booking-drawer] input[name=patient-search]",
        "Noah",
    )
    .await;
    click(&desk, "#patient-results button").await;
    desk.wait_for("[data-testid=chosen-patient]").await;
    click(&desk, "[data-testid=booking-drawer] details.series summary").await;
    fill(&desk, "[data-testid=series-count]", "12").await;
    click(&desk, "[data-testid=series-book-free]").await;
    click(&desk, "[data-testid=booking-drawer] [data-testid=book]").await;
    let said = text(&desk, "[data-testid=toast]").await;
    assert!(
        said.contains("Booked"),
        "the series is booked, got {said:?}"
    );
    assert!(
        said.contains("skipped"),
        "twelve weeks reach past the demo's slots, so some dates are skipped: {said:?}"
    );
    desk.wait_for_text("[data-testid=series-skipped]", "Skipped")
        .await;
    desk.screenshot("a_weekly_series_books_what_is_free_and_lists_the_skipped_dates")
        .await;
    desk.close().await;
}
