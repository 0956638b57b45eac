//! Clinic settings as admins see them: every known key with its value, default and
//! meaning, and one validated, audited way to change a key
//! ([`Frontdesk::set_setting`]), which the CLI's `settings set KEY VALUE` and the
//! admin screen both use.
//!
//! The clinic keys (name, time zone, phone country, idle logoff) are validated by
//! [`Frontdesk::change_clinic_settings`]; this module adds the backup keys. Each
//! call writes only the key it names, compared inside the write transaction. The
//! passcode sender's program is not a setting at all (it is described per PC,
//! see [`crate::senders`]); `otp.sender_name`, which chooses one of those, goes
//! through `set_otp_sender` and is shown here read-only.

use std::path::PathBuf;

use serde::Serialize;
use ts_rs::TS;

use crate::domain::auth::{Action, Actor};
use crate::domain::clinic::{self, ClinicSettings, ClinicSettingsChange};
use crate::error::{Error, Result};
use crate::service::audit;
use crate::service::payments::{check_setting as check_payment_setting, DEFAULT_LATE_CANCEL_HOURS};
use crate::service::{payment_keys, DepositPolicy, PaymentSettings, DEFAULT_CURRENCY};
use crate::storage::backup::{keys, retention, Retention, DEFAULT_KEEP_DAILY, DEFAULT_KEEP_WEEKLY};
use crate::storage::settings as store;
use crate::Frontdesk;

/// One setting as the admin screen shows it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct Setting {
    /// The key, e.g. `backup.folder`.
    pub key: String,
    /// The value in effect (the default when never set).
    pub value: String,
    /// The value used when it is not set.
    pub default_value: String,
    /// What it does, in a sentence.
    pub description: String,
    /// Whether `set_setting` changes it (otherwise it has its own screen).
    pub editable: bool,
}

/// The backup folder and retention in effect.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct BackupSettings {
    /// Where backups go.
    pub folder: String,
    /// How many backups are kept.
    pub retention: Retention,
}

/// The editable keys: (key, description).
const EDITABLE: &[(&str, &str)] = &[
    (
        clinic::keys::NAME,
        "Clinic name shown in the top bar and on printouts.",
    ),
    (
        clinic::keys::TIME_ZONE,
        "IANA time zone of the clinic, e.g. Europe/Berlin; used for every date and time shown.",
    ),
    (
        clinic::keys::PHONE_COUNTRY,
        "Two-letter country for phone numbers typed without +, e.g. DE.",
    ),
    (
        clinic::keys::IDLE_MINUTES,
        "Minutes without activity before a desk is signed out (1-30).",
    ),
    (
        keys::BACKUP_FOLDER,
        "Folder for backups (a full path; empty = the backups folder next to the database).",
    ),
    (
        keys::BACKUP_KEEP_DAILY,
        "Backups kept: the newest of each of this many days (1-366).",
    ),
    (
        keys::BACKUP_KEEP_WEEKLY,
        "Backups kept: the newest of each of this many weeks (0-520).",
    ),
    (
        payment_keys::CURRENCY,
        "Currency of prices and payments (three letters, e.g. EUR).",
    ),
    (
        payment_keys::ADDRESS,
        "The clinic's address, printed on receipts.",
    ),
    (
        payment_keys::TAX_NUMBER,
        "The clinic's tax number, printed on receipts.",
    ),
    (
        payment_keys::LATE_CANCEL_HOURS,
        "A cancellation this many hours or less before the appointment is late (0-336).",
    ),
    (
        payment_keys::LATE_DEPOSIT,
        "The deposit on a late cancellation or a no-show: keep or refund.",
    ),
    (
        clinic::keys::LANGUAGE,
        "Language of messages to patients and their dates: en (English) or de (German).",
    ),
    (
        clinic::keys::PHONE,
        "The clinic's phone number, for messages to patients (empty: none).",
    ),
    (
        crate::domain::reminders::keys::LEAD,
        "When appointment reminders are sent: off, hours before the appointment such as 24h (1h-168h), or day_before HH:MM (clinic time).",
    ),
    (
        crate::domain::reminders::keys::TEMPLATE,
        "Reminder text with {first_name} {date} {time} {doctor} {clinic} {clinic_phone}; empty: the default in the clinic's language.",
    ),
];

/// Checks that `folder` is a full path that exists (or can be created) and takes
/// new files, by creating and removing a small test file in it.
pub fn check_backup_folder(folder: &str) -> Result<PathBuf> {
    let path = PathBuf::from(folder.trim());
    if !path.is_absolute() {
        return Err(Error::invalid(format!(
            "the backup folder must be a full path (such as /srv/frontdesk-backups), not {folder:?}"
        )));
    }
    crate::platform::create_private_dir(&path).map_err(|e| {
        Error::invalid(format!(
            "the backup folder {} does not exist and cannot be created: {}",
            path.display(),
            e.public_message()
        ))
    })?;
    let probe = path.join(format!(".frontdesk-write-test-{}", std::process::id()));
    let written = std::fs::write(&probe, b"frontdesk");
    let _ = std::fs::remove_file(&probe);
    written.map_err(|e| {
        Error::invalid(format!(
            "Frontdesk cannot write into the backup folder {} ({e}); choose a folder this computer's user may write to",
            path.display()
        ))
    })?;
    Ok(path)
}

fn bounded(key: &str, value: &str, range: std::ops::RangeInclusive<u32>) -> Result<String> {
    match value.trim().parse::<u32>() {
        Ok(n) if range.contains(&n) => Ok(n.to_string()),
        _ => Err(Error::invalid(format!(
            "{key} must be a whole number from {} to {}",
            range.start(),
            range.end()
        ))),
    }
}

impl Frontdesk {
    /// Every setting with its value in effect, default and meaning (known keys
    /// first, then any other stored key, read-only).
    pub fn list_settings(&self, actor: &Actor) -> Result<Vec<Setting>> {
        actor.require(Action::ManageSettings)?;
        self.in_read(|c| {
            let clinic = ClinicSettings::load(c)?;
            let d = ClinicSettings::default();
            let keep = retention(c);
            let money = PaymentSettings::load(c)?;
            let reminder = crate::domain::reminders::ReminderConfig::load(c)?;
            let effective = |key: &str| -> (String, String) {
                match key {
                    clinic::keys::NAME => (clinic.name.clone(), d.name.clone()),
                    clinic::keys::TIME_ZONE => (clinic.time_zone.clone(), d.time_zone.clone()),
                    clinic::keys::PHONE_COUNTRY => {
                        (clinic.phone_country.clone(), d.phone_country.clone())
                    }
                    clinic::keys::IDLE_MINUTES => {
                        (clinic.idle_minutes.to_string(), d.idle_minutes.to_string())
                    }
                    keys::BACKUP_FOLDER => (
                        self.backup_folder(c).display().to_string(),
                        self.default_backup_folder().display().to_string(),
                    ),
                    keys::BACKUP_KEEP_DAILY => {
                        (keep.keep_daily.to_string(), DEFAULT_KEEP_DAILY.to_string())
                    }
                    payment_keys::CURRENCY => (money.currency.clone(), DEFAULT_CURRENCY.into()),
                    payment_keys::ADDRESS => (money.address.clone(), String::new()),
                    payment_keys::TAX_NUMBER => (money.tax_number.clone(), String::new()),
                    payment_keys::LATE_CANCEL_HOURS => (
                        money.late_cancel_hours.to_string(),
                        DEFAULT_LATE_CANCEL_HOURS.to_string(),
                    ),
                    payment_keys::LATE_DEPOSIT => (
                        money.late_deposit.as_str().to_string(),
                        DepositPolicy::Keep.as_str().to_string(),
                    ),
                    clinic::keys::LANGUAGE => (
                        reminder.language.code().to_string(),
                        clinic::Language::default().code().to_string(),
                    ),
                    clinic::keys::PHONE => (
                        store::get(c, key).ok().flatten().unwrap_or_default(),
                        String::new(),
                    ),
                    crate::domain::reminders::keys::LEAD => (
                        reminder.lead.value(),
                        crate::domain::reminders::Lead::Off.value(),
                    ),
                    crate::domain::reminders::keys::TEMPLATE => (
                        reminder.template.clone(),
                        crate::domain::reminders::default_template(
                            reminder.language,
                            !reminder.clinic_phone.is_empty(),
                        )
                        .to_string(),
                    ),
                    _ => (
                        keep.keep_weekly.to_string(),
                        DEFAULT_KEEP_WEEKLY.to_string(),
                    ),
                }
            };
            let mut out: Vec<Setting> = EDITABLE
                .iter()
                .map(|(key, description)| {
                    let (value, default_value) = effective(key);
                    Setting {
                        key: (*key).into(),
                        value,
                        default_value,
                        description: (*description).into(),
                        editable: true,
                    }
                })
                .collect();
            for (key, value) in store::all(c)? {
                // the audit key's copy is a key, not a setting: never shown anywhere
                if !EDITABLE.iter().any(|(k, _)| *k == key)
                    && key != clinic::keys::DEMO
                    && key != crate::storage::audit_key::ESCROW_SETTING
                {
                    out.push(Setting {
                        key,
                        value,
                        default_value: String::new(),
                        description: "Set on its own settings screen.".into(),
                        editable: false,
                    });
                }
            }
            Ok(out)
        })
    }

    /// Validates and saves one setting, audited as `setting.change` (the key, never
    /// the value). Unknown keys and bad values are refused with a sentence.
    pub fn set_setting(&self, actor: &Actor, key: &str, value: &str) -> Result<Setting> {
        actor.require(Action::ManageSettings)?;
        let key = key.trim();
        let clinic_key = [
            clinic::keys::NAME,
            clinic::keys::TIME_ZONE,
            clinic::keys::PHONE_COUNTRY,
            clinic::keys::IDLE_MINUTES,
        ];
        if key == crate::senders::SENDER_NAME_KEY {
            // a name among this PC's senders, checked there
            let status = self.set_otp_sender(actor, Some(value))?;
            return Ok(Setting {
                key: key.into(),
                value: status.chosen.unwrap_or_default(),
                default_value: String::new(),
                description: "Which of this PC's passcode senders the clinic uses (empty: the senders file's default).".into(),
                editable: false,
            });
        }
        if clinic_key.contains(&key) {
            // only this key is written, checked against the stored value inside
            // the write transaction: the other clinic keys are not read here
            let mut change = ClinicSettingsChange::default();
            match key {
                clinic::keys::NAME => change.name = Some(value.into()),
                clinic::keys::TIME_ZONE => change.time_zone = Some(value.into()),
                clinic::keys::PHONE_COUNTRY => change.phone_country = Some(value.into()),
                _ => {
                    change.idle_minutes = Some(value.trim().parse().map_err(|_| {
                        Error::invalid("idle logoff must be a whole number of minutes (1-30)")
                    })?)
                }
            }
            self.change_clinic_settings(actor, &change)?;
        } else {
            let reminder_value = match crate::domain::reminders::clean_setting(
                key,
                value,
                &self.settings()?.phone_country,
            ) {
                Some(v) => Some(v?),
                None => None,
            };
            let clean = match key {
                _ if reminder_value.is_some() => reminder_value.unwrap_or_default(),
                keys::BACKUP_FOLDER if value.trim().is_empty() => String::new(),
                keys::BACKUP_FOLDER => check_backup_folder(value)?.display().to_string(),
                keys::BACKUP_KEEP_DAILY => bounded(key, value, 1..=366)?,
                keys::BACKUP_KEEP_WEEKLY => bounded(key, value, 0..=520)?,
                other if other.starts_with("otp.") => {
                    return Err(Error::invalid(format!(
                        "the program that sends passcodes is not a clinic setting: this PC's administrator describes it in {} (see \"Configuring a sender\" in the README); the clinic only chooses one of those by name ({})",
                        self.senders_file().display(),
                        crate::senders::SENDER_NAME_KEY
                    )))
                }
                other => match check_payment_setting(other, value)? {
                    Some(clean) => clean,
                    None => {
                        let known: Vec<&str> = EDITABLE.iter().map(|(k, _)| *k).collect();
                        return Err(Error::invalid(format!("there is no setting {other:?}; known settings: {}", known.join(", "))));
                    }
                },
            };
            let now = self.now();
            self.in_write("settings", |tx| {
                if key == payment_keys::CURRENCY
                    && crate::storage::payments::has_other_currency(tx, &clean)?
                {
                    return Err(Error::invalid(
                        "the ledger already holds amounts in another currency; the currency cannot change once money is recorded",
                    ));
                }
                if store::get(tx, key)?.as_deref() != Some(clean.as_str()) {
                    store::set(tx, key, &clean)?;
                    audit(tx, now, actor, "setting.change", "setting", None, key)?;
                }
                Ok(())
            })?;
        }
        self.list_settings(actor)?
            .into_iter()
            .find(|s| s.key == key)
            .ok_or(Error::NotFound("setting"))
    }

    /// The backup folder and retention in effect.
    pub fn backup_settings(&self, actor: &Actor) -> Result<BackupSettings> {
        actor.require(Action::ManageBackups)?;
        self.in_read(|c| {
            Ok(BackupSettings {
                folder: self.backup_folder(c).display().to_string(),
                retention: retention(c),
            })
        })
    }
}
