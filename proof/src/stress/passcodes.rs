//! Passcode requests and verifications in the stress mix: a handful of phones,
//! so most requests meet the rate limit and verifications race each other.

use rand::Rng;

use super::journal::Entry;
use frontdesk::{Actor, Frontdesk};

/// One passcode operation on a random phone, or `None` when there is nothing to do.
pub(crate) fn one(
    desk: &Frontdesk,
    actor: &Actor,
    phones: &[String],
    rng: &mut impl Rng,
) -> Option<Entry> {
    let phone = phones.get(rng.random_range(0..phones.len().max(1)))?;
    if rng.random_bool(0.5) {
        let mut entry = super::worker::timed(|| match desk.request_otp(actor, phone) {
            Ok(r) => Entry::passcode("otp.request", &r.phone),
            Err(e) => Entry::failed("otp.request", &e),
        });
        entry.phone = Some(phone.clone());
        return Some(entry);
    }
    // the code as the patient's phone got it from the recording sender
    let code = frontdesk::senders::recording::last_code(desk.senders_file(), phone)?;
    let mut entry = super::worker::timed(|| match desk.verify_otp(actor, phone, &code) {
        Ok(v) => Entry::passcode("otp.verify", &v.phone),
        Err(e) => Entry::failed("otp.verify", &e),
    });
    entry.phone = Some(phone.clone());
    Some(entry)
}
