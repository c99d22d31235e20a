package postgres

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres/internal/groupcommit"
	"github.com/idvauth/idvauth/storage/postgres/internal/pgconv"
)

// tokenInserter stores new token records in groups (a committer): on two
// cores this is the difference between PostgreSQL and the signer
// competing for CPU and the signer having it.
type tokenInserter struct {
	pool *pgxpool.Pool
	groupcommit.Committer[storage.Token]
}

// maxTokenBatch bounds one statement; larger queues take several.
const maxTokenBatch = 256

func newTokenInserter(pool *pgxpool.Pool, max int) *tokenInserter {
	in := &tokenInserter{pool: pool}
	in.Committer = groupcommit.Committer[storage.Token]{Max: max, MaxBatch: maxTokenBatch, Flush: in.flush}
	return in
}

// insert stores t and returns when its group is committed (or failed).
func (in *tokenInserter) insert(ctx context.Context, t storage.Token) error {
	return in.Do(ctx, t)
}

const insertTokenSQL = `INSERT INTO tokens (kind, signature, request_id, client_id, subject, scopes, audience,
	key_id, jti, issued_at, expires_at, session) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
	WHERE now() < $13`

// insertTokensSelect stores a group in order; insertTokensSQL and
// audit.go's statement end it differently.
const insertTokensSelect = `INSERT INTO tokens (kind, signature, request_id, client_id, subject, scopes, audience,
	key_id, jti, issued_at, expires_at, session)
	SELECT k, s, r, c, sub, sc::text[], a::text[], kid, j, iat, exp, sess
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
		$8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[], $12::bytea[])
		WITH ORDINALITY AS u(k, s, r, c, sub, sc, a, kid, j, iat, exp, sess, n)
	WHERE now() < $13
	ORDER BY n`

// insertTokensSQL stores a group in order. Rows whose key is taken (by an
// earlier row of the group, or before) are skipped and then retried
// alone, which names the error; a client deleted meanwhile fails the
// whole statement, and then every row is retried alone.
const insertTokensSQL = insertTokensSelect + `
	ON CONFLICT DO NOTHING
	RETURNING kind, signature`

func (in *tokenInserter) flush(ctx context.Context, group []storage.Token) []error {
	if len(group) == 1 {
		return []error{in.insertOne(ctx, group[0])}
	}
	stored, err := insertTokenGroup(ctx, in.pool, group)
	if err != nil && !pgconv.IsForeignKeyViolation(err) {
		return groupcommit.SameError(len(group), pgconv.MapErr("create token", err))
	}
	errs := make([]error, len(group))
	for i, t := range group {
		// Of rows with one key, the first of the group was stored.
		if k := (tokenKey{string(t.Kind), t.Signature}); err == nil && stored[k] {
			delete(stored, k)
			continue
		}
		errs[i] = in.insertOne(ctx, t)
	}
	return errs
}

// insertTokenGroup runs insertTokensSQL for group on q and returns the
// keys of the rows it stored.
func insertTokenGroup(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, group []storage.Token) (map[tokenKey]bool, error) {
	rows, err := q.Query(ctx, insertTokensSQL, tokenGroupArgs(group, groupcommit.DeadlineGuard(ctx))...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	stored := make(map[tokenKey]bool, len(group))
	var k tokenKey
	for rows.Next() {
		if err := rows.Scan(&k.kind, &k.sig); err != nil {
			return nil, err
		}
		stored[k] = true
	}
	return stored, rows.Err()
}

// tokenGroupArgs are the arguments of insertTokensSelect for group: one
// array per column.
func tokenGroupArgs(group []storage.Token, guard time.Time) []any {
	n := len(group)
	var (
		kinds, sigs, reqs, clients, subs, scopes, auds, kids, jtis = make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n)
		iats, exps = make([]time.Time, n), make([]time.Time, n)
		sessions   = make([][]byte, n)
	)
	for i, t := range group {
		kinds[i], sigs[i], reqs[i], clients[i], subs[i] = string(t.Kind), t.Signature, t.RequestID, t.ClientID, t.Subject
		scopes[i], auds[i], kids[i], jtis[i] = arrayLiteral(t.Scopes), arrayLiteral(t.Audience), t.KeyID, t.JTI
		iats[i], exps[i], sessions[i] = t.IssuedAt, t.ExpiresAt, pgconv.NonNilBytes(t.Session)
	}
	return []any{kinds, sigs, reqs, clients, subs, scopes, auds, kids, jtis, iats, exps, sessions, guard}
}

type tokenKey struct{ kind, sig string }

func (in *tokenInserter) insertOne(ctx context.Context, t storage.Token) error {
	tag, err := in.pool.Exec(ctx, insertTokenSQL,
		string(t.Kind), t.Signature, t.RequestID, t.ClientID, t.Subject, pgconv.NonNil(t.Scopes), pgconv.NonNil(t.Audience),
		t.KeyID, t.JTI, t.IssuedAt, t.ExpiresAt, pgconv.NonNilBytes(t.Session), groupcommit.DeadlineGuard(ctx))
	if err == nil && tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: create token: %w", groupcommit.ErrLate)
	}
	return pgconv.MapErr("create token", err)
}

// arrayLiteral writes a PostgreSQL array literal of strings, every element
// quoted, so that commas, braces, quotes, spaces and the word NULL in a
// value stay part of it. Values must pass textOK.
func arrayLiteral(vs []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for j := 0; j < len(v); j++ {
			if c := v[j]; c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(v[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// tokenFlushers is how many group inserts run at once. Measured with
// idvauth-load on two cores at 32 workers: one at a time starves the
// database (4.4k tokens/s), one per request is the ungrouped 2.8-3.1k/s,
// and two to four give 4.2-5.7k/s; one per CPU, at least two.
func tokenFlushers() int { return max(2, runtime.GOMAXPROCS(0)) }
