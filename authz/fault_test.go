package authz_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/testutil"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// Settings of the fault tests: short, so that the tests are too.
const (
	faultDeadline = time.Second
	faultInterval = time.Second
	// faultMargin is what an answer may take beyond its deadline: not a
	// bound under test (a hang lasts as long as the fault, which here
	// lasts until the test ends it), only the proof that it did not hang.
	faultMargin = 5 * time.Second
)

// faultClient gives up on an answer long after faultDeadline + faultMargin,
// so that a hang fails the test rather than stalls it.
var faultClient = &http.Client{Timeout: 30 * time.Second}

// TestDatabaseFaults runs replica A through a TCP proxy to PostgreSQL and
// replica C straight to it, and plays the network faults of issue 24 on
// A's connections: a cut (bytes and new connections held, then
// delivered), then a blackhole (A's connections dead for ever, new ones
// passing). During the cut A answers 503 with Retry-After within its
// deadline, is not ready, and stores nothing of what it refused even
// when the held statements arrive afterwards; after each fault, A follows
// a key rotation C made within a few check intervals, its first request
// works, tokens of C's new key introspect active on A, GET /admin/keys
// answers, and no goroutine is left in the driver.
func TestDatabaseFaults(t *testing.T) {
	dbURL := pgtest.URL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	p := testutil.NewProxy(t, u.Host)
	u.Host = p.Addr()
	cfg := authz.Config{Issuer: sharedIssuer, DatabaseTimeout: faultDeadline, KeyCheckInterval: faultInterval,
		ClientLockCacheTTL: time.Hour, ClientAuthMaxFailures: 1000, ClientAuthMaxFailuresPerIP: 1000}
	cfgA, cfgC := cfg, cfg
	cfgA.DatabaseURL, cfgC.DatabaseURL = u.String(), dbURL
	a := startServer(t, cfgA)
	c := startServer(t, cfgC, serverOptions{ReplicaOf: a.harnessServer})
	svc := a.Demo.Service

	tok := a.mustToken(t)
	a.requireActive(t, tok)
	baseline := driverGoroutines()
	countIssued := func() int {
		return len(c.auditAll(t, url.Values{"type": {adminapi.EventTokenIssued}, "limit": {"1000"}}))
	}
	tokens, issued, answered := pgtest.CountTokens(t, dbURL), countIssued(), tokenAnswers.Load()

	t.Run("cut", func(t *testing.T) {
		a.mustToken(t) // the client and its lock-out state are fresh in A's caches
		p.Cut()
		for _, rq := range []struct {
			name string
			req  *http.Request
		}{
			{"token", formRequest(t, a.Public+"/oauth2/token", svc.ClientID, svc.ClientSecret,
				url.Values{"grant_type": {"client_credentials"}, "scope": {"identity.verify"}})},
			{"introspect", formRequest(t, a.Public+"/oauth2/introspect", a.Demo.ResourceServer.ClientID,
				a.Demo.ResourceServer.ClientSecret, url.Values{"token": {tok}})},
			{"revoke", formRequest(t, a.Public+"/oauth2/revoke", svc.ClientID, svc.ClientSecret, url.Values{"token": {tok}})},
			{"ready", mustReq(t, http.MethodGet, a.Public+"/health/ready")},
		} {
			start := time.Now()
			code, h, body := doWith(t, faultClient, rq.req)
			took := time.Since(start)
			if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || took > faultDeadline+faultMargin {
				t.Errorf("%s during a cut = %d Retry-After %q after %v: %s\nwant 503 with Retry-After within %v (+ margin)",
					rq.name, code, h.Get("Retry-After"), took, body, faultDeadline)
			}
		}
		// What needs no database still answers.
		if code, _, body := doWith(t, faultClient, mustReq(t, http.MethodGet, a.Public+"/.well-known/jwks.json")); code != http.StatusOK {
			t.Errorf("JWKS during a cut = %d %s, want 200", code, body)
		}
		newKID := c.rotate(t)
		p.Restore()
		testutil.Eventually(t, 10*time.Second, "the proxy delivering what it held", func() bool { return p.Holding() == 0 })
		// The first request after the cut works.
		if code, _, body := post(t, a.Public+"/oauth2/token", svc.ClientID, svc.ClientSecret,
			url.Values{"grant_type": {"client_credentials"}, "scope": {"identity.verify"}}); code != http.StatusOK {
			t.Fatalf("first token request after the cut = %d %s, want 200", code, body)
		}
		tokenAnswers.Add(1)
		a.followsRotation(t, c, newKID)
	})
	// The token request refused during the cut stored nothing, though its
	// statement reached the database when the cut ended: there are as
	// many tokens, and token.issued entries, as 200 answers.
	stored, entries, answers := pgtest.CountTokens(t, dbURL)-tokens, countIssued()-issued, tokenAnswers.Load()-answered
	if stored != int(answers) || entries != int(answers) {
		t.Errorf("across the cut: %d token answers, but %d tokens stored and %d token.issued entries", answers, stored, entries)
	}

	t.Run("blackhole", func(t *testing.T) {
		p.BlackholeExisting()
		newKID := c.rotate(t)
		a.followsRotation(t, c, newKID)
		start := time.Now()
		req := mustReq(t, http.MethodGet, a.Admin+"/admin/keys")
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		if code, _, body := doWith(t, faultClient, req); code != http.StatusOK || !strings.Contains(string(body), newKID) {
			t.Errorf("GET /admin/keys on A after the blackhole = %d after %v: %s", code, time.Since(start), body)
		}
	})

	testutil.Eventually(t, 40*time.Second, "no goroutine left in the driver", func() bool { return driverGoroutines() <= baseline })

	// The metrics tell what happened: requests past their deadline (the
	// cut), connections found broken and the listener's lost one (the
	// blackhole), a listener back up and keys loaded moments ago.
	testutil.Eventually(t, 20*faultInterval, "A's listener back up", func() bool {
		return value(a.scrape(t), "idvauth_db_listener_up", nil) == 1
	})
	m := a.scrape(t)
	for _, f := range []string{"idvauth_request_deadline_exceeded_total", "idvauth_db_connections_broken_total", "idvauth_db_listener_lost_total"} {
		if v := value(m, f, nil); v < 1 {
			t.Errorf("%s = %v after the faults, want at least 1", f, v)
		}
	}
	if v := value(m, "idvauth_signing_keys_loaded_age_seconds", nil); m["idvauth_signing_keys_loaded_age_seconds"] == nil || v > 5*faultInterval.Seconds() {
		t.Errorf("idvauth_signing_keys_loaded_age_seconds = %v (present: %v), want a few check intervals at most",
			v, m["idvauth_signing_keys_loaded_age_seconds"] != nil)
	}
	if v := value(c.scrape(t), "idvauth_db_listener_lost_total", nil); v != 0 {
		t.Errorf("C, straight to the database, lost its listener %v times", v)
	}
}

// followsRotation waits until A signs with newKID and finds C's tokens of
// it active. The check interval bounds the wait, with room for dead
// connections to be found (each costs a ping's timeout); the time it took
// is logged. (C's new key was its standby, published before: A verified
// its tokens all along; signing with it shows that A reloaded.)
func (ts *testServer) followsRotation(t *testing.T, c *testServer, newKID string) {
	t.Helper()
	ofC := c.mustToken(t)
	if k := kidOf(t, ofC); k != newKID {
		t.Fatalf("C signs with %s after rotating to %s", k, newKID)
	}
	took := testutil.Eventually(t, 20*faultInterval, "A signing with C's new key", func() bool {
		return kidOf(t, ts.mustToken(t)) == newKID
	})
	t.Logf("A followed C's rotation after %v", took)
	testutil.Eventually(t, 20*faultInterval, "A finding C's token of the new key active", func() bool {
		code, _, body := doWith(t, faultClient, formRequest(t, ts.Public+"/oauth2/introspect", ts.Demo.ResourceServer.ClientID,
			ts.Demo.ResourceServer.ClientSecret, url.Values{"token": {ofC}}))
		return code == http.StatusOK && strings.Contains(string(body), `"active":true`)
	})
}

// tokenAnswers counts the tokens mustToken got.
var tokenAnswers atomic.Int64

// mustToken gets a client_credentials token of the demo service from ts,
// retrying 503s (a dead connection found costs a request).
func (ts *testServer) mustToken(t *testing.T) string {
	t.Helper()
	var tok string
	testutil.Eventually(t, 20*time.Second, "a token", func() bool {
		code, _, body := doWith(t, faultClient, formRequest(t, ts.Public+"/oauth2/token", ts.Demo.Service.ClientID,
			ts.Demo.Service.ClientSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"identity.verify"}}))
		if code == http.StatusOK {
			tok = accessToken(t, body)
			tokenAnswers.Add(1)
		}
		return code == http.StatusOK
	})
	return tok
}

// rotate rotates ES256 at once on ts and returns the new active kid.
func (ts *testServer) rotate(t *testing.T) string {
	t.Helper()
	code, body := ts.adminDo(t, http.MethodPost, "/admin/keys/rotate", "application/json", `{"alg":"ES256"}`)
	if code != http.StatusOK {
		t.Fatalf("rotate: %d %s", code, body)
	}
	var l adminapi.KeyList
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatal(err)
	}
	for _, k := range l.Keys {
		if k.Alg == "ES256" && k.State == "active" {
			return k.KID
		}
	}
	t.Fatalf("no active ES256 key after rotate: %s", body)
	return ""
}

// driverGoroutines counts the goroutines with a frame in pgx's connection
// code: waiting on the network, or closing a connection.
func driverGoroutines() int {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/jackc/pgx/v5/pgconn.") {
			n++
		}
	}
	return n
}
