//! TOTP second factor (RFC 6238: SHA-1, 6 digits, 30-second steps), each code usable
//! once (ASVS 6.5.1): the last accepted time step is stored and never accepted again.

use totp_rs::{Algorithm, TOTP};
use zeroize::Zeroizing;

use crate::crypto::CryptoError;

const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;

fn totp(secret: &[u8]) -> Option<TOTP> {
    // Skew 0: the window is checked explicitly below, one step either side.
    TOTP::new(Algorithm::SHA1, DIGITS, 0, STEP_SECS, secret.to_vec()).ok()
}

/// A fresh 160-bit TOTP secret from the OS RNG.
pub fn new_secret() -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut secret = Zeroizing::new(vec![0u8; 20]);
    crate::crypto::fill_random(&mut secret)?;
    Ok(secret)
}

/// The secret in base32, for typing into an authenticator app.
pub fn base32(secret: &[u8]) -> String {
    totp(secret)
        .map(|t| t.get_secret_base32())
        .unwrap_or_default()
}

/// An `otpauth://` URI for authenticator apps (QR code content).
pub fn provisioning_uri(secret: &[u8], username: &str) -> String {
    let account: String = username
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    format!(
        "otpauth://totp/Kosovo%20Drug%20Registry:{account}?secret={}&issuer=Kosovo%20Drug%20Registry&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        base32(secret)
    )
}

/// The code for a time (seconds since the Unix epoch); for tests and enrolment checks.
pub fn code_at(secret: &[u8], unix_secs: u64) -> String {
    totp(secret)
        .map(|t| t.generate(unix_secs))
        .unwrap_or_default()
}

/// Checks `code` at `unix_secs`, allowing one step of clock drift either way, and
/// refusing any step at or before `last_step`. Returns the accepted step.
pub fn verify(secret: &[u8], code: &str, unix_secs: u64, last_step: u64) -> Option<u64> {
    let totp = totp(secret)?;
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now_step = unix_secs / STEP_SECS;
    let mut accepted = None;
    for step in now_step.saturating_sub(1)..=now_step + 1 {
        let expected = totp.generate(step * STEP_SECS);
        // Compare every candidate, in constant time, so timing says nothing.
        let equal = constant_time_eq(expected.as_bytes(), code.as_bytes());
        if equal && step > last_step {
            accepted = Some(step);
        }
    }
    accepted
}

/// Equality of two equal-length byte strings without an early exit.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_test_vector() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", T = 59 -> 94287082 (8 digits);
        // the 6-digit code is the last six digits.
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, 59), "287082");
        assert_eq!(code_at(secret, 1_111_111_109), "081804");
    }

    #[test]
    fn each_code_is_accepted_once() {
        let secret = new_secret().expect("secret");
        let now = 1_800_000_000;
        let code = code_at(&secret, now);
        let step = verify(&secret, &code, now, 0).expect("accepted");
        assert_eq!(verify(&secret, &code, now, step), None, "replay refused");
        assert_eq!(verify(&secret, "000000x", now, 0), None);
        let previous = code_at(&secret, now - 30);
        assert!(
            verify(&secret, &previous, now, 0).is_some(),
            "one step of drift"
        );
        let stale = code_at(&secret, now - 120);
        assert_eq!(verify(&secret, &stale, now, 0), None);
    }

    #[test]
    fn provisioning_uri_carries_base32_secret() {
        let secret = new_secret().expect("secret");
        let uri = provisioning_uri(&secret, "drita.k");
        assert!(uri.starts_with("otpauth://totp/"));
        assert!(uri.contains(&base32(&secret)));
    }
}
