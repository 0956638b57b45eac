//! `frontdesk audit`: the audit log, newest first, with filters.

use clap::Args;
use frontdesk::domain::clinic::{day_bounds, format_local, parse_date, parse_moment};
use frontdesk::AuditFilter;
use frontdesk::Error;

use crate::Ctx;

#[derive(Args)]
pub struct AuditArgs {
    /// Only events whose actor contains this text
    #[arg(long)]
    actor: Option<String>,
    /// Only events about this kind of record (appointment, patient, staff, otp, …)
    #[arg(long)]
    entity: Option<String>,
    /// Only events about this record id
    #[arg(long)]
    entity_id: Option<i64>,
    /// From this moment (YYYY-MM-DD or YYYY-MM-DD HH:MM clinic time, or RFC 3339)
    #[arg(long)]
    from: Option<String>,
    /// Until this moment, exclusive (a date means the end of that day)
    #[arg(long)]
    to: Option<String>,
    /// At most this many events
    #[arg(long, default_value_t = 100)]
    limit: u32,
}

fn moment(text: &str, tz: chrono_tz::Tz, end_of_day: bool) -> Result<i64, Error> {
    match parse_date(text) {
        Ok(d) => {
            let (start, end) = day_bounds(d, tz);
            Ok(if end_of_day { end } else { start })
        }
        Err(_) => parse_moment(text, tz),
    }
}

pub fn audit(ctx: &Ctx, a: AuditArgs) -> Result<(), Error> {
    let tz = ctx.desk.settings()?.tz();
    let filter = AuditFilter {
        actor: a.actor,
        entity: a.entity,
        entity_id: a.entity_id,
        from: a
            .from
            .as_deref()
            .map(|t| moment(t, tz, false))
            .transpose()?,
        to: a.to.as_deref().map(|t| moment(t, tz, true)).transpose()?,
        limit: Some(a.limit.clamp(1, 10_000)),
    };
    let events = ctx.desk.list_audit(&ctx.actor, &filter)?;
    ctx.out.print(&serde_json::json!({ "events": events }), || {
        if events.is_empty() {
            return "No audit events match.".into();
        }
        events
            .iter()
            .map(|e| {
                let what = match e.entity_id {
                    Some(id) => format!("{} #{id}", e.entity),
                    None => e.entity.clone(),
                };
                format!(
                    "{} {:<28} {:<24} {:<18} {}\n",
                    format_local(e.at, tz),
                    e.actor,
                    e.action,
                    what,
                    e.detail
                )
            })
            .collect()
    });
    Ok(())
}
