// Package migrations holds the numbered SQL migrations of the sessions
// database. They are embedded in the binary and applied in order, each in its
// own transaction, by the sessions package at start (pressly/goose records
// what has been applied in its goose_db_version table). Never edit a released
// migration: add the next number.
package migrations

import "embed"

// FS holds the *.sql migration files.
//
//go:embed *.sql
var FS embed.FS
