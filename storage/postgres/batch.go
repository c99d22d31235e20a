package postgres

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idvauth/idvauth/storage"
)

// committer stores items in groups, for callers that each wait until
// their own item is committed. A caller that finds fewer than max flushes
// in flight runs its own at once, so an idle server adds no latency; one
// that finds them all busy queues, and the next free flush stores
// everything queued (up to maxBatch items) in one statement. Under load an
// item then costs a fraction of a statement and a transaction.
//
// The zero value is not usable; set max, maxBatch and flush.
type committer[T any] struct {
	max      int // concurrent flushes
	maxBatch int // items per flush
	// flush stores group and returns one error per item (nil for all
	// stored). It must not keep group.
	flush func(ctx context.Context, group []T) []error

	// linger, if set, bounds how long a flusher waits, under load, for
	// the queue to grow to the size of the flush before it (see next):
	// fewer, larger groups then commit, which saves a commit (a WAL flush
	// for a durable one) per item on a busy server.
	linger time.Duration

	mu      sync.Mutex
	queue   []*pending[T]
	running int
	want    int           // a waiting flusher wants this many items queued
	filled  chan struct{} // closed when the queue has want items

	// beforeFlush, if set, runs before each flush; tests use it to hold
	// a flush and let a queue build up.
	beforeFlush func()
}

type pending[T any] struct {
	item T
	done chan error
	// deadline is the caller's (zero: none): past it, nobody waits for
	// the item.
	deadline time.Time
}

// flushTimeout bounds one group statement. It does not come from a
// caller's context: the group holds other callers' items too. A group
// whose callers all have deadlines is given up at the last of them: a
// statement nobody waits for any more must not commit later (each of
// those callers answered an error).
const flushTimeout = 10 * time.Second

// do stores item and returns when its group is committed (or failed), or
// when ctx is done. The item is then not stored later, unless its
// statement started just before ctx's deadline and only the answer was
// late (see deadlineGuard).
func (c *committer[T]) do(ctx context.Context, item T) error {
	p := &pending[T]{item: item, done: make(chan error, 1)}
	p.deadline, _ = ctx.Deadline()
	c.mu.Lock()
	c.queue = append(c.queue, p)
	if c.want > 0 && len(c.queue) >= c.want {
		close(c.filled)
		c.want, c.filled = 0, nil
	}
	lead := c.running < c.max
	var group []*pending[T]
	if lead {
		c.running++
		group = c.take()
	}
	c.mu.Unlock()
	if lead {
		c.run(group)
		c.next(len(group))
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		select {
		case err := <-p.done: // answered at the same moment: the truth
			return err
		default:
		}
		return ctx.Err()
	}
}

// take removes up to maxBatch queued items; c.mu must be held.
func (c *committer[T]) take() []*pending[T] {
	n := min(len(c.queue), c.maxBatch)
	group := c.queue[:n:n]
	c.queue = c.queue[n:]
	if len(c.queue) == 0 {
		c.queue = nil
	}
	return group
}

// next hands what queued during a flush of flushed items to a new
// flusher, so the caller that led the flush can answer its own request
// now. Under load, when fewer items queued than the flush carried, the
// new flusher first waits (up to linger) until as many have queued.
func (c *committer[T]) next(flushed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		c.running--
		return
	}
	var group []*pending[T]
	var filled chan struct{}
	if c.linger > 0 && len(c.queue) < min(flushed, c.maxBatch) && c.want == 0 {
		c.want, filled = min(flushed, c.maxBatch), make(chan struct{})
		c.filled = filled
	} else {
		group = c.take()
	}
	go func() {
		if filled != nil {
			t := time.NewTimer(c.linger)
			select {
			case <-filled:
			case <-t.C:
			}
			t.Stop()
			c.mu.Lock()
			c.want, c.filled = 0, nil
			group = c.take()
			c.mu.Unlock()
		}
		c.run(group)
		c.next(len(group))
	}()
}

// run flushes group and answers each of its callers. An item whose
// caller's deadline has passed is not stored (its caller has answered an
// error); the rest are stored only if the statement starts before the
// earliest of their deadlines (see deadlineGuard), and the flush gives up
// then too.
func (c *committer[T]) run(group []*pending[T]) {
	if c.beforeFlush != nil {
		c.beforeFlush()
	}
	now := time.Now()
	first := now.Add(flushTimeout)
	items := make([]T, 0, len(group))
	live := group[:0:0]
	for _, p := range group {
		if !p.deadline.IsZero() && !p.deadline.After(now) {
			p.done <- fmt.Errorf("postgres: %w", errLate)
			continue
		}
		items = append(items, p.item)
		live = append(live, p)
		if !p.deadline.IsZero() && p.deadline.Before(first) {
			first = p.deadline
		}
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), first)
	defer cancel()
	errs := c.flush(ctx, items)
	for i, p := range live {
		p.done <- errs[i]
	}
}

// errLate is the error of an item that reached the database after its
// caller's deadline, and was not stored.
var errLate = fmt.Errorf("not stored: the deadline passed before the statement ran: %w", context.DeadlineExceeded)

// deadlineGuard is the last moment, by the database's clock, at which a
// statement of a flush with context ctx may still store anything:
// statements guarded by it (a condition on now(), the start of their
// transaction) store nothing when they start later. So a statement
// written into a network cut and delivered after it, long after its
// callers were answered an error, stores nothing. The grace allows for
// clocks a little apart.
func deadlineGuard(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		d = time.Now().Add(flushTimeout)
	}
	return d.Add(guardGrace)
}

// guardGrace is how far the database's clock may run ahead of ours before
// a guarded statement refuses in time: NTP keeps clocks within
// milliseconds.
const guardGrace = 250 * time.Millisecond

// queued is how many items wait for a flush.
func (c *committer[T]) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// sameError returns n copies of err, the answer of a group that failed or
// succeeded as a whole.
func sameError(n int, err error) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// tokenInserter stores new token records in groups (a committer): on two
// cores this is the difference between PostgreSQL and the signer
// competing for CPU and the signer having it.
type tokenInserter struct {
	pool *pgxpool.Pool
	committer[storage.Token]
}

// maxTokenBatch bounds one statement; larger queues take several.
const maxTokenBatch = 256

func newTokenInserter(pool *pgxpool.Pool, max int) *tokenInserter {
	in := &tokenInserter{pool: pool}
	in.committer = committer[storage.Token]{max: max, maxBatch: maxTokenBatch, flush: in.flush}
	return in
}

// insert stores t and returns when its group is committed (or failed).
func (in *tokenInserter) insert(ctx context.Context, t storage.Token) error {
	return in.do(ctx, t)
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
	if err != nil && !isForeignKeyViolation(err) {
		return sameError(len(group), mapErr("create token", err))
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
	rows, err := q.Query(ctx, insertTokensSQL, tokenGroupArgs(group, deadlineGuard(ctx))...)
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
		iats[i], exps[i], sessions[i] = t.IssuedAt, t.ExpiresAt, nonNilBytes(t.Session)
	}
	return []any{kinds, sigs, reqs, clients, subs, scopes, auds, kids, jtis, iats, exps, sessions, guard}
}

type tokenKey struct{ kind, sig string }

func (in *tokenInserter) insertOne(ctx context.Context, t storage.Token) error {
	tag, err := in.pool.Exec(ctx, insertTokenSQL,
		string(t.Kind), t.Signature, t.RequestID, t.ClientID, t.Subject, nonNil(t.Scopes), nonNil(t.Audience),
		t.KeyID, t.JTI, t.IssuedAt, t.ExpiresAt, nonNilBytes(t.Session), deadlineGuard(ctx))
	if err == nil && tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: create token: %w", errLate)
	}
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
