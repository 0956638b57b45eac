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

    /// Whether `actor` may disconnect this desk from its clinic server now (see
    /// [`Frontdesk::disconnect_desk`]): an admin's permission, a desk on a server,
    /// started on the address it remembers.
    pub fn may_disconnect_desk(&self, actor: &Actor) -> Result<()> {
        actor.require(Action::ManageSettings)?;
        if !self.on_server() {
            return Err(Error::invalid(
                "this desk works on its own file; it is not connected to a clinic server",
            ));
        }
        let here = self.path().display().to_string();
        let from_env = std::env::var_os(crate::storage::db::DB_ENV).is_some_and(|v| !v.is_empty());
        if from_env || crate::storage::db::remembered_server().as_deref() != Some(here.as_str()) {
            return Err(Error::invalid(
                "this desk was started on the clinic server by FRONTDESK_DB or --db, not by the address it keeps; start it without them",
            ));
        }
        Ok(())
    }

    /// An admin disconnects this desk from its clinic server ("Connect to the
    /// clinic server" undone): this desk forgets the server's address, so it
    /// opens its own file from now on, and the disconnection is audited on the
    /// server (when that fails, the address is kept again). The clinic on the
    /// server and the other desks are untouched. Refused as
    /// [`Frontdesk::may_disconnect_desk`] says.
    pub fn disconnect_desk(&self, actor: &Actor) -> Result<()> {
        self.may_disconnect_desk(actor)?;
        let here = self.path().display().to_string();
        crate::storage::db::forget_server()?;
        let now = self.now();
        let audited = self.in_write("settings", |tx| {
            audit(
                tx,
                now,
                actor,
                "desk.disconnect",
                "setting",
                None,
                "a desk forgot the clinic server's address",
            )
        });
        if let Err(e) = audited {
            crate::storage::db::remember_server(&here)?;
            return Err(e);
        }
        Ok(())
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
