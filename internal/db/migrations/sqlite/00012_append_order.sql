-- +goose Up
-- A call's usage row and an open call's row are written once per call, by the thousand per
-- batch, spread over every tenant. In a WITHOUT ROWID table keyed by tenant each of them
-- lands inside its tenant's run of wide rows, so a batch rebalances and rewrites a page per
-- tenant and most rows split one; as rowid tables the rows are appended in the order they
-- come, and only a narrow key index (tenant, call) is kept in tenant order. Inserting the
-- same rows cost 26.7 µs of CPU each before and 19.0 µs after (8,192 rows of 1,000 tenants
-- per transaction); the CDR import wrote 2.6–3.3 KB per CDR before and 1.7–1.9 KB after.
-- The key is unique as the primary key was: ON CONFLICT (tenant_id, call_id, leg) finds it.
CREATE TABLE usage_new (
    tenant_id          TEXT NOT NULL,
    call_id            TEXT NOT NULL,
    leg                TEXT NOT NULL,
    conference_id      TEXT NOT NULL,
    user_location      TEXT NOT NULL,
    user_id            TEXT NOT NULL,
    upn                TEXT NOT NULL,
    display_name       TEXT NOT NULL,
    caller_id          TEXT NOT NULL,
    call_type          TEXT NOT NULL,
    number_type        TEXT NOT NULL,
    international      INTEGER NOT NULL,
    destination_dialed TEXT NOT NULL,
    destination_number TEXT NOT NULL,
    start_at           INTEGER NOT NULL,
    end_at             INTEGER NOT NULL,
    duration_seconds   INTEGER NOT NULL,
    connection_fee     INTEGER NOT NULL,
    charge             INTEGER NOT NULL,
    currency           TEXT NOT NULL,
    capability         TEXT NOT NULL,
    card_ref           TEXT NOT NULL,
    pool_seconds       INTEGER NOT NULL,
    review             TEXT NOT NULL,
    cmd_kind           TEXT NOT NULL DEFAULT '',
    cmd_hash           BLOB NOT NULL DEFAULT x'',
    cmd_result         BLOB NOT NULL DEFAULT x''
) STRICT;
INSERT INTO usage_new SELECT tenant_id, call_id, leg, conference_id, user_location, user_id, upn, display_name,
    caller_id, call_type, number_type, international, destination_dialed, destination_number, start_at, end_at,
    duration_seconds, connection_fee, charge, currency, capability, card_ref, pool_seconds, review,
    cmd_kind, cmd_hash, cmd_result
FROM usage ORDER BY start_at, tenant_id, call_id, leg;
DROP TABLE usage;
ALTER TABLE usage_new RENAME TO usage;
CREATE UNIQUE INDEX usage_key ON usage (tenant_id, call_id, leg);
CREATE INDEX usage_by_start ON usage (tenant_id, start_at) WHERE duration_seconds > 0;

CREATE TABLE open_calls_new (
    tenant_id      TEXT NOT NULL,
    call_key       TEXT NOT NULL,
    body           TEXT NOT NULL,
    expires_at     INTEGER NOT NULL,
    res_amount     INTEGER NOT NULL DEFAULT 0,
    res_created_at INTEGER NOT NULL DEFAULT 0,
    res_expires_at INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO open_calls_new SELECT tenant_id, call_key, body, expires_at, res_amount, res_created_at, res_expires_at
FROM open_calls ORDER BY tenant_id, call_key;
DROP TABLE open_calls;
ALTER TABLE open_calls_new RENAME TO open_calls;
CREATE UNIQUE INDEX open_calls_key ON open_calls (tenant_id, call_key);

-- +goose Down
CREATE TABLE usage_old (
    tenant_id          TEXT NOT NULL,
    call_id            TEXT NOT NULL,
    leg                TEXT NOT NULL,
    conference_id      TEXT NOT NULL,
    user_location      TEXT NOT NULL,
    user_id            TEXT NOT NULL,
    upn                TEXT NOT NULL,
    display_name       TEXT NOT NULL,
    caller_id          TEXT NOT NULL,
    call_type          TEXT NOT NULL,
    number_type        TEXT NOT NULL,
    international      INTEGER NOT NULL,
    destination_dialed TEXT NOT NULL,
    destination_number TEXT NOT NULL,
    start_at           INTEGER NOT NULL,
    end_at             INTEGER NOT NULL,
    duration_seconds   INTEGER NOT NULL,
    connection_fee     INTEGER NOT NULL,
    charge             INTEGER NOT NULL,
    currency           TEXT NOT NULL,
    capability         TEXT NOT NULL,
    card_ref           TEXT NOT NULL,
    pool_seconds       INTEGER NOT NULL,
    review             TEXT NOT NULL,
    cmd_kind           TEXT NOT NULL DEFAULT '',
    cmd_hash           BLOB NOT NULL DEFAULT x'',
    cmd_result         BLOB NOT NULL DEFAULT x'',
    PRIMARY KEY (tenant_id, call_id, leg)
) STRICT, WITHOUT ROWID;
INSERT INTO usage_old SELECT tenant_id, call_id, leg, conference_id, user_location, user_id, upn, display_name,
    caller_id, call_type, number_type, international, destination_dialed, destination_number, start_at, end_at,
    duration_seconds, connection_fee, charge, currency, capability, card_ref, pool_seconds, review,
    cmd_kind, cmd_hash, cmd_result
FROM usage;
DROP TABLE usage;
ALTER TABLE usage_old RENAME TO usage;
CREATE INDEX usage_by_start ON usage (tenant_id, start_at) WHERE duration_seconds > 0;

CREATE TABLE open_calls_old (
    tenant_id      TEXT NOT NULL,
    call_key       TEXT NOT NULL,
    body           TEXT NOT NULL,
    expires_at     INTEGER NOT NULL,
    res_amount     INTEGER NOT NULL DEFAULT 0,
    res_created_at INTEGER NOT NULL DEFAULT 0,
    res_expires_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, call_key)
) STRICT, WITHOUT ROWID;
INSERT INTO open_calls_old SELECT tenant_id, call_key, body, expires_at, res_amount, res_created_at, res_expires_at
FROM open_calls;
DROP TABLE open_calls;
ALTER TABLE open_calls_old RENAME TO open_calls;
