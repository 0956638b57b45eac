//! Two app windows on one clinic server: a booking made at one appears at the
//! other, timed from the click on Book (printed, never asserted).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use frontdesk_e2e::{Clinic, Desk};
use serde_json::json;

use crate::seed;
use crate::steps::{click, click_button, fill, number_on_page, sign_in, wait_day_loaded};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn at_tomorrow(desk: &Desk, slot: i64) {
    desk.wait_for("[data-testid=login-form]").await;
    sign_in(desk, seed::ADMIN.0, seed::ADMIN.1).await;
    click(desk, "nav.date-nav button[aria-label^='Next day']").await;
    wait_day_loaded(desk).await;
    desk.wait_for_text(&format!("[data-slot-id='{slot}']"), "Free")
        .await;
}

#[tokio::test]
async fn two_windows_on_one_clinic_server_see_each_others_booking() {
    let Some(clinic) = Clinic::on_server("server_desks") else {
        return;
    };
    let doctor = seed::clinic_with_doctor(&clinic);
    let slot = seed::slot_tomorrow(&clinic, doctor, "11:00");
    let first = clinic.open_desk().await;
    let second = clinic.open_desk().await;
    for desk in [&first, &second] {
        desk.wait_for_text("[data-testid=db-path]", &clinic.db_path_text())
            .await;
        at_tomorrow(desk, slot).await;
    }
    // the second window notes when the slot first shows the patient
    second
        .client()
        .execute(
            "const id = arguments[0];
             window.__seenAt = null;
             new MutationObserver(() => {
               const cell = document.querySelector(`[data-slot-id='${id}']`);
               if (!window.__seenAt && cell && cell.textContent.includes('Bea Server')) {
                 window.__seenAt = Date.now();
               }
             }).observe(document.body, { subtree: true, childList: true, characterData: true });",
            vec![json!(slot)],
        )
        .await
        .unwrap();

    // the first window books it for a new patient
    click(&first, &format!("[data-slot-id='{slot}']")).await;
    click(
        &first,
        "[data-testid=booking-drawer] [data-testid=new-patient]",
    )
    .await;
    fill(
        &first,
        "[data-testid=booking-drawer] input[name=new-name]",
        "Bea Server",
    )
    .await;
    fill(
        &first,
        "[data-testid=booking-drawer] input[name=new-phone]",
        "0151 2345 7101",
    )
    .await;
    let clicked = now_ms();
    click(&first, "[data-testid=booking-drawer] [data-testid=book]").await;
    first
        .wait_for_text(&format!("[data-slot-id='{slot}']"), "Bea Server")
        .await;
    let booked = now_ms();

    let seen = number_on_page(
        &second,
        "window.__seenAt",
        Duration::from_secs(10),
        "the second window showing the first window's booking",
    )
    .await;
    eprintln!(
        "timing: a booking on a clinic server, from the click on Book: {} ms to the booking \
         window's own cell, {} ms to the other window's",
        booked - clicked,
        seen - clicked
    );
    second.screenshot("server_desks-second_window").await;
    first.close().await;
    second.close().await;
}

#[tokio::test]
async fn a_desk_on_its_first_start_connects_to_the_clinic_server_keeps_it_and_an_admin_disconnects_it(
) {
    let Some(server) = Clinic::on_server("connect_server") else {
        return;
    };
    seed::clinic_with_doctor(&server);
    let Some(new_pc) = Clinic::for_test("connect_server_desk") else {
        return;
    };
    let desk = new_pc.open_desk().await;
    desk.wait_for("[data-testid=first-run-form]").await;
    // a mistyped address is refused and changes nothing
    let form = "[data-testid=connect-server-form]";
    fill(
        &desk,
        &format!("{form} input[name=server-url]"),
        "clinic-server",
    )
    .await;
    click_button(&desk, form, "Connect").await;
    desk.wait_for_text(&format!("{form} [role=alert]"), "postgres://")
        .await;
    fill(
        &desk,
        &format!("{form} input[name=server-url]"),
        &server.db_path_text(),
    )
    .await;
    desk.screenshot("connect_server-first_run").await;
    click_button(&desk, form, "Connect").await;
    desk.wait_for("[data-testid=login-form]").await;
    desk.wait_for_text("[data-testid=db-path]", &server.db_path_text())
        .await;
    sign_in(&desk, seed::ADMIN.0, seed::ADMIN.1).await;
    desk.wait_for_text("[data-testid=signed-in-as]", "Admin")
        .await;
    desk.close().await;

    // started again with nothing set, the desk opens the server it was connected to
    // (its own file would be in its data folder, kept in the test's folder)
    let data = new_pc.dir().join("data");
    let nothing_set = [
        ("FRONTDESK_DB", std::path::Path::new("")),
        ("XDG_DATA_HOME", data.as_path()),
    ];
    let again = new_pc.open_desk_with_env(&nothing_set).await;
    again
        .wait_for_text("[data-testid=db-path]", &server.db_path_text())
        .await;
    again.wait_for("[data-testid=login-form]").await;

    // an admin disconnects it: the desk forgets the server and opens its own
    // (empty) file, at once and at its next start; the server's clinic is kept
    sign_in(&again, seed::ADMIN.0, seed::ADMIN.1).await;
    click(&again, "[data-testid=rail-admin]").await;
    click(&again, "#admin-tab-settings").await;
    again
        .wait_for_text("[data-testid=this-desk]", &server.db_path_text())
        .await;
    click(&again, "[data-testid=disconnect-desk]").await;
    again.screenshot("disconnect_server-confirm").await;
    click(&again, "[data-testid=this-desk] [data-testid=confirm-yes]").await;
    again.wait_for("[data-testid=first-run-form]").await;
    again
        .wait_for_text("[data-testid=db-path]", &data.display().to_string())
        .await;
    again.close().await;
    let later = new_pc.open_desk_with_env(&nothing_set).await;
    later.wait_for("[data-testid=first-run-form]").await;
    later.close().await;
    let log = seed::run(&server, &["audit", "--entity", "setting"]).to_string();
    assert!(
        log.contains("desk.disconnect"),
        "the disconnection is in the clinic's audit log: {log}"
    );
}

/// A clinic server's backup from the app's Backups screen: `pg_dump`, checked,
/// listed under its `.pgdump` name.
#[tokio::test]
async fn an_admin_backs_up_the_clinic_server_from_the_backups_screen() {
    let Some(clinic) = Clinic::on_server("server_backup") else {
        return;
    };
    let doctor = seed::clinic_with_doctor(&clinic);
    let patient = seed::patient(&clinic, "Bea Backup", "0151 2345 7102");
    let slot = seed::slot_tomorrow(&clinic, doctor, "09:00");
    seed::book(&clinic, slot, patient);
    let folder = clinic.dir().join("server-backups");
    seed::run(
        &clinic,
        &[
            "settings",
            "set",
            "backup.folder",
            &folder.display().to_string(),
        ],
    );
    let desk = clinic.open_desk().await;
    desk.wait_for("[data-testid=login-form]").await;
    sign_in(&desk, seed::ADMIN.0, seed::ADMIN.1).await;
    click(&desk, "[data-testid=rail-admin]").await;
    click(&desk, "#admin-tab-backups").await;
    click(&desk, "#backup-now").await;
    desk.wait_for_text(".backup-table", ".pgdump").await;
    desk.screenshot("server-backup").await;
    let written: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        written.len() == 1
            && written[0].starts_with("frontdesk-")
            && written[0].ends_with(".pgdump"),
        "one checked archive in the backup folder: {written:?}"
    );
}
