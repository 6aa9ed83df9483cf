-- +goose Up
-- A session is a recorded workspace. Times are Unix nanoseconds (UTC).
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

-- Every socket event, numbered gaplessly per session by the recorder's single
-- writer (seq order is commit order).
CREATE TABLE events (
    session_id  TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    server      TEXT    NOT NULL DEFAULT '',
    conn        TEXT    NOT NULL DEFAULT '',
    local       TEXT    NOT NULL DEFAULT '',
    remote      TEXT    NOT NULL DEFAULT '',
    len         INTEGER NOT NULL DEFAULT 0,
    data        BLOB,
    truncated   INTEGER NOT NULL DEFAULT 0,
    errno       TEXT,
    err_message TEXT,
    err_hint    TEXT,
    meta        TEXT -- JSON object or NULL
);
CREATE UNIQUE INDEX events_session_seq ON events (session_id, seq);
-- Listing a session's servers and clients reads their lifecycle events.
CREATE INDEX events_session_kind ON events (session_id, kind) WHERE kind IN ('server-start', 'server-stop', 'connect');

-- +goose Down
DROP TABLE events;
DROP TABLE sessions;
