//! Reading the audit log (admins only). Writing happens inside every change's own
//! transaction through [`crate::service::audit`]; reads of patient data (opening a
//! record, exports, printed day sheets) are audited after the read with
//! [`Frontdesk::audit_read`].

use crate::domain::audit::{AuditEvent, AuditFilter};
use crate::domain::auth::{Action, Actor};
use crate::error::{Error, Result};
use crate::storage::audit;
use crate::Frontdesk;

impl Frontdesk {
    /// Audit events matching `filter`, newest first (at most 10,000).
    pub fn list_audit(&self, actor: &Actor, filter: &AuditFilter) -> Result<Vec<AuditEvent>> {
        actor.require(Action::ViewAudit)?;
        if let (Some(from), Some(to)) = (filter.from, filter.to) {
            if from >= to {
                return Err(Error::invalid("the audit period must end after it starts"));
            }
        }
        self.in_read(|c| Ok(audit::list(c, filter)?))
    }

    /// Records that `actor` read patient data (an opened record, an export, a
    /// printed day sheet): who, what, which range and how many rows.
    pub(crate) fn audit_read(
        &self,
        actor: &Actor,
        action: &str,
        entity: &str,
        entity_id: Option<i64>,
        detail: &str,
    ) -> Result<()> {
        let now = self.now();
        self.in_write("audit.read", |tx| {
            crate::service::audit(tx, now, actor, action, entity, entity_id, detail)
        })
    }
}
