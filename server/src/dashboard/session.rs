//! Browser sessions for the dashboard. The cookie holds a random token; the server keeps only its
//! SHA-256 (a leaked session table cannot be replayed), the user id, a per-session CSRF token and
//! the expiry. The user's role and unit are NOT cached here: every request re-reads the user, so a
//! revoked user or a changed role takes effect at once.
//!
//! Sessions live in memory: a restart signs everyone out, which is acceptable for a desk tool.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

/// Cookie name. `__Host-` would demand Secure, which plain-HTTP intranet deployments lack.
pub const COOKIE_NAME: &str = "xuncha_session";

/// Idle sessions expire after this long; each request slides the expiry.
pub const IDLE_TIMEOUT: Duration = Duration::hours(8);

/// Upper bound on live sessions, so a login flood cannot grow memory without limit.
pub const MAX_SESSIONS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct SessionStore {
    by_hash: Mutex<HashMap<String, Session>>,
}

/// 32 random bytes as lower-case hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    hex::encode(bytes)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time comparison for CSRF tokens.
pub fn tokens_equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl SessionStore {
    /// Starts a session; returns the cookie token (never stored) and the session.
    pub fn create(&self, user_id: &str, now: DateTime<Utc>) -> (String, Session) {
        let token = random_token();
        let session = Session {
            user_id: user_id.to_string(),
            csrf_token: random_token(),
            expires_at: now + IDLE_TIMEOUT,
        };
        let mut map = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.expires_at > now);
            if map.len() >= MAX_SESSIONS {
                // Still full of live sessions: drop the one closest to expiry.
                if let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, s)| s.expires_at)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&oldest);
                }
            }
        }
        map.insert(token_hash(&token), session.clone());
        (token, session)
    }

    /// The live session for a cookie token, with its expiry slid forward; `None` if unknown or
    /// expired (an expired one is removed).
    pub fn touch(&self, token: &str, now: DateTime<Utc>) -> Option<Session> {
        let key = token_hash(token);
        let mut map = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(&key) {
            Some(session) if session.expires_at > now => {
                session.expires_at = now + IDLE_TIMEOUT;
                Some(session.clone())
            }
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, token: &str) {
        let mut map = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&token_hash(token));
    }

    /// Ends every session of a user (after revocation or a password change).
    pub fn remove_user(&self, user_id: &str) {
        let mut map = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| s.user_id != user_id);
    }

    #[cfg(test)]
    fn stored_keys(&self) -> Vec<String> {
        let map = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        map.keys().cloned().collect()
    }
}

/// The session cookie as a `Set-Cookie` value: HttpOnly, SameSite=Strict, path-scoped.
pub fn set_cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        IDLE_TIMEOUT.num_seconds(),
        if secure { "; Secure" } else { "" }
    )
}

/// Clears the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Finds our cookie in a `Cookie` request header.
pub fn token_from_cookie_header(header: &str) -> Option<&str> {
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == COOKIE_NAME && !value.is_empty()).then_some(value)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hash_is_stored_and_the_token_finds_the_session() {
        let store = SessionStore::default();
        let now = Utc::now();
        let (token, session) = store.create("u1", now);
        assert_eq!(token.len(), 64);
        assert!(!store.stored_keys().contains(&token));
        assert_eq!(store.touch(&token, now).unwrap().user_id, "u1");
        assert_ne!(session.csrf_token, token);
        assert!(store.touch("nope", now).is_none());
    }

    #[test]
    fn sessions_expire_and_slide() {
        let store = SessionStore::default();
        let now = Utc::now();
        let (token, _) = store.create("u1", now);
        let later = now + IDLE_TIMEOUT - Duration::minutes(1);
        assert!(store.touch(&token, later).is_some());
        // Slid forward from `later`, so still alive past the original expiry.
        assert!(
            store
                .touch(&token, now + IDLE_TIMEOUT + Duration::minutes(5))
                .is_some()
        );
        assert!(store.touch(&token, now + IDLE_TIMEOUT * 3).is_none());
    }

    #[test]
    fn logout_and_revocation_end_sessions() {
        let store = SessionStore::default();
        let now = Utc::now();
        let (a, _) = store.create("u1", now);
        let (b, _) = store.create("u1", now);
        let (c, _) = store.create("u2", now);
        store.remove(&a);
        assert!(store.touch(&a, now).is_none());
        store.remove_user("u1");
        assert!(store.touch(&b, now).is_none());
        assert!(store.touch(&c, now).is_some());
    }

    #[test]
    fn cookie_parsing_and_flags() {
        assert_eq!(
            token_from_cookie_header("a=1; xuncha_session=abc; b=2"),
            Some("abc")
        );
        assert_eq!(token_from_cookie_header("xuncha_session="), None);
        let c = set_cookie("t", false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"));
        assert!(
            tokens_equal("abc", "abc") && !tokens_equal("abc", "abd") && !tokens_equal("a", "ab")
        );
    }
}
