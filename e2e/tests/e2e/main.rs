//! The real app in a real window, driven over WebDriver. One binary, one module per
//! screen or feature; the harness is the `frontdesk_e2e` library (src/).
//! Run with `FRONTDESK_E2E=1` under `xvfb-run` (scripts/test.sh does); skipped otherwise.

/// Admin screens: staff, schedule generation, audit log, backups.
mod admin_screens;
/// Going to any date: `g`, typed dates, the date picker.
mod date_jump;
/// The demo clinic and the README screenshot of its day view.
mod demo_clinic;
/// Rescheduling and overbooking from the appointment drawer.
mod desk_appointments;
/// A booking day at the front desk: setup, booking, a refused double booking, confirm, cancel.
mod desk_flow;
/// The desk from the keyboard alone.
mod desk_keyboard;
/// A database that cannot be opened is explained in the window.
mod desk_open_error;
/// The encrypted database: the recovery key after setup, unlocking on a new computer, Admin → Security.
mod encryption;
/// The clinic's language (German, English) and its date, time, money and phone formats.
mod language;
/// Speed: another desk's change repainted here, start-up to the day grid (printed).
mod live_refresh;
/// Long jobs: a backup's progress bar, the desk usable while it runs.
mod long_jobs;
/// Passwords: changing one's own, the change an admin's reset forces, unlocking.
mod passwords;
/// Patients and waitlist screens.
mod patients_waitlist;
/// Money at the desk: a deposit with the booking, the rest at check-in, the receipt, the cash-up.
mod payments;
/// A receptionist's whole day: check-in from the grid, every status, the narrow window, printing.
mod receptionist_day;
/// The content security policy the window runs under.
mod security;
/// Seeding a test clinic through the command line.
mod seed;
/// Two app windows on one clinic server (PostgreSQL): a booking at one appears at the other.
mod server_desks;
/// The frame and the status line every screen sits in.
mod shell;
/// Shared steps of the desk tests (typing, clicking, signing in).
mod steps;
/// Two app instances on one database file.
mod two_desks;
/// The toast's Undo and the confirmations before blocking.
mod undo;
