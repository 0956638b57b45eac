//! Doctors and slots.

use clap::Subcommand;
use frontdesk::domain::clinic::{day_bounds, format_local, parse_date, parse_moment, today};
use frontdesk::SlotFilter;
use frontdesk::{Error, SlotMode};

use crate::Ctx;

#[derive(Subcommand)]
pub enum DoctorCmd {
    /// Add a doctor
    Add {
        /// Full name
        name: String,
        /// Specialty, e.g. "General practice"
        #[arg(long, default_value = "")]
        specialty: String,
    },
    /// List doctors
    List {
        /// Include inactive doctors
        #[arg(long)]
        all: bool,
    },
    /// Deactivate a doctor (keeps the history; no new bookings)
    Deactivate {
        /// Doctor id
        id: i64,
    },
}

#[derive(Subcommand)]
pub enum SlotCmd {
    /// Add one slot (times in clinic time, "YYYY-MM-DD HH:MM", or RFC 3339 with offset)
    Add {
        #[arg(long)]
        doctor: i64,
        #[arg(long)]
        start: String,
        /// End time; or give --minutes
        #[arg(long, conflicts_with = "minutes")]
        end: Option<String>,
        /// Length in minutes
        #[arg(long)]
        minutes: Option<i64>,
        /// IN_PERSON, VIDEO or PHONE
        #[arg(long, default_value = "IN_PERSON")]
        mode: String,
    },
    /// List slots of one day
    List {
        /// Clinic-local date YYYY-MM-DD (default today)
        #[arg(long)]
        day: Option<String>,
        #[arg(long)]
        doctor: Option<i64>,
        /// Only free slots
        #[arg(long)]
        free: bool,
    },
    /// Block a slot so nobody can book it (or --unblock)
    Block {
        /// Slot id
        id: i64,
        #[arg(long)]
        unblock: bool,
    },
}

pub fn doctor(ctx: &Ctx, cmd: DoctorCmd) -> Result<(), Error> {
    match cmd {
        DoctorCmd::Add { name, specialty } => {
            let d = ctx.desk.add_doctor(&ctx.actor, &name, &specialty)?;
            ctx.out.print(&serde_json::json!({ "doctor": d }), || {
                format!("Added doctor #{} {}", d.id, d.name)
            });
        }
        DoctorCmd::List { all } => {
            let ds = ctx.desk.list_doctors(&ctx.actor, all)?;
            ctx.out.print(&serde_json::json!({ "doctors": ds }), || {
                ds.iter()
                    .map(|d| {
                        format!(
                            "#{:<4} {:<28} {:<24}{}\n",
                            d.id,
                            d.name,
                            d.specialty,
                            if d.active { "" } else { " (inactive)" }
                        )
                    })
                    .collect()
            });
        }
        DoctorCmd::Deactivate { id } => {
            let d = ctx.desk.deactivate_doctor(&ctx.actor, id)?;
            ctx.out.print(&serde_json::json!({ "doctor": d }), || {
                format!("Doctor #{} {} is inactive", d.id, d.name)
            });
        }
    }
    Ok(())
}

pub fn slot(ctx: &Ctx, cmd: SlotCmd) -> Result<(), Error> {
    let tz = ctx.desk.settings()?.tz();
    match cmd {
        SlotCmd::Add {
            doctor,
            start,
            end,
            minutes,
            mode,
        } => {
            let start_at = parse_moment(&start, tz)?;
            let end_at = match (end, minutes) {
                (Some(e), _) => parse_moment(&e, tz)?,
                (None, Some(m)) if (1..=1440).contains(&m) => start_at + m * 60,
                (None, Some(_)) => {
                    return Err(Error::invalid("--minutes must be between 1 and 1440"))
                }
                (None, None) => return Err(Error::invalid("give --end or --minutes")),
            };
            let mode: SlotMode = mode.parse()?;
            let s = ctx
                .desk
                .add_slot(&ctx.actor, doctor, start_at, end_at, mode)?;
            ctx.out.print(&serde_json::json!({ "slot": s }), || {
                format!(
                    "Added slot #{} for doctor #{} at {}",
                    s.id,
                    s.doctor_id,
                    format_local(s.start_at, tz)
                )
            });
        }
        SlotCmd::List { day, doctor, free } => {
            let date = match day {
                Some(d) => parse_date(&d)?,
                None => today(ctx.desk.now(), tz),
            };
            let (from, to) = day_bounds(date, tz);
            let views = ctx.desk.list_slots(
                &ctx.actor,
                &SlotFilter {
                    from,
                    to,
                    doctor_id: doctor,
                    free_only: free,
                },
            )?;
            ctx.out.print(
                &serde_json::json!({ "date": date.to_string(), "slots": views }),
                || {
                    if views.is_empty() {
                        return format!("No slots on {date}.");
                    }
                    views
                        .iter()
                        .map(|v| {
                            let state = if v.slot.blocked {
                                "blocked".to_string()
                            } else if let Some(a) = v.appointments.first() {
                                format!("{} — {} (appointment #{})", a.status, a.patient_name, a.id)
                            } else {
                                "free".to_string()
                            };
                            format!(
                                "#{:<6} doctor #{:<3} {} – {}  {}\n",
                                v.slot.id,
                                v.slot.doctor_id,
                                format_local(v.slot.start_at, tz),
                                &format_local(v.slot.end_at, tz)[11..],
                                state
                            )
                        })
                        .collect()
                },
            );
        }
        SlotCmd::Block { id, unblock } => {
            let s = ctx.desk.set_slot_blocked(&ctx.actor, id, !unblock)?;
            ctx.out.print(&serde_json::json!({ "slot": s }), || {
                format!(
                    "Slot #{} is {}",
                    s.id,
                    if s.blocked { "blocked" } else { "open" }
                )
            });
        }
    }
    Ok(())
}
