-- +goose Up
-- Read-only share links of a session: whoever holds a token may watch the
-- session (live and recorded) and export it, nothing else. token is 128
-- random bits (base32); revoked_at (Unix nanoseconds) is set when the owner
-- revokes it, and a revoked token answers like one that never existed.
CREATE TABLE shares (
    token      TEXT    PRIMARY KEY,
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX shares_session ON shares (session_id);

-- +goose Down
DROP TABLE shares;
