// Package pgconv holds what every part of the PostgreSQL store shares:
// the translation of pgx errors to storage's sentinels, and the checks and
// conversions of Go values for PostgreSQL columns.
package pgconv

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/idvauth/idvauth/storage"
)

// TextOK reports whether v can be stored in a text column: PostgreSQL
// refuses NUL bytes and invalid UTF-8. A lookup of such a value finds
// nothing.
func TextOK(v string) bool {
	return utf8.ValidString(v) && strings.IndexByte(v, 0) < 0
}

// AllTextOK reports whether every value of every list passes TextOK.
func AllTextOK(vs ...[]string) bool {
	for _, l := range vs {
		for _, v := range l {
			if !TextOK(v) {
				return false
			}
		}
	}
	return true
}

// NonNil is s, or an empty list for a NOT NULL array column.
func NonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// NonNilBytes is b, or an empty slice for a NOT NULL bytea column.
func NonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// NullBytes is b, or NULL when empty.
func NullBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// NullTime is t, or NULL for the zero time.
func NullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// IsUniqueViolation reports whether err is PostgreSQL's unique_violation.
func IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// IsForeignKeyViolation reports whether err is PostgreSQL's
// foreign_key_violation.
func IsForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// MapErr translates pgx errors to storage sentinels, naming op; nil stays
// nil. The server's message is never kept: it may quote values.
func MapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("postgres: %s: %w", op, storage.ErrAlreadyExists)
		case "23503": // foreign_key_violation: the client is gone
			return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
		case "40001", "40P01": // serialization failure, deadlock
			return fmt.Errorf("postgres: %s: %w", op, storage.ErrConflict)
		}
		return fmt.Errorf("postgres: %s: database error %s", op, pe.Code)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// Affected is MapErr of err, or ErrNotFound when the statement changed no
// row.
func Affected(op string, tag pgconn.CommandTag, err error) error {
	if err != nil {
		return MapErr(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	return nil
}
