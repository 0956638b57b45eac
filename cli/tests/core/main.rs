//! Integration tests of the Frontdesk core: one binary, one module per feature.
//! Every test gets its own database file in a temp dir (see `fixture`).

#[macro_use]
mod fixture;

/// The audit log: append-only, hash chain, admin listing, no secrets.
mod audit;
/// Backups while desks book, restores (round trip, refusals, kill -9), retention.
mod backup;
/// Booking, rescheduling and status changes, single-threaded rules.
mod booking;
/// The `frontdesk` command line: exit codes and messages for bad input.
mod cli;
/// The command line signs in as a staff member (same permissions, named in the
/// audit log); the file owner's audited break-glass; what stays open.
mod cli_sign_in;
/// Races between threads and between OS processes.
mod concurrency;
/// SIGKILLed writers: reopened database checks out and keeps every reported commit.
mod crash;
/// The file's edges: restores under a live connection, replaced files, path
/// spellings, a frozen desk, failed syncs, checkpoints outside the lock.
mod edges;
/// Encrypted at rest: database, log and backups; recovery key; encrypt and re-key.
mod encryption;
/// CSV exports through a CSV parser; the printable day sheet.
mod export;
/// Forgers without the key, and hostile backups: each found or refused, named.
mod forgery;
/// Recorded concurrent histories of one slot book are linearizable.
mod linearizability;
/// Opening the database: pragmas, schema version, migrations.
mod opening;
/// Phone passcodes: rate limits, attempts, expiry, delivery, code uniformity.
mod otp;
/// Property tests of the boundary parsers, the CLI arguments and the core API.
mod parsers;
/// Patients: registration, duplicates, search, edits.
mod patients;
/// Payments: pay-and-book races, the append-only ledger, refunds, the
/// cancellation policy, gapless receipts across processes and crashes, the till.
mod payments;
/// The permission table of DESIGN §3, walked for every operation.
mod permissions;
/// The PostgreSQL backend against a real server (FRONTDESK_TEST_PG).
mod pg;
/// A clinic server's backups (pg_dump archives), checked and restored.
mod pg_backup;
/// `frontdesk check` on a clinic server.
mod pg_check;
/// Simulated power cuts under SQLite and the group sync: acknowledged writes survive.
mod power_cut;
/// Files and folders only the clinic's OS user can read, whatever the umask.
mod privacy;
/// Long jobs report progress: monotonic within a phase, ending at the total.
mod progress;
/// Read-modify-write races: two desks interleave between one desk's read and its write.
mod races_rmw;
/// Appointment reminders: lead times across DST, template and language, opt-out,
/// cancellation, reschedule, retries; exactly once with 8 desks and 4 CLI processes.
mod reminders;
/// Reports per doctor per week or month.
mod reports;
/// Scheduling: templates, time off, slot generation across DST, series, overbooking, waitlist.
mod scheduling;
/// Scheduling from the command line: an empty clinic to a bookable month.
mod scheduling_cli;
/// Scheduling under concurrency: generation while desks book, waitlist races.
mod scheduling_races;
/// Settings validation: time zone, backup folder, retention, unknown keys.
mod settings;
/// Staff accounts, sign-in with lockout, sessions.
mod staff;
/// Many processes on a few slots and phones: check passes and the journals balance.
mod stress;
/// Undo of one's own booking, cancellation, check-in and block within the window.
mod undo;
