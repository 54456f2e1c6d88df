-- +goose Up
-- The ledger of each tenant. Money is in the currency's minor unit; times are Unix
-- nanoseconds (UTC), the same representation on every engine.
CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    currency   TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- One row per tenant: the balance and the running totals that reconcile it. version is
-- bumped by every committed batch and checked by the writer (optimistic concurrency).
CREATE TABLE accounts (
    tenant_id   TEXT PRIMARY KEY REFERENCES tenants(id),
    version     BIGINT NOT NULL,
    balance     BIGINT NOT NULL,
    debt        BIGINT NOT NULL,
    reserved    BIGINT NOT NULL,
    funded      BIGINT NOT NULL,
    charged     BIGINT NOT NULL,
    forfeited   BIGINT NOT NULL,
    adjusted    BIGINT NOT NULL,
    next_seq    BIGINT NOT NULL,
    next_lot_id BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE lots (
    tenant_id    TEXT NOT NULL,
    id           BIGINT NOT NULL,
    source       TEXT NOT NULL,
    ref          TEXT NOT NULL,
    amount       BIGINT NOT NULL,
    remaining    BIGINT NOT NULL,
    forfeited    BIGINT NOT NULL,
    purchased_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX lots_live ON lots (tenant_id, expires_at, id) WHERE remaining > 0;

CREATE TABLE reservations (
    tenant_id  TEXT NOT NULL,
    id         TEXT NOT NULL,
    amount     BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE ledger_entries (
    tenant_id      TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    kind           TEXT NOT NULL,
    amount         BIGINT NOT NULL,
    balance_before BIGINT NOT NULL,
    balance_after  BIGINT NOT NULL,
    at             BIGINT NOT NULL,
    lot_id         BIGINT NOT NULL,
    ref            TEXT NOT NULL,
    reason         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

-- Every acknowledged command with its idempotency key, stored in the transaction of its
-- effect: a replay returns result, a reuse with another command (hash) is refused.
CREATE TABLE commands (
    tenant_id TEXT NOT NULL,
    key       TEXT NOT NULL,
    kind      TEXT NOT NULL,
    hash      BYTEA NOT NULL,
    result    TEXT NOT NULL,
    at        BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

-- +goose Down
DROP TABLE commands;
DROP TABLE ledger_entries;
DROP TABLE reservations;
DROP TABLE lots;
DROP TABLE accounts;
DROP TABLE tenants;
