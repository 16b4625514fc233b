-- 0005: users, API keys and the tamper-evident audit log (issue 8: trust).
-- Users and keys change by appending a new version of their row; the audit log is appended only through
-- Store.append_audit, which holds a lock on audit_head while it chains entries by hash.

CREATE TABLE users (
    user_id text COLLATE "C",
    version bigint,
    name text COLLATE "C",
    roles text COLLATE "C",
    view_units text COLLATE "C",
    capture_units text COLLATE "C",
    active boolean,
    changed_at timestamp with time zone,
    changed_by text COLLATE "C"
);
CREATE INDEX users_user_id_version ON users (user_id, version);

CREATE TABLE api_keys (
    key_id text COLLATE "C",
    version bigint,
    user_id text COLLATE "C",
    secret_hash text COLLATE "C",
    label text COLLATE "C",
    created_at timestamp with time zone,
    expires_at timestamp with time zone,
    revoked_at timestamp with time zone,
    replaced_by text COLLATE "C",
    rate_per_s double precision,
    changed_at timestamp with time zone,
    changed_by text COLLATE "C"
);
CREATE INDEX api_keys_key_id_version ON api_keys (key_id, version);
CREATE INDEX api_keys_user_id ON api_keys (user_id);

CREATE TABLE audit_log (
    seq bigint,
    at timestamp with time zone,
    actor text COLLATE "C",
    action text COLLATE "C",
    target text COLLATE "C",
    outcome text COLLATE "C",
    ip text COLLATE "C",
    detail text COLLATE "C",
    prev_hash text COLLATE "C",
    hash text COLLATE "C"
);
CREATE INDEX audit_log_seq ON audit_log (seq);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor);
CREATE INDEX audit_log_action ON audit_log (action);

-- The last entry's sequence number and hash: appenders lock this row, and verification compares the log's
-- tail with it (a deleted tail is detected too).
CREATE TABLE audit_head (
    id integer PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL,
    hash text COLLATE "C" NOT NULL
);
INSERT INTO audit_head VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
