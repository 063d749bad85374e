//! SCRAM-SHA-256 password verifiers, as PostgreSQL stores them in `pg_authid.rolpassword`.
//!
//! `ALTER ROLE ... PASSWORD` takes a verifier as well as a clear-text password (PostgreSQL
//! recognises the `SCRAM-SHA-256$` form and stores it as is). Sending the verifier keeps the
//! password itself out of the statement, hence out of the server's logs (`log_statement`,
//! pgaudit) and `pg_stat_activity`; psql's `\password` does the same through libpq's
//! `PQencryptPasswordConn`. Format (PostgreSQL `src/common/scram-common.c`, RFC 5802 and 7677):
//! `SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// PostgreSQL's default (`scram_iterations`).
pub const ITERATIONS: u32 = 4096;
/// PostgreSQL's salt length (`SCRAM_DEFAULT_SALT_LEN`).
pub const SALT_LEN: usize = 16;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// PBKDF2-HMAC-SHA256 with one output block (32 bytes), RFC 8018 section 5.2: SCRAM's `Hi()`.
fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password, &first);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac(password, &u);
        for (o, b) in out.iter_mut().zip(u) {
            *o ^= b;
        }
    }
    out
}

/// Can `password` go through SCRAM as it is? PostgreSQL applies SASLprep (RFC 4013) to the
/// password before hashing; for printable ASCII that is the identity, so a verifier computed
/// here matches what the server expects. Other passwords are refused by the caller.
pub fn is_plain(password: &str) -> bool {
    !password.is_empty() && password.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// The verifier of `password` with `salt`.
pub fn verifier(password: &str, salt: &[u8], iterations: u32) -> String {
    let salted = salted_password(password.as_bytes(), salt, iterations);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(&salted, b"Server Key");
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(server_key)
    )
}

/// The verifier of `password` with a fresh random salt.
pub fn new_verifier(password: &str) -> String {
    let salt: [u8; SALT_LEN] = rand::random();
    verifier(password, &salt, ITERATIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf2_matches_rfc_7914_vector() {
        // RFC 7914 section 11: PBKDF2-HMAC-SHA256 (P="passwd", S="salt", c=1), first 32 bytes.
        let out = salted_password(b"passwd", b"salt", 1);
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc");
    }

    #[test]
    fn verifier_shape_and_plain_passwords() {
        let v = verifier("pencil", b"0123456789abcdef", 4096);
        let (head, keys) = v.rsplit_once('$').unwrap();
        assert_eq!(head, "SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==");
        assert_eq!(keys.split(':').map(|k| STANDARD.decode(k).unwrap().len()).collect::<Vec<_>>(), vec![32, 32]);
        assert!(is_plain("Abc 123 ' \\ ;--"));
        assert!(!is_plain("pässword") && !is_plain("tab\there") && !is_plain(""));
    }
}
