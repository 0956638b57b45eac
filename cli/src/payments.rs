//! Money at the desk: prices, payments, refunds, receipts and the till. Amounts
//! are typed in the clinic's currency as a person writes them ("12.50").

use clap::{Args, Subcommand};
use frontdesk::domain::payments::{format_amount, parse_amount};
use frontdesk::{CashCount, Error, NewAppointmentType, NewPayment, Receipt};

use crate::Ctx;

/// How a booking is paid (`frontdesk book --type N --pay 20.00 --method cash`).
#[derive(Args)]
pub struct PayArgs {
    /// The appointment type (its price is charged; see `frontdesk price list`)
    #[arg(long = "type", value_name = "TYPE_ID")]
    pub type_id: Option<i64>,
    /// Take this much with the booking (the whole price or a deposit)
    #[arg(long, value_name = "AMOUNT", requires = "type_id")]
    pub pay: Option<String>,
    /// CASH, CARD, TRANSFER, INVOICE or INSURANCE
    #[arg(long, default_value = "CASH")]
    pub method: String,
    /// The card terminal's receipt number (needed for CARD), a transfer's reference
    #[arg(long, default_value = "")]
    pub reference: String,
}

#[derive(Subcommand)]
pub enum PriceCmd {
    /// Appointment types with their prices
    List {
        /// Include types no longer offered
        #[arg(long)]
        all: bool,
    },
    /// Add an appointment type with its price (admins)
    Add {
        #[arg(long)]
        name: String,
        /// The price, e.g. 45.00
        #[arg(long)]
        price: String,
        /// The reason a booking of this type gets when none is typed
        #[arg(long, default_value = "")]
        reason: String,
    },
}

#[derive(Subcommand)]
pub enum PaymentCmd {
    /// Take a payment for an appointment (at check-in or after the visit)
    Take {
        #[arg(long)]
        appointment: i64,
        #[arg(long)]
        amount: String,
        /// CASH, CARD, TRANSFER, INVOICE or INSURANCE
        #[arg(long, default_value = "CASH")]
        method: String,
        #[arg(long, default_value = "")]
        reference: String,
    },
    /// Refund part or all of a payment (admins)
    Refund {
        /// The payment's ledger id
        #[arg(long)]
        payment: i64,
        #[arg(long)]
        amount: String,
        #[arg(long)]
        reason: String,
    },
    /// An appointment's charges, payments and balance
    Show { appointment: i64 },
    /// Print the receipt of a payment or refund (by ledger id)
    Receipt { id: i64 },
}

#[derive(Subcommand)]
pub enum TillCmd {
    /// What this desk took today (or on --day) per method, and the last count
    Show {
        #[arg(long)]
        day: Option<String>,
    },
    /// Close the till: the counted cash (and other methods), recorded with the
    /// difference to what the ledger expects
    Close {
        #[arg(long)]
        day: Option<String>,
        /// Cash counted in the till
        #[arg(long)]
        cash: String,
        /// Card slips counted
        #[arg(long)]
        card: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
}

fn currency(ctx: &Ctx) -> Result<String, Error> {
    Ok(ctx.desk.payment_settings(&ctx.actor)?.currency)
}

/// The payment `frontdesk book` takes with the booking, if any.
pub fn booking_payment(ctx: &Ctx, a: &PayArgs) -> Result<Option<NewPayment>, Error> {
    let Some(amount) = &a.pay else {
        return Ok(None);
    };
    Ok(Some(NewPayment {
        amount_minor: parse_amount(amount, &currency(ctx)?)?,
        method: a.method.parse()?,
        reference: a.reference.clone(),
    }))
}

pub fn price(ctx: &Ctx, cmd: PriceCmd) -> Result<(), Error> {
    let cur = currency(ctx)?;
    match cmd {
        PriceCmd::List { all } => {
            let types = ctx.desk.list_appointment_types(&ctx.actor, all)?;
            ctx.out.print(&serde_json::json!({ "types": types }), || {
                types
                    .iter()
                    .map(|t| {
                        format!(
                            "#{:<4} {:<30} {}{}\n",
                            t.id,
                            t.name,
                            format_amount(t.price_minor, &cur),
                            if t.active { "" } else { " (not offered)" }
                        )
                    })
                    .collect()
            });
        }
        PriceCmd::Add {
            name,
            price,
            reason,
        } => {
            let t = ctx.desk.add_appointment_type(
                &ctx.actor,
                &NewAppointmentType {
                    name,
                    price_minor: parse_counted(&price, &cur)?,
                    default_reason: reason,
                },
            )?;
            ctx.out.print(&serde_json::json!({ "type": t }), || {
                format!(
                    "Added #{} {}: {}",
                    t.id,
                    t.name,
                    format_amount(t.price_minor, &cur)
                )
            });
        }
    }
    Ok(())
}

fn receipt_text(r: &Receipt) -> String {
    let money = |m| format_amount(m, &r.currency);
    let mut t = format!("{}\n", r.clinic);
    if !r.address.is_empty() {
        t.push_str(&format!("{}\n", r.address));
    }
    if !r.tax_number.is_empty() {
        t.push_str(&format!("Tax number {}\n", r.tax_number));
    }
    let what = match r.kind {
        frontdesk::domain::payments::LedgerKind::Refund => "Refund",
        _ => "Receipt",
    };
    t.push_str(&format!("{what} {}   {}\n", r.number, r.at));
    t.push_str(&format!("Patient: {} (#{})\n", r.patient, r.patient_id));
    t.push_str(&format!("Appointment: {}\n", r.appointment));
    for i in &r.items {
        t.push_str(&format!(
            "  {:<40} {}\n",
            i.description,
            money(i.amount_minor)
        ));
    }
    t.push_str(&format!(
        "{}: {} ({}{})\n",
        if what == "Refund" { "Refunded" } else { "Paid" },
        money(r.amount_minor),
        r.method.label(),
        if r.reference.is_empty() {
            String::new()
        } else {
            format!(", {}", r.reference)
        }
    ));
    if !r.reason.is_empty() && what == "Refund" {
        t.push_str(&format!("Reason: {}\n", r.reason));
    }
    t.push_str(&format!("Still owed: {}\n", money(r.due_after_minor)));
    t.push_str(&format!("Taken by: {}\n", r.staff));
    t
}

pub fn payment(ctx: &Ctx, cmd: PaymentCmd) -> Result<(), Error> {
    let cur = currency(ctx)?;
    match cmd {
        PaymentCmd::Take {
            appointment,
            amount,
            method,
            reference,
        } => {
            let p = NewPayment {
                amount_minor: parse_amount(&amount, &cur)?,
                method: method.parse()?,
                reference,
            };
            let e = ctx.desk.take_payment(&ctx.actor, appointment, &p)?;
            ctx.out.print(&serde_json::json!({ "payment": e }), || {
                format!(
                    "Paid {} for appointment #{appointment}: receipt {} (ledger #{})",
                    format_amount(e.amount_minor, &e.currency),
                    e.receipt.clone().unwrap_or_default(),
                    e.id
                )
            });
        }
        PaymentCmd::Refund {
            payment,
            amount,
            reason,
        } => {
            let e = ctx
                .desk
                .refund(&ctx.actor, payment, parse_amount(&amount, &cur)?, &reason)?;
            ctx.out.print(&serde_json::json!({ "refund": e }), || {
                format!(
                    "Refunded {} of payment #{payment}: receipt {} (ledger #{})",
                    format_amount(e.amount_minor, &e.currency),
                    e.receipt.clone().unwrap_or_default(),
                    e.id
                )
            });
        }
        PaymentCmd::Show { appointment } => {
            let acc = ctx.desk.appointment_account(&ctx.actor, appointment)?;
            ctx.out.print(&serde_json::json!({ "account": acc }), || {
                let mut t = String::new();
                for e in &acc.entries {
                    t.push_str(&format!(
                        "#{:<5} {:<8} {:>14} {:<10} {} {}\n",
                        e.id,
                        e.kind.as_str(),
                        format_amount(e.amount_minor, &e.currency),
                        e.method.map(|m| m.as_str()).unwrap_or(""),
                        e.receipt.clone().unwrap_or_default(),
                        e.reason
                    ));
                }
                t.push_str(&format!(
                    "Still owed: {}\n",
                    format_amount(acc.due, &acc.currency)
                ));
                t
            });
        }
        PaymentCmd::Receipt { id } => {
            let r = ctx.desk.receipt(&ctx.actor, id)?;
            ctx.out
                .print(&serde_json::json!({ "receipt": r }), || receipt_text(&r));
        }
    }
    Ok(())
}

pub fn till(ctx: &Ctx, cmd: TillCmd) -> Result<(), Error> {
    let cur = currency(ctx)?;
    let till = match cmd {
        TillCmd::Show { day } => ctx.desk.till(&ctx.actor, day.as_deref())?,
        TillCmd::Close {
            day,
            cash,
            card,
            note,
        } => {
            let mut counts = vec![CashCount {
                method: frontdesk::domain::payments::PaymentMethod::Cash,
                counted_minor: parse_counted(&cash, &cur)?,
            }];
            if let Some(card) = card {
                counts.push(CashCount {
                    method: frontdesk::domain::payments::PaymentMethod::Card,
                    counted_minor: parse_counted(&card, &cur)?,
                });
            }
            ctx.desk
                .close_till(&ctx.actor, day.as_deref(), &counts, &note)?
        }
    };
    ctx.out.print(&serde_json::json!({ "till": till }), || {
        let mut t = format!("Till of {} on {}\n", till.desk, till.day);
        for l in &till.lines {
            let counted = l
                .counted_minor
                .map(|c| {
                    format!(
                        "counted {}, difference {}",
                        format_amount(c, &till.currency),
                        format_amount(c - l.expected_minor, &till.currency)
                    )
                })
                .unwrap_or_default();
            t.push_str(&format!(
                "  {:<22} expected {:>14}  {counted}\n",
                l.method.label(),
                format_amount(l.expected_minor, &till.currency)
            ));
        }
        t
    });
    Ok(())
}

/// A counted amount or a price: zero allowed.
fn parse_counted(text: &str, currency: &str) -> Result<i64, Error> {
    if text.trim().chars().all(|c| matches!(c, '0' | '.' | ',')) && !text.trim().is_empty() {
        return Ok(0);
    }
    parse_amount(text, currency)
}
