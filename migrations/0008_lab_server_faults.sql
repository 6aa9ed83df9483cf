-- +goose Up
-- The faults of each server as they were at its last change (a JSON list of
-- engine.Fault), kept by the recorder in the transaction of the server's
-- server-start and of each fault event that changes them, so that a server
-- started again after a restart comes back with its faults.
ALTER TABLE lab_servers ADD COLUMN faults TEXT;

-- +goose Down
ALTER TABLE lab_servers DROP COLUMN faults;
