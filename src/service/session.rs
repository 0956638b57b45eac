//! Desk sessions, kept on the Rust side: the UI holds only an opaque token, and the
//! acting [`Actor`] of every operation is looked up here, never taken from a
//! request payload.
//!
//! A session ends when it is idle longer than the clinic's `session.idle_minutes`
//! (default 15, at most [`MAX_IDLE_MINUTES`]), when it is 12 hours old, at logout,
//! and as soon as its account is deactivated, its password is reset or changed
//! elsewhere, or its role changes: each lookup re-reads the staff row (one indexed
//! read) and compares its session generation with the one the session started
//! with. While a session changes its own password, its other lookups wait for
//! the change to end and compare with the generation it recorded: the change
//! commits a new generation a moment before the session records it. A session
//! whose person must choose a new password (after an admin's reset) may only do
//! that ([`SessionStore::change_password`]); every other lookup is refused with
//! [`Error::PasswordChangeRequired`].
//!
//! The store is also the desk's sign-in throttle: after
//! [`crate::FREE_FAILED_LOGINS`] failed sign-ins in a row at this desk, whatever
//! the usernames, the next attempt waits 2 s, then 4, 8 … up to
//! [`MAX_DESK_DELAY_SECS`]; a success resets it. (Each username is throttled in the
//! database as well, across desks — see [`Frontdesk::authenticate`].) Times come
//! from the [`Frontdesk`] clock, so tests expire sessions with a manual clock.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use rand::TryRngCore;
use serde::Serialize;
use ts_rs::TS;

use crate::domain::auth::Actor;
use crate::domain::staff::StaffMember;
use crate::error::{Error, Result};
use crate::Frontdesk;

/// The longest any session lives, however active (seconds).
pub const MAX_SESSION_SECS: i64 = 12 * 3600;
pub use crate::domain::clinic::MAX_IDLE_MINUTES;
/// The longest wait a desk's failed sign-ins impose on its next attempt (seconds).
pub const MAX_DESK_DELAY_SECS: i64 = 60;

/// A signed-in desk session as the UI sees it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct Session {
    /// Opaque bearer token: 32 random bytes in hex.
    pub token: String,
    /// Who is signed in.
    pub actor: Actor,
    /// When the session started (Unix seconds).
    #[ts(type = "number")]
    pub started_at: i64,
    /// When it ends at the latest (Unix seconds).
    #[ts(type = "number")]
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
struct Entry {
    staff_id: i64,
    generation: i64,
    started_at: i64,
    last_seen: i64,
    /// A password change of this session is under way: it may have committed a
    /// new generation it has not recorded here yet.
    changing_password: bool,
}

/// Failed sign-ins at this desk, in a row.
#[derive(Debug, Default, Clone, Copy)]
struct DeskFailures {
    count: i64,
    last_at: i64,
}

/// The sessions of this process (the desktop app has one store) and its sign-in
/// throttle.
#[derive(Debug, Default)]
pub struct SessionStore {
    sessions: Mutex<HashMap<String, Entry>>,
    /// Signalled when a session's password change ends.
    password_changed: Condvar,
    desk_failures: Mutex<DeskFailures>,
}

/// The longest a lookup waits for its session's password change to end (the
/// change's hashing and one write; far longer means something is wrong).
const PASSWORD_CHANGE_WAIT: Duration = Duration::from_secs(30);

fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes).map_err(|e| {
        Error::Internal(format!(
            "the operating system's random generator failed: {e}"
        ))
    })?;
    Ok(hex::encode(bytes))
}

/// The idle limit in seconds: the clinic's setting, never above [`MAX_IDLE_MINUTES`].
fn idle_secs(minutes: u32) -> i64 {
    i64::from(minutes.clamp(1, MAX_IDLE_MINUTES)) * 60
}

impl SessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn desk(&self) -> std::sync::MutexGuard<'_, DeskFailures> {
        self.desk_failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Signs in (see [`Frontdesk::authenticate`]) and starts a session. Too soon
    /// after failed sign-ins at this desk the attempt is refused with
    /// [`Error::SignInThrottled`] before anything is checked. A session of someone
    /// who must change their password is started too; its actor says so.
    pub fn login(&self, desk: &Frontdesk, username: &str, password: &str) -> Result<Session> {
        let now = desk.now();
        // reserve a failure at this desk before checking, as the core does per
        // username, so that parallel attempts cannot outrun the delay
        let before = {
            let mut f = self.desk();
            let ready = f
                .last_at
                .saturating_add(crate::sign_in_delay_secs(f.count, MAX_DESK_DELAY_SECS));
            if f.count > 0 && now < ready {
                return Err(Error::SignInThrottled {
                    retry_after_secs: ready - now,
                    at_desk: true,
                });
            }
            let before = *f;
            *f = DeskFailures {
                count: f.count + 1,
                last_at: now,
            };
            before
        };
        let verified = match desk.sign_in(username, password) {
            Ok(v) => v,
            Err(e) => {
                if matches!(e, Error::SignInThrottled { .. }) || e.code() == crate::ErrorCode::Busy
                {
                    // nothing was checked: not a guess
                    *self.desk() = before;
                }
                return Err(e);
            }
        };
        *self.desk() = DeskFailures::default();
        let token = new_token()?;
        let staff_id = verified
            .actor
            .staff_id
            .ok_or_else(|| Error::Internal("a signed-in actor has a staff id".into()))?;
        let mut sessions = self.lock();
        // forget sessions that ended, so the map does not grow without bound
        sessions.retain(|_, e| now - e.started_at < MAX_SESSION_SECS);
        sessions.insert(
            token.clone(),
            Entry {
                staff_id,
                generation: verified.generation,
                started_at: now,
                last_seen: now,
                changing_password: false,
            },
        );
        Ok(Session {
            token,
            actor: verified.actor,
            started_at: now,
            expires_at: now + MAX_SESSION_SECS,
        })
    }

    /// The actor of a live session, refreshed from the staff table; marks the
    /// session as active. `Unauthenticated` when the token is unknown, idle too
    /// long, older than 12 hours, or its account was deactivated, reset or changed
    /// role (the session is then ended); [`Error::PasswordChangeRequired`] while
    /// the person must choose a new password.
    pub fn actor(&self, desk: &Frontdesk, token: &str) -> Result<Actor> {
        let actor = self.live_actor(desk, token)?;
        if actor.must_change_password {
            return Err(Error::PasswordChangeRequired);
        }
        Ok(actor)
    }

    /// The actor of a live session as [`SessionStore::actor`], but also while the
    /// person must change their password (`must_change_password` then says so):
    /// for the app's start-up and the change-password screen.
    pub fn live_actor(&self, desk: &Frontdesk, token: &str) -> Result<Actor> {
        let idle = idle_secs(desk.settings()?.idle_minutes);
        let now = desk.now();
        let (staff_id, generation) = {
            let mut sessions = self.lock();
            let Some(e) = sessions.get_mut(token) else {
                return Err(Error::Unauthenticated);
            };
            if now - e.last_seen >= idle || now - e.started_at >= MAX_SESSION_SECS {
                sessions.remove(token);
                return Err(Error::Unauthenticated);
            }
            e.last_seen = now;
            (e.staff_id, e.generation)
        };
        match self.current_actor(desk, token, staff_id, generation)? {
            Some(actor) => Ok(actor),
            None => {
                self.lock().remove(token);
                Err(Error::Unauthenticated)
            }
        }
    }

    /// The session's actor while `generation` (what the session recorded) is
    /// still its staff row's; `None` once it is not. A newer generation seen
    /// while this session's own password change is under way may be the change's
    /// own, committed but not recorded yet: the lookup waits for the change to
    /// end and compares again with what it recorded.
    fn current_actor(
        &self,
        desk: &Frontdesk,
        token: &str,
        staff_id: i64,
        mut generation: i64,
    ) -> Result<Option<Actor>> {
        loop {
            match desk.session_state(staff_id)? {
                Some((actor, current)) if current == generation => return Ok(Some(actor)),
                _ => {}
            }
            let sessions = self.lock();
            let (sessions, _) = self
                .password_changed
                .wait_timeout_while(sessions, PASSWORD_CHANGE_WAIT, |s| {
                    s.get(token).is_some_and(|e| e.changing_password)
                })
                .unwrap_or_else(|p| p.into_inner());
            match sessions.get(token) {
                // still changing after the wait: not known to have ended
                Some(e) if e.changing_password => return Err(Error::Busy),
                Some(e) if e.generation != generation => generation = e.generation,
                _ => return Ok(None),
            }
        }
    }

    /// The actor of a live session for work the desk does in the background (the
    /// reminder worker): like [`SessionStore::actor`], but it does **not** mark the
    /// session as active, so background work never keeps an idle desk signed in.
    /// `Unauthenticated` once the session is idle too long, too old, or its
    /// account changed; [`Error::PasswordChangeRequired`] while the person must
    /// choose a new password.
    pub fn background_actor(&self, desk: &Frontdesk, token: &str) -> Result<Actor> {
        let idle = idle_secs(desk.settings()?.idle_minutes);
        let now = desk.now();
        let (staff_id, generation) = {
            let sessions = self.lock();
            let Some(e) = sessions.get(token) else {
                return Err(Error::Unauthenticated);
            };
            if now - e.last_seen >= idle || now - e.started_at >= MAX_SESSION_SECS {
                return Err(Error::Unauthenticated);
            }
            (e.staff_id, e.generation)
        };
        match self.current_actor(desk, token, staff_id, generation)? {
            Some(actor) if actor.must_change_password => Err(Error::PasswordChangeRequired),
            Some(actor) => Ok(actor),
            None => Err(Error::Unauthenticated),
        }
    }

    /// Marks a session as active (the UI calls it on keyboard and mouse activity);
    /// `Unauthenticated` when it already ended.
    pub fn touch(&self, desk: &Frontdesk, token: &str) -> Result<()> {
        self.live_actor(desk, token).map(|_| ())
    }

    /// The signed-in person changes their own password (see
    /// [`Frontdesk::change_own_password`]); this session carries on, their other
    /// sessions end. Also the way out of "must change password". Returns the
    /// actor, now free to work, as the account stood when the change committed.
    /// A role change, reset or deactivation that commits during the change ends
    /// the session instead: [`Error::Unauthenticated`], the password unchanged.
    pub fn change_password(
        &self,
        desk: &Frontdesk,
        token: &str,
        current: &str,
        new: &str,
    ) -> Result<(Actor, StaffMember)> {
        let actor = self.live_actor(desk, token)?;
        let mut changing = ChangingPassword::start(self, token)?;
        // the change is made only while the account is still on the session's
        // generation: a role change, a reset or a deactivation committed since
        // the lookup above ends the session instead
        let changed =
            desk.change_own_password_in_session(&actor, Some(changing.held), current, new);
        let (member, verified) = match changed {
            Ok(changed) => changed,
            Err(e) => {
                drop(changing);
                if matches!(e, Error::Unauthenticated) {
                    self.logout(token);
                }
                return Err(e);
            }
        };
        changing.generation = Some(verified.generation);
        // the answer says the change was made, with the account as it stood
        // then: one that changes after it ends the session at its next lookup
        Ok((verified.actor, member))
    }

    /// Ends a session (unknown tokens are ignored).
    pub fn logout(&self, token: &str) {
        self.lock().remove(token);
    }

    /// How many sessions are live in this process (for the admin screen).
    pub fn live_count(&self, desk: &Frontdesk) -> usize {
        let now = desk.now();
        let idle = desk
            .settings()
            .map(|s| idle_secs(s.idle_minutes))
            .unwrap_or(15 * 60);
        self.lock()
            .values()
            .filter(|e| now - e.last_seen < idle && now - e.started_at < MAX_SESSION_SECS)
            .count()
    }
}

/// A session's password change under way: its lookups wait for it rather than
/// end the session on the generation it commits. Dropping it ends the change,
/// recording the new generation if it was set, and wakes the waiting lookups.
struct ChangingPassword<'a> {
    store: &'a SessionStore,
    token: &'a str,
    /// The generation the session held when the change started.
    held: i64,
    generation: Option<i64>,
}

impl<'a> ChangingPassword<'a> {
    fn start(store: &'a SessionStore, token: &'a str) -> Result<Self> {
        let mut sessions = store.lock();
        let e = sessions.get_mut(token).ok_or(Error::Unauthenticated)?;
        if e.changing_password {
            return Err(Error::invalid(
                "your password is being changed already; wait for that change to finish",
            ));
        }
        e.changing_password = true;
        Ok(Self {
            store,
            token,
            held: e.generation,
            generation: None,
        })
    }
}

impl Drop for ChangingPassword<'_> {
    fn drop(&mut self) {
        if let Some(e) = self.store.lock().get_mut(self.token) {
            e.changing_password = false;
            if let Some(generation) = self.generation {
                e.generation = generation;
            }
        }
        self.store.password_changed.notify_all();
    }
}
