-- +goose Up
-- The tenant directory (internal/directory): what calls are priced with. Written from
-- directory.Changes by the writer in the transaction of the command that changed it.
CREATE TABLE tenant_settings (
    tenant_id       TEXT PRIMARY KEY,
    billing_country TEXT NOT NULL
);

-- Users and resource accounts (kind). number is the assigned E.164 number without "+" or
-- ''; spend_limit is in the tenant currency's minor unit (0 = none); the flag is 0 or 1.
CREATE TABLE users (
    tenant_id                  TEXT NOT NULL,
    id                         TEXT NOT NULL,
    display_name               TEXT NOT NULL,
    upn                        TEXT NOT NULL,
    kind                       TEXT NOT NULL,
    usage_location             TEXT NOT NULL,
    number                     TEXT NOT NULL,
    conf_dial_out              TEXT NOT NULL,
    pstn_policy                TEXT NOT NULL,
    spend_limit                BIGINT NOT NULL,
    toll_free_dial_in_disabled BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- One row per licence held, so that reports can filter by capability and join by user.
CREATE TABLE user_licences (
    tenant_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    code      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, code)
);
CREATE INDEX user_licences_by_code ON user_licences (tenant_id, code, user_id);

-- The tenant's numbers: kind 'user' or 'service', service 'toll', 'toll_free' or '';
-- assigned_to a user or resource account id, 'bridge', or ''.
CREATE TABLE numbers (
    tenant_id   TEXT NOT NULL,
    e164        TEXT NOT NULL,
    country     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    service     TEXT NOT NULL,
    assigned_to TEXT NOT NULL,
    PRIMARY KEY (tenant_id, e164)
);

-- Licences bought per code (the dial-out pool's "purchased" basis); no row means 0.
CREATE TABLE purchased_licences (
    tenant_id TEXT NOT NULL,
    code      TEXT NOT NULL,
    count     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, code)
);

-- +goose Down
DROP TABLE purchased_licences;
DROP TABLE numbers;
DROP TABLE user_licences;
DROP TABLE users;
DROP TABLE tenant_settings;
