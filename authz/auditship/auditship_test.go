package auditship

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/testutil"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// backends runs fn on a fresh memory store and a fresh PostgreSQL one.
func backends(t *testing.T, fn func(t *testing.T, s storage.Store)) {
	t.Run("memory", func(t *testing.T) { fn(t, memory.New()) })
	t.Run("postgres", func(t *testing.T) { fn(t, pgtest.Open(t)) })
}

// appendEntries appends n entries to s.
func appendEntries(t *testing.T, s storage.Store, n int) {
	t.Helper()
	for i := range n {
		e := storage.AuditEntry{Time: time.Now().UTC(), Type: adminapi.EventAdminRequest, Actor: "admin", Outcome: "ok",
			Details: map[string]string{"i": strconv.Itoa(i)}}
		if err := s.AppendAudit(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
}

// collector is an in-process https collector: it records the seq of each
// entry it acknowledges, and refuses everything while down.
type collector struct {
	srv    *httptest.Server
	caFile string

	mu       sync.Mutex
	seqs     []int64
	down     bool
	auth     string
	attempts int
}

func newCollector(t *testing.T) *collector {
	c := &collector{}
	c.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.auth = r.Header.Get("Authorization")
		c.attempts++
		if c.down || r.Header.Get("Content-Type") != "application/x-ndjson" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		sc := bufio.NewScanner(r.Body)
		var got []int64
		for sc.Scan() {
			var e adminapi.AuditEntryJSON
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil || len(e.Hash) != 64 {
				t.Errorf("collector: a line that is no entry with a hash: %s", sc.Bytes())
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			got = append(got, e.Seq)
		}
		c.seqs = append(c.seqs, got...)
	}))
	t.Cleanup(c.srv.Close)
	c.caFile = filepath.Join(t.TempDir(), "ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.srv.Certificate().Raw})
	if err := os.WriteFile(c.caFile, block, 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *collector) received() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int64(nil), c.seqs...)
}

func (c *collector) setDown(down bool) {
	c.mu.Lock()
	c.down = down
	c.mu.Unlock()
}

// inOrderOnce fails unless got is 1..n, each once.
func inOrderOnce(t *testing.T, got []int64, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("collector got %d entries, want %d: %v", len(got), n, got)
	}
	for i, s := range got {
		if s != int64(i+1) {
			t.Fatalf("collector got seq %d at place %d, want %d: %v", s, i, i+1, got)
		}
	}
}

// drain runs steps until one ships nothing.
func drain(t *testing.T, s *Shipper) {
	t.Helper()
	for range 100 {
		n, err := s.Step(t.Context())
		if err != nil {
			t.Fatalf("Step = %v", err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("shipping did not catch up in 100 steps")
}

// TestShipsOnceInOrderAcrossOutageAndRestart: entries reach the collector
// in order and once; while it is down nothing advances and nothing is
// lost; a new shipper (a restart, or another replica) takes over when the
// old one's lease ends and resumes where the store says.
func TestShipsOnceInOrderAcrossOutageAndRestart(t *testing.T) {
	backends(t, func(t *testing.T, store storage.Store) {
		c := newCollector(t)
		sink, err := Open(SinkConfig{URL: c.srv.URL + "/ingest", Token: "collector-token", CAFile: c.caFile})
		if err != nil {
			t.Fatal(err)
		}
		clock := testutil.NewClock(time.Now())
		var lag int64 = -1
		cfg := Config{Store: store, Sink: sink, Batch: 7, Now: clock.Now, OnLag: func(n int64) { lag = n }}
		first, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		appendEntries(t, store, 20)
		drain(t, first)
		inOrderOnce(t, c.received(), 20)
		if lag != 0 {
			t.Errorf("lag after catching up = %d, want 0", lag)
		}
		if c.auth != "Bearer collector-token" {
			t.Errorf("collector got Authorization %q, want the bearer token", c.auth)
		}

		c.setDown(true)
		appendEntries(t, store, 5)
		if _, err := first.Step(t.Context()); err == nil {
			t.Fatal("Step with the collector down = nil error")
		}
		inOrderOnce(t, c.received(), 20)
		c.setDown(false)

		// A restart: the new shipper waits for the lease, then resumes.
		second, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := second.Step(t.Context()); !errors.Is(err, errNotHolder) {
			t.Fatalf("Step of a second shipper while the first holds the lease = %v, want errNotHolder", err)
		}
		clock.Advance(DefaultLease + time.Second)
		drain(t, second)
		inOrderOnce(t, c.received(), 25)
		if lag != 0 {
			t.Errorf("lag after the restart caught up = %d, want 0", lag)
		}
		// The first lost its lease: it ships nothing more.
		appendEntries(t, store, 1)
		if n, err := first.Step(t.Context()); !errors.Is(err, errNotHolder) || n != 0 {
			t.Fatalf("Step of the shipper that lost its lease = %d, %v; want errNotHolder", n, err)
		}
	})
}

// TestRunBacksOffAndCatchesUp: Run keeps going through an outage and
// delivers everything once the collector is back.
func TestRunBacksOffAndCatchesUp(t *testing.T) {
	store := memory.New()
	c := newCollector(t)
	sink, err := Open(SinkConfig{URL: c.srv.URL, CAFile: c.caFile})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: store, Sink: sink, Interval: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.setDown(true)
	appendEntries(t, store, 12)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	testutil.Eventually(t, 5*time.Second, "two refused deliveries", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.attempts >= 2
	})
	c.setDown(false)
	testutil.Eventually(t, 10*time.Second, "every entry delivered", func() bool { return len(c.received()) == 12 })
	inOrderOnce(t, c.received(), 12)
}

// TestSyslogSink: RFC 5424 messages, octet-counted over TLS, carry each
// entry's seq and hash, in order.
func TestSyslogSink(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS() // for its certificate
	cert := srv.TLS.Certificates[0]
	srv.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	msgs := make(chan string, 100)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		for {
			n, err := r.ReadString(' ')
			if err != nil {
				return
			}
			size, _ := strconv.Atoi(strings.TrimSpace(n))
			buf := make([]byte, size)
			if _, err := io.ReadFull(r, buf); err != nil {
				return
			}
			msgs <- string(buf)
		}
	}()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	sink, err := Open(SinkConfig{URL: "syslog+tls://127.0.0.1:" + port, CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New()
	appendEntries(t, store, 3)
	s, err := New(Config{Store: store, Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	drain(t, s)
	for i := 1; i <= 3; i++ {
		select {
		case m := <-msgs:
			if !strings.HasPrefix(m, "<110>1 ") || !strings.Contains(m, " idvauth - admin.request [idvauth@32473 seq=\""+strconv.Itoa(i)+"\" hash=\"") {
				t.Errorf("syslog message %d = %q", i, m)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("syslog message %d did not arrive", i)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	for _, u := range []string{"", "http://collector.example/in", "https://user:pw@collector.example/in", "ftp://x", "syslog+tls://host", "syslog+tls://host:6514/path", "https:///nohost"} {
		if _, err := Open(SinkConfig{URL: u}); err == nil {
			t.Errorf("Open(%q) = nil error", u)
		}
	}
	if _, err := Open(SinkConfig{URL: "https://collector.example/in", CAFile: "/nonexistent/ca.pem"}); err == nil {
		t.Error("Open with a missing CA file = nil error")
	}
}
