//! Staff accounts and signing in.
//!
//! Sign-in keeps two promises. **Uniform refusal**: an unknown username, a wrong
//! password, a locked or a deactivated account all get the same error after the
//! same work (two short transactions and one argon2 verification — against a dummy
//! hash when there is no account). **A hard failure limit**: each attempt reserves
//! `failed_logins + 1` in a write transaction *before* the password is checked, so
//! fifty parallel guesses verify at most five passwords; the fifth failure locks
//! the account for 15 minutes. Hashing and verifying run outside the write lock on
//! the bounded hashing pool ([`crate::password`]).

use serde::Deserialize;
use ts_rs::TS;

use crate::auth::{Action, Actor};
use crate::clinic::required_text;
use crate::error::{Error, Result};
use crate::model::Role;
use crate::ops::audit;
use crate::password;
use crate::store::audit as audit_log;
use crate::store::staff::{self, StaffMember};
use crate::Frontdesk;

/// Consecutive failed sign-ins that lock an account.
pub const MAX_FAILED_LOGINS: i64 = 5;
/// How long a locked account stays locked (seconds).
pub const LOCK_SECS: i64 = 15 * 60;

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
    /// At least 10 characters, at most 1024 bytes.
    pub password: String,
}

/// What the first transaction of a sign-in found.
enum Reservation {
    /// No such username.
    Unknown,
    /// The account exists but may not sign in now (inactive or locked).
    Refused { id: i64, why: &'static str },
    /// An attempt was reserved; check this hash.
    Reserved { id: i64, hash: String },
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

fn wrong_credentials() -> Error {
    Error::LoginFailed
}

impl Frontdesk {
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
        password::check_password_rules(password)?;
        let hash = password::hash_secret(password.as_bytes())?;
        let now = self.now();
        self.write("staff.first_admin", |tx| {
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
            Ok(staff::get(tx, id)?
                .ok_or(Error::NotFound("staff member"))?
                .member)
        })
    }

    /// Whether the clinic still needs its first admin (no staff account exists).
    pub fn needs_first_admin(&self) -> Result<bool> {
        self.read(|c| Ok(staff::count(c)? == 0))
    }

    /// Adds a staff account.
    pub fn add_staff(&self, actor: &Actor, new: &NewStaff) -> Result<StaffMember> {
        actor.require(Action::ManageStaff)?;
        let username = clean_username(&new.username)?;
        let display_name = required_text("the display name", &new.display_name, 200)?;
        password::check_password_rules(&new.password)?;
        let hash = password::hash_secret(new.password.as_bytes())?;
        let now = self.now();
        self.write("staff.add", |tx| {
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
            Ok(staff::get(tx, id)?
                .ok_or(Error::NotFound("staff member"))?
                .member)
        })
    }

    /// Every staff account.
    pub fn list_staff(&self, actor: &Actor) -> Result<Vec<StaffMember>> {
        actor.require(Action::ManageStaff)?;
        self.read(|c| Ok(staff::list(c)?))
    }

    /// Sets a new password for an account (and lifts any sign-in lock).
    pub fn reset_password(
        &self,
        actor: &Actor,
        staff_id: i64,
        new_password: &str,
    ) -> Result<StaffMember> {
        actor.require(Action::ManageStaff)?;
        password::check_password_rules(new_password)?;
        let hash = password::hash_secret(new_password.as_bytes())?;
        let now = self.now();
        self.write("staff.reset_password", |tx| {
            let before = staff::get(tx, staff_id)?
                .ok_or(Error::NotFound("staff member"))?
                .member;
            staff::set_password(tx, staff_id, &hash, now)?;
            audit(
                tx,
                now,
                actor,
                "staff.reset_password",
                "staff",
                Some(staff_id),
                "",
            )?;
            if before.locked_until.is_some_and(|t| t > now) {
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
            Ok(staff::get(tx, staff_id)?
                .ok_or(Error::NotFound("staff member"))?
                .member)
        })
    }

    /// Lifts a sign-in lock before its 15 minutes are over.
    pub fn unlock_staff(&self, actor: &Actor, staff_id: i64) -> Result<StaffMember> {
        actor.require(Action::ManageStaff)?;
        let now = self.now();
        self.write("staff.unlock", |tx| {
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
            Ok(staff::get(tx, staff_id)?
                .ok_or(Error::NotFound("staff member"))?
                .member)
        })
    }

    /// Ends an account (it keeps its history). The last active admin cannot be
    /// deactivated.
    pub fn deactivate_staff(&self, actor: &Actor, staff_id: i64) -> Result<StaffMember> {
        actor.require(Action::ManageStaff)?;
        let now = self.now();
        self.write("staff.deactivate", |tx| {
            let m = staff::get(tx, staff_id)?
                .ok_or(Error::NotFound("staff member"))?
                .member;
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
                "",
            )?;
            Ok(staff::get(tx, staff_id)?
                .ok_or(Error::NotFound("staff member"))?
                .member)
        })
    }

    /// Changes an account's role. The last active admin cannot be demoted.
    pub fn change_role(&self, actor: &Actor, staff_id: i64, role: Role) -> Result<StaffMember> {
        actor.require(Action::ManageStaff)?;
        let now = self.now();
        self.write("staff.change_role", |tx| {
            let m = staff::get(tx, staff_id)?
                .ok_or(Error::NotFound("staff member"))?
                .member;
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
                &format!("{} -> {}", m.role.as_str(), role.as_str()),
            )?;
            Ok(staff::get(tx, staff_id)?
                .ok_or(Error::NotFound("staff member"))?
                .member)
        })
    }

    /// Checks a username and password and returns the signed-in [`Actor`]. Every
    /// refusal is the same [`Error::LoginFailed`] (see the module docs). Use
    /// [`crate::session::SessionStore::login`] to get a session.
    pub fn authenticate(&self, username: &str, password: &str) -> Result<Actor> {
        // out-of-policy input cannot match any stored password; refuse it before
        // hashing, but only after the same lookups so as not to stand out
        let username = username.trim();
        let plausible = password.len() <= password::MAX_PASSWORD_BYTES
            && !username.is_empty()
            && username.len() <= 64;
        let now = self.now();
        let reservation = self.write("staff.login", |tx| {
            let Some(found) = (if plausible {
                staff::by_username(tx, username)?
            } else {
                None
            }) else {
                return Ok(Reservation::Unknown);
            };
            let m = &found.member;
            if !m.active {
                return Ok(Reservation::Refused {
                    id: m.id,
                    why: "account deactivated",
                });
            }
            if m.locked_until.is_some_and(|t| t > now) {
                return Ok(Reservation::Refused {
                    id: m.id,
                    why: "account locked",
                });
            }
            if staff::clear_expired_lock(tx, m.id, now)? {
                audit_log::record(
                    tx,
                    now,
                    &m.display_name,
                    "staff.unlock",
                    "staff",
                    Some(m.id),
                    "lock expired",
                )?;
            }
            if !staff::reserve_attempt(tx, m.id, now)? {
                // the limit was reached by parallel attempts still being checked
                return Ok(Reservation::Refused {
                    id: m.id,
                    why: "too many attempts",
                });
            }
            Ok(Reservation::Reserved {
                id: m.id,
                hash: found.password_hash.clone(),
            })
        })?;
        let (id, hash, why) = match &reservation {
            Reservation::Unknown => (None, password::dummy_hash(), "unknown username"),
            Reservation::Refused { id, why } => (Some(*id), password::dummy_hash(), *why),
            Reservation::Reserved { id, hash } => (Some(*id), hash.as_str(), "wrong password"),
        };
        let matches = plausible && password::verify_secret(password.as_bytes(), hash);
        let ok = matches && matches!(reservation, Reservation::Reserved { .. });
        // a stronger hash for a weak stored one, computed outside the lock
        let rehash = if ok && password::needs_rehash(hash) {
            Some(password::hash_secret(password.as_bytes())?)
        } else {
            None
        };
        let now = self.now();
        self.write("staff.login", |tx| {
            if let (true, Some(id)) = (ok, id) {
                let m = staff::get(tx, id)?.ok_or_else(wrong_credentials)?.member;
                // the upgrade replaces only the hash the password was checked
                // against: a reset since the first transaction keeps its password
                let upgraded = staff::record_success(tx, id, hash, rehash.as_deref(), now)?;
                if m.active {
                    let detail = match (&rehash, upgraded) {
                        (Some(_), true) => "password hash upgraded",
                        (Some(_), false) => {
                            "password hash not upgraded: it changed during the sign-in"
                        }
                        (None, _) => "",
                    };
                    audit_log::record(
                        tx,
                        now,
                        &m.display_name,
                        "staff.login",
                        "staff",
                        Some(id),
                        detail,
                    )?;
                    return Ok(Ok(Actor::staff(id, m.display_name, m.role)));
                }
                // deactivated while the password was being checked
                audit_log::record(
                    tx,
                    now,
                    "sign-in",
                    "staff.login_failed",
                    "staff",
                    Some(id),
                    "account deactivated",
                )?;
                return Ok(Err(wrong_credentials()));
            }
            audit_log::record(tx, now, "sign-in", "staff.login_failed", "staff", id, why)?;
            if let Some(id) = id {
                if staff::lock_if_exhausted(tx, id, MAX_FAILED_LOGINS, now + LOCK_SECS)? {
                    audit_log::record(
                        tx,
                        now,
                        "sign-in",
                        "staff.lock",
                        "staff",
                        Some(id),
                        "5 failed sign-ins; locked for 15 minutes",
                    )?;
                }
            }
            Ok(Err(wrong_credentials()))
        })?
    }

    /// The current actor for a signed-in staff member, re-read from the database so
    /// that deactivation and role changes take effect at once.
    pub(crate) fn staff_actor(&self, staff_id: i64) -> Result<Actor> {
        let m = self
            .read(|c| Ok(staff::get(c, staff_id)?))?
            .map(|c| c.member);
        match m {
            Some(m) if m.active => Ok(Actor::staff(m.id, m.display_name, m.role)),
            _ => Err(Error::Unauthenticated),
        }
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
        self.write("staff.add", |tx| {
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
