//! Passwords: Argon2id with OWASP's parameters (Password Storage Cheat Sheet: m = 19 MiB,
//! t = 2, p = 1), a random 128-bit salt per hash, stored as a PHC string (`$argon2id$v=19$...`)
//! on the user's email claim, where the login finds it in the one read it makes.
//!
//! A hash keeps the parameters it was made with, so raising them later still verifies old
//! hashes. An email with no account (or an account with no password) is checked against
//! [`UNUSABLE_HASH`], made with the same parameters, so every refused login costs the same.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::tokens::random_bytes;

/// OWASP's minimum for Argon2id: 19 MiB of memory, 2 passes, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// Shortest password `usersctl` accepts (NIST SP 800-63B's minimum for a user-chosen one).
pub const MIN_LEN: usize = 8;
/// Longest password accepted anywhere: longer input is refused before it is hashed.
pub const MAX_LEN: usize = 1024;

/// The hash of a random password nobody knows, with the parameters above: what a login for
/// an unknown email is verified against (`passwords::tests` checks its parameters).
pub const UNUSABLE_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdC1mb3ItdGhlLWR1bW15$FvRGpuVfuq6NZ0ON9Q4tPcV7ZBwV9Wq8KnXzHKyO6e4";

fn argon2() -> Argon2<'static> {
    // The constants are valid parameters; `Params::DEFAULT` (the same values) otherwise.
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).unwrap_or(Params::DEFAULT);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a password cannot be set.
#[derive(Debug, PartialEq, Eq)]
pub enum PasswordError {
    TooShort,
    TooLong,
    Unhashable(String),
}

impl std::fmt::Display for PasswordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooShort => write!(f, "the password must be at least {MIN_LEN} characters"),
            Self::TooLong => write!(f, "the password must be at most {MAX_LEN} bytes"),
            Self::Unhashable(reason) => write!(f, "the password could not be hashed: {reason}"),
        }
    }
}

impl std::error::Error for PasswordError {}

/// A new PHC hash of `password`, with a fresh random salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_LEN {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_LEN {
        return Err(PasswordError::TooLong);
    }
    let salt: [u8; 16] = random_bytes().map_err(|error| PasswordError::Unhashable(error.to_string()))?;
    argon2()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| PasswordError::Unhashable(error.to_string()))
}

/// Whether `password` is the one `stored` was made from; `stored = None` (no account, or
/// no password set) costs the same and is never a match. Over-long input is never a match.
pub fn verify(stored: Option<&str>, password: &str) -> bool {
    let usable = stored.is_some();
    let phc = stored.unwrap_or(UNUSABLE_HASH);
    let password = if password.len() > MAX_LEN { "" } else { password };
    // Verified with the parameters the hash names; the outputs are compared in constant
    // time by the password-hash crate (`Output: ConstantTimeEq`).
    let matches = PasswordVerifier::<str>::verify_password(&argon2(), password.as_bytes(), phc).is_ok();
    usable && matches
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::phc::PasswordHash;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert!(verify(Some(&stored), "correct horse battery"));
        assert!(!verify(Some(&stored), "correct horse batterY"));
        assert!(!verify(None, "correct horse battery"));
        assert_ne!(stored, hash("correct horse battery").unwrap(), "a salt per hash");
    }

    #[test]
    fn the_unusable_hash_costs_what_a_real_one_does() {
        let real = PasswordHash::new(&hash("some password").unwrap())
            .unwrap()
            .params
            .to_string();
        let dummy = PasswordHash::new(UNUSABLE_HASH).unwrap().params.to_string();
        assert_eq!(real, dummy);
        assert!(!verify(None, ""));
    }

    #[test]
    fn lengths_are_bounded() {
        assert_eq!(hash("short"), Err(PasswordError::TooShort));
        assert_eq!(hash(&"x".repeat(MAX_LEN + 1)), Err(PasswordError::TooLong));
        let stored = hash("long enough").unwrap();
        assert!(!verify(Some(&stored), &"x".repeat(MAX_LEN + 1)));
    }
}
