-- Issue 11 (auth hardening). Times are RFC 3339 UTC text with microseconds, like 0001.
-- Refresh tokens rotate on every refresh: the replaced ones are kept (hash only) so that one
-- coming back is recognised as reuse and revokes its device (credentials::decide_refresh).
-- retry_allowed: 1 while the token may be sent once more within the grace (a lost answer); 0
-- once that retry happened, and for a token replaced before it was ever delivered.
CREATE TABLE spent_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices(id),
    spent_at TEXT NOT NULL,
    retry_allowed INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX spent_refresh_tokens_device ON spent_refresh_tokens(device_id, spent_at);

-- Failed sign-ins per account and client address (credentials::LockoutPolicy). The username is
-- what was typed, cut to 100 characters; unknown accounts are tracked like real ones.
CREATE TABLE login_failures (
    username TEXT NOT NULL,
    client TEXT NOT NULL,
    failures INTEGER NOT NULL,
    last_failed_at TEXT NOT NULL,
    locked_until TEXT,
    PRIMARY KEY (username, client)
);
CREATE INDEX login_failures_last ON login_failures(last_failed_at);

-- Per-user device cap: the user's active devices, oldest first.
CREATE INDEX devices_user_active ON devices(user_id, created_at);
