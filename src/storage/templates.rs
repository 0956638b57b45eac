//! Weekly schedule templates (with their breaks) and time off.

use crate::storage::Conn;

use crate::domain::planner::{Minute, TemplateSpec, TimeOffSpec};
use crate::domain::scheduling::{Template, TimeOff, TimeRange};

/// Inserts a template and its breaks; returns its id.
pub fn insert(conn: &Conn, t: &TemplateSpec, actor: &str, now: i64) -> rusqlite::Result<i64> {
    let id = conn.value(
        "INSERT INTO schedule_template (doctor_id, weekday, start_minute, end_minute, slot_minutes, mode, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        &[&t.doctor_id, &t.weekday, &t.start, &t.end, &t.slot_minutes, &t.mode.as_str(), &actor, &now],
    )?;
    for (s, e) in &t.breaks {
        conn.run(
            "INSERT INTO schedule_template_break (template_id, start_minute, end_minute) VALUES (?1, ?2, ?3)",
            &[&id, s, e],
        )?;
    }
    Ok(id)
}

/// Deletes a template (its breaks go with it); returns whether it existed.
pub fn delete(conn: &Conn, id: i64) -> rusqlite::Result<bool> {
    Ok(conn.run("DELETE FROM schedule_template WHERE id = ?1", &[&id])? > 0)
}

/// Templates (of one doctor, or all), by doctor, weekday and start, with breaks.
pub fn specs(conn: &Conn, doctor_id: Option<i64>) -> rusqlite::Result<Vec<TemplateSpec>> {
    let mut out = conn.all(
        "SELECT id, doctor_id, weekday, start_minute, end_minute, slot_minutes, mode FROM schedule_template
         WHERE ?1 IS NULL OR doctor_id = ?1 ORDER BY doctor_id, weekday, start_minute, id",
        &[&doctor_id],
        |r| {
            Ok(TemplateSpec {
                id: r.get(0)?,
                doctor_id: r.get(1)?,
                weekday: r.get(2)?,
                start: r.get(3)?,
                end: r.get(4)?,
                slot_minutes: r.get(5)?,
                mode: r.parse(6)?,
                breaks: Vec::new(),
            })
        },
    )?;
    for t in &mut out {
        t.breaks = conn.all(
            "SELECT start_minute, end_minute FROM schedule_template_break WHERE template_id = ?1 ORDER BY start_minute",
            &[&t.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
    }
    Ok(out)
}

/// One template.
pub fn get(conn: &Conn, id: i64) -> rusqlite::Result<Option<TemplateSpec>> {
    let doctor: Option<i64> = conn.opt(
        "SELECT doctor_id FROM schedule_template WHERE id = ?1",
        &[&id],
        |r| r.get(0),
    )?;
    Ok(match doctor {
        Some(d) => specs(conn, Some(d))?.into_iter().find(|t| t.id == id),
        None => None,
    })
}

/// The template as the UI sees it.
pub fn to_template(t: &TemplateSpec) -> Template {
    Template {
        id: t.id,
        doctor_id: t.doctor_id,
        weekday: t.weekday,
        start: crate::domain::scheduling::format_time_of_day(t.start),
        end: crate::domain::scheduling::format_time_of_day(t.end),
        slot_minutes: t.slot_minutes,
        mode: t.mode,
        breaks: t
            .breaks
            .iter()
            .map(|(s, e)| TimeRange::from_minutes(*s, *e))
            .collect(),
    }
}

/// A new time-off row.
pub struct NewTimeOffRow<'a> {
    /// Doctor or the whole clinic.
    pub doctor_id: Option<i64>,
    /// `YYYY-MM-DD`.
    pub from_date: &'a str,
    /// `YYYY-MM-DD`, inclusive.
    pub to_date: &'a str,
    /// Part of each day.
    pub hours: Option<(Minute, Minute)>,
    /// Why.
    pub note: &'a str,
}

/// Inserts time off; returns its id.
pub fn insert_time_off(
    conn: &Conn,
    t: &NewTimeOffRow<'_>,
    actor: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.value(
        "INSERT INTO time_off (doctor_id, from_date, to_date, start_minute, end_minute, note, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        &[&t.doctor_id, &t.from_date, &t.to_date, &t.hours.map(|h| h.0), &t.hours.map(|h| h.1), &t.note, &actor, &now],
    )
}

/// Deletes time off; returns whether it existed.
pub fn delete_time_off(conn: &Conn, id: i64) -> rusqlite::Result<bool> {
    Ok(conn.run("DELETE FROM time_off WHERE id = ?1", &[&id])? > 0)
}

/// Time off touching `[from, to]` (dates as `YYYY-MM-DD`; `None` = unbounded), of one
/// doctor (clinic-wide entries included) or all, by start date.
pub fn list_time_off(
    conn: &Conn,
    from: Option<&str>,
    to: Option<&str>,
    doctor_id: Option<i64>,
) -> rusqlite::Result<Vec<TimeOff>> {
    conn.all(
        "SELECT id, doctor_id, from_date, to_date, start_minute, end_minute, note, created_by FROM time_off
         WHERE (?1 IS NULL OR to_date >= ?1) AND (?2 IS NULL OR from_date <= ?2)
           AND (?3 IS NULL OR doctor_id IS NULL OR doctor_id = ?3)
         ORDER BY from_date, id",
        &[&from, &to, &doctor_id],
        |r| {
        let s: Option<Minute> = r.get(4)?;
        let e: Option<Minute> = r.get(5)?;
        Ok(TimeOff {
            id: r.get(0)?,
            doctor_id: r.get(1)?,
            from_date: r.get(2)?,
            to_date: r.get(3)?,
            hours: s.zip(e).map(|(s, e)| TimeRange::from_minutes(s, e)),
            note: r.get(6)?,
            created_by: r.get(7)?,
        })
        },
    )
}

/// Time off as the planner needs it (rows with unparseable dates cannot exist: the
/// table's CHECKs and the core's parser both guard them; they are skipped if found).
pub fn time_off_specs(conn: &Conn, from: &str, to: &str) -> rusqlite::Result<Vec<TimeOffSpec>> {
    Ok(list_time_off(conn, Some(from), Some(to), None)?
        .into_iter()
        .filter_map(|t| {
            let hours = match &t.hours {
                Some(h) => Some(h.minutes("time off").ok()?),
                None => None,
            };
            Some(TimeOffSpec {
                doctor_id: t.doctor_id,
                from: crate::domain::clinic::parse_date(&t.from_date).ok()?,
                to: crate::domain::clinic::parse_date(&t.to_date).ok()?,
                hours,
            })
        })
        .collect())
}
