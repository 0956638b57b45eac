use frontdesk_e2e::Clinic;

#[tokio::test]
async fn the_status_line_shows_the_database_the_desk_opened() {
    let Some(clinic) = Clinic::for_test("status_line") else {
        return;
    };
    let desk = clinic.open_desk().await;

    let shown = desk
        .wait_for_text("[data-testid=db-path]", &clinic.db_path_text())
        .await;
    assert_eq!(
        shown,
        clinic.db_path_text(),
        "the status line must name exactly the FRONTDESK_DB file"
    );
    let version = desk
        .find("[data-testid=app-version]")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        version.starts_with("Frontdesk ") && version.len() > "Frontdesk ".len(),
        "the status line must show the app version, got {version:?}"
    );
    // A new database opens on the first-run setup (the rail appears after sign-in).
    desk.wait_for("[data-testid=first-run-form]").await;

    let png = desk
        .screenshot("the_status_line_shows_the_database_the_desk_opened")
        .await;
    assert!(
        png.metadata().unwrap().len() > 1000,
        "the screenshot looks empty"
    );
    desk.close().await;
}
