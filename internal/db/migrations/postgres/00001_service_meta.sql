-- +goose Up
-- service_meta holds small key/value facts about this installation
-- (e.g. when it was created). It exists first of all so that the
-- migration mechanism itself is exercised on every open.
CREATE TABLE service_meta (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE service_meta;
