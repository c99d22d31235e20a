package authz

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/jackc/pgx/v5"

	"github.com/idvauth/idvauth/authz/internal/janitor"
	"github.com/idvauth/idvauth/authz/personkeys"
	"github.com/idvauth/idvauth/authz/seal"
	"github.com/idvauth/idvauth/authz/settings"
	"github.com/idvauth/idvauth/authz/tracing"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/postgres"
)

// dialStore opens the store cfg names: PostgreSQL for a database URL,
// memory if cfg asks for it (checked by withDefaults).
func dialStore(ctx context.Context, cfg Config, log *zap.Logger, keysChanged func(), onAuditBatch func(int, time.Duration)) (storage.Store, error) {
	if cfg.DatabaseURL == "" {
		return memory.New(), nil
	}
	s, err := postgres.Open(ctx, postgres.Config{
		URL:      cfg.DatabaseURL,
		MaxConns: cfg.DatabaseMaxConns,
		OnListenError: func(err error) {
			log.Warn("change listener lost its database connection; client cache off and key changes polled until it is back", zap.Error(err))
		},
		OnKeysChanged:   keysChanged,
		OnAuditBatch:    onAuditBatch,
		AuditFastCommit: cfg.AuditFastCommit,
		Tracer:          queryTracer(cfg),
		// A silent listener is checked twice per key check interval, so
		// that one found dead (after a silence, then a ping of at most a
		// second, or the check interval) is replaced and the keys reloaded
		// within about one interval.
		ListenCheckInterval: min(postgres.DefaultListenCheckInterval, cfg.KeyCheckInterval/2),
	})
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	return s, nil
}

// Migration is one schema migration and whether it is applied.
type Migration = postgres.Migration

// Migrate applies the pending schema migrations to the database at url and
// returns the versions before and after. It is safe to run from several
// replicas at once.
func Migrate(ctx context.Context, url string) (from, to int32, err error) {
	return postgres.Migrate(ctx, url)
}

// MigrationStatus lists the schema migrations and which are applied.
func MigrationStatus(ctx context.Context, url string) ([]Migration, error) {
	return postgres.Status(ctx, url)
}

// RunJanitor opens the database at url and deletes its expired token
// records once, without starting a server.
func RunJanitor(ctx context.Context, url string) (int, error) {
	st, err := postgres.Open(ctx, postgres.Config{URL: url, MaxConns: 2, ClientCacheTTL: -1})
	if err != nil {
		return 0, fmt.Errorf("authz: %w", err)
	}
	defer st.Close()
	return janitor.Janitor{Store: st, Batch: settings.DefaultJanitorBatch, Now: time.Now, Log: zap.NewNop()}.DeleteExpired(ctx)
}

// queryTracer is the pgx tracer of cfg's tracing; nil without tracing.
func queryTracer(cfg Config) pgx.QueryTracer {
	if cfg.TracerProvider == nil {
		return nil
	}
	return tracing.PGX{T: tracing.Tracer(cfg.TracerProvider)}
}

// sealStore wraps st so that people's personal data (profiles and factor
// secrets) is sealed at rest under data keys wrapped by a key derived from
// cfg.Secrets, and kept in the person-key store cfg names (authz/personkeys).
func sealStore(ctx context.Context, st storage.Store, cfg Config, log *zap.Logger) (*seal.Store, error) {
	ss, err := personkeys.Open(ctx, personkeys.Config{Store: st, Secrets: cfg.Secrets, Vault: cfg.PersonKeys, URL: cfg.PersonKeysDatabaseURL,
		Memory: cfg.InMemory && cfg.DatabaseURL == "", MaxConns: cfg.DatabaseMaxConns, Tracer: queryTracer(cfg), Warn: func(m string) { log.Warn(m) }})
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	return ss, nil
}
