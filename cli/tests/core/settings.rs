//! Settings: validated, audited, admin-only; the backup folder must take files.

use frontdesk::{Actor, Error};

use crate::fixture::Clinic;

on_both! {
    fn an_unknown_time_zone_is_refused_with_a_clear_message(c) {
    let err = c
        .desk
        .set_setting(&c.admin(), "clinic.time_zone", "Mars/Olympus")
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert!(
        err.to_string().contains("unknown time zone"),
        "says why: {err}"
    );
    assert_eq!(
        c.desk.settings().unwrap().time_zone,
        "UTC",
        "the time zone is unchanged"
    );
    let ok = c
        .desk
        .set_setting(&c.admin(), "clinic.time_zone", "Europe/Berlin")
        .unwrap();
    assert_eq!(ok.value, "Europe/Berlin");
}
}

#[test]
fn a_backup_folder_that_cannot_be_written_is_refused() {
    let c = Clinic::new();
    let file = c.dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let under_a_file = file.join("backups");
    let err = c
        .desk
        .set_setting(&c.admin(), "backup.folder", under_a_file.to_str().unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("cannot be created"), "{err}");
    // a folder that exists but takes no files, even for root
    let err = c
        .desk
        .set_setting(&c.admin(), "backup.folder", "/proc/self")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot write into the backup folder"),
        "{err}"
    );
    let err = c
        .desk
        .set_setting(&c.admin(), "backup.folder", "relative/backups")
        .unwrap_err();
    assert!(err.to_string().contains("full path"), "{err}");
    let default = c.dir.path().join("backups");
    assert_eq!(
        c.desk.backup_settings(&c.admin()).unwrap().folder,
        default.display().to_string(),
        "the folder is unchanged"
    );
}

#[test]
fn a_writable_backup_folder_is_created_audited_and_used() {
    let c = Clinic::new();
    let folder = c.dir.path().join("usb").join("frontdesk");
    let s = c
        .desk
        .set_setting(&c.admin(), "backup.folder", folder.to_str().unwrap())
        .unwrap();
    assert_eq!(s.value, folder.display().to_string());
    assert!(folder.is_dir(), "the folder was created");
    let audited = c.count("SELECT count(*) FROM audit_event WHERE action = 'setting.change' AND detail = 'backup.folder'");
    assert_eq!(audited, 1, "the change is audited (by key)");
    let r = c.desk.backup_now(&c.admin(), None).unwrap();
    assert!(
        r.file.path.starts_with(folder.to_str().unwrap()),
        "backups go to the new folder: {}",
        r.file.path
    );
}

on_both! {
    fn retention_counts_unknown_keys_and_receptionists_are_refused(c) {
    for (key, value) in [
        ("backup.keep_daily", "0"),
        ("backup.keep_daily", "many"),
        ("backup.keep_weekly", "9999"),
        ("session.idle_minutes", "0"),
    ] {
        let err = c.desk.set_setting(&c.admin(), key, value).unwrap_err();
        assert!(
            matches!(err, Error::Invalid(_)),
            "{key}={value} is refused: {err}"
        );
    }
    let err = c
        .desk
        .set_setting(&c.admin(), "backup.colour", "blue")
        .unwrap_err();
    assert!(
        err.to_string().contains("there is no setting")
            && err.to_string().contains("backup.folder"),
        "{err}"
    );
    let err = c
        .desk
        .set_setting(&c.receptionist(), "clinic.name", "Mine")
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err}");
    c.desk
        .set_setting(&c.admin(), "backup.keep_daily", " 7 ")
        .unwrap();
    let listed = c.desk.list_settings(&c.admin()).unwrap();
    let daily = listed
        .iter()
        .find(|s| s.key == "backup.keep_daily")
        .unwrap();
    assert_eq!(
        (daily.value.as_str(), daily.default_value.as_str()),
        ("7", "14")
    );
    assert!(
        listed
            .iter()
            .any(|s| s.key == "backup.keep_weekly" && s.value == "8"),
        "defaults are shown"
    );
}
}

#[test]
fn the_clinic_language_is_part_of_the_clinic_settings_every_desk_reads() {
    use frontdesk::domain::clinic::{ClinicSettingsChange, Language};
    let c = Clinic::new();
    assert_eq!(
        c.desk.settings().unwrap().language,
        Language::En,
        "English until the clinic chooses"
    );
    // the generic setting (Admin → Settings' list, `frontdesk settings set`)
    c.desk
        .set_setting(&c.admin(), "clinic.language", "de")
        .unwrap();
    assert_eq!(c.desk.settings().unwrap().language, Language::De);
    // the clinic form saves only what it edited: the language, nothing else
    let seen = c.desk.settings().unwrap();
    let mut edited = seen.clone();
    edited.language = Language::En;
    let change = ClinicSettingsChange::between(&seen, &edited);
    assert_eq!(change.language, Some(Language::En));
    assert_eq!(change.name, None);
    let saved = c.desk.change_clinic_settings(&c.admin(), &change).unwrap();
    assert_eq!(saved.language, Language::En);
    assert_eq!(saved.name, seen.name, "the other settings are kept");
    // a receptionist reads it (the desk's UI language) but may not change it
    let err = c
        .desk
        .change_clinic_settings(
            &c.receptionist(),
            &ClinicSettingsChange {
                language: Some(Language::De),
                ..ClinicSettingsChange::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err}");
}

on_both! {
    fn a_desk_is_disconnected_from_its_server_only_by_an_admin_and_only_from_one_it_keeps(c) {
    let refused = c.desk.disconnect_desk(&c.receptionist());
    assert!(
        matches!(refused, Err(Error::Forbidden(_))),
        "a receptionist may not: {refused:?}"
    );
    let refused = c.desk.disconnect_desk(&Actor::local_admin());
    let Err(Error::Invalid(why)) = &refused else {
        panic!("an admin is told why not: {refused:?}");
    };
    let expected = if c.desk.on_server() {
        "FRONTDESK_DB"
    } else {
        "its own file"
    };
    assert!(why.contains(expected), "{why}");
    assert_eq!(
        c.count("SELECT count(*) FROM audit_event WHERE action = 'desk.disconnect'"),
        0,
        "nothing was recorded"
    );
}
}
