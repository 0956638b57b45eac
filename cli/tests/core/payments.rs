//! Payments: pay-and-book in one transaction under races, the append-only ledger,
//! refunds, the cancellation policy, gapless receipt numbers across processes,
//! crashes mid-payment, and the till.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use frontdesk::domain::payments::{LedgerKind, PaymentMethod};
use frontdesk::{
    Actor, AppointmentStatus, BookRequest, CashCount, Error, Frontdesk, NewAppointmentType,
    NewPayment, OpenOptions,
};

use crate::fixture::{cash, Clinic, NOW};

fn request(slot: i64, patient: i64) -> BookRequest {
    BookRequest {
        slot_id: slot,
        patient_id: patient,
        reason: String::new(),
    }
}

/// A booked check-up with `paid` taken at the desk; (appointment id, payment ledger id).
fn paid_booking(c: &Clinic, slot: i64, patient: i64, paid: i64) -> (i64, Option<i64>) {
    let booked = c.book_paid(slot, patient, paid);
    let payment = booked
        .account
        .entries
        .iter()
        .find(|e| e.kind == LedgerKind::Payment)
        .map(|e| e.id);
    (booked.appointment.id, payment)
}

on_both! {
    fn pay_and_book_charges_the_price_takes_the_deposit_and_numbers_the_receipt(c) {
    let slot = c.slots(c.doctor("Dr. A"), 1)[0];
    let p = c.patient("Ann Pay", "0151 2345 0001");
    let t = c.check_up();
    let booked = c
        .desk
        .pay_and_book(
            &c.receptionist(),
            &request(slot, p),
            Some(t),
            Some(&cash(2000)),
        )
        .unwrap();
    assert_eq!(
        booked.appointment.reason, "Routine check-up",
        "the type's reason"
    );
    let acc = &booked.account;
    assert_eq!(
        (acc.balance.charged, acc.balance.paid, acc.due),
        (5000, 2000, 3000)
    );
    let payment = &acc.entries[1];
    assert_eq!(payment.receipt.as_deref(), Some("2030-000001"));
    assert_eq!(payment.created_by, c.receptionist().label());
    // pay the rest at check-in; a penny more is refused
    let more = c
        .desk
        .take_payment(&c.receptionist(), booked.appointment.id, &cash(3001))
        .unwrap_err();
    assert!(more.to_string().contains("more than is owed"), "{more}");
    let rest = c
        .desk
        .take_payment(&c.receptionist(), booked.appointment.id, &cash(3000))
        .unwrap();
    assert_eq!(rest.receipt.as_deref(), Some("2030-000002"));
    let receipt = c.desk.receipt(&c.receptionist(), rest.id).unwrap();
    assert_eq!(receipt.due_after_minor, 0);
    assert_eq!(receipt.items[0].amount_minor, 5000);
    assert_eq!(receipt.patient, "Ann Pay");
    assert!(c
        .desk
        .take_payment(&c.receptionist(), booked.appointment.id, &cash(1))
        .is_err());
    assert_eq!(
        c.desk.patient_balance(&c.receptionist(), p).unwrap().due(),
        0
    );
    // the appointment export carries the money
    let mut csv = Vec::new();
    let day = chrono::NaiveDate::from_ymd_opt(2030, 1, 7).unwrap();
    c.desk
        .export_appointments_csv(&c.admin(), day, day, &mut csv)
        .unwrap();
    let text = String::from_utf8(csv).unwrap();
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .ends_with(",50.00,50.00,0.00,EUR"),
        "{text}"
    );
    let report = c
        .desk
        .report(&c.admin(), day, day, frontdesk::ReportPeriod::Week)
        .unwrap();
    assert_eq!(
        (report.rows[0].charged_minor, report.rows[0].paid_minor),
        (5000, 5000),
        "the report sums the money per doctor"
    );
    c.assert_check();
}
}

on_both! {
    fn a_doctor_s_own_price_is_charged_for_their_appointments(c) {
    let (a, b) = (c.doctor("Dr. A"), c.doctor("Dr. B"));
    let t = c.check_up();
    c.desk
        .set_doctor_price(
            &Actor::local_admin(),
            t,
            &frontdesk::domain::payments::DoctorPrice {
                doctor_id: b,
                price_minor: 8000,
            },
            false,
        )
        .unwrap();
    let p = c.patient("Ann Price", "0151 2345 0002");
    let charged = |slot| {
        c.desk
            .pay_and_book(&c.receptionist(), &request(slot, p), Some(t), None)
            .unwrap()
            .account
            .balance
            .charged
    };
    assert_eq!(charged(c.slots(a, 1)[0]), 5000);
    assert_eq!(charged(c.slots(b, 1)[0]), 8000);
}
}

on_both! {
    fn bad_payments_are_refused_before_anything_is_written(c) {
    let slot = c.slots(c.doctor("Dr. A"), 2);
    let p = c.patient("Ann Bad", "0151 2345 0003");
    let t = c.check_up();
    let desk = c.receptionist();
    let rows =
        || c.count("SELECT count(*) FROM ledger") + c.count("SELECT count(*) FROM appointment");
    let before = rows();
    let card_without_slip = NewPayment {
        method: PaymentMethod::Card,
        ..cash(1000)
    };
    for (payment, type_id, why) in [
        (cash(0), Some(t), "more than zero"),
        (cash(-5), Some(t), "more than zero"),
        (cash(5001), Some(t), "more than is owed"),
        (card_without_slip, Some(t), "terminal"),
        (cash(1000), None, "appointment type"),
        (cash(1000), Some(9999), "not offered"),
    ] {
        let e = c
            .desk
            .pay_and_book(&desk, &request(slot[0], p), type_id, Some(&payment))
            .unwrap_err();
        assert!(e.to_string().contains(why), "{why}: {e}");
        assert_eq!(
            rows(),
            before,
            "a refused pay-and-book leaves nothing ({why})"
        );
    }
    // a payment for a cancelled appointment
    let (appt, _) = paid_booking(&c, slot[1], p, 0);
    let v = c
        .desk
        .get_appointment(&desk, appt)
        .unwrap()
        .appointment
        .version;
    c.desk
        .change_status(&c.admin(), appt, v, AppointmentStatus::Cancelled, "ill")
        .unwrap();
    let e = c.desk.take_payment(&desk, appt, &cash(100)).unwrap_err();
    assert!(e.to_string().contains("cancelled"), "{e}");
    c.assert_check();
}
}

on_both! {
    fn thirty_two_threads_paying_and_booking_one_slot_give_one_appointment_and_one_payment(c) {
    let slot = c.slots(c.doctor("Dr. A"), 1)[0];
    let t = c.check_up();
    let patients: Vec<i64> = (0..32)
        .map(|i| c.patient(&format!("P{i}"), &format!("0151 2346 {i:04}")))
        .collect();
    let desks = [Arc::new(c.reopen()), Arc::new(c.reopen())];
    let barrier = Arc::new(Barrier::new(32));
    let handles: Vec<_> = patients
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let (desk, barrier, actor) = (desks[i % 2].clone(), barrier.clone(), c.receptionist());
            thread::spawn(move || {
                barrier.wait();
                desk.pay_and_book(
                    &actor,
                    &request(slot, p),
                    Some(t),
                    Some(&cash(2000 + i as i64)),
                )
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let taken = results
        .iter()
        .filter(|r| matches!(r, Err(Error::SlotTaken)))
        .count();
    assert_eq!((won.len(), taken), (1, 31), "{results:?}");
    let winner = won[0];
    assert_eq!(c.count("SELECT count(*) FROM appointment"), 1);
    assert_eq!(
        c.count("SELECT count(*) FROM ledger WHERE kind = 'PAYMENT'"),
        1
    );
    assert_eq!(
        c.count("SELECT count(*) FROM ledger WHERE kind = 'CHARGE'"),
        1
    );
    assert_eq!(
        c.count("SELECT amount_minor FROM ledger WHERE kind = 'PAYMENT'"),
        winner.account.balance.paid,
        "the stored payment is the winner's"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM ledger WHERE appointment_id <> (SELECT id FROM appointment)"),
        0,
        "the losers left no row"
    );
    c.assert_check();
}
}

#[test]
fn the_ledger_refuses_update_and_delete_and_check_reconciles_it() {
    let c = Clinic::new();
    let slot = c.slots(c.doctor("Dr. A"), 1)[0];
    let p = c.patient("Ann Ledger", "0151 2345 0004");
    let (appt, _) = paid_booking(&c, slot, p, 2000);
    for sql in [
        "UPDATE ledger SET amount_minor = 1 WHERE kind = 'PAYMENT'",
        "DELETE FROM ledger WHERE kind = 'CHARGE'",
    ] {
        let e = c
            .desk
            .write("test.tamper", |tx| Ok(tx.execute(sql, [])?))
            .unwrap_err();
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    c.desk
        .close_till(
            &c.receptionist(),
            None,
            &[CashCount {
                method: PaymentMethod::Cash,
                counted_minor: 2000,
            }],
            "",
        )
        .unwrap();
    for sql in [
        "UPDATE cash_up SET counted_minor = 0",
        "DELETE FROM cash_up",
    ] {
        let e = c
            .desk
            .write("test.tamper", |tx| Ok(tx.execute(sql, [])?))
            .unwrap_err();
        assert!(e.to_string().contains("never changed"), "{sql}: {e}");
    }
    c.assert_check();
    // a row slipped in past the core (an overpayment, with a receipt number out
    // of sequence): check names both
    c.desk
        .write("test.forge", |tx| {
            Ok(tx.execute(
                "INSERT INTO ledger (appointment_id, patient_id, kind, amount_minor, currency, method, receipt_year, receipt_no, desk, created_by, created_at, day)
                 VALUES (?1, ?2, 'PAYMENT', 90000, 'EUR', 'CASH', 2030, 7, 'x', 'x', 0, '2030-01-07')",
                [appt, p],
            )?)
        })
        .unwrap();
    let report = c.desk.check().unwrap();
    let failed: Vec<&str> = report
        .items
        .iter()
        .filter(|i| !i.ok)
        .map(|i| i.name.as_str())
        .collect();
    assert!(
        failed
            .iter()
            .any(|n| n.contains("keeps more than it was charged")),
        "{failed:?}"
    );
    assert!(
        failed.iter().any(|n| n.contains("receipt numbers")),
        "{failed:?}"
    );
}

on_both! {
    fn refunds_are_admin_work_with_a_reason_and_never_exceed_the_payment(c) {
    let slot = c.slots(c.doctor("Dr. A"), 1)[0];
    let p = c.patient("Ann Refund", "0151 2345 0005");
    let (_, payment) = paid_booking(&c, slot, p, 3000);
    let payment = payment.unwrap();
    let desk = &c.desk;
    assert!(matches!(
        desk.refund(&c.receptionist(), payment, 100, "goodwill"),
        Err(Error::Forbidden(_))
    ));
    assert!(
        desk.refund(&c.admin(), payment, 100, " ").is_err(),
        "a reason is needed"
    );
    let e = desk
        .refund(&c.admin(), payment, 3001, "too much")
        .unwrap_err();
    assert!(e.to_string().contains("more than is left"), "{e}");
    let first = desk.refund(&c.admin(), payment, 1000, "goodwill").unwrap();
    assert_eq!(first.refund_of, Some(payment));
    assert_eq!(first.method, Some(PaymentMethod::Cash));
    assert!(desk.refund(&c.admin(), payment, 2001, "rest").is_err());
    desk.refund(&c.admin(), payment, 2000, "rest").unwrap();
    assert!(desk.refund(&c.admin(), payment, 1, "more").is_err());
    // a refund is not a payment to refund
    assert!(desk.refund(&c.admin(), first.id, 1, "again").is_err());
    let audit = c.count("SELECT count(*) FROM audit_event WHERE action = 'payment.refund'");
    assert_eq!(audit, 2);
    c.assert_check();
}
}

fn cancel_at(c: &Clinic, appt: i64, to: AppointmentStatus) -> frontdesk::Account {
    let desk = &c.desk;
    let v = desk
        .get_appointment(&c.admin(), appt)
        .unwrap()
        .appointment
        .version;
    let preview = desk.closing_preview(&c.admin(), appt, to).unwrap();
    desk.change_status(&c.admin(), appt, v, to, "patient called")
        .unwrap();
    let acc = desk.appointment_account(&c.admin(), appt).unwrap();
    assert_eq!(acc.due, 0, "a closed appointment owes nothing");
    assert_eq!(
        preview.refund_minor, acc.balance.refunded,
        "the preview said what happened"
    );
    assert_eq!(preview.kept_minor, acc.balance.net_paid());
    acc
}

on_both! {
    fn the_cancellation_policy_refunds_early_and_keeps_or_refunds_late_as_set(c) {
    let doctor = c.doctor("Dr. A");
    let p = c.patient("Ann Policy", "0151 2345 0006");
    // slots start an hour from now: a cancellation now is late (24 h by default)
    let slots = c.slots(doctor, 4);
    let (late, _) = paid_booking(&c, slots[0], p, 2000);
    let acc = cancel_at(&c, late, AppointmentStatus::Cancelled);
    assert_eq!(
        (acc.balance.refunded, acc.balance.waived),
        (0, 3000),
        "deposit kept"
    );
    let (missed, _) = paid_booking(&c, slots[1], p, 2000);
    c.clock.set(
        c.desk
            .get_appointment(&c.admin(), missed)
            .unwrap()
            .appointment
            .start_at
            + 60,
    );
    let v = c
        .desk
        .get_appointment(&c.admin(), missed)
        .unwrap()
        .appointment
        .version;
    c.desk
        .change_status(&c.admin(), missed, v, AppointmentStatus::Confirmed, "")
        .unwrap();
    let acc = cancel_at(&c, missed, AppointmentStatus::NoShow);
    assert_eq!(acc.balance.net_paid(), 2000, "a no-show keeps the deposit");
    c.clock.set(NOW);
    c.desk
        .set_setting(&Actor::local_admin(), "payments.late_deposit", "refund")
        .unwrap();
    let (late_refunded, _) = paid_booking(&c, slots[2], p, 2000);
    let acc = cancel_at(&c, late_refunded, AppointmentStatus::Cancelled);
    assert_eq!((acc.balance.refunded, acc.balance.waived), (2000, 5000));
    // an early cancellation is always refunded
    c.desk
        .set_setting(&Actor::local_admin(), "payments.late_deposit", "keep")
        .unwrap();
    c.desk
        .set_setting(&Actor::local_admin(), "payments.late_cancel_hours", "0")
        .unwrap();
    let (early, _) = paid_booking(&c, slots[3], p, 5000);
    let refunds_before = c.count("SELECT count(*) FROM ledger WHERE kind = 'REFUND'");
    let acc = cancel_at(&c, early, AppointmentStatus::Cancelled);
    assert_eq!(acc.balance.refunded, 5000);
    assert_eq!(
        c.count("SELECT count(*) FROM ledger WHERE kind = 'REFUND'"),
        refunds_before + 1,
        "the refund has its own receipt number"
    );
    assert!(c
        .desk
        .set_setting(&Actor::local_admin(), "payments.late_deposit", "maybe")
        .is_err());
    assert!(c
        .desk
        .set_setting(&Actor::local_admin(), "clinic.currency", "euro")
        .is_err());
    c.assert_check();
}
}

on_both! {
    fn the_till_expects_what_the_desk_took_and_records_the_count(c) {
    let slots = c.slots(c.doctor("Dr. A"), 2);
    let p = c.patient("Ann Till", "0151 2345 0007");
    paid_booking(&c, slots[0], p, 2000);
    let (second, _) = paid_booking(&c, slots[1], p, 0);
    c.desk
        .take_payment(
            &c.receptionist(),
            second,
            &NewPayment {
                amount_minor: 5000,
                method: PaymentMethod::Card,
                reference: "T-4711".into(),
            },
        )
        .unwrap();
    let till = c.desk.till(&c.receptionist(), None).unwrap();
    let expected = |m| {
        till.lines
            .iter()
            .find(|l| l.method == m)
            .unwrap()
            .expected_minor
    };
    assert_eq!(
        (expected(PaymentMethod::Cash), expected(PaymentMethod::Card)),
        (2000, 5000)
    );
    assert!(
        c.desk.close_till(&c.receptionist(), None, &[], "").is_err(),
        "cash must be counted"
    );
    let closed = c
        .desk
        .close_till(
            &c.receptionist(),
            None,
            &[CashCount {
                method: PaymentMethod::Cash,
                counted_minor: 1950,
            }],
            "50 cents short",
        )
        .unwrap();
    assert_eq!(closed.lines[0].counted_minor, Some(1950));
    // another desk's till is its own
    assert_eq!(
        c.desk.till(&c.admin(), None).unwrap().lines[0].expected_minor,
        0
    );
    let report = c
        .desk
        .cash_up_report(&c.admin(), "2030-01-07", "2030-01-07")
        .unwrap();
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].difference_minor, -50);
    assert!(matches!(
        c.desk
            .cash_up_report(&c.receptionist(), "2030-01-07", "2030-01-07"),
        Err(Error::Forbidden(_))
    ));
    let mut csv = Vec::new();
    c.desk
        .export_cash_ups_csv(&c.admin(), "2030-01-01", "2030-01-31", &mut csv)
        .unwrap();
    let text = String::from_utf8(csv).unwrap();
    assert!(
        text.contains("2030-01-07,Rita Desk (#2),CASH,20.00,19.50,-0.50,EUR,50 cents short"),
        "{text}"
    );
}
}

// ---- several processes ----

const WORKER_DB: &str = "FRONTDESK_TEST_PAYMENT_DB";
const WORKER_APPOINTMENTS: &str = "FRONTDESK_TEST_PAYMENT_APPOINTMENTS";
const WORKER_FOREVER: &str = "FRONTDESK_TEST_PAYMENT_FOREVER";

/// Not a test on its own: the body of the payment-taking processes the tests
/// below start (this test binary run again with the worker's variables). Four
/// threads, each paying 1.00 at a time into its own appointment, printing
/// `ack <ledger id> <receipt>` after each payment returns.
#[test]
#[ignore = "run as a child process by the tests below"]
fn payment_worker_process() {
    let Ok(db) = std::env::var(WORKER_DB) else {
        return;
    };
    let appointments: Vec<i64> = std::env::var(WORKER_APPOINTMENTS)
        .unwrap()
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let forever = std::env::var(WORKER_FOREVER).is_ok();
    let desk = Arc::new(Frontdesk::open(&db, OpenOptions::default()).unwrap());
    let out = Arc::new(std::sync::Mutex::new(()));
    let threads: Vec<_> = appointments
        .into_iter()
        .map(|appt| {
            let (desk, out) = (desk.clone(), out.clone());
            thread::spawn(move || {
                let actor = Actor::staff(2, "Rita Desk", frontdesk::Role::Receptionist);
                let mut n = 0;
                while forever || n < 10 {
                    let e = desk.take_payment(&actor, appt, &cash(100)).unwrap();
                    let _g = out.lock().unwrap();
                    use std::io::Write;
                    let mut o = std::io::stdout().lock();
                    writeln!(o, "ack {} {}", e.id, e.receipt.unwrap()).unwrap();
                    o.flush().unwrap();
                    n += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// `n` appointments charged 10,000.00 each (room for many 1.00 payments).
fn charged_appointments(c: &Clinic, n: usize) -> Vec<i64> {
    let t = c
        .desk
        .add_appointment_type(
            &Actor::local_admin(),
            &NewAppointmentType {
                name: "Long treatment".into(),
                price_minor: 1_000_000,
                default_reason: String::new(),
            },
        )
        .unwrap()
        .id;
    let doctor = c.doctor("Dr. Many");
    let p = c.patient("Ann Many", "0151 2345 0099");
    c.slots(doctor, n)
        .into_iter()
        .map(|slot| {
            c.desk
                .pay_and_book(&c.receptionist(), &request(slot, p), Some(t), None)
                .unwrap()
                .appointment
                .id
        })
        .collect()
}

fn worker(c: &Clinic, appointments: &[i64], forever: bool) -> std::process::Child {
    let ids: Vec<String> = appointments.iter().map(|a| a.to_string()).collect();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "payments::payment_worker_process",
        "--ignored",
        "--nocapture",
        "--quiet",
    ])
    .env(WORKER_DB, c.path())
    .env(WORKER_APPOINTMENTS, ids.join(","))
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    if forever {
        cmd.env(WORKER_FOREVER, "1");
    }
    cmd.spawn().expect("start a payment worker process")
}

fn acks(text: &str) -> Vec<(i64, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("ack "))
        .map(|l| {
            let (id, receipt) = l.split_once(' ').unwrap();
            (id.parse().unwrap(), receipt.to_string())
        })
        .collect()
}

fn assert_gapless(c: &Clinic, expected: i64) {
    let (count, distinct, max) = c
        .desk
        .read(|conn| {
            Ok(conn.query_row(
                "SELECT count(*), count(DISTINCT receipt_no), max(receipt_no) FROM ledger WHERE receipt_no IS NOT NULL",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)),
            )?)
        })
        .unwrap();
    assert_eq!(
        (count, distinct, max),
        (expected, expected, expected),
        "receipts 1..={expected}, each once"
    );
}

#[test]
fn receipt_numbers_from_eight_processes_of_four_threads_are_gapless_and_unique() {
    let c = Clinic::new();
    let appointments = charged_appointments(&c, 32);
    let children: Vec<_> = appointments
        .chunks(4)
        .map(|chunk| worker(&c, chunk, false))
        .collect();
    let mut receipts = HashSet::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a worker failed");
        for (_, r) in acks(&String::from_utf8_lossy(&out.stdout)) {
            assert!(receipts.insert(r.clone()), "receipt {r} given twice");
        }
    }
    assert_eq!(receipts.len(), 320, "8 processes x 4 threads x 10 payments");
    assert_gapless(&c, 320);
    c.assert_check();
}

#[test]
fn a_crash_mid_payment_loses_no_acknowledged_payment_and_leaves_no_orphan() {
    let c = Clinic::new();
    let appointments = charged_appointments(&c, 16);
    for round in 0..3 {
        let mut children: Vec<_> = appointments
            .chunks(4)
            .map(|chunk| worker(&c, chunk, true))
            .collect();
        let readers: Vec<_> = children
            .iter_mut()
            .map(|ch| {
                let stdout = ch.stdout.take().unwrap();
                thread::spawn(move || {
                    BufReader::new(stdout)
                        .lines()
                        .map_while(Result::ok)
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(400 + 300 * round));
        for ch in &mut children {
            ch.kill().unwrap(); // SIGKILL, mid-payment
            ch.wait().unwrap();
        }
        let acked: Vec<(i64, String)> = readers
            .into_iter()
            .flat_map(|r| acks(&r.join().unwrap()))
            .collect();
        assert!(
            !acked.is_empty(),
            "round {round}: the workers paid something"
        );
        let desk = c.reopen();
        for (id, receipt) in &acked {
            let e = desk
                .read(|conn| {
                    Ok(frontdesk::storage::payments::entry(
                        &frontdesk::storage::Conn::Lite(conn),
                        *id,
                    )?)
                })
                .unwrap()
                .unwrap_or_else(|| panic!("acknowledged payment {id} lost"));
            assert_eq!(e.receipt.as_deref(), Some(receipt.as_str()));
        }
        let stored = c.count("SELECT count(*) FROM ledger WHERE kind = 'PAYMENT'");
        assert!(stored >= acked.len() as i64);
        assert_gapless(&c, stored);
        assert_eq!(
            c.count("SELECT count(*) FROM ledger l LEFT JOIN appointment a ON a.id = l.appointment_id WHERE a.id IS NULL"),
            0,
            "no payment without its booking"
        );
        c.assert_check();
    }
}

on_both! {
    fn a_closed_appointment_owes_nothing_after_a_goodwill_refund_and_takes_no_payment(c) {
    let slots = c.slots(c.doctor("Dr. A"), 2);
    let p = c.patient("Ann Goodwill", "0151 2345 0010");
    // late cancellation: the 20.00 deposit is kept, 30.00 waived
    let (late, payment) = paid_booking(&c, slots[0], p, 2000);
    cancel_at(&c, late, AppointmentStatus::Cancelled);
    // giving the kept deposit back waives that much of the charge too
    c.desk
        .refund(&c.admin(), payment.unwrap(), 2000, "goodwill")
        .unwrap();
    let acc = c.desk.appointment_account(&c.admin(), late).unwrap();
    assert_eq!((acc.due, acc.balance.net_paid()), (0, 0), "{acc:?}");
    // a no-show's money was settled when it closed: no payment afterwards
    let (missed, payment) = paid_booking(&c, slots[1], p, 2000);
    c.clock.set(
        c.desk
            .get_appointment(&c.admin(), missed)
            .unwrap()
            .appointment
            .start_at
            + 60,
    );
    let v = c
        .desk
        .get_appointment(&c.admin(), missed)
        .unwrap()
        .appointment
        .version;
    c.desk
        .change_status(&c.admin(), missed, v, AppointmentStatus::Confirmed, "")
        .unwrap();
    cancel_at(&c, missed, AppointmentStatus::NoShow);
    c.desk
        .refund(&c.admin(), payment.unwrap(), 1000, "half back")
        .unwrap();
    let e = c
        .desk
        .take_payment(&c.receptionist(), missed, &cash(1000))
        .unwrap_err();
    assert!(e.to_string().contains("takes no payment"), "{e}");
    c.assert_check();
}
}

#[test]
fn check_finds_a_payment_changed_or_deleted_behind_the_triggers_back() {
    let c = Clinic::new();
    let slots = c.slots(c.doctor("Dr. A"), 1);
    let p = c.patient("Ann Forged", "0151 2345 0011");
    let (_, payment) = paid_booking(&c, slots[0], p, 2000);
    let payment = payment.unwrap();
    let forge = |sql: String| {
        c.desk
            .write("test.forge", |tx| {
                tx.execute_batch(&format!(
                    "DROP TRIGGER ledger_no_update; DROP TRIGGER ledger_no_delete; {sql};
                     CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: a correction is a new row'); END;
                     CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: a correction is a new row'); END;"
                ))?;
                Ok(())
            })
            .unwrap()
    };
    let failed = |c: &Clinic| -> Vec<String> {
        c.desk
            .check()
            .unwrap()
            .items
            .into_iter()
            .filter(|i| !i.ok)
            .map(|i| format!("{}: {}", i.name, i.detail))
            .collect()
    };
    // cash taken, booked as a card payment at another desk: the till would not see it
    forge(format!(
        "UPDATE ledger SET method = 'CARD', desk = 'nobody' WHERE id = {payment}"
    ));
    let found = failed(&c);
    assert!(
        found
            .iter()
            .any(|f| f.contains(&format!("ledger {payment}"))),
        "{found:?}"
    );
    forge(format!("DELETE FROM ledger WHERE id = {payment}"));
    let found = failed(&c);
    assert!(
        found.iter().any(|f| f.contains("audited but is gone")),
        "{found:?}"
    );
}

on_both! {
    fn the_currency_cannot_change_once_money_is_recorded(c) {
    let slots = c.slots(c.doctor("Dr. A"), 1);
    let admin = Actor::local_admin();
    c.desk
        .set_setting(&admin, "clinic.currency", "CHF")
        .unwrap();
    c.desk
        .set_setting(&admin, "clinic.currency", "EUR")
        .unwrap();
    let p = c.patient("Ann Currency", "0151 2345 0012");
    paid_booking(&c, slots[0], p, 0);
    let e = c
        .desk
        .set_setting(&admin, "clinic.currency", "JPY")
        .unwrap_err();
    assert!(e.to_string().contains("cannot change"), "{e}");
    c.desk
        .set_setting(&admin, "clinic.currency", "eur")
        .unwrap();
}
}

on_both! {
    fn a_payment_s_refunds_are_found_by_an_index_not_by_reading_the_whole_ledger(c) {
    // what was already refunded of a payment is summed inside the write lock
    // whenever an admin refunds it; without an index that read walked the
    // whole ledger, years of it in a clinic
    let sql = frontdesk::storage::payments::REFUNDED_OF.replace("?1", "1");
    let plan = match &c.server {
        Some((pg, _)) => {
            let mut session = pg.session().unwrap();
            let mut tx = session.transaction().unwrap();
            // on a near-empty table the planner would scan it anyway
            tx.batch_execute("SET LOCAL enable_seqscan = off").unwrap();
            let rows = tx.query(&format!("EXPLAIN {sql}"), &[]).unwrap();
            rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>()
        }
        None => c
            .desk
            .read(|conn| {
                let mut plan = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let steps = plan.query_map([], |r| r.get::<_, String>(3))?;
                Ok(steps.collect::<Result<Vec<_>, _>>()?)
            })
            .unwrap(),
    };
    assert!(
        plan.iter().any(|step| step.contains("ledger_refunds")),
        "{plan:#?}"
    );
    }
}
