//! A receptionist's whole day: check-in from the grid (a button on the cell and
//! `c` on the focused cell, pending appointments included), every status coloured
//! with text and icon, the narrowest window (1024×600) with the drawer open and
//! nothing clipped, and printing the day sheet of one doctor.

use frontdesk_e2e::{Clinic, Desk, Locator};
use serde_json::{json, Value};

use crate::seed::{self, ADMIN};
use crate::steps::{click, sign_in, text, wait_day_loaded};

/// The clinic's receptionist (made by the admin through the command line; the
/// seed gives new accounts the admin's password).
const DESK: (&str, &str) = ("desk", ADMIN.1);

/// Tomorrow's day, fully booked in every status for three doctors.
struct Day {
    /// Appointment ids by what they are: pending, confirmed, arrived (checked in
    /// without a confirmation), completed, no-show, overbooked.
    pending: i64,
    /// The pending one's slot.
    pending_slot: i64,
    confirmed: i64,
}

fn status(clinic: &Clinic, id: i64, version: i64, to: &str) -> i64 {
    seed::run(
        clinic,
        &[
            "appointment",
            "status",
            "--id",
            &id.to_string(),
            "--to",
            to,
            "--version",
            &version.to_string(),
        ],
    )["appointment"]["version"]
        .as_i64()
        .unwrap()
}

fn seed_day(clinic: &Clinic) -> Day {
    let first = seed::clinic_with_doctor(clinic);
    let doctors: Vec<i64> = [first]
        .into_iter()
        .chain(
            ["Dr. Omar Haddad", "Dr. Lena Fischer-Wagenknecht"].map(|name| {
                seed::run(
                    clinic,
                    &["doctor", "add", name, "--specialty", "Paediatrics"],
                )["doctor"]["id"]
                    .as_i64()
                    .unwrap()
            }),
        )
        .collect();
    seed::run(
        clinic,
        &[
            "staff",
            "add",
            "--username",
            DESK.0,
            "--name",
            "Rita Reception",
        ],
    );
    let names = [
        "Anna Müller",
        "Maximiliane Wilhelmina Oberhauser-Schmidt",
        "Ben Schmidt",
        "Clara Yılmaz",
        "David Nowak",
        "Elif Rossi",
        "Felix García",
    ];
    let patients: Vec<i64> = names
        .iter()
        .enumerate()
        .map(|(i, n)| seed::patient(clinic, n, &format!("0151 2345 67{i:02}")))
        .collect();
    let times = ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"];
    let mut slots = Vec::new();
    for &d in &doctors {
        slots.push(
            times
                .iter()
                .map(|t| seed::slot_tomorrow(clinic, d, t))
                .collect::<Vec<_>>(),
        );
    }
    // doctor 1: pending, confirmed, arrived, completed, no-show, free
    let (pending, _) = seed::book(clinic, slots[0][0], patients[0]);
    let (confirmed, v) = seed::book(clinic, slots[0][1], patients[1]);
    status(clinic, confirmed, v, "CONFIRMED");
    let (arrived, v) = seed::book(clinic, slots[0][2], patients[2]);
    status(clinic, arrived, v, "ARRIVED");
    let (completed, v) = seed::book(clinic, slots[0][3], patients[3]);
    let v = status(clinic, completed, v, "ARRIVED");
    status(clinic, completed, v, "COMPLETED");
    let (missed, v) = seed::book(clinic, slots[0][4], patients[4]);
    let v = status(clinic, missed, v, "CONFIRMED");
    status(clinic, missed, v, "NO_SHOW");
    // doctor 2: a confirmed visit with an overbooked second patient, and more
    let (busy, v) = seed::book(clinic, slots[1][0], patients[5]);
    status(clinic, busy, v, "CONFIRMED");
    seed::run(
        clinic,
        &[
            "overbook",
            "--slot",
            &slots[1][0].to_string(),
            "--patient",
            &patients[6].to_string(),
            "--reason",
            "Acute pain",
        ],
    );
    for (i, p) in [(1, 1), (3, 3), (5, 0)] {
        seed::book(clinic, slots[1][i], patients[p]);
    }
    // doctor 3: pending and confirmed
    for (i, p) in [(0, 4), (2, 6), (4, 1)] {
        let (a, v) = seed::book(clinic, slots[2][i], patients[p]);
        if i == 2 {
            status(clinic, a, v, "CONFIRMED");
        }
    }
    Day {
        pending,
        pending_slot: slots[0][0],
        confirmed,
    }
}

/// Whether a history row anywhere in `v` goes from `from` to `to`.
fn has_step(v: &Value, from: &str, to: &str) -> bool {
    match v {
        Value::Object(m) => {
            (m.get("from_status") == Some(&json!(from)) && m.get("to_status") == Some(&json!(to)))
                || m.values().any(|x| has_step(x, from, to))
        }
        Value::Array(a) => a.iter().any(|x| has_step(x, from, to)),
        _ => false,
    }
}

async fn show_tomorrow(desk: &Desk) {
    click(desk, "nav.date-nav button[aria-label^='Next day']").await;
    wait_day_loaded(desk).await;
    desk.wait_for("[data-testid=day-grid] [data-testid=status]")
        .await;
}

/// The cell (`[data-testid=slot-cell]`) holding appointment `id`'s patient, by its
/// status text.
async fn cell_text(desk: &Desk, slot_css: &str) -> String {
    text(desk, slot_css).await
}

async fn js(desk: &Desk, script: &str, args: Vec<Value>) -> Value {
    desk.client()
        .execute(script, args)
        .await
        .unwrap_or_else(|e| panic!("{}: script failed: {e}\n{script}", desk.name()))
}

/// Waits until the cell of appointment `id` shows `status` (text), or panics.
async fn wait_cell_status(desk: &Desk, patient: &str, status: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let found = js(
            desk,
            "const [name, st] = arguments;\
             return [...document.querySelectorAll('[data-testid=slot-cell]')]\
               .some(c => c.innerText.includes(name) && c.querySelector('[data-testid=status]')?.innerText.includes(st));",
            vec![json!(patient), json!(status)],
        )
        .await;
        if found == json!(true) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{}: {patient}'s cell never showed {status:?}",
            desk.name()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_receptionist_checks_in_from_the_grid_and_sees_every_status() {
    let Some(clinic) = Clinic::for_test("receptionist_day_check_in") else {
        return;
    };
    let day = seed_day(&clinic);
    let desk = clinic.open_desk().await;
    sign_in(&desk, DESK.0, DESK.1).await;
    desk.wait_for_text("[data-testid=signed-in-as]", "Receptionist")
        .await;
    show_tomorrow(&desk).await;

    // every status has its coloured cell, with text and icon
    for (class, label) in [
        ("st-PENDING", "Pending"),
        ("st-CONFIRMED", "Confirmed"),
        ("st-ARRIVED", "Arrived"),
        ("st-COMPLETED", "Completed"),
        ("st-NO_SHOW", "No-show"),
    ] {
        let cell = cell_text(&desk, &format!("[data-testid=slot-cell].{class}")).await;
        assert!(
            cell.contains(label),
            "a {class} cell says {label}: {cell:?}"
        );
    }
    let over = cell_text(&desk, "[data-testid=slot-cell].overbooked").await;
    assert!(over.contains("Overbooked"), "overbooked says so: {over:?}");
    let free = cell_text(&desk, "[data-testid=slot-cell].free").await;
    assert!(free.contains("Free"), "a free cell says Free: {free:?}");
    let colours = js(
        &desk,
        "const bg = s => getComputedStyle(document.querySelector(s)).backgroundColor;\
         return ['.free', '.st-PENDING', '.st-CONFIRMED', '.st-ARRIVED', '.st-COMPLETED', '.st-NO_SHOW']\
           .map(c => bg('[data-testid=slot-cell]' + c));",
        vec![],
    )
    .await;
    let colours: Vec<String> = serde_json::from_value(colours).unwrap();
    let distinct: std::collections::BTreeSet<_> = colours.iter().collect();
    assert_eq!(
        distinct.len(),
        colours.len(),
        "free and each status have their own cell colour: {colours:?}"
    );
    desk.screenshot("receptionist_day-every-status").await;

    // a pending appointment: the cell's Check in button, no drawer
    let cell = format!("[data-slot-id='{}']", day.pending_slot);
    let first_pending = text(&desk, &format!("{cell} .patient")).await;
    assert_eq!(first_pending, "Anna Müller");
    assert!(text(&desk, &cell).await.contains("Pending"));
    js(
        &desk,
        "document.querySelector(arguments[0]).parentElement\
           .querySelector('[data-testid=check-in]').click();",
        vec![json!(cell)],
    )
    .await;
    desk.wait_for_text("[data-testid=toast]", "checked in")
        .await;
    desk.wait_for_text(&format!("{cell} [data-testid=status]"), "Arrived")
        .await;
    assert!(
        desk.client()
            .find_all(Locator::Css("[data-testid=appointment-drawer]"))
            .await
            .unwrap()
            .is_empty(),
        "checking in opens no drawer"
    );

    // a confirmed one: `c` on the focused cell
    let confirmed_name = "Maximiliane Wilhelmina Oberhauser-Schmidt";
    js(
        &desk,
        "const name = arguments[0];\
         const cell = [...document.querySelectorAll('[data-testid=slot-cell]')]\
           .find(c => c.innerText.includes(name) && c.innerText.includes('Confirmed'));\
         cell.querySelector('[data-testid=slot]').focus();",
        vec![json!(confirmed_name)],
    )
    .await;
    desk.client()
        .active_element()
        .await
        .unwrap()
        .send_keys("c")
        .await
        .unwrap();
    wait_cell_status(&desk, confirmed_name, "Arrived").await;

    // the history of the pending one says it was never confirmed
    let history = seed::run(&clinic, &["appointment", "show", &day.pending.to_string()]);
    assert!(
        has_step(&history, "PENDING", "ARRIVED"),
        "the history says PENDING -> ARRIVED: {history}"
    );
    let confirmed = seed::run(
        &clinic,
        &["appointment", "show", &day.confirmed.to_string()],
    );
    assert!(
        has_step(&confirmed, "CONFIRMED", "ARRIVED"),
        "the `c` key checked in the confirmed one: {confirmed}"
    );
    // the drawer shows the history too
    click(&desk, &cell).await;
    desk.wait_for_text(
        "[data-testid=appointment-drawer] .history",
        "Pending → Arrived",
    )
    .await;
    desk.screenshot("receptionist_day-checked-in").await;
    desk.close().await;
}

#[tokio::test]
async fn at_1024_by_600_with_the_drawer_open_no_badge_is_clipped() {
    let Some(clinic) = Clinic::for_test("receptionist_day_narrow") else {
        return;
    };
    seed_day(&clinic);
    let desk = clinic.open_desk().await;
    desk.client().set_window_size(1024, 600).await.unwrap();
    sign_in(&desk, DESK.0, DESK.1).await;
    show_tomorrow(&desk).await;
    // the drawer of a booked cell
    click(
        &desk,
        "[data-testid=slot-cell].st-CONFIRMED [data-testid=slot]",
    )
    .await;
    desk.wait_for("[data-testid=appointment-drawer] [data-testid=appt-status]")
        .await;
    let size = js(
        &desk,
        "return [window.innerWidth, window.innerHeight];",
        vec![],
    )
    .await;
    eprintln!("window inner size: {size}");

    // every badge: scrolled into view, the element at its centre is the badge
    let clipped = js(
        &desk,
        "const out = [];\
         for (const b of document.querySelectorAll('[data-testid=day-grid] [data-testid=status]')) {\
           b.scrollIntoView({block: 'center', inline: 'center'});\
           const r = b.getBoundingClientRect();\
           const at = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);\
           if (!(at === b || b.contains(at))) out.push(b.innerText + ' under ' + (at ? at.className + ' ' + at.innerText.slice(0, 30) : 'nothing'));\
         }\
         return out;",
        vec![],
    )
    .await;
    assert_eq!(clipped, json!([]), "badges covered or clipped");
    let badges = js(
        &desk,
        "return document.querySelectorAll('[data-testid=day-grid] [data-testid=status]').length;",
        vec![],
    )
    .await;
    assert!(badges.as_u64().unwrap() >= 10, "the day's badges: {badges}");

    // the three doctors fit beside the drawer: no sideways scrolling
    let fit = js(
        &desk,
        "const main = document.querySelector('main.main-area');\
         const drawer = document.querySelector('[data-testid=appointment-drawer]').getBoundingClientRect();\
         const cols = [...document.querySelectorAll('[data-testid=doctor-column]')].map(c => c.getBoundingClientRect().right);\
         return { scroll: main.scrollWidth - main.clientWidth, right: Math.max(...cols), drawerLeft: drawer.left,\
                  search: document.querySelector('[data-testid=global-search]').getBoundingClientRect().width };",
        vec![],
    )
    .await;
    assert!(
        fit["scroll"].as_f64().unwrap() <= 0.0,
        "no horizontal scroll: {fit}"
    );
    assert!(
        fit["right"].as_f64().unwrap() <= fit["drawerLeft"].as_f64().unwrap(),
        "the last doctor is beside the drawer, not under it: {fit}"
    );
    assert!(
        fit["search"].as_f64().unwrap() >= 150.0,
        "the top search keeps its width: {fit}"
    );
    js(
        &desk,
        "document.querySelector('main.main-area').scrollTo(0, 0);",
        vec![],
    )
    .await;
    desk.screenshot("receptionist_day-1024x600-drawer-open")
        .await;
    desk.close().await;
}

#[tokio::test]
async fn the_day_sheet_of_one_doctor_is_printed_from_the_day_view() {
    let Some(clinic) = Clinic::for_test("receptionist_day_print") else {
        return;
    };
    seed_day(&clinic);
    let desk = clinic.open_desk().await;
    sign_in(&desk, DESK.0, DESK.1).await;
    show_tomorrow(&desk).await;
    // Print hands the sheet to the window's print (recorded instead of a dialog)
    js(
        &desk,
        "window.print = () => { document.body.dataset.printed = document.querySelector('[data-testid=print-sheet]').innerText; };",
        vec![],
    )
    .await;
    let option = desk
        .wait_for("[data-testid=print-doctor] option:nth-child(3)")
        .await;
    let doctor = option.text().await.unwrap();
    assert!(doctor.contains("Haddad"), "the second doctor: {doctor:?}");
    option.click().await.unwrap();
    click(&desk, "[data-testid=print-day]").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let printed = loop {
        let p = js(
            &desk,
            "return document.body.dataset.printed || null;",
            vec![],
        )
        .await;
        if let Some(p) = p.as_str() {
            break p.to_string();
        }
        assert!(std::time::Instant::now() < deadline, "Print never printed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        printed.contains("Dr. Omar Haddad") && printed.contains("Elif Rossi"),
        "the sheet lists the chosen doctor's day: {printed}"
    );
    assert!(
        !printed.contains("Dr. Test"),
        "and no other doctor's: {printed}"
    );
    // the whole clinic
    js(&desk, "delete document.body.dataset.printed;", vec![]).await;
    desk.wait_for("[data-testid=print-doctor] option:nth-child(1)")
        .await
        .click()
        .await
        .unwrap();
    click(&desk, "[data-testid=print-day]").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let printed = loop {
        let p = js(
            &desk,
            "return document.body.dataset.printed || null;",
            vec![],
        )
        .await;
        if let Some(p) = p.as_str() {
            break p.to_string();
        }
        assert!(std::time::Instant::now() < deadline, "Print never printed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        printed.contains("Dr. Test") && printed.contains("Dr. Omar Haddad"),
        "the whole clinic's sheet: {printed}"
    );
    desk.close().await;
}

#[tokio::test]
async fn a_patient_alert_and_the_next_visit_show_where_the_desk_books() {
    let Some(clinic) = Clinic::for_test("receptionist_day_alert") else {
        return;
    };
    seed_day(&clinic);
    // a second Anna Müller, born another year, with nothing booked
    seed::run(
        &clinic,
        &[
            "patient",
            "add",
            "--name",
            "Anna Müller",
            "--phone",
            "0170 9999 888",
            "--dob",
            "1990-04-01",
        ],
    );
    let desk = clinic.open_desk().await;
    sign_in(&desk, DESK.0, DESK.1).await;

    // Patients: the two Annas are told apart by birth date and next visit
    click(&desk, "[data-testid=rail-patients]").await;
    crate::steps::fill(&desk, "#patient-search", "Anna").await;
    desk.wait_for_text("[aria-label='Patients found']", "no upcoming visit")
        .await;
    let rows = js(
        &desk,
        "return [...document.querySelectorAll('.patient-result')].map(r => r.innerText);",
        vec![],
    )
    .await;
    let rows: Vec<String> = serde_json::from_value(rows).unwrap();
    assert_eq!(rows.len(), 2, "two Annas: {rows:?}");
    assert!(
        rows.iter()
            .any(|r| r.contains("born ") && r.contains("1990") && r.contains("no upcoming visit"))
            && rows
                .iter()
                .any(|r| r.contains("next ") && r.contains("Dr. Test")),
        "birth date and next visit tell them apart: {rows:?}"
    );
    // the booked Anna gets an alert on the Patients screen
    js(
        &desk,
        "[...document.querySelectorAll('.patient-result')].find(r => r.innerText.includes('Dr. Test')).click();",
        vec![],
    )
    .await;
    click(&desk, "#edit-patient").await;
    crate::steps::fill(
        &desk,
        "form[aria-label='Edit patient'] input[name=alert]",
        "Penicillin allergy",
    )
    .await;
    crate::steps::click_button(&desk, "form[aria-label='Edit patient']", "Save").await;
    desk.wait_for_text("[data-testid=patient-alert]", "Penicillin allergy")
        .await;

    // the appointment panel shows it
    click(&desk, "[data-testid=rail-day]").await;
    show_tomorrow(&desk).await;
    js(
        &desk,
        "[...document.querySelectorAll('[data-testid=slot-cell]')]\
           .find(c => c.innerText.includes('Anna Müller')).querySelector('[data-testid=slot]').click();",
        vec![],
    )
    .await;
    desk.wait_for_text("[data-testid=appt-alert]", "Penicillin allergy")
        .await;
    click(&desk, "[data-testid=appointment-drawer] button.close").await;

    // the booking drawer too, once that Anna is chosen
    click(&desk, "[data-testid=slot-cell].free [data-testid=slot]").await;
    crate::steps::fill(
        &desk,
        "[data-testid=booking-drawer] input[name=patient-search]",
        "Anna",
    )
    .await;
    desk.wait_for_text("#patient-results", "no upcoming visit")
        .await;
    js(
        &desk,
        "[...document.querySelectorAll('#patient-results button')].find(b => b.innerText.includes('Dr. Test')).click();",
        vec![],
    )
    .await;
    desk.wait_for_text("[data-testid=booking-alert]", "Penicillin allergy")
        .await;
    desk.screenshot("receptionist_day-booking-alert").await;
    desk.close().await;
}
