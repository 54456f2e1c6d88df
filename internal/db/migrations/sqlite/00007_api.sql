-- +goose Up
-- API keys: only the SHA-256 of the secret is kept (the secret is shown once). tenant_id is
-- '' for operator keys.
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY NOT NULL,
    tenant_id  TEXT NOT NULL,
    role       TEXT NOT NULL,
    name       TEXT NOT NULL,
    hash       BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

-- Stored responses of POSTs that do not go through the writer (create tenant, create key,
-- rate card upload), under the caller's Idempotency-Key. scope is the key's tenant or
-- "operator"; request_hash covers method, path and body.
CREATE TABLE api_responses (
    scope        TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    status       INTEGER NOT NULL,
    body         BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, idem_key)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE api_responses;
DROP TABLE api_keys;
