//! `frontdesk report --from --to --by week|month`: bookings, cancellations, late
//! cancellations, no-shows and utilisation per doctor, as a table or JSON.

use clap::{Args, ValueEnum};
use frontdesk::domain::clinic::parse_date;
use frontdesk::domain::payments::format_amount;
use frontdesk::{Error, ReportPeriod};

use crate::Ctx;

#[derive(Args)]
pub struct ReportArgs {
    /// First day, YYYY-MM-DD (clinic time)
    #[arg(long)]
    from: String,
    /// Last day, YYYY-MM-DD (clinic time)
    #[arg(long)]
    to: String,
    /// Group by week or month
    #[arg(long, value_enum, default_value_t = By::Week)]
    by: By,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum By {
    Week,
    Month,
}

pub fn report(ctx: &Ctx, a: ReportArgs) -> Result<(), Error> {
    let period = match a.by {
        By::Week => ReportPeriod::Week,
        By::Month => ReportPeriod::Month,
    };
    let r = ctx
        .desk
        .report(&ctx.actor, parse_date(&a.from)?, parse_date(&a.to)?, period)?;
    ctx.out.print(&r, || {
        let mut t = format!(
            "{:<9} {:<24} {:>8} {:>9} {:>5} {:>8} {:>6} {:>6} {:>6} {:>14} {:>14}\n",
            "period",
            "doctor",
            "bookings",
            "cancelled",
            "late",
            "no-shows",
            "slots",
            "booked",
            "used",
            "charged",
            "paid"
        );
        for row in &r.rows {
            t += &format!(
                "{:<9} {:<24} {:>8} {:>9} {:>5} {:>8} {:>6} {:>6} {:>5.0}% {:>14} {:>14}\n",
                row.period,
                row.doctor_name,
                row.bookings,
                row.cancellations,
                row.late_cancellations,
                row.no_shows,
                row.open_slots,
                row.booked_slots,
                row.utilisation * 100.0,
                format_amount(row.charged_minor, &r.currency),
                format_amount(row.paid_minor, &r.currency)
            );
        }
        if r.rows.is_empty() {
            t += "No slots or appointments in that range.\n";
        }
        t
    });
    Ok(())
}
