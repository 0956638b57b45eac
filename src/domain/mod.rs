//! What a clinic's front desk is made of and the rules it follows, with no SQL
//! and no I/O: the types, the appointment state machine, validation, limits and
//! the parsing of what people type. [`crate::storage`] keeps these and
//! [`crate::service`] applies them.

pub mod audit;
pub mod auth;
pub mod clinic;
pub mod model;
pub mod outbox;
pub mod passcodes;
pub mod password;
pub mod payments;
pub mod planner;
pub mod progress;
pub mod reminders;
pub mod scheduling;
pub mod staff;
