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
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idvauth/idvauth/storage"
)

// Store is a storage.Store on a pgxpool. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	// tokenPool stores new tokens with synchronous_commit off: a token
	// row lost in a database crash only makes that token inactive (the
	// safe direction), and not waiting for the WAL flush roughly doubles
	// issuance. Revocations and deletions go through pool and are durable
	// before they are answered.
	tokenPool *pgxpool.Pool
	inserter  *tokenInserter // on tokenPool
	auditor   *auditor       // on pool: audit entries, and tokens stored with theirs, are durable

	cache         *clientCache // nil when disabled
	onListenError func(error)
	onKeysChanged func()
	stopListen    context.CancelFunc
	listenDone    chan struct{}
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
	// AuditFastCommit lets AppendAudit return once its batch is committed,
	// before PostgreSQL has flushed it to disk (synchronous_commit off, as
	// for new tokens): entries then survive any crash of idvauth, but the
	// last moments' may be lost if PostgreSQL itself crashes. The default
	// waits for the flush.
	AuditFastCommit bool
}

// DefaultClientCacheTTL is the longest a cached client lives.
const DefaultClientCacheTTL = 10 * time.Second

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
	s := &Store{pool: pool, tokenPool: tokenPool, onListenError: cfg.OnListenError, onKeysChanged: cfg.OnKeysChanged,
		inserter: newTokenInserter(tokenPool, tokenFlushers()), auditor: newAuditor(pool, cfg.OnAuditBatch)}
	if cfg.AuditFastCommit {
		s.auditor = newAuditor(tokenPool, cfg.OnAuditBatch)
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
		s.cache = newClientCache(ttl)
	}
	if s.cache != nil || s.onKeysChanged != nil {
		lctx, cancel := context.WithCancel(context.Background())
		s.stopListen, s.listenDone = cancel, make(chan struct{})
		go s.listen(lctx, pc.ConnConfig.Copy(), s.listenDone)
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
	if s.stopListen != nil {
		s.stopListen()
		<-s.listenDone
	}
	s.pool.Close()
	s.tokenPool.Close()
}

// Pool returns the connection pool, for metrics and tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// textOK reports whether v can be stored in a text column: PostgreSQL
// refuses NUL bytes and invalid UTF-8. A lookup of such a value finds
// nothing.
func textOK(v string) bool {
	return utf8.ValidString(v) && strings.IndexByte(v, 0) < 0
}

func allTextOK(vs ...[]string) bool {
	for _, l := range vs {
		for _, v := range l {
			if !textOK(v) {
				return false
			}
		}
	}
	return true
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// mapErr translates pgx errors to storage sentinels.
func mapErr(op string, err error) error {
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
		// Keep the server's message out: it may quote values.
		return fmt.Errorf("postgres: %s: database error %s", op, pe.Code)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

const clientCols = `id, name, secret_hash, grant_types, response_types, redirect_uris, scopes, audience,
	token_endpoint_auth_method, access_token_ttl_seconds, introspection_allowed, id_token_signed_response_alg,
	jwks, jwks_uri, tls_client_auth_subject_dn, tls_client_auth_san_dns, tls_client_auth_san_uri,
	tls_client_auth_san_ip, tls_client_auth_san_email, tls_client_certificate_bound_access_tokens,
	created_at, updated_at`

func scanClient(row pgx.Row) (storage.Client, error) {
	var c storage.Client
	var ttl int64
	var jwks string
	a := &c.TLSClientAuth
	err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.GrantTypes, &c.ResponseTypes, &c.RedirectURIs, &c.Scopes, &c.Audience,
		&c.TokenEndpointAuthMethod, &ttl, &c.IntrospectionAllowed, &c.IDTokenSignedResponseAlg,
		&jwks, &c.JWKSURI, &a.SubjectDN, &a.SANDNS, &a.SANURI, &a.SANIP, &a.SANEmail, &c.CertificateBoundAccessTokens,
		&c.CreatedAt, &c.UpdatedAt)
	c.AccessTokenTTL = time.Duration(ttl) * time.Second
	if jwks != "" {
		c.JWKS = []byte(jwks)
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	if len(c.SecretHash) == 0 {
		c.SecretHash = nil
	}
	return c, err
}

func validClient(c storage.Client) error {
	a := c.TLSClientAuth
	if !textOK(c.ID) || !textOK(c.Name) || !textOK(c.TokenEndpointAuthMethod) || !textOK(c.IDTokenSignedResponseAlg) ||
		!allTextOK(c.GrantTypes, c.ResponseTypes, c.RedirectURIs, c.Scopes, c.Audience) || !textOK(string(c.JWKS)) ||
		!allTextOK([]string{c.JWKSURI, a.SubjectDN, a.SANDNS, a.SANURI, a.SANIP, a.SANEmail}) {
		return fmt.Errorf("postgres: client %q holds text PostgreSQL cannot store: %w", c.ID, storage.ErrConflict)
	}
	return nil
}

// CreateClient implements storage.ClientStore.
func (s *Store) CreateClient(ctx context.Context, c storage.Client) error {
	if err := validClient(c); err != nil {
		return err
	}
	a := c.TLSClientAuth
	_, err := s.pool.Exec(ctx, `INSERT INTO clients (`+clientCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
		c.ID, c.Name, nonNilBytes(c.SecretHash), nonNil(c.GrantTypes), nonNil(c.ResponseTypes), nonNil(c.RedirectURIs), nonNil(c.Scopes),
		nonNil(c.Audience), c.TokenEndpointAuthMethod, int64(c.AccessTokenTTL/time.Second), c.IntrospectionAllowed,
		c.IDTokenSignedResponseAlg, string(c.JWKS), c.JWKSURI, a.SubjectDN, a.SANDNS, a.SANURI, a.SANIP, a.SANEmail,
		c.CertificateBoundAccessTokens, c.CreatedAt, c.UpdatedAt)
	return mapErr("create client", err)
}

// GetClient implements storage.ClientStore.
func (s *Store) GetClient(ctx context.Context, id string) (storage.Client, error) {
	if !textOK(id) {
		return storage.Client{}, fmt.Errorf("postgres: get client: %w", storage.ErrNotFound)
	}
	var gen uint64
	if s.cache != nil {
		c, ok, g := s.cache.get(id)
		if ok {
			return c, nil
		}
		gen = g
	}
	c, err := scanClient(s.pool.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1`, id))
	if err != nil {
		return c, mapErr("get client", err)
	}
	if s.cache != nil {
		s.cache.put(c, gen)
	}
	return c, nil
}

// forget drops a client from this replica's cache at once; the trigger's
// notification tells the other replicas.
func (s *Store) forget(id string) {
	if s.cache != nil {
		s.cache.invalidate(id)
	}
}

// ListClients implements storage.ClientStore.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+clientCols+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, mapErr("list clients", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Client, error) { return scanClient(r) })
	return out, mapErr("list clients", err)
}

// UpdateClient implements storage.ClientStore.
func (s *Store) UpdateClient(ctx context.Context, c storage.Client) error {
	if !textOK(c.ID) {
		return fmt.Errorf("postgres: update client: %w", storage.ErrNotFound)
	}
	if err := validClient(c); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE clients SET name = $2, grant_types = $3, response_types = $4, redirect_uris = $5,
		scopes = $6, audience = $7, token_endpoint_auth_method = $8, access_token_ttl_seconds = $9,
		introspection_allowed = $10, id_token_signed_response_alg = $11, updated_at = $12,
		jwks = $13, jwks_uri = $14, tls_client_auth_subject_dn = $15, tls_client_auth_san_dns = $16,
		tls_client_auth_san_uri = $17, tls_client_auth_san_ip = $18, tls_client_auth_san_email = $19,
		tls_client_certificate_bound_access_tokens = $20 WHERE id = $1`,
		c.ID, c.Name, nonNil(c.GrantTypes), nonNil(c.ResponseTypes), nonNil(c.RedirectURIs), nonNil(c.Scopes), nonNil(c.Audience),
		c.TokenEndpointAuthMethod, int64(c.AccessTokenTTL/time.Second), c.IntrospectionAllowed, c.IDTokenSignedResponseAlg, c.UpdatedAt,
		string(c.JWKS), c.JWKSURI, c.TLSClientAuth.SubjectDN, c.TLSClientAuth.SANDNS, c.TLSClientAuth.SANURI,
		c.TLSClientAuth.SANIP, c.TLSClientAuth.SANEmail, c.CertificateBoundAccessTokens)
	s.forget(c.ID)
	return affected("update client", tag, err)
}

func affected(op string, tag pgconn.CommandTag, err error) error {
	if err != nil {
		return mapErr(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	return nil
}

// SetClientSecret implements storage.ClientStore.
func (s *Store) SetClientSecret(ctx context.Context, id string, hash []byte, now time.Time) error {
	if !textOK(id) {
		return fmt.Errorf("postgres: set client secret: %w", storage.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE clients SET secret_hash = $2, updated_at = $3 WHERE id = $1`, id, nonNilBytes(hash), now)
	s.forget(id)
	return affected("set client secret", tag, err)
}

// DeleteClient implements storage.ClientStore. The foreign key deletes the
// client's tokens in the same statement.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if !textOK(id) {
		return fmt.Errorf("postgres: delete client: %w", storage.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
	s.forget(id)
	return affected("delete client", tag, err)
}

// CreateToken implements storage.TokenStore in one statement, shared with
// concurrent calls (tokenInserter): the foreign key refuses a token of a
// client that no longer exists.
func (s *Store) CreateToken(ctx context.Context, t storage.Token) error {
	if err := checkToken(t); err != nil {
		return err
	}
	return s.inserter.insert(ctx, t)
}

// checkToken refuses a token whose text PostgreSQL cannot store.
func checkToken(t storage.Token) error {
	if !textOK(t.ClientID) {
		return fmt.Errorf("postgres: create token: %w", storage.ErrNotFound)
	}
	if !textOK(t.Signature) || !textOK(t.RequestID) || !textOK(t.Subject) || !textOK(t.KeyID) || !textOK(t.JTI) ||
		!allTextOK(t.Scopes, t.Audience) {
		return fmt.Errorf("postgres: create token: text PostgreSQL cannot store: %w", storage.ErrConflict)
	}
	return nil
}

const tokenCols = `request_id, client_id, subject, scopes, audience, key_id, jti, issued_at, expires_at, session, consumed_at`

func scanToken(row pgx.Row, t *storage.Token) error {
	var consumed *time.Time
	err := row.Scan(&t.RequestID, &t.ClientID, &t.Subject, &t.Scopes, &t.Audience, &t.KeyID, &t.JTI,
		&t.IssuedAt, &t.ExpiresAt, &t.Session, &consumed)
	t.IssuedAt, t.ExpiresAt = t.IssuedAt.UTC(), t.ExpiresAt.UTC()
	if consumed != nil {
		t.ConsumedAt = consumed.UTC()
	}
	if len(t.Session) == 0 {
		t.Session = nil
	}
	return err
}

// GetToken implements storage.TokenStore: one indexed read.
func (s *Store) GetToken(ctx context.Context, kind storage.TokenKind, sig string) (storage.Token, error) {
	if !textOK(sig) {
		return storage.Token{}, fmt.Errorf("postgres: get token: %w", storage.ErrNotFound)
	}
	t := storage.Token{Kind: kind, Signature: sig}
	err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE signature = $1 AND kind = $2`, sig, string(kind)), &t)
	return t, mapErr("get token", err)
}

// ConsumeToken implements storage.TokenStore with a conditional update:
// concurrent callers queue on the row lock, and each one after the first
// finds consumed_at set and updates nothing.
func (s *Store) ConsumeToken(ctx context.Context, kind storage.TokenKind, sig string, now time.Time) (storage.Token, error) {
	if !textOK(sig) {
		return storage.Token{}, fmt.Errorf("postgres: consume token: %w", storage.ErrNotFound)
	}
	t := storage.Token{Kind: kind, Signature: sig}
	err := scanToken(s.pool.QueryRow(ctx, `UPDATE tokens SET consumed_at = $3
		WHERE signature = $1 AND kind = $2 AND consumed_at IS NULL RETURNING `+tokenCols, sig, string(kind), now), &t)
	if !errors.Is(err, pgx.ErrNoRows) {
		return t, mapErr("consume token", err)
	}
	t, err = s.GetToken(ctx, kind, sig)
	if err != nil {
		return t, err
	}
	return t, fmt.Errorf("postgres: consume token: already used: %w", storage.ErrConflict)
}

// DeleteToken implements storage.TokenStore.
func (s *Store) DeleteToken(ctx context.Context, kind storage.TokenKind, sig string) error {
	if !textOK(sig) {
		return fmt.Errorf("postgres: delete token: %w", storage.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE signature = $1 AND kind = $2`, sig, string(kind))
	return affected("delete token", tag, err)
}

// RevokeRequest implements storage.TokenStore.
func (s *Store) RevokeRequest(ctx context.Context, kind storage.TokenKind, requestID string) error {
	if !textOK(requestID) {
		return nil
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE request_id = $1 AND kind = $2`, requestID, string(kind))
	return mapErr("revoke request", err)
}

// janitorLockClass and the current schema name form the advisory lock
// that lets one replica at a time delete expired tokens.
const janitorLockClass int32 = 0x69647661 // "idva"

// expiredDeletes remove at most $2 expired rows each: token records,
// browser sessions, failure windows. A failure window restarted by a
// concurrent AddFailure is rechecked on its new version (the outer
// window_end condition) and kept.
var expiredDeletes = []string{
	`DELETE FROM tokens WHERE ctid IN (SELECT ctid FROM tokens WHERE expires_at < $1 LIMIT $2)`,
	`DELETE FROM browser_sessions WHERE ctid IN (SELECT ctid FROM browser_sessions WHERE expires_at < $1 LIMIT $2)`,
	`DELETE FROM failures WHERE ctid IN (SELECT ctid FROM failures WHERE window_end < $1 LIMIT $2) AND window_end < $1`,
	`DELETE FROM used_assertions WHERE ctid IN (SELECT ctid FROM used_assertions WHERE expires_at < $1 LIMIT $2)`,
}

// UseAssertion implements storage.AssertionStore with one insert that
// does nothing on conflict: the primary key lets exactly one of
// concurrent uses add the row. It goes through the durable pool: a
// replayed assertion must stay refused after a crash.
func (s *Store) UseAssertion(ctx context.Context, clientID, jti string, expires time.Time) error {
	if !textOK(clientID) || !textOK(jti) {
		return fmt.Errorf("postgres: use assertion: text PostgreSQL cannot store: %w", storage.ErrConflict)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO used_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (client_id, jti) DO NOTHING`, clientID, jti, expires)
	if err != nil {
		return mapErr("use assertion", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: use assertion of client %q: %w", clientID, storage.ErrAlreadyExists)
	}
	return nil
}

// DeleteExpired implements storage.TokenStore. Only one replica cleans at
// a time: if another holds the janitor lock, it deletes nothing.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var locked bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1, hashtext(current_schema()))`, janitorLockClass).Scan(&locked); err != nil || !locked {
			return err
		}
		for _, q := range expiredDeletes {
			tag, err := tx.Exec(ctx, q, before, limit)
			if err != nil {
				return err
			}
			n += int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return 0, mapErr("delete expired records", err)
	}
	return n, nil
}

// CreateKey implements storage.KeyStore.
func (s *Store) CreateKey(ctx context.Context, k storage.Key) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO signing_keys (id, alg, state, sealed, public_jwk, created_at, activated_at, retired_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.ID, k.Alg, k.State, k.Sealed, k.PublicJWK, k.CreatedAt, nullTime(k.ActivatedAt), nullTime(k.RetiredAt))
	return mapErr("create key", err)
}

// UpdateKeys implements storage.KeyStore in one transaction: each change
// is a conditional update, and the partial unique indexes refuse a second
// next or active key of an algorithm.
func (s *Store) UpdateKeys(ctx context.Context, at time.Time, changes ...storage.KeyChange) error {
	for _, ch := range changes {
		if !textOK(ch.ID) {
			return fmt.Errorf("postgres: update key: %w", storage.ErrNotFound)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, ch := range changes {
			tag, err := tx.Exec(ctx, `UPDATE signing_keys SET state = $3,
				activated_at = CASE WHEN $3 = 'active' THEN $4 ELSE activated_at END,
				retired_at = CASE WHEN $3 = 'retired' OR ($3 = 'removed' AND retired_at IS NULL) THEN $4 ELSE retired_at END
				WHERE id = $1 AND state = $2`, ch.ID, ch.From, ch.To, at)
			if err != nil {
				return mapErr("update key", err)
			}
			if tag.RowsAffected() == 1 {
				continue
			}
			var state string
			if err := tx.QueryRow(ctx, `SELECT state FROM signing_keys WHERE id = $1`, ch.ID).Scan(&state); err != nil {
				return mapErr("update key", err)
			}
			return fmt.Errorf("postgres: update key %q: it is %s, not %s: %w", ch.ID, state, ch.From, storage.ErrConflict)
		}
		return nil
	})
	return err
}

// SetKeySealed implements storage.KeyStore.
func (s *Store) SetKeySealed(ctx context.Context, id string, sealed []byte) error {
	if !textOK(id) {
		return fmt.Errorf("postgres: set sealed key: %w", storage.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE signing_keys SET sealed = $2 WHERE id = $1`, id, sealed)
	return affected("set sealed key", tag, err)
}

// ListKeys implements storage.KeyStore.
func (s *Store) ListKeys(ctx context.Context) ([]storage.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, alg, state, sealed, public_jwk, created_at, activated_at, retired_at
		FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, mapErr("list keys", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Key, error) {
		var k storage.Key
		var act, ret *time.Time
		err := r.Scan(&k.ID, &k.Alg, &k.State, &k.Sealed, &k.PublicJWK, &k.CreatedAt, &act, &ret)
		k.CreatedAt = k.CreatedAt.UTC()
		if act != nil {
			k.ActivatedAt = act.UTC()
		}
		if ret != nil {
			k.RetiredAt = ret.UTC()
		}
		return k, err
	})
	return out, mapErr("list keys", err)
}
