//! The storage layer: all SQL, one module per aggregate. Functions take a
//! `&Connection` (a `Transaction` derefs to one) so several compose inside one
//! write transaction; they enforce no permissions and hold no locks themselves.

pub mod appointments;
pub mod audit;
pub mod doctors;
pub mod generated;
pub mod otp;
pub mod patients;
pub mod payments;
pub mod reminders;
pub mod reports;
pub mod series;
pub mod settings;
pub mod slots;
pub mod staff;
pub mod templates;
pub mod waitlist;
