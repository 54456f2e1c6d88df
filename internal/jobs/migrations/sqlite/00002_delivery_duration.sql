-- +goose Up
-- How long each try took, and which manual resend it belongs to ('' for the original
-- delivery): a resend sends again to targets already delivered, under its own round.
ALTER TABLE jobs_delivery_log ADD COLUMN duration_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs_delivery_log ADD COLUMN resend TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE jobs_delivery_log DROP COLUMN resend;
ALTER TABLE jobs_delivery_log DROP COLUMN duration_ns;
