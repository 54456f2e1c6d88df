-- +goose Up
-- One row per delivery attempt of a notification to one target ("email" or
-- "webhook:<endpoint id>"). A target with an ok row is never sent again for the
-- same dedup key, so a retried Notify job only resends what failed.
CREATE TABLE jobs_delivery_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key   TEXT    NOT NULL,
    tenant_id   TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    job_id      INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    ok          INTEGER NOT NULL,
    http_status INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    at          INTEGER NOT NULL -- unix nanoseconds
);
CREATE INDEX jobs_delivery_log_key ON jobs_delivery_log (dedup_key, target, ok);
CREATE INDEX jobs_delivery_log_tenant ON jobs_delivery_log (tenant_id, at);

-- +goose Down
DROP TABLE jobs_delivery_log;
