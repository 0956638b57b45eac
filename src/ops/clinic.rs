use crate::auth::{Action, Actor};
use crate::clinic::{keys, parse_country, parse_time_zone, required_text, ClinicSettings};
use crate::error::{Error, Result};
use crate::ops::audit;
use crate::store::settings;
use crate::Frontdesk;

impl Frontdesk {
    /// Validates and saves the clinic settings (name, time zone, phone country,
    /// idle logoff minutes). The demo flag is kept as it is.
    pub fn update_clinic_settings(
        &self,
        actor: &Actor,
        new: &ClinicSettings,
    ) -> Result<ClinicSettings> {
        actor.require(Action::ManageSettings)?;
        let name = required_text("the clinic name", &new.name, 200)?;
        let tz = parse_time_zone(&new.time_zone)?;
        parse_country(&new.phone_country)?;
        if !(1..=480).contains(&new.idle_minutes) {
            return Err(Error::invalid(
                "idle logoff must be between 1 and 480 minutes",
            ));
        }
        let values = [
            (keys::NAME, name),
            (keys::TIME_ZONE, tz.name().to_string()),
            (
                keys::PHONE_COUNTRY,
                new.phone_country.trim().to_ascii_uppercase(),
            ),
            (keys::IDLE_MINUTES, new.idle_minutes.to_string()),
        ];
        let now = self.now();
        self.write("settings", |tx| {
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
