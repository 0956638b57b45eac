//! The desk from the keyboard alone (UI.md "Keyboard"): next day, into the grid,
//! arrows to a free slot, `n` books it, type to search, Enter picks and Enter books,
//! Esc closes, `?` lists the shortcuts.

use fantoccini::key::Key;
use frontdesk_e2e::{Clinic, Desk};

use crate::steps::{sign_in, text, wait_gone};

async fn press(desk: &Desk, keys: &str) {
    let focused = desk.client().active_element().await.unwrap();
    focused.send_keys(keys).await.unwrap();
}

fn key(k: Key) -> String {
    String::from(char::from(k))
}

#[tokio::test]
async fn a_receptionist_books_a_slot_without_the_mouse() {
    let Some(clinic) = Clinic::for_test("desk_keyboard") else {
        return;
    };
    let desk = clinic.open_desk_with_args(&["--demo"]).await;
    let password = text(&desk, "[data-testid=demo-password-desk]").await;
    sign_in(&desk, "desk", &password).await;
    // today has loaded: its grid, or none once the demo's hours (08–16) are over
    desk.wait_for("[data-testid=day-grid], [data-testid=day-empty]")
        .await;
    let today = text(&desk, "[data-testid=current-date]").await;

    // → shows tomorrow (every slot there is in the future)
    desk.find("body").await; // focus stays on the page, not in an input
    press(&desk, &key(Key::Right)).await;
    let mut tomorrow = text(&desk, "[data-testid=current-date]").await;
    for _ in 0..100 {
        if tomorrow != today {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        tomorrow = text(&desk, "[data-testid=current-date]").await;
    }
    assert_ne!(tomorrow, today, "→ moves to the next day");
    desk.wait_for("[data-testid=day-grid] [data-testid=slot]")
        .await;

    // the first free slot's position in the grid
    let free = desk.wait_for("[data-testid=slot].free").await;
    let row: usize = free
        .attr("data-row")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    let col: usize = free
        .attr("data-col")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    let slot_id = free.attr("data-slot-id").await.unwrap().unwrap();

    // ↓ enters the grid at the first cell; arrows walk to the free one; n books it
    press(&desk, &key(Key::Down)).await;
    let mut walk = key(Key::Down).repeat(row) + &key(Key::Right).repeat(col);
    walk.push('n');
    press(&desk, &walk).await;
    desk.wait_for("[data-testid=booking-drawer]").await;
    let focused = desk.client().active_element().await.unwrap();
    assert_eq!(
        focused.attr("name").await.unwrap().as_deref(),
        Some("patient-search"),
        "n opens the booking drawer with the focus in the patient search"
    );

    // type a name, Enter picks the first match, Enter books
    press(&desk, "Noah").await;
    desk.wait_for("#patient-results").await;
    press(&desk, &key(Key::Enter)).await;
    desk.wait_for("[data-testid=chosen-patient]").await;
    desk.find("[data-testid=booking-drawer] input[name=reason]")
        .await
        .send_keys(&format!("Follow-up{}", key(Key::Enter)))
        .await
        .unwrap();
    wait_gone(&desk, "[data-testid=booking-drawer]").await;
    desk.wait_for_text(&format!("[data-slot-id='{slot_id}']"), "Noah")
        .await;

    // ? shows the shortcut list, Esc closes it
    desk.find("[data-testid=day-grid]").await;
    press(&desk, "?").await;
    desk.wait_for_text("[role=dialog]", "Keyboard shortcuts")
        .await;
    desk.screenshot("a_receptionist_books_a_slot_without_the_mouse")
        .await;
    press(&desk, &key(Key::Escape)).await;
    wait_gone(&desk, "[role=dialog]").await;
    desk.close().await;
}

#[tokio::test]
async fn the_top_bar_search_opens_the_patients_screen_with_the_results() {
    let Some(clinic) = Clinic::for_test("desk_global_search") else {
        return;
    };
    let desk = clinic.open_desk_with_args(&["--demo"]).await;
    let password = text(&desk, "[data-testid=demo-password-desk]").await;
    sign_in(&desk, "desk", &password).await;
    // today has loaded: its grid, or none once the demo's hours (08–16) are over
    desk.wait_for("[data-testid=day-grid], [data-testid=day-empty]")
        .await;
    desk.find("body").await;
    press(&desk, "/").await;
    let focused = desk.client().active_element().await.unwrap();
    assert_eq!(
        focused.attr("data-testid").await.unwrap().as_deref(),
        Some("global-search"),
        "/ focuses the patient search in the top bar"
    );
    press(&desk, &format!("Noah{}", key(Key::Enter))).await;
    desk.wait_for_text("main", "Noah").await;
    let value = desk
        .find("#patient-search")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        value.as_deref(),
        Some("Noah"),
        "the Patients screen searches the same text"
    );
    desk.screenshot("the_top_bar_search_opens_the_patients_screen_with_the_results")
        .await;
    desk.close().await;
}
