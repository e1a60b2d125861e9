//! Browser sessions for the dashboard. The cookie holds a random token; the server keeps only its
//! SHA-256 (a leaked session table cannot be replayed), the user id, a per-session CSRF token and
//! the expiry. The user's role and unit are NOT cached here: every request re-reads the user, so a
//! revoked user or a changed role takes effect at once.
//!
//! Sessions live in memory: a restart signs everyone out, which is acceptable for a desk tool.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, HeaderValue, header};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

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

/// How long the sign-in form's CSRF cookie lives.
const LOGIN_CSRF_SECONDS: i64 = 3600;

/// One browser session: whose it is, the device row it acts under (created at sign-in, so the
/// audit log names the web session and revoking the device signs the browser out), its CSRF
/// token and its lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    pub user_id: String,
    pub device_id: Uuid,
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub struct SessionStore {
    by_hash: Mutex<HashMap<String, BrowserSession>>,
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
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

impl SessionStore {
    /// A store keeping at most `per_user` live sessions per user (at least 1).
    pub fn new(per_user: usize) -> SessionStore {
        SessionStore {
            by_hash: Mutex::new(HashMap::new()),
            per_user: per_user.max(1),
        }
    }

    /// Starts a session of `user_id` acting under the device row `device_id`; returns the cookie
    /// token (never stored) and the session. Expired sessions are swept first; then, while the
    /// user already holds the cap, the user's oldest session ends.
    pub fn create(
        &self,
        user_id: &str,
        device_id: Uuid,
        now: DateTime<Utc>,
    ) -> (String, BrowserSession) {
        let token = random_token();
        let session = BrowserSession {
            user_id: user_id.to_string(),
            device_id,
            csrf: random_token(),
            created_at: now,
            expires_at: now + IDLE_TIMEOUT,
        };
        let mut map = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| s.expires_at > now);
        let mut mine: Vec<(DateTime<Utc>, String)> = map
            .iter()
            .filter(|(_, s)| s.user_id == user_id)
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
    pub fn touch(&self, token: &str, now: DateTime<Utc>) -> Option<BrowserSession> {
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

fn max_age(seconds: i64) -> cookie::time::Duration {
    cookie::time::Duration::seconds(seconds)
}

/// The session cookie: HttpOnly, SameSite=Strict, path `/`, Secure behind HTTPS.
pub fn session_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((COOKIE_NAME, token))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(max_age(IDLE_TIMEOUT.num_seconds()))
        .secure(secure)
        .build()
}

/// What `CookieJar::remove` needs to clear the session cookie (same name and path).
pub fn session_cookie_removal() -> Cookie<'static> {
    Cookie::build((COOKIE_NAME, ""))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .build()
}

/// The sign-in form's CSRF cookie: scoped to the form's path, an hour long.
pub fn login_csrf_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((LOGIN_CSRF_COOKIE, token))
        .path("/dashboard/login")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(max_age(LOGIN_CSRF_SECONDS))
        .secure(secure)
        .build()
}

/// A non-empty cookie value by name.
pub fn cookie_value(jar: &CookieJar, name: &str) -> Option<String> {
    jar.get(name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// The session token in a request's cookies.
pub fn session_token(jar: &CookieJar) -> Option<String> {
    cookie_value(jar, COOKIE_NAME)
}

/// Finds our cookie in one `Cookie` request header (the jar's own parsing).
pub fn token_from_cookie_header(header: &str) -> Option<String> {
    let mut headers = HeaderMap::new();
    headers.insert(header::COOKIE, HeaderValue::from_str(header).ok()?);
    session_token(&CookieJar::from_headers(&headers))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hash_is_stored_and_the_token_finds_the_session() {
        let store = SessionStore::default();
        let now = Utc::now();
        let (token, session) = store.create("u1", Uuid::nil(), now);
        assert_eq!(token.len(), 64);
        assert!(!store.stored_keys().contains(&token));
        assert_eq!(store.touch(&token, now).unwrap().user_id, "u1");
        assert_ne!(session.csrf, token);
        assert!(store.touch("nope", now).is_none());
    }

    #[test]
    fn sessions_expire_and_slide() {
        let store = SessionStore::default();
        let now = Utc::now();
        let (token, _) = store.create("u1", Uuid::nil(), now);
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
        let (a, _) = store.create("u1", Uuid::nil(), now);
        let (b, _) = store.create("u1", Uuid::nil(), now);
        let (c, _) = store.create("u2", Uuid::nil(), now);
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
        let (office, _) = store.create("street.office", Uuid::nil(), now);
        let mut mine = Vec::new();
        for i in 0..50 {
            mine.push(
                store
                    .create("flooder", Uuid::nil(), now + Duration::seconds(i))
                    .0,
            );
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
            Some("abc".to_owned())
        );
        assert_eq!(token_from_cookie_header("xuncha_session="), None);
        let c = session_cookie("t".into(), false).to_string();
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"));
        assert!(
            tokens_equal("abc", "abc") && !tokens_equal("abc", "abd") && !tokens_equal("a", "ab")
        );
    }
}
