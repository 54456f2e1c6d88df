-- +goose Up
-- A key "call:<call id>/<leg>" in which neither holds a "/" names one call: its idempotency
-- record (whatever command used the key: a settle, a CDR, a release) is kept in that call's
-- usage row instead of a commands row, so a booked CDR writes one row less and the usage
-- primary key alone keeps one record per key. cmd_kind and cmd_hash are the command's,
-- cmd_result its result (the writer's binary form, or the JSON of the commands table). A
-- command that ended the call without a usage row (a release, zero seconds) gets a row of
-- its own with duration_seconds 0, which no report lists: a real call has seconds.
ALTER TABLE usage ADD COLUMN cmd_kind TEXT NOT NULL DEFAULT '';
ALTER TABLE usage ADD COLUMN cmd_hash BLOB NOT NULL DEFAULT x'';
ALTER TABLE usage ADD COLUMN cmd_result BLOB NOT NULL DEFAULT x'';

-- Rows that only keep a record stay out of the reports' index (the reports filter on
-- duration_seconds > 0, which lets both engines use it). Rebuilding it takes a while on a
-- large usage table, once.
DROP INDEX usage_by_start;
CREATE INDEX usage_by_start ON usage (tenant_id, start_at) WHERE duration_seconds > 0;

-- The records already kept under such keys move.
CREATE TEMP TABLE call_records AS
SELECT tenant_id, key, kind, hash, result,
    substr(key, 6, instr(substr(key, 6), '/') - 1) AS call_id,
    substr(key, 6 + instr(substr(key, 6), '/')) AS leg
FROM commands
WHERE substr(key, 1, 5) = 'call:' AND instr(substr(key, 6), '/') > 0
    AND instr(substr(key, 6 + instr(substr(key, 6), '/')), '/') = 0;
UPDATE usage SET cmd_kind = c.kind, cmd_hash = c.hash, cmd_result = CAST(c.result AS BLOB)
FROM call_records c WHERE c.tenant_id = usage.tenant_id AND c.call_id = usage.call_id AND c.leg = usage.leg;
INSERT INTO usage (tenant_id, call_id, leg, conference_id, user_location, user_id, upn, display_name, caller_id,
    call_type, number_type, international, destination_dialed, destination_number, start_at, end_at,
    duration_seconds, connection_fee, charge, currency, capability, card_ref, pool_seconds, review,
    cmd_kind, cmd_hash, cmd_result)
SELECT tenant_id, call_id, leg, '', '', '', '', '', '', '', '', 0, '', '', 0, 0, 0, 0, 0, '', '', '', 0, '',
    kind, hash, CAST(result AS BLOB)
FROM call_records c
WHERE NOT EXISTS (SELECT 1 FROM usage u WHERE u.tenant_id = c.tenant_id AND u.call_id = c.call_id AND u.leg = c.leg);
DELETE FROM commands WHERE (tenant_id, key) IN (SELECT tenant_id, key FROM call_records);
DROP TABLE call_records;

-- +goose Down
-- A record in the binary form goes back as text the earlier writer cannot read: a replay of
-- its call fails instead of answering, but its key still refuses a second charge.
INSERT INTO commands (tenant_id, key, kind, hash, result, at)
SELECT tenant_id, 'call:' || call_id || '/' || leg, cmd_kind, cmd_hash,
    CAST(cmd_result AS TEXT), 0
FROM usage WHERE length(cmd_hash) > 0;
DELETE FROM usage WHERE duration_seconds = 0;
DROP INDEX usage_by_start;
CREATE INDEX usage_by_start ON usage (tenant_id, start_at);
ALTER TABLE usage DROP COLUMN cmd_result;
ALTER TABLE usage DROP COLUMN cmd_hash;
ALTER TABLE usage DROP COLUMN cmd_kind;
