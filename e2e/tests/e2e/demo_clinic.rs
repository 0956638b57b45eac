//! The demo clinic: `--demo` on an empty database, the demo accounts on the login
//! screen, and the day view full of appointments (the README's screenshot).

use std::time::Instant;

use frontdesk_e2e::{Clinic, Locator};

use crate::steps::{show_a_day_with_slots, sign_in, text};

#[tokio::test]
async fn the_demo_clinic_opens_on_a_busy_day_view() {
    let Some(clinic) = Clinic::for_test("demo_clinic") else {
        return;
    };
    let started = Instant::now();
    let desk = clinic.open_desk_with_args(&["--demo"]).await;
    desk.wait_for("[data-testid=demo-accounts]").await;
    let login_shown = started.elapsed();
    let password = text(&desk, "[data-testid=demo-password-admin]").await;
    assert!(
        password.len() >= 8,
        "a demo password is shown, got {password:?}"
    );

    let signing_in = Instant::now();
    sign_in(&desk, "admin", &password).await;
    show_a_day_with_slots(&desk).await;
    eprintln!(
        "timing: app start to login screen {:?}; sign-in to a filled day view {:?}; \
         cold start to an interactive day view {:?}",
        login_shown,
        signing_in.elapsed(),
        started.elapsed()
    );

    assert!(
        text(&desk, "[data-testid=demo-badge]")
            .await
            .contains("DEMO"),
        "the demo clinic carries a DEMO badge"
    );
    let booked = desk
        .client()
        .find_all(Locator::Css("[data-testid=day-grid] [data-testid=status]"))
        .await
        .unwrap()
        .len();
    assert!(
        booked >= 3,
        "the demo day shows appointments, found {booked}"
    );
    let who = text(&desk, "[data-testid=signed-in-as]").await;
    assert!(who.contains("Admin"), "the role is visible, got {who:?}");
    let rail = text(&desk, "nav.left-rail").await;
    for screen in ["Day", "Pending", "Patients", "Waitlist", "Admin"] {
        assert!(
            rail.contains(screen),
            "an admin's rail offers {screen}, got {rail:?}"
        );
    }

    let png = desk
        .screenshot("the_demo_clinic_opens_on_a_busy_day_view")
        .await;
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::copy(&png, docs.join("screenshot-day-view.png")).unwrap();
    desk.close().await;
}
