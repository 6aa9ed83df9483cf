-- +goose Up
-- The lesson each session follows (POST /api/lessons/{id}/start, /start/{id}):
-- its progress is evaluated from the session's events, so only the choice of
-- lesson is stored.
CREATE TABLE session_lessons (
    session_id TEXT NOT NULL PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    lesson_id  TEXT NOT NULL
);

-- +goose Down
DROP TABLE session_lessons;
