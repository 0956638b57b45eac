//! Staff accounts: the first admin, adding people, resetting a password,
//! unlocking, deactivating and changing a role — each an admin's audited change
//! that ends the person's open sessions when it must (the staff row's session
//! generation). Signing in and changing one's own password are in
//! [`crate::service::sign_in`].
//!
//! Passwords are checked with [`password::check_new_password`] (blocklist, context,
//! strength) and hashed before any write transaction; hashing and verifying run on
//! the bounded hashing pool ([`crate::domain::password`]).

use serde::Deserialize;
use ts_rs::TS;

use crate::domain::auth::{Action, Actor};
use crate::domain::clinic::required_text;
use crate::domain::model::Role;
use crate::domain::password;
use crate::domain::staff::StaffMember;
use crate::error::{Error, Result};
use crate::service::audit;
use crate::storage::audit as audit_log;
use crate::storage::{staff, Conn};
use crate::Frontdesk;

/// Input for a new staff account.
#[derive(Debug, Clone, Deserialize, TS)]
#[ts(export)]
pub struct NewStaff {
    /// Sign-in name: letters, digits, `.`, `_`, `-` (case-insensitive).
    pub username: String,
    /// Name shown in the app and the audit log.
    pub display_name: String,
    /// Admin or receptionist.
    pub role: Role,
    /// At least 10 characters, at most 1024 bytes, not common, not made of the
    /// names, not easy to guess.
    pub password: String,
}

fn clean_username(username: &str) -> Result<String> {
    let u = username.trim();
    if u.is_empty()
        || u.len() > 64
        || !u
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
    {
        return Err(Error::invalid(
            "a username is 1 to 64 letters, digits, '.', '_' or '-'",
        ));
    }
    Ok(u.to_string())
}

impl Frontdesk {
    /// The clinic's name, which a new password must not be made of.
    pub(super) fn clinic_name(&self) -> Result<String> {
        Ok(self.settings()?.name)
    }

    /// Creates the first admin of a new clinic. Needs no actor and works only while
    /// there is no staff account at all.
    pub fn create_first_admin(
        &self,
        username: &str,
        display_name: &str,
        password: &str,
    ) -> Result<StaffMember> {
        let username = clean_username(username)?;
        let display_name = required_text("the display name", display_name, 200)?;
        let clinic = self.clinic_name()?;
        password::check_new_password(password, &[&username, &display_name, &clinic])?;
        let hash = password::hash_secret(password.as_bytes())?;
        let now = self.now();
        self.in_write("staff.first_admin", |tx| {
            if staff::count(tx)? > 0 {
                return Err(Error::invalid(
                    "this clinic already has staff accounts; an admin adds new ones",
                ));
            }
            let id = staff::insert(tx, &username, &display_name, Role::Admin, &hash, now)?;
            audit_log::record(
                tx,
                now,
                "first-run setup",
                "staff.add",
                "staff",
                Some(id),
                "role ADMIN (first admin)",
            )?;
            member(tx, id)
        })
    }

    /// Whether the clinic still needs its first admin (no staff account exists).
    pub fn needs_first_admin(&self) -> Result<bool> {
        self.in_read(|c| Ok(staff::count(c)? == 0))
    }

    /// Adds a staff account.
    pub fn add_staff(&self, actor: &Actor, new: &NewStaff) -> Result<StaffMember> {
        actor.require(Action::ManageStaff)?;
        let username = clean_username(&new.username)?;
        let display_name = required_text("the display name", &new.display_name, 200)?;
        let clinic = self.clinic_name()?;
        password::check_new_password(&new.password, &[&username, &display_name, &clinic])?;
        let hash = password::hash_secret(new.password.as_bytes())?;
        let now = self.now();
        self.in_write("staff.add", |tx| {
            if staff::by_username(tx, &username)?.is_some() {
                return Err(Error::invalid(format!(
                    "the username {username:?} is taken"
                )));
            }
            let id = staff::insert(tx, &username, &display_name, new.role, &hash, now)?;
            audit(
                tx,
                now,
                actor,
                "staff.add",
                "staff",
                Some(id),
                &format!("role {}", new.role.as_str()),
            )?;
            member(tx, id)
        })
    }

    /// Every staff account.
    pub fn list_staff(&self, actor: &Actor) -> Result<Vec<StaffMember>> {
        actor.require(Action::ManageStaff)?;
        self.in_read(|c| Ok(staff::list(c)?))
    }

    /// An admin sets a new password for an account: the person must choose their
    /// own at the next sign-in, any sign-in lock is lifted, and their open sessions
    /// end.
    pub fn reset_password(
        &self,
        actor: &Actor,
        staff_id: i64,
        new_password: &str,
    ) -> Result<StaffMember> {
        actor.require(Action::ManageStaff)?;
        let target = self.in_read(|c| member(c, staff_id))?;
        let clinic = self.clinic_name()?;
        password::check_new_password(
            new_password,
            &[&target.username, &target.display_name, &clinic],
        )?;
        let hash = password::hash_secret(new_password.as_bytes())?;
        let now = self.now();
        self.in_write("staff.reset_password", |tx| {
            let before = member(tx, staff_id)?;
            staff::reset_password(tx, staff_id, &hash, now)?;
            audit(
                tx,
                now,
                actor,
                "staff.reset_password",
                "staff",
                Some(staff_id),
                "must choose a new password at the next sign-in; open sessions ended",
            )?;
            if before.locked_at.is_some() {
                audit(
                    tx,
                    now,
                    actor,
                    "staff.unlock",
                    "staff",
                    Some(staff_id),
                    "by password reset",
                )?;
            }
            member(tx, staff_id)
        })
    }

    /// Lifts a sign-in lock (and forgets the failed sign-ins that slow the next
    /// attempt down).
    pub fn unlock_staff(&self, actor: &Actor, staff_id: i64) -> Result<StaffMember> {
        actor.require(Action::ManageStaff)?;
        let now = self.now();
        self.in_write("staff.unlock", |tx| {
            staff::unlock(tx, staff_id, now)?
                .then_some(())
                .ok_or(Error::NotFound("staff member"))?;
            audit(
                tx,
                now,
                actor,
                "staff.unlock",
                "staff",
                Some(staff_id),
                "by an admin",
            )?;
            member(tx, staff_id)
        })
    }

    /// Ends an account (it keeps its history) and its open sessions. The last
    /// active admin cannot be deactivated.
    pub fn deactivate_staff(&self, actor: &Actor, staff_id: i64) -> Result<StaffMember> {
        actor.require(Action::ManageStaff)?;
        let now = self.now();
        self.in_write("staff.deactivate", |tx| {
            let m = member(tx, staff_id)?;
            if !m.active {
                return Ok(m);
            }
            if m.role == Role::Admin && staff::active_admins(tx)? <= 1 {
                return Err(Error::invalid(
                    "this is the last active admin; make another admin first",
                ));
            }
            staff::set_active(tx, staff_id, false, now)?;
            audit(
                tx,
                now,
                actor,
                "staff.deactivate",
                "staff",
                Some(staff_id),
                "open sessions ended",
            )?;
            member(tx, staff_id)
        })
    }

    /// Changes an account's role; the person's open sessions end (they sign in
    /// again with the new role). The last active admin cannot be demoted.
    pub fn change_role(&self, actor: &Actor, staff_id: i64, role: Role) -> Result<StaffMember> {
        actor.require(Action::ManageStaff)?;
        let now = self.now();
        self.in_write("staff.change_role", |tx| {
            let m = member(tx, staff_id)?;
            if m.role == role {
                return Ok(m);
            }
            if m.role == Role::Admin && m.active && staff::active_admins(tx)? <= 1 {
                return Err(Error::invalid(
                    "this is the last active admin; make another admin first",
                ));
            }
            staff::set_role(tx, staff_id, role, now)?;
            audit(
                tx,
                now,
                actor,
                "staff.change_role",
                "staff",
                Some(staff_id),
                &format!(
                    "{} -> {}; open sessions ended",
                    m.role.as_str(),
                    role.as_str()
                ),
            )?;
            member(tx, staff_id)
        })
    }
}

/// A generated demo account with its one-time-printed password.
#[derive(Debug, Clone, serde::Serialize, TS)]
#[ts(export)]
pub struct DemoAccount {
    /// Sign-in name.
    pub username: String,
    /// Generated password (shown once; only its hash is stored).
    pub password: String,
    /// Role.
    pub role: Role,
}

impl Frontdesk {
    /// Creates the demo clinic's admin (`admin`) and receptionist (`desk`) with
    /// random passwords, returned once. Only while no staff account exists.
    pub fn create_demo_staff(&self, actor: &Actor) -> Result<Vec<DemoAccount>> {
        actor.require(Action::ManageStaff)?;
        let accounts = [
            ("admin", "Demo Admin", Role::Admin),
            ("desk", "Demo Receptionist", Role::Receptionist),
        ]
        .into_iter()
        .map(|(u, name, role)| {
            let password = password::random_password()?;
            let hash = password::hash_secret(password.as_bytes())?;
            Ok((
                DemoAccount {
                    username: u.into(),
                    password,
                    role,
                },
                name,
                hash,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
        let now = self.now();
        self.in_write("staff.add", |tx| {
            if staff::count(tx)? > 0 {
                return Err(Error::invalid("this clinic already has staff accounts"));
            }
            for (a, name, hash) in &accounts {
                let id = staff::insert(tx, &a.username, name, a.role, hash, now)?;
                audit(
                    tx,
                    now,
                    actor,
                    "staff.add",
                    "staff",
                    Some(id),
                    &format!("role {} (demo)", a.role.as_str()),
                )?;
            }
            Ok(())
        })?;
        Ok(accounts.into_iter().map(|(a, _, _)| a).collect())
    }
}

/// A staff account as admins see it, or `NotFound`.
fn member(conn: &Conn, staff_id: i64) -> Result<StaffMember> {
    Ok(staff::get(conn, staff_id)?
        .ok_or(Error::NotFound("staff member"))?
        .member)
}
