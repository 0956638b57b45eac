//! Appointment types and prices, the append-only ledger, receipt numbers and the
//! till's cash-ups. The ledger and cash-up tables refuse UPDATE and DELETE by
//! trigger; these functions only ever insert and read.

use crate::storage::sql::Cols;
use crate::storage::Conn;

use crate::domain::payments::{
    receipt_number, AppointmentType, Balance, DoctorPrice, LedgerEntry, LedgerKind, PaymentMethod,
};

// ---- appointment types ----

/// Adds a type; its id.
pub fn add_type(
    conn: &Conn,
    name: &str,
    price_minor: i64,
    default_reason: &str,
    actor: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.value(
        "INSERT INTO appointment_type (name, price_minor, default_reason, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        &[&name, &price_minor, &default_reason, &actor, &now],
    )
}

/// Changes a type's price, reason or whether it is offered; whether it exists.
pub fn update_type(
    conn: &Conn,
    id: i64,
    price_minor: i64,
    default_reason: &str,
    active: bool,
) -> rusqlite::Result<bool> {
    Ok(conn.run(
        "UPDATE appointment_type SET price_minor = ?2, default_reason = ?3, active = ?4 WHERE id = ?1",
        &[&id, &price_minor, &default_reason, &active],
    )? == 1)
}

/// Sets (`Some`) or removes (`None`) a doctor's own price for a type.
pub fn set_doctor_price(
    conn: &Conn,
    doctor_id: i64,
    type_id: i64,
    price_minor: Option<i64>,
) -> rusqlite::Result<()> {
    match price_minor {
        Some(p) => conn.run(
            "INSERT INTO doctor_price (doctor_id, type_id, price_minor) VALUES (?1, ?2, ?3)
             ON CONFLICT (doctor_id, type_id) DO UPDATE SET price_minor = excluded.price_minor",
            &[&doctor_id, &type_id, &p],
        )?,
        None => conn.run(
            "DELETE FROM doctor_price WHERE doctor_id = ?1 AND type_id = ?2",
            &[&doctor_id, &type_id],
        )?,
    };
    Ok(())
}

fn doctor_prices(conn: &Conn, type_id: i64) -> rusqlite::Result<Vec<DoctorPrice>> {
    conn.all(
        "SELECT doctor_id, price_minor FROM doctor_price WHERE type_id = ?1 ORDER BY doctor_id",
        &[&type_id],
        |r| {
            Ok(DoctorPrice {
                doctor_id: r.get(0)?,
                price_minor: r.get(1)?,
            })
        },
    )
}

fn type_from_row(r: &Cols<'_>) -> rusqlite::Result<AppointmentType> {
    Ok(AppointmentType {
        id: r.get(0)?,
        name: r.get(1)?,
        price_minor: r.get(2)?,
        default_reason: r.get(3)?,
        active: r.get(4)?,
        doctor_prices: Vec::new(),
    })
}

/// One type with its doctors' prices.
pub fn get_type(conn: &Conn, id: i64) -> rusqlite::Result<Option<AppointmentType>> {
    let t = conn.opt(
        "SELECT id, name, price_minor, default_reason, active FROM appointment_type WHERE id = ?1",
        &[&id],
        type_from_row,
    )?;
    t.map(|mut t| {
        t.doctor_prices = doctor_prices(conn, t.id)?;
        Ok(t)
    })
    .transpose()
}

/// Every type (or the offered ones), by name.
pub fn list_types(conn: &Conn, include_inactive: bool) -> rusqlite::Result<Vec<AppointmentType>> {
    let mut types = conn.all(
        "SELECT id, name, price_minor, default_reason, active FROM appointment_type
         WHERE ?1 OR active ORDER BY name, id",
        &[&include_inactive],
        type_from_row,
    )?;
    for t in &mut types {
        t.doctor_prices = doctor_prices(conn, t.id)?;
    }
    Ok(types)
}

/// Records the type an appointment was booked as.
pub fn set_appointment_type(
    conn: &Conn,
    appointment_id: i64,
    type_id: i64,
) -> rusqlite::Result<()> {
    conn.run(
        "UPDATE appointment SET type_id = ?2 WHERE id = ?1",
        &[&appointment_id, &type_id],
    )?;
    Ok(())
}

/// The type an appointment was booked as, if any.
pub fn appointment_type_id(conn: &Conn, appointment_id: i64) -> rusqlite::Result<Option<i64>> {
    Ok(conn
        .opt(
            "SELECT type_id FROM appointment WHERE id = ?1",
            &[&appointment_id],
            |r| r.get::<Option<i64>>(0),
        )?
        .flatten())
}

// ---- the ledger ----

/// A new ledger row.
pub struct NewEntry<'a> {
    /// The appointment.
    pub appointment_id: i64,
    /// Its patient.
    pub patient_id: i64,
    /// What the row records.
    pub kind: LedgerKind,
    /// Positive minor units.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: &'a str,
    /// Payments and refunds.
    pub method: Option<PaymentMethod>,
    /// Terminal receipt number, transfer reference.
    pub reference: &'a str,
    /// The payment a refund returns.
    pub refund_of: Option<i64>,
    /// Why.
    pub reason: &'a str,
    /// The receipt year (the clinic's calendar) for payments and refunds.
    pub receipt_year: Option<i64>,
    /// Who took it (staff account), for the cash-up.
    pub desk: &'a str,
    /// Audit label.
    pub actor: &'a str,
    /// When.
    pub now: i64,
    /// The clinic-local day (YYYY-MM-DD).
    pub day: &'a str,
}

/// Appends one row; a payment or refund takes the next receipt number of its year
/// (max + 1, read by the INSERT itself inside the write transaction: rolled back
/// with it, so there are no gaps, and the UNIQUE index refuses a duplicate). Its
/// id.
///
/// On a clinic server the row's foreign key locks its appointment row (FOR KEY
/// SHARE) as it is written. A desk closes an appointment without ledger rows in
/// one READ COMMITTED call (`fd_change_status`, schema 6) that looks for them
/// under that row's FOR UPDATE lock, so the two meet there: the call waits for
/// a row being written, and a SERIALIZABLE writer that finds the appointment
/// changed since its snapshot fails and runs again on what is there now.
pub fn append(conn: &Conn, e: &NewEntry<'_>) -> rusqlite::Result<i64> {
    conn.value(
        "INSERT INTO ledger (appointment_id, patient_id, kind, amount_minor, currency, method, reference,
                             refund_of, reason, receipt_year, receipt_no, desk, created_by, created_at, day)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,
                 CASE WHEN ?10 IS NOT NULL THEN
                     (SELECT coalesce(max(receipt_no), 0) + 1 FROM ledger WHERE receipt_year = ?10)
                 END,
                 ?11, ?12, ?13, ?14) RETURNING id",
        &[
            &e.appointment_id,
            &e.patient_id,
            &e.kind.as_str(),
            &e.amount_minor,
            &e.currency,
            &e.method.map(|m| m.as_str()),
            &e.reference,
            &e.refund_of,
            &e.reason,
            &e.receipt_year,
            &e.desk,
            &e.actor,
            &e.now,
            &e.day,
        ],
    )
}

const ENTRY: &str =
    "SELECT id, appointment_id, patient_id, kind, amount_minor, currency, method, reference,
        refund_of, reason, receipt_year, receipt_no, created_by, created_at FROM ledger";

fn entry_from_row(r: &Cols<'_>) -> rusqlite::Result<LedgerEntry> {
    let method: Option<String> = r.get(6)?;
    let year: Option<i64> = r.get(10)?;
    let no: Option<i64> = r.get(11)?;
    Ok(LedgerEntry {
        id: r.get(0)?,
        appointment_id: r.get(1)?,
        patient_id: r.get(2)?,
        kind: r.parse(3)?,
        amount_minor: r.get(4)?,
        currency: r.get(5)?,
        method: match method {
            Some(_) => Some(r.parse(6)?),
            None => None,
        },
        reference: r.get(7)?,
        refund_of: r.get(8)?,
        reason: r.get(9)?,
        receipt: year.zip(no).map(|(y, n)| receipt_number(y, n)),
        created_by: r.get(12)?,
        created_at: r.get(13)?,
    })
}

/// One row.
pub fn entry(conn: &Conn, id: i64) -> rusqlite::Result<Option<LedgerEntry>> {
    conn.opt(&format!("{ENTRY} WHERE id = ?1"), &[&id], entry_from_row)
}

/// An appointment's rows, oldest first.
pub fn entries(conn: &Conn, appointment_id: i64) -> rusqlite::Result<Vec<LedgerEntry>> {
    conn.all(
        &format!("{ENTRY} WHERE appointment_id = ?1 ORDER BY id"),
        &[&appointment_id],
        entry_from_row,
    )
}

fn sum_into(conn: &Conn, sql: &str, id: i64) -> rusqlite::Result<Balance> {
    let mut b = Balance::default();
    for (kind, amount) in conn.all(sql, &[&id], |r| {
        Ok((r.parse::<LedgerKind>(0)?, r.get::<i64>(1)?))
    })? {
        b.add(kind, amount);
    }
    Ok(b)
}

/// An appointment's sums.
pub fn appointment_balance(conn: &Conn, appointment_id: i64) -> rusqlite::Result<Balance> {
    sum_into(
        conn,
        "SELECT kind, CAST(sum(amount_minor) AS BIGINT) FROM ledger WHERE appointment_id = ?1 GROUP BY kind",
        appointment_id,
    )
}

/// A patient's sums over all their appointments.
pub fn patient_balance(conn: &Conn, patient_id: i64) -> rusqlite::Result<Balance> {
    sum_into(
        conn,
        "SELECT kind, CAST(sum(amount_minor) AS BIGINT) FROM ledger WHERE patient_id = ?1 GROUP BY kind",
        patient_id,
    )
}

/// Whether the ledger holds a row in a currency other than `currency`.
pub fn has_other_currency(conn: &Conn, currency: &str) -> rusqlite::Result<bool> {
    conn.value(
        "SELECT EXISTS (SELECT 1 FROM ledger WHERE currency <> ?1)",
        &[&currency],
    )
}

/// What was already refunded of payment `?1` (the `ledger_refunds` index finds
/// its refunds; the tests read the plan of this query).
pub const REFUNDED_OF: &str =
    "SELECT CAST(coalesce(sum(amount_minor), 0) AS BIGINT) FROM ledger WHERE refund_of = ?1";

/// What was already refunded of a payment.
pub fn refunded_of(conn: &Conn, payment_id: i64) -> rusqlite::Result<i64> {
    conn.value(REFUNDED_OF, &[&payment_id])
}

/// Per method, payments minus refunds taken by `desk` on the clinic-local `day`.
pub fn takings(conn: &Conn, desk: &str, day: &str) -> rusqlite::Result<Vec<(PaymentMethod, i64)>> {
    conn.all(
        "SELECT method, CAST(sum(CASE kind WHEN 'PAYMENT' THEN amount_minor ELSE -amount_minor END) AS BIGINT)
         FROM ledger WHERE day = ?2 AND desk = ?1 AND method IS NOT NULL GROUP BY method",
        &[&desk, &day],
        |r| Ok((r.parse(0)?, r.get(1)?)),
    )
}

/// Payments and refunds (every desk) from `from` to `to` (clinic-local days,
/// inclusive), oldest first.
pub fn money_between(conn: &Conn, from: &str, to: &str) -> rusqlite::Result<Vec<LedgerEntry>> {
    conn.all(
        &format!("{ENTRY} WHERE day BETWEEN ?1 AND ?2 AND method IS NOT NULL ORDER BY id"),
        &[&from, &to],
        entry_from_row,
    )
}

// ---- the till ----

/// One counted method of a cash-up.
pub struct Count<'a> {
    /// The method.
    pub method: PaymentMethod,
    /// What the ledger says the desk took.
    pub expected_minor: i64,
    /// What was counted.
    pub counted_minor: i64,
    /// ISO 4217.
    pub currency: &'a str,
}

/// Records a cash-up (one row per method).
pub fn record_cash_up(
    conn: &Conn,
    desk: &str,
    day: &str,
    counts: &[Count<'_>],
    note: &str,
    actor: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    let mut last = 0;
    for c in counts {
        last = conn.value(
            "INSERT INTO cash_up (desk, day, method, expected_minor, counted_minor, currency, note, created_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
            &[
                &desk,
                &day,
                &c.method.as_str(),
                &c.expected_minor,
                &c.counted_minor,
                &c.currency,
                &note,
                &actor,
                &now,
            ],
        )?;
    }
    Ok(last)
}

/// A recorded cash-up row.
pub struct CashUpRow {
    /// The desk (staff account).
    pub desk: String,
    /// The clinic-local day.
    pub day: String,
    /// The method.
    pub method: PaymentMethod,
    /// Expected by the ledger.
    pub expected_minor: i64,
    /// Counted.
    pub counted_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// A remark.
    pub note: String,
    /// Who closed.
    pub created_by: String,
    /// When.
    pub created_at: i64,
}

/// The newest cash-up of each desk, day and method from `from` to `to`, by day and desk.
pub fn cash_ups(
    conn: &Conn,
    from: &str,
    to: &str,
    desk: Option<&str>,
) -> rusqlite::Result<Vec<CashUpRow>> {
    conn.all(
        "SELECT desk, day, method, expected_minor, counted_minor, currency, note, created_by, created_at
         FROM cash_up c WHERE day BETWEEN ?1 AND ?2 AND (?3 IS NULL OR desk = ?3)
           AND id = (SELECT max(id) FROM cash_up d WHERE d.desk = c.desk AND d.day = c.day AND d.method = c.method)
         ORDER BY day, desk, method",
        &[&from, &to, &desk],
        |r| {
            Ok(CashUpRow {
                desk: r.get(0)?,
                day: r.get(1)?,
                method: r.parse(2)?,
                expected_minor: r.get(3)?,
                counted_minor: r.get(4)?,
                currency: r.get(5)?,
                note: r.get(6)?,
                created_by: r.get(7)?,
                created_at: r.get(8)?,
            })
        },
    )
}
