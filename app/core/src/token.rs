//! API tokens: `roa_<id>_<secret>`. Only the SHA-256 of the whole token is stored; the id (not
//! secret) finds the row, and the hashes are compared in constant time.

use rand::Rng;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// The literal every token starts with (so leaked tokens are easy to grep for).
pub const PREFIX: &str = "roa";
/// Length of the id part: lowercase letters and digits.
pub const ID_LEN: usize = 12;
/// Length of the secret part: letters and digits (~238 bits).
pub const SECRET_LEN: usize = 40;

/// A token whose shape is valid. Its `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedToken {
    id: String,
    full: String,
}

impl ParsedToken {
    /// The public id: the database key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The SHA-256 (lowercase hex) of the whole token, as stored.
    pub fn sha256(&self) -> String {
        hash(&self.full)
    }

    /// The whole token (only to hand it to its owner once, when issued).
    pub fn expose(&self) -> &str {
        &self.full
    }
}

impl fmt::Debug for ParsedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ParsedToken({PREFIX}_{}_***)", self.id)
    }
}

/// Why a string is not a token. Never includes the string itself (it may be a real secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token must have the form {PREFIX}_<id>_<secret>")]
    Shape,
    #[error("token id must be {ID_LEN} characters of a-z and 0-9")]
    Id,
    #[error("token secret must be {SECRET_LEN} characters of A-Z, a-z and 0-9")]
    Secret,
}

/// Parses `roa_<id>_<secret>`.
pub fn parse(token: &str) -> Result<ParsedToken, TokenError> {
    let mut parts = token.splitn(3, '_');
    let (Some(PREFIX), Some(id), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Shape);
    };
    if id.len() != ID_LEN || !id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return Err(TokenError::Id);
    }
    if secret.len() != SECRET_LEN || !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(TokenError::Secret);
    }
    Ok(ParsedToken { id: id.to_owned(), full: token.to_owned() })
}

/// A fresh random token (thread-local CSPRNG).
pub fn generate() -> ParsedToken {
    const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let mut pick = |set: &[u8], n: usize| -> String {
        (0..n).map(|_| set[rng.random_range(0..set.len())] as char).collect()
    };
    let id = pick(LOWER, ID_LEN);
    let secret = pick(ALNUM, SECRET_LEN);
    let full = format!("{PREFIX}_{id}_{secret}");
    ParsedToken { id, full }
}

/// SHA-256 of `token`, lowercase hex.
pub fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two stored-form hashes in constant time.
pub fn hashes_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_differ() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        let parsed = parse(a.expose()).unwrap();
        assert_eq!(parsed.id(), a.id());
        assert_eq!(parsed.sha256(), a.sha256());
        assert_eq!(a.sha256().len(), 64);
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn debug_hides_secret() {
        let t = generate();
        let shown = format!("{t:?}");
        assert!(!shown.contains(&t.expose()[PREFIX.len() + ID_LEN + 2..]), "{shown}");
    }

    #[test]
    fn rejects_bad_shapes() {
        let secret = "A".repeat(SECRET_LEN);
        assert_eq!(parse(""), Err(TokenError::Shape));
        assert_eq!(parse("roa"), Err(TokenError::Shape));
        assert_eq!(parse(&format!("xyz_abcdefghijkl_{secret}")), Err(TokenError::Shape));
        assert_eq!(parse(&format!("roa_ABCDEFGHIJKL_{secret}")), Err(TokenError::Id));
        assert_eq!(parse(&format!("roa_abc_{secret}")), Err(TokenError::Id));
        assert_eq!(parse("roa_abcdefghijkl_short"), Err(TokenError::Secret));
        assert_eq!(parse(&format!("roa_abcdefghijkl_{secret}_x")), Err(TokenError::Secret));
        assert_eq!(parse(&format!("roa_abcdefghijkl_{}' OR '1'='1", "A".repeat(30))), Err(TokenError::Secret));
        assert!(parse(&format!("roa_abcdefghijkl_{secret}")).is_ok());
    }

    #[test]
    fn hashes_match_is_exact() {
        assert!(hashes_match("ab", "ab"));
        assert!(!hashes_match("ab", "ac"));
        assert!(!hashes_match("ab", "abc"));
    }
}
