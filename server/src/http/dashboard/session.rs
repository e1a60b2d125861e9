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

/// Live sessions one user may hold when the store is built with `Default`; the configured value
/// is `auth.sessions_per_user`. A new sign-in beyond it ends that user's oldest session; other
/// users' sessions are never touched, so no one can sign anyone else out by signing in often.
pub const DEFAULT_SESSIONS_PER_USER: usize = 20;

/// The pre-session cookie of the sign-in form (double-submit CSRF token).
pub const LOGIN_CSRF_COOKIE: &str = "xuncha_login_csrf";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: String,
    /// Whose session it is: the per-user cap counts by this.
    pub owner: String,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub struct SessionStore {
    by_hash: Mutex<HashMap<String, Session>>,
    per_user: usize,
}

impl Default for SessionStore {
    fn default() -> Self {
        SessionStore::new(DEFAULT_SESSIONS_PER_USER)
    }
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
    /// A store keeping at most `per_user` live sessions per user (at least 1).
    pub fn new(per_user: usize) -> SessionStore {
        SessionStore {
            by_hash: Mutex::new(HashMap::new()),
            per_user: per_user.max(1),
        }
    }

    /// Starts a session owned by `user_id`; returns the cookie token (never stored) and the session.
    pub fn create(&self, user_id: &str, now: DateTime<Utc>) -> (String, Session) {
        self.create_for(user_id, user_id, now)
    }

    /// Starts a session whose stored key is `session_user` and whose owner (for the per-user
    /// cap) is `owner`. Expired sessions are swept first; then, while the owner already holds
    /// the cap, the owner's oldest session ends.
    pub fn create_for(
        &self,
        session_user: &str,
        owner: &str,
        now: DateTime<Utc>,
    ) -> (String, Session) {
        let token = random_token();
        let session = Session {
            user_id: session_user.to_string(),
            owner: owner.to_string(),
            csrf_token: random_token(),
            created_at: now,
            expires_at: now + IDLE_TIMEOUT,
        };
        let mut map = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| s.expires_at > now);
        let mut mine: Vec<(DateTime<Utc>, String)> = map
            .iter()
            .filter(|(_, s)| s.owner == owner)
            .map(|(k, s)| (s.created_at, k.clone()))
            .collect();
        if mine.len() >= self.per_user {
            mine.sort();
            let excess = mine.len() + 1 - self.per_user;
            for (_, key) in mine.into_iter().take(excess) {
                map.remove(&key);
            }
        }
        map.insert(token_hash(&token), session.clone());
        (token, session)
    }

    /// Live sessions (for tests).
    pub fn len(&self) -> usize {
        self.by_hash.lock().map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        map.retain(|_, s| s.user_id != user_id && s.owner != user_id);
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

/// The sign-in form's CSRF cookie: scoped to the form's path, an hour long.
pub fn login_csrf_cookie(token: &str, secure: bool) -> String {
    format!(
        "{LOGIN_CSRF_COOKIE}={token}; Path=/dashboard/login; HttpOnly; SameSite=Strict; Max-Age=3600{}",
        if secure { "; Secure" } else { "" }
    )
}

/// A cookie's value by name in a `Cookie` request header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (n, value) = pair.trim().split_once('=')?;
        (n == name && !value.is_empty()).then_some(value)
    })
}

/// Finds our cookie in a `Cookie` request header.
pub fn token_from_cookie_header(header: &str) -> Option<&str> {
    cookie_value(header, COOKIE_NAME)
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
    fn a_user_past_the_cap_loses_only_their_own_oldest_session() {
        let store = SessionStore::new(3);
        let now = Utc::now();
        let (office, _) = store.create("street.office", now);
        let mut mine = Vec::new();
        for i in 0..50 {
            mine.push(store.create("flooder", now + Duration::seconds(i)).0);
        }
        assert!(
            store.touch(&office, now).is_some(),
            "another user's session survives"
        );
        assert_eq!(store.len(), 4);
        assert!(
            store.touch(&mine[46], now).is_none(),
            "the flooder's oldest went"
        );
        assert!(store.touch(&mine[49], now).is_some());
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
