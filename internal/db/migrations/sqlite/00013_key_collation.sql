-- +goose Up
-- PostgreSQL's 00013 makes key columns compare bytewise (COLLATE "C"); SQLite's text
-- compares bytewise already (BINARY). The version only keeps the two dialects in step.
SELECT 1;

-- +goose Down
SELECT 1;
