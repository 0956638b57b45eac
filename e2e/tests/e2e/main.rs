//! The real app in a real window, driven over WebDriver. One binary, one module per
//! screen or feature; the harness is the `frontdesk_e2e` library (src/).
//! Run with `FRONTDESK_E2E=1` under `xvfb-run` (scripts/test.sh does); skipped otherwise.

/// The content security policy the window runs under.
mod security;
/// The frame and the status line every screen sits in.
mod shell;
/// Two app instances on one database file.
mod two_desks;
