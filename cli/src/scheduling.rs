//! Weekly templates, time off, slot generation, series, overbooking, the waitlist.

use chrono_tz::Tz;
use clap::{Args, Subcommand};
use frontdesk::domain::clinic::{format_local, parse_date};
use frontdesk::domain::scheduling::{parse_weekday, weekday_name};
use frontdesk::{
    Error, GenerationReport, NewTemplate, NewTimeOff, NewWaitlistEntry, SeenAppointment,
    SeriesBooking, SeriesMode, SeriesRequest, SlotChange, SlotMode, TimeRange, WaitlistEntry,
    WaitlistFilter,
};

use crate::Ctx;

/// `HH:MM-HH:MM` into a range (the core validates the times).
fn range(text: &str) -> Result<TimeRange, Error> {
    let (start, end) = text.split_once('-').ok_or_else(|| {
        Error::invalid(format!(
            "{text:?} is not a time range; use HH:MM-HH:MM, e.g. 12:00-13:00"
        ))
    })?;
    Ok(TimeRange {
        start: start.trim().into(),
        end: end.trim().into(),
    })
}

#[derive(Subcommand)]
pub enum TemplateCmd {
    /// Add a weekly template: e.g. --doctor 1 --weekday mon --start 08:00 --end 12:00 --minutes 30
    Add {
        #[arg(long)]
        doctor: i64,
        /// Monday … Sunday (or mon, 1 … 7)
        #[arg(long)]
        weekday: String,
        /// First slot starts at (clinic time, HH:MM)
        #[arg(long)]
        start: String,
        /// Last slot ends by (HH:MM)
        #[arg(long)]
        end: String,
        /// Slot length in minutes
        #[arg(long, default_value_t = 30)]
        minutes: u16,
        /// IN_PERSON, VIDEO or PHONE
        #[arg(long, default_value = "IN_PERSON")]
        mode: String,
        /// A break without slots, HH:MM-HH:MM (repeatable)
        #[arg(long = "break", value_name = "HH:MM-HH:MM")]
        breaks: Vec<String>,
    },
    /// List templates
    List {
        #[arg(long)]
        doctor: Option<i64>,
    },
    /// Remove a template (generate slots again to remove its free future slots)
    Remove {
        /// Template id
        id: i64,
    },
}

#[derive(Subcommand)]
pub enum TimeOffCmd {
    /// Add time off: a doctor's leave, or (without --doctor) a clinic holiday
    Add {
        #[arg(long)]
        doctor: Option<i64>,
        /// First day YYYY-MM-DD
        #[arg(long)]
        from: String,
        /// Last day (default: the first day)
        #[arg(long)]
        to: Option<String>,
        /// Only this part of each day, HH:MM-HH:MM (a half day)
        #[arg(long)]
        hours: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// List time off
    List {
        #[arg(long)]
        doctor: Option<i64>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
    },
    /// Remove time off
    Remove {
        /// Time-off id
        id: i64,
    },
}

#[derive(Subcommand)]
pub enum SlotsCmd {
    /// Generate slots from the templates minus time off (idempotent; never touches booked slots)
    Generate {
        /// First day YYYY-MM-DD (clinic time)
        #[arg(long)]
        from: String,
        /// Last day, inclusive
        #[arg(long)]
        to: String,
        /// Only this doctor
        #[arg(long)]
        doctor: Option<i64>,
        /// Show what would change, change nothing (prints a preview token)
        #[arg(long, conflicts_with = "preview_token")]
        dry_run: bool,
        /// Apply only if nothing changed since the --dry-run that printed this token
        /// (refused as a conflict, exit 1, otherwise)
        #[arg(long)]
        preview_token: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum WaitlistCmd {
    /// Put a patient on the waitlist for a doctor
    Add {
        #[arg(long)]
        patient: i64,
        #[arg(long)]
        doctor: i64,
        /// Earliest acceptable day
        #[arg(long)]
        from: Option<String>,
        /// Latest acceptable day
        #[arg(long)]
        to: Option<String>,
        /// Acceptable time of day, HH:MM-HH:MM
        #[arg(long)]
        hours: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// List the waitlist, oldest first
    List {
        #[arg(long)]
        doctor: Option<i64>,
        #[arg(long)]
        patient: Option<i64>,
        /// Include booked and removed entries
        #[arg(long)]
        all: bool,
    },
    /// Who waits for this (freed) slot, first come first served
    Matches {
        #[arg(long)]
        slot: i64,
    },
    /// Book a waiting patient into a slot and close the entry
    Book {
        #[arg(long)]
        entry: i64,
        #[arg(long)]
        slot: i64,
    },
    /// Take a patient off the waitlist
    Remove {
        /// Entry id
        id: i64,
    },
}

#[derive(Subcommand)]
pub enum SeriesCmd {
    /// Every appointment of a series
    Show {
        /// Series id
        id: i64,
    },
    /// Cancel this appointment and every later one of its series (refused, with
    /// nothing cancelled, if one changed since you saw it)
    CancelRest {
        #[arg(long)]
        appointment: i64,
        #[arg(long)]
        reason: String,
        /// The occurrences as you saw them, ID:VERSION separated by commas (`series
        /// show` lists them), e.g. 12:1,13:2; default: as they are now
        #[arg(long)]
        seen: Option<String>,
    },
}

#[derive(Args)]
pub struct OverbookArgs {
    /// A slot that is already booked
    #[arg(long)]
    slot: i64,
    #[arg(long)]
    patient: i64,
    /// Why the patient is squeezed in (required)
    #[arg(long)]
    reason: String,
}

#[derive(Args)]
pub struct AttendanceArgs {
    #[arg(long)]
    patient: i64,
}

/// The series options of `book`.
pub struct SeriesArgs {
    pub slot: i64,
    pub patient: i64,
    pub reason: String,
    pub every_weeks: u32,
    pub count: Option<u32>,
    pub until: Option<String>,
    pub partial: bool,
}

pub fn template(ctx: &Ctx, cmd: TemplateCmd) -> Result<(), Error> {
    match cmd {
        TemplateCmd::Add {
            doctor,
            weekday,
            start,
            end,
            minutes,
            mode,
            breaks,
        } => {
            let new = NewTemplate {
                doctor_id: doctor,
                weekday: parse_weekday(&weekday)?,
                start,
                end,
                slot_minutes: minutes,
                mode: mode.parse::<SlotMode>()?,
                breaks: breaks.iter().map(|b| range(b)).collect::<Result<_, _>>()?,
            };
            let t = ctx.desk.add_template(&ctx.actor, &new)?;
            ctx.out.print(&serde_json::json!({ "template": t }), || {
                format!(
                    "Added template #{} for doctor #{}: {} {}–{}, {} min",
                    t.id,
                    t.doctor_id,
                    weekday_name(t.weekday),
                    t.start,
                    t.end,
                    t.slot_minutes
                )
            });
        }
        TemplateCmd::List { doctor } => {
            let ts = ctx.desk.list_templates(&ctx.actor, doctor)?;
            ctx.out.print(&serde_json::json!({ "templates": ts }), || {
                if ts.is_empty() {
                    return "No templates.".into();
                }
                ts.iter()
                    .map(|t| {
                        let breaks: Vec<String> = t
                            .breaks
                            .iter()
                            .map(|b| format!("{}–{}", b.start, b.end))
                            .collect();
                        format!(
                            "#{:<4} doctor #{:<3} {:<9} {}–{}  {:>3} min  {}{}\n",
                            t.id,
                            t.doctor_id,
                            weekday_name(t.weekday),
                            t.start,
                            t.end,
                            t.slot_minutes,
                            t.mode.as_str(),
                            if breaks.is_empty() {
                                String::new()
                            } else {
                                format!("  breaks {}", breaks.join(", "))
                            }
                        )
                    })
                    .collect()
            });
        }
        TemplateCmd::Remove { id } => {
            ctx.desk.remove_template(&ctx.actor, id)?;
            ctx.out.print(&serde_json::json!({ "removed": id }), || {
                format!(
                    "Removed template #{id}. Generate slots again to remove its free future slots."
                )
            });
        }
    }
    Ok(())
}

pub fn time_off(ctx: &Ctx, cmd: TimeOffCmd) -> Result<(), Error> {
    match cmd {
        TimeOffCmd::Add {
            doctor,
            from,
            to,
            hours,
            note,
        } => {
            let new = NewTimeOff {
                doctor_id: doctor,
                to_date: to.unwrap_or_else(|| from.clone()),
                from_date: from,
                hours: hours.as_deref().map(range).transpose()?,
                note,
            };
            let t = ctx.desk.add_time_off(&ctx.actor, &new)?;
            ctx.out.print(&serde_json::json!({ "time_off": t }), || {
                format!("Added time off #{}: {}", t.id, describe_time_off(&t))
            });
        }
        TimeOffCmd::List { doctor, from, to } => {
            let list =
                ctx.desk
                    .list_time_off(&ctx.actor, from.as_deref(), to.as_deref(), doctor)?;
            ctx.out.print(&serde_json::json!({ "time_off": list }), || {
                if list.is_empty() {
                    return "No time off.".into();
                }
                list.iter()
                    .map(|t| format!("#{:<4} {}\n", t.id, describe_time_off(t)))
                    .collect()
            });
        }
        TimeOffCmd::Remove { id } => {
            ctx.desk.remove_time_off(&ctx.actor, id)?;
            ctx.out.print(&serde_json::json!({ "removed": id }), || {
                format!("Removed time off #{id}.")
            });
        }
    }
    Ok(())
}

fn describe_time_off(t: &frontdesk::TimeOff) -> String {
    let who = t
        .doctor_id
        .map_or("whole clinic".to_string(), |d| format!("doctor #{d}"));
    let days = if t.from_date == t.to_date {
        t.from_date.clone()
    } else {
        format!("{} … {}", t.from_date, t.to_date)
    };
    let hours = t
        .hours
        .as_ref()
        .map(|h| format!(" {}–{}", h.start, h.end))
        .unwrap_or_default();
    format!("{who:<14} {days}{hours}  {}", t.note)
}

fn change_lines(title: &str, list: &[SlotChange], tz: Tz) -> String {
    if list.is_empty() {
        return String::new();
    }
    let mut t = format!("{title}:\n");
    for s in list.iter().take(20) {
        let id = s
            .slot_id
            .map(|id| format!("slot #{id} "))
            .unwrap_or_default();
        let with = s
            .conflicts_with
            .map(|id| format!(" (overlaps slot #{id})"))
            .unwrap_or_default();
        t += &format!(
            "  {id}doctor #{} {} – {}{with}\n",
            s.doctor_id,
            format_local(s.start_at, tz),
            &format_local(s.end_at, tz)[11..]
        );
    }
    if list.len() > 20 {
        t += &format!("  … and {} more\n", list.len() - 20);
    }
    t
}

fn describe_report(r: &GenerationReport, tz: Tz) -> String {
    let mut t = format!(
        "{} {} … {}: {} created, {} removed, {} blocked (cancelled history), {} booked kept, {} skipped (overlap), {} already there\n",
        if r.dry_run { "Preview (nothing changed)" } else { "Generated" },
        r.from_date,
        r.to_date,
        r.created.len(),
        r.removed.len(),
        r.retired.len(),
        r.kept_booked.len(),
        r.skipped_overlaps.len(),
        r.unchanged
    );
    if r.dry_run {
        t += &format!(
            "To apply exactly this: add --preview-token {}\n",
            r.preview_token
        );
    }
    t += &change_lines(
        "Booked slots no template calls for (kept; move or cancel them by hand)",
        &r.kept_booked,
        tz,
    );
    t += &change_lines(
        "Skipped because they overlap an existing slot",
        &r.skipped_overlaps,
        tz,
    );
    if r.dry_run {
        t += &change_lines("Would remove", &r.removed, tz);
    }
    t
}

pub fn slots(ctx: &Ctx, cmd: SlotsCmd) -> Result<(), Error> {
    let tz = ctx.desk.settings()?.tz();
    match cmd {
        SlotsCmd::Generate {
            from,
            to,
            doctor,
            dry_run,
            preview_token,
        } => {
            let (from, to) = (parse_date(&from)?, parse_date(&to)?);
            let r = match preview_token {
                Some(token) => ctx.desk.generate_slots_as_previewed(
                    &ctx.actor,
                    from,
                    to,
                    doctor,
                    token.trim(),
                )?,
                None => ctx
                    .desk
                    .generate_slots(&ctx.actor, from, to, doctor, dry_run)?,
            };
            ctx.out.print(&r, || describe_report(&r, tz));
        }
    }
    Ok(())
}

fn entry_line(e: &WaitlistEntry) -> String {
    let dates = match (&e.from_date, &e.to_date) {
        (None, None) => "any day".to_string(),
        (f, t) => format!(
            "{} … {}",
            f.as_deref().unwrap_or(""),
            t.as_deref().unwrap_or("")
        ),
    };
    let hours = e
        .hours
        .as_ref()
        .map(|h| format!("{}–{}", h.start, h.end))
        .unwrap_or_else(|| "any time".into());
    format!(
        "#{:<5} {:<24} doctor #{:<3} {dates:<24} {hours:<12} {:?} {}\n",
        e.id, e.patient_name, e.doctor_id, e.status, e.note
    )
}

pub fn waitlist(ctx: &Ctx, cmd: WaitlistCmd) -> Result<(), Error> {
    match cmd {
        WaitlistCmd::Add {
            patient,
            doctor,
            from,
            to,
            hours,
            note,
        } => {
            let new = NewWaitlistEntry {
                patient_id: patient,
                doctor_id: doctor,
                from_date: from,
                to_date: to,
                hours: hours.as_deref().map(range).transpose()?,
                note,
            };
            let e = ctx.desk.waitlist_add(&ctx.actor, &new)?;
            ctx.out.print(&serde_json::json!({ "entry": e }), || {
                format!("On the waitlist: {}", entry_line(&e))
            });
        }
        WaitlistCmd::List {
            doctor,
            patient,
            all,
        } => {
            let list = ctx.desk.waitlist_list(
                &ctx.actor,
                &WaitlistFilter {
                    doctor_id: doctor,
                    patient_id: patient,
                    include_closed: all,
                },
            )?;
            ctx.out.print(&serde_json::json!({ "entries": list }), || {
                if list.is_empty() {
                    "Nobody is waiting.".into()
                } else {
                    list.iter().map(entry_line).collect()
                }
            });
        }
        WaitlistCmd::Matches { slot } => {
            let list = ctx.desk.waitlist_matches_for_slot(&ctx.actor, slot)?;
            ctx.out.print(&serde_json::json!({ "entries": list }), || {
                if list.is_empty() {
                    "Nobody on the waitlist matches this slot.".into()
                } else {
                    list.iter().map(entry_line).collect()
                }
            });
        }
        WaitlistCmd::Book { entry, slot } => {
            let a = ctx.desk.book_from_waitlist(&ctx.actor, entry, slot)?;
            let tz = ctx.desk.settings()?.tz();
            ctx.out.print(&serde_json::json!({ "appointment": a }), || {
                format!(
                    "Booked appointment #{} for {} at {}; waitlist entry #{entry} closed",
                    a.id,
                    a.patient_name,
                    format_local(a.start_at, tz)
                )
            });
        }
        WaitlistCmd::Remove { id } => {
            let e = ctx.desk.waitlist_remove(&ctx.actor, id)?;
            ctx.out.print(&serde_json::json!({ "entry": e }), || {
                format!("Removed from the waitlist: #{}", e.id)
            });
        }
    }
    Ok(())
}

fn series_text(r: &SeriesBooking, tz: Tz) -> String {
    let mut t = format!("Series #{}: {} booked\n", r.series_id, r.booked.len());
    for a in &r.booked {
        t += &format!(
            "  #{:<6} {}  {}\n",
            a.id,
            format_local(a.start_at, tz),
            a.doctor_name
        );
    }
    if !r.skipped.is_empty() {
        t += &format!("{} skipped:\n", r.skipped.len());
        for s in &r.skipped {
            t += &format!("  {}  {}\n", s.when, s.reason);
        }
    }
    t
}

/// `book --every-weeks N (--count K | --until DATE) [--partial]`.
pub fn book_series(ctx: &Ctx, a: SeriesArgs) -> Result<(), Error> {
    let req = SeriesRequest {
        first_slot_id: a.slot,
        patient_id: a.patient,
        every_weeks: a.every_weeks,
        count: a.count,
        until: a.until,
        mode: if a.partial {
            SeriesMode::BookWhatIsFree
        } else {
            SeriesMode::AllOrNothing
        },
        reason: a.reason,
    };
    let r = ctx.desk.book_series(&ctx.actor, &req)?;
    let tz = ctx.desk.settings()?.tz();
    ctx.out.print(&r, || series_text(&r, tz));
    Ok(())
}

pub fn series(ctx: &Ctx, cmd: SeriesCmd) -> Result<(), Error> {
    let tz = ctx.desk.settings()?.tz();
    let lines = |list: &[frontdesk::Appointment]| -> String {
        list.iter()
            .map(|a| {
                format!(
                    "#{:<6} {}  {:<22} {:<10} version {}\n",
                    a.id,
                    format_local(a.start_at, tz),
                    a.patient_name,
                    a.status,
                    a.version
                )
            })
            .collect()
    };
    match cmd {
        SeriesCmd::Show { id } => {
            let list = ctx.desk.list_series(&ctx.actor, id)?;
            ctx.out
                .print(&serde_json::json!({ "appointments": list }), || {
                    lines(&list)
                });
        }
        SeriesCmd::CancelRest {
            appointment,
            reason,
            seen,
        } => {
            let seen = match seen {
                Some(text) => parse_seen(&text)?,
                None => ctx
                    .desk
                    .series_rest(&ctx.actor, appointment)?
                    .iter()
                    .map(SeenAppointment::of)
                    .collect(),
            };
            let list = ctx
                .desk
                .cancel_series_rest(&ctx.actor, appointment, &seen, &reason)?;
            ctx.out
                .print(&serde_json::json!({ "cancelled": list }), || {
                    format!("Cancelled {}:\n{}", list.len(), lines(&list))
                });
        }
    }
    Ok(())
}

/// `12:1,13:2` (appointment id : version) into what the desk saw.
fn parse_seen(text: &str) -> Result<Vec<SeenAppointment>, Error> {
    text.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let bad = || {
                Error::invalid(format!(
                    "{part:?} is not an appointment and its version; use ID:VERSION, e.g. 12:1"
                ))
            };
            let (id, version) = part.split_once(':').ok_or_else(bad)?;
            Ok(SeenAppointment {
                id: id.trim().parse().map_err(|_| bad())?,
                version: version.trim().parse().map_err(|_| bad())?,
            })
        })
        .collect()
}

pub fn overbook(ctx: &Ctx, a: OverbookArgs) -> Result<(), Error> {
    let appt = ctx
        .desk
        .overbook(&ctx.actor, a.slot, a.patient, &a.reason)?;
    let tz = ctx.desk.settings()?.tz();
    ctx.out
        .print(&serde_json::json!({ "appointment": appt }), || {
            format!(
                "Overbooked: appointment #{} for {} at {} (slot #{})",
                appt.id,
                appt.patient_name,
                format_local(appt.start_at, tz),
                appt.slot_id
            )
        });
    Ok(())
}

pub fn attendance(ctx: &Ctx, a: AttendanceArgs) -> Result<(), Error> {
    let r = ctx.desk.patient_attendance(&ctx.actor, a.patient)?;
    ctx.out.print(&r, || {
        format!(
            "Patient #{}: {} late cancellations, {} no-shows",
            a.patient, r.late_cancellations, r.no_shows
        )
    });
    Ok(())
}
