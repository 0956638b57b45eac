//! Patients.

use clap::Subcommand;
use frontdesk::{Error, NewPatient, Patient};

use crate::Ctx;

#[derive(Subcommand)]
pub enum PatientCmd {
    /// Register a patient
    Add {
        #[arg(long)]
        name: String,
        /// Mobile number (national numbers use the clinic's country)
        #[arg(long)]
        phone: String,
        /// Date of birth YYYY-MM-DD
        #[arg(long)]
        dob: Option<String>,
        #[arg(long, default_value = "")]
        notes: String,
    },
    /// List patients (first 100 by name)
    List,
    /// Search by name or phone prefix
    Search { text: String },
    /// Show one patient
    Show { id: i64 },
    /// Send this patient no appointment reminders
    OptOut { id: i64 },
    /// Send this patient appointment reminders again
    OptIn { id: i64 },
}

fn line(p: &Patient) -> String {
    format!(
        "#{:<6} {:<30} {:<16} {}\n",
        p.id,
        p.name,
        p.phone,
        if p.phone_verified_at.is_some() {
            "verified"
        } else {
            ""
        }
    )
}

pub fn patient(ctx: &Ctx, cmd: PatientCmd) -> Result<(), Error> {
    match cmd {
        PatientCmd::Add {
            name,
            phone,
            dob,
            notes,
        } => {
            let p = ctx.desk.add_patient(
                &ctx.actor,
                &NewPatient {
                    name,
                    phone,
                    date_of_birth: dob,
                    notes,
                    alert: None,
                },
            )?;
            ctx.out.print(&serde_json::json!({ "patient": p }), || {
                format!("Registered patient #{} {} ({})", p.id, p.name, p.phone)
            });
        }
        PatientCmd::List => {
            let ps = ctx.desk.list_patients(&ctx.actor, 100)?;
            ctx.out.print(&serde_json::json!({ "patients": ps }), || {
                ps.iter().map(line).collect()
            });
        }
        PatientCmd::Search { text } => {
            let ps = ctx.desk.search_patients(&ctx.actor, &text, 50)?;
            ctx.out.print(&serde_json::json!({ "patients": ps }), || {
                if ps.is_empty() {
                    "No patient matches.".into()
                } else {
                    ps.iter().map(line).collect()
                }
            });
        }
        PatientCmd::Show { id } => {
            let p = ctx.desk.get_patient(&ctx.actor, id)?;
            ctx.out.print(&serde_json::json!({ "patient": p }), || {
                format!(
                    "{}born {}\nnotes: {}\nreminders: {}\nversion {}",
                    line(&p),
                    p.date_of_birth.as_deref().unwrap_or("-"),
                    p.notes,
                    if p.reminders_opt_out {
                        "none (opted out)"
                    } else {
                        "yes"
                    },
                    p.version
                )
            });
        }
        PatientCmd::OptOut { id } => reminders_opt_out(ctx, id, true)?,
        PatientCmd::OptIn { id } => reminders_opt_out(ctx, id, false)?,
    }
    Ok(())
}

fn reminders_opt_out(ctx: &Ctx, id: i64, opt_out: bool) -> Result<(), Error> {
    let p = ctx.desk.set_reminders_opt_out(&ctx.actor, id, opt_out)?;
    ctx.out.print(&serde_json::json!({ "patient": p }), || {
        if p.reminders_opt_out {
            format!(
                "Patient #{} {} gets no appointment reminders.",
                p.id, p.name
            )
        } else {
            format!("Patient #{} {} gets appointment reminders.", p.id, p.name)
        }
    });
    Ok(())
}
