-- +goose Up
-- Workshop mode (issue 14): an instructor runs workshops; a participant joins
-- one with its code and gets a session of their own. Times are Unix
-- nanoseconds (UTC); expires_at and ended_at are 0 when not set.
CREATE TABLE workshops (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL DEFAULT '',
    code       TEXT    NOT NULL UNIQUE, -- the join code without its dash: K7PQ2M
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL DEFAULT 0,
    ended_at   INTEGER NOT NULL DEFAULT 0
);

-- A participant is one browser that joined a workshop. token_hash is the
-- SHA-256 (hex) of the participant cookie's value: the cookie itself is never
-- stored. session_id is the session the participant returns to on rejoining.
CREATE TABLE participants (
    id          TEXT    PRIMARY KEY,
    workshop_id TEXT    NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    token_hash  TEXT    NOT NULL UNIQUE,
    session_id  TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);
CREATE INDEX participants_workshop ON participants (workshop_id, created_at);

-- Who a session belongs to: '' is the person at the laptop (workshop mode
-- off), a participant's id, or 'instructor'.
ALTER TABLE sessions ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_owner ON sessions (owner, created_at, id);

-- +goose Down
DROP INDEX sessions_owner;
ALTER TABLE sessions DROP COLUMN owner;
DROP TABLE participants;
DROP TABLE workshops;
