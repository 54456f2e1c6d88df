-- +goose Up
-- A call ended by a settle or a CDR with a usage row keeps its idempotency record in that
-- row instead of a commands row (one row less per booked CDR): cmd_hash is the command's
-- hash, cmd_result its result in the writer's binary form. Rows written before this
-- migration have both empty; their records stay in commands, where lookups still find them.
ALTER TABLE usage ADD COLUMN cmd_hash BLOB NOT NULL DEFAULT x'';
ALTER TABLE usage ADD COLUMN cmd_result BLOB NOT NULL DEFAULT x'';

-- +goose Down
-- The records kept in usage rows have no commands row: the down migration loses them.
ALTER TABLE usage DROP COLUMN cmd_result;
ALTER TABLE usage DROP COLUMN cmd_hash;
