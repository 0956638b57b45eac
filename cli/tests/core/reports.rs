//! Reports: bookings, cancellations (late ones too), no-shows and utilisation.

use frontdesk::{AppointmentStatus, BookRequest, ReportPeriod, SlotMode};

use crate::fixture::NOW;

fn date(s: &str) -> chrono::NaiveDate {
    frontdesk::domain::clinic::parse_date(s).unwrap()
}

on_both! {
    fn a_weekly_report_counts_bookings_cancellations_late_ones_no_shows_and_utilisation(c) {
    let admin = c.admin();
    let doctor = c.doctor("Dr. Report");
    let other = c.doctor("Dr. Idle");
    // five slots: today +1h.. and two days ahead (cancelled early), one blocked
    let soon = c.slots(doctor, 3);
    let later: Vec<i64> = (0..2)
        .map(|i| {
            c.desk
                .add_slot(
                    &admin,
                    doctor,
                    NOW + 2 * 86_400 + i * 1800,
                    NOW + 2 * 86_400 + i * 1800 + 1800,
                    SlotMode::InPerson,
                )
                .unwrap()
                .id
        })
        .collect();
    c.slots(other, 2);
    let p = c.patient("Ann Able", "0151 2345 6789");
    let book = |slot| {
        c.desk
            .book(
                &admin,
                &BookRequest {
                    slot_id: slot,
                    patient_id: p,
                    reason: String::new(),
                },
            )
            .unwrap()
    };
    let late = book(soon[0]); // cancelled an hour before: late
    let early = book(later[0]); // cancelled two days before: not late
    let missed = book(soon[1]);
    c.desk
        .change_status(
            &admin,
            late.id,
            late.version,
            AppointmentStatus::Cancelled,
            "ill",
        )
        .unwrap();
    c.desk
        .change_status(
            &admin,
            early.id,
            early.version,
            AppointmentStatus::Cancelled,
            "moved away",
        )
        .unwrap();
    let m = c
        .desk
        .change_status(
            &admin,
            missed.id,
            missed.version,
            AppointmentStatus::Confirmed,
            "",
        )
        .unwrap();
    c.desk.set_slot_blocked(&admin, later[1], true).unwrap();
    c.clock.advance(3 * 3600);
    c.desk
        .change_status(&admin, m.id, m.version, AppointmentStatus::NoShow, "")
        .unwrap();

    let r = c
        .desk
        .report(
            &admin,
            date("2030-01-01"),
            date("2030-01-31"),
            ReportPeriod::Week,
        )
        .unwrap();
    let row = r
        .rows
        .iter()
        .find(|r| r.doctor_id == doctor)
        .expect("a row for the doctor");
    assert_eq!(row.period, "2030-W02");
    assert_eq!(row.period_start, "2030-01-07", "weeks start on Monday");
    assert_eq!(
        row.bookings, 3,
        "every appointment in the period counts as a booking"
    );
    assert_eq!(row.cancellations, 2);
    assert_eq!(
        row.late_cancellations, 1,
        "only the cancellation within 24 h is late"
    );
    assert_eq!(row.no_shows, 1);
    assert_eq!(row.open_slots, 4, "the blocked slot is not offered");
    assert_eq!(
        row.booked_slots, 1,
        "the no-show still used its slot; cancelled slots are free"
    );
    assert!(
        (row.utilisation - 0.25).abs() < 1e-9,
        "1 of 4 open slots used: {}",
        row.utilisation
    );
    let idle = r
        .rows
        .iter()
        .find(|r| r.doctor_id == other)
        .expect("a row for the idle doctor");
    assert_eq!(
        (idle.bookings, idle.open_slots, idle.utilisation),
        (0, 2, 0.0)
    );

    let monthly = c
        .desk
        .report(
            &admin,
            date("2030-01-01"),
            date("2030-02-28"),
            ReportPeriod::Month,
        )
        .unwrap();
    assert_eq!(
        monthly
            .rows
            .iter()
            .filter(|r| r.doctor_id == doctor)
            .count(),
        1,
        "one January row"
    );
    assert_eq!(monthly.rows[0].period, "2030-01");
    let empty = c
        .desk
        .report(
            &admin,
            date("2030-03-01"),
            date("2030-03-31"),
            ReportPeriod::Week,
        )
        .unwrap();
    assert!(empty.rows.is_empty(), "nothing in March");
    assert!(matches!(
        c.desk.report(
            &c.receptionist(),
            date("2030-01-01"),
            date("2030-01-31"),
            ReportPeriod::Week
        ),
        Err(frontdesk::Error::Forbidden(_))
    ));
}
}
