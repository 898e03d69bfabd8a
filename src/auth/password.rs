//! Passwords: argon2id hashing off the async executor, and the password rules
//! (ASVS 6.2: minimum length 12, no composition rules, common passwords refused).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use crate::field::FieldError;

/// Minimum password length in characters (this registry's rule, above ASVS's 8).
pub const MIN_LENGTH: usize = 12;
/// Maximum length, so hashing cost cannot be abused.
pub const MAX_LENGTH: usize = 128;

const COMMON: &str = include_str!("common-passwords.txt");

/// argon2id with m = 19 MiB, t = 2, p = 1 (OWASP / ASVS 11.4.2 minimum).
fn hasher() -> Argon2<'static> {
    // These constants are valid parameters; `Params::new` only rejects out-of-range ones.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks a new password against the rules; the error names the field and never
/// repeats the password.
pub fn check_new(password: &str, username: &str, field: &str) -> Result<(), FieldError> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err(FieldError::new(
            field,
            format!("must be at least {MIN_LENGTH} characters long"),
        ));
    }
    if chars > MAX_LENGTH {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_LENGTH} characters long"),
        ));
    }
    let lower = password.to_lowercase();
    let is_common = COMMON
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .any(|common| common == lower);
    if is_common {
        return Err(FieldError::new(
            field,
            "is a commonly used password; choose a longer passphrase",
        ));
    }
    let first = lower.chars().next().unwrap_or_default();
    if lower.chars().all(|c| c == first) {
        return Err(FieldError::new(field, "must not repeat a single character"));
    }
    if !username.is_empty() && lower.contains(&username.to_lowercase()) {
        return Err(FieldError::new(field, "must not contain the username"));
    }
    Ok(())
}

/// Hashes a password on a blocking thread (argon2 takes tens of milliseconds).
pub async fn hash(password: Zeroizing<String>) -> Result<String, argon2::password_hash::Error> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .unwrap_or(Err(argon2::password_hash::Error::Crypto))
}

/// Verifies a password against a stored hash on a blocking thread. With `None`
/// (unknown user) a dummy hash is verified instead, so both cases take the same
/// time and give the same answer (ASVS 6.3.8).
pub async fn verify(password: Zeroizing<String>, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let encoded = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let Ok(parsed) = PasswordHash::new(&encoded) else {
            return false;
        };
        let ok = hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && known
    })
    .await
    .unwrap_or(false)
}

/// A hash of a random password with the production parameters, for unknown users.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXJhbmRvbXNhbHQ$Tk4A3cYhyk1rqzL8lSQwAPs8fW8CVGBqXbmzrRWcGMA";

/// A random initial password of 120 bits (one-time; the user must change it).
pub fn generate() -> Result<Zeroizing<String>, crate::crypto::CryptoError> {
    use base64::Engine;
    let mut bytes = Zeroizing::new([0u8; 15]);
    crate::crypto::fill_random(bytes.as_mut())?;
    Ok(Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_reject_short_common_and_trivial_passwords() {
        assert!(check_new("short", "ana", "password").is_err());
        assert!(
            check_new("Password1234", "ana", "password").is_err(),
            "case-insensitive list"
        );
        assert!(check_new("aaaaaaaaaaaaaa", "ana", "password").is_err());
        assert!(check_new("my name is drita.k ok", "drita.k", "password").is_err());
        assert!(check_new("correct horse battery staple", "ana", "password").is_ok());
        let err = check_new("qwerty123456", "ana", "new_password").unwrap_err();
        assert_eq!(err.field, "new_password");
        assert!(!err.problem.contains("qwerty"));
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_required_parameters_and_verify() {
        let hash = hash(Zeroizing::new("correct horse battery staple".into()))
            .await
            .expect("hashed");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            verify(
                Zeroizing::new("correct horse battery staple".into()),
                Some(hash.clone())
            )
            .await
        );
        assert!(
            !verify(
                Zeroizing::new("wrong horse battery staple".into()),
                Some(hash)
            )
            .await
        );
        assert!(!verify(Zeroizing::new("anything at all here".into()), None).await);
    }

    #[test]
    fn dummy_hash_uses_the_production_parameters() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(DUMMY_HASH.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }

    #[test]
    fn generated_passwords_pass_the_rules() {
        let p = generate().expect("random");
        assert!(p.len() >= 20);
        assert!(check_new(&p, "someone", "password").is_ok());
    }
}
