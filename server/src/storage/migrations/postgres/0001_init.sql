-- Xuncha server schema, PostgreSQL. Times are RFC 3339 UTC text (hashed audit entries must
-- round-trip byte for byte); bodies are JSONB.
CREATE TABLE sync_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    change_seq BIGINT NOT NULL,
    audit_seq BIGINT NOT NULL,
    audit_hash TEXT NOT NULL
);
INSERT INTO sync_head (id, change_seq, audit_seq, audit_hash) VALUES (1, 0, 0, '');

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL
);

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    refresh_hash TEXT NOT NULL,
    revoked_at TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices(id),
    expires_at TEXT NOT NULL
);
CREATE INDEX access_tokens_device ON access_tokens(device_id);

CREATE TABLE estates (id TEXT PRIMARY KEY, body JSONB NOT NULL, seq BIGINT NOT NULL);
CREATE TABLE units (id TEXT PRIMARY KEY, body JSONB NOT NULL, seq BIGINT NOT NULL);
CREATE TABLE routing_rules (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL, seq BIGINT NOT NULL);

CREATE TABLE cases (
    id TEXT PRIMARY KEY,
    estate_id TEXT NOT NULL,
    status TEXT NOT NULL,
    body JSONB NOT NULL,
    routing JSONB,
    dispatched_units JSONB NOT NULL,
    seq BIGINT NOT NULL
);
CREATE INDEX cases_seq ON cases(seq);

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    body_hash TEXT NOT NULL,
    body JSONB NOT NULL,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL
);
CREATE INDEX events_case_seq ON events(case_id, seq);

CREATE TABLE rejected_events (
    id TEXT PRIMARY KEY,
    body_hash TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL
);

CREATE TABLE photos (
    sha256 TEXT PRIMARY KEY,
    stored_sha256 TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    uploaded_by TEXT NOT NULL,
    device_id TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE photo_refs (sha256 TEXT NOT NULL, case_id TEXT NOT NULL, PRIMARY KEY (sha256, case_id));

-- Append-only: the trigger refuses edits; the hash chain catches anyone who drops it.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    entry TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
