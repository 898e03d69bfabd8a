//! Opaque session tokens: 256 random bits from the OS RNG, handed to the client once
//! and stored only as their SHA-256 (ASVS 7.2).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::CryptoError;

/// A new token: `(the token for the client, its hash for the database)`.
pub fn new_token() -> Result<(Zeroizing<String>, [u8; 32]), CryptoError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    crate::crypto::fill_random(bytes.as_mut())?;
    let token = Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref()));
    let hash = hash_token(&token);
    Ok((token, hash))
}

/// The stored form of a token.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let (a, hash_a) = new_token().expect("token");
        let (b, _) = new_token().expect("token");
        assert_ne!(*a, *b);
        assert_eq!(a.len(), 43, "256 bits in base64url");
        assert_eq!(hash_token(&a), hash_a);
    }
}
