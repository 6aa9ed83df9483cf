// Package migrations holds the numbered SQL migrations of the sessions
// database. They are embedded in the binary and applied in order, each in its
// own transaction, by the sessions package at start (pressly/goose records
// what has been applied in its goose_db_version table). Never edit a released
// migration: add the next number.
//
// A migration that must run Go code is registered in sessions/migrate.go
// under its number instead of a file here: 2 moves events into chunks,
// because it re-encodes each row as the event JSON.
package migrations

import "embed"

// FS holds the *.sql migration files.
//
//go:embed *.sql
var FS embed.FS
