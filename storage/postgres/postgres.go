// Package postgres is the PostgreSQL storage.Store, on pgx and pgxpool.
// Schema changes are the embedded migrations (package migrations), applied
// with Migrate; Open refuses a database whose schema is behind.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres/internal/listen"
	"github.com/idvauth/idvauth/storage/postgres/internal/opsessions"
	"github.com/idvauth/idvauth/storage/postgres/internal/opstore"
	"github.com/idvauth/idvauth/storage/postgres/internal/signin"
)

// Store is a storage.Store on a pgxpool. It is safe for concurrent use.
//
// It is made of one part per store interface, each with the pools and
// caches it uses; the parts of sign-in (package signin) and of operators
// (package opstore) live in packages of their own, on what every part
// shares (package pgconv).
type Store struct {
	clientStore
	tokenStore
	userStore
	signin.Factors
	signin.Passkeys
	opstore.Store
	opsessions.Sessions
	failureStore
	apiKeyStore
	keyStore
	auditStore
	auditShipStore
	signin.Logout

	pool *pgxpool.Pool
	// tokenPool stores new tokens with synchronous_commit off: a token
	// row lost in a database crash only makes that token inactive (the
	// safe direction), and not waiting for the WAL flush roughly doubles
	// issuance. Revocations and deletions go through pool and are durable
	// before they are answered.
	tokenPool *pgxpool.Pool
	listener  *listen.Listener // nil when nothing listens
}

var _ storage.Store = (*Store)(nil)

// Config configures Open.
type Config struct {
	// URL is the PostgreSQL connection URL or DSN. Pool settings may be
	// given in it (pool_max_conns, pool_min_conns, ...).
	URL string
	// MaxConns caps the pool when the URL sets no pool_max_conns;
	// DefaultMaxConns() if zero.
	MaxConns int32
	// ClientCacheTTL bounds how long a client read from the database is
	// reused; DefaultClientCacheTTL if zero, no cache if negative. Every
	// change of a client reaches every replica's cache at once through
	// LISTEN/NOTIFY; the TTL only bounds the damage of a lost one.
	ClientCacheTTL time.Duration
	// OnListenError is told when the change listener loses its
	// connection (the cache is off until it is back). Optional.
	OnListenError func(error)
	// OnKeysChanged is called, from the listener, when any replica (or a
	// person with psql) changes the signing keys, and when the listener
	// (re)connects, as changes may have been missed. It must not block.
	// Optional.
	OnKeysChanged func()
	// OnAuditBatch, if set, is called after each group append of audit
	// entries that committed, with the number of entries it appended and
	// how long the statement (and its commit) took. It runs on the
	// appending goroutine and must not block. Optional.
	OnAuditBatch func(entries int, commit time.Duration)
	// ListenCheckInterval is how long the change listener's connection
	// may stay silent before it is pinged (with the same bound on the
	// answer); a connection that does not answer is dropped and a new one
	// opened, and OnKeysChanged told. DefaultListenCheckInterval if zero.
	ListenCheckInterval time.Duration
	// AuditFastCommit lets AppendAudit return once its batch is committed,
	// before PostgreSQL has flushed it to disk (synchronous_commit off, as
	// for new tokens): entries then survive any crash of idvauth, but the
	// last moments' may be lost if PostgreSQL itself crashes. The default
	// waits for the flush.
	AuditFastCommit bool
	// Tracer, if set, traces every statement (a pgx.QueryTracer, and a
	// pgx.BatchTracer too if it is one).
	Tracer pgx.QueryTracer
}

// DefaultClientCacheTTL is the longest a cached client lives.
const DefaultClientCacheTTL = 10 * time.Second

// DefaultListenCheckInterval is how often a silent change listener checks
// its connection.
const DefaultListenCheckInterval = 5 * time.Second

// DefaultMaxConns is the pool size used when none is configured: four
// connections per CPU, at least eight. Token issuance and introspection
// hold a connection for one short statement each, so a few per core keep
// the CPUs busy while others wait on the network.
func DefaultMaxConns() int32 { return int32(max(8, 4*runtime.GOMAXPROCS(0))) }

// Open connects to the database and checks that its schema is current.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: invalid database URL: %w", redact(err))
	}
	if !strings.Contains(cfg.URL, "pool_max_conns") {
		pc.MaxConns = cfg.MaxConns
		if pc.MaxConns <= 0 {
			pc.MaxConns = DefaultMaxConns()
		}
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	tune(pc, cfg.URL)
	if cfg.Tracer != nil {
		pc.ConnConfig.Tracer = cfg.Tracer
	}
	tc := pc.Copy()
	tc.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", redact(err))
	}
	tokenPool, err := pgxpool.NewWithConfig(ctx, tc)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", redact(err))
	}
	// Audit entries, and tokens stored with theirs, are durable unless
	// AuditFastCommit.
	auditPool := pool
	if cfg.AuditFastCommit {
		auditPool = tokenPool
	}
	s := &Store{
		clientStore:    clientStore{pool: pool},
		tokenStore:     tokenStore{pool: pool, inserter: newTokenInserter(tokenPool, tokenFlushers())},
		userStore:      userStore{pool},
		Factors:        signin.Factors{Pool: pool},
		Passkeys:       signin.Passkeys{Pool: pool},
		Store:          opstore.Store{Pool: pool},
		Sessions:       opsessions.Sessions{Pool: pool},
		failureStore:   failureStore{pool},
		apiKeyStore:    apiKeyStore{pool},
		auditShipStore: auditShipStore{pool},
		Logout:         signin.Logout{Pool: pool},
		keyStore:       keyStore{pool},
		auditStore:     auditStore{pool: pool, auditor: newAuditor(auditPool, cfg.OnAuditBatch)},
		pool:           pool,
		tokenPool:      tokenPool,
	}
	if err := s.checkSchema(ctx); err != nil {
		s.Close()
		return nil, err
	}
	ttl := cfg.ClientCacheTTL
	if ttl == 0 {
		ttl = DefaultClientCacheTTL
	}
	if ttl > 0 {
		s.clientStore.cache = newClientCache(ttl)
	}
	if s.clientStore.cache != nil || cfg.OnKeysChanged != nil {
		every := cfg.ListenCheckInterval
		if every <= 0 {
			every = DefaultListenCheckInterval
		}
		// A listener connection found dead says the network broke: the
		// pools' idle connections are closed rather than each found dead
		// by a request (at the cost of a ping timeout).
		reset := func() { pool.Reset(); tokenPool.Reset() }
		s.listener = listen.Start(listen.Config{Conn: pc.ConnConfig.Copy(), Every: every,
			Channels: []string{clientChannel, keysChannel},
			OnNotify: s.notified(cfg.OnKeysChanged), OnUp: s.listening(cfg.OnKeysChanged),
			OnError: cfg.OnListenError, OnSilent: reset})
	}
	return s, nil
}

// redact keeps connection strings out of error text: pgconn's parse
// errors already hide passwords; this drops anything that looks like a URL.
func redact(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New("cannot parse the connection string")
	}
	return err
}

// Ping implements storage.Store.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Close implements storage.Store.
func (s *Store) Close() {
	if s.listener != nil {
		s.listener.Stop()
	}
	s.pool.Close()
	s.tokenPool.Close()
}

// Pool returns the connection pool, for metrics and tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }
