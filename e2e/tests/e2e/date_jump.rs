//! Any date from the keyboard or the date label: `g` and a date as people type it
//! ("+6w", "tomorrow", "14.1."), or the date picker; a typo is explained.

use fantoccini::key::Key;
use frontdesk_e2e::{Clinic, Desk};

use crate::seed;
use crate::steps::{click, fill, sign_in, wait_gone};

async fn shown_date(desk: &Desk, expected: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let date = desk
            .find("[data-testid=current-date]")
            .await
            .attr("data-date")
            .await
            .unwrap()
            .unwrap_or_default();
        if date == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the day view shows {date}, not {expected}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_desk_goes_to_any_date_by_typing_it_or_picking_it() {
    let Some(clinic) = Clinic::for_test("date_jump") else {
        return;
    };
    seed::clinic_with_doctor(&clinic);
    let desk = clinic.open_desk().await;
    sign_in(&desk, seed::ADMIN.0, seed::ADMIN.1).await;
    shown_date(&desk, &seed::in_days(0)).await;

    // g, then "+6w" and Enter: six weeks on
    desk.find("body").await;
    let focused = desk.client().active_element().await.unwrap();
    focused.send_keys("g").await.unwrap();
    let input = desk
        .wait_for("[data-testid=date-jump] input[name=jump-text]")
        .await;
    input
        .send_keys(&format!("+6w{}", char::from(Key::Enter)))
        .await
        .unwrap();
    shown_date(&desk, &seed::in_days(42)).await;
    wait_gone(&desk, "[data-testid=date-jump]").await;

    // a typo is explained and nothing moves
    click(&desk, "[data-testid=current-date]").await;
    fill(
        &desk,
        "[data-testid=date-jump] input[name=jump-text]",
        "next tuesday",
    )
    .await;
    click(&desk, "[data-testid=date-jump] button[type=submit]").await;
    desk.wait_for_text("[data-testid=date-jump-error]", "not a date to go to")
        .await;
    desk.screenshot("date_jump-typo").await;
    shown_date(&desk, &seed::in_days(42)).await;

    // "tomorrow"
    fill(
        &desk,
        "[data-testid=date-jump] input[name=jump-text]",
        "tomorrow",
    )
    .await;
    click(&desk, "[data-testid=date-jump] button[type=submit]").await;
    shown_date(&desk, &seed::in_days(1)).await;
    desk.close().await;
}

#[tokio::test]
async fn the_week_view_shows_one_doctor_s_seven_days_with_the_same_cells() {
    let Some(clinic) = Clinic::for_test("week_view") else {
        return;
    };
    let doctor = seed::clinic_with_doctor(&clinic);
    let slot = seed::slot_tomorrow(&clinic, doctor, "09:00");
    let desk = clinic.open_desk().await;
    sign_in(&desk, seed::ADMIN.0, seed::ADMIN.1).await;
    click(&desk, "nav.date-nav button[aria-label^='Next day']").await;
    shown_date(&desk, &seed::in_days(1)).await;

    // w shows tomorrow's week: seven days, the slot in tomorrow's column
    desk.find("body").await;
    let focused = desk.client().active_element().await.unwrap();
    focused.send_keys("w").await.unwrap();
    desk.wait_for("[data-testid=week-grid]").await;
    let headers = desk
        .client()
        .find_all(frontdesk_e2e::Locator::Css(
            "[data-testid=week-grid] [role=columnheader]",
        ))
        .await
        .unwrap();
    assert_eq!(headers.len(), 8, "Time and seven days");
    let cell = desk
        .wait_for(&format!("[data-testid=week-slot][data-slot-id='{slot}']"))
        .await;
    assert!(cell.text().await.unwrap().contains("Free"));
    desk.screenshot("week_view").await;

    // the same cell opens the same booking drawer, on that day
    cell.click().await.unwrap();
    desk.wait_for("[data-testid=booking-drawer]").await;
    shown_date(&desk, &seed::in_days(1)).await;
    click(&desk, "[data-testid=booking-drawer] button.close").await;
    wait_gone(&desk, "[data-testid=booking-drawer]").await;

    // the Day button goes back to the day
    click(&desk, "[data-testid=view-day]").await;
    desk.wait_for("[data-testid=day-grid]").await;
    desk.close().await;
}
