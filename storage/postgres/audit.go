package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres/internal/groupcommit"
	"github.com/idvauth/idvauth/storage/postgres/internal/pgconv"
)

// auditRow is one entry as audit_append takes it: the canonical body the
// hash covers, and the facts of it that the filters use.
type auditRow struct {
	at                            time.Time
	typ, actor, clientID, subject string
	body                          []byte
}

// newAuditRow builds e's row. The columns are the sealed entry's fields,
// so they say what the body says; a NUL, which a text column cannot hold,
// becomes U+FFFD there (ListAudit compares exactly after reading).
func newAuditRow(e storage.AuditEntry) (auditRow, error) {
	d, err := e.Sealed()
	if err != nil {
		return auditRow{}, err
	}
	return auditRow{at: d.Time, typ: auditColumn(d.Type), actor: auditColumn(d.Actor),
		clientID: auditColumn(d.ClientID), subject: auditColumn(d.Subject), body: d.Body}, nil
}

// auditColumn maps sealed text (valid UTF-8) to what a text column can
// hold.
func auditColumn(v string) string { return strings.ReplaceAll(v, "\x00", "\uFFFD") }

// auditor appends audit entries in groups (a committer of AppendAudit
// and CreateTokenAudited calls, each a run of rows kept together and in
// order, and perhaps a token) through audit_append, on the durable pool.
type auditor struct {
	pool    *pgxpool.Pool
	onBatch func(entries int, commit time.Duration)
	groupcommit.Committer[auditItem]
}

// auditItem is one call's rows and, for CreateTokenAudited, its token,
// stored in the same transaction.
type auditItem struct {
	token *storage.Token
	rows  []auditRow
}

// maxAuditBatch bounds the AppendAudit calls one statement appends.
const maxAuditBatch = 256

// auditFlushers is how many group appends one process runs at once. The
// head row lock lets one append at a time commit anyway: a second flush in
// flight would only wait on it holding a connection, while the entries
// that queue behind a single flush all go in the next statement.
// BenchmarkAppendAudit (two cores, 32 appenders, durable commits, one
// quiet run): one flusher 42us per entry at 27 entries a batch, two 59us
// at 14, four 110us at 7. End to end (idvauth-load, 32 workers) two were
// no better either.
const auditFlushers = 1

// auditLinger bounds how long a flush waits, under load, for as many
// entries as the flush before it carried (see groupcommit.Committer.Linger). Every
// durable commit costs a WAL flush, and on a busy machine that is CPU
// (the kernel's) as well as time: idvauth-load on two cores, 32 workers,
// audit on (median of two): no wait 2.9k tokens/s at 8.6 entries a
// flush, a fixed 1ms wait 3.3k at 12, 2ms 3.2k at 14; with the wait
// ending once the queue is as long as the last flush, 1ms 3.4k at 11.
// One worker never waits: its flushes carry one entry.
const auditLinger = time.Millisecond

func newAuditor(pool *pgxpool.Pool, onBatch func(int, time.Duration)) *auditor {
	a := &auditor{pool: pool, onBatch: onBatch}
	a.Committer = groupcommit.Committer[auditItem]{Max: auditFlushers, MaxBatch: maxAuditBatch, Linger: auditLinger, Flush: a.flush}
	return a
}

const appendAuditSQL = `SELECT audit_append($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[])`

// appendAuditGuardedSQL is appendAuditSQL that appends nothing when its
// transaction started at or after $7 (see groupcommit.DeadlineGuard).
const appendAuditGuardedSQL = appendAuditSQL + ` WHERE now() < $7`

// auditArgs are the arguments of appendAuditSQL for rows.
func auditArgs(rows []auditRow) []any {
	n := len(rows)
	ats, types, actors, clients, subjects, bodies := make([]time.Time, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([][]byte, n)
	for i, r := range rows {
		ats[i], types[i], actors[i], clients[i], subjects[i], bodies[i] = r.at, r.typ, r.actor, r.clientID, r.subject, r.body
	}
	return []any{ats, types, actors, clients, subjects, bodies}
}

// insertAuditedTokensSQL stores a group's tokens beside its entries. A
// taken key fails it (and so the group's transaction) instead of being
// skipped as in insertTokensSQL: the entries must not commit without
// their tokens.
const insertAuditedTokensSQL = insertTokensSelect

func (a *auditor) flush(ctx context.Context, group []auditItem) []error {
	var rows []auditRow
	var tokens []storage.Token
	for _, g := range group {
		rows = append(rows, g.rows...)
		if g.token != nil {
			tokens = append(tokens, *g.token)
		}
	}
	start := time.Now()
	// One round trip: the statements go as one pipeline, which
	// PostgreSQL runs as one implicit transaction, so the group's tokens
	// and entries commit together (one commit, and no token without its
	// entry) or not at all.
	// Both statements are guarded by the same deadline on now(), which
	// is the same for both: the transaction starts in time and stores
	// everything, or late and stores nothing.
	guard := groupcommit.DeadlineGuard(ctx)
	b := &pgx.Batch{}
	if len(tokens) > 0 {
		b.Queue(insertAuditedTokensSQL, tokenGroupArgs(tokens, guard)...)
	}
	b.Queue(appendAuditGuardedSQL, append(auditArgs(rows), guard)...)
	err := sendGuarded(ctx, a.pool, b)
	if len(tokens) > 0 && (pgconv.IsUniqueViolation(err) || pgconv.IsForeignKeyViolation(err)) {
		if len(group) > 1 {
			// Some token cannot be stored: each call alone, so that
			// only its own fails.
			errs := make([]error, len(group))
			for i := range group {
				errs[i] = a.flush(ctx, group[i:i+1])[0]
			}
			return errs
		}
		return []error{pgconv.MapErr("create token", err)}
	}
	if err == nil && a.onBatch != nil {
		a.onBatch(len(rows), time.Since(start))
	}
	return groupcommit.SameError(len(group), pgconv.MapErr("append audit entries", err))
}

// sendGuarded sends b, whose last statement is appendAuditGuardedSQL,
// and reports groupcommit.ErrLate if that appended nothing.
func sendGuarded(ctx context.Context, pool *pgxpool.Pool, b *pgx.Batch) error {
	br := pool.SendBatch(ctx, b)
	var tag pgconn.CommandTag
	var err error
	for range b.Len() {
		if tag, err = br.Exec(); err != nil {
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && tag.RowsAffected() == 0 {
		return groupcommit.ErrLate
	}
	return err
}

// auditStore is the storage.AuditStore part of Store.
type auditStore struct {
	pool    *pgxpool.Pool // durable: reads and retention
	auditor *auditor      // appends, and tokens stored with their entries
}

// AppendAudit implements storage.AuditStore. Concurrent calls are
// appended together, in one statement and transaction (durable: the pool
// commits synchronously); each returns when that transaction committed.
func (s *auditStore) AppendAudit(ctx context.Context, entries ...storage.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	rows := make([]auditRow, len(entries))
	for i, e := range entries {
		r, err := newAuditRow(e)
		if err != nil {
			return fmt.Errorf("postgres: append audit entries: %w", err)
		}
		rows[i] = r
	}
	return s.auditor.Do(ctx, auditItem{rows: rows})
}

// CreateTokenAudited implements storage.AuditStore: t and e go in the
// same group transaction as concurrent AppendAudit calls (durable unless
// AuditFastCommit).
func (s *auditStore) CreateTokenAudited(ctx context.Context, t storage.Token, e storage.AuditEntry) error {
	if err := checkToken(t); err != nil {
		return err
	}
	r, err := newAuditRow(e)
	if err != nil {
		return fmt.Errorf("postgres: append audit entries: %w", err)
	}
	return s.auditor.Do(ctx, auditItem{token: &t, rows: []auditRow{r}})
}

// ListAudit implements storage.AuditStore: one indexed query per page.
// The filters run on the columns and are checked again on the decoded
// entries. An entry whose body does not decode (a tampered one) comes
// with Seq, PrevHash, Hash and Body only, for AuditVerifier to name.
func (s *auditStore) ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEntry, error) {
	limit := f.Limit
	if limit <= 0 || limit > storage.MaxAuditPage {
		limit = storage.MaxAuditPage
	}
	for _, v := range []string{f.Type, f.ClientID, f.Subject} {
		if !utf8.ValidString(v) { // no entry holds it: bodies are JSON
			return nil, nil
		}
	}
	var where strings.Builder
	args := []any{f.AfterSeq}
	where.WriteString("seq > $1")
	cond := func(c string, v any) {
		args = append(args, v)
		fmt.Fprintf(&where, " AND %s $%d", c, len(args))
	}
	if !f.Since.IsZero() {
		cond("at >=", f.Since)
	}
	if !f.Until.IsZero() {
		cond("at <", f.Until)
	}
	if f.Type != "" {
		cond("type =", auditColumn(f.Type))
	}
	if f.ClientID != "" {
		cond("client_id =", auditColumn(f.ClientID))
	}
	if f.Subject != "" {
		cond("subject =", auditColumn(f.Subject))
	}
	args = append(args, limit)
	q := `SELECT seq, prev_hash, hash, body FROM audit_entries WHERE ` + where.String() +
		` ORDER BY seq LIMIT $` + strconv.Itoa(len(args))

	var out []storage.AuditEntry
	for {
		want := limit - len(out)
		args[len(args)-1] = want
		rows, err := s.pool.Query(ctx, q, args...)
		if err != nil {
			return nil, pgconv.MapErr("list audit entries", err)
		}
		page, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.AuditEntry, error) {
			var e storage.AuditEntry
			var body []byte
			if err := r.Scan(&e.Seq, &e.PrevHash, &e.Hash, &body); err != nil {
				return e, err
			}
			if storage.DecodeAuditBody(&e, body) != nil {
				e.Body = body
			}
			e.Time = e.Time.UTC()
			return e, nil
		})
		if err != nil {
			return nil, pgconv.MapErr("list audit entries", err)
		}
		for _, e := range page {
			if (f.Type == "" || e.Type == f.Type) && (f.ClientID == "" || e.ClientID == f.ClientID) &&
				(f.Subject == "" || e.Subject == f.Subject) {
				out = append(out, e)
			}
		}
		// A NUL and a U+FFFD look alike in the columns: if that dropped
		// any, read on so that a page is short only at the end.
		if len(page) < want || len(out) == limit {
			return out, nil
		}
		args[0] = page[len(page)-1].Seq
	}
}

// DropAuditBefore implements storage.AuditStore in one transaction that
// holds the head lock: appends wait, so the checkpoint follows the last
// entry every replica appended.
func (s *auditStore) DropAuditBefore(ctx context.Context, before, now time.Time) (int, error) {
	dropped := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var head int64
		if err := tx.QueryRow(ctx, `SELECT seq FROM audit_head FOR UPDATE`).Scan(&head); err != nil {
			return err
		}
		var first *int64
		if err := tx.QueryRow(ctx, `SELECT min(seq) FROM audit_entries`).Scan(&first); err != nil || first == nil {
			return err
		}
		// The leading run ends before the first entry (in seq order) that
		// is not older than before.
		through := head
		var keep int64
		err := tx.QueryRow(ctx, `SELECT seq FROM audit_entries WHERE at >= $1 ORDER BY seq LIMIT 1`, before).Scan(&keep)
		switch {
		case err == nil:
			through = keep - 1
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if through < *first {
			return nil
		}
		var lastHash []byte
		if err := tx.QueryRow(ctx, `SELECT hash FROM audit_entries WHERE seq = $1`, through).Scan(&lastHash); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('idvauth.audit_retention', 'on', true)`); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM audit_entries WHERE seq <= $1`, through)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('idvauth.audit_retention', 'off', true)`); err != nil {
			return err
		}
		dropped = int(tag.RowsAffected())
		cp, err := newAuditRow(storage.NewAuditCheckpoint(now, through, lastHash, dropped))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, appendAuditSQL, auditArgs([]auditRow{cp})...)
		return err
	})
	if err != nil {
		return 0, pgconv.MapErr("drop audit entries", err)
	}
	return dropped, nil
}

// AuditHead implements storage.AuditStore: the one row of audit_head.
func (s *auditStore) AuditHead(ctx context.Context) (int64, []byte, error) {
	var seq int64
	var hash []byte
	if err := s.pool.QueryRow(ctx, `SELECT seq, hash FROM audit_head`).Scan(&seq, &hash); err != nil {
		return 0, nil, pgconv.MapErr("read audit head", err)
	}
	return seq, hash, nil
}
