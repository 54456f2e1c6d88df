-- +goose Up
-- The ledger of each tenant. Money is in the currency's minor unit; times are Unix
-- nanoseconds (UTC), the same representation on every engine.
CREATE TABLE tenants (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    currency   TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- One row per tenant: the balance and the running totals that reconcile it. version is
-- bumped by every committed batch and checked by the writer (optimistic concurrency).
CREATE TABLE accounts (
    tenant_id   TEXT PRIMARY KEY NOT NULL REFERENCES tenants(id),
    version     INTEGER NOT NULL,
    balance     INTEGER NOT NULL,
    debt        INTEGER NOT NULL,
    reserved    INTEGER NOT NULL,
    funded      INTEGER NOT NULL,
    charged     INTEGER NOT NULL,
    forfeited   INTEGER NOT NULL,
    adjusted    INTEGER NOT NULL,
    next_seq    INTEGER NOT NULL,
    next_lot_id INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE lots (
    tenant_id    TEXT NOT NULL,
    id           INTEGER NOT NULL,
    source       TEXT NOT NULL,
    ref          TEXT NOT NULL,
    amount       INTEGER NOT NULL,
    remaining    INTEGER NOT NULL,
    forfeited    INTEGER NOT NULL,
    purchased_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX lots_live ON lots (tenant_id, expires_at, id) WHERE remaining > 0;

CREATE TABLE reservations (
    tenant_id  TEXT NOT NULL,
    id         TEXT NOT NULL,
    amount     INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE ledger_entries (
    tenant_id      TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    amount         INTEGER NOT NULL,
    balance_before INTEGER NOT NULL,
    balance_after  INTEGER NOT NULL,
    at             INTEGER NOT NULL,
    lot_id         INTEGER NOT NULL,
    ref            TEXT NOT NULL,
    reason         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
) STRICT, WITHOUT ROWID;

-- Every acknowledged command with its idempotency key, stored in the transaction of its
-- effect: a replay returns result, a reuse with another command (hash) is refused.
CREATE TABLE commands (
    tenant_id TEXT NOT NULL,
    key       TEXT NOT NULL,
    kind      TEXT NOT NULL,
    hash      BLOB NOT NULL,
    result    TEXT NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE commands;
DROP TABLE ledger_entries;
DROP TABLE reservations;
DROP TABLE lots;
DROP TABLE accounts;
DROP TABLE tenants;
