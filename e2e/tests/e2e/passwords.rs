//! Passwords in the real window: a person changes their own from the top bar; after
//! an admin resets it the change screen comes before anything else; an admin unlocks
//! an account that failed sign-ins locked.

use fantoccini::key::Key;
use frontdesk::{Actor, Frontdesk, NewStaff, Role};
use frontdesk_e2e::{Clinic, Desk};

use crate::steps::{click, click_button, fill, sign_in, text};

const ADMIN: (&str, &str) = ("admin", "quiet harbor lantern 7");
const RITA: &str = "amber meadow violin 4";

/// A clinic with its first admin and the receptionist rita (password [`RITA`]),
/// made through the core (the command line's sign-in rules are not this file's
/// subject); returns the open core handle for more set-up (drop it before a desk
/// opens the file).
fn clinic_with_rita(clinic: &Clinic) -> Frontdesk {
    let core = Frontdesk::open_default(clinic.db_path()).expect("open the clinic database");
    core.create_first_admin(ADMIN.0, "Test Admin", ADMIN.1)
        .expect("the first admin");
    core.add_staff(
        &Actor::local_admin(),
        &NewStaff {
            username: "rita".into(),
            display_name: "Rita Reception".into(),
            role: Role::Receptionist,
            password: RITA.into(),
        },
    )
    .expect("rita's account");
    core
}

/// Types a username and password on the login screen and presses Enter (without
/// waiting for the desk: the next screen may be another).
async fn submit_login(desk: &Desk, username: &str, password: &str) {
    fill(
        desk,
        "[data-testid=login-form] input[name=username]",
        username,
    )
    .await;
    fill(
        desk,
        "[data-testid=login-form] input[name=password]",
        password,
    )
    .await;
    desk.find("[data-testid=login-form] input[name=password]")
        .await
        .send_keys(&String::from(char::from(Key::Enter)))
        .await
        .unwrap();
}

/// Fills the change-password form and saves.
async fn choose_password(desk: &Desk, current: &str, new: &str) {
    fill(
        desk,
        "[data-testid=change-password-form] input[name=current-password]",
        current,
    )
    .await;
    fill(
        desk,
        "[data-testid=change-password-form] input[name=new-password]",
        new,
    )
    .await;
    fill(
        desk,
        "[data-testid=change-password-form] input[name=repeat-password]",
        new,
    )
    .await;
    click(desk, "[data-testid=change-password-save]").await;
}

async fn admin_staff_tab(desk: &Desk) {
    click(desk, "[data-testid=rail-admin]").await;
    click(desk, "#admin-tab-staff").await;
}

#[tokio::test]
async fn a_person_changes_their_own_password_from_the_top_bar() {
    let Some(clinic) = Clinic::for_test("change_own_password") else {
        return;
    };
    drop(clinic_with_rita(&clinic));
    let desk = clinic.open_desk().await;
    sign_in(&desk, "rita", RITA).await;
    click(&desk, "[data-testid=change-password-open]").await;
    // a guessable new password is refused with the core's reason
    choose_password(&desk, RITA, "rita123456").await;
    desk.wait_for_text("[data-testid=change-password] [role=alert]", "guess")
        .await;
    desk.screenshot("a_person_changes_their_own_password_refused")
        .await;
    choose_password(&desk, RITA, "sunflower marble kettle").await;
    desk.wait_for_text("[data-testid=toast]", "Password changed")
        .await;
    assert!(
        desk.client()
            .find(frontdesk_e2e::Locator::Css("[data-testid=change-password]"))
            .await
            .is_err(),
        "the dialog closes after the change"
    );
    desk.screenshot("a_person_changes_their_own_password_from_the_top_bar")
        .await;
    click(&desk, "[data-testid=logout]").await;
    submit_login(&desk, "rita", RITA).await;
    desk.wait_for_text(
        "[data-testid=login-form] [role=alert]",
        "Wrong username or password",
    )
    .await;
    sign_in(&desk, "rita", "sunflower marble kettle").await;
    let who = text(&desk, "[data-testid=signed-in-as]").await;
    assert!(
        who.contains("Rita Reception"),
        "rita is back in, got {who:?}"
    );
    desk.close().await;
}

#[tokio::test]
async fn after_an_admin_resets_a_password_the_person_must_choose_their_own_first() {
    let Some(clinic) = Clinic::for_test("forced_password_change") else {
        return;
    };
    drop(clinic_with_rita(&clinic));
    let desk = clinic.open_desk().await;
    sign_in(&desk, ADMIN.0, ADMIN.1).await;
    admin_staff_tab(&desk).await;
    desk.wait_for_text(".staff-table", "Rita Reception").await;
    // rita's row is the second (by username)
    click_button(&desk, ".staff-table tr:nth-child(2)", "Reset password").await;
    fill(
        &desk,
        ".staff-table input[aria-label='New password']",
        "temporary lantern 42",
    )
    .await;
    click_button(&desk, ".staff-table tr:nth-child(2)", "Save password").await;
    desk.wait_for_text("p.ok[role=status]", "choose their own")
        .await;
    desk.wait_for_text(
        "[data-testid=staff-state-rita]",
        "must choose a new password",
    )
    .await;
    click(&desk, "[data-testid=logout]").await;

    submit_login(&desk, "rita", "temporary lantern 42").await;
    desk.wait_for_text("[data-testid=change-password]", "Choose your own password")
        .await;
    assert!(
        desk.client()
            .find(frontdesk_e2e::Locator::Css("[data-testid=signed-in-as]"))
            .await
            .is_err(),
        "nothing of the desk is shown before the new password"
    );
    desk.screenshot("after_an_admin_resets_a_password_the_change_screen")
        .await;
    choose_password(&desk, "temporary lantern 42", "sunflower marble kettle").await;
    if desk
        .client()
        .wait()
        .at_most(std::time::Duration::from_secs(10))
        .for_element(frontdesk_e2e::Locator::Css("[data-testid=signed-in-as]"))
        .await
        .is_err()
    {
        let shown = text(&desk, "[data-testid=change-password]").await;
        desk.screenshot("after_an_admin_resets_a_password_failed")
            .await;
        panic!("the change did not lead to the desk; the screen shows {shown:?}");
    }
    let who = text(&desk, "[data-testid=signed-in-as]").await;
    assert!(
        who.contains("Rita Reception") && who.contains("Receptionist"),
        "after choosing her own rita is at the desk, got {who:?}"
    );
    desk.close().await;
}

#[tokio::test]
async fn an_admin_unlocks_an_account_that_failed_sign_ins_locked() {
    let Some(clinic) = Clinic::for_test("admin_unlocks") else {
        return;
    };
    {
        let core = clinic_with_rita(&clinic);
        // the state twenty failed sign-ins leave (their delays take an hour)
        let now = core.now();
        core.write("e2e.lock", |tx| {
            Ok(tx.execute(
                "UPDATE staff SET failed_logins = 20, last_failed_at = ?1, locked_at = ?1
                 WHERE username = 'rita'",
                [now],
            )?)
        })
        .unwrap();
    }
    let desk = clinic.open_desk().await;
    submit_login(&desk, "rita", RITA).await;
    desk.wait_for_text("[data-testid=login-form] [role=alert]", "locked")
        .await;
    sign_in(&desk, ADMIN.0, ADMIN.1).await;
    admin_staff_tab(&desk).await;
    desk.wait_for_text(
        "[data-testid=staff-state-rita]",
        "locked after 20 failed sign-ins",
    )
    .await;
    desk.screenshot("an_admin_unlocks_an_account_locked").await;
    click(&desk, "[data-testid=unlock-rita]").await;
    desk.wait_for_text("p.ok[role=status]", "rita unlocked")
        .await;
    let state = text(&desk, "[data-testid=staff-state-rita]").await;
    assert!(!state.contains("locked"), "the lock is gone: {state:?}");
    click(&desk, "[data-testid=logout]").await;
    sign_in(&desk, "rita", RITA).await;
    let who = text(&desk, "[data-testid=signed-in-as]").await;
    assert!(who.contains("Rita Reception"), "rita signs in, got {who:?}");
    desk.close().await;
}
