package postgres_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idvauth/idvauth/storage/postgres"
)

func connect(t testing.TB, u string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// waitFor polls cond until it holds; it fails the test after a generous
// deadline (a hang, not a slow machine).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func mustExec(t testing.TB, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// flushHook is what a group committer of a store waits behind: hold
// installs a hook run before each flush, queued says how many calls wait.
type flushHook struct {
	hold   func(hook func())
	queued func() int
}

func tokenFlushes(s *postgres.Store) flushHook {
	return flushHook{func(h func()) { postgres.HoldTokenFlushes(s, h) }, func() int { return postgres.QueuedTokens(s) }}
}

func auditFlushes(s *postgres.Store) flushHook {
	return flushHook{func(h func()) { postgres.HoldAuditFlushes(s, h) }, func() int { return postgres.QueuedAudit(s) }}
}

// queueBehindHeldFlush makes call(0) lead a flush of the committer of f
// and holds that flush until call(1) to call(n) all wait behind it; then
// it lets it go. It returns each call's answer and how many flushes ran.
func queueBehindHeldFlush(t testing.TB, f flushHook, n int, call func(i int) error) ([]error, int32) {
	t.Helper()
	var flushes atomic.Int32
	release := make(chan struct{})
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	defer let() // on failure too: no flush stays held
	f.hold(func() {
		if flushes.Add(1) == 1 {
			<-release
		}
	})
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	start := func(i int) {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = call(i) }()
	}
	start(0)
	waitFor(t, "the first flush", func() bool { return flushes.Load() > 0 })
	for i := 1; i <= n; i++ {
		start(i)
	}
	waitFor(t, "the queue", func() bool { return f.queued() == n })
	let()
	wg.Wait()
	return errs, flushes.Load()
}
