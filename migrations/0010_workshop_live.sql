-- +goose Up
-- The live parts of a workshop (issue 14, docs/workshop.md): frozen (no new
-- servers or clients), the instructor's broadcast message and when it was
-- sent (Unix nanoseconds, 0: none), the faults pushed to every participant
-- (a JSON list of sessions.WorkshopFault), which servers started later get
-- too, and the session shown to everyone.
ALTER TABLE workshops ADD COLUMN frozen     INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workshops ADD COLUMN message    TEXT    NOT NULL DEFAULT '';
ALTER TABLE workshops ADD COLUMN message_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workshops ADD COLUMN faults     TEXT    NOT NULL DEFAULT '[]';
-- The participant's session the instructor shows to everyone (''  none),
-- through a share link (shares.token) made for it.
ALTER TABLE workshops ADD COLUMN spotlight_session TEXT NOT NULL DEFAULT '';
ALTER TABLE workshops ADD COLUMN spotlight_token   TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE workshops DROP COLUMN spotlight_token;
ALTER TABLE workshops DROP COLUMN spotlight_session;
ALTER TABLE workshops DROP COLUMN faults;
ALTER TABLE workshops DROP COLUMN message_at;
ALTER TABLE workshops DROP COLUMN message;
ALTER TABLE workshops DROP COLUMN frozen;
