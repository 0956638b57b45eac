//! Reading the audit log (admins only). Writing happens inside every change's own
//! transaction through [`crate::ops::audit`].

use crate::auth::{Action, Actor};
use crate::error::{Error, Result};
use crate::store::audit::{self, AuditEvent, AuditFilter};
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
        self.read(|c| Ok(audit::list(c, filter)?))
    }
}
