//! Who is acting, and what each role may do.
//!
//! Every core operation takes the acting [`Actor`] and calls [`Actor::require`] with
//! its [`Action`] before touching the database. The actor comes from a Rust-side
//! session (the desktop app), from a staff sign-in (the CLI), or is the local
//! administrator (tools on their own databases; the CLI's break-glass and the set-up
//! of a clinic without staff, named by operating-system user); it is never taken from
//! a request payload.

use serde::Serialize;
use ts_rs::TS;

use crate::domain::model::{AppointmentStatus, Role};
use crate::error::{Error, Result};

/// The person (or tool) an operation is done for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct Actor {
    /// Staff id, or `None` for the command-line administrator.
    #[ts(type = "number | null")]
    pub staff_id: Option<i64>,
    /// Name recorded in the audit log and shown as "changed by".
    pub name: String,
    /// The role whose permissions apply.
    pub role: Role,
    /// An admin set this person's password: until they choose a new one, every
    /// action is refused ([`Actor::require`]) and the app shows only the
    /// change-password screen.
    pub must_change_password: bool,
}

impl Actor {
    /// The command-line tool, acting as a local administrator: whoever can open the
    /// database file already holds everything in it. Audited as `cli`.
    pub fn local_admin() -> Self {
        Actor {
            staff_id: None,
            name: "cli (local administrator)".into(),
            role: Role::Admin,
            must_change_password: false,
        }
    }

    /// The operating-system user `os_user` acting as the local administrator without
    /// a staff sign-in, for `reason`: the CLI's `--break-glass` (only the owner of the
    /// database file) and the set-up of a clinic that has no staff account yet.
    /// Audited as `local administrator (OS user ann): lost the admin password`.
    pub fn local_os_user(os_user: &str, reason: &str) -> Self {
        Actor {
            staff_id: None,
            name: format!("local administrator (OS user {os_user}): {reason}"),
            role: Role::Admin,
            must_change_password: false,
        }
    }

    /// A signed-in staff member.
    pub fn staff(id: i64, name: impl Into<String>, role: Role) -> Self {
        Actor {
            staff_id: Some(id),
            name: name.into(),
            role,
            must_change_password: false,
        }
    }

    /// The label stored in audit rows and `created_by`/`updated_by`.
    pub fn label(&self) -> String {
        match self.staff_id {
            Some(id) => format!("{} (#{id})", self.name),
            None => self.name.clone(),
        }
    }

    /// Refuses with [`Error::Forbidden`] unless the role may perform `action`, and
    /// with [`Error::PasswordChangeRequired`] anything at all while the person must
    /// choose a new password.
    pub fn require(&self, action: Action) -> Result<()> {
        if self.must_change_password {
            return Err(Error::PasswordChangeRequired);
        }
        if action.allowed_for(self.role) {
            Ok(())
        } else {
            Err(Error::Forbidden(action.describe()))
        }
    }
}

/// Everything the permission table distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, TS)]
#[ts(export)]
pub enum Action {
    /// Look at the day view, slots, doctors and appointments.
    ViewSchedule,
    /// Book a free slot for a patient.
    Book,
    /// Move an appointment to another slot.
    Reschedule,
    /// Mark a confirmed appointment as arrived.
    CheckIn,
    /// Confirm a pending appointment.
    Confirm,
    /// Cancel an appointment.
    Cancel,
    /// Mark a confirmed appointment as a no-show.
    MarkNoShow,
    /// Mark an arrived appointment as completed.
    Complete,
    /// Squeeze a patient into a taken slot.
    Overbook,
    /// Register, search and edit patients.
    ManagePatients,
    /// Send and check phone passcodes.
    VerifyPhone,
    /// Put patients on and take them off the waitlist.
    ManageWaitlist,
    /// Add and deactivate doctors.
    ManageDoctors,
    /// Add, block and generate slots; templates and time off.
    ManageSchedule,
    /// Add staff, reset passwords, change roles.
    ManageStaff,
    /// Change clinic settings.
    ManageSettings,
    /// Take and restore backups.
    ManageBackups,
    /// Read the audit log.
    ViewAudit,
    /// Read the contention metrics and reports; export data.
    ViewReports,
    /// See the recovery key, encrypt the database, change its key.
    ManageKeys,
    /// Take payments and close the desk's till.
    TakePayment,
    /// Refund a payment.
    Refund,
    /// Send the appointment reminders that are due (the desk's background
    /// worker, `frontdesk reminders send`).
    SendReminders,
}

impl Action {
    /// Every action (for tests that walk the whole table).
    pub const ALL: [Action; 23] = [
        Action::ViewSchedule,
        Action::Book,
        Action::Reschedule,
        Action::CheckIn,
        Action::Confirm,
        Action::Cancel,
        Action::MarkNoShow,
        Action::Complete,
        Action::Overbook,
        Action::ManagePatients,
        Action::VerifyPhone,
        Action::ManageWaitlist,
        Action::ManageDoctors,
        Action::ManageSchedule,
        Action::ManageStaff,
        Action::ManageSettings,
        Action::ManageBackups,
        Action::ViewAudit,
        Action::ViewReports,
        Action::ManageKeys,
        Action::TakePayment,
        Action::Refund,
        Action::SendReminders,
    ];

    /// The permission table (DESIGN §3): admins may do everything; receptionists
    /// the desk's daily work.
    pub fn allowed_for(self, role: Role) -> bool {
        match role {
            Role::Admin => true,
            Role::Receptionist => matches!(
                self,
                Action::ViewSchedule
                    | Action::Book
                    | Action::Reschedule
                    | Action::CheckIn
                    | Action::ManagePatients
                    | Action::VerifyPhone
                    | Action::ManageWaitlist
                    | Action::TakePayment
                    | Action::SendReminders
            ),
        }
    }

    /// What the action is, for "your role may not …".
    pub fn describe(self) -> &'static str {
        match self {
            Action::ViewSchedule => "view the schedule",
            Action::Book => "book appointments",
            Action::Reschedule => "reschedule appointments",
            Action::CheckIn => "check patients in",
            Action::Confirm => "confirm appointments",
            Action::Cancel => "cancel appointments",
            Action::MarkNoShow => "mark no-shows",
            Action::Complete => "complete appointments",
            Action::Overbook => "overbook a slot",
            Action::ManagePatients => "manage patients",
            Action::VerifyPhone => "verify phone numbers",
            Action::ManageWaitlist => "manage the waitlist",
            Action::ManageDoctors => "manage doctors",
            Action::ManageSchedule => "manage the schedule",
            Action::ManageStaff => "manage staff accounts",
            Action::ManageSettings => "change clinic settings",
            Action::ManageBackups => "manage backups",
            Action::ViewAudit => "view the audit log",
            Action::ViewReports => "view reports and metrics",
            Action::ManageKeys => "manage the database keys",
            Action::TakePayment => "take payments",
            Action::Refund => "refund payments",
            Action::SendReminders => "send appointment reminders",
        }
    }

    /// The action a status change needs.
    pub fn for_status_change(to: AppointmentStatus) -> Action {
        match to {
            AppointmentStatus::Arrived => Action::CheckIn,
            AppointmentStatus::Confirmed => Action::Confirm,
            AppointmentStatus::Cancelled => Action::Cancel,
            AppointmentStatus::NoShow => Action::MarkNoShow,
            AppointmentStatus::Completed => Action::Complete,
            // nothing moves back to pending; the state machine refuses it
            AppointmentStatus::Pending => Action::Confirm,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receptionists_may_do_desk_work_but_not_admin_work() {
        let desk = Actor::staff(2, "Rita", Role::Receptionist);
        assert!(desk.require(Action::Book).is_ok());
        assert!(desk.require(Action::CheckIn).is_ok());
        for a in [
            Action::Confirm,
            Action::Cancel,
            Action::ManageStaff,
            Action::ViewAudit,
            Action::Overbook,
        ] {
            assert!(
                matches!(desk.require(a), Err(Error::Forbidden(_))),
                "{a:?} must be refused"
            );
        }
        assert!(Action::ALL
            .iter()
            .all(|a| Actor::local_admin().require(*a).is_ok()));
    }

    #[test]
    fn the_local_os_user_is_an_admin_named_with_the_reason() {
        let glass = Actor::local_os_user("ann", "lost the admin password");
        assert_eq!(
            glass.label(),
            "local administrator (OS user ann): lost the admin password"
        );
        assert_eq!(glass.staff_id, None);
        assert!(Action::ALL.iter().all(|a| glass.require(*a).is_ok()));
    }

    #[test]
    fn someone_who_must_change_their_password_may_do_nothing_else() {
        let ada = Actor {
            must_change_password: true,
            ..Actor::staff(1, "Ada", Role::Admin)
        };
        for a in Action::ALL {
            assert!(
                matches!(ada.require(a), Err(Error::PasswordChangeRequired)),
                "{a:?} must wait for the new password"
            );
        }
    }
}
