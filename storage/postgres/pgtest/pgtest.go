// Package pgtest gives tests a fresh, migrated PostgreSQL schema.
//
// Tests that need PostgreSQL call URL. Without IDVAUTH_TEST_DATABASE_URL
// they skip, saying how to run them; with IDVAUTH_TEST_REQUIRE_POSTGRES=1
// (set by .ci/run) they fail instead.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idvauth/idvauth/storage/postgres"
)

// EnvURL names the variable with the test database URL.
const EnvURL = "IDVAUTH_TEST_DATABASE_URL"

// skipped counts the tests of this test binary that skipped for want of
// EnvURL, for Main. It is the one mutable package variable: a test binary
// is one process, and its tests share it.
var skipped atomic.Int64

// Main runs the tests of m, for a package's TestMain, and ends the run
// with one line saying how many PostgreSQL tests skipped and why: 'go
// test ./...' shows only "ok" for a package whose tests skipped. The line
// goes to the terminal (/dev/tty) when there is one, since go test hides
// the output of passing packages; to stderr otherwise (go test -v).
func Main(m *testing.M) int {
	code := m.Run()
	if n := skipped.Load(); n > 0 {
		w := io.Writer(os.Stderr)
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			defer tty.Close()
			w = tty
		}
		Report(w, n)
	}
	return code
}

// Report writes the line of Main about n skipped PostgreSQL tests.
func Report(w io.Writer, n int64) {
	pkg := "this package"
	if len(os.Args) > 0 {
		pkg = strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	}
	fmt.Fprintf(w, "SKIPPED %d PostgreSQL tests of %s: set %s (e.g. %s='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable') to run them\n",
		n, pkg, EnvURL, EnvURL)
}

// BaseURL returns the test database URL, or skips (fails under
// IDVAUTH_TEST_REQUIRE_POSTGRES=1) when there is none.
func BaseURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		msg := "PostgreSQL tests need " + EnvURL + ", e.g. " + EnvURL +
			"='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' go test ./..."
		if os.Getenv("IDVAUTH_TEST_REQUIRE_POSTGRES") == "1" {
			t.Fatal(msg + " (IDVAUTH_TEST_REQUIRE_POSTGRES=1 forbids skipping)")
		}
		skipped.Add(1)
		t.Skip(msg)
	}
	return base
}

// Schema creates an empty schema of its own for t and returns a URL whose
// connections use it. The schema is dropped when the test ends.
func Schema(t testing.TB) string {
	t.Helper()
	return schemaIn(t, BaseURL(t))
}

// VaultDatabase is the database of the test cluster that person-key
// stores of tests live in, apart from the test database as a real one is.
const VaultDatabase = "idvauth_vault_test"

// VaultURL returns the URL of an empty schema of its own in VaultDatabase
// (created if missing): a fresh person-key store's database. The schema
// is dropped when the test ends.
func VaultURL(t testing.TB) string {
	t.Helper()
	base := BaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", EnvURL, err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, VaultDatabase).Scan(&exists); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if !exists {
		// Another test binary may create it at the same time: 42P04
		// (duplicate_database) is as good as success.
		if _, err := conn.Exec(ctx, `CREATE DATABASE `+VaultDatabase); err != nil && !strings.Contains(err.Error(), "42P04") {
			t.Fatalf("pgtest: create database %s: %v", VaultDatabase, err)
		}
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: %s must be a postgres:// URL: %v", EnvURL, err)
	}
	u.Path = "/" + VaultDatabase
	return schemaIn(t, u.String())
}

// schemaIn is Schema in the database base names.
func schemaIn(t testing.TB, base string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", EnvURL, err)
	}
	defer conn.Close(context.Background())
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "idvauth_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop schema: %v", err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("pgtest: drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: %s must be a postgres:// URL: %v", EnvURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// URL returns the URL of a fresh schema with every migration applied.
func URL(t testing.TB) string {
	t.Helper()
	u := Schema(t)
	if _, _, err := postgres.Migrate(context.Background(), u); err != nil {
		t.Fatalf("pgtest: migrate: %v", err)
	}
	return u
}

// Open returns a store on a fresh, migrated schema, closed when the test
// ends.
func Open(t testing.TB) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{URL: URL(t)})
	if err != nil {
		t.Fatalf("pgtest: open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// CountTokens returns the number of token rows in the schema of url.
func CountTokens(t testing.TB, url string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM tokens`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
