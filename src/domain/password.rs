//! Password and passcode hashing: argon2id at OWASP parameters (m = 19456 KiB,
//! t = 2, p = 1, the `argon2` crate's defaults), run on a small bounded pool.
//!
//! One hash costs tens of milliseconds of CPU and 19 MiB of memory. Hashing never
//! happens inside a write transaction (it would stall every booking behind it), and
//! at most about one hash per core runs at a time ([`HashPool`]): a burst of
//! sign-ins or passcode checks queues here instead of starving the desk's other
//! work of CPU and memory.
//!
//! New passwords are checked after NIST SP 800-63B ([`check_new_password`]): 10 to
//! 1024 characters, nothing else demanded of their composition, but refused when
//! common or derived from their context — a blocklist, a rule against passwords
//! made of nothing but the person's or the clinic's names and common words with
//! digits, and the zxcvbn strength estimate with the username, display name and
//! clinic name as context. Like hashing, the estimate runs before any write
//! transaction.

use std::sync::{Condvar, Mutex, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::TryRngCore;

use crate::error::{Error, Result};

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest accepted password, in bytes (longer input is refused before hashing).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A counting semaphore bounding how many hashes run at once.
pub struct HashPool {
    free: Mutex<usize>,
    freed: Condvar,
}

impl HashPool {
    /// A pool running at most `permits` hashes at a time.
    pub fn new(permits: usize) -> Self {
        HashPool {
            free: Mutex::new(permits.max(1)),
            freed: Condvar::new(),
        }
    }

    /// The process-wide pool: one permit per CPU core.
    pub fn global() -> &'static HashPool {
        static POOL: OnceLock<HashPool> = OnceLock::new();
        POOL.get_or_init(|| {
            HashPool::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
        })
    }

    /// Runs `f` once a permit is free (on the calling thread).
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        {
            let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
            while *free == 0 {
                free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
            }
            *free -= 1;
        }
        struct Permit<'a>(&'a HashPool);
        impl Drop for Permit<'_> {
            fn drop(&mut self) {
                *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                self.0.freed.notify_one();
            }
        }
        let _permit = Permit(self);
        f()
    }
}

fn hasher() -> Argon2<'static> {
    // Params::DEFAULT is OWASP's argon2id recommendation: m=19456 KiB, t=2, p=1
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT)
}

/// Fresh random salt from the operating system's generator.
fn salt() -> Result<SaltString> {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes).map_err(|e| {
        Error::Internal(format!(
            "the operating system's random generator failed: {e}"
        ))
    })?;
    SaltString::encode_b64(&bytes).map_err(|e| Error::Internal(format!("salt encoding: {e}")))
}

/// Refuses a password that is too short or too long, before any hashing.
pub fn check_password_rules(password: &str) -> Result<()> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::invalid(format!(
            "a password may be at most {MAX_PASSWORD_BYTES} bytes long"
        )));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// The lowest zxcvbn score a new password needs: 3 means "safely unguessable"
/// (about 10^8 guesses or more), what zxcvbn advises against online attacks and
/// slowed offline ones.
pub const MIN_STRENGTH_SCORE: u8 = 3;

const BLOCKLIST: &str = include_str!("password_blocklist.txt");

/// The blocklist: (whole passwords, common words), lower case.
fn blocklist() -> &'static (Vec<&'static str>, Vec<&'static str>) {
    static LISTS: OnceLock<(Vec<&'static str>, Vec<&'static str>)> = OnceLock::new();
    LISTS.get_or_init(|| {
        let lines = BLOCKLIST
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let (words, whole): (Vec<_>, Vec<_>) = lines.partition(|l| l.starts_with("word:"));
        let words = words
            .into_iter()
            .map(|w| w.trim_start_matches("word:"))
            .collect();
        (whole, words)
    })
}

/// The context of a password as words: each given text whole (lower case, without
/// separators) and each of its runs of letters, 3 characters or longer.
fn context_words(context: &[&str]) -> Vec<String> {
    let mut words = Vec::new();
    for text in context {
        let lower = text.trim().to_lowercase();
        let whole: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
        words.push(whole);
        words.extend(
            lower
                .split(|c: char| !c.is_alphabetic())
                .map(str::to_string),
        );
    }
    words.retain(|w| w.chars().count() >= 3);
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    words.dedup();
    words
}

/// Refuses a new password that is too short or too long, common, made of its
/// context, or easy to guess (see the module docs). `context` holds what an
/// attacker would try first: the username, the display name, the clinic's name.
/// The message says why, in words a receptionist can act on.
pub fn check_new_password(password: &str, context: &[&str]) -> Result<()> {
    check_password_rules(password)?;
    if password.trim().is_empty() {
        return Err(Error::invalid(
            "a password cannot be only spaces; try a few unrelated words",
        ));
    }
    let mut chars = password.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return Err(Error::invalid(
            "a password cannot be one character repeated; try a few unrelated words",
        ));
    }
    let lower = password.trim().to_lowercase();
    let (whole, common_words) = blocklist();
    if whole.contains(&lower.as_str()) {
        return Err(Error::invalid(
            "this is one of the most common passwords; choose one nobody would guess, such as a few unrelated words",
        ));
    }
    // the person's and the clinic's names, then common words, longest first
    let context = context_words(context);
    let mut rest = lower.clone();
    let mut built_from = None;
    for (word, what) in context
        .iter()
        .map(|w| (w.as_str(), "a name"))
        .chain(common_words.iter().map(|w| (*w, "a common word")))
    {
        if rest.contains(word) {
            rest = rest.replace(word, " ");
            built_from.get_or_insert(what);
        }
    }
    if let Some(what) = built_from {
        if !rest.chars().any(char::is_alphabetic) {
            let what = if what == "a name" {
                "your username, your name or the clinic's name"
            } else {
                "a common word"
            };
            return Err(Error::invalid(format!(
                "this password is {what} with digits or symbols, which is among the first things guessed; try a few unrelated words"
            )));
        }
    }
    let inputs: Vec<&str> = context.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(password, &inputs);
    if u8::from(estimate.score()) < MIN_STRENGTH_SCORE {
        let why = estimate
            .feedback()
            .and_then(|f| f.warning())
            .map(|w| format!(" ({})", w.to_string().trim_end_matches('.').to_lowercase()))
            .unwrap_or_default();
        return Err(Error::invalid(format!(
            "this password is too easy to guess{why}; make it longer, for example a few unrelated words"
        )));
    }
    Ok(())
}

/// Hashes a secret (password or passcode) into an argon2id PHC string, on the pool.
/// The caller validates the secret first.
pub fn hash_secret(secret: &[u8]) -> Result<String> {
    let salt = salt()?;
    HashPool::global().run(|| {
        hasher()
            .hash_password(secret, &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("hashing failed: {e}")))
    })
}

thread_local! {
    /// Verifications run on this thread: (how many, their summed cost).
    static VERIFIED: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// The argon2 verifications this thread has run so far and their summed cost
/// (memory in KiB × passes × lanes of each hash checked): the work a sign-in did,
/// counted instead of timed (the benchmark times it).
pub fn verification_work_on_this_thread() -> (u64, u64) {
    VERIFIED.with(|v| v.get())
}

/// Checks a secret against a stored PHC string, on the pool. A malformed stored
/// hash never matches.
pub fn verify_secret(secret: &[u8], phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let cost = Params::try_from(&parsed)
        .map(|p| u64::from(p.m_cost()) * u64::from(p.t_cost()) * u64::from(p.p_cost()))
        .unwrap_or(0);
    VERIFIED.with(|v| {
        let (n, total) = v.get();
        v.set((n + 1, total + cost));
    });
    HashPool::global().run(|| hasher().verify_password(secret, &parsed).is_ok())
}

/// Whether a stored hash is weaker than today's parameters (or not argon2id) and
/// should be replaced at the next successful sign-in.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    if parsed.algorithm.as_str() != "argon2id" || parsed.version != Some(0x13) {
        return true;
    }
    match Params::try_from(&parsed) {
        Ok(p) => {
            p.m_cost() < Params::DEFAULT_M_COST
                || p.t_cost() < Params::DEFAULT_T_COST
                || p.p_cost() < Params::DEFAULT_P_COST
        }
        Err(_) => true,
    }
}

/// A hash of a random password nobody knows: verifying against it costs the same
/// as verifying a real account, so an unknown username takes as long as a wrong
/// password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut bytes = [0u8; 24];
        let _ = rand::rngs::OsRng.try_fill_bytes(&mut bytes);
        hash_secret(hex::encode(bytes).as_bytes()).unwrap_or_default()
    })
}

/// A random password for generated accounts (the demo): 20 characters from an
/// alphabet without look-alikes.
pub fn random_password() -> Result<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng.unwrap_err();
    use rand::Rng;
    Ok((0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_at_owasp_strength_and_verify() {
        let h = hash_secret(b"correct horse battery").unwrap();
        assert!(
            h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "unexpected PHC string {h}"
        );
        assert!(
            verify_secret(b"correct horse battery", &h),
            "the right password must verify"
        );
        assert!(
            !verify_secret(b"correct horse batterY", &h),
            "a wrong password must not verify"
        );
        assert!(!needs_rehash(&h), "a fresh hash is strong enough");
        assert!(
            !verify_secret(b"x", "not a hash"),
            "a malformed hash never matches"
        );
    }

    #[test]
    fn weaker_or_foreign_hashes_are_marked_for_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 1, 1, None).unwrap(),
        )
        .hash_password(b"abcdefghijk", &salt().unwrap())
        .unwrap()
        .to_string();
        assert!(needs_rehash(&weak), "m=4096,t=1 is weaker than the policy");
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::DEFAULT)
            .hash_password(b"abcdefghijk", &salt().unwrap())
            .unwrap()
            .to_string();
        assert!(
            needs_rehash(&argon2i),
            "argon2i must be upgraded to argon2id"
        );
    }

    #[test]
    fn password_length_rules_are_checked_before_hashing() {
        assert!(
            check_password_rules("short").is_err(),
            "9 characters or fewer are refused"
        );
        assert!(
            check_password_rules("ten chars!").is_ok(),
            "10 characters are enough"
        );
        assert!(
            check_password_rules(&"x".repeat(1025)).is_err(),
            "over 1024 bytes is refused"
        );
        assert!(
            check_password_rules(&"x".repeat(1024)).is_ok(),
            "1024 bytes are allowed"
        );
    }

    #[test]
    fn common_repeated_blank_and_name_derived_passwords_are_refused() {
        let rita2 = ["rita2", "Rita Desk", "Praxis Nord"];
        for (pw, why) in [
            ("aaaaaaaaaa", "one character repeated"),
            ("password12", "a common word with digits"),
            ("          ", "only spaces"),
            ("rita123456", "the username's letters with digits"),
            ("1234567890", "on the blocklist"),
            ("Praxis Nord 2024!", "the clinic's name with digits"),
            ("qwertyuiop", "a keyboard walk"),
        ] {
            let refused = check_new_password(pw, &rita2);
            assert!(
                matches!(refused, Err(Error::Invalid(_))),
                "{pw:?} ({why}) must be refused, got {refused:?}"
            );
        }
        for pw in [
            "correct horse battery",
            "a brand new password",
            "sunflower marble kettle",
        ] {
            assert!(
                check_new_password(pw, &rita2).is_ok(),
                "{pw:?} is a fine passphrase"
            );
        }
    }

    #[test]
    fn the_length_rules_still_come_first() {
        let refused = check_new_password("Kq8#mZ2!v", &[]).unwrap_err();
        assert!(
            refused.to_string().contains("at least 10 characters"),
            "a strong 9-character password is still too short: {refused}"
        );
        let refused = check_new_password(&"k".repeat(1025), &[]).unwrap_err();
        assert!(
            refused.to_string().contains("at most 1024 bytes"),
            "over 1024 bytes is refused before anything else: {refused}"
        );
    }

    #[test]
    fn the_pool_never_runs_more_than_its_permits_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let pool = HashPool::new(2);
        let (running, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    pool.run(|| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                });
            }
        });
        assert_eq!(
            peak.load(Ordering::SeqCst),
            2,
            "at most two at once, and the pool was used fully"
        );
    }
}
