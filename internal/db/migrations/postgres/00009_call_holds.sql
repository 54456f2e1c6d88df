-- +goose Up
-- A call in progress carries its own ledger reservation (res_expires_at 0: it holds none),
-- so that admitting a call writes one row instead of two. The reservations table keeps the
-- reservations made by ledger commands directly.
ALTER TABLE open_calls ADD COLUMN res_amount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE open_calls ADD COLUMN res_created_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE open_calls ADD COLUMN res_expires_at BIGINT NOT NULL DEFAULT 0;
UPDATE open_calls SET
    res_amount = (SELECT r.amount FROM reservations r WHERE r.tenant_id = open_calls.tenant_id AND r.id = open_calls.call_key),
    res_created_at = (SELECT r.created_at FROM reservations r WHERE r.tenant_id = open_calls.tenant_id AND r.id = open_calls.call_key),
    res_expires_at = (SELECT r.expires_at FROM reservations r WHERE r.tenant_id = open_calls.tenant_id AND r.id = open_calls.call_key)
WHERE EXISTS (SELECT 1 FROM reservations r WHERE r.tenant_id = open_calls.tenant_id AND r.id = open_calls.call_key);
DELETE FROM reservations WHERE EXISTS (SELECT 1 FROM open_calls c WHERE c.tenant_id = reservations.tenant_id AND c.call_key = reservations.id);

-- +goose Down
INSERT INTO reservations (tenant_id, id, amount, created_at, expires_at)
SELECT tenant_id, call_key, res_amount, res_created_at, res_expires_at FROM open_calls WHERE res_expires_at <> 0;
ALTER TABLE open_calls DROP COLUMN res_expires_at;
ALTER TABLE open_calls DROP COLUMN res_created_at;
ALTER TABLE open_calls DROP COLUMN res_amount;
