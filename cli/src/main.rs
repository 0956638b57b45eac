//! `frontdesk`: the command-line tool for clinic admins and scripts, over the same
//! core as the desktop app. Commands that read or change the clinic's data sign in
//! as a staff member and act with that person's role, audited under their name (see
//! [`signin`]); `init` and `demo` on a clinic without staff, `check`, `staff
//! change-password` (which checks its own password) and the measuring tools on
//! their own databases need no sign-in; `--break-glass REASON` is the database
//! file owner's way round it.
//!
//! Exit codes: 0 done; 1 refused by a rule (slot taken, conflict, invalid
//! transition, rate limited, not found, forbidden, not signed in or wrong
//! password); 2 bad input or usage; 3 busy, timeout or internal error; 4 the
//! database (or backup) is encrypted and this computer lacks its key: run
//! `frontdesk unlock` with the recovery key.

mod admin;
mod appointments;
mod audit;
mod backup;
mod bench;
mod export;
mod keys;
mod manual;
mod otp;
mod output;
mod patients;
mod payments;
mod reminders;
mod report;
mod schedule;
mod scheduling;
mod server;
mod signin;
mod staff;
mod stress;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use frontdesk::{Actor, Error, ErrorCode, Frontdesk};
use signin::BreakGlass;

use output::Out;

#[derive(Parser)]
#[command(
    name = "frontdesk",
    version,
    about = "Front-desk appointment booking for clinics (command line)"
)]
struct Cli {
    /// Database file (default: FRONTDESK_DB, else frontdesk.sqlite3 in the app-data folder)
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Print one JSON object on stdout instead of text
    #[arg(long, global = true)]
    json: bool,
    /// Sign in as this staff member (default: FRONTDESK_USER, else asked at the
    /// terminal); the password comes from FRONTDESK_PASSWORD, else a prompt
    #[arg(long, global = true, value_name = "NAME")]
    user: Option<String>,
    /// Act as the local administrator without signing in: only for the
    /// operating-system user that owns the database file; the reason is audited
    #[arg(long, global = true, value_name = "REASON", conflicts_with = "user")]
    break_glass: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Set up a new clinic database (name, time zone, phone country)
    Init(admin::InitArgs),
    /// Fill an empty database with the demo clinic
    Demo,
    /// Doctors
    #[command(subcommand)]
    Doctor(schedule::DoctorCmd),
    /// Slots
    #[command(subcommand)]
    Slot(schedule::SlotCmd),
    /// Generate slots from the weekly templates (slots generate --from --to [--doctor] [--dry-run])
    #[command(subcommand)]
    Slots(scheduling::SlotsCmd),
    /// Doctors' weekly templates: add, list, remove
    #[command(subcommand)]
    Template(scheduling::TemplateCmd),
    /// Time off (leave, holidays, half days): add, list, remove
    #[command(subcommand, name = "timeoff")]
    TimeOff(scheduling::TimeOffCmd),
    /// The waitlist: add, list, matches for a freed slot, book, remove
    #[command(subcommand)]
    Waitlist(scheduling::WaitlistCmd),
    /// Recurring series: show, cancel-rest
    #[command(subcommand)]
    Series(scheduling::SeriesCmd),
    /// Squeeze a patient into a booked slot (admins; reason required)
    Overbook(scheduling::OverbookArgs),
    /// A patient's late cancellations and no-shows
    Attendance(scheduling::AttendanceArgs),
    /// Patients
    #[command(subcommand)]
    Patient(patients::PatientCmd),
    /// Book a free slot for a patient
    Book(appointments::BookArgs),
    /// Move an appointment to another free slot
    Reschedule(appointments::RescheduleArgs),
    /// Appointments: list, show, change status
    #[command(subcommand)]
    Appointment(appointments::AppointmentCmd),
    /// Check the database: every Frontdesk invariant and the audit log (on a file
    /// also SQLite's integrity)
    Check,
    /// Contention metrics: lock waits and holds, busy retries, refused races
    Stats,
    /// Benchmark on temporary files: the operations against the bare SQLite commit
    /// (and, with --postgres, on a PostgreSQL server against its own floor)
    Bench(bench::BenchArgs),
    /// The clinic database on a PostgreSQL server: setup
    #[command(subcommand)]
    Server(server::ServerCmd),
    /// Move this clinic (the --db file) into the empty database on its PostgreSQL
    /// server: every table copied, counted and the audit log sealed there; the file
    /// then takes no more changes (admins; every desk must be closed)
    MoveTo(server::MoveToArgs),
    /// After the clinic server's database was restored from a backup: take the
    /// restored audit log as this PC's, so this PC seals it again (admins; refused
    /// unless every seal verifies and the log records the restore)
    AcceptRestore,
    /// Many processes booking a few slots at once (optionally killed at random), then proof nothing was lost
    Stress(stress::StressArgs),
    /// Write the man pages (roff) the package installs into a folder
    #[command(hide = true)]
    Manual {
        /// The folder for frontdesk.1 and a page per command
        dir: PathBuf,
    },
    #[command(hide = true)]
    BenchWorker(bench::BenchWorkerArgs),
    #[command(hide = true)]
    StressWorker(stress::WorkerCliArgs),
    /// Staff accounts: add, list, reset-password, deactivate, role, unlock
    #[command(subcommand)]
    Staff(staff::StaffCmd),
    /// Phone passcodes: request, verify, outbox, deliver
    #[command(subcommand)]
    Otp(otp::OtpCmd),
    /// Appointment reminders: send the due ones now (for a timer)
    #[command(subcommand)]
    Reminders(reminders::RemindersCmd),
    /// Clinic settings, including which of this PC's passcode senders to use (otp.sender_name)
    #[command(subcommand)]
    Settings(otp::SettingsCmd),
    /// The audit log, newest first (filters: --actor --entity --from --to --limit)
    Audit(audit::AuditArgs),
    /// Take a backup now (online, checked): into the backup folder, or PATH
    Backup(backup::BackupArgs),
    /// Backups in the backup folder
    #[command(subcommand)]
    Backups(backup::BackupsCmd),
    /// Restore a backup (every desk must be closed; keeps a safety copy)
    Restore(backup::RestoreArgs),
    /// Open an encrypted database or backup with the clinic's recovery key (read from
    /// FRONTDESK_RECOVERY_KEY or standard input) and keep its key on this computer
    Unlock(keys::UnlockArgs),
    /// Show the recovery key of the database's key (admins; audited)
    RecoveryKey,
    /// Encrypt a plain database (admins; every desk must be closed)
    Encrypt,
    /// Give the encrypted database a new key and recovery key (admins; every desk must be closed)
    ChangeKey,
    /// CSV exports of appointments and patients; printable day sheets
    #[command(subcommand)]
    Export(export::ExportCmd),
    /// Bookings, cancellations, no-shows and utilisation per doctor per week or month
    Report(report::ReportArgs),
    /// Appointment types and their prices
    #[command(subcommand)]
    Price(payments::PriceCmd),
    /// Payments: take, refund, show an appointment's balance, print a receipt
    #[command(subcommand)]
    Payment(payments::PaymentCmd),
    /// This desk's till: what it took today, and closing it with the counted cash
    #[command(subcommand)]
    Till(payments::TillCmd),
}

/// Why a run ended without doing its work.
pub enum Failure {
    /// The core refused or failed.
    Core(Error),
    /// The command line refused by itself (sign-in, break-glass): the kind of
    /// error scripts see, and a sentence.
    Cli(ErrorCode, String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Core(e)
    }
}

/// Whom a command needs.
enum Gate {
    /// Nobody: it acts for no one (`check`) or checks its own password
    /// (`staff change-password`).
    Open,
    /// Nobody while the clinic has no staff account (`init`, `demo`); afterwards a
    /// sign-in (`init`) or a refusal (`demo`).
    EmptyClinic,
    /// A signed-in staff member (or the file owner's break-glass).
    Staff,
}

fn gate(command: &Command) -> Gate {
    match command {
        Command::Check | Command::Staff(staff::StaffCmd::ChangePassword { .. }) => Gate::Open,
        Command::Init(_) | Command::Demo => Gate::EmptyClinic,
        _ => Gate::Staff,
    }
}

/// What every command gets.
pub struct Ctx {
    pub desk: Frontdesk,
    pub actor: Actor,
    pub out: Out,
}

/// Maps an error kind to the documented exit code.
fn exit_code(code: ErrorCode) -> u8 {
    match code {
        ErrorCode::NotFound
        | ErrorCode::SlotTaken
        | ErrorCode::Conflict
        | ErrorCode::InvalidTransition
        | ErrorCode::RateLimited
        | ErrorCode::Forbidden
        | ErrorCode::Unauthenticated => 1,
        ErrorCode::Invalid => 2,
        ErrorCode::Busy | ErrorCode::Internal => 3,
        ErrorCode::KeyNeeded => 4,
    }
}

/// The measuring tools act without a sign-in, so only on their own databases: a
/// new file, or one without staff accounts (theirs never have any) — never a
/// clinic's.
fn only_a_test_database(db: &Path, tool: &str) -> Result<(), Failure> {
    if !db.exists() {
        return Ok(());
    }
    let staff = frontdesk::storage::db::staff_accounts(db)?;
    if staff > 0 {
        return Err(Failure::Cli(
            ErrorCode::Forbidden,
            format!(
                "`frontdesk {tool}` works only on its own test database, and {} has staff accounts (a clinic's database); leave out --db or name a new file",
                db.display()
            ),
        ));
    }
    Ok(())
}

fn run(cli: Cli, out: Out) -> Result<(), Failure> {
    let Cli {
        db,
        user,
        break_glass,
        command,
        ..
    } = cli;
    let command = match command {
        Command::Manual { dir } => {
            return manual::manual(&dir).map_err(|e| {
                Failure::Cli(ErrorCode::Internal, format!("cannot write the manual: {e}"))
            })
        }
        // the measuring tools make their own databases (stress may take --db), with
        // their own keys
        Command::Bench(a) => {
            let _keys = frontdesk_proof::bench::throwaway_key_folder()?;
            return Ok(bench::bench(a, out)?);
        }
        // a server's database is named by the command's own URL, not --db
        Command::Server(c) => return Ok(server::server(c, out)?),
        Command::Stress(a) => {
            let _keys = match &db {
                Some(db) => {
                    only_a_test_database(db, "stress")?;
                    None
                }
                None => frontdesk_proof::bench::throwaway_key_folder()?,
            };
            return Ok(stress::stress(a, db, out)?);
        }
        other => other,
    };
    let path = db.unwrap_or_else(frontdesk::storage::db::default_path);
    let on_server = frontdesk::storage::db::server_url(&path).is_some();
    let command = match command {
        // workers open the file themselves, with their own write path
        Command::BenchWorker(a) => {
            only_a_test_database(&path, "bench-worker")?;
            return Ok(bench::worker(a, &path)?);
        }
        Command::StressWorker(a) => {
            only_a_test_database(&path, "stress-worker")?;
            return Ok(stress::worker(a, &path)?);
        }
        other => other,
    };
    // checked before anything is opened or created
    if on_server && break_glass.is_some() {
        return Err(Error::invalid(
            "--break-glass is for the owner of a clinic file on this PC; on the clinic server, sign in",
        )
        .into());
    }
    let glass = break_glass
        .as_deref()
        .map(|reason| BreakGlass::check(&path, reason))
        .transpose()?;
    let command = match command {
        // never keeps a desk open on the file it is about to replace
        Command::Restore(a) => return backup::restore(&path, &a, user, glass, out),
        Command::Encrypt => {
            return keys::convert(
                &path,
                frontdesk::storage::backup::Conversion::Encrypt,
                user,
                glass,
                out,
            )
        }
        Command::ChangeKey => {
            return keys::convert(
                &path,
                frontdesk::storage::backup::Conversion::ChangeKey,
                user,
                glass,
                out,
            )
        }
        // nobody can sign in before the file opens
        Command::Unlock(a) => return keys::unlock(&path, &a, out),
        other => other,
    };
    let gate = gate(&command);
    if matches!(gate, Gate::Staff) && !on_server && !path.exists() {
        // nobody could sign in to a file that does not exist: do not create one
        return Err(Failure::Cli(
            ErrorCode::NotFound,
            format!(
                "there is no clinic database at {}: set one up with `frontdesk init` or the app first, or name another with --db or FRONTDESK_DB",
                path.display()
            ),
        ));
    }
    let desk = Frontdesk::open_default(&path)?;
    if let Some(upgrade) = desk.schema_upgrade() {
        eprintln!("frontdesk: {upgrade}");
    }
    if matches!(command, Command::Demo) && !desk.needs_first_admin()? {
        return Err(Error::invalid(
            "this database already has a clinic; the demo opens only on an empty database",
        )
        .into());
    }
    let actor = match (glass, gate) {
        (Some(glass), _) => glass.actor(),
        (None, Gate::Open) => Actor::local_os_user(&signin::current_os_user(), "no sign-in"),
        // the set-up of a clinic nobody can sign in to yet (as the app's first
        // start); the first admin's row is audited as the first-run setup
        (None, Gate::EmptyClinic) if desk.needs_first_admin()? => Actor::local_os_user(
            &signin::current_os_user(),
            "set-up of a clinic without staff accounts",
        ),
        (None, _) => signin::sign_in(&desk, user)?,
    };
    // consumes the desk: the move needs the file to itself
    let command = match command {
        Command::MoveTo(a) => return Ok(server::move_to(desk, &actor, a, out)?),
        other => other,
    };
    let ctx = Ctx { desk, actor, out };
    let result = match command {
        Command::Init(a) => admin::init(&ctx, a),
        Command::Demo => admin::demo(&ctx),
        Command::Doctor(c) => schedule::doctor(&ctx, c),
        Command::Slot(c) => schedule::slot(&ctx, c),
        Command::Slots(c) => scheduling::slots(&ctx, c),
        Command::Template(c) => scheduling::template(&ctx, c),
        Command::TimeOff(c) => scheduling::time_off(&ctx, c),
        Command::Waitlist(c) => scheduling::waitlist(&ctx, c),
        Command::Series(c) => scheduling::series(&ctx, c),
        Command::Overbook(a) => scheduling::overbook(&ctx, a),
        Command::Attendance(a) => scheduling::attendance(&ctx, a),
        Command::Patient(c) => patients::patient(&ctx, c),
        Command::Book(a) => appointments::book(&ctx, a),
        Command::Reschedule(a) => appointments::reschedule(&ctx, a),
        Command::Appointment(c) => appointments::appointment(&ctx, c),
        Command::Check => admin::check(&ctx),
        Command::AcceptRestore => backup::accept_restore(&ctx),
        Command::Stats => admin::stats(&ctx),
        Command::Bench(_)
        | Command::Server(_)
        | Command::Stress(_)
        | Command::Manual { .. }
        | Command::BenchWorker(_)
        | Command::StressWorker(_) => {
            unreachable!("handled before the database is opened")
        }
        Command::Staff(c) => staff::staff(&ctx, c),
        Command::Otp(c) => otp::otp(&ctx, c),
        Command::Settings(c) => otp::settings(&ctx, c),
        Command::Reminders(c) => reminders::reminders(&ctx, c),
        Command::Audit(a) => audit::audit(&ctx, a),
        Command::Backup(a) => backup::backup(&ctx, a),
        Command::Backups(c) => backup::backups(&ctx, c),
        Command::Restore(_)
        | Command::Encrypt
        | Command::ChangeKey
        | Command::Unlock(_)
        | Command::MoveTo(_) => {
            unreachable!("handled before opening the database")
        }
        Command::RecoveryKey => keys::recovery_key(&ctx),
        Command::Export(c) => export::export(&ctx, c),
        Command::Report(a) => report::report(&ctx, a),
        Command::Price(c) => payments::price(&ctx, c),
        Command::Payment(c) => payments::payment(&ctx, c),
        Command::Till(c) => payments::till(&ctx, c),
    };
    // keep this run's lock figures for `frontdesk stats`; losing them is harmless,
    // and after a Busy another wait for the lock would only delay the answer
    if !matches!(result, Err(frontdesk::Error::Busy)) {
        let _ = ctx.desk.flush_metrics();
    }
    Ok(result?)
}

fn main() {
    // databases, backups, exports: for this user only, whatever the umask
    frontdesk::platform::restrict_new_files();
    // the database key in the OS keyring where there is one (else the key folder)
    frontdesk::storage::cipher::use_os_keyring();
    let cli = Cli::parse();
    // nothing is logged unless FRONTDESK_LOG is set, and then to stderr only
    frontdesk::logging::init_stderr_from_env();
    let out = Out { json: cli.json };
    let code = match run(cli, out) {
        Ok(()) => 0,
        Err(Failure::Core(e)) => {
            out.error(&e);
            if e.code() == ErrorCode::KeyNeeded && !out.json {
                eprintln!(
                    "On this computer: `frontdesk unlock` (or `frontdesk unlock --file BACKUP`) reads the recovery key \
                     from {} or standard input and keeps the key.",
                    keys::RECOVERY_KEY_ENV
                );
            }
            exit_code(e.code())
        }
        Err(Failure::Cli(code, message)) => {
            out.refusal(code, &message);
            exit_code(code)
        }
    };
    exit_now(code)
}

/// Ends the process without the C library's exit handlers (see
/// [`frontdesk::platform::exit_now`]).
fn exit_now(code: u8) -> ! {
    frontdesk::platform::exit_now(i32::from(code))
}
