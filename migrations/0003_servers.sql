-- +goose Up
-- The servers of each session that sockplay starts again when it restarts:
-- a row per server ever started, kept by the recorder in the transaction
-- that commits the server's server-start and server-stop events. running is
-- 1 from its start until a server-stop for any reason but a shutdown, so a
-- server that was running when sockplay stopped (or crashed) comes back on
-- its port.
CREATE TABLE lab_servers (
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    server_id  TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    name       TEXT    NOT NULL DEFAULT '',
    port       INTEGER NOT NULL,
    options    TEXT,             -- JSON object: the options with their defaults filled in
    running    INTEGER NOT NULL,
    PRIMARY KEY (session_id, server_id)
);
CREATE INDEX lab_servers_running ON lab_servers (running) WHERE running = 1;

-- Events now say their transport (tcp, udp, tls); the view shows it.
DROP VIEW events;
CREATE VIEW events AS
SELECT c.session_id                               AS session_id,
       c.first_seq + e.key                        AS seq,
       json_extract(e.value, '$.at')              AS at,
       json_extract(e.value, '$.kind')            AS kind,
       json_extract(e.value, '$.net')             AS net,
       json_extract(e.value, '$.server')          AS server,
       json_extract(e.value, '$.conn')            AS conn,
       json_extract(e.value, '$.local')           AS local,
       json_extract(e.value, '$.remote')          AS remote,
       json_extract(e.value, '$.len')             AS len,
       json_extract(e.value, '$.data')            AS data, -- base64
       json_extract(e.value, '$.truncated')       AS truncated,
       json_extract(e.value, '$.err.errno')       AS errno,
       json_extract(e.value, '$.err.message')     AS err_message,
       json_extract(e.value, '$.err.hint')        AS err_hint,
       json_extract(e.value, '$.meta')            AS meta,
       e.value                                    AS event
FROM event_chunks AS c, json_each(c.events) AS e;

-- +goose Down
DROP TABLE lab_servers;
DROP VIEW events;
CREATE VIEW events AS
SELECT c.session_id                               AS session_id,
       c.first_seq + e.key                        AS seq,
       json_extract(e.value, '$.at')              AS at,
       json_extract(e.value, '$.kind')            AS kind,
       json_extract(e.value, '$.server')          AS server,
       json_extract(e.value, '$.conn')            AS conn,
       json_extract(e.value, '$.local')           AS local,
       json_extract(e.value, '$.remote')          AS remote,
       json_extract(e.value, '$.len')             AS len,
       json_extract(e.value, '$.data')            AS data, -- base64
       json_extract(e.value, '$.truncated')       AS truncated,
       json_extract(e.value, '$.err.errno')       AS errno,
       json_extract(e.value, '$.err.message')     AS err_message,
       json_extract(e.value, '$.err.hint')        AS err_hint,
       json_extract(e.value, '$.meta')            AS meta,
       e.value                                    AS event
FROM event_chunks AS c, json_each(c.events) AS e;
