//! Clinic set-up, the demo, checks and metrics.

use clap::Args;
use frontdesk::domain::clinic::ClinicSettingsChange;
use frontdesk::{ClinicSettings, Error};

use crate::Ctx;

#[derive(Args)]
pub struct InitArgs {
    /// Clinic name
    #[arg(long)]
    name: Option<String>,
    /// IANA time zone, e.g. Europe/Berlin
    #[arg(long)]
    time_zone: Option<String>,
    /// Two-letter country for phone numbers typed without +, e.g. DE
    #[arg(long)]
    country: Option<String>,
    /// Username of the first admin (only for a clinic without staff); the password
    /// comes from FRONTDESK_NEW_PASSWORD or standard input
    #[arg(long)]
    admin_username: Option<String>,
    /// Display name of the first admin (default: the username)
    #[arg(long)]
    admin_name: Option<String>,
}

pub fn init(ctx: &Ctx, a: InitArgs) -> Result<(), Error> {
    // only the options given are written: an option left out keeps the value in
    // the database, even one another desk set a moment ago
    let change = ClinicSettingsChange {
        name: a.name,
        time_zone: a.time_zone,
        phone_country: a.country,
        idle_minutes: None,
        language: None,
    };
    let s: ClinicSettings = ctx.desk.change_clinic_settings(&ctx.actor, &change)?;
    let admin = match a.admin_username {
        Some(_) if !ctx.desk.needs_first_admin()? => {
            return Err(Error::invalid(
                "this clinic already has staff accounts; add more with `frontdesk staff add`",
            ));
        }
        Some(u) => {
            let password = crate::signin::new_password("Password for the first admin")?;
            Some(ctx.desk.create_first_admin(
                &u,
                a.admin_name.as_deref().unwrap_or(&u),
                &password,
            )?)
        }
        None => None,
    };
    let needs_admin = ctx.desk.needs_first_admin()?;
    // shown once to the first admin, as the app does at first start
    let recovery = match &admin {
        Some(m) if ctx.desk.encryption()?.encrypted => Some(ctx.desk.recovery_key(
            &frontdesk::Actor::staff(m.id, m.display_name.clone(), m.role),
        )?),
        _ => None,
    };
    let value = serde_json::json!({ "settings": s, "db": ctx.desk.path(), "admin": admin, "needs_first_admin": needs_admin, "recovery_key": recovery });
    ctx.out.print(&value, || {
        let mut t = format!(
            "Clinic {:?} ready at {} (time zone {}, phones in {}).",
            s.name,
            ctx.desk.path().display(),
            s.time_zone,
            s.phone_country
        );
        if let Some(m) = &admin {
            t += &format!("\nFirst admin {:?} created.", m.username);
        }
        if let Some(r) = &recovery {
            t += &format!(
                "\nThe database is encrypted (key id {}). Recovery key:\n\n    {}\n\nPrint it and lock it away: with it a backup opens on any computer; without it, nobody can open the data if this computer's key folder is lost. An admin can show it again with `frontdesk recovery-key`.",
                r.key_id, r.recovery_key
            );
        } else if needs_admin {
            t += "\nNo staff account yet: create the first admin with --admin-username NAME.";
        }
        t
    });
    Ok(())
}

pub fn demo(ctx: &Ctx) -> Result<(), Error> {
    let s = ctx.desk.create_demo_clinic(&ctx.actor)?;
    let accounts = ctx.desk.create_demo_staff(&ctx.actor)?;
    ctx.out.print(
        &serde_json::json!({ "demo": s, "db": ctx.desk.path(), "accounts": accounts }),
        || {
            let mut t = format!(
                "Demo clinic created at {}: {} doctors, {} slots, {} patients, {} appointments.",
                ctx.desk.path().display(),
                s.doctors,
                s.slots,
                s.patients,
                s.appointments
            );
            t += "\nSign-in accounts (passwords are shown only now):";
            for a in &accounts {
                t += &format!(
                    "\n  {:<6} {:<13} {}",
                    a.username,
                    a.role.as_str(),
                    a.password
                );
            }
            t
        },
    );
    Ok(())
}

pub fn check(ctx: &Ctx) -> Result<(), Error> {
    let report = ctx.desk.check()?;
    ctx.out.print(&report, || {
        report
            .items
            .iter()
            .map(|i| {
                if i.ok {
                    format!("ok    {}\n", i.name)
                } else {
                    format!("FAIL  {}: {}\n", i.name, i.detail)
                }
            })
            .collect()
    });
    if report.ok {
        Ok(())
    } else {
        Err(Error::Internal("the database check failed".into()))
    }
}

pub fn stats(ctx: &Ctx) -> Result<(), Error> {
    let m = ctx.desk.contention_metrics(&ctx.actor)?;
    ctx.out.print(&m, || {
        let mut t = format!(
            "{:<20} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6} {:>6} {:>6} {:>6} {:>6}\n",
            "operation", "count", "wait p50", "wait p99", "wait max", "hold p50", "hold p99", "hold max", "busy", "t/o", "taken", "stale", "rate"
        );
        for o in &m.operations {
            t += &format!(
                "{:<20} {:>7} {:>7}µs {:>7}µs {:>7}µs {:>7}µs {:>7}µs {:>7}µs {:>6} {:>6} {:>6} {:>6} {:>6}\n",
                o.operation,
                o.count,
                o.lock_wait.p50_us,
                o.lock_wait.p99_us,
                o.lock_wait.max_us,
                o.lock_hold.p50_us,
                o.lock_hold.p99_us,
                o.lock_hold.max_us,
                o.busy_retries,
                o.timeouts,
                o.slot_taken,
                o.stale_version,
                o.rate_limited
            );
        }
        t
    });
    Ok(())
}
