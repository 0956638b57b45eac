//! The app's managed state: the clinic database (opened once in `setup`), the
//! sessions of this process, and which session this window is signed in as.
//!
//! One window is one signed-in person: the session token stays here and never
//! crosses to JavaScript, so the page cannot choose who it acts as.

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use frontdesk::service::session::SessionStore;
use frontdesk::{DemoAccount, Frontdesk};

use crate::error::CommandError;

/// Everything the commands share.
pub struct AppState {
    /// The open database, or why it could not be opened (shown in the window).
    /// Replaced only by a restore, which closes and reopens it.
    desk: RwLock<Result<Arc<Frontdesk>, CommandError>>,
    /// Sessions of this process.
    sessions: Arc<SessionStore>,
    /// The token of the person signed in at this window.
    token: Mutex<Option<String>>,
    /// Demo accounts created by `--demo` this run (in memory only; fake data).
    demo_accounts: Mutex<Vec<DemoAccount>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AppState {
    /// State around the result of opening the database.
    pub fn new(desk: Result<Frontdesk, frontdesk::Error>) -> Self {
        Self {
            desk: RwLock::new(Self::opened(desk)),
            sessions: Arc::new(SessionStore::new()),
            token: Mutex::new(None),
            demo_accounts: Mutex::new(Vec::new()),
        }
    }

    fn opened(desk: Result<Frontdesk, frontdesk::Error>) -> Result<Arc<Frontdesk>, CommandError> {
        desk.map(Arc::new).map_err(|e| {
            tracing::error!("cannot open the database: {e}");
            // the open error is about the file, not patient data: show it whole
            CommandError::new(e.code(), e.to_string())
        })
    }

    /// The open database, or the reason it is not open.
    pub fn desk(&self) -> Result<Arc<Frontdesk>, CommandError> {
        self.desk.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Takes the database handle out for a restore, which needs it closed: new
    /// commands answer `Busy` meanwhile, and this waits (up to `patience`) for the
    /// running ones to finish with it. Put a reopened database back with
    /// [`AppState::reopened`].
    pub fn close_for_restore(&self, patience: Duration) -> Result<Frontdesk, CommandError> {
        let restoring = || {
            CommandError::new(
                frontdesk::ErrorCode::Busy,
                "the database is being restored; try again in a moment",
            )
        };
        let mut slot = self.desk.write().unwrap_or_else(|p| p.into_inner());
        let mut shared = slot.clone()?;
        *slot = Err(restoring());
        drop(slot);
        let deadline = Instant::now() + patience;
        loop {
            match Arc::try_unwrap(shared) {
                Ok(desk) => return Ok(desk),
                Err(still_shared) if Instant::now() < deadline => {
                    shared = still_shared;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(still_shared) => {
                    *self.desk.write().unwrap_or_else(|p| p.into_inner()) = Ok(still_shared);
                    return Err(restoring());
                }
            }
        }
    }

    /// Puts the database back after a restore (or why it could not be reopened).
    pub fn reopened(&self, desk: Result<Frontdesk, frontdesk::Error>) {
        *self.desk.write().unwrap_or_else(|p| p.into_inner()) = Self::opened(desk);
    }

    /// The sessions of this process.
    pub fn sessions(&self) -> Arc<SessionStore> {
        self.sessions.clone()
    }

    /// The signed-in session's token, if any.
    pub fn token(&self) -> Option<String> {
        lock(&self.token).clone()
    }

    /// Records who is signed in at this window (replacing anyone before).
    pub fn sign_in(&self, token: String) {
        if let Some(old) = lock(&self.token).replace(token) {
            self.sessions.logout(&old);
        }
    }

    /// Ends this window's session.
    pub fn sign_out(&self) {
        if let Some(old) = lock(&self.token).take() {
            self.sessions.logout(&old);
        }
    }

    /// The demo accounts made this run.
    pub fn demo_accounts(&self) -> Vec<DemoAccount> {
        lock(&self.demo_accounts).clone()
    }

    /// Remembers the demo accounts (only for the login screen of this run).
    pub fn set_demo_accounts(&self, accounts: Vec<DemoAccount>) {
        *lock(&self.demo_accounts) = accounts;
    }
}
