package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// openAudit opens a store on a fresh schema with an OnAuditBatch hook and
// returns it with its URL.
func openAudit(t testing.TB, onBatch func(int, time.Duration)) (*postgres.Store, string) {
	t.Helper()
	u := pgtest.URL(t)
	s, err := postgres.Open(context.Background(), postgres.Config{URL: u, OnAuditBatch: onBatch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, u
}

// appendEntries appends n entries, one call each, for client "c-<i>".
func appendEntries(t testing.TB, s storage.AuditStore, at time.Time, n int) {
	t.Helper()
	for i := range n {
		e := storage.AuditEntry{Time: at, Type: "token.issued", Actor: "client:c", ClientID: fmt.Sprintf("c-%d", i+1), Outcome: "ok"}
		if err := s.AppendAudit(context.Background(), e); err != nil {
			t.Fatalf("AppendAudit = %v", err)
		}
	}
}

// verify feeds the whole trail to an AuditVerifier, page by page, and
// returns the first break (or nil) and the number of entries checked.
func verify(t testing.TB, s storage.AuditStore) (int64, error) {
	t.Helper()
	var v storage.AuditVerifier
	f := storage.AuditFilter{Limit: 3}
	for {
		page, err := s.ListAudit(context.Background(), f)
		if err != nil {
			t.Fatalf("ListAudit = %v", err)
		}
		for _, e := range page {
			if err := v.Add(e); err != nil {
				return 0, err
			}
		}
		if len(page) < f.Limit {
			return v.Finish()
		}
		f.AfterSeq = page[len(page)-1].Seq
	}
}

// TestAuditAppendOnly checks that the trigger refuses every change but
// retention's delete, for the table's owner too.
func TestAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		sql  string
	}{
		{"update", `UPDATE audit_entries SET client_id = 'x' WHERE seq = 2`},
		{"update body", `UPDATE audit_entries SET body = body || ' '::bytea`},
		{"delete", `DELETE FROM audit_entries WHERE seq = 1`},
		{"delete nothing", `DELETE FROM audit_entries WHERE seq = 999`},
		{"truncate", `TRUNCATE audit_entries`},
		{"truncate with the retention setting", `SET LOCAL idvauth.audit_retention = 'on'; TRUNCATE audit_entries`},
		{"update with the retention setting", `SET LOCAL idvauth.audit_retention = 'on'; UPDATE audit_entries SET actor = 'x'`},
		{"delete the head", `DELETE FROM audit_head`},
		{"truncate the head", `TRUNCATE audit_head`},
	}
	s, u := openAudit(t, nil)
	appendEntries(t, s, time.Now().Add(-time.Hour), 3)
	conn := connect(t, u)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			_, err = tx.Exec(ctx, tt.sql)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "42501" {
				t.Fatalf("%s = %v, want the trigger's insufficient_privilege", tt.sql, err)
			}
		})
	}
	if n, err := verify(t, s); n != 3 || err != nil {
		t.Errorf("after the refused changes: verified %d, %v; want 3, nil", n, err)
	}

	// Retention's way: the setting, in a transaction.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SET LOCAL idvauth.audit_retention = 'on'`); err != nil {
		t.Fatal(err)
	}
	if tag, err := tx.Exec(ctx, `DELETE FROM audit_entries WHERE seq = 1`); err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("DELETE under the retention setting = %v, %v", tag, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// The setting ended with its transaction.
	if _, err := conn.Exec(ctx, `DELETE FROM audit_entries WHERE seq = 1`); err == nil {
		t.Error("DELETE after the retention transaction succeeded")
	}
}

// TestAuditTamper changes the table as its owner, past the trigger, and
// checks that AuditVerifier names where.
func TestAuditTamper(t *testing.T) {
	ctx := context.Background()
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	tests := []struct {
		name string
		// tamper changes the chain of 10 entries through conn.
		tamper  func(t *testing.T, conn *pgx.Conn)
		wantSeq int64
	}{
		{"changed body", func(t *testing.T, conn *pgx.Conn) {
			mustExec(t, conn, `UPDATE audit_entries
				SET body = convert_to(replace(convert_from(body, 'UTF8'), '"client_id":"c-5"', '"client_id":"c-evil"'), 'UTF8'),
					client_id = 'c-evil'
				WHERE seq = 5`)
		}, 5},
		{"changed body and its hash", func(t *testing.T, conn *pgx.Conn) {
			mustExec(t, conn, `UPDATE audit_entries
				SET body = convert_to(replace(convert_from(body, 'UTF8'), '"outcome":"ok"', '"outcome":"invalid_client"'), 'UTF8')
				WHERE seq = 5`)
			mustExec(t, conn, `UPDATE audit_entries SET hash = sha256(prev_hash || body) WHERE seq = 5`)
		}, 6},
		{"deleted middle entry", func(t *testing.T, conn *pgx.Conn) {
			mustExec(t, conn, `DELETE FROM audit_entries WHERE seq = 5`)
		}, 5},
		{"inserted entry", func(t *testing.T, conn *pgx.Conn) {
			mustExec(t, conn, `UPDATE audit_entries SET seq = -seq WHERE seq >= 5`)
			mustExec(t, conn, `UPDATE audit_entries SET seq = -seq + 1 WHERE seq < 0`)
			var prev []byte
			if err := conn.QueryRow(ctx, `SELECT hash FROM audit_entries WHERE seq = 4`).Scan(&prev); err != nil {
				t.Fatal(err)
			}
			forged := storage.AuditEntry{Time: at, Type: "token.issued", Actor: "client:c", ClientID: "c-forged", Outcome: "ok"}
			body := forged.Canonical()
			mustExec(t, conn, `INSERT INTO audit_entries (seq, at, type, actor, client_id, subject, prev_hash, hash, body)
				VALUES (5, $1, 'token.issued', 'client:c', 'c-forged', '', $2, $3, $4)`,
				at, prev, storage.AuditHash(prev, body), body)
			mustExec(t, conn, `UPDATE audit_head SET seq = seq + 1`)
		}, 6},
		{"deleted leading entries", func(t *testing.T, conn *pgx.Conn) {
			mustExec(t, conn, `DELETE FROM audit_entries WHERE seq <= 3`)
		}, 4},
		{"body not canonical", func(t *testing.T, conn *pgx.Conn) {
			mustExec(t, conn, `UPDATE audit_entries SET body = body || ' '::bytea WHERE seq = 7`)
			mustExec(t, conn, `UPDATE audit_entries SET hash = sha256(prev_hash || body) WHERE seq = 7`)
		}, 7},
		{"body not JSON", func(t *testing.T, conn *pgx.Conn) {
			mustExec(t, conn, `UPDATE audit_entries SET body = '\x00ff'::bytea WHERE seq = 8`)
		}, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, u := openAudit(t, nil)
			appendEntries(t, s, at, 10)
			if n, err := verify(t, s); n != 10 || err != nil {
				t.Fatalf("before tampering: verified %d, %v", n, err)
			}
			conn := connect(t, u)
			mustExec(t, conn, `ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only`)
			tt.tamper(t, conn)
			mustExec(t, conn, `ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_append_only`)
			_, err := verify(t, s)
			var brk *storage.AuditBreak
			if !errors.As(err, &brk) || brk.Seq != tt.wantSeq || !errors.Is(err, storage.ErrAuditBroken) {
				t.Fatalf("verify after tampering = %v, want a break at entry %d", err, tt.wantSeq)
			}
			t.Logf("verifier: %v", err)
		})
	}
}

// TestAuditTwoReplicas appends through two stores (two pools, as two
// replicas would) on one schema at once: one contiguous chain.
func TestAuditTwoReplicas(t *testing.T) {
	u := pgtest.URL(t)
	var stores [2]*postgres.Store
	for i := range stores {
		s, err := postgres.Open(context.Background(), postgres.Config{URL: u})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		stores[i] = s
	}
	const workers, calls = 8, 25
	var wg sync.WaitGroup
	var failed atomic.Int32
	for r, s := range stores {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range calls {
					e := storage.AuditEntry{Time: time.Now(), Type: "token.issued", Actor: "system",
						RequestID: fmt.Sprintf("%d/%d/%d", r, w, i), Outcome: "ok"}
					if err := s.AppendAudit(context.Background(), e); err != nil {
						t.Errorf("replica %d: AppendAudit = %v", r, err)
						failed.Add(1)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.FailNow()
	}
	want := int64(len(stores) * workers * calls)
	if n, err := verify(t, stores[1]); n != want || err != nil {
		t.Fatalf("verified %d entries, %v; want %d", n, err, want)
	}
	seen := make(map[string]bool)
	f := storage.AuditFilter{}
	for {
		page, err := stores[0].ListAudit(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if seen[e.RequestID] {
				t.Errorf("entry %s appended twice", e.RequestID)
			}
			seen[e.RequestID] = true
		}
		if len(page) < storage.MaxAuditPage {
			break
		}
		f.AfterSeq = page[len(page)-1].Seq
	}
	if int64(len(seen)) != want {
		t.Errorf("%d distinct entries, want %d", len(seen), want)
	}
}

// TestAuditGroupCommit holds one append so that others queue behind it,
// and checks that the queue is appended in one statement, with each caller
// answered.
func TestAuditGroupCommit(t *testing.T) {
	var mu sync.Mutex
	var batches []int
	s, _ := openAudit(t, func(n int, d time.Duration) {
		if d <= 0 {
			t.Errorf("OnAuditBatch commit duration %v, want > 0", d)
		}
		mu.Lock()
		batches = append(batches, n)
		mu.Unlock()
	})
	ctx := context.Background()
	entry := func(i, j int) storage.AuditEntry {
		return storage.AuditEntry{Time: time.Now(), Type: "token.issued", Actor: "system", RequestID: fmt.Sprintf("%d.%d", i, j), Outcome: "ok"}
	}
	const queued = 20
	errs, _ := queueBehindHeldFlush(t, auditFlushes(s), queued, func(i int) error {
		if i == 0 {
			return s.AppendAudit(ctx, entry(0, 0))
		}
		return s.AppendAudit(ctx, entry(i, 0), entry(i, 1))
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("AppendAudit %d = %v", i, err)
		}
	}
	mu.Lock()
	got := fmt.Sprint(batches)
	mu.Unlock()
	if want := fmt.Sprint([]int{1, 2 * queued}); got != want {
		t.Errorf("OnAuditBatch saw batches of %s entries, want %s", got, want)
	}
	if n, err := verify(t, s); n != 1+2*queued || err != nil {
		t.Errorf("verified %d entries, %v; want %d", n, err, 1+2*queued)
	}
}

// TestAuditGroupCommitError checks that a failed group append answers
// every caller in it with the error and appends nothing.
func TestAuditGroupCommitError(t *testing.T) {
	var batches atomic.Int32
	s, u := openAudit(t, func(int, time.Duration) { batches.Add(1) })
	conn := connect(t, u)
	mustExec(t, conn, `ALTER FUNCTION audit_append RENAME TO audit_append_gone`)
	ctx := context.Background()
	e := storage.AuditEntry{Time: time.Now(), Type: "token.issued", Actor: "system", Outcome: "ok"}
	errs, _ := queueBehindHeldFlush(t, auditFlushes(s), 5, func(int) error { return s.AppendAudit(ctx, e) })
	for i, err := range errs {
		if err == nil {
			t.Errorf("AppendAudit %d without the append function = nil, want an error", i)
		}
	}
	if batches.Load() != 0 {
		t.Errorf("OnAuditBatch called %d times for failed batches", batches.Load())
	}
	mustExec(t, conn, `ALTER FUNCTION audit_append_gone RENAME TO audit_append`)
	appendEntries(t, s, time.Now(), 2)
	if n, err := verify(t, s); n != 2 || err != nil {
		t.Errorf("after the failure: verified %d, %v; want 2 entries", n, err)
	}
}

// BenchmarkAppendAudit appends one entry per call from many goroutines:
// durable commits, grouped. Run with -cpu to vary the callers.
func BenchmarkAppendAudit(b *testing.B) {
	for _, flushers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("flushers=%d", flushers), func(b *testing.B) {
			var entries, batches atomic.Int64
			s, _ := openAudit(b, func(n int, _ time.Duration) { entries.Add(int64(n)); batches.Add(1) })
			postgres.SetAuditFlushers(s, flushers)
			e := storage.AuditEntry{Time: time.Now(), Type: "token.issued", Actor: "client:c", ClientID: "c", Outcome: "ok",
				Details: map[string]string{"grant": "client_credentials", "scope": "identity.verify"}}
			b.SetParallelism(16)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.AppendAudit(context.Background(), e); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if n := batches.Load(); n > 0 {
				b.ReportMetric(float64(entries.Load())/float64(n), "entries/batch")
			}
		})
	}
}

// BenchmarkAuditChainCeiling appends entries to the one chain that every
// replica shares from 1 to 64 concurrent appenders (each its own
// goroutine, as requests of several replicas would be), with the group
// commit as a server runs it, and reports entries per second: the ceiling
// of the trail's throughput on this machine (issue 22).
func BenchmarkAuditChainCeiling(b *testing.B) {
	for _, appenders := range []int{1, 2, 4, 8, 16, 32, 64} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			var entries, batches atomic.Int64
			s, _ := openAudit(b, func(n int, _ time.Duration) { entries.Add(int64(n)); batches.Add(1) })
			e := storage.AuditEntry{Time: time.Now(), Type: "token.introspected", Actor: "client:rs", ClientID: "rs", Outcome: "ok",
				Details: map[string]string{"active": "true", "jti": "0123456789abcdef"}}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range appenders {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if err := s.AppendAudit(context.Background(), e); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "entries/s")
			if n := batches.Load(); n > 0 {
				b.ReportMetric(float64(entries.Load())/float64(n), "entries/batch")
			}
		})
	}
}

// BenchmarkCreateTokenAudited stores a token and its entry per call, as
// client_credentials issuance does with the trail on: one caller (every
// call pays a whole durable commit) and 16 (grouped).
func BenchmarkCreateTokenAudited(b *testing.B) {
	for _, callers := range []int{1, 16} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			var entries, batches atomic.Int64
			s, _ := openAudit(b, func(n int, _ time.Duration) { entries.Add(int64(n)); batches.Add(1) })
			now := time.Now()
			if err := s.CreateClient(context.Background(), storage.Client{ID: "c", Name: "c", CreatedAt: now, UpdatedAt: now}); err != nil {
				b.Fatal(err)
			}
			e := storage.AuditEntry{Time: now, Type: "token.issued", Actor: "client:c", ClientID: "c", Outcome: "ok",
				Details: map[string]string{"grant": "client_credentials", "scope": "identity.verify"}}
			var next atomic.Int64 // calls handed out
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
						t := storage.Token{Kind: storage.AccessToken, Signature: fmt.Sprintf("sig-%d", n), RequestID: fmt.Sprintf("req-%d", n),
							ClientID: "c", Subject: "c", Scopes: []string{"identity.verify"}, Audience: []string{"idv-api"},
							KeyID: "kid", JTI: fmt.Sprintf("jti-%d", n), IssuedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
						if err := s.CreateTokenAudited(context.Background(), t, e); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			if n := batches.Load(); n > 0 {
				b.ReportMetric(float64(entries.Load())/float64(n), "entries/batch")
			}
		})
	}
}
