//! The app's commands through Tauri's real IPC and ACL path (mock runtime).
//!
//! Access: every registered command has a rule (public, signed in, admin) and
//! well-formed sample arguments ([`access_table`]); signed out, every command but
//! the public ones answers `Unauthenticated`, a receptionist gets `Forbidden` from
//! every admin command, another window is denied every command by the ACL — and
//! none of those refusals changes a row of the database.
//!
//! Fuzz (issue 7): every command with arbitrary JSON arguments — wrong types, huge
//! and negative numbers, long, unicode and control-character strings, missing
//! fields, nulls — signed out, as a receptionist and as an admin. Nothing may
//! panic, every answer is a result or a `{code, message}` error, nothing succeeds
//! for a caller the access rule refuses, no refused call changes the database
//! (except the record of a failed sign-in or passcode attempt), and the database
//! passes `frontdesk check` afterwards. Seeded, so a failure replays.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use frontdesk::{Actor, DataVersionProbe, Frontdesk, NewStaff, OpenOptions, Role};
use rusqlite::Connection;
use serde_json::{json, Map, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{App, Manager, WebviewWindow, WebviewWindowBuilder};

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

/// The command names of commands.txt (the one list the handler and the ACL come from).
fn registered_commands() -> Vec<String> {
    include_str!("../commands.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.rsplit("::").next().unwrap().to_string())
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
        include_str!("../src/commands/keys.rs"),
    ]
    .iter()
    .flat_map(|src| src.split("pub async fn ").skip(1))
    .map(|rest| rest.split(['(', '<']).next().unwrap().to_string())
    // its only argument is a Channel that Tauri itself builds from the page's
    // callback id, not a value parsed from JSON
    .filter(|name| name != "watch_changes" && name != "watch_jobs")
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

/// A database with an admin and a receptionist, a doctor, slots and a patient,
/// in a folder of its own that goes when the returned guard is dropped (`name`
/// tells the tests' folders apart).
fn clinic(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("frontdesk-fuzz-{name}-"))
        .tempdir()
        .unwrap();
    let db = dir.path().join("clinic.sqlite3");
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
    (dir, db)
}

fn started(mut app: App<MockRuntime>) -> App<MockRuntime> {
    #[allow(deprecated)]
    app.run_iteration(|_, _| {});
    app
}

/// The real app (configuration and access control list as compiled) on `db`.
/// The app reads `FRONTDESK_DB` while it starts, so starts take turns.
fn app_on(db: &Path) -> App<MockRuntime> {
    static STARTING: Mutex<()> = Mutex::new(());
    let _turn = STARTING.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: the only thread that reads or writes the environment meanwhile is
    // this one (app starts take turns under the lock above)
    unsafe { std::env::set_var("FRONTDESK_DB", db) };
    started(
        frontdesk_app::install(mock_builder())
            .build(frontdesk_app::context())
            .unwrap(),
    )
}

/// Waits until the daily backup an admin's first sign-in starts beside the desk
/// has been recorded (it writes while later calls are being watched otherwise).
fn settle_daily_backup(db: &Path) {
    let desk = keyed(db);
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while desk
        .read(|c| {
            Ok(c.query_row("SELECT count(*) FROM backup_run", [], |r| {
                r.get::<_, i64>(0)
            })?)
        })
        .unwrap()
        == 0
    {
        assert!(
            std::time::Instant::now() < give_up,
            "the daily backup at an admin's sign-in never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The test's own handle on the (encrypted) database: the core keys its
/// connections with the clinic's key from the key folder.
fn keyed(db: &Path) -> Frontdesk {
    Frontdesk::open(db, OpenOptions::default()).unwrap()
}

fn sign_in(window: &WebviewWindow<MockRuntime>, (user, password): (&str, &str)) {
    invoke(
        window,
        "login",
        json!({"username": user, "password": password}),
    )
    .unwrap_or_else(|e| panic!("{user} signs in, got {e}"));
}

/// What the database holds, table by table (a digest of every row), except the
/// contention metrics the app saves in the background now and then.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint(BTreeMap<String, u64>);

impl Fingerprint {
    fn of(conn: &Connection) -> Fingerprint {
        let tables: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table'
                   AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'contention_%'
                   AND name NOT LIKE '%_fts%' ORDER BY name",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let mut out = BTreeMap::new();
        for t in tables {
            // every row as text, sorted (some tables have no rowid)
            let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
            let n = stmt.column_count();
            let mut rows: Vec<String> = Vec::new();
            let mut cursor = stmt.query([]).unwrap();
            while let Some(row) = cursor.next().unwrap() {
                rows.push(
                    (0..n)
                        .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                        .collect::<Vec<_>>()
                        .join("\u{1f}"),
                );
            }
            rows.sort();
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            rows.hash(&mut hasher);
            out.insert(t, hasher.finish());
        }
        Fingerprint(out)
    }

    /// The tables that differ.
    fn changed(&self, after: &Fingerprint) -> Vec<String> {
        self.0
            .keys()
            .chain(after.0.keys())
            .filter(|t| self.0.get(*t) != after.0.get(*t))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

/// Watches the database from its own connections: after each call, what changed.
struct Watch {
    desk: Frontdesk,
    probe: DataVersionProbe,
    data_version: i64,
    last: Fingerprint,
}

impl Watch {
    fn new(db: &Path) -> Watch {
        let desk = keyed(db);
        let probe = desk.data_version_probe().unwrap();
        let data_version = probe.data_version().unwrap();
        let last = desk.read(|c| Ok(Fingerprint::of(c))).unwrap();
        Watch {
            desk,
            probe,
            data_version,
            last,
        }
    }

    /// The tables changed since the last look (nothing committed: nothing changed).
    fn changed(&mut self) -> Vec<String> {
        let now = self.probe.data_version().unwrap();
        if now == self.data_version {
            return Vec::new();
        }
        self.data_version = now;
        let after = self.desk.read(|c| Ok(Fingerprint::of(c))).unwrap();
        let changed = self.last.changed(&after);
        self.last = after;
        changed
    }
}

/// A refused call may still leave these, by design: the record of a failed
/// sign-in or passcode attempt (and its audit row). Everything else must be as
/// it was.
fn may_record_a_failed_attempt(cmd: &str) -> &'static [&'static str] {
    match cmd {
        "login" | "change_own_password" | "first_run" => {
            &["staff", "audit_event", "sign_in_throttle"]
        }
        "verify_phone_passcode" => &["otp_code", "audit_event"],
        _ => &[],
    }
}

/// Who may call a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Anyone, signed in or not (start-up, sign-in, the first run).
    Public,
    /// Anyone signed in.
    SignedIn,
    /// Admins only.
    Admin,
}

/// Records the sample arguments refer to (from the fuzz clinic).
struct Ids {
    doctor: i64,
    slot: i64,
    free_slot: i64,
    patient: i64,
    appointment: i64,
    version: i64,
    settings: Value,
}

impl Ids {
    fn of(db: &Path) -> Ids {
        let desk = Frontdesk::open(db, OpenOptions::default()).unwrap();
        let one = |sql: &str| -> i64 {
            desk.read(|c| Ok(c.query_row(sql, [], |r| r.get(0))?))
                .unwrap()
        };
        let now = desk.now();
        let free = format!(
            "SELECT id FROM slot s WHERE end_at > {now} AND blocked = 0 AND NOT EXISTS
               (SELECT 1 FROM appointment a WHERE a.slot_id = s.id AND a.status <> 'CANCELLED') ORDER BY start_at LIMIT 1"
        );
        let (appointment, version): (i64, i64) = desk
            .read(|c| {
                Ok(c.query_row(
                    "SELECT id, version FROM appointment WHERE status = 'PENDING' ORDER BY id LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?)
            })
            .unwrap();
        Ids {
            doctor: one("SELECT id FROM doctor ORDER BY id LIMIT 1"),
            slot: one(
                "SELECT slot_id FROM appointment WHERE status = 'PENDING' ORDER BY id LIMIT 1",
            ),
            free_slot: one(&free),
            patient: one("SELECT id FROM patient ORDER BY id LIMIT 1"),
            appointment,
            version,
            settings: serde_json::to_value(desk.settings().unwrap()).unwrap(),
        }
    }
}

/// Every registered command, who may call it, and well-formed arguments — so that
/// the only refusal left for the wrong caller is the access refusal. A command whose
/// access depends on its arguments is listed once per case.
fn access_table(i: &Ids) -> Vec<(&'static str, Access, Value)> {
    use Access::*;
    let patient = json!({"name": "Anna Access", "phone": "0151 2345 6789"});
    vec![
        ("app_info", Public, json!({})),
        ("startup", Public, json!({})),
        ("first_run", Public, json!({})),
        ("open_demo_clinic", Public, json!({})),
        (
            "connect_to_server",
            Public,
            json!({"url": "postgres://nobody@127.0.0.1:1/none"}),
        ),
        // on the fuzz clinic's file an admin is told there is no server to leave
        ("disconnect_from_server", Admin, json!({})),
        ("login", Public, json!({})),
        ("logout", Public, json!({})),
        ("watch_changes", Public, json!({})),
        ("touch", SignedIn, json!({})),
        ("clinic_settings", SignedIn, json!({})),
        (
            "change_own_password",
            SignedIn,
            json!({"current": "not my password at all", "new": "another long passphrase 42"}),
        ),
        // desk.rs
        ("day_view", SignedIn, json!({"date": ""})),
        ("clinic_today", SignedIn, json!({})),
        ("jump_date", SignedIn, json!({"text": "+6w"})),
        ("pending_appointments", SignedIn, json!({})),
        ("list_doctors", SignedIn, json!({})),
        (
            "add_doctor",
            Admin,
            json!({"name": "Dr. Access", "specialty": "GP"}),
        ),
        ("deactivate_doctor", Admin, json!({"doctorId": 999_999})),
        (
            "add_single_slot",
            Admin,
            json!({"doctorId": i.doctor, "date": "2031-01-06", "start": "09:00", "minutes": 30, "mode": null}),
        ),
        (
            "set_slot_blocked",
            Admin,
            json!({"slotId": i.free_slot, "blocked": true}),
        ),
        ("day_appointments", SignedIn, json!({"date": "2030-01-07"})),
        // appointments.rs
        (
            "book",
            SignedIn,
            json!({"request": {"slot_id": i.free_slot, "patient_id": i.patient, "reason": ""}}),
        ),
        (
            "book_series",
            SignedIn,
            json!({"request": {"first_slot_id": 999_999, "patient_id": i.patient, "every_weeks": 1, "count": 2}}),
        ),
        ("possible_duplicates", SignedIn, json!({"patient": patient})),
        ("register_patient", SignedIn, json!({"patient": patient})),
        (
            "get_appointment",
            SignedIn,
            json!({"appointmentId": i.appointment}),
        ),
        (
            "change_status",
            Admin,
            json!({"appointmentId": i.appointment, "version": i.version, "to": "CONFIRMED", "note": ""}),
        ),
        (
            "change_status",
            SignedIn,
            json!({"appointmentId": i.appointment, "version": 0, "to": "ARRIVED", "note": ""}),
        ),
        (
            "undo_change",
            SignedIn,
            json!({"what": {"kind": "book", "appointment_id": i.appointment, "version": 0}}),
        ),
        (
            "undo_change",
            Admin,
            json!({"what": {"kind": "block", "slot_id": i.free_slot}}),
        ),
        (
            "reschedule",
            SignedIn,
            json!({"appointmentId": i.appointment, "version": 0, "slotId": i.free_slot}),
        ),
        (
            "cancel_series_rest",
            Admin,
            json!({"appointmentId": 999_999, "seen": [], "reason": "access"}),
        ),
        (
            "overbook",
            Admin,
            json!({"slotId": i.slot, "patientId": i.patient, "reason": "access"}),
        ),
        // patients.rs
        ("search_patients", SignedIn, json!({"text": "a"})),
        (
            "next_appointments",
            SignedIn,
            json!({"patientIds": [i.patient]}),
        ),
        ("get_patient", SignedIn, json!({"patientId": i.patient})),
        (
            "update_patient",
            SignedIn,
            json!({"patientId": i.patient, "expectedVersion": 0, "details": patient}),
        ),
        (
            "set_reminders_opt_out",
            SignedIn,
            json!({"patientId": i.patient, "optOut": true}),
        ),
        (
            "patient_appointments",
            SignedIn,
            json!({"patientId": i.patient}),
        ),
        (
            "patient_attendance",
            SignedIn,
            json!({"patientId": i.patient}),
        ),
        (
            "request_phone_passcode",
            SignedIn,
            json!({"phone": "0151 2345 6789"}),
        ),
        (
            "verify_phone_passcode",
            SignedIn,
            json!({"phone": "0151 2345 6789", "code": "000000"}),
        ),
        // waitlist.rs
        ("waitlist_list", SignedIn, json!({"doctorId": null})),
        (
            "waitlist_add",
            SignedIn,
            json!({"entry": {"patient_id": i.patient, "doctor_id": i.doctor}}),
        ),
        ("waitlist_remove", SignedIn, json!({"entryId": 999_999})),
        ("waitlist_matches", SignedIn, json!({"slotId": i.free_slot})),
        (
            "book_from_waitlist",
            SignedIn,
            json!({"entryId": 999_999, "slotId": i.free_slot}),
        ),
        (
            "doctor_day_slots",
            SignedIn,
            json!({"doctorId": i.doctor, "date": "2030-01-07"}),
        ),
        // schedule.rs
        ("schedule_doctors", SignedIn, json!({})),
        ("list_templates", SignedIn, json!({"doctorId": null})),
        (
            "add_template",
            Admin,
            json!({"template": {"doctor_id": i.doctor, "weekday": 3, "start": "09:00", "end": "10:00", "slot_minutes": 30}}),
        ),
        ("remove_template", Admin, json!({"templateId": 999_999})),
        ("list_time_off", SignedIn, json!({"doctorId": null})),
        (
            "add_time_off",
            Admin,
            json!({"timeOff": {"doctor_id": i.doctor, "from_date": "2031-01-01", "to_date": "2031-01-02"}}),
        ),
        ("remove_time_off", Admin, json!({"timeOffId": 999_999})),
        (
            "generate_slots",
            Admin,
            json!({"from": "2031-01-01", "to": "2031-01-01", "doctorId": null, "dryRun": true, "previewToken": null}),
        ),
        // admin.rs
        ("list_staff", Admin, json!({})),
        (
            "add_staff",
            Admin,
            json!({"staff": {"username": "access.new", "display_name": "Access New", "role": "RECEPTIONIST", "password": "copper kettle morning 9"}}),
        ),
        (
            "reset_staff_password",
            Admin,
            json!({"staffId": 999_999, "password": "copper kettle morning 9"}),
        ),
        ("deactivate_staff", Admin, json!({"staffId": 999_999})),
        (
            "change_staff_role",
            Admin,
            json!({"staffId": 999_999, "role": "ADMIN"}),
        ),
        ("unlock_staff", Admin, json!({"staffId": 999_999})),
        // not secret: every desk shows the clinic's name and works in its time zone
        ("admin_clinic_settings", SignedIn, json!({})),
        (
            "save_clinic_settings",
            Admin,
            json!({"seen": i.settings, "settings": i.settings}),
        ),
        ("list_settings", Admin, json!({})),
        (
            "save_setting",
            Admin,
            json!({"key": "clinic.name", "value": "Access Clinic"}),
        ),
        ("otp_sender", Admin, json!({})),
        ("save_otp_sender", Admin, json!({"sender": null})),
        ("list_outbox", Admin, json!({})),
        ("deliver_outbox", SignedIn, json!({})),
        ("list_audit", Admin, json!({"filter": {}})),
        ("contention_metrics", Admin, json!({})),
        ("log_location", Admin, json!({})),
        // operations.rs
        ("list_backups", Admin, json!({})),
        ("backup_now", Admin, json!({})),
        ("watch_jobs", Public, json!({})),
        (
            "clinic_report",
            Admin,
            json!({"from": "2030-01-01", "to": "2030-01-31", "period": "Week"}),
        ),
        (
            "export_appointments",
            Admin,
            json!({"from": "2030-01-01", "to": "2030-01-31"}),
        ),
        ("export_patients", Admin, json!({})),
        (
            "day_sheet",
            SignedIn,
            json!({"date": "2030-01-07", "doctorId": null}),
        ),
        (
            "check_backup",
            Admin,
            json!({"path": "/nonexistent/backup.sqlite3"}),
        ),
        (
            "restore_backup",
            Admin,
            json!({"path": "/nonexistent/backup.sqlite3", "confirmed": false}),
        ),
        // payments.rs
        ("payment_settings", SignedIn, json!({})),
        (
            "list_appointment_types",
            SignedIn,
            json!({"includeInactive": true}),
        ),
        (
            "add_appointment_type",
            Admin,
            json!({"newType": {"name": "Access check", "price_minor": 100}}),
        ),
        (
            "update_appointment_type",
            Admin,
            json!({"typeId": 999_999, "change": {"name": "x", "price_minor": 100}, "active": true}),
        ),
        (
            "set_doctor_price",
            Admin,
            json!({"typeId": 999_999, "price": {"doctor_id": i.doctor, "price_minor": 100}, "remove": false}),
        ),
        (
            "pay_and_book",
            SignedIn,
            json!({"request": {"slot_id": 999_999, "patient_id": i.patient, "reason": ""}, "typeId": null, "payment": null}),
        ),
        (
            "take_payment",
            SignedIn,
            json!({"appointmentId": i.appointment, "payment": {"amount_minor": 100, "method": "CASH"}}),
        ),
        (
            "refund_payment",
            Admin,
            json!({"paymentId": 999_999, "amountMinor": 100, "reason": "access"}),
        ),
        (
            "appointment_account",
            SignedIn,
            json!({"appointmentId": i.appointment}),
        ),
        ("patient_balance", SignedIn, json!({"patientId": i.patient})),
        (
            "closing_preview",
            SignedIn,
            json!({"appointmentId": i.appointment, "to": "CANCELLED"}),
        ),
        ("receipt", SignedIn, json!({"ledgerId": 999_999})),
        ("till", SignedIn, json!({"day": ""})),
        (
            "close_till",
            SignedIn,
            json!({"day": "", "counts": [], "note": ""}),
        ),
        (
            "cash_up_report",
            Admin,
            json!({"from": "2030-01-07", "to": "2030-01-07"}),
        ),
        (
            "export_cash_ups",
            Admin,
            json!({"from": "2030-01-07", "to": "2030-01-07"}),
        ),
        // keys.rs: the database is open, so there is nothing to unlock
        (
            "unlock_database",
            Public,
            json!({"recoveryKey": "0000-0000-0000-0000-0000-0000-0000-0000-0000-0000-0000-0000-0000"}),
        ),
        ("encryption_status", SignedIn, json!({})),
        ("show_recovery_key", Admin, json!({})),
        // the fuzz clinic is encrypted already: an admin's Encrypt is refused by the core
        ("convert_database", Admin, json!({"conversion": "Encrypt"})),
    ]
}

/// The refusal code of an answer (`None` when it succeeded or was not `{code, message}`).
fn code(answer: &Result<Value, Value>) -> Option<&str> {
    answer.as_ref().err()?.get("code")?.as_str()
}

#[test]
fn every_registered_command_has_an_access_rule_and_sample_arguments() {
    let (_dir, db) = clinic("table");
    let table: BTreeSet<&str> = access_table(&Ids::of(&db))
        .iter()
        .map(|(c, _, _)| *c)
        .collect();
    let registered: BTreeSet<String> = registered_commands().into_iter().collect();
    let registered: BTreeSet<&str> = registered.iter().map(String::as_str).collect();
    assert_eq!(
        table, registered,
        "the access table must list exactly the commands of commands.txt"
    );
}

#[test]
fn after_logout_every_command_but_the_public_ones_answers_unauthenticated_and_changes_nothing() {
    let (_dir, db) = clinic("signed-out");
    let ids = Ids::of(&db);
    let app = app_on(&db);
    let window = app.get_webview_window("main").expect("the main window");
    sign_in(&window, ADMIN);
    settle_daily_backup(&db);
    invoke(&window, "touch", json!({})).expect("a live session can be touched");
    invoke(&window, "logout", json!({})).unwrap();
    let mut watch = Watch::new(&db);
    let mut wrong = Vec::new();
    for (cmd, access, args) in access_table(&ids) {
        if access == Access::Public {
            continue;
        }
        let answer = invoke(&window, cmd, args.clone());
        if code(&answer) != Some("Unauthenticated") {
            wrong.push(format!("{cmd}({args}) signed out answered {answer:?}"));
        }
        let changed = watch.changed();
        if !changed.is_empty() {
            wrong.push(format!("{cmd}({args}) signed out changed {changed:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // a wrong password is the same refusal, with the sentence the login form shows
    let wrong_login = invoke(
        &window,
        "login",
        json!({"username": ADMIN.0, "password": "wrong password!"}),
    )
    .unwrap_err();
    assert_eq!(wrong_login["code"], "Unauthenticated", "got {wrong_login}");
    assert!(
        wrong_login["message"]
            .as_str()
            .is_some_and(|m| m.contains("wrong username or password")),
        "got {wrong_login}"
    );
}

#[test]
fn a_receptionist_is_refused_every_admin_command_and_it_changes_nothing_but_may_do_desk_work() {
    let (_dir, db) = clinic("receptionist");
    let ids = Ids::of(&db);
    let app = app_on(&db);
    let window = app.get_webview_window("main").expect("the main window");
    sign_in(&window, DESK);
    let mut watch = Watch::new(&db);
    let mut wrong = Vec::new();
    let table = access_table(&ids);
    // the refusals first (nothing may change), then the desk's own work
    for (cmd, access, args) in table.iter().filter(|(_, a, _)| *a == Access::Admin) {
        let answer = invoke(&window, cmd, args.clone());
        if code(&answer) != Some("Forbidden") {
            wrong.push(format!("{cmd}({args}) as receptionist answered {answer:?}"));
        }
        let changed = watch.changed();
        if !changed.is_empty() {
            wrong.push(format!("{cmd}({args}) as receptionist changed {changed:?}"));
        }
        let _ = access;
    }
    for (cmd, _, args) in table.iter().filter(|(_, a, _)| *a == Access::SignedIn) {
        let answer = invoke(&window, cmd, args.clone());
        if matches!(code(&answer), Some("Forbidden" | "Unauthenticated")) {
            wrong.push(format!(
                "{cmd}({args}) is desk work, yet the receptionist got {answer:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn an_admin_is_refused_no_command_for_lack_of_permission() {
    let (_dir, db) = clinic("admin");
    let ids = Ids::of(&db);
    let app = app_on(&db);
    let window = app.get_webview_window("main").expect("the main window");
    sign_in(&window, ADMIN);
    let mut wrong = Vec::new();
    for (cmd, access, args) in access_table(&ids) {
        if access == Access::Public {
            continue;
        }
        let answer = invoke(&window, cmd, args.clone());
        if matches!(
            code(&answer),
            Some("Forbidden" | "Unauthenticated" | "Internal")
        ) {
            wrong.push(format!("{cmd}({args}) as admin answered {answer:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn any_other_window_is_denied_every_command_and_changes_nothing() {
    let (_dir, db) = clinic("other-window");
    let ids = Ids::of(&db);
    let app = app_on(&db);
    let main = app.get_webview_window("main").expect("the main window");
    sign_in(&main, ADMIN);
    settle_daily_backup(&db);
    let other = WebviewWindowBuilder::new(&app, "other", Default::default())
        .build()
        .unwrap();
    let mut watch = Watch::new(&db);
    let mut wrong = Vec::new();
    for (cmd, _, args) in access_table(&ids) {
        match invoke(&other, cmd, args.clone()) {
            Err(Value::String(s)) if s.contains("not allowed") => {}
            answer => wrong.push(format!(
                "{cmd} from another window must be denied by the ACL, got {answer:?}"
            )),
        }
        let changed = watch.changed();
        if !changed.is_empty() {
            wrong.push(format!("{cmd} from another window changed {changed:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // the main window, signed in as an admin meanwhile, still works
    invoke(&main, "touch", json!({})).expect("the main window keeps its session");
}

#[test]
fn every_command_answers_arbitrary_input_with_a_result_or_a_code_and_a_message() {
    let (_dir, db) = clinic("fuzz");
    let access: BTreeMap<&str, Access> =
        access_table(&Ids::of(&db))
            .into_iter()
            .fold(BTreeMap::new(), |mut m, (cmd, a, _)| {
                // a command listed per case counts as the least restricted one
                let least = m.get(cmd).map_or(a, |&b: &Access| {
                    if b == Access::SignedIn || a == Access::SignedIn {
                        Access::SignedIn
                    } else {
                        a
                    }
                });
                m.insert(cmd, least);
                m
            });
    let app = app_on(&db);
    let window = app.get_webview_window("main").expect("the main window");
    let mut watch = Watch::new(&db);
    let commands = registered_commands();
    let typed_refusals = commands_with_typed_refusals();
    assert!(
        typed_refusals.iter().all(|c| commands.contains(c)) && typed_refusals.len() > 40,
        "every command of B's modules is registered, got {typed_refusals:?}"
    );
    assert!(
        commands.len() > 40,
        "expected every command of commands.txt, got {commands:?}"
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
                    if let Some(who) = identity {
                        sign_in(&window, who);
                        if who == ADMIN {
                            settle_daily_backup(&db);
                        }
                    }
                    signed_in_as_identity = true;
                    let _ = watch.changed();
                }
                // a fuzzed `logout`, `login` or `first_run` may change who this window is
                if ["logout", "login", "first_run"].contains(&cmd.as_str()) {
                    signed_in_as_identity = false;
                }
                let args = arguments(&mut rng);
                let shown = args.to_string().chars().take(200).collect::<String>();
                let args_for_call = args.clone();
                let args = shown;
                let answer = invoke(&window, cmd, args_for_call);
                let changed = watch.changed();
                if answer.is_err() {
                    let allowed = may_record_a_failed_attempt(cmd);
                    let left: Vec<&String> = changed
                        .iter()
                        .filter(|t| !allowed.contains(&t.as_str()))
                        .collect();
                    assert!(
                        left.is_empty(),
                        "{cmd}({args}) was refused ({answer:?}) but changed {left:?}"
                    );
                }
                let may = access.get(cmd.as_str()).copied().unwrap_or(Access::Admin);
                let allowed_ok = match identity {
                    None => may == Access::Public,
                    Some(who) if who == DESK => may != Access::Admin,
                    Some(_) => true,
                };
                assert!(
                    answer.is_err() || allowed_ok,
                    "{cmd}({args}) succeeded for {:?}, who may not call it ({may:?})",
                    identity.map(|(u, _)| u)
                );
                match answer {
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

/// Writes `ui/src/bindings/Command.ts`, the names the UI's `call()` accepts, from
/// commands.txt: a command the UI misspells, or one removed here, fails the UI's
/// type check, and the test command fails when the committed file is stale.
#[test]
fn the_ui_knows_exactly_the_commands_of_commands_txt() {
    let names = registered_commands();
    let union: Vec<String> = names.iter().map(|n| format!("  | \"{n}\"")).collect();
    let text = format!(
        "// Generated by `cargo test` from src-tauri/commands.txt. Do not edit this file manually.\n\n\
         /** A command of the desktop app (the one list: src-tauri/commands.txt). */\n\
         export type Command =\n{};\n",
        union.join("\n")
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings");
    let path = dir.join("Command.ts");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&path, text).unwrap();
    }
    assert_eq!(
        names.len(),
        names
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        "commands.txt names a command twice"
    );
}

/// Every command runs in a tracing span named after it (and a refusal is logged
/// in that span at INFO with its public message, never patient data): a new
/// command without one would be invisible in the desk's log.
#[test]
fn every_command_has_a_tracing_span() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.trim_start().starts_with("#[tauri::command")
                && !lines
                    .get(i + 1)
                    .is_some_and(|next| next.trim_start().starts_with("#[tracing::instrument("))
            {
                missing.push(format!("{}:{}", path.display(), i + 1));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "commands without #[tracing::instrument]: {missing:?}"
    );
}
