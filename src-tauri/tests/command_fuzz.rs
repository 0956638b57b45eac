//! Command fuzz (issue 7): every registered app command is called through Tauri's
//! real IPC and ACL path (mock runtime) with arbitrary JSON arguments — wrong types,
//! huge and negative numbers, long, unicode and control-character strings, missing
//! fields, nulls — signed out, as a receptionist and as an admin. Nothing may
//! panic, every answer is a result or a `{code, message}` error (or Tauri's own
//! refusal of arguments that do not parse), and the database passes
//! `frontdesk check` afterwards. Seeded, so a failure replays.

use std::path::PathBuf;

use frontdesk::{Actor, Frontdesk, NewStaff, OpenOptions, Role};
use serde_json::{json, Map, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{App, Manager, WebviewWindow};

const ADMIN: (&str, &str) = ("fuzz.admin", "quiet harbor lantern 7");
const DESK: (&str, &str) = ("fuzz.desk", "amber meadow violin 4");
const CODES: &[&str] = &[
    "NotFound",
    "SlotTaken",
    "Conflict",
    "InvalidTransition",
    "Invalid",
    "RateLimited",
    "Unauthenticated",
    "Forbidden",
    "Busy",
    "Internal",
];

/// Passes over every command per identity (signed out, receptionist, admin).
const ROUNDS_PER_IDENTITY: usize = 16;

/// The command names registered in build.rs (the list the ACL is generated from).
fn registered_commands() -> Vec<String> {
    let build = include_str!("../build.rs");
    let start = build
        .find("const COMMANDS")
        .expect("build.rs lists COMMANDS");
    let list = &build[start..build[start..].find("];").unwrap() + start];
    list.lines()
        .filter_map(|l| {
            let l = l.trim();
            (l.starts_with('"')).then(|| l.trim_matches(|c| c == '"' || c == ',').to_string())
        })
        .collect()
}

/// Commands whose arguments are parsed through `commands::input::Input` (all that
/// take JSON arguments): their
/// argument refusals too must be `{code, message}`.
fn commands_with_typed_refusals() -> Vec<String> {
    [
        include_str!("../src/commands/appointments.rs"),
        include_str!("../src/commands/desk.rs"),
        include_str!("../src/commands/session.rs"),
        include_str!("../src/commands/patients.rs"),
        include_str!("../src/commands/waitlist.rs"),
        include_str!("../src/commands/schedule.rs"),
        include_str!("../src/commands/admin.rs"),
        include_str!("../src/commands/operations.rs"),
    ]
    .iter()
    .flat_map(|src| src.split("pub async fn ").skip(1))
    .map(|rest| rest.split(['(', '<']).next().unwrap().to_string())
    // its only argument is a Channel that Tauri itself builds from the page's
    // callback id, not a value parsed from JSON
    .filter(|name| name != "watch_changes")
    .collect()
}

/// xorshift64*: small, seeded, good enough to pick shapes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// Argument names the app's commands use (camelCase, as JS sends them).
const KEYS: &[&str] = &[
    "text",
    "patientId",
    "expectedVersion",
    "details",
    "phone",
    "code",
    "doctorId",
    "entry",
    "entryId",
    "slotId",
    "date",
    "template",
    "templateId",
    "timeOff",
    "timeOffId",
    "from",
    "to",
    "dryRun",
    "staff",
    "staffId",
    "password",
    "role",
    "settings",
    "key",
    "value",
    "sender",
    "filter",
    "period",
    "username",
    "request",
    "appointmentId",
    "version",
    "reason",
    "status",
    "setup",
    "name",
    "specialty",
    "startAt",
    "endAt",
    "mode",
    "blocked",
    "patient",
    "note",
];

fn scalar(rng: &mut Rng) -> Value {
    match rng.below(16) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(0),
        4 => json!(1),
        5 => json!(i64::MAX),
        6 => json!(i64::MIN),
        7 => json!(1e308),
        8 => json!(""),
        9 => json!("x".repeat(20_000)),
        10 => json!("Jörg 🦀 مرحبا \u{202e}ﷺ"),
        11 => json!("\u{0}\u{1}\n\r\t\u{7f}"),
        12 => json!("2030-01-07"),
        13 => json!("+4915112345678"),
        14 => json!(["ADMIN", 1, null]),
        _ => json!("ADMIN"),
    }
}

fn value(rng: &mut Rng, depth: u32) -> Value {
    if depth > 0 && rng.below(3) == 0 {
        let mut m = Map::new();
        for _ in 0..rng.below(8) {
            let k = match rng.below(4) {
                0 => "name",
                1 => "phone",
                2 => "doctor_id",
                _ => rng.pick(&[
                    "patient_id",
                    "weekday",
                    "start",
                    "end",
                    "breaks",
                    "hours",
                    "limit",
                    "program",
                    "args",
                    "time_zone",
                    "idle_minutes",
                    "slot_minutes",
                    "from_date",
                    "to_date",
                    "role",
                    "username",
                    "password",
                    "display_name",
                ]),
            };
            m.insert(k.to_string(), value(rng, depth - 1));
        }
        Value::Object(m)
    } else {
        scalar(rng)
    }
}

fn arguments(rng: &mut Rng) -> Value {
    let mut m = Map::new();
    if rng.below(2) == 0 {
        // every name a command might take, so each command gets all of its arguments
        // (with arbitrary values) and the core, not only the argument parser, is reached
        for k in KEYS {
            if rng.below(8) != 0 {
                m.insert(k.to_string(), value(rng, 2));
            }
        }
    } else {
        for _ in 0..rng.below(6) {
            m.insert(rng.pick(KEYS).to_string(), value(rng, 2));
        }
    }
    Value::Object(m)
}

fn invoke(window: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize().unwrap_or(Value::Null))
}

/// A database with an admin and a receptionist, a doctor, slots and a patient.
fn clinic() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("frontdesk-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("clinic.sqlite3");
    let desk = Frontdesk::open(&db, OpenOptions::default()).unwrap();
    desk.create_first_admin(ADMIN.0, "Fuzz Admin", ADMIN.1)
        .unwrap();
    let cli = Actor::local_admin();
    desk.add_staff(
        &cli,
        &NewStaff {
            username: DESK.0.into(),
            display_name: "Fuzz Desk".into(),
            role: Role::Receptionist,
            password: DESK.1.into(),
        },
    )
    .unwrap();
    desk.create_demo_clinic(&cli).unwrap();
    db
}

fn started(mut app: App<MockRuntime>) -> App<MockRuntime> {
    #[allow(deprecated)]
    app.run_iteration(|_, _| {});
    app
}

#[test]
fn every_command_answers_arbitrary_input_with_a_result_or_a_code_and_a_message() {
    let db = clinic();
    // SAFETY-relevant only for other threads reading the environment: none run yet.
    unsafe { std::env::set_var("FRONTDESK_DB", &db) };
    let app = started(
        frontdesk_app::install(mock_builder())
            .build(frontdesk_app::context())
            .unwrap(),
    );
    let window = app.get_webview_window("main").expect("the main window");
    let commands = registered_commands();
    let typed_refusals = commands_with_typed_refusals();
    assert!(
        typed_refusals.iter().all(|c| commands.contains(c)) && typed_refusals.len() > 40,
        "every command of B's modules is registered, got {typed_refusals:?}"
    );
    assert!(
        commands.len() > 40,
        "expected every command from build.rs, got {commands:?}"
    );

    let mut rng = Rng(0x5eed_f00d_1234_5678);
    let (mut ok, mut refused, mut unparsed) = (0, 0, 0);
    let started_at = std::time::Instant::now();
    for identity in [None, Some(DESK), Some(ADMIN)] {
        let mut signed_in_as_identity = false;
        for _ in 0..ROUNDS_PER_IDENTITY {
            for cmd in &commands {
                if !signed_in_as_identity {
                    let _ = invoke(&window, "logout", json!({}));
                    if let Some((user, pass)) = identity {
                        invoke(
                            &window,
                            "login",
                            json!({"username": user, "password": pass}),
                        )
                        .unwrap_or_else(|e| panic!("{user} signs in, got {e}"));
                    }
                    signed_in_as_identity = true;
                }
                // a fuzzed `logout`, `login` or `first_run` may change who this window is
                if ["logout", "login", "first_run"].contains(&cmd.as_str()) {
                    signed_in_as_identity = false;
                }
                let args = arguments(&mut rng);
                let shown = args.to_string().chars().take(200).collect::<String>();
                let args_for_call = args.clone();
                let args = shown;
                match invoke(&window, cmd, args_for_call) {
                    Ok(_) => ok += 1,
                    Err(Value::Object(e)) => {
                        let code = e.get("code").and_then(Value::as_str).unwrap_or_default();
                        assert!(
                            CODES.contains(&code) && e.get("message").is_some_and(Value::is_string),
                            "{cmd}({args}) must fail as {{code, message}}, got {e:?}"
                        );
                        assert_ne!(
                            code, "Internal",
                            "{cmd}({args}) failed inside (a panic or a bug): {e:?}"
                        );
                        refused += 1;
                    }
                    Err(Value::String(s)) if typed_refusals.contains(cmd) => {
                        panic!(
                            "{cmd}({args}) must refuse its arguments as {{code, message}}, got {s}"
                        )
                    }
                    Err(Value::String(s)) => {
                        // Tauri refuses arguments that do not deserialize before the command
                        // runs; that is the only other answer allowed
                        assert!(
                            s.contains("invalid args") || s.contains("missing required key"),
                            "{cmd}({args}) answered with an unexpected string: {s}"
                        );
                        unparsed += 1;
                    }
                    Err(other) => panic!("{cmd}({args}) answered {other}"),
                }
            }
        }
    }
    let _ = invoke(&window, "logout", json!({}));
    eprintln!(
        "fuzz: {} calls in {:?}: {ok} ok, {refused} refused with a code, {unparsed} arguments refused by Tauri",
        ok + refused + unparsed,
        started_at.elapsed()
    );
    assert!(
        ok > 0 && refused > 0,
        "the fuzz reached the commands (ok {ok}, refused {refused})"
    );

    let desk = app.state::<frontdesk_app::AppState>().desk().unwrap();
    let report = desk.check().unwrap();
    assert!(report.ok, "frontdesk check after the fuzz: {report:?}");
}
