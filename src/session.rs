//! Desk sessions, kept on the Rust side: the UI holds only an opaque token, and the
//! acting [`Actor`] of every operation is looked up here, never taken from a
//! request payload.
//!
//! A session ends when it is idle longer than the clinic's `session.idle_minutes`
//! (default 15), when it is 12 hours old, at logout, or as soon as its account is
//! deactivated (each lookup re-reads the staff row — one indexed read — so a role
//! change also takes effect at the next operation). Times come from the
//! [`Frontdesk`] clock, so tests expire sessions with a manual clock.

use std::collections::HashMap;
use std::sync::Mutex;

use rand::TryRngCore;
use serde::Serialize;
use ts_rs::TS;

use crate::auth::Actor;
use crate::error::{Error, Result};
use crate::Frontdesk;

/// The longest any session lives, however active (seconds).
pub const MAX_SESSION_SECS: i64 = 12 * 3600;

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
    started_at: i64,
    last_seen: i64,
}

/// The sessions of this process (the desktop app has one store).
#[derive(Debug, Default)]
pub struct SessionStore {
    sessions: Mutex<HashMap<String, Entry>>,
}

fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes).map_err(|e| {
        Error::Internal(format!(
            "the operating system's random generator failed: {e}"
        ))
    })?;
    Ok(hex::encode(bytes))
}

impl SessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Signs in (see [`Frontdesk::authenticate`]) and starts a session.
    pub fn login(&self, desk: &Frontdesk, username: &str, password: &str) -> Result<Session> {
        let actor = desk.authenticate(username, password)?;
        let token = new_token()?;
        let now = desk.now();
        let staff_id = actor
            .staff_id
            .ok_or_else(|| Error::Internal("a signed-in actor has a staff id".into()))?;
        let mut sessions = self.lock();
        // forget sessions that ended, so the map does not grow without bound
        sessions.retain(|_, e| now - e.started_at < MAX_SESSION_SECS);
        sessions.insert(
            token.clone(),
            Entry {
                staff_id,
                started_at: now,
                last_seen: now,
            },
        );
        Ok(Session {
            token,
            actor,
            started_at: now,
            expires_at: now + MAX_SESSION_SECS,
        })
    }

    /// The actor of a live session, refreshed from the staff table; marks the
    /// session as active. `Unauthenticated` when the token is unknown, idle too
    /// long, older than 12 hours, or its account was deactivated (the session is
    /// then ended).
    pub fn actor(&self, desk: &Frontdesk, token: &str) -> Result<Actor> {
        let idle_secs = i64::from(desk.settings()?.idle_minutes) * 60;
        let now = desk.now();
        let staff_id = {
            let mut sessions = self.lock();
            let Some(e) = sessions.get_mut(token) else {
                return Err(Error::Unauthenticated);
            };
            if now - e.last_seen >= idle_secs || now - e.started_at >= MAX_SESSION_SECS {
                sessions.remove(token);
                return Err(Error::Unauthenticated);
            }
            e.last_seen = now;
            e.staff_id
        };
        match desk.staff_actor(staff_id) {
            Err(Error::Unauthenticated) => {
                self.lock().remove(token);
                Err(Error::Unauthenticated)
            }
            other => other,
        }
    }

    /// Marks a session as active (the UI calls it on keyboard and mouse activity);
    /// `Unauthenticated` when it already ended.
    pub fn touch(&self, desk: &Frontdesk, token: &str) -> Result<()> {
        self.actor(desk, token).map(|_| ())
    }

    /// Ends a session (unknown tokens are ignored).
    pub fn logout(&self, token: &str) {
        self.lock().remove(token);
    }

    /// How many sessions are live in this process (for the admin screen).
    pub fn live_count(&self, desk: &Frontdesk) -> usize {
        let now = desk.now();
        let idle_secs = desk
            .settings()
            .map(|s| i64::from(s.idle_minutes) * 60)
            .unwrap_or(15 * 60);
        self.lock()
            .values()
            .filter(|e| now - e.last_seen < idle_secs && now - e.started_at < MAX_SESSION_SECS)
            .count()
    }
}
