-- +goose Up
-- SQLite's 00012 turns usage and open_calls into rowid tables appended in arrival order.
-- PostgreSQL's tables are heaps already (rows in arrival order, the primary key an index
-- beside them): nothing to change, the version only keeps the two dialects in step.
SELECT 1;

-- +goose Down
SELECT 1;
