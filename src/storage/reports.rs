//! Read-only queries for exports and reports, in SQL both backends speak. They
//! hand rows to a callback one at a time (streamed from the file, so a year of
//! appointments is never held in memory at once there).

use crate::storage::sql::Cols;
use crate::storage::Conn;

use crate::domain::payments::Balance;

/// One appointment as exported.
pub struct ExportAppointment {
    /// Appointment id.
    pub id: i64,
    /// Slot start (UTC seconds).
    pub start_at: i64,
    /// Doctor's name.
    pub doctor: String,
    /// Patient's name.
    pub patient: String,
    /// Patient's phone (E.164).
    pub phone: String,
    /// Status (`CONFIRMED`…).
    pub status: String,
    /// Reason for the visit.
    pub reason: String,
    /// An admin's squeeze-in.
    pub overbooked: bool,
    /// Who booked it.
    pub booked_by: String,
    /// Its money so far (minor units).
    pub balance: Balance,
}

/// Appointments whose slot starts in `[from, to)`, by start time, then doctor.
pub fn appointments_between(
    conn: &Conn,
    from: i64,
    to: i64,
    mut each: impl FnMut(ExportAppointment) -> crate::Result<()>,
) -> crate::Result<()> {
    conn.each(
        &format!(
            "SELECT s.start_at, d.name, p.name, p.phone, a.status, a.reason, a.overbooked, a.created_by, a.id,
                    {BALANCE}
             FROM appointment a
             JOIN slot s ON s.id = a.slot_id
             JOIN doctor d ON d.id = a.doctor_id
             JOIN patient p ON p.id = a.patient_id
             LEFT JOIN ledger l ON l.appointment_id = a.id
             WHERE s.start_at >= ?1 AND s.start_at < ?2
             GROUP BY a.id, s.start_at, d.name, p.name, p.phone
             ORDER BY s.start_at, d.name, a.id"
        ),
        &[&from, &to],
        |r| {
            each(ExportAppointment {
                start_at: r.get(0)?,
                doctor: r.get(1)?,
                patient: r.get(2)?,
                phone: r.get(3)?,
                status: r.get(4)?,
                reason: r.get(5)?,
                overbooked: r.get(6)?,
                booked_by: r.get(7)?,
                id: r.get(8)?,
                balance: balance_at(r, 9)?,
            })
        },
    )
}

/// One patient as exported.
pub struct ExportPatient {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Phone (E.164).
    pub phone: String,
    /// When the phone was verified.
    pub phone_verified_at: Option<i64>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// Free-text notes.
    pub notes: String,
    /// When registered.
    pub created_at: i64,
}

/// Every patient, by name.
pub fn patients(
    conn: &Conn,
    mut each: impl FnMut(ExportPatient) -> crate::Result<()>,
) -> crate::Result<()> {
    conn.each(
        "SELECT id, name, phone, phone_verified_at, date_of_birth, notes, created_at FROM patient ORDER BY name, id",
        &[],
        |r| {
            each(ExportPatient {
                id: r.get(0)?,
                name: r.get(1)?,
                phone: r.get(2)?,
                phone_verified_at: r.get(3)?,
                date_of_birth: r.get(4)?,
                notes: r.get(5)?,
                created_at: r.get(6)?,
            })
        },
    )
}

/// A slot for utilisation: (doctor id, doctor name, start, blocked, has a live
/// appointment).
pub fn slot_usage(
    conn: &Conn,
    from: i64,
    to: i64,
    mut each: impl FnMut(i64, &str, i64, bool, bool),
) -> crate::Result<()> {
    conn.each(
        "SELECT s.doctor_id, d.name, s.start_at, s.blocked,
                EXISTS (SELECT 1 FROM appointment a WHERE a.slot_id = s.id AND a.status <> 'CANCELLED')
         FROM slot s JOIN doctor d ON d.id = s.doctor_id
         WHERE s.start_at >= ?1 AND s.start_at < ?2",
        &[&from, &to],
        |r| {
            let name: String = r.get(1)?;
            each(r.get(0)?, &name, r.get(2)?, r.get(3)?, r.get(4)?);
            Ok(())
        },
    )
}

/// An appointment for the outcome counts: (doctor id, doctor name, slot start,
/// status, when it was cancelled if it was, its money).
pub fn appointment_outcomes(
    conn: &Conn,
    from: i64,
    to: i64,
    mut each: impl FnMut(i64, &str, i64, &str, Option<i64>, Balance),
) -> crate::Result<()> {
    conn.each(
        &format!(
            "SELECT a.doctor_id, d.name, s.start_at, a.status,
                    CASE WHEN a.status = 'CANCELLED' THEN
                      (SELECT max(h.at) FROM appointment_status_history h
                        WHERE h.appointment_id = a.id AND h.to_status = 'CANCELLED') END,
                    {BALANCE}
             FROM appointment a JOIN slot s ON s.id = a.slot_id JOIN doctor d ON d.id = a.doctor_id
             LEFT JOIN ledger l ON l.appointment_id = a.id
             WHERE s.start_at >= ?1 AND s.start_at < ?2
             GROUP BY a.id, d.name, s.start_at"
        ),
        &[&from, &to],
        |r| {
            let name: String = r.get(1)?;
            let status: String = r.get(3)?;
            each(
                r.get(0)?,
                &name,
                r.get(2)?,
                &status,
                r.get(4)?,
                balance_at(r, 5)?,
            );
            Ok(())
        },
    )
}

/// An appointment's four ledger sums (charged, waived, paid, refunded), as
/// integers on both backends (the server's `sum` of BIGINTs is a NUMERIC).
const BALANCE: &str =
    "CAST(coalesce(sum(CASE l.kind WHEN 'CHARGE' THEN l.amount_minor END), 0) AS BIGINT),
     CAST(coalesce(sum(CASE l.kind WHEN 'WAIVE' THEN l.amount_minor END), 0) AS BIGINT),
     CAST(coalesce(sum(CASE l.kind WHEN 'PAYMENT' THEN l.amount_minor END), 0) AS BIGINT),
     CAST(coalesce(sum(CASE l.kind WHEN 'REFUND' THEN l.amount_minor END), 0) AS BIGINT)";

/// The four ledger sums a query selected from column `i` on ([`BALANCE`]).
fn balance_at(r: &Cols<'_>, i: usize) -> rusqlite::Result<Balance> {
    let sum = |k: usize| r.get::<i64>(i + k);
    Ok(Balance {
        charged: sum(0)?,
        waived: sum(1)?,
        paid: sum(2)?,
        refunded: sum(3)?,
    })
}
