//! The app's managed state: the clinic database (opened once in `setup`), the
//! sessions of this process, and which session this window is signed in as.
//!
//! One window is one signed-in person: the session token stays here and never
//! crosses to JavaScript, so the page cannot choose who it acts as.

use std::sync::{Arc, Mutex, MutexGuard};

use frontdesk::session::SessionStore;
use frontdesk::{DemoAccount, Frontdesk};

use crate::error::CommandError;

/// Everything the commands share.
pub struct AppState {
    /// The open database, or why it could not be opened (shown in the window).
    desk: Result<Arc<Frontdesk>, CommandError>,
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
            desk: desk.map(Arc::new).map_err(|e| {
                tracing::error!("cannot open the database: {e}");
                // the open error is about the file, not patient data: show it whole
                CommandError::new(e.code(), e.to_string())
            }),
            sessions: Arc::new(SessionStore::new()),
            token: Mutex::new(None),
            demo_accounts: Mutex::new(Vec::new()),
        }
    }

    /// The open database, or the reason it is not open.
    pub fn desk(&self) -> Result<Arc<Frontdesk>, CommandError> {
        self.desk.clone()
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
