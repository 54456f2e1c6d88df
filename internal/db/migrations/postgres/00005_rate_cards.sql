-- +goose Up
-- Every imported rate card version, with the CSV it was imported from: a charge cites
-- (service, currency, version, row), so no version is ever changed or removed.
CREATE TABLE rate_cards (
    service     TEXT NOT NULL,
    currency    TEXT NOT NULL,
    version     BIGINT NOT NULL,
    imported_at BIGINT NOT NULL,
    digest      TEXT NOT NULL,
    rows        BIGINT NOT NULL,
    source      BYTEA NOT NULL,
    PRIMARY KEY (service, currency, version)
);

-- +goose Down
DROP TABLE rate_cards;
