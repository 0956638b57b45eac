//! CSV exports survive a CSV parser whatever the names hold; the day sheet prints.

use frontdesk::service::export::{APPOINTMENT_COLUMNS, PATIENT_COLUMNS};
use frontdesk::{AppointmentStatus, BookRequest};

fn date(s: &str) -> chrono::NaiveDate {
    frontdesk::domain::clinic::parse_date(s).unwrap()
}

const AWKWARD: [&str; 4] = [
    "Müller, Hans-Jürgen",
    "Zoë \"Zo\" O'Brien, Jr.",
    "李小龙",
    "=HYPERLINK(\"evil\")",
];

on_both! {
    fn appointment_and_patient_csv_round_trip_names_with_commas_quotes_and_non_ascii(c) {
    let doctor = c.doctor("Dr. Ñúñez, \"Chief\"");
    let slots = c.slots(doctor, AWKWARD.len());
    let phones = [
        "0151 2345 6781",
        "0151 2345 6782",
        "0151 2345 6783",
        "0151 2345 6784",
    ];
    for (i, name) in AWKWARD.iter().enumerate() {
        let p = c.patient(name, phones[i]);
        let reason = format!("pain, \"sharp\"\nsince {i} days");
        c.desk
            .book(
                &c.admin(),
                &BookRequest {
                    slot_id: slots[i],
                    patient_id: p,
                    reason,
                },
            )
            .unwrap();
    }

    let mut out = Vec::new();
    let n = c
        .desk
        .export_appointments_csv(&c.admin(), date("2030-01-07"), date("2030-01-07"), &mut out)
        .unwrap();
    assert_eq!(n, 4, "four appointments exported");
    let mut reader = csv::Reader::from_reader(out.as_slice());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        APPOINTMENT_COLUMNS.to_vec(),
        "the documented header"
    );
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .map(|r| r.expect("a well-formed CSV row"))
        .collect();
    assert_eq!(rows.len(), 4, "one row per appointment");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), 13, "thirteen columns in row {i}");
        assert_eq!(&row[0], "2030-01-07", "clinic-local date");
        assert_eq!(&row[2], "Dr. Ñúñez, \"Chief\"", "doctor survives quoting");
        let expected = if AWKWARD[i].starts_with('=') {
            format!("'{}", AWKWARD[i])
        } else {
            AWKWARD[i].to_string()
        };
        assert_eq!(
            &row[3], expected,
            "patient name survives quoting (formulas neutralised)"
        );
        assert_eq!(&row[4], format!("+491512345678{}", i + 1), "E.164 phone");
        assert_eq!(&row[5], "PENDING");
        assert_eq!(
            &row[6],
            format!("pain, \"sharp\"\nsince {i} days"),
            "reason with comma, quotes and newline survives"
        );
        assert_eq!(&row[7], "no");
        assert_eq!(&row[8], "Ada Admin (#1)", "who booked");
        assert_eq!(
            (&row[9], &row[10], &row[11], &row[12]),
            ("0.00", "0.00", "0.00", "EUR"),
            "nothing charged for a booking without a type"
        );
    }
    assert!(
        rows.windows(2).all(|w| w[0][1] <= w[1][1]),
        "rows are in time order"
    );

    let mut out = Vec::new();
    let n = c.desk.export_patients_csv(&c.admin(), &mut out).unwrap();
    assert_eq!(n, 4);
    let mut reader = csv::Reader::from_reader(out.as_slice());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        PATIENT_COLUMNS.to_vec()
    );
    let names: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[1].to_string())
        .collect();
    for name in AWKWARD.iter().filter(|n| !n.starts_with('=')) {
        assert!(
            names.contains(&name.to_string()),
            "{name} is in the patient export: {names:?}"
        );
    }
}
}

on_both! {
    fn exports_are_admin_only_and_a_range_ending_before_it_starts_is_refused(c) {
    let err = c
        .desk
        .export_patients_csv(&c.receptionist(), Vec::new())
        .unwrap_err();
    assert!(
        matches!(err, frontdesk::Error::Forbidden(_)),
        "receptionists may not export: {err}"
    );
    let err = c
        .desk
        .export_appointments_csv(
            &c.admin(),
            date("2030-02-01"),
            date("2030-01-01"),
            Vec::new(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("ends before it starts"), "{err}");
}
}

on_both! {
    fn the_day_sheet_lists_each_doctors_slots_with_patients_free_and_blocked_and_escapes_html(c) {
    let doctor = c.doctor("Dr. <Sheet>");
    let slots = c.slots(doctor, 3);
    let p = c.patient("Ann & Bob", "0151 2345 6789");
    let a = c
        .desk
        .book(
            &c.admin(),
            &BookRequest {
                slot_id: slots[0],
                patient_id: p,
                reason: "flu".into(),
            },
        )
        .unwrap();
    c.desk
        .change_status(
            &c.admin(),
            a.id,
            a.version,
            AppointmentStatus::Confirmed,
            "",
        )
        .unwrap();
    c.desk.set_slot_blocked(&c.admin(), slots[2], true).unwrap();

    let sheet = c
        .desk
        .day_sheet(&c.receptionist(), date("2030-01-07"), Some(doctor))
        .unwrap();
    assert_eq!(sheet.doctors.len(), 1, "one doctor section");
    let lines = &sheet.doctors[0].lines;
    assert_eq!(
        lines.iter().map(|l| l.status.as_str()).collect::<Vec<_>>(),
        ["CONFIRMED", "FREE", "BLOCKED"]
    );
    assert_eq!(lines[0].patient, "Ann & Bob");
    assert_eq!(lines[0].phone, "+4915123456789");
    assert_eq!(lines[0].reason, "flu");
    assert_eq!(lines[0].time, "09:00–09:30", "clinic time");
    let text = sheet.to_text();
    assert!(
        text.contains("Dr. <Sheet>") && text.contains("Ann & Bob"),
        "{text}"
    );
    let html = sheet.to_html();
    assert!(
        html.contains("Dr. &lt;Sheet&gt;") && html.contains("Ann &amp; Bob"),
        "names are escaped in HTML"
    );
    assert!(!html.contains("<Sheet>"), "no raw markup from data");
}
}
