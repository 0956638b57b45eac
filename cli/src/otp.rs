//! Phone passcodes (`otp request|verify|outbox|deliver|sender`) and the
//! settings (`settings get|set`), including which of this PC's senders the
//! clinic uses.

use clap::Subcommand;
use frontdesk::senders::{RETIRED_KEYS, SENDER_NAME_KEY};
use frontdesk::{ClinicSettings, Error, SenderStatus};

use crate::Ctx;

#[derive(Subcommand)]
pub enum OtpCmd {
    /// Send a new 6-digit passcode to a mobile number now (refused without a
    /// sender set up on this PC; exit 3 when the sender did not send it)
    Request {
        /// Mobile number (national numbers use the clinic's country)
        phone: String,
    },
    /// Check a passcode; marks every patient with that phone verified
    Verify { phone: String, code: String },
    /// List recent outbox messages (never their text)
    Outbox {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Erase expired messages and send any a stopped desk left unsent
    Deliver,
    /// Show this PC's senders file, the senders it describes and the one in use
    Sender,
}

#[derive(Subcommand)]
pub enum SettingsCmd {
    /// Show the settings (or one key)
    #[command(alias = "show")]
    Get { key: Option<String> },
    /// Change a setting: clinic.name, clinic.time_zone, clinic.phone_country,
    /// clinic.language (en, de), clinic.phone, session.idle_minutes, backup.*,
    /// reminder.lead (off, 24h, day_before 17:00), reminder.template,
    /// clinic.currency, clinic.address, clinic.tax_number,
    /// payments.late_cancel_hours, payments.late_deposit, or otp.sender_name NAME
    /// (one of the senders this PC's senders file describes; empty for its
    /// default)
    Set {
        key: String,
        #[arg(allow_hyphen_values = true, trailing_var_arg = true, num_args = 0..)]
        value: Vec<String>,
    },
}

fn describe(s: &SenderStatus) -> String {
    let mut text = format!("Senders file: {}\n", s.file);
    if !s.configured.is_empty() {
        text += &format!("Described there: {}\n", s.configured.join(", "));
    }
    text += &format!(
        "Clinic's choice ({SENDER_NAME_KEY}): {}\n",
        s.chosen.as_deref().unwrap_or("(the file's default)")
    );
    match (&s.active, &s.program, &s.problem) {
        (Some(name), Some(program), _) => text += &format!("In use: {name} ({program})\n"),
        (_, _, Some(problem)) => text += &format!("Passcodes cannot be sent: {problem}\n"),
        _ => {}
    }
    text
}

pub fn otp(ctx: &Ctx, cmd: OtpCmd) -> Result<(), Error> {
    match cmd {
        OtpCmd::Request { phone } => {
            let r = ctx.desk.request_otp(&ctx.actor, &phone)?;
            if !r.sent {
                // the request counted, but nothing reached the phone: say so and
                // fail, so a script never takes it for sent
                return Err(Error::Unusable(format!(
                    "the passcode for {} was not sent: {}",
                    r.phone,
                    r.not_sent_reason.as_deref().unwrap_or("the sender failed")
                )));
            }
            ctx.out.print(&serde_json::json!({ "otp": r }), || {
                format!("Passcode sent to {}; it expires in 5 minutes.", r.phone)
            });
        }
        OtpCmd::Verify { phone, code } => {
            let v = ctx.desk.verify_otp(&ctx.actor, &phone, &code)?;
            ctx.out.print(&serde_json::json!({ "verified": v }), || {
                format!(
                    "{} verified ({} patient record(s) marked).",
                    v.phone, v.patients_verified
                )
            });
        }
        OtpCmd::Outbox { limit } => {
            let list = ctx.desk.list_outbox(&ctx.actor, limit)?;
            ctx.out.print(&serde_json::json!({ "outbox": list }), || {
                if list.is_empty() {
                    return "The outbox is empty.".into();
                }
                list.iter()
                    .map(|m| {
                        format!(
                            "#{:<5} {:<8} {:<16} {:<8} attempts {} {}\n",
                            m.id,
                            if m.kind == "REMINDER" {
                                "reminder"
                            } else {
                                "passcode"
                            },
                            m.phone,
                            m.status,
                            m.attempts,
                            m.last_error.as_deref().unwrap_or("")
                        )
                    })
                    .collect()
            });
        }
        OtpCmd::Deliver => {
            let d = ctx.desk.deliver_outbox(&ctx.actor)?;
            ctx.out.print(&serde_json::json!({ "delivery": d }), || {
                let mut text = format!(
                    "{} sent, {} failed, {} expired unsent (erased).",
                    d.sent, d.failed, d.expired
                );
                if d.taken_over > 0 {
                    text += &format!(
                        " {} taken over by another desk while this one was sending them.",
                        d.taken_over
                    );
                }
                if let Some(problem) = &d.problem {
                    text += &format!("\n{problem}");
                }
                text
            });
        }
        OtpCmd::Sender => {
            let s = ctx.desk.otp_sender(&ctx.actor)?;
            ctx.out
                .print(&serde_json::json!({ "sender": s }), || describe(&s));
        }
    }
    Ok(())
}

fn all_settings(ctx: &Ctx) -> Result<serde_json::Value, Error> {
    let (s, sender) = (ctx.desk.settings()?, ctx.desk.otp_sender(&ctx.actor)?);
    let mut all = known_settings(&s, &sender);
    // every other validated key (backup folder and retention) from the core's list
    for setting in ctx
        .desk
        .list_settings(&ctx.actor)?
        .into_iter()
        .filter(|s| s.editable)
    {
        all.entry(setting.key)
            .or_insert(serde_json::Value::String(setting.value));
    }
    Ok(serde_json::Value::Object(all))
}

fn known_settings(
    s: &ClinicSettings,
    sender: &SenderStatus,
) -> serde_json::Map<String, serde_json::Value> {
    let serde_json::Value::Object(map) = serde_json::json!({
        "clinic.name": s.name,
        "clinic.time_zone": s.time_zone,
        "clinic.phone_country": s.phone_country,
        "session.idle_minutes": s.idle_minutes,
        SENDER_NAME_KEY: sender.chosen.clone().unwrap_or_default(),
    }) else {
        unreachable!("a JSON object literal")
    };
    map
}

pub fn settings(ctx: &Ctx, cmd: SettingsCmd) -> Result<(), Error> {
    let (key, value) = match cmd {
        SettingsCmd::Get { key } => {
            let all = all_settings(ctx)?;
            let shown = match key {
                Some(k) => {
                    serde_json::json!({ k.clone(): all.get(&k).ok_or_else(|| Error::invalid(format!("unknown setting {k:?}")))? })
                }
                None => all,
            };
            ctx.out
                .print(&serde_json::json!({ "settings": shown }), || {
                    shown
                        .as_object()
                        .map(|o| o.iter().map(|(k, v)| format!("{k} = {v}\n")).collect())
                        .unwrap_or_default()
                });
            return Ok(());
        }
        SettingsCmd::Set { key, value } => (key, value),
    };
    if value.is_empty() && key != SENDER_NAME_KEY {
        return Err(Error::invalid(format!("give a value for {key}")));
    }
    if RETIRED_KEYS.contains(&key.as_str()) {
        // no program ever comes from the database: say where it is configured
        let s = ctx.desk.otp_sender(&ctx.actor)?;
        return Err(Error::invalid(format!(
            "{key} is no longer a setting: the program that sends passcodes is described in this PC's senders file {} by its administrator (see \"Configuring a sender\" in the README); choose one of those with `frontdesk settings set {SENDER_NAME_KEY} NAME`",
            s.file
        )));
    }
    // the clinic keys, backup.*, otp.sender_name: validated (and unknown keys
    // refused) by the core's setter, which writes only the key named
    ctx.desk.set_setting(&ctx.actor, &key, &value.join(" "))?;
    let all = all_settings(ctx)?;
    let shown = all.get(&key).cloned().unwrap_or_default();
    ctx.out.print(
        &serde_json::json!({ "settings": { key.clone(): shown } }),
        || format!("{key} = {shown}"),
    );
    Ok(())
}
