//! How far a long job (a backup, a restore, generating slots, encrypting) has got.
//!
//! The core reports through a plain callback (`&mut dyn FnMut(Progress)`) and knows
//! nothing of windows or events: the desktop shell throttles the reports and sends
//! them to the page, the command line ignores them. Within one phase `done` only
//! grows and never passes `total`, and a phase with a total ends with `done ==
//! total`. A phase whose length nobody knows (SQLite's integrity check, the
//! SQLCipher rewrite) has no total: it is shown as what is happening, never as a
//! made-up percentage.

use serde::Serialize;
use ts_rs::TS;

/// What a long job is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, TS)]
#[ts(export)]
pub enum Phase {
    /// Copying the database's pages into a backup (`done`/`total`: pages).
    CopyingPages,
    /// Checking a backup: its integrity check (no total).
    CheckingBackup,
    /// A new backup's SHA-256, recorded so a restore knows Frontdesk wrote it
    /// (`done`/`total`: bytes).
    Fingerprinting,
    /// Restore: copying the backup next to the database (`done`/`total`: bytes).
    CopyingBackup,
    /// Restore: checking the copy that will be swapped in (no total).
    CheckingCopy,
    /// Restore or encryption: a safety copy of the current database (pages).
    SavingSafetyCopy,
    /// Restore or encryption: checking the safety copy (no total).
    CheckingSafetyCopy,
    /// Restore or encryption: swapping the new file in and recording it (no total).
    SwappingIn,
    /// Encryption: rewriting the database under its key (no total).
    Encrypting,
    /// Generating slots: reading the templates and planning (no total).
    PlanningSlots,
    /// Generating slots: writing them in short transactions (`done`/`total`: parts).
    WritingSlots,
}

/// One report of a long job's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct Progress {
    /// What is happening.
    pub phase: Phase,
    /// How much of the phase is done (in the phase's unit; 0 without a total).
    #[ts(type = "number")]
    pub done: u64,
    /// How much the phase has in all; `None` when that is not known.
    #[ts(type = "number | null")]
    pub total: Option<u64>,
}

impl Progress {
    /// `done` of `total` in `phase` (`done` is capped at `total`).
    pub fn of(phase: Phase, done: u64, total: u64) -> Self {
        Self {
            phase,
            done: done.min(total),
            total: Some(total),
        }
    }

    /// A phase without a known length.
    pub fn phase(phase: Phase) -> Self {
        Self {
            phase,
            done: 0,
            total: None,
        }
    }
}

/// A callback that ignores every report (the command line, tests).
pub fn ignore(_: Progress) {}
