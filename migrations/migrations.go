// Package migrations holds idvauth's SQL schema migrations, embedded in
// the binary and applied in order by `idvauth migrate up` (through
// storage/postgres and github.com/jackc/tern/v2).
//
// Files are named NNN_what.sql; the part after the line
// "---- create above / drop below ----" undoes the migration.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
