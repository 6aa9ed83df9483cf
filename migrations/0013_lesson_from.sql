-- +goose Up
-- The seq a session had when it began to follow its lesson: only the events
-- after it count for the steps. A lesson started in a session of its own
-- begins at 0; one a workshop participant starts in the session they already
-- work in begins after what they did before.
ALTER TABLE session_lessons ADD COLUMN from_seq INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE session_lessons DROP COLUMN from_seq;
