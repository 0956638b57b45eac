//! Money at the desk, end to end: book with a deposit, check in, pay the rest,
//! print the receipt, close the till at the end of the day.

use frontdesk_e2e::Clinic;

use crate::seed;
use crate::steps::{click, click_button, fill, select, sign_in, text, wait_gone};

#[tokio::test]
async fn a_deposit_with_the_booking_the_rest_at_check_in_a_receipt_and_the_cash_up() {
    let Some(clinic) = Clinic::for_test("payments") else {
        return;
    };
    let doctor = seed::clinic_with_doctor(&clinic);
    seed::slot_tomorrow(&clinic, doctor, "09:00");
    seed::patient(&clinic, "Paula Zahler", "0151 2345 7000");
    let price = seed::run(
        &clinic,
        &["price", "add", "--name", "Check-up", "--price", "45.00"],
    );
    let type_id = price["type"]["id"].as_i64().unwrap().to_string();
    seed::run(
        &clinic,
        &["settings", "set", "clinic.address", "Parkweg 1, Berlin"],
    );

    let desk = clinic.open_desk().await;
    sign_in(&desk, seed::ADMIN.0, seed::ADMIN.1).await;
    click(&desk, "nav.date-nav button[aria-label^='Next day']").await;
    desk.wait_for_text("[data-testid=slot]", "Free").await;

    // book as a check-up with a 20.00 cash deposit
    click(&desk, "[data-testid=slot]").await;
    fill(
        &desk,
        "[data-testid=booking-drawer] input[name=patient-search]",
        "Paula",
    )
    .await;
    click(&desk, "#patient-results button").await;
    desk.wait_for_text("[data-testid=chosen-patient]", "Paula Zahler")
        .await;
    select(
        &desk,
        "[data-testid=booking-drawer] select[name=appointment-type]",
        &type_id,
    )
    .await;
    desk.wait_for_text("[data-testid=booking-price]", "45.00")
        .await;
    fill(
        &desk,
        "[data-testid=booking-drawer] input[name=pay-now]",
        "20.00",
    )
    .await;
    desk.screenshot("payments-booking-with-deposit").await;
    click(&desk, "[data-testid=booking-drawer] [data-testid=book]").await;
    desk.wait_for_text("[data-testid=toast]", "paid").await;
    desk.wait_for_text("[data-testid=slot]", "Paula Zahler")
        .await;

    // at the desk: confirm, check in, the rest is owed
    click(&desk, "[data-testid=slot]").await;
    desk.wait_for_text("[data-testid=amount-due]", "25.00")
        .await;
    click_button(&desk, "[data-testid=appt-actions]", "Confirm").await;
    desk.wait_for_text("[data-testid=appt-status]", "Confirmed")
        .await;
    click_button(&desk, "[data-testid=appt-actions]", "Check in").await;
    desk.wait_for_text("[data-testid=appt-status]", "Arrived")
        .await;

    // pay the rest; the receipt comes up with the next number
    click(&desk, "[data-testid=take-payment]").await;
    let amount = desk
        .wait_for("[data-testid=payments] input[name=pay-amount]")
        .await;
    assert_eq!(
        amount.prop("value").await.unwrap().as_deref(),
        Some("25.00"),
        "the amount owed is suggested"
    );
    click(&desk, "[data-testid=pay-submit]").await;
    let number = text(&desk, "[data-testid=receipt-number]").await;
    assert!(number.ends_with("-000002"), "the second receipt: {number}");
    let receipt = text(&desk, "[data-testid=receipt]").await;
    for expected in [
        "Parkweg 1, Berlin",
        "Paula Zahler",
        "Check-up",
        "Still owed",
    ] {
        assert!(
            receipt.contains(expected),
            "{expected:?} on the receipt: {receipt}"
        );
    }
    desk.screenshot("payments-receipt").await;
    // Print hands the receipt to the window's print (recorded here instead of a
    // printer dialog)
    desk.client()
        .execute(
            "window.print = () => { document.body.dataset.printed = 'yes'; }",
            vec![],
        )
        .await
        .unwrap();
    click(&desk, "[data-testid=print-receipt]").await;
    let printed = desk
        .client()
        .execute("return document.body.dataset.printed || null", vec![])
        .await
        .unwrap();
    assert_eq!(printed.as_str(), Some("yes"), "Print prints the receipt");
    click_button(&desk, "[data-testid=receipt]", "Close").await;
    wait_gone(&desk, "[data-testid=receipt]").await;
    desk.wait_for_text("[data-testid=amount-due]", "Nothing owed")
        .await;
    desk.screenshot("payments-appointment-paid").await;

    // the end of the day: the till expects 45.00 in cash; 44.50 is counted
    click(&desk, "[data-testid=rail-till]").await;
    desk.wait_for_text("[data-testid=till-expected-CASH]", "45.00")
        .await;
    fill(&desk, "input[name=counted-CASH]", "44.50").await;
    fill(&desk, "input[name=till-note]", "50 cents short").await;
    click(&desk, "[data-testid=close-till]").await;
    desk.wait_for_text("[data-testid=till-closed]", "50 cents short")
        .await;
    desk.wait_for_text("[data-testid=cash-ups]", "-").await;
    let report = text(&desk, "[data-testid=cash-ups]").await;
    assert!(
        report.contains("44.50") && report.contains("45.00"),
        "the cash-up report shows expected and counted: {report}"
    );
    desk.screenshot("payments-cash-up").await;

    // the ledger checks out
    let check = seed::run(&clinic, &["check"]);
    assert_eq!(check["ok"], true, "check: {check}");
    desk.close().await;
}
