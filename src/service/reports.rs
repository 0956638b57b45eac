//! Reports for admins: per doctor and per week or month (clinic-local), how many
//! appointments were booked, cancelled, cancelled late, missed, and how full the
//! doctor's unblocked slots were.
//!
//! An appointment counts in the period its slot starts in. A cancellation is late
//! when it was made less than [`LATE_CANCELLATION_SECS`] before the slot started
//! (the same rule as the patient-level count in `scheduling`). Utilisation is
//! booked slots / unblocked slots, where a booked slot has a live (not cancelled)
//! appointment — a no-show still used the slot.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::domain::auth::{Action, Actor};
use crate::domain::clinic::{day_bounds, ClinicSettings};
use crate::domain::scheduling::LATE_CANCELLATION_SECS;
use crate::error::{Error, Result};
use crate::storage::reports;
use crate::Frontdesk;

/// How a report groups time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub enum ReportPeriod {
    /// ISO weeks, Monday to Sunday.
    Week,
    /// Calendar months.
    Month,
}

/// One doctor in one period.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct ReportRow {
    /// `2030-W02` or `2030-01`.
    pub period: String,
    /// First day of the period, `YYYY-MM-DD`.
    pub period_start: String,
    /// Doctor id.
    #[ts(type = "number")]
    pub doctor_id: i64,
    /// Doctor's name.
    pub doctor_name: String,
    /// Appointments whose slot starts in the period, whatever became of them.
    pub bookings: u32,
    /// Of those, cancelled.
    pub cancellations: u32,
    /// Of the cancelled, cancelled less than 24 hours before the start.
    pub late_cancellations: u32,
    /// Of those, marked as no-show.
    pub no_shows: u32,
    /// Unblocked slots in the period.
    pub open_slots: u32,
    /// Unblocked slots with a live appointment.
    pub booked_slots: u32,
    /// `booked_slots / open_slots` (0 when there were no slots).
    pub utilisation: f64,
    /// Charged for those appointments, less charges waived (minor units).
    #[ts(type = "number")]
    pub charged_minor: i64,
    /// Paid for them, less refunds (minor units).
    #[ts(type = "number")]
    pub paid_minor: i64,
}

/// A report over a date range.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct Report {
    /// First day (clinic-local, inclusive).
    pub from: String,
    /// Last day (clinic-local, inclusive).
    pub to: String,
    /// Grouping.
    pub period: ReportPeriod,
    /// The clinic's time zone the days are in.
    pub time_zone: String,
    /// By period, then doctor name.
    pub rows: Vec<ReportRow>,
    /// The currency of the money columns.
    pub currency: String,
}

type Rows = BTreeMap<(NaiveDate, String, i64), ReportRow>;

/// The row of `doctor` in the period `(first day, label)`, created empty.
fn entry<'a>(
    rows: &'a mut Rows,
    (first, label): (NaiveDate, String),
    doctor_id: i64,
    name: &str,
) -> &'a mut ReportRow {
    rows.entry((first, name.to_string(), doctor_id))
        .or_insert_with(|| ReportRow {
            period: label,
            period_start: first.format("%Y-%m-%d").to_string(),
            doctor_id,
            doctor_name: name.to_string(),
            bookings: 0,
            cancellations: 0,
            late_cancellations: 0,
            no_shows: 0,
            open_slots: 0,
            booked_slots: 0,
            utilisation: 0.0,
            charged_minor: 0,
            paid_minor: 0,
        })
}

fn period_of(date: NaiveDate, period: ReportPeriod) -> (NaiveDate, String) {
    match period {
        ReportPeriod::Week => {
            let w = date.iso_week();
            let monday = NaiveDate::from_isoywd_opt(w.year(), w.week(), chrono::Weekday::Mon)
                .unwrap_or(date);
            (monday, format!("{}-W{:02}", w.year(), w.week()))
        }
        ReportPeriod::Month => {
            let first = date.with_day(1).unwrap_or(date);
            (first, first.format("%Y-%m").to_string())
        }
    }
}

/// The clinic-local `[from, to]` days as UTC bounds; refuses a reversed or
/// over-long range.
pub(crate) fn range_bounds(
    from: NaiveDate,
    to: NaiveDate,
    tz: chrono_tz::Tz,
) -> Result<(i64, i64)> {
    if to < from {
        return Err(Error::invalid("the range ends before it starts"));
    }
    if (to - from).num_days() > 10 * 366 {
        return Err(Error::invalid("choose a range of at most ten years"));
    }
    Ok((day_bounds(from, tz).0, day_bounds(to, tz).1))
}

impl Frontdesk {
    /// Bookings, cancellations, late cancellations, no-shows and utilisation per
    /// doctor per week or month, for the clinic-local days `from..=to`.
    pub fn report(
        &self,
        actor: &Actor,
        from: NaiveDate,
        to: NaiveDate,
        period: ReportPeriod,
    ) -> Result<Report> {
        actor.require(Action::ViewReports)?;
        self.in_read(|c| {
            let settings = ClinicSettings::load(c)?;
            let tz = settings.tz();
            let (start, end) = range_bounds(from, to, tz)?;
            let key = |at: i64| {
                let date = DateTime::from_timestamp(at, 0)
                    .unwrap_or_default()
                    .with_timezone(&tz)
                    .date_naive();
                period_of(date, period)
            };
            let mut rows: Rows = BTreeMap::new();
            reports::slot_usage(c, start, end, |doctor, name, at, blocked, booked| {
                let r = entry(&mut rows, key(at), doctor, name);
                if !blocked {
                    r.open_slots += 1;
                    r.booked_slots += booked as u32;
                }
            })?;
            reports::appointment_outcomes(
                c,
                start,
                end,
                |doctor, name, at, status, cancelled_at, money| {
                    let r = entry(&mut rows, key(at), doctor, name);
                    r.bookings += 1;
                    r.charged_minor += money.charged - money.waived;
                    r.paid_minor += money.net_paid();
                    match status {
                        "CANCELLED" => {
                            r.cancellations += 1;
                            if cancelled_at.is_some_and(|t| t > at - LATE_CANCELLATION_SECS) {
                                r.late_cancellations += 1;
                            }
                        }
                        "NO_SHOW" => r.no_shows += 1,
                        _ => {}
                    }
                },
            )?;
            let rows = rows
                .into_values()
                .map(|mut r| {
                    if r.open_slots > 0 {
                        r.utilisation = r.booked_slots as f64 / r.open_slots as f64;
                    }
                    r
                })
                .collect();
            Ok(Report {
                from: from.format("%Y-%m-%d").to_string(),
                to: to.format("%Y-%m-%d").to_string(),
                period,
                time_zone: settings.time_zone,
                rows,
                currency: crate::service::PaymentSettings::load(c)?.currency,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        let d = NaiveDate::from_ymd_opt(2030, 1, 10).unwrap(); // a Thursday
        assert_eq!(
            period_of(d, ReportPeriod::Week),
            (
                NaiveDate::from_ymd_opt(2030, 1, 7).unwrap(),
                "2030-W02".into()
            )
        );
        assert_eq!(
            period_of(d, ReportPeriod::Month),
            (
                NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(),
                "2030-01".into()
            )
        );
    }
}
