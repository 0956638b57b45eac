//! The encrypted database in the window (issue 12): the first admin sees the
//! recovery key once after setup; a computer without the key asks for the
//! recovery key (a wrong one is refused, the right one opens the login); an admin
//! sees the encryption, the key id and the recovery key under Admin → Security,
//! and a key change there keeps them signed in.

use std::path::Path;

use frontdesk_e2e::{Clinic, Desk};

use crate::seed;
use crate::steps::{click, click_button, fill, sign_in, text, wait_gone};

/// A recovery key as printed: 13 groups of four characters of Crockford's base 32.
fn assert_recovery_key_shape(key: &str) {
    let groups: Vec<&str> = key.trim().split('-').collect();
    assert_eq!(groups.len(), 13, "13 groups, got {key:?}");
    assert!(
        groups.iter().all(|g| g.len() == 4
            && g.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())),
        "groups of four letters and digits, got {key:?}"
    );
}

/// A clinic made with the command line; returns (key id, recovery key) as `init`
/// printed them.
fn encrypted_clinic(clinic: &Clinic) -> (String, String) {
    let init = seed::run(
        clinic,
        &[
            "init",
            "--name",
            "Praxis Schlüssel",
            "--time-zone",
            "UTC",
            "--country",
            "DE",
            "--admin-username",
            seed::ADMIN.0,
        ],
    );
    let key = &init["recovery_key"];
    let field = |name: &str| -> String {
        key[name]
            .as_str()
            .unwrap_or_else(|| panic!("init prints recovery_key.{name}, got {init}"))
            .to_string()
    };
    (field("key_id"), field("recovery_key"))
}

async fn open_admin_security(desk: &Desk) {
    click(desk, "[data-testid=rail-admin]").await;
    click(desk, "#admin-tab-security").await;
}

#[tokio::test]
async fn the_first_admin_sees_the_recovery_key_once_and_then_the_desk() {
    let Some(clinic) = Clinic::for_test("recovery_key_after_setup") else {
        return;
    };
    let desk = clinic.open_desk().await;
    let form = "[data-testid=first-run-form]";
    for (field, value) in [
        ("clinic-name", "Praxis am Schloss"),
        ("time-zone", "Europe/Berlin"),
        ("phone-country", "DE"),
        ("display-name", "Dr. Erste"),
        ("username", "admin"),
        ("password", "harbor violet compass 71"),
    ] {
        fill(&desk, &format!("{form} input[name={field}]"), value).await;
    }
    click_button(&desk, form, "Create clinic").await;

    // the dialog: the key, its id and the advice, before the desk opens
    let notice = desk
        .wait_for_text(
            "[data-testid=recovery-key-notice]",
            "Print it and lock it away",
        )
        .await;
    assert!(
        notice.contains("nobody can open the data if this computer's key folder is lost"),
        "the advice is shown, got {notice:?}"
    );
    let key = desk.wait_for_text("[data-testid=recovery-key]", "-").await;
    assert_recovery_key_shape(&key);
    let key_id = text(&desk, "[data-testid=recovery-key-id]").await;
    assert!(!key_id.is_empty(), "the key id is shown");
    assert!(
        desk.client()
            .find_all(frontdesk_e2e::Locator::Css("[data-testid=signed-in-as]"))
            .await
            .unwrap()
            .is_empty(),
        "the desk opens only after the recovery key was put away"
    );
    desk.find("[data-testid=print-recovery-key]").await;
    desk.screenshot("recovery-key").await;

    // it is the key of this database: it opens the file on a "new computer"
    let elsewhere = tempfile::tempdir().unwrap();
    let opened = frontdesk::storage::cipher::unlock_with_recovery_key(
        clinic.db_path(),
        &key,
        elsewhere.path(),
    )
    .expect("the shown recovery key opens the clinic's database");
    assert_eq!(opened, key_id, "the shown key id is the database's");

    click(&desk, "[data-testid=recovery-key-done]").await;
    desk.wait_for_text("[data-testid=signed-in-as]", "Admin")
        .await;

    // once: signing in again goes straight to the desk
    click(&desk, "[data-testid=logout]").await;
    sign_in(&desk, "admin", "harbor violet compass 71").await;
    assert!(
        desk.client()
            .find_all(frontdesk_e2e::Locator::Css(
                "[data-testid=recovery-key-notice]"
            ))
            .await
            .unwrap()
            .is_empty(),
        "the recovery key is not shown again at sign-in"
    );
    desk.close().await;
}

#[tokio::test]
async fn a_computer_without_the_key_opens_the_database_with_the_recovery_key() {
    let Some(clinic) = Clinic::for_test("unlock_with_recovery_key") else {
        return;
    };
    let (key_id, recovery_key) = encrypted_clinic(&clinic);
    // a new computer: its key folder is empty (and apart from the database's folder)
    let new_computer = tempfile::Builder::new()
        .prefix("frontdesk-e2e-keys-")
        .tempdir()
        .unwrap();
    let keys = new_computer.path().join("keys");
    let desk = clinic
        .open_desk_with_env(&[("FRONTDESK_KEYS_DIR", keys.as_path())])
        .await;

    let screen = desk
        .wait_for_text("[data-testid=unlock-screen]", "does not have its key")
        .await;
    assert!(
        screen.contains("13 groups of four characters"),
        "the screen says what to type, got {screen:?}"
    );
    assert_eq!(
        text(&desk, "[data-testid=unlock-key-id]").await,
        key_id,
        "the screen names the key id"
    );
    assert!(
        desk.client()
            .find_all(frontdesk_e2e::Locator::Css("[data-testid=open-error]"))
            .await
            .unwrap()
            .is_empty(),
        "not the generic open error"
    );
    fill(
        &desk,
        "[data-testid=unlock-form] input[name=recovery-key]",
        &recovery_key[..10],
    )
    .await;
    desk.screenshot("unlock-screen").await;

    // a well-formed key of another database: refused with the core's sentence
    let wrong = vec!["0000"; 13].join("-");
    fill(
        &desk,
        "[data-testid=unlock-form] input[name=recovery-key]",
        &wrong,
    )
    .await;
    click_button(&desk, "[data-testid=unlock-form]", "Open").await;
    let refusal = desk
        .wait_for_text("[data-testid=unlock-error]", "does not open")
        .await;
    assert!(
        refusal.contains(&key_id),
        "the refusal names the key id it needs, got {refusal:?}"
    );
    desk.wait_for("[data-testid=unlock-screen]").await;
    assert!(
        !has_key_file(&keys),
        "a wrong key keeps nothing in the key folder"
    );

    // the right one, typed in lower case with spaces: the login screen
    let typed = recovery_key.to_lowercase().replace('-', " ");
    fill(
        &desk,
        "[data-testid=unlock-form] input[name=recovery-key]",
        &typed,
    )
    .await;
    click_button(&desk, "[data-testid=unlock-form]", "Open").await;
    desk.wait_for("[data-testid=login-form]").await;
    wait_gone(&desk, "[data-testid=unlock-screen]").await;
    assert!(has_key_file(&keys), "this computer keeps the key now");
    sign_in(&desk, seed::ADMIN.0, seed::ADMIN.1).await;
    desk.wait_for_text("[data-testid=signed-in-as]", "Admin")
        .await;
    desk.close().await;

    // the next start on this computer opens the database without asking
    let again = clinic
        .open_desk_with_env(&[("FRONTDESK_KEYS_DIR", keys.as_path())])
        .await;
    again.wait_for("[data-testid=login-form]").await;
    again.close().await;
}

fn has_key_file(folder: &Path) -> bool {
    std::fs::read_dir(folder).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".db-key"))
    })
}

#[tokio::test]
async fn an_admin_sees_the_encryption_and_the_recovery_key_and_may_change_the_key() {
    let Some(clinic) = Clinic::for_test("security_tab") else {
        return;
    };
    let (key_id, recovery_key) = encrypted_clinic(&clinic);
    let desk = clinic.open_desk().await;
    sign_in(&desk, seed::ADMIN.0, seed::ADMIN.1).await;
    open_admin_security(&desk).await;

    let status = desk
        .wait_for_text("[data-testid=encryption-status]", "encrypted")
        .await;
    assert!(!status.contains("not encrypted"), "got {status:?}");
    assert_eq!(text(&desk, "[data-testid=encryption-key-id]").await, key_id);
    click(&desk, "#show-recovery-key").await;
    let shown = desk.wait_for_text("[data-testid=recovery-key]", "-").await;
    assert_eq!(shown.trim(), recovery_key, "the database's recovery key");
    desk.screenshot("security-tab").await;

    // a new key: asked first, then the new recovery key; the admin stays signed in
    click(&desk, "#change-key").await;
    click(&desk, "#convert-confirm").await;
    let report = desk
        .wait_for_text("[data-testid=convert-report]", "new key")
        .await;
    assert!(
        report.contains("Print it and lock it away"),
        "got {report:?}"
    );
    let new_key = text(
        &desk,
        "[data-testid=convert-report] [data-testid=recovery-key]",
    )
    .await;
    assert_recovery_key_shape(&new_key);
    assert_ne!(new_key.trim(), recovery_key, "a new recovery key");
    let new_id = text(
        &desk,
        "[data-testid=convert-report] [data-testid=recovery-key-id]",
    )
    .await;
    assert_ne!(new_id, key_id);
    desk.wait_for_text("[data-testid=encryption-key-id]", &new_id)
        .await;
    desk.screenshot("security-tab-new-key").await;
    // the session survived the reopen: another admin screen still loads
    click(&desk, "#admin-tab-staff").await;
    desk.wait_for_text("main", seed::ADMIN.0).await;
    desk.wait_for_text("[data-testid=signed-in-as]", "Admin")
        .await;
    desk.close().await;

    let elsewhere = tempfile::tempdir().unwrap();
    let opened = frontdesk::storage::cipher::unlock_with_recovery_key(
        clinic.db_path(),
        &new_key,
        elsewhere.path(),
    )
    .expect("the new recovery key opens the database");
    assert_eq!(opened, new_id);
}

#[tokio::test]
async fn an_admin_encrypts_a_plain_database_and_is_told_which_backups_stay_plain() {
    let Some(clinic) = Clinic::for_test("security_encrypt") else {
        return;
    };
    // a plain database, as an older Frontdesk made them, with a plain backup
    {
        let desk = frontdesk::Frontdesk::open(
            clinic.db_path(),
            frontdesk::OpenOptions {
                encrypt_new: false,
                ..Default::default()
            },
        )
        .unwrap();
        desk.create_first_admin(seed::ADMIN.0, "Dr. Plain", seed::ADMIN.1)
            .unwrap();
        desk.backup_now(&frontdesk::Actor::local_admin(), None)
            .unwrap();
    }
    let desk = clinic.open_desk().await;
    sign_in(&desk, seed::ADMIN.0, seed::ADMIN.1).await;
    open_admin_security(&desk).await;
    desk.wait_for_text("[data-testid=encryption-status]", "not encrypted")
        .await;

    click(&desk, "#encrypt-database").await;
    desk.wait_for_text(".convert-confirm", "every other desk")
        .await;
    click(&desk, "#convert-confirm").await;
    let report = desk
        .wait_for_text("[data-testid=convert-report]", "is encrypted")
        .await;
    assert!(
        report.contains("blocks may remain on the disk"),
        "the note on the old file's blocks, got {report:?}"
    );
    assert!(
        report.contains("still plain"),
        "the plain backups are named, got {report:?}"
    );
    let listed = text(&desk, "[data-testid=convert-report] .plain-backups code").await;
    assert!(
        listed.starts_with(&clinic.dir().display().to_string()),
        "a plain backup beside the database, got {listed:?}"
    );
    let key = text(
        &desk,
        "[data-testid=convert-report] [data-testid=recovery-key]",
    )
    .await;
    assert_recovery_key_shape(&key);
    desk.wait_for_text("[data-testid=encryption-status]", "encrypted (key id")
        .await;
    desk.screenshot("security-encrypted").await;
    desk.close().await;
    assert_eq!(
        frontdesk::storage::cipher::file_kind(clinic.db_path())
            .unwrap()
            .key_id(),
        Some(text_key_id(&key, clinic.db_path())),
        "the file on disk is encrypted under the key shown"
    );
}

/// The key id the recovery key `key` opens `db` under (checked on a fresh key folder).
fn text_key_id(key: &str, db: &Path) -> String {
    let elsewhere = tempfile::tempdir().unwrap();
    frontdesk::storage::cipher::unlock_with_recovery_key(db, key, elsewhere.path())
        .expect("the shown recovery key opens the encrypted database")
}
