package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/idvauth/idvauth/migrations"
	"github.com/idvauth/idvauth/storage/postgres/internal/pgconv"
)

// versionTable records the applied schema version.
const versionTable = "idvauth_schema_version"

// ErrSchemaBehind is returned (wrapped) by Open when the database needs
// migrations this build has.
var ErrSchemaBehind = errors.New("database schema is behind: run 'idvauth migrate up'")

// ErrSchemaAhead is returned (wrapped) by Open when the database was
// migrated by a newer build.
var ErrSchemaAhead = errors.New("database schema is newer than this build: upgrade idvauth")

// Migration is one schema migration and whether it is applied.
type Migration struct {
	Version int32
	Name    string
	Applied bool
}

// loadMigrations parses the embedded migrations.
func loadMigrations(ctx context.Context, conn *pgx.Conn) (*migrate.Migrator, error) {
	m, err := migrate.NewMigratorEx(ctx, conn, versionTable, &migrate.MigratorOptions{})
	if err != nil {
		return nil, fmt.Errorf("postgres: migrator: %w", pgconv.MapErr("prepare migrations", err))
	}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		return nil, fmt.Errorf("postgres: load migrations: %w", err)
	}
	return m, nil
}

// Latest is the schema version this build needs.
func Latest() (int32, error) {
	m, err := loadMigrations(context.Background(), nil)
	if err != nil {
		return 0, err
	}
	return int32(len(m.Migrations)), nil
}

// currentVersion reads the applied version without creating anything: a
// database never migrated is at version 0.
func currentVersion(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int32, error) {
	var v int32
	err := q.QueryRow(ctx, `SELECT version FROM `+versionTable).Scan(&v)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
		return 0, nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, pgconv.MapErr("read schema version", err)
	}
	return v, nil
}

func (s *Store) checkSchema(ctx context.Context) error {
	latest, err := Latest()
	if err != nil {
		return err
	}
	cur, err := currentVersion(ctx, s.pool)
	if err != nil {
		return fmt.Errorf("postgres: cannot read the schema version (is the database reachable?): %w", err)
	}
	switch {
	case cur < latest:
		return fmt.Errorf("postgres: schema version %d, this build needs %d: %w", cur, latest, ErrSchemaBehind)
	case cur > latest:
		return fmt.Errorf("postgres: schema version %d, this build knows %d: %w", cur, latest, ErrSchemaAhead)
	}
	return nil
}

// Migrate applies every pending migration and returns the versions before
// and after. Several processes may migrate at once: an advisory lock lets
// one work while the others wait, and they then find nothing to do.
func Migrate(ctx context.Context, url string) (from, to int32, err error) {
	conn, err := connect(ctx, url)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(context.Background())
	m, err := loadMigrations(ctx, conn)
	if err != nil {
		return 0, 0, err
	}
	if from, err = m.GetCurrentVersion(ctx); err != nil {
		return 0, 0, pgconv.MapErr("read schema version", err)
	}
	if err := m.Migrate(ctx); err != nil {
		var me migrate.MigrationPgError
		if errors.As(err, &me) {
			return from, 0, fmt.Errorf("postgres: migration %s failed: %s (%s)", me.MigrationName, me.Message, me.Code)
		}
		return from, 0, fmt.Errorf("postgres: migrate: %w", err)
	}
	if to, err = m.GetCurrentVersion(ctx); err != nil {
		return from, 0, pgconv.MapErr("read schema version", err)
	}
	return from, to, nil
}

// Status lists the migrations and which are applied.
func Status(ctx context.Context, url string) ([]Migration, error) {
	conn, err := connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	m, err := loadMigrations(ctx, nil)
	if err != nil {
		return nil, err
	}
	cur, err := currentVersion(ctx, conn)
	if err != nil {
		return nil, err
	}
	out := make([]Migration, 0, len(m.Migrations))
	for _, mg := range m.Migrations {
		out = append(out, Migration{Version: mg.Sequence, Name: mg.Name, Applied: mg.Sequence <= cur})
	}
	return out, nil
}

func connect(ctx context.Context, url string) (*pgx.Conn, error) {
	// The pool's parser strips the pool_* settings a URL may carry.
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: invalid database URL: %w", redact(err))
	}
	cc := pc.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = 10 * time.Second
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", redact(err))
	}
	return conn, nil
}
