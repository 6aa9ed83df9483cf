-- +goose Up
-- Each session's error events, counted by the recorder in the transaction
-- that records them (sessions/recorder.go countErrors), so the workshop
-- dashboard reads who has errors from the sessions row instead of reading
-- events: the count of every error event, and the newest one (its error
-- JSON, {"errno","message","hint",...}, and its time in Unix nanoseconds).
ALTER TABLE sessions ADD COLUMN errors INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN last_error TEXT;
ALTER TABLE sessions ADD COLUMN last_error_at INTEGER NOT NULL DEFAULT 0;
-- Sessions recorded before: the count from the chunks' own error counts, the
-- newest error from the newest chunk that has one (its time to the
-- millisecond, which is what julianday keeps).
UPDATE sessions SET errors = COALESCE((SELECT SUM(c.errors) FROM event_chunks c WHERE c.session_id = sessions.id), 0);
UPDATE sessions SET (last_error, last_error_at) = (
    SELECT json_extract(e.value, '$.err'),
           CAST(ROUND((julianday(json_extract(e.value, '$.at')) - 2440587.5) * 86400000) AS INTEGER) * 1000000
    FROM (SELECT c.first_seq, c.events FROM event_chunks c
          WHERE c.session_id = sessions.id AND c.errors > 0 ORDER BY c.last_seq DESC LIMIT 1) AS c,
         json_each(sockplay_events(c.first_seq, c.events)) AS e
    WHERE json_extract(e.value, '$.err') IS NOT NULL
    ORDER BY e.key DESC LIMIT 1)
WHERE errors > 0;

-- +goose Down
ALTER TABLE sessions DROP COLUMN last_error_at;
ALTER TABLE sessions DROP COLUMN last_error;
ALTER TABLE sessions DROP COLUMN errors;
