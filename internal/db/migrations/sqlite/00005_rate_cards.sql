-- +goose Up
-- Every imported rate card version, with the CSV it was imported from: a charge cites
-- (service, currency, version, row), so no version is ever changed or removed.
CREATE TABLE rate_cards (
    service     TEXT NOT NULL,
    currency    TEXT NOT NULL,
    version     INTEGER NOT NULL,
    imported_at INTEGER NOT NULL,
    digest      TEXT NOT NULL,
    rows        INTEGER NOT NULL,
    source      BLOB NOT NULL,
    PRIMARY KEY (service, currency, version)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE rate_cards;
