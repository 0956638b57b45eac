use crate::domain::auth::{Action, Actor};
use crate::domain::clinic::{
    keys, parse_country, parse_time_zone, required_text, ClinicSettings, ClinicSettingsChange,
};
use crate::error::{Error, Result};
use crate::service::audit;
use crate::storage::settings;
use crate::Frontdesk;

/// Checks and normalises the keys a change sets: (key, stored value) pairs.
fn validated(change: &ClinicSettingsChange) -> Result<Vec<(&'static str, String)>> {
    let mut values = Vec::new();
    if let Some(name) = &change.name {
        values.push((keys::NAME, required_text("the clinic name", name, 200)?));
    }
    if let Some(tz) = &change.time_zone {
        values.push((keys::TIME_ZONE, parse_time_zone(tz)?.name().to_string()));
    }
    if let Some(country) = &change.phone_country {
        parse_country(country)?;
        values.push((keys::PHONE_COUNTRY, country.trim().to_ascii_uppercase()));
    }
    if let Some(minutes) = change.idle_minutes {
        let max = crate::service::session::MAX_IDLE_MINUTES;
        if !(1..=max).contains(&minutes) {
            return Err(Error::invalid(format!(
                "idle logoff must be between 1 and {max} minutes"
            )));
        }
        values.push((keys::IDLE_MINUTES, minutes.to_string()));
    }
    if let Some(language) = change.language {
        values.push((keys::LANGUAGE, language.code().to_string()));
    }
    Ok(values)
}

impl Frontdesk {
    /// Validates and saves every clinic setting (name, time zone, phone country,
    /// idle logoff minutes) as given, for a caller that chose them all (first-run
    /// set-up). The demo flag is kept as it is. A form that shows settings loaded
    /// earlier saves with [`Frontdesk::change_clinic_settings`] and
    /// [`ClinicSettingsChange::between`] instead, so it does not put back values
    /// another desk changed since.
    pub fn update_clinic_settings(
        &self,
        actor: &Actor,
        new: &ClinicSettings,
    ) -> Result<ClinicSettings> {
        self.change_clinic_settings(actor, &ClinicSettingsChange::all(new))
    }

    /// Validates and saves the clinic settings a change names; the others are left
    /// as they are in the database. Each named key is compared with its value read
    /// inside the write transaction and written (and audited) only when it differs.
    /// Returns the settings after the change.
    pub fn change_clinic_settings(
        &self,
        actor: &Actor,
        change: &ClinicSettingsChange,
    ) -> Result<ClinicSettings> {
        actor.require(Action::ManageSettings)?;
        let values = validated(change)?;
        if values.is_empty() {
            return self.settings();
        }
        let now = self.now();
        self.in_write("settings", |tx| {
            for (k, v) in &values {
                if settings::get(tx, k)?.as_deref() != Some(v.as_str()) {
                    settings::set(tx, k, v)?;
                    audit(tx, now, actor, "setting.change", "setting", None, k)?;
                }
            }
            ClinicSettings::load(tx)
        })
    }
}
