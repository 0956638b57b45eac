//! `frontdesk`: the command-line tool for clinic admins and scripts, over the same
//! core as the desktop app. It acts as the local administrator (whoever can open the
//! database file already holds everything in it) and is audited as such.
//!
//! Exit codes: 0 done; 1 refused by a rule (slot taken, conflict, invalid
//! transition, rate limited, not found, forbidden); 2 bad input or usage; 3 busy,
//! timeout or internal error.

mod admin;
mod appointments;
mod audit;
mod backup;
mod bench;
mod export;
mod otp;
mod output;
mod patients;
mod report;
mod schedule;
mod scheduling;
mod staff;
mod stress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use frontdesk::{Actor, Error, ErrorCode, Frontdesk};

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
    /// Check the database: SQLite integrity and every Frontdesk invariant
    Check,
    /// Contention metrics: lock waits and holds, busy retries, refused races
    Stats,
    /// Benchmark on temporary files: the operations against the bare SQLite commit
    Bench(bench::BenchArgs),
    /// Many processes booking a few slots at once (optionally killed at random), then proof nothing was lost
    Stress(stress::StressArgs),
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
    /// Clinic settings, including the passcode sender (otp.sender)
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
    /// CSV exports of appointments and patients; printable day sheets
    #[command(subcommand)]
    Export(export::ExportCmd),
    /// Bookings, cancellations, no-shows and utilisation per doctor per week or month
    Report(report::ReportArgs),
}

/// What every command gets.
pub struct Ctx {
    pub desk: Frontdesk,
    pub actor: Actor,
    pub out: Out,
}

/// Maps a core error to the documented exit code.
fn exit_code(e: &Error) -> u8 {
    match e.code() {
        ErrorCode::NotFound
        | ErrorCode::SlotTaken
        | ErrorCode::Conflict
        | ErrorCode::InvalidTransition
        | ErrorCode::RateLimited
        | ErrorCode::Forbidden
        | ErrorCode::Unauthenticated => 1,
        ErrorCode::Invalid => 2,
        ErrorCode::Busy | ErrorCode::Internal => 3,
    }
}

fn run(cli: Cli, out: Out) -> Result<(), Error> {
    let command = match cli.command {
        // the measuring tools make their own databases (stress may take --db)
        Command::Bench(a) => return bench::bench(a, out),
        Command::Stress(a) => return stress::stress(a, cli.db, out),
        other => other,
    };
    let path = cli.db.unwrap_or_else(frontdesk::db::default_path);
    let command = match command {
        // workers open the file themselves, with their own write path
        Command::BenchWorker(a) => return bench::worker(a, &path),
        Command::StressWorker(a) => return stress::worker(a, &path),
        // never opens a desk on the file it is about to replace
        Command::Restore(a) => return backup::restore(&path, &a, out),
        other => other,
    };
    let desk = Frontdesk::open_default(&path)?;
    let ctx = Ctx {
        desk,
        actor: Actor::local_admin(),
        out,
    };
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
        Command::Stats => admin::stats(&ctx),
        Command::Bench(_)
        | Command::Stress(_)
        | Command::BenchWorker(_)
        | Command::StressWorker(_) => {
            unreachable!("handled before the database is opened")
        }
        Command::Staff(c) => staff::staff(&ctx, c),
        Command::Otp(c) => otp::otp(&ctx, c),
        Command::Settings(c) => otp::settings(&ctx, c),
        Command::Audit(a) => audit::audit(&ctx, a),
        Command::Backup(a) => backup::backup(&ctx, a),
        Command::Backups(c) => backup::backups(&ctx, c),
        Command::Restore(_) => unreachable!("handled before opening the database"),
        Command::Export(c) => export::export(&ctx, c),
        Command::Report(a) => report::report(&ctx, a),
    };
    // keep this run's lock figures for `frontdesk stats`; losing them is harmless,
    // and after a Busy another wait for the lock would only delay the answer
    if !matches!(result, Err(frontdesk::Error::Busy)) {
        let _ = ctx.desk.flush_metrics();
    }
    result
}

fn main() -> ExitCode {
    // databases, backups, exports: for this user only, whatever the umask
    frontdesk::platform::restrict_new_files();
    let cli = Cli::parse();
    // nothing is logged unless FRONTDESK_LOG is set, and then to stderr only
    frontdesk::logging::init_stderr_from_env();
    let out = Out { json: cli.json };
    match run(cli, out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out.error(&e);
            ExitCode::from(exit_code(&e))
        }
    }
}
