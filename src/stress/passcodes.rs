//! Passcode requests and verifications in the stress mix (once the passcode
//! operations exist in the core).

use rand::Rng;

use super::journal::Entry;
use crate::{Actor, Frontdesk};

/// One passcode operation on a random phone, or `None` when there is nothing to do.
pub(crate) fn one(
    _desk: &Frontdesk,
    _actor: &Actor,
    _phones: &[String],
    _rng: &mut impl Rng,
) -> Option<Entry> {
    None
}
