package authz

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/jackc/pgx/v5"

	"github.com/idvauth/idvauth/authz/internal/janitor"
	"github.com/idvauth/idvauth/authz/mfa"
	"github.com/idvauth/idvauth/authz/seal"
	"github.com/idvauth/idvauth/authz/settings"
	"github.com/idvauth/idvauth/authz/tracing"
	"github.com/idvauth/idvauth/keys"
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
// secrets; factor secrets of before stay readable (authz/mfa sealed them
// under the secrets directly).
func sealStore(ctx context.Context, st storage.Store, secrets []string) (*seal.Store, error) {
	kp, err := seal.NewLocal(secrets, nil)
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	legacy, err := keys.NewSealer(secrets, nil)
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	ss, err := seal.New(ctx, seal.Config{Store: st, Keys: kp, Secrets: secrets,
		OpenLegacyFactor: func(userID, factorID string, sealed []byte) ([]byte, error) {
			s, err := mfa.OpenSecret(legacy, userID, factorID, sealed)
			return []byte(s), err
		}})
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	return ss, nil
}
