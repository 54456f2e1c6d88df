-- +goose Up
-- Web sign-in (internal/web). An operator account has tenant_id ''; any other role belongs
-- to one tenant. password_hash is a bcrypt hash, '' for an account that signs in by link only.
CREATE TABLE web_accounts (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    tenant_id     TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- Sessions are kept by the SHA-256 of the cookie value, so a copy of the table signs no one
-- in. tenant_id is the tenant the session works on (an operator switches it).
CREATE TABLE web_sessions (
    id_hash    TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES web_accounts (id) ON DELETE CASCADE,
    tenant_id  TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

-- One-time sign-in links, by the SHA-256 of the token; used_at makes them single use.
CREATE TABLE web_login_links (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES web_accounts (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

-- +goose Down
DROP TABLE web_login_links;
DROP TABLE web_sessions;
DROP TABLE web_accounts;
