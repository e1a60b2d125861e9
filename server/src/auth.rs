//! Identity: argon2 password hashes (computed off the async threads), random bearer tokens kept
//! only as SHA-256 hashes, the per-request session check (revocation applies on the next request)
//! and a token-bucket limit per access token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::error::ApiError;
use crate::storage::Session;

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
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(password.as_bytes(), stored.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Authed(pub Session);

impl Authed {
    pub fn actor(&self) -> xuncha_core::Actor {
        xuncha_core::Actor {
            user_id: self.0.user.id.clone(),
            role: self.0.user.role,
            unit_id: self.0.user.unit_id.clone(),
        }
    }
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| t.starts_with(ACCESS_PREFIX))
            .ok_or(ApiError::Unauthenticated)?;
        let hash = token_hash(token);
        state.limiter.check(&hash)?;
        let session = state
            .storage
            .session(hash)
            .await?
            .ok_or(ApiError::TokenInvalid)?;
        if session.device.revoked || session.user.disabled {
            return Err(ApiError::Revoked);
        }
        if session.access_expires_at <= Utc::now() {
            return Err(ApiError::TokenInvalid);
        }
        Ok(Authed(session))
    }
}

/// Token buckets keyed by access-token hash (or client address for unauthenticated routes).
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

/// Buckets kept before idle ones are dropped.
const MAX_BUCKETS: usize = 50_000;

impl RateLimiter {
    pub fn new(rate_per_s: f64, burst: f64) -> RateLimiter {
        RateLimiter {
            rate: rate_per_s,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .map_err(|_| ApiError::Internal("rate limiter poisoned".to_owned()))?;
        if buckets.len() >= MAX_BUCKETS {
            let burst = self.burst;
            let rate = self.rate;
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens < 1.0 {
            let wait = ((1.0 - *tokens) / self.rate).ceil();
            return Err(ApiError::RateLimited {
                retry_after_s: if wait.is_finite() && wait >= 1.0 {
                    wait as u64
                } else {
                    1
                },
            });
        }
        *tokens -= 1.0;
        Ok(())
    }
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
        assert!(!verify_password("wrong".to_owned(), hash).await);
        assert!(!verify_password("x".to_owned(), "not a hash".to_owned()).await);
        let token = new_token(ACCESS_PREFIX);
        assert_eq!(token.len(), 4 + 64);
        assert_ne!(token_hash(&token), token);
    }

    #[test]
    fn bucket_refuses_after_burst() {
        let limiter = RateLimiter::new(0.001, 3.0);
        for _ in 0..3 {
            limiter.check("k").unwrap();
        }
        assert_eq!(limiter.check("k").unwrap_err().code(), "RATE_LIMITED");
        limiter.check("other").unwrap();
    }
}
