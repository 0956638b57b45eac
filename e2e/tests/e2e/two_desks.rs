use frontdesk_e2e::Clinic;

#[tokio::test]
async fn two_desks_open_side_by_side_on_one_database() {
    let Some(clinic) = Clinic::for_test("two_desks") else {
        return;
    };
    let first = clinic.open_desk().await;
    let second = clinic.open_desk().await;

    for desk in [&first, &second] {
        desk.wait_for_text("[data-testid=db-path]", &clinic.db_path_text())
            .await;
    }
    // Both sessions are live at once: each answers while the other is open.
    first.wait_for("[data-testid=first-run-form]").await;
    second.wait_for("[data-testid=first-run-form]").await;

    first
        .screenshot("two_desks_open_side_by_side_on_one_database-desk1")
        .await;
    second
        .screenshot("two_desks_open_side_by_side_on_one_database-desk2")
        .await;
    second.close().await;
    first.close().await;
}
