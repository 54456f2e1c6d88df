-- +goose Up
-- A tenant's billing contacts (directory.Contact): who gets the billing emails.
CREATE TABLE billing_contacts (
    tenant_id TEXT NOT NULL,
    email     TEXT NOT NULL,
    name      TEXT NOT NULL,
    position  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, email)
) STRICT, WITHOUT ROWID;

-- A tenant's webhook endpoints (directory.Webhook). events: comma-separated notify types,
-- '' for every event. secret signs deliveries; it is never listed back to the admin.
CREATE TABLE webhooks (
    tenant_id TEXT NOT NULL,
    id        TEXT NOT NULL,
    url       TEXT NOT NULL,
    secret    TEXT NOT NULL,
    events    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT, WITHOUT ROWID;

-- One receipt (card) or invoice (enterprise agreement) per funding transaction, written in
-- the transaction that creates its lot. number is unique per tenant.
CREATE TABLE receipts (
    tenant_id      TEXT NOT NULL,
    number         TEXT NOT NULL,
    kind           TEXT NOT NULL,
    purpose        TEXT NOT NULL,
    attempt_id     TEXT NOT NULL,
    amount         INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    method         TEXT NOT NULL,
    method_summary TEXT NOT NULL,
    agreement      TEXT NOT NULL,
    purchase_order TEXT NOT NULL,
    payment_id     TEXT NOT NULL,
    lot_id         INTEGER NOT NULL,
    issued_at      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, number)
) STRICT, WITHOUT ROWID;

-- When the tenant next has a time-driven notice due (funds expiring, card expiring), unix
-- nanoseconds; 0: none. The sweep ticks tenants whose time has come.
ALTER TABLE recharge_state ADD COLUMN next_notice INTEGER NOT NULL DEFAULT 0;
CREATE INDEX recharge_state_next_notice ON recharge_state (next_notice) WHERE next_notice > 0;

-- +goose Down
DROP INDEX recharge_state_next_notice;
ALTER TABLE recharge_state DROP COLUMN next_notice;
DROP TABLE receipts;
DROP TABLE webhooks;
DROP TABLE billing_contacts;
