-- +goose Up
-- Workshop participants' own blocks of lab ports (issue 14, docs/workshop.md):
-- one row per session that has a block, given at join; a deleted session's
-- row goes with it (and its block is free again). A block of a session whose
-- workshop ended or expired is handed to the next participant who needs one.
CREATE TABLE session_ports (
    session_id TEXT    PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    first_port INTEGER NOT NULL,
    last_port  INTEGER NOT NULL
);
CREATE INDEX session_ports_first ON session_ports (first_port);
-- "Open lab": the instructor lets the workshop's participants dial each
-- other's blocks (pair exercises).
ALTER TABLE workshops ADD COLUMN open_lab INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE workshops DROP COLUMN open_lab;
DROP TABLE session_ports;
