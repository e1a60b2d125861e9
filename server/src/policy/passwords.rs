//! Secrets at rest: argon2 password hashes (computed off the async threads) and random bearer
//! tokens kept only as SHA-256 hashes. No HTTP here: the request extractor is `http::auth`.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};

pub const ACCESS_PREFIX: &str = "xat_";
pub const REFRESH_PREFIX: &str = "xrt_";

/// A new random token: prefix + 32 random bytes in hex.
pub fn new_token(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{prefix}{}", hex::encode(bytes))
}

/// What the database keeps instead of the token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing task failed")]
    Task,
}

/// Hashes a password with argon2id and a random salt, on the blocking pool.
pub async fn hash_password(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || {
        let salt: [u8; 16] = rand::random();
        Argon2::default()
            .hash_password_with_salt(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    })
    .await
    .map_err(|_| PasswordError::Task)?
}

/// Checks a password against a stored PHC string, on the blocking pool. A malformed stored hash
/// counts as a mismatch.
pub async fn verify_password(password: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password_blocking(&password, &stored))
        .await
        .unwrap_or(false)
}

/// The argon2 check itself; call it only off the async threads (`http::throttle` bounds it).
pub fn verify_password_blocking(password: &str, stored: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), stored)
        .is_ok()
}

/// The same check as [`verify_password_blocking`], computed in `memory` (grown once to the
/// hash's block count, then reused): the server's argon2 workers allocate nothing per check, so
/// a flood of sign-ins cannot leave the allocator holding 19 MiB per run (BENCHMARKS.md,
/// "Sign-in flood"). A stored hash that does not parse, or asks for more than `max_blocks`
/// blocks, counts as a mismatch.
pub fn verify_password_in(
    password: &str,
    stored: &str,
    memory: &mut Vec<argon2::Block>,
    max_blocks: usize,
) -> bool {
    let Ok(hash) = argon2::PasswordHash::new(stored) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    let version = match hash.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let Ok(params) = argon2::Params::try_from(&hash) else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > max_blocks {
        return false;
    }
    if memory.len() < blocks {
        memory.resize(blocks, argon2::Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let Some(work) = memory.get_mut(..blocks) else {
        return false;
    };
    if argon2::Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt.as_ref(), &mut out, work)
        .is_err()
    {
        return false;
    }
    // Constant-time comparison (`Output`'s equality).
    argon2::password_hash::phc::Output::new(&out).is_ok_and(|computed| computed == *expected)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test]
    async fn passwords_verify_and_tokens_hash() {
        let hash = hash_password("秘密 secret".to_owned()).await.unwrap();
        assert!(hash.starts_with("$argon2"));
        assert!(verify_password("秘密 secret".to_owned(), hash.clone()).await);
        assert!(!verify_password("wrong".to_owned(), hash.clone()).await);
        assert!(!verify_password("x".to_owned(), "not a hash".to_owned()).await);
        let mut memory = Vec::new();
        assert!(verify_password_in(
            "秘密 secret",
            &hash,
            &mut memory,
            1 << 20
        ));
        assert!(!verify_password_in("wrong", &hash, &mut memory, 1 << 20));
        assert!(
            !verify_password_in("秘密 secret", &hash, &mut memory, 16),
            "over the block cap"
        );
        assert!(!verify_password_in("x", "not a hash", &mut memory, 1 << 20));
        let token = new_token(ACCESS_PREFIX);
        assert_eq!(token.len(), 4 + 64);
        assert_ne!(token_hash(&token), token);
    }
}
