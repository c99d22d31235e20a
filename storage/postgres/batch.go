package postgres

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idvauth/idvauth/storage"
)

// tokenInserter stores new token records in groups. A CreateToken that
// finds fewer than max inserts in flight runs its own at once, so an idle
// server adds no latency; one that finds them all busy queues, and the
// next free flush stores everything queued in one statement. Under load a
// row then costs a fraction of a statement and a transaction: on two cores
// this is the difference between PostgreSQL and the signer competing for
// CPU and the signer having it.
type tokenInserter struct {
	pool *pgxpool.Pool
	max  int // concurrent flushes

	mu      sync.Mutex
	queue   []*pendingToken
	running int

	// beforeFlush, if set, runs before each flush; tests use it to hold
	// a flush and let a queue build up.
	beforeFlush func()
}

type pendingToken struct {
	t    storage.Token
	done chan error
}

// maxTokenBatch bounds one statement; larger queues take several.
const maxTokenBatch = 256

// flushTimeout bounds one group insert. It does not come from a caller's
// context: the group holds other callers' tokens too.
const flushTimeout = 10 * time.Second

func newTokenInserter(pool *pgxpool.Pool, max int) *tokenInserter {
	return &tokenInserter{pool: pool, max: max}
}

// insert stores t and returns when its group is committed (or failed).
func (in *tokenInserter) insert(ctx context.Context, t storage.Token) error {
	p := &pendingToken{t: t, done: make(chan error, 1)}
	in.mu.Lock()
	in.queue = append(in.queue, p)
	lead := in.running < in.max
	var group []*pendingToken
	if lead {
		in.running++
		group = in.take()
	}
	in.mu.Unlock()
	if lead {
		in.flush(group)
		in.next()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// take removes up to maxTokenBatch queued tokens; in.mu must be held.
func (in *tokenInserter) take() []*pendingToken {
	n := min(len(in.queue), maxTokenBatch)
	group := in.queue[:n:n]
	in.queue = in.queue[n:]
	if len(in.queue) == 0 {
		in.queue = nil
	}
	return group
}

// next hands what queued during a flush to a new flusher, so the caller
// that led the flush can answer its own request now.
func (in *tokenInserter) next() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.queue) == 0 {
		in.running--
		return
	}
	group := in.take()
	go func() {
		in.flush(group)
		in.next()
	}()
}

const insertTokenSQL = `INSERT INTO tokens (kind, signature, request_id, client_id, subject, scopes, audience,
	key_id, jti, issued_at, expires_at, session) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`

// insertTokensSQL stores a group in order. Rows whose key is taken (by an
// earlier row of the group, or before) are skipped and then retried
// alone, which names the error; a client deleted meanwhile fails the
// whole statement, and then every row is retried alone.
const insertTokensSQL = `INSERT INTO tokens (kind, signature, request_id, client_id, subject, scopes, audience,
	key_id, jti, issued_at, expires_at, session)
	SELECT k, s, r, c, sub, sc::text[], a::text[], kid, j, iat, exp, sess
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
		$8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[], $12::bytea[])
		WITH ORDINALITY AS u(k, s, r, c, sub, sc, a, kid, j, iat, exp, sess, n)
	ORDER BY n
	ON CONFLICT DO NOTHING
	RETURNING kind, signature`

func (in *tokenInserter) flush(group []*pendingToken) {
	if in.beforeFlush != nil {
		in.beforeFlush()
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if len(group) == 1 {
		group[0].done <- in.insertOne(ctx, group[0].t)
		return
	}
	n := len(group)
	var (
		kinds, sigs, reqs, clients, subs, scopes, auds, kids, jtis = make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n)
		iats, exps = make([]time.Time, n), make([]time.Time, n)
		sessions   = make([][]byte, n)
	)
	for i, p := range group {
		t := p.t
		kinds[i], sigs[i], reqs[i], clients[i], subs[i] = string(t.Kind), t.Signature, t.RequestID, t.ClientID, t.Subject
		scopes[i], auds[i], kids[i], jtis[i] = arrayLiteral(t.Scopes), arrayLiteral(t.Audience), t.KeyID, t.JTI
		iats[i], exps[i], sessions[i] = t.IssuedAt, t.ExpiresAt, nonNilBytes(t.Session)
	}
	rows, err := in.pool.Query(ctx, insertTokensSQL, kinds, sigs, reqs, clients, subs, scopes, auds, kids, jtis, iats, exps, sessions)
	stored := make(map[tokenKey]bool, n)
	if err == nil {
		var k tokenKey
		for rows.Next() {
			if err = rows.Scan(&k.kind, &k.sig); err != nil {
				break
			}
			stored[k] = true
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil && !isForeignKeyViolation(err) {
		err = mapErr("create token", err)
		for _, p := range group {
			p.done <- err
		}
		return
	}
	for _, p := range group {
		// Of rows with one key, the first of the group was stored.
		if k := (tokenKey{string(p.t.Kind), p.t.Signature}); err == nil && stored[k] {
			delete(stored, k)
			p.done <- nil
			continue
		}
		p.done <- in.insertOne(ctx, p.t)
	}
}

type tokenKey struct{ kind, sig string }

func (in *tokenInserter) insertOne(ctx context.Context, t storage.Token) error {
	_, err := in.pool.Exec(ctx, insertTokenSQL,
		string(t.Kind), t.Signature, t.RequestID, t.ClientID, t.Subject, nonNil(t.Scopes), nonNil(t.Audience),
		t.KeyID, t.JTI, t.IssuedAt, t.ExpiresAt, nonNilBytes(t.Session))
	return mapErr("create token", err)
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
