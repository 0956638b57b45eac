//! The audit log as the desk reads it: a row, and what to list.

use serde::Serialize;
use ts_rs::TS;

/// One audit row.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct AuditEvent {
    /// Row id (the chain order).
    #[ts(type = "number")]
    pub id: i64,
    /// Unix seconds UTC.
    #[ts(type = "number")]
    pub at: i64,
    /// Who did it.
    pub actor: String,
    /// What was done, e.g. `appointment.book`.
    pub action: String,
    /// The kind of record, e.g. `appointment`.
    pub entity: String,
    /// The record's id, if any.
    #[ts(type = "number | null")]
    pub entity_id: Option<i64>,
    /// Non-sensitive detail (ids, statuses, field names).
    pub detail: String,
}

/// Filters for listing the audit log.
#[derive(Debug, Clone, Default, serde::Deserialize, TS)]
#[ts(export)]
pub struct AuditFilter {
    /// Substring of the actor label.
    pub actor: Option<String>,
    /// Entity kind, e.g. `appointment`.
    pub entity: Option<String>,
    /// Entity id.
    #[ts(type = "number | null")]
    pub entity_id: Option<i64>,
    /// From (Unix seconds, inclusive).
    #[ts(type = "number | null")]
    pub from: Option<i64>,
    /// To (Unix seconds, exclusive).
    #[ts(type = "number | null")]
    pub to: Option<i64>,
    /// Most rows to return (newest first); default 200.
    pub limit: Option<u32>,
}
