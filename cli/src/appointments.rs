//! Booking, rescheduling and status changes.

use clap::{Args, Subcommand};
use frontdesk::domain::clinic::{day_bounds, format_local, parse_date};
use frontdesk::AppointmentFilter;
use frontdesk::{Appointment, AppointmentStatus, BookRequest, Error};

use crate::Ctx;

#[derive(Args)]
pub struct BookArgs {
    #[arg(long)]
    slot: i64,
    #[arg(long)]
    patient: i64,
    #[arg(long, default_value = "")]
    reason: String,
    /// Book a recurring series: this slot, then every N weeks at the same time
    #[arg(long, value_name = "N")]
    every_weeks: Option<u32>,
    /// Number of occurrences in the series (the first included)
    #[arg(long, requires = "every_weeks", conflicts_with = "until")]
    count: Option<u32>,
    /// Or: occurrences up to this date (YYYY-MM-DD)
    #[arg(long, requires = "every_weeks")]
    until: Option<String>,
    /// Book the free occurrences and list the others (default: all or nothing)
    #[arg(long, requires = "every_weeks")]
    partial: bool,
    #[command(flatten)]
    pay: crate::payments::PayArgs,
}

#[derive(Args)]
pub struct RescheduleArgs {
    #[arg(long)]
    appointment: i64,
    /// The new slot
    #[arg(long)]
    slot: i64,
    /// The version you saw (default: the current one)
    #[arg(long)]
    version: Option<i64>,
}

#[derive(Subcommand)]
pub enum AppointmentCmd {
    /// Change an appointment's status (on the version you saw)
    Status {
        #[arg(long)]
        id: i64,
        /// CONFIRMED, ARRIVED, COMPLETED, CANCELLED or NO_SHOW
        #[arg(long)]
        to: String,
        #[arg(long)]
        version: i64,
        /// Reason (required for CANCELLED) or note
        #[arg(long, default_value = "")]
        note: String,
    },
    /// List appointments
    List {
        /// Clinic-local date YYYY-MM-DD
        #[arg(long)]
        day: Option<String>,
        #[arg(long)]
        doctor: Option<i64>,
        #[arg(long)]
        status: Option<String>,
    },
    /// Show one appointment with its history
    Show { id: i64 },
}

fn line(a: &Appointment, tz: chrono_tz::Tz) -> String {
    format!(
        "#{:<6} {}  {:<22} {:<26} {:<10} v{}{}\n",
        a.id,
        format_local(a.start_at, tz),
        a.doctor_name,
        a.patient_name,
        a.status,
        a.version,
        if a.overbooked { " overbooked" } else { "" }
    )
}

pub fn book(ctx: &Ctx, a: BookArgs) -> Result<(), Error> {
    if let Some(every_weeks) = a.every_weeks {
        let series = crate::scheduling::SeriesArgs {
            slot: a.slot,
            patient: a.patient,
            reason: a.reason,
            every_weeks,
            count: a.count,
            until: a.until,
            partial: a.partial,
        };
        return crate::scheduling::book_series(ctx, series);
    }
    let payment = crate::payments::booking_payment(ctx, &a.pay)?;
    let booked = ctx.desk.pay_and_book(
        &ctx.actor,
        &BookRequest {
            slot_id: a.slot,
            patient_id: a.patient,
            reason: a.reason,
        },
        a.pay.type_id,
        payment.as_ref(),
    )?;
    let tz = ctx.desk.settings()?.tz();
    let appt = &booked.appointment;
    let acc = &booked.account;
    ctx.out.print(
        &serde_json::json!({ "appointment": appt, "account": acc }),
        || {
            let paid = acc.entries.iter().find(|e| e.receipt.is_some());
            let money = match paid {
                Some(p) => format!(
                    "Paid {} (receipt {}, ledger #{}); still owed {}\n",
                    frontdesk::domain::payments::format_amount(p.amount_minor, &acc.currency),
                    p.receipt.clone().unwrap_or_default(),
                    p.id,
                    frontdesk::domain::payments::format_amount(acc.due, &acc.currency)
                ),
                None if acc.balance.charged > 0 => format!(
                    "Charged {}\n",
                    frontdesk::domain::payments::format_amount(acc.due, &acc.currency)
                ),
                None => String::new(),
            };
            format!("Booked: {}{money}", line(appt, tz))
        },
    );
    Ok(())
}

pub fn reschedule(ctx: &Ctx, a: RescheduleArgs) -> Result<(), Error> {
    let version = match a.version {
        Some(v) => v,
        None => {
            ctx.desk
                .get_appointment(&ctx.actor, a.appointment)?
                .appointment
                .version
        }
    };
    let appt = ctx
        .desk
        .reschedule(&ctx.actor, a.appointment, version, a.slot)?;
    let tz = ctx.desk.settings()?.tz();
    ctx.out
        .print(&serde_json::json!({ "appointment": appt }), || {
            format!("Moved: {}", line(&appt, tz))
        });
    Ok(())
}

pub fn appointment(ctx: &Ctx, cmd: AppointmentCmd) -> Result<(), Error> {
    let tz = ctx.desk.settings()?.tz();
    match cmd {
        AppointmentCmd::Status {
            id,
            to,
            version,
            note,
        } => {
            let to: AppointmentStatus = to.parse()?;
            let appt = ctx.desk.change_status(&ctx.actor, id, version, to, &note)?;
            ctx.out
                .print(&serde_json::json!({ "appointment": appt }), || {
                    format!("Now {}: {}", appt.status, line(&appt, tz))
                });
        }
        AppointmentCmd::List {
            day,
            doctor,
            status,
        } => {
            let (from, to) = match day {
                Some(d) => {
                    let (f, t) = day_bounds(parse_date(&d)?, tz);
                    (Some(f), Some(t))
                }
                None => (None, None),
            };
            let status = status.map(|s| s.parse::<AppointmentStatus>()).transpose()?;
            let list = ctx.desk.list_appointments(
                &ctx.actor,
                &AppointmentFilter {
                    from,
                    to,
                    doctor_id: doctor,
                    status,
                    patient_id: None,
                    limit: Some(10_000),
                },
            )?;
            ctx.out
                .print(&serde_json::json!({ "appointments": list }), || {
                    if list.is_empty() {
                        "No appointments.".into()
                    } else {
                        list.iter().map(|a| line(a, tz)).collect()
                    }
                });
        }
        AppointmentCmd::Show { id } => {
            let d = ctx.desk.get_appointment(&ctx.actor, id)?;
            ctx.out.print(&d, || {
                let mut t = line(&d.appointment, tz);
                t += &format!(
                    "reason: {}\nbooked by {}\n",
                    d.appointment.reason, d.appointment.created_by
                );
                for h in &d.history {
                    t += &format!(
                        "  {}  {} -> {}  by {} {}\n",
                        format_local(h.at, tz),
                        h.from_status
                            .map(|s| s.to_string())
                            .unwrap_or_else(|| "-".into()),
                        h.to_status,
                        h.actor,
                        h.note
                    );
                }
                t
            });
        }
    }
    Ok(())
}
