//! Two desks open side by side on one database file, both on the first-run form:
//! the first sets the clinic up, the second's own setup is then refused (the clinic
//! has its admin now), and after a reload the second signs in as that admin and
//! sees the doctor the first desk added — one database, two windows.

use frontdesk_e2e::{Clinic, Desk};

use crate::steps::{click, click_button, fill, put_recovery_key_away, sign_in};

const ADMIN: (&str, &str) = ("admin", "violet orchard compass 62");

async fn set_up_clinic(desk: &Desk, (username, password): (&str, &str)) {
    let form = "[data-testid=first-run-form]";
    for (field, value) in [
        ("clinic-name", "Praxis Zwei"),
        ("time-zone", "Europe/Berlin"),
        ("phone-country", "DE"),
        ("display-name", "Dr. First"),
        ("username", username),
        ("password", password),
    ] {
        fill(desk, &format!("{form} input[name={field}]"), value).await;
    }
    click_button(desk, form, "Create clinic").await;
}

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
        desk.wait_for("[data-testid=first-run-form]").await;
    }

    // the first desk sets the clinic up and adds a doctor
    set_up_clinic(&first, ADMIN).await;
    put_recovery_key_away(&first).await;
    first
        .wait_for_text("[data-testid=signed-in-as]", "Admin")
        .await;
    click(&first, "[data-testid=rail-admin]").await;
    click(&first, "#admin-tab-doctors").await;
    fill(
        &first,
        "[data-testid=add-doctor-form] input[name=doctor-name]",
        "Dr. Geteilt",
    )
    .await;
    fill(
        &first,
        "[data-testid=add-doctor-form] input[name=doctor-specialty]",
        "General practice",
    )
    .await;
    click_button(&first, "[data-testid=add-doctor-form]", "Add doctor").await;
    first
        .wait_for_text("[data-testid=admin-doctors]", "Dr. Geteilt")
        .await;
    first
        .screenshot("two_desks_open_side_by_side_on_one_database-desk1")
        .await;

    // the second desk, still on its first-run form, cannot make a second clinic
    set_up_clinic(&second, ("second.admin", "another orchard compass 63")).await;
    second
        .wait_for_text("[data-testid=first-run-form] [role=alert]", "already")
        .await;
    second
        .screenshot("two_desks_open_side_by_side_on_one_database-desk2-refused")
        .await;

    // reloaded, it offers the sign-in; the first desk's admin signs in there and
    // finds the first desk's doctor
    second.client().refresh().await.unwrap();
    sign_in(&second, ADMIN.0, ADMIN.1).await;
    second
        .wait_for_text("[data-testid=signed-in-as]", "Admin")
        .await;
    click(&second, "[data-testid=rail-admin]").await;
    click(&second, "#admin-tab-doctors").await;
    second
        .wait_for_text("[data-testid=admin-doctors]", "Dr. Geteilt")
        .await;
    second
        .screenshot("two_desks_open_side_by_side_on_one_database-desk2")
        .await;
    second.close().await;
    first.close().await;
}
