//! Phone passcodes (`otp request|verify|outbox|deliver`) and the settings the
//! passcode sender needs (`settings get|set`).

use clap::Subcommand;
use frontdesk::{ClinicSettings, Error, OtpSender, SENDER_ARGS_KEY, SENDER_KEY};

use crate::Ctx;

#[derive(Subcommand)]
pub enum OtpCmd {
    /// Send a new 6-digit passcode to a phone (and try to deliver it now)
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
    /// Run the configured sender for queued messages
    Deliver,
}

#[derive(Subcommand)]
pub enum SettingsCmd {
    /// Show the settings (or one key)
    #[command(alias = "show")]
    Get { key: Option<String> },
    /// Change a setting. `otp.sender PROGRAM [ARGS]...` sets the passcode sender
    /// (an empty PROGRAM removes it); `otp.sender_args '["--flag"]'` only its
    /// arguments; also clinic.name, clinic.time_zone, clinic.phone_country,
    /// session.idle_minutes
    Set {
        key: String,
        #[arg(allow_hyphen_values = true, trailing_var_arg = true, num_args = 1..)]
        value: Vec<String>,
    },
}

pub fn otp(ctx: &Ctx, cmd: OtpCmd) -> Result<(), Error> {
    match cmd {
        OtpCmd::Request { phone } => {
            let r = ctx.desk.request_otp(&ctx.actor, &phone)?;
            let d = ctx.desk.deliver_outbox(&ctx.actor)?;
            ctx.out
                .print(&serde_json::json!({ "otp": r, "delivery": d }), || {
                    let state = if !d.sender_configured {
                        "queued (no sender configured: `frontdesk settings set otp.sender PROGRAM`)"
                    } else if d.sent > 0 {
                        "sent"
                    } else {
                        "not sent yet (see `frontdesk otp outbox`)"
                    };
                    format!("Passcode for {} {state}; it expires in 5 minutes.", r.phone)
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
                            "#{:<5} {:<16} {:<8} attempts {} {}\n",
                            m.id,
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
                    "{} sent, {} failed, {} expired unsent.",
                    d.sent, d.failed, d.expired
                );
                if d.taken_over > 0 {
                    text += &format!(
                        " {} taken over by another desk while this one was sending them.",
                        d.taken_over
                    );
                }
                text
            });
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
    sender: &OtpSender,
) -> serde_json::Map<String, serde_json::Value> {
    let serde_json::Value::Object(map) = serde_json::json!({
        "clinic.name": s.name,
        "clinic.time_zone": s.time_zone,
        "clinic.phone_country": s.phone_country,
        "session.idle_minutes": s.idle_minutes,
        SENDER_KEY: sender.program.clone().unwrap_or_default(),
        SENDER_ARGS_KEY: sender.args,
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
    match key.as_str() {
        SENDER_KEY => {
            let mut sender = ctx.desk.otp_sender(&ctx.actor)?;
            let program = value.first().cloned().unwrap_or_default();
            sender.program = Some(program).filter(|p| !p.trim().is_empty());
            sender.args = value.get(1..).map(<[String]>::to_vec).unwrap_or_default();
            ctx.desk.set_otp_sender(&ctx.actor, &sender)?;
        }
        SENDER_ARGS_KEY => {
            // only the arguments: the program stays as stored, not as read here
            let args = frontdesk::parse_sender_args(&value.join(" "))?;
            ctx.desk.set_otp_sender_args(&ctx.actor, &args)?;
        }
        // the clinic keys, backup.folder, backup.keep_daily, backup.keep_weekly:
        // validated (and unknown keys refused) by the core's generic setter, which
        // writes only the key named
        other => {
            ctx.desk.set_setting(&ctx.actor, other, &value.join(" "))?;
        }
    }
    let all = all_settings(ctx)?;
    let shown = all.get(&key).cloned().unwrap_or_default();
    ctx.out.print(
        &serde_json::json!({ "settings": { key.clone(): shown } }),
        || format!("{key} = {shown}"),
    );
    Ok(())
}
