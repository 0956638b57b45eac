//! Signing in and changing one's own password.
//!
//! Sign-in keeps two promises. **Uniform refusal**: an unknown username, a wrong
//! password and a deactivated account get the same error after the same work (two
//! short transactions and one argon2 verification — against a dummy hash when
//! there is no usable account); an unknown username even has its failures counted
//! (in `sign_in_throttle`), so it is slowed down and locked exactly like an
//! account. **Throttling, not lock-outs**: each attempt reserves one failure in a
//! write transaction *before* the password is checked (a success takes it back).
//! After [`FREE_FAILED_LOGINS`](crate::domain::staff::FREE_FAILED_LOGINS) failures in a row the next attempt under that
//! username must wait [`sign_in_delay_secs`] — 2 s, then 4, 8 … up to 5 minutes —
//! so fifty parallel guesses check at most three passwords and a guesser gets a
//! few dozen an hour; only [`LOCK_AFTER_FAILED_LOGINS`] failures in a row lock the
//! account, until an admin unlocks it or resets its password. Failures a day old
//! are forgotten. A desk is slowed down the same way across usernames (see
//! [`crate::service::session`]). A password change ends the person's other
//! sessions at once.

use crate::domain::auth::Actor;
use crate::domain::password;
use crate::domain::staff::{
    sign_in_delay_secs, Failures, StaffMember, FORGET_FAILED_LOGINS_SECS, LOCK_AFTER_FAILED_LOGINS,
    MAX_SIGN_IN_DELAY_SECS,
};
use crate::error::{Error, Result};
use crate::service::audit;
use crate::storage::audit as audit_log;
use crate::storage::staff;
use crate::Frontdesk;

/// What the throttle says about the next attempt under a username.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// Check the password; this attempt is the `count`-th failure until proven right.
    Go { count: i64 },
    /// Too soon: this many seconds to wait.
    Wait(i64),
    /// Locked until an admin unlocks it.
    Locked,
}

fn gate(f: Failures, now: i64) -> Gate {
    if f.locked_at.is_some() {
        return Gate::Locked;
    }
    let last = f.last_at.unwrap_or(i64::MIN / 2);
    let count = if now - last >= FORGET_FAILED_LOGINS_SECS {
        0
    } else {
        f.count
    };
    if count >= LOCK_AFTER_FAILED_LOGINS {
        return Gate::Locked;
    }
    let ready = last.saturating_add(sign_in_delay_secs(count, MAX_SIGN_IN_DELAY_SECS));
    if now < ready {
        Gate::Wait(ready - now)
    } else {
        Gate::Go { count: count + 1 }
    }
}

/// Whose password the first transaction of a check reserved an attempt for.
enum Target {
    /// An account: its hash (`None` when it is deactivated) and session generation.
    Account {
        id: i64,
        hash: Option<String>,
        generation: i64,
    },
    /// A username without an account (its failures are counted all the same).
    Unknown(String),
    /// Input that cannot be anyone's (empty or over-long): nothing is counted.
    Implausible,
}

/// What a password check is for.
#[derive(Clone, Copy)]
enum Purpose<'a> {
    /// Signing in.
    SignIn,
    /// Changing one's own password to the one hashed as `new_hash`; in a
    /// session, only while the account's session generation is still `session`
    /// (the one the session holds).
    ChangePassword {
        new_hash: &'a str,
        session: Option<i64>,
    },
}

/// A checked password: who, and the session generation the check was made on.
pub(crate) struct Verified {
    pub(crate) actor: Actor,
    pub(crate) generation: i64,
    /// After a password change, the account as the change left it.
    pub(crate) changed: Option<StaffMember>,
}

/// Whether the session a password change is made in ended before it got to
/// the account `c` (a role change, a reset, a password change elsewhere or a
/// deactivation since): the change is then refused, and counts as no failure.
fn session_ended(purpose: Purpose<'_>, c: &staff::Credentials) -> bool {
    matches!(purpose, Purpose::ChangePassword { session: Some(g), .. }
        if g != c.session_generation || !c.member.active)
}

fn wrong_credentials() -> Error {
    Error::LoginFailed
}

fn actor_of(m: &StaffMember) -> Actor {
    Actor {
        must_change_password: m.must_change_password,
        ..Actor::staff(m.id, m.display_name.clone(), m.role)
    }
}

impl Frontdesk {
    /// Checks a username and password and returns the signed-in [`Actor`] (with
    /// `must_change_password` set after an admin's reset: such an actor may do
    /// nothing but change it). Refusals: [`Error::LoginFailed`] for a wrong
    /// password, an unknown username or a deactivated account alike;
    /// [`Error::SignInThrottled`] too soon after failures; [`Error::AccountLocked`]
    /// after many (see the module docs). Use
    /// [`crate::service::session::SessionStore::login`] to get a session.
    pub fn authenticate(&self, username: &str, password: &str) -> Result<Actor> {
        self.sign_in(username, password).map(|v| v.actor)
    }

    /// [`Frontdesk::authenticate`], also telling the session generation the
    /// password was checked on.
    pub(crate) fn sign_in(&self, username: &str, password: &str) -> Result<Verified> {
        self.check_password(username, password, Purpose::SignIn)
    }

    /// A signed-in person changes their own password: `current` must be right
    /// (a wrong one counts as a failed sign-in), `new` must pass the password
    /// rules and differ from it. Clears "must change password"; the person's
    /// other sessions end.
    pub fn change_own_password(
        &self,
        actor: &Actor,
        current: &str,
        new: &str,
    ) -> Result<StaffMember> {
        self.change_own_password_in_session(actor, None, current, new)
            .map(|(m, _)| m)
    }

    /// [`Frontdesk::change_own_password`] in a session that holds session
    /// generation `session`, also telling who made the change as the account
    /// stood when it committed and the new generation (the session carries on
    /// with it). [`Error::Unauthenticated`], nothing changed, when the account's
    /// generation moved on meanwhile (a role change, a reset, a deactivation):
    /// that ended the session.
    pub(crate) fn change_own_password_in_session(
        &self,
        actor: &Actor,
        session: Option<i64>,
        current: &str,
        new: &str,
    ) -> Result<(StaffMember, Verified)> {
        let Some(id) = actor.staff_id else {
            return Err(Error::invalid(
                "the command-line administrator has no password of its own; use `frontdesk staff change-password USERNAME` or `staff reset-password`",
            ));
        };
        let me = self
            .in_read(|c| Ok(staff::get(c, id)?))?
            .ok_or(Error::Unauthenticated)?
            .member;
        self.change_password_of(&me.username, Some(id), session, current, new)
            .map_err(|e| match e {
                Error::LoginFailed => Error::invalid("your current password is not right"),
                other => other,
            })
    }

    /// Changes a person's password given their username and current password (the
    /// command line's `staff change-password`, where nobody is signed in). Refused
    /// like a sign-in when the current password is wrong.
    pub fn change_password(&self, username: &str, current: &str, new: &str) -> Result<StaffMember> {
        self.change_password_of(username, None, None, current, new)
            .map(|(m, _)| m)
    }

    fn change_password_of(
        &self,
        username: &str,
        expected_id: Option<i64>,
        session: Option<i64>,
        current: &str,
        new: &str,
    ) -> Result<(StaffMember, Verified)> {
        // the new password's checks and hash come first, outside every transaction
        let found = self.in_read(|c| Ok(staff::by_username(c, username.trim())?))?;
        let display_name = found.as_ref().map_or_else(
            || username.trim().to_string(),
            |f| f.member.display_name.clone(),
        );
        let clinic = self.clinic_name()?;
        password::check_new_password(new, &[username.trim(), &display_name, &clinic])?;
        if new == current {
            return Err(Error::invalid(
                "the new password must differ from the current one",
            ));
        }
        if let Some(expected) = expected_id {
            if found.as_ref().map(|f| f.member.id) != Some(expected) {
                return Err(Error::Unauthenticated);
            }
        }
        let new_hash = password::hash_secret(new.as_bytes())?;
        let mut verified = self.check_password(
            username,
            current,
            Purpose::ChangePassword {
                new_hash: &new_hash,
                session,
            },
        )?;
        let m = verified
            .changed
            .take()
            .ok_or_else(|| Error::Internal("a password change read its account back".into()))?;
        Ok((m, verified))
    }

    /// The one password check behind signing in and changing one's password (see
    /// the module docs). Reads the clock exactly twice: before the first
    /// transaction and before the second.
    fn check_password(
        &self,
        username: &str,
        password: &str,
        purpose: Purpose<'_>,
    ) -> Result<Verified> {
        // out-of-policy input cannot match any stored password; refuse it before
        // hashing, but only after the same lookups so as not to stand out
        let username = username.trim();
        let plausible = password.len() <= password::MAX_PASSWORD_BYTES
            && !username.is_empty()
            && username.len() <= 64;
        let now = self.now();
        let reserved = self.in_write("staff.login", |tx| {
            if !plausible {
                return Ok(Ok(Target::Implausible));
            }
            staff::prune_unknown(tx, now - FORGET_FAILED_LOGINS_SECS)?;
            let found = staff::by_username(tx, username)?;
            if found.as_ref().is_some_and(|c| session_ended(purpose, c)) {
                return Ok(Err(Error::Unauthenticated));
            }
            let (failures, id) = match &found {
                Some(c) => (c.member.failures(), Some(c.member.id)),
                None => (staff::unknown_failures(tx, username)?, None),
            };
            let refusal = match gate(failures, now) {
                Gate::Go { count } => {
                    return Ok(Ok(match found {
                        Some(c) => {
                            staff::reserve_attempt(tx, c.member.id, count, now)?;
                            Target::Account {
                                id: c.member.id,
                                hash: c.member.active.then_some(c.password_hash),
                                generation: c.session_generation,
                            }
                        }
                        None => {
                            staff::reserve_unknown_attempt(tx, username, count, now)?;
                            Target::Unknown(username.to_string())
                        }
                    }));
                }
                Gate::Wait(secs) => Error::SignInThrottled {
                    retry_after_secs: secs,
                    at_desk: false,
                },
                Gate::Locked => Error::AccountLocked,
            };
            let why = match &refusal {
                Error::AccountLocked => "locked".to_string(),
                _ => "too soon after failed sign-ins".to_string(),
            };
            audit_log::record(
                tx,
                now,
                "sign-in",
                "staff.login_failed",
                "staff",
                id,
                &format!("{why}; not checked"),
            )?;
            Ok(Err(refusal))
        })??;
        let (id, hash, why) = match &reserved {
            Target::Implausible => (None, password::dummy_hash(), "unknown username"),
            Target::Unknown(_) => (None, password::dummy_hash(), "unknown username"),
            Target::Account { id, hash: None, .. } => {
                (Some(*id), password::dummy_hash(), "account deactivated")
            }
            Target::Account {
                id, hash: Some(h), ..
            } => (Some(*id), h.as_str(), "wrong password"),
        };
        let matches = plausible && password::verify_secret(password.as_bytes(), hash);
        let ok = matches && matches!(reserved, Target::Account { hash: Some(_), .. });
        // a stronger hash for a weak stored one, computed outside the lock
        let rehash = match purpose {
            Purpose::SignIn if ok && password::needs_rehash(hash) => {
                Some(password::hash_secret(password.as_bytes())?)
            }
            _ => None,
        };
        let generation = match &reserved {
            Target::Account { generation, .. } => *generation,
            _ => 0,
        };
        let now = self.now();
        self.in_write("staff.login", |tx| {
            if let (true, Some(id)) = (ok, id) {
                let c = staff::get(tx, id)?.ok_or_else(wrong_credentials)?;
                if session_ended(purpose, &c) {
                    // the password was right: the attempt reserved is no failure
                    staff::record_success(tx, id, hash, None, now)?;
                    return Ok(Err(Error::Unauthenticated));
                }
                let m = c.member;
                if m.active {
                    let actor = actor_of(&m);
                    return match purpose {
                        Purpose::SignIn => {
                            // the upgrade replaces only the hash the password was
                            // checked against: a reset since the first transaction
                            // keeps its password
                            let upgraded =
                                staff::record_success(tx, id, hash, rehash.as_deref(), now)?;
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
                            Ok(Ok(Verified {
                                actor,
                                generation,
                                changed: None,
                            }))
                        }
                        Purpose::ChangePassword { new_hash, .. } => {
                            let Some(changed) =
                                staff::change_own_password(tx, id, hash, new_hash, now)?
                            else {
                                return Ok(Err(Error::invalid(
                                    "your password was changed meanwhile; sign in with the new one",
                                )));
                            };
                            audit(
                                tx,
                                now,
                                &actor,
                                "staff.change_password",
                                "staff",
                                Some(id),
                                "by the person; their other sessions ended",
                            )?;
                            let actor = Actor {
                                must_change_password: false,
                                ..actor
                            };
                            Ok(Ok(Verified {
                                actor,
                                generation: changed.session_generation,
                                changed: Some(changed.member),
                            }))
                        }
                    };
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
            let why = match purpose {
                Purpose::SignIn => why.to_string(),
                Purpose::ChangePassword { .. } => format!("{why} (changing the password)"),
            };
            audit_log::record(tx, now, "sign-in", "staff.login_failed", "staff", id, &why)?;
            let locked = match &reserved {
                Target::Account { id, .. } => {
                    staff::lock_if_exhausted(tx, *id, LOCK_AFTER_FAILED_LOGINS, now)?
                }
                Target::Unknown(name) => {
                    staff::lock_unknown_if_exhausted(tx, name, LOCK_AFTER_FAILED_LOGINS, now)?
                }
                Target::Implausible => false,
            };
            if locked && id.is_some() {
                audit_log::record(
                    tx,
                    now,
                    "sign-in",
                    "staff.lock",
                    "staff",
                    id,
                    &format!(
                        "{LOCK_AFTER_FAILED_LOGINS} failed sign-ins in a row; locked until an admin unlocks it"
                    ),
                )?;
            }
            Ok(Err(wrong_credentials()))
        })?
    }

    /// The signed-in person as a session sees them now, re-read from the database,
    /// with the session generation; `None` when the account is gone or deactivated.
    pub(crate) fn session_state(&self, staff_id: i64) -> Result<Option<(Actor, i64)>> {
        let found = self.in_read(|c| Ok(staff::get(c, staff_id)?))?;
        Ok(found
            .filter(|c| c.member.active)
            .map(|c| (actor_of(&c.member), c.session_generation)))
    }
}
