//! Decisions about credentials that both storage backends share (they only read and write the
//! rows): refresh-token rotation with reuse detection (OAuth 2.0 Security BCP, RFC 9700 §4.14),
//! the per-account-and-address sign-in lockout, and what an audit row keeps of a username.

use chrono::{DateTime, Duration, Utc};

use crate::config::AuthLimits;
use crate::policy::audit::AuditDraft;

/// What an audit row keeps of a username someone typed: at most this many characters.
pub const AUDIT_USERNAME_CHARS: usize = 64;

/// A username as an audit row stores it: cut to [`AUDIT_USERNAME_CHARS`] characters, with `…`
/// when cut, so a flood of huge made-up names cannot grow the log by their size.
pub fn audit_username(username: &str) -> String {
    let mut chars = username.chars();
    let kept: String = chars.by_ref().take(AUDIT_USERNAME_CHARS).collect();
    if chars.next().is_some() {
        format!("{kept}…")
    } else {
        kept
    }
}

/// One refresh request as the storage sees it (token hashes only).
#[derive(Debug, Clone)]
pub struct TokenRefresh {
    pub device_id: uuid::Uuid,
    /// SHA-256 of the refresh token the client presented.
    pub presented_hash: String,
    /// SHA-256 of the refresh token that replaces it.
    pub new_refresh_hash: String,
    pub access_hash: String,
    pub access_expires_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// How long the most recently spent token may still be presented (a lost answer).
    pub grace: Duration,
    /// Written when the refresh succeeds.
    pub audit: AuditDraft,
}

/// A spent refresh token of the device, as found by its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpentToken {
    pub spent_at: DateTime<Utc>,
    /// It is the one spent last (the device's current token replaced it) and has not used
    /// its one retry.
    pub latest: bool,
}

/// What a refresh does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshStep {
    /// Spend the current token, store the new refresh and access tokens.
    Rotate,
    /// Unknown token for this device: refuse, change nothing.
    Invalid,
    /// Device or user already revoked: refuse, change nothing.
    Revoked,
    /// A spent token came back: someone holds a copy. Revoke the device (every token of it).
    Reused,
}

/// The rotation rule. `current_hash` is the device's live refresh token; `spent` is the
/// presented token's row among the device's spent tokens, if it is one.
pub fn decide_refresh(
    current_hash: &str,
    revoked: bool,
    disabled: bool,
    presented_hash: &str,
    spent: Option<SpentToken>,
    now: DateTime<Utc>,
    grace: Duration,
) -> RefreshStep {
    let known = current_hash == presented_hash || spent.is_some();
    if !known {
        return RefreshStep::Invalid;
    }
    if revoked || disabled {
        return RefreshStep::Revoked;
    }
    match spent {
        None => RefreshStep::Rotate,
        // The phone did not get the answer to its last refresh and asks again at once: the
        // token it never received is spent in turn, so only one of the two can go on.
        Some(s) if s.latest && now - s.spent_at <= grace => RefreshStep::Rotate,
        Some(_) => RefreshStep::Reused,
    }
}

/// The audit entry written when a spent refresh token comes back and the device is revoked.
pub fn reuse_audit(device_id: uuid::Uuid) -> AuditDraft {
    AuditDraft::new("REFRESH_TOKEN_REUSED", "device", device_id.to_string())
}

/// The audit entry for a device revoked because its user went past the per-user device cap.
pub fn eviction_audit(device_id: &str, user_id: &str) -> AuditDraft {
    AuditDraft::new("DEVICE_EVICTED", "device", device_id.to_owned())
        .detail(serde_json::json!({ "user_id": user_id, "reason": "per-user device cap" }))
}

/// The sign-in lockout rule (per account and client address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub after_failures: u32,
    pub base: Duration,
    pub max: Duration,
}

impl LockoutPolicy {
    pub fn from_limits(limits: &AuthLimits) -> LockoutPolicy {
        let secs = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
        LockoutPolicy {
            after_failures: limits.lockout_after_failures.max(1),
            base: secs(limits.lockout_base_s.max(1)),
            max: secs(limits.lockout_max_s.max(limits.lockout_base_s).max(1)),
        }
    }

    /// Failures older than this are forgotten: a typo last week does not count today.
    pub fn window(&self) -> Duration {
        self.max
    }

    /// The lock after the `failures`-th consecutive failure: none below the threshold, then the
    /// base, doubling with each further failure, up to the maximum.
    pub fn lock_until(&self, failures: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if failures < self.after_failures {
            return None;
        }
        let doublings = (failures - self.after_failures).min(20);
        let lock = self
            .base
            .checked_mul(1 << doublings)
            .map_or(self.max, |d| d.min(self.max));
        Some(now + lock)
    }

    /// The failure count after one more failure, given the previous count and when it was.
    pub fn next_failures(&self, previous: Option<(u32, DateTime<Utc>)>, now: DateTime<Utc>) -> u32 {
        match previous {
            Some((n, last)) if now - last <= self.window() => n.saturating_add(1),
            _ => 1,
        }
    }
}

/// Whole seconds until `until` (at least 1), for `Retry-After` and the dashboard's message.
pub fn seconds_until(until: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    u64::try_from((until - now).num_seconds())
        .unwrap_or(0)
        .max(1)
}

/// "3 分 20 秒" / "45 秒" / "1 小时 5 分": how long to wait, for the dashboard.
pub fn wait_zh(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s} 秒"),
        (0, m, 0) => format!("{m} 分钟"),
        (0, m, s) => format!("{m} 分 {s} 秒"),
        (h, 0, _) => format!("{h} 小时"),
        (h, m, _) => format!("{h} 小时 {m} 分"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn rotation_rule() {
        let now = Utc::now();
        let grace = Duration::seconds(30);
        let recent = SpentToken {
            spent_at: now - Duration::seconds(5),
            latest: true,
        };
        let old = SpentToken {
            spent_at: now - Duration::seconds(500),
            latest: true,
        };
        let older = SpentToken {
            spent_at: now - Duration::seconds(5),
            latest: false,
        };
        let d = |cur, rev, p, spent| decide_refresh(cur, rev, false, p, spent, now, grace);
        assert_eq!(d("a", false, "a", None), RefreshStep::Rotate);
        assert_eq!(d("a", false, "b", None), RefreshStep::Invalid);
        assert_eq!(d("a", true, "a", None), RefreshStep::Revoked);
        assert_eq!(d("a", false, "b", Some(recent)), RefreshStep::Rotate);
        assert_eq!(d("a", false, "b", Some(old)), RefreshStep::Reused);
        assert_eq!(d("a", false, "b", Some(older)), RefreshStep::Reused);
        assert_eq!(d("a", true, "b", Some(old)), RefreshStep::Revoked);
    }

    #[test]
    fn lockout_doubles_up_to_the_maximum_and_forgets_old_failures() {
        let p = LockoutPolicy {
            after_failures: 3,
            base: Duration::seconds(60),
            max: Duration::seconds(600),
        };
        let now = Utc::now();
        assert_eq!(p.lock_until(2, now), None);
        assert_eq!(p.lock_until(3, now), Some(now + Duration::seconds(60)));
        assert_eq!(p.lock_until(4, now), Some(now + Duration::seconds(120)));
        assert_eq!(p.lock_until(40, now), Some(now + Duration::seconds(600)));
        assert_eq!(p.next_failures(None, now), 1);
        assert_eq!(
            p.next_failures(Some((4, now - Duration::seconds(10))), now),
            5
        );
        assert_eq!(p.next_failures(Some((4, now - Duration::hours(2))), now), 1);
    }

    #[test]
    fn usernames_are_cut_for_the_audit_log_and_waits_read_in_chinese() {
        assert_eq!(audit_username("张三"), "张三");
        let long = "名".repeat(10_000);
        let kept = audit_username(&long);
        assert_eq!(kept.chars().count(), AUDIT_USERNAME_CHARS + 1);
        assert!(kept.ends_with('…'));
        assert_eq!(wait_zh(45), "45 秒");
        assert_eq!(wait_zh(120), "2 分钟");
        assert_eq!(wait_zh(200), "3 分 20 秒");
        assert_eq!(wait_zh(3900), "1 小时 5 分");
    }
}
