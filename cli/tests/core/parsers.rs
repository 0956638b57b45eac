//! Property tests of every parser at the boundary (phones, times, dates, time
//! zones, status/mode/role words, free text, command-line arguments) and of the
//! core API with arbitrary ids, strings and times: nothing panics, bad input is
//! refused with a typed error, good input is accepted, and `check` still passes.

use std::str::FromStr;

use chrono::{NaiveDate, TimeZone};
use frontdesk::domain::clinic::{
    normalize_phone, optional_text, parse_date, parse_moment, parse_time_zone, required_text,
};
use frontdesk::{AppointmentStatus, BookRequest, ErrorCode, NewPatient, Role, SlotMode};
use proptest::prelude::*;

use crate::fixture::{self, Clinic, NOW};

fn country() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("DE".to_string()),
        Just("US".to_string()),
        Just("GB".to_string()),
        "[A-Za-z]{0,3}"
    ]
}

fn phone_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[+0-9 ()/.-]{0,45}",
        "(\\+|00)?[0-9]{1,20}"
    ]
}

/// Time zone names: arbitrary, and near misses of real ones (another case, a
/// letter short or too many, padded with blanks, which is accepted).
fn zone_like() -> impl Strategy<Value = String> {
    let zones = chrono_tz::TZ_VARIANTS;
    prop_oneof![
        "[A-Za-z/_+-]{0,30}",
        (0..zones.len(), 0..5u8).prop_map(move |(i, how)| {
            let name = zones[i].name();
            match how {
                0 => name.to_lowercase(),
                1 => name.to_uppercase(),
                2 => name[..name.len() - 1].to_string(),
                3 => format!("{name}x"),
                _ => format!("  {name}\t"),
            }
        }),
    ]
}

/// Status, mode and role words: arbitrary, and the known ones spelt many ways.
fn word_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ ]?(in|IN|In)[-_ ]?(person|PERSON|Person)[ ]?",
        "[ ]?(video|VIDEO|Video|phone|PHONE|Phone|vidéo|phones)[ ]?",
        "(pending|confirmed|no[-_ ]show|ADMIN|receptionist)",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn phone_numbers_never_panic_and_normalise_to_stable_e164(input in phone_like(), country in country()) {
        if let Ok(e164) = normalize_phone(&input, &country) {
            prop_assert!(e164.starts_with('+') && e164[1..].bytes().all(|b| b.is_ascii_digit()), "not E.164: {e164}");
            prop_assert!(e164.len() <= 16, "E.164 has at most 15 digits: {e164}");
            prop_assert_eq!(normalize_phone(&e164, &country).ok(), Some(e164.clone()), "normalising twice changes nothing");
        }
    }

    #[test]
    fn german_mobile_numbers_written_any_usual_way_are_accepted(digits in "[0-9]{8}", sep in prop_oneof![Just(""), Just(" "), Just("-"), Just("/")]) {
        let expected = format!("+49151{digits}");
        prop_assert_eq!(normalize_phone(&format!("0151{sep}{digits}"), "DE").unwrap(), expected.clone());
        prop_assert_eq!(normalize_phone(&format!("+49 151 {digits}"), "US").unwrap(), expected);
    }

    #[test]
    fn arbitrary_moments_never_panic(input in any::<String>(), tz in prop_oneof![Just("UTC"), Just("Europe/Berlin"), Just("America/New_York")]) {
        if let Err(e) = parse_moment(&input, tz.parse().unwrap()) {
            prop_assert_eq!(e.code(), ErrorCode::Invalid, "a refusal is Invalid: {}", e);
        }
    }

    #[test]
    fn local_wall_clock_times_in_utc_parse_to_the_same_instant(secs in 0i64..4_000_000_000) {
        let dt = chrono::Utc.timestamp_opt(secs - secs % 60, 0).unwrap();
        let utc = chrono_tz::UTC;
        prop_assert_eq!(parse_moment(&dt.format("%Y-%m-%d %H:%M").to_string(), utc).unwrap(), dt.timestamp());
        prop_assert_eq!(parse_moment(&dt.to_rfc3339(), chrono_tz::Europe::Berlin).unwrap(), dt.timestamp(), "an offset wins over the zone");
    }

    #[test]
    fn dates_round_trip_and_impossible_dates_are_refused(days in 0i64..200_000, junk in any::<String>(), y in 1000i32..9999, m in 13u32..99) {
        let d = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Duration::days(days);
        prop_assert_eq!(parse_date(&d.format("%Y-%m-%d").to_string()).unwrap(), d);
        match parse_date(&junk) {
            // only a real YYYY-MM-DD date gets through, and it reads back the same
            Ok(d) => prop_assert_eq!(parse_date(&d.format("%Y-%m-%d").to_string()).unwrap(), d),
            Err(e) => prop_assert_eq!(e.code(), ErrorCode::Invalid),
        }
        prop_assert!(parse_date(&format!("{y}-{m:02}-01")).is_err(), "month {m} does not exist");
        prop_assert!(parse_date(&format!("{y}-02-30")).is_err(), "30 February does not exist");
    }

    #[test]
    fn time_zone_names_are_accepted_exactly_when_iana_knows_them(junk in zone_like(), pick in 0usize..600) {
        let known = chrono_tz::TZ_VARIANTS.iter().find(|z| z.name() == junk.trim());
        match (parse_time_zone(&junk), known) {
            (Ok(tz), Some(zone)) => prop_assert_eq!(tz, *zone),
            (Err(e), None) => {
                prop_assert_eq!(e.code(), ErrorCode::Invalid);
                prop_assert!(e.to_string().contains("unknown time zone"), "says why: {}", e);
            }
            (got, want) => prop_assert!(false, "{:?}: parsed as {:?}, IANA has {:?}", junk, got, want),
        }
        let zones = chrono_tz::TZ_VARIANTS;
        let tz = zones[pick % zones.len()];
        prop_assert_eq!(parse_time_zone(tz.name()).unwrap(), tz);
    }

    #[test]
    fn status_mode_and_role_words_parse_only_to_known_values(word in word_like(), i in 0usize..6) {
        if let Ok(s) = AppointmentStatus::from_str(&word) {
            prop_assert!(AppointmentStatus::ALL.contains(&s));
            prop_assert_eq!(s.as_str(), word.trim().to_ascii_uppercase().replace(['-', ' '], "_"));
        }
        // accepted exactly when, spelt in capitals with `_` for `-` and spaces, the
        // word is a mode's name (or IN_PERSON without its underscore)
        let spelt = word.trim().to_ascii_uppercase().replace(['-', ' '], "_");
        let meant = [SlotMode::InPerson, SlotMode::Video, SlotMode::Phone]
            .into_iter()
            .find(|m| m.as_str() == spelt || m.as_str().replace('_', "") == spelt);
        match (SlotMode::from_str(&word), meant) {
            (Ok(m), Some(want)) => prop_assert_eq!(m, want),
            (Err(e), None) => prop_assert_eq!(e.code(), ErrorCode::Invalid),
            (got, want) => prop_assert!(false, "{:?}: parsed as {:?}, expected {:?}", word, got, want),
        }
        if let Ok(r) = Role::from_str(&word) {
            prop_assert_eq!(r.as_str(), word.trim().to_ascii_uppercase());
        }
        let s = AppointmentStatus::ALL[i];
        prop_assert_eq!(AppointmentStatus::from_str(&s.as_str().to_lowercase()).unwrap(), s);
        for m in [SlotMode::InPerson, SlotMode::Video, SlotMode::Phone] {
            prop_assert_eq!(SlotMode::from_str(m.as_str()).unwrap(), m);
        }
    }

    #[test]
    fn free_text_is_trimmed_bounded_and_free_of_control_characters(text in any::<String>(), max in 0usize..50) {
        match optional_text("the note", &text, max) {
            Ok(v) => {
                prop_assert_eq!(v.as_str(), text.trim());
                prop_assert!(v.chars().count() <= max);
                prop_assert!(!v.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
            }
            Err(e) => prop_assert_eq!(e.code(), ErrorCode::Invalid),
        }
        match required_text("the name", &text, max) {
            Ok(v) => prop_assert!(!v.is_empty()),
            Err(e) => prop_assert_eq!(e.code(), ErrorCode::Invalid),
        }
        prop_assert!(required_text("the name", " \t ", 10).is_err(), "blank is not a name");
    }
}

/// Words the command line knows, plus noise; never the commands that run for
/// long, replace the database, or run a configured program.
fn cli_word() -> impl Strategy<Value = String> {
    let words = [
        "init",
        "doctor",
        "add",
        "list",
        "slot",
        "slots",
        "block",
        "patient",
        "search",
        "book",
        "reschedule",
        "appointment",
        "status",
        "show",
        "check",
        "stats",
        "staff",
        "otp",
        "request",
        "verify",
        "audit",
        "template",
        "waitlist",
        "series",
        "--json",
        "--name",
        "--phone",
        "--slot",
        "--patient",
        "--status",
        "--version",
        "--from",
        "--to",
        "--doctor",
        "--date",
        "--limit",
        "--start",
        "--end",
        "--mode",
        "--help",
        "1",
        "0",
        "-1",
        "99999999999999999999",
        "CONFIRMED",
        "no-show",
        "2030-01-07",
        "2030-01-07 09:00",
        "0151 2345 6789",
        "",
    ];
    prop_oneof![
        3 => proptest::sample::select(words.to_vec()).prop_map(str::to_string),
        1 => "[ -~]{0,12}",
        1 => any::<String>().prop_filter("no NUL in process arguments", |s| !s.contains('\0')),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_command_line_never_panics_on_arbitrary_arguments(args in proptest::collection::vec(cli_word(), 0..7)) {
        let forbidden = ["bench", "stress", "bench-worker", "stress-worker", "restore", "backup", "backups", "settings", "deliver", "export", "demo"];
        prop_assume!(!args.iter().any(|a| forbidden.contains(&a.as_str())));
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("cli.sqlite3");
        // a clinic with an admin to sign in as, so the words reach the commands
        let init = fixture::cli_anonymous(&db)
            .args(["init", "--admin-username", fixture::CLI_ADMIN])
            .env(fixture::NEW_PASSWORD_ENV, fixture::PASSWORD)
            .output()
            .unwrap();
        prop_assert!(init.status.success(), "init: {}", String::from_utf8_lossy(&init.stderr));
        let out = fixture::cli(&db)
            .args(&args)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        prop_assert!(!stderr.contains("panicked"), "panic for {args:?}: {stderr}");
        prop_assert!(matches!(out.status.code(), Some(0..=3)), "exit {:?} for {args:?}: {stderr}", out.status.code());
    }
}

/// One call of the core API with arbitrary input.
#[derive(Debug, Clone)]
enum Call {
    Book {
        slot: i64,
        patient: i64,
        reason: String,
    },
    Reschedule {
        appointment: i64,
        version: i64,
        slot: i64,
    },
    Status {
        appointment: i64,
        version: i64,
        to: usize,
        note: String,
    },
    AddSlot {
        doctor: i64,
        start: i64,
        len: i64,
        mode: usize,
    },
    AddPatient {
        name: String,
        phone: String,
        dob: Option<String>,
    },
    Search {
        text: String,
        limit: u32,
    },
    Passcode {
        phone: String,
        code: String,
    },
}

fn small_id() -> impl Strategy<Value = i64> {
    prop_oneof![4 => -1i64..8, 1 => any::<i64>()]
}

fn moment() -> impl Strategy<Value = i64> {
    prop_oneof![3 => (NOW - 86_400)..(NOW + 30 * 86_400), 1 => any::<i64>()]
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        (small_id(), small_id(), any::<String>()).prop_map(|(slot, patient, reason)| Call::Book {
            slot,
            patient,
            reason
        }),
        (small_id(), small_id(), small_id()).prop_map(|(appointment, version, slot)| {
            Call::Reschedule {
                appointment,
                version,
                slot,
            }
        }),
        (small_id(), small_id(), 0usize..6, any::<String>()).prop_map(
            |(appointment, version, to, note)| Call::Status {
                appointment,
                version,
                to,
                note
            }
        ),
        (
            small_id(),
            moment(),
            prop_oneof![Just(1800i64), any::<i64>()],
            0usize..3
        )
            .prop_map(|(doctor, start, len, mode)| Call::AddSlot {
                doctor,
                start,
                len,
                mode
            }),
        (
            any::<String>(),
            phone_like(),
            proptest::option::of(prop_oneof!["[0-9]{4}-[0-9]{2}-[0-9]{2}", any::<String>()])
        )
            .prop_map(|(name, phone, dob)| Call::AddPatient { name, phone, dob }),
        (any::<String>(), any::<u32>()).prop_map(|(text, limit)| Call::Search { text, limit }),
        (phone_like(), prop_oneof!["[0-9]{6}", any::<String>()])
            .prop_map(|(phone, code)| Call::Passcode { phone, code }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_core_api_refuses_arbitrary_input_with_typed_errors_and_stays_consistent(calls in proptest::collection::vec(call(), 1..25)) {
        let c = Clinic::new();
        let doctor = c.doctor("Dr. Prop");
        c.slots(doctor, 3);
        c.patient("Pia Prop", "0151 2345 6789");
        let admin = c.admin();
        let modes = [SlotMode::InPerson, SlotMode::Video, SlotMode::Phone];
        for call in calls {
            let result = match &call {
                Call::Book { slot, patient, reason } => c.desk.book(&admin, &BookRequest { slot_id: *slot, patient_id: *patient, reason: reason.clone() }).map(|_| ()),
                Call::Reschedule { appointment, version, slot } => c.desk.reschedule(&admin, *appointment, *version, *slot).map(|_| ()),
                Call::Status { appointment, version, to, note } => {
                    c.desk.change_status(&admin, *appointment, *version, AppointmentStatus::ALL[*to], note).map(|_| ())
                }
                Call::AddSlot { doctor, start, len, mode } => {
                    c.desk.add_slot(&admin, *doctor, *start, start.saturating_add(*len), modes[*mode]).map(|_| ())
                }
                Call::AddPatient { name, phone, dob } => c
                    .desk
                    .add_patient(&admin, &NewPatient { name: name.clone(), phone: phone.clone(), date_of_birth: dob.clone(), notes: String::new(), alert: None })
                    .map(|_| ()),
                Call::Search { text, limit } => c.desk.search_patients(&admin, text, *limit).map(|_| ()),
                Call::Passcode { phone, code } => {
                    c.desk.request_otp(&admin, phone).and_then(|_| c.desk.verify_otp(&admin, phone, code)).map(|_| ())
                }
            };
            if let Err(e) = result {
                prop_assert!(e.code() != ErrorCode::Internal && e.code() != ErrorCode::Busy, "{call:?} failed inside: {e:?}");
            }
        }
        let report = c.desk.check().unwrap();
        prop_assert!(report.ok, "check after arbitrary calls: {:?}", report.items.iter().filter(|i| !i.ok).collect::<Vec<_>>());
    }
}

#[test]
fn a_number_dialled_with_the_international_prefix_normalises_to_a_form_that_normalises_again() {
    // found by the property test above (input "0078110000000", clinic in GB):
    // accepted as "+78110000000", which was then refused as not a valid number
    for (input, country) in [("0078110000000", "GB"), ("0049 151 23456789", "GB")] {
        if let Ok(e164) = normalize_phone(input, country) {
            assert_eq!(
                normalize_phone(&e164, country).ok(),
                Some(e164.clone()),
                "{input:?} in {country} became {e164}, which must read back the same"
            );
        }
    }
}
