//! A database that cannot be opened: the window says why instead of crashing.

use frontdesk_e2e::Clinic;

#[tokio::test]
async fn a_database_that_cannot_open_is_explained_in_the_window() {
    let Some(clinic) = Clinic::for_test("desk_open_error") else {
        return;
    };
    // not a SQLite file: opening it fails
    std::fs::write(clinic.db_path(), vec![b'x'; 8192]).unwrap();
    let desk = clinic.open_desk().await;
    let shown = desk
        .wait_for_text("[data-testid=open-error]", "cannot be opened")
        .await;
    assert!(
        shown.contains(&clinic.db_path_text()),
        "the message names the file, got {shown:?}"
    );
    assert!(
        !shown.to_lowercase().contains("select "),
        "no SQL in the message, got {shown:?}"
    );
    desk.screenshot("a_database_that_cannot_open_is_explained_in_the_window")
        .await;
    desk.close().await;
}
