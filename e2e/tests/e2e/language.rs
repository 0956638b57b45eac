//! The clinic's language and formats: the demo clinic switched to German (Admin →
//! Settings, `clinic.language`) speaks German with German dates, 24-hour times,
//! euro amounts as "20,00 €" and phone numbers as people write them; a desk's own
//! choice (the status line, kept in the desk's localStorage) switches it back to
//! English, and "the clinic's" follows the clinic again.

use frontdesk_e2e::{Desk, Locator};

use crate::steps::{click, select, show_a_day_with_slots, sign_in, text};

const WEEKDAYS_DE: [&str; 7] = [
    "Montag",
    "Dienstag",
    "Mittwoch",
    "Donnerstag",
    "Freitag",
    "Samstag",
    "Sonntag",
];
const MONTHS_DE: [&str; 12] = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];
const WEEKDAYS_EN: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// (year, month 1-12, day, weekday 0 = Monday) of a `YYYY-MM-DD` date.
fn parts(iso: &str) -> (i64, usize, i64, usize) {
    let mut it = iso.split('-').map(|p| p.parse::<i64>().unwrap());
    let (y, m, d) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    // Sakamoto's method: 0 = Sunday
    const T: [i64; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let yy = if m < 3 { y - 1 } else { y };
    let sunday_first = (yy + yy / 4 - yy / 100 + yy / 400 + T[(m - 1) as usize] + d) % 7;
    (y, m as usize, d, ((sunday_first + 6) % 7) as usize)
}

/// "Mittwoch, 2. Dezember 2026".
fn german_date(iso: &str) -> String {
    let (y, m, d, w) = parts(iso);
    format!("{}, {d}. {} {y}", WEEKDAYS_DE[w], MONTHS_DE[m - 1])
}

/// "Wednesday, 2 December 2026".
fn english_date(iso: &str) -> String {
    let (y, m, d, w) = parts(iso);
    format!("{}, {d} {} {y}", WEEKDAYS_EN[w], MONTHS_EN[m - 1])
}

/// Intl puts a no-break space (U+00A0 or U+202F) between amount and sign.
fn plain(s: &str) -> String {
    s.replace(['\u{a0}', '\u{202f}'], " ")
}

async fn shown_date(desk: &Desk) -> (String, String) {
    let el = desk.find("[data-testid=current-date]").await;
    let iso = el.attr("data-date").await.unwrap().unwrap_or_default();
    (iso, el.text().await.unwrap())
}

/// Waits until the element's text contains `expected` and returns it.
async fn wait_text(desk: &Desk, css: &str, expected: &str) -> String {
    desk.wait_for_text(css, expected).await
}

/// The price the booking drawer shows for the first appointment type, on a free
/// slot of the shown day (or the next days'). Closes the drawer again.
async fn price_in_booking_drawer(desk: &Desk) -> String {
    for _ in 0..5 {
        let free = desk
            .client()
            .find_all(Locator::Css("[data-testid=day-grid] button.cell.free"))
            .await
            .unwrap_or_default();
        if let Some(cell) = free.first() {
            cell.click().await.unwrap();
            let types = desk.wait_for("select[name=appointment-type]").await;
            types.select_by_index(1).await.unwrap();
            let price = text(desk, "[data-testid=booking-price]").await;
            desk.find("[data-testid=booking-drawer] .close")
                .await
                .click()
                .await
                .unwrap();
            return plain(&price);
        }
        // ▶: the next day
        click(desk, "nav.date-nav > button:nth-of-type(3)").await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    panic!(
        "{}: no free slot in five days of the demo clinic",
        desk.name()
    );
}

/// The Patients screen, the Till and Admin → Staff in German, with German dates and
/// amounts; a screenshot of each (`language-de-patients`, `-till`, `-admin`).
async fn german_screens(desk: &Desk) {
    click(desk, "[data-testid=rail-patients]").await;
    let screen = wait_text(desk, "section.screen", "Nach Name oder Telefon suchen").await;
    assert!(
        screen.contains("Patienten"),
        "the Patients screen in German: {screen:?}"
    );
    crate::steps::fill(desk, "#patient-search", "a").await;
    desk.wait_for(".patient-result").await;
    let found = text(desk, "section.screen [role=listbox]").await;
    assert!(
        found.contains("geb. ") || found.contains("kein Geburtsdatum"),
        "search results in German: {found:?}"
    );
    assert!(
        !found.contains("+49") && !found.contains("born") && !found.contains("next "),
        "no English and no E.164 in the results: {found:?}"
    );
    click(desk, ".patient-result").await;
    let details = wait_text(desk, ".patient-details", "Termine").await;
    for label in [
        "Telefon",
        "Erinnerungen",
        "Bearbeiten",
        "Wann",
        "Gebucht von",
    ] {
        assert!(
            details.contains(label),
            "patient details have {label}: {details:?}"
        );
    }
    desk.screenshot("language-de-patients").await;

    click(desk, "[data-testid=rail-till]").await;
    let till = wait_text(desk, ".till-screen", "Kasse abschließen").await;
    for label in [
        "Kasse",
        "Zahlart",
        "Erwartet",
        "Gezählt",
        "Differenz",
        "Bar",
        "Kassenabschlüsse",
    ] {
        assert!(till.contains(label), "the till has {label}: {till:?}");
    }
    let expected = plain(&text(desk, "[data-testid=till-expected-CASH]").await);
    assert!(
        expected.ends_with(" €") && expected.contains(','),
        "a German euro amount in the till, got {expected:?}"
    );
    desk.screenshot("language-de-till").await;

    click(desk, "[data-testid=rail-admin]").await;
    click(desk, "#admin-tab-staff").await;
    let staff = wait_text(desk, ".staff-table", "Benutzername").await;
    for label in [
        "Rolle",
        "Zustand",
        "Aktiv",
        "Passwort zurücksetzen",
        "Empfang",
    ] {
        assert!(
            staff.contains(label),
            "Admin → Staff has {label}: {staff:?}"
        );
    }
    let form = text(desk, "form.card").await;
    assert!(
        form.contains("Zugang anlegen"),
        "the add-staff form in German: {form:?}"
    );
    click(desk, "#admin-tab-audit").await;
    // the language change above, in words (filtered by the entity, named in German)
    select(desk, "#audit-entity", "setting").await;
    wait_text(desk, ".audit-table", "Einstellung geändert").await;
    let entities = text(desk, "#audit-entity").await;
    assert!(
        entities.contains("Einstellung") && entities.contains("Termin"),
        "entities in German: {entities:?}"
    );
    select(desk, "#audit-entity", "").await;
    // the Record column: the entity in words and its number ("Patient Nr. 12"), not "patient #12"
    let records = desk
        .client()
        .execute(
            "return [...document.querySelectorAll('.audit-table tbody tr td:nth-child(4)')].map(td => td.innerText);",
            vec![],
        )
        .await
        .unwrap();
    let records: Vec<String> = serde_json::from_value(records).unwrap();
    assert!(!records.is_empty(), "the audit log lists events");
    for r in &records {
        assert!(
            !r.contains('#') && r.chars().next().is_none_or(|c| !c.is_lowercase()),
            "an audit record in words, got {r:?}"
        );
    }
    desk.screenshot("language-de-admin").await;
}

/// Opens the first booked cell and returns the patient line ("name · phone").
async fn patient_line_of_first_appointment(desk: &Desk) -> String {
    click(desk, "[data-testid=day-grid] .slot.booked button.cell").await;
    desk.wait_for("[data-testid=appt-patient]").await;
    text(desk, "[data-testid=appointment-drawer] .facts dd").await
}

#[tokio::test]
async fn the_demo_clinic_speaks_german_or_english_with_its_formats() {
    let Some(clinic) = frontdesk_e2e::Clinic::for_test("language") else {
        return;
    };
    let desk = clinic.open_desk_with_args(&["--demo"]).await;
    desk.wait_for("[data-testid=demo-accounts]").await;
    let password = text(&desk, "[data-testid=demo-password-admin]").await;
    sign_in(&desk, "admin", &password).await;
    // the web view's localStorage outlives a run (and may keep a desk's choice of
    // another test's window): this desk follows the clinic
    select(&desk, "[data-testid=desk-language]", "").await;
    show_a_day_with_slots(&desk).await;
    let rail = text(&desk, "nav.left-rail").await;
    assert!(rail.contains("Patients"), "English by default: {rail:?}");

    // the clinic chooses German (Admin → Settings)
    click(&desk, "[data-testid=rail-admin]").await;
    click(&desk, "#admin-tab-settings").await;
    select(&desk, "#settings-language", "de").await;
    click(&desk, "#settings-save").await;
    wait_text(&desk, "nav.left-rail", "Patienten").await;
    click(&desk, "[data-testid=rail-day]").await;
    show_a_day_with_slots(&desk).await;

    let rail = text(&desk, "nav.left-rail").await;
    for label in ["Tag", "Offen", "Patienten", "Warteliste", "Verwaltung"] {
        assert!(rail.contains(label), "German rail has {label}: {rail:?}");
    }
    let (iso, shown) = shown_date(&desk).await;
    assert_eq!(shown, german_date(&iso), "a German date for {iso}");
    let top = text(&desk, "header.top-bar").await;
    assert!(
        top.contains("Heute") && top.contains("Abmelden") && top.contains("Verwaltung"),
        "the top bar speaks German: {top:?}"
    );
    // every status badge in German, one label per status
    let badges = desk
        .client()
        .find_all(Locator::Css("[data-testid=day-grid] [data-testid=status]"))
        .await
        .unwrap();
    let german = [
        "Offen",
        "Bestätigt",
        "Angekommen",
        "Erledigt",
        "Nicht erschienen",
    ];
    for badge in badges.iter().take(20) {
        let label = badge.text().await.unwrap();
        assert!(
            german.iter().any(|g| label.contains(g)),
            "a status badge in German, got {label:?}"
        );
    }
    // 24-hour times in the cells: "13:00–13:20", no AM/PM
    let ranges = desk
        .client()
        .find_all(Locator::Css("[data-testid=day-grid] .range"))
        .await
        .unwrap();
    let mut afternoon = false;
    for r in &ranges {
        let range = r.text().await.unwrap();
        assert!(
            !range.contains("AM") && !range.contains("PM"),
            "24 h times: {range:?}"
        );
        let hour: u32 = range[..2].parse().unwrap_or(0);
        afternoon |= hour >= 13;
    }
    assert!(
        afternoon,
        "the demo day runs past 13:00, shown as 13:xx, not 1:xx"
    );
    // the patient's phone as people write it in Germany, not E.164
    let line = patient_line_of_first_appointment(&desk).await;
    let phone = line.rsplit(" · ").next().unwrap_or_default().to_string();
    assert!(
        phone.starts_with('0') && phone.contains(' ') && !phone.contains('+'),
        "a national German number, got {line:?}"
    );
    let facts = text(&desk, "[data-testid=appointment-drawer] .facts").await;
    assert!(
        facts.contains("Patient") && facts.contains("Gebucht"),
        "the drawer in German: {facts:?}"
    );
    let png = desk.screenshot("language-de").await;
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    std::fs::copy(&png, docs.join("screenshot-german.png")).unwrap();
    desk.find("[data-testid=appointment-drawer] .close")
        .await
        .click()
        .await
        .unwrap();
    // euro amounts the German way
    let price = price_in_booking_drawer(&desk).await;
    assert!(
        price.ends_with(",00 €") && !price.contains('.'),
        "a German euro amount such as \"20,00 €\", got {price:?}"
    );

    // the other screens speak German too: Patients, the Till and an Admin tab
    german_screens(&desk).await;
    click(&desk, "[data-testid=rail-day]").await;
    show_a_day_with_slots(&desk).await;

    // this desk chooses English for itself (the status line)
    select(&desk, "[data-testid=desk-language]", "en").await;
    wait_text(&desk, "nav.left-rail", "Patients").await;
    let (iso, shown) = shown_date(&desk).await;
    assert_eq!(shown, english_date(&iso), "an English date for {iso}");
    let line = patient_line_of_first_appointment(&desk).await;
    assert!(
        !line.contains("+49"),
        "still the clinic's national format: {line:?}"
    );
    let facts = text(&desk, "[data-testid=appointment-drawer] .facts").await;
    assert!(facts.contains("Booked"), "the drawer in English: {facts:?}");
    desk.screenshot("language-en").await;
    desk.find("[data-testid=appointment-drawer] .close")
        .await
        .click()
        .await
        .unwrap();
    let price = price_in_booking_drawer(&desk).await;
    assert!(
        price.starts_with('€') && price.ends_with(".00"),
        "an English euro amount such as \"€20.00\", got {price:?}"
    );

    // "the clinic's" again: German, as the clinic says
    select(&desk, "[data-testid=desk-language]", "").await;
    wait_text(&desk, "nav.left-rail", "Patienten").await;
    desk.close().await;
}
