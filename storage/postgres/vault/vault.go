// Package vault is the PostgreSQL person-key store: people's wrapped data
// keys in a database of their own (IDVAUTH_PERSON_KEYS_DATABASE_URL),
// apart from the main database that holds their sealed profiles. Deleting
// a person's key here makes every copy of the main database taken before
// unreadable, however long those copies are kept; this database's own
// backups are then the only place the key lives on, so they are kept for a
// short time only (docs/sealing.md).
//
// The store creates its one table at Open if it is missing, so it needs no
// migration of its own; the role needs CREATE on the schema the first time
// only: once the table exists, Open runs no DDL, and a role with USAGE on
// the schema and SELECT, INSERT, UPDATE, DELETE on the table starts.
package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres/internal/pgconv"
)

// Config says where the store is.
type Config struct {
	// URL is the PostgreSQL connection URL of the person-key database.
	URL string
	// MaxConns bounds the pool when the URL sets no pool_max_conns
	// (pgxpool's default if zero); every read of a person is one read here.
	MaxConns int32
	// Tracer traces the queries; nil for none.
	Tracer pgx.QueryTracer
}

// Store is a storage.PersonKeyStore on PostgreSQL. Safe for concurrent use.
type Store struct{ pool *pgxpool.Pool }

var _ storage.PersonKeyStore = (*Store)(nil)

// schema is the store's one table. The advisory lock makes concurrent
// first starts of several replicas create it once.
const schema = `SELECT pg_advisory_xact_lock(8721490117);
CREATE TABLE IF NOT EXISTS vault_person_keys (
	user_id     text PRIMARY KEY,
	wrapped     bytea NOT NULL,
	kek         text NOT NULL,
	created_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now()
)`

// Open connects to the person-key database and creates its table if it is
// missing.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return nil, errors.New("vault: invalid person-key database URL: cannot parse the connection string")
	} else if err != nil {
		return nil, fmt.Errorf("vault: invalid person-key database URL: %w", err)
	}
	if cfg.MaxConns > 0 && !strings.Contains(cfg.URL, "pool_max_conns") {
		pc.MaxConns = cfg.MaxConns
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pc.ConnConfig.Tracer = cfg.Tracer
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	if err := createTable(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool}, nil
}

// createTable creates the store's table if it is missing. It looks first,
// so that a start on an existing table needs no CREATE on the schema and
// depends on no DDL.
func createTable(ctx context.Context, pool *pgxpool.Pool) error {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('vault_person_keys') IS NOT NULL`).Scan(&exists); err != nil {
		return fmt.Errorf("vault: %w", mapErr("look for the table", err))
	}
	if exists {
		return nil
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, schema)
		return err
	})
	if err != nil {
		return fmt.Errorf("vault: %w", mapErr("create the table", err))
	}
	return nil
}

// Close releases the connections.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// CreatePersonKey implements storage.PersonKeyStore.
func (s *Store) CreatePersonKey(ctx context.Context, k storage.PersonKey) error {
	op := fmt.Sprintf("create person key of %q", k.UserID)
	if !pgconv.TextOK(k.UserID) || !pgconv.TextOK(k.KEK) {
		return fmt.Errorf("vault: %s: text PostgreSQL cannot store: %w", op, storage.ErrConflict)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO vault_person_keys (user_id, wrapped, kek) VALUES ($1, $2, $3)`,
		k.UserID, pgconv.NonNilBytes(k.Wrapped), k.KEK)
	return mapErr(op, err)
}

// GetPersonKey implements storage.PersonKeyStore.
func (s *Store) GetPersonKey(ctx context.Context, userID string) (storage.PersonKey, error) {
	op := fmt.Sprintf("get person key of %q", userID)
	if !pgconv.TextOK(userID) {
		return storage.PersonKey{}, fmt.Errorf("vault: %s: %w", op, storage.ErrNotFound)
	}
	k := storage.PersonKey{UserID: userID}
	err := s.pool.QueryRow(ctx, `SELECT wrapped, kek FROM vault_person_keys WHERE user_id = $1`, userID).Scan(&k.Wrapped, &k.KEK)
	return k, mapErr(op, err)
}

// ReplacePersonKey implements storage.PersonKeyStore with one conditional
// UPDATE.
func (s *Store) ReplacePersonKey(ctx context.Context, old []byte, k storage.PersonKey) error {
	op := fmt.Sprintf("replace person key of %q", k.UserID)
	if !pgconv.TextOK(k.UserID) || !pgconv.TextOK(k.KEK) {
		return fmt.Errorf("vault: %s: %w", op, storage.ErrNotFound)
	}
	var replaced bool
	err := s.pool.QueryRow(ctx, `WITH k AS (SELECT 1 FROM vault_person_keys WHERE user_id = $1),
		u AS (UPDATE vault_person_keys SET wrapped = $3, kek = $4, updated_at = now() WHERE user_id = $1 AND wrapped = $2 RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM u) FROM k`, k.UserID, pgconv.NonNilBytes(old), pgconv.NonNilBytes(k.Wrapped), k.KEK).Scan(&replaced)
	if err != nil {
		return mapErr(op, err) // no row: no key
	}
	if !replaced {
		return fmt.Errorf("vault: %s: the key changed: %w", op, storage.ErrConflict)
	}
	return nil
}

// DeletePersonKey implements storage.PersonKeyStore.
func (s *Store) DeletePersonKey(ctx context.Context, userID string) error {
	if !pgconv.TextOK(userID) {
		return nil
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM vault_person_keys WHERE user_id = $1`, userID)
	return mapErr(fmt.Sprintf("delete person key of %q", userID), err)
}

// CountPersonKeys implements storage.PersonKeyStore.
func (s *Store) CountPersonKeys(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM vault_person_keys`).Scan(&n)
	return n, mapErr("count person keys", err)
}

func mapErr(op string, err error) error { return pgconv.MapErr("person-key store: "+op, err) }
