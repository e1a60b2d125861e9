//! The per-request session check (revocation applies on the next request) and a token-bucket
//! limit per access token (`governor`). Password and token hashing: [`crate::policy::passwords`].

use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::Utc;

use crate::http::app::AppState;
use crate::http::error::ApiError;
use crate::policy::passwords::{ACCESS_PREFIX, token_hash};
use crate::storage::Session;

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
        let Some(session) = state.storage.session(hash).await? else {
            // Guessing tokens counts against the address like guessing passwords.
            state
                .throttle
                .attempt(crate::http::throttle::ClientIp::from_parts(parts))?;
            return Err(ApiError::TokenInvalid);
        };
        if session.device.revoked || session.user.disabled {
            return Err(ApiError::Revoked);
        }
        if session.access_expires_at <= Utc::now() {
            return Err(ApiError::TokenInvalid);
        }
        Ok(Authed(session))
    }
}

/// Token buckets keyed by access-token hash (or another string key), on `governor`'s GCRA;
/// idle keys are swept now and then, so a flood of keys does not stay in memory.
pub struct RateLimiter {
    limiter: governor::DefaultKeyedRateLimiter<String>,
    clock: governor::clock::DefaultClock,
    checks: std::sync::atomic::AtomicU64,
}

/// Checks between two sweeps of idle buckets.
const SWEEP_EVERY: u64 = 4096;

impl RateLimiter {
    pub fn new(rate_per_s: f64, burst: f64) -> RateLimiter {
        let period = if rate_per_s.is_finite() && rate_per_s > 0.0 {
            Duration::from_secs_f64((1.0 / rate_per_s).min(1e9))
        } else {
            Duration::from_secs(1_000_000_000)
        };
        let burst = if burst.is_finite() && burst >= 1.0 {
            NonZeroU32::new(burst.min(f64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN)
        } else {
            NonZeroU32::MIN
        };
        let quota = governor::Quota::with_period(period)
            .unwrap_or_else(|| governor::Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        RateLimiter {
            limiter: governor::DefaultKeyedRateLimiter::keyed(quota),
            clock: governor::clock::DefaultClock::default(),
            checks: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        use governor::clock::Clock;
        use std::sync::atomic::Ordering;
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(self.clock.now());
                ApiError::RateLimited {
                    retry_after_s: wait
                        .as_secs()
                        .saturating_add(u64::from(wait.subsec_nanos() > 0))
                        .max(1),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

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
