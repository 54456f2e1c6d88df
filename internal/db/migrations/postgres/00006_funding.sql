-- +goose Up
-- Each tenant's auto-recharge and funding state (recharge.State as JSON).
CREATE TABLE recharge_state (
    tenant_id TEXT PRIMARY KEY,
    body      TEXT NOT NULL
);

-- Side effects to run after the commit that decided them (payment attempts, retries,
-- notifications), written in that commit. key deduplicates them per state change: a second
-- insert of a key is ignored.
CREATE TABLE outbox (
    tenant_id  TEXT NOT NULL,
    key        TEXT NOT NULL,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    done_at    BIGINT,
    PRIMARY KEY (tenant_id, key)
);

-- +goose Down
DROP TABLE outbox;
DROP TABLE recharge_state;
