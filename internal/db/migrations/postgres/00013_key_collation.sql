-- +goose Up
-- Every text column that a key or an index holds compares bytewise (COLLATE "C"), whatever
-- the database's locale. They hold identifiers (tenant, call, user, key, plan and country
-- codes), never words to sort for a reader: a locale's collation (en_US.UTF-8, even
-- C.UTF-8) makes each comparison in a B-tree a strcoll call, and a cluster created with
-- such a locale booked CDRs at 16,500/s where one with --locale=C booked 38,600/s (COPY
-- into usage 10.4 s against 4.0 s of server time for 200,000 rows). Bytewise order is also
-- SQLite's, so both engines list rows in the same order. Changing a column's collation
-- rewrites its indexes, not the table.
ALTER TABLE accounts
    ALTER COLUMN tenant_id TYPE text COLLATE "C";
ALTER TABLE api_keys
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN tenant_id TYPE text COLLATE "C";
ALTER TABLE api_responses
    ALTER COLUMN scope TYPE text COLLATE "C",
    ALTER COLUMN idem_key TYPE text COLLATE "C";
ALTER TABLE billing_contacts
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN email TYPE text COLLATE "C";
ALTER TABLE block_events
    ALTER COLUMN tenant_id TYPE text COLLATE "C";
ALTER TABLE block_states
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN user_id TYPE text COLLATE "C";
ALTER TABLE commands
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN key TYPE text COLLATE "C";
ALTER TABLE ledger_entries
    ALTER COLUMN tenant_id TYPE text COLLATE "C";
ALTER TABLE lots
    ALTER COLUMN tenant_id TYPE text COLLATE "C";
ALTER TABLE numbers
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN e164 TYPE text COLLATE "C";
ALTER TABLE open_calls
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN call_key TYPE text COLLATE "C";
ALTER TABLE outbox
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN key TYPE text COLLATE "C";
ALTER TABLE pool_usage
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN month TYPE text COLLATE "C",
    ALTER COLUMN kind TYPE text COLLATE "C",
    ALTER COLUMN plan TYPE text COLLATE "C",
    ALTER COLUMN country TYPE text COLLATE "C",
    ALTER COLUMN user_id TYPE text COLLATE "C";
ALTER TABLE purchased_licences
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN code TYPE text COLLATE "C";
ALTER TABLE rate_cards
    ALTER COLUMN service TYPE text COLLATE "C",
    ALTER COLUMN currency TYPE text COLLATE "C";
ALTER TABLE receipts
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN number TYPE text COLLATE "C";
ALTER TABLE recharge_state
    ALTER COLUMN tenant_id TYPE text COLLATE "C";
ALTER TABLE refusals
    ALTER COLUMN tenant_id TYPE text COLLATE "C";
ALTER TABLE reservations
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE service_meta
    ALTER COLUMN key TYPE text COLLATE "C";
ALTER TABLE tenant_settings
    ALTER COLUMN tenant_id TYPE text COLLATE "C";
ALTER TABLE tenants
    ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE usage
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN call_id TYPE text COLLATE "C",
    ALTER COLUMN leg TYPE text COLLATE "C";
ALTER TABLE user_licences
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN user_id TYPE text COLLATE "C",
    ALTER COLUMN code TYPE text COLLATE "C";
ALTER TABLE user_spend
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN month TYPE text COLLATE "C",
    ALTER COLUMN user_id TYPE text COLLATE "C";
ALTER TABLE users
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE web_accounts
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN email TYPE text COLLATE "C";
ALTER TABLE web_login_links
    ALTER COLUMN token_hash TYPE text COLLATE "C";
ALTER TABLE web_sessions
    ALTER COLUMN id_hash TYPE text COLLATE "C";
ALTER TABLE webhooks
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN id TYPE text COLLATE "C";

-- +goose Down
ALTER TABLE accounts
    ALTER COLUMN tenant_id TYPE text COLLATE "default";
ALTER TABLE api_keys
    ALTER COLUMN id TYPE text COLLATE "default",
    ALTER COLUMN tenant_id TYPE text COLLATE "default";
ALTER TABLE api_responses
    ALTER COLUMN scope TYPE text COLLATE "default",
    ALTER COLUMN idem_key TYPE text COLLATE "default";
ALTER TABLE billing_contacts
    ALTER COLUMN tenant_id TYPE text COLLATE "default",
    ALTER COLUMN email TYPE text COLLATE "default";
ALTER TABLE block_events
    ALTER COLUMN tenant_id TYPE text COLLATE "default";
ALTER TABLE block_states
    ALTER COLUMN tenant_id TYPE text COLLATE "default",
    ALTER COLUMN user_id TYPE text COLLATE "default";
ALTER TABLE commands
    ALTER COLUMN tenant_id TYPE text COLLATE "default",
    ALTER COLUMN key TYPE text COLLATE "default";
ALTER TABLE ledger_entries
    ALTER COLUMN tenant_id TYPE text COLLATE "default";
ALTER TABLE lots
    ALTER COLUMN tenant_id TYPE text COLLATE "default";
ALTER TABLE numbers
    ALTER COLUMN tenant_id TYPE text COLLATE "default",
    ALTER COLUMN e164 TYPE text COLLATE "default";
ALTER TABLE open_calls
    ALTER COLUMN tenant_id TYPE text COLLATE "default",
    ALTER COLUMN call_key TYPE text COLLATE "default";
ALTER TABLE outbox
    ALTER COLUMN tenant_id TYPE text COLLATE "default",
    ALTER COLUMN key TYPE text COLLATE "default";
ALTER TABLE pool_usage
    ALTER COLUMN tenant_id TYPE text COLLATE "default",
    ALTER COLUMN month TYPE text COLLATE "default",
    ALTER COLUMN kind TYPE text COLLATE "default",
    ALTER COLUMN plan TYPE text COLLATE "default",
    ALTER COLUMN country TYPE text COLLATE "default",
    ALTER COLUMN user_id TYPE text COLLATE "default";
ALTER TABLE purchased_licences
    ALTER COLUMN tenant_id TYPE text COLLATE "default",
    ALTER COLUMN code TYPE text COLLATE "default";
ALTER TABLE rate_cards
    ALTER COLUMN service TYPE text COLLATE "default",
    ALTER COLUMN currency TYPE text COLLATE "default";
ALTER TABLE receipts
    ALTER COLUMN tenant_id TYPE text COLLATE "default",
    ALTER COLUMN number TYPE text COLLATE "default";
ALTER TABLE recharge_state
    ALTER COLUMN tenant_id TYPE text COLLATE "default";
ALTER TABLE refusals
    ALTER COLUMN tenant_id TYPE text COLLATE "default";
ALTER TABLE reservations
    ALTER COLUMN tenant_id TYPE text COLLATE "default",
    ALTER COLUMN id TYPE text COLLATE "default";
ALTER TABLE service_meta
    ALTER COLUMN key TYPE text COLLATE "default";
ALTER TABLE tenant_settings
    ALTER COLUMN tenant_id TYPE text COLLATE "default";
ALTER TABLE tenants
    ALTER COLUMN id TYPE text COLLATE "default";
ALTER TABLE usage
    ALTER COLUMN tenant_id TYPE text COLLATE "default",
    ALTER COLUMN call_id TYPE text COLLATE "default",
    ALTER COLUMN leg TYPE text COLLATE "default";
ALTER TABLE user_licences
    ALTER COLUMN tenant_id TYPE text COLLATE "default",
    ALTER COLUMN user_id TYPE text COLLATE "default",
    ALTER COLUMN code TYPE text COLLATE "default";
ALTER TABLE user_spend
    ALTER COLUMN tenant_id TYPE text COLLATE "default",
    ALTER COLUMN month TYPE text COLLATE "default",
    ALTER COLUMN user_id TYPE text COLLATE "default";
ALTER TABLE users
    ALTER COLUMN tenant_id TYPE text COLLATE "default",
    ALTER COLUMN id TYPE text COLLATE "default";
ALTER TABLE web_accounts
    ALTER COLUMN id TYPE text COLLATE "default",
    ALTER COLUMN email TYPE text COLLATE "default";
ALTER TABLE web_login_links
    ALTER COLUMN token_hash TYPE text COLLATE "default";
ALTER TABLE web_sessions
    ALTER COLUMN id_hash TYPE text COLLATE "default";
ALTER TABLE webhooks
    ALTER COLUMN tenant_id TYPE text COLLATE "default",
    ALTER COLUMN id TYPE text COLLATE "default";
