//! Weekly templates and time off: what slot generation reads. Admin work
//! (`ManageSchedule`); changing them changes no slot until slots are generated.

use crate::domain::auth::{Action, Actor};
use crate::domain::clinic::{optional_text, parse_date};
use crate::domain::planner::{overlapping_template, TemplateSpec};
use crate::domain::scheduling::{
    format_time_of_day, weekday_name, NewTemplate, NewTimeOff, Template, TimeOff,
};
use crate::error::{Error, Result};
use crate::service::audit;
use crate::storage::{doctors, templates};
use crate::Frontdesk;

/// Parses and validates a template as typed (not yet its overlap with others).
fn parse_template(t: &NewTemplate) -> Result<TemplateSpec> {
    if !(1..=7).contains(&t.weekday) {
        return Err(Error::invalid(
            "the weekday must be 1 (Monday) to 7 (Sunday)",
        ));
    }
    let (start, end) = crate::domain::scheduling::TimeRange {
        start: t.start.clone(),
        end: t.end.clone(),
    }
    .minutes("the template")?;
    if !(5..=480).contains(&t.slot_minutes) {
        return Err(Error::invalid("slots must be 5 to 480 minutes long"));
    }
    if end - start < t.slot_minutes {
        return Err(Error::invalid(format!(
            "{}–{} is shorter than one {}-minute slot",
            t.start, t.end, t.slot_minutes
        )));
    }
    let mut breaks = Vec::new();
    for b in &t.breaks {
        let (bs, be) = b.minutes("a break")?;
        if bs < start || be > end {
            return Err(Error::invalid(format!(
                "the break {}–{} lies outside {}–{}",
                b.start, b.end, t.start, t.end
            )));
        }
        if breaks.iter().any(|(s, e)| bs < *e && *s < be) {
            return Err(Error::invalid(format!(
                "the break {}–{} overlaps another break",
                b.start, b.end
            )));
        }
        breaks.push((bs, be));
    }
    breaks.sort_unstable();
    Ok(TemplateSpec {
        id: 0,
        doctor_id: t.doctor_id,
        weekday: t.weekday,
        start,
        end,
        slot_minutes: t.slot_minutes,
        mode: t.mode,
        breaks,
    })
}

impl Frontdesk {
    /// Adds a weekly template. Refused when it overlaps another template of the same
    /// doctor on the same weekday.
    pub fn add_template(&self, actor: &Actor, new: &NewTemplate) -> Result<Template> {
        actor.require(Action::ManageSchedule)?;
        let spec = parse_template(new)?;
        let now = self.now();
        let label = actor.label();
        self.in_write("template.add", |tx| {
            doctors::get(tx, spec.doctor_id)?.ok_or(Error::NotFound("doctor"))?;
            let others = templates::specs(tx, Some(spec.doctor_id))?;
            if let Some(o) = overlapping_template(&spec, &others) {
                return Err(Error::invalid(format!(
                    "this overlaps the doctor's {} template {}–{} (#{}); remove that one first or choose other times",
                    weekday_name(o.weekday),
                    format_time_of_day(o.start),
                    format_time_of_day(o.end),
                    o.id
                )));
            }
            let id = templates::insert(tx, &spec, &label, now)?;
            let detail = format!("doctor {} {} {}–{}", spec.doctor_id, weekday_name(spec.weekday), new.start, new.end);
            audit(tx, now, actor, "template.add", "template", Some(id), &detail)?;
            Ok(templates::to_template(&TemplateSpec { id, ..spec.clone() }))
        })
    }

    /// Removes a template. Its slots stay until slots are generated again, which
    /// removes the free future ones and reports the booked ones.
    pub fn remove_template(&self, actor: &Actor, template_id: i64) -> Result<()> {
        actor.require(Action::ManageSchedule)?;
        let now = self.now();
        self.in_write("template.remove", |tx| {
            if !templates::delete(tx, template_id)? {
                return Err(Error::NotFound("template"));
            }
            audit(
                tx,
                now,
                actor,
                "template.remove",
                "template",
                Some(template_id),
                "",
            )
        })
    }

    /// Templates of one doctor or of all, by doctor, weekday and start.
    pub fn list_templates(&self, actor: &Actor, doctor_id: Option<i64>) -> Result<Vec<Template>> {
        actor.require(Action::ViewSchedule)?;
        self.in_read(|c| {
            Ok(templates::specs(c, doctor_id)?
                .iter()
                .map(templates::to_template)
                .collect())
        })
    }

    /// Adds time off for a doctor or (no doctor) the whole clinic: whole days, or
    /// part of each day.
    pub fn add_time_off(&self, actor: &Actor, new: &NewTimeOff) -> Result<TimeOff> {
        actor.require(Action::ManageSchedule)?;
        let (from, to) = (parse_date(&new.from_date)?, parse_date(&new.to_date)?);
        if to < from {
            return Err(Error::invalid(
                "time off must end on or after the day it starts",
            ));
        }
        if (to - from).num_days() > 366 * 2 {
            return Err(Error::invalid("time off can span at most two years"));
        }
        let hours = new
            .hours
            .as_ref()
            .map(|h| h.minutes("the time off"))
            .transpose()?;
        let note = optional_text("the note", &new.note, 500)?;
        let (from, to) = (from.to_string(), to.to_string());
        let now = self.now();
        let label = actor.label();
        self.in_write("timeoff.add", |tx| {
            if let Some(d) = new.doctor_id {
                doctors::get(tx, d)?.ok_or(Error::NotFound("doctor"))?;
            }
            let row = templates::NewTimeOffRow {
                doctor_id: new.doctor_id,
                from_date: &from,
                to_date: &to,
                hours,
                note: &note,
            };
            let id = templates::insert_time_off(tx, &row, &label, now)?;
            let who = new
                .doctor_id
                .map_or("the clinic".to_string(), |d| format!("doctor {d}"));
            audit(
                tx,
                now,
                actor,
                "timeoff.add",
                "time_off",
                Some(id),
                &format!("{who} {from}..{to}"),
            )?;
            templates::list_time_off(tx, Some(&from), Some(&to), new.doctor_id)?
                .into_iter()
                .find(|t| t.id == id)
                .ok_or(Error::NotFound("time off"))
        })
    }

    /// Removes time off (slots are generated for those days again next time).
    pub fn remove_time_off(&self, actor: &Actor, id: i64) -> Result<()> {
        actor.require(Action::ManageSchedule)?;
        let now = self.now();
        self.in_write("timeoff.remove", |tx| {
            if !templates::delete_time_off(tx, id)? {
                return Err(Error::NotFound("time off"));
            }
            audit(tx, now, actor, "timeoff.remove", "time_off", Some(id), "")
        })
    }

    /// Time off touching the dates `from..=to` (`YYYY-MM-DD`, either optional), of
    /// one doctor (with the clinic-wide entries) or of all.
    pub fn list_time_off(
        &self,
        actor: &Actor,
        from: Option<&str>,
        to: Option<&str>,
        doctor_id: Option<i64>,
    ) -> Result<Vec<TimeOff>> {
        actor.require(Action::ViewSchedule)?;
        let from = from.map(parse_date).transpose()?.map(|d| d.to_string());
        let to = to.map(parse_date).transpose()?.map(|d| d.to_string());
        self.in_read(|c| {
            Ok(templates::list_time_off(
                c,
                from.as_deref(),
                to.as_deref(),
                doctor_id,
            )?)
        })
    }
}
