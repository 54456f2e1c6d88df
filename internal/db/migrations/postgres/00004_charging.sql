-- +goose Up
-- Minute pool use per tenant, month and pool key: seconds paid (used) and held by calls in
-- progress (held). The pool's size is not stored: it follows from the directory.
CREATE TABLE pool_usage (
    tenant_id TEXT NOT NULL,
    month     TEXT NOT NULL,
    kind      TEXT NOT NULL,
    plan      TEXT NOT NULL,
    country   TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    used      BIGINT NOT NULL,
    held      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, month, kind, plan, country, user_id)
);

-- Credits charged to each user's calls per month (the spend limit counts these).
CREATE TABLE user_spend (
    tenant_id TEXT NOT NULL,
    month     TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    amount    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, month, user_id)
);

-- Calls in progress: the authorization and what the call holds, as JSON (tenant.Call).
CREATE TABLE open_calls (
    tenant_id  TEXT NOT NULL,
    call_key   TEXT NOT NULL,
    body       TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, call_key)
);

-- The PSTN usage report: one row per call (domain §8). Money in minor units, times in
-- Unix nanoseconds.
CREATE TABLE usage (
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
    international      BIGINT NOT NULL,
    destination_dialed TEXT NOT NULL,
    destination_number TEXT NOT NULL,
    start_at           BIGINT NOT NULL,
    end_at             BIGINT NOT NULL,
    duration_seconds   BIGINT NOT NULL,
    connection_fee     BIGINT NOT NULL,
    charge             BIGINT NOT NULL,
    currency           TEXT NOT NULL,
    capability         TEXT NOT NULL,
    card_ref           TEXT NOT NULL,
    pool_seconds       BIGINT NOT NULL,
    review             TEXT NOT NULL,
    PRIMARY KEY (tenant_id, call_id, leg)
);
CREATE INDEX usage_by_start ON usage (tenant_id, start_at);

-- The blocked users report.
CREATE TABLE block_events (
    tenant_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    phone     TEXT NOT NULL,
    reason    TEXT NOT NULL,
    action    TEXT NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX block_events_by_time ON block_events (tenant_id, at);

-- Each user's current block state, to restore it.
CREATE TABLE block_states (
    tenant_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    reason    TEXT NOT NULL,
    since     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

-- Calls that were refused, with the reason.
CREATE TABLE refusals (
    tenant_id TEXT NOT NULL,
    call_id   TEXT NOT NULL,
    leg       TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    call_type TEXT NOT NULL,
    callee    TEXT NOT NULL,
    reason    TEXT NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX refusals_by_time ON refusals (tenant_id, at);

-- +goose Down
DROP TABLE refusals;
DROP TABLE block_states;
DROP TABLE block_events;
DROP TABLE usage;
DROP TABLE open_calls;
DROP TABLE user_spend;
DROP TABLE pool_usage;
