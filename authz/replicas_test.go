package authz_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/testutil"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// TestDurableAcrossRestart issues tokens, stops the server, starts a new
// one on the same database and finds the tokens as they were.
func TestDurableAcrossRestart(t *testing.T) {
	dbURL := pgtest.URL(t)
	ctx := context.Background()
	first := startServer(t, authz.Config{DatabaseURL: dbURL, Issuer: sharedIssuer})
	svc := first.Demo.Service
	live, err := first.ccConfig(svc, "identity.verify").Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := first.ccConfig(svc, "identity.verify").Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, body := post(t, first.Public+"/oauth2/revoke", svc.ClientID, svc.ClientSecret, url.Values{"token": {revoked.AccessToken}}); code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	jwksBefore := first.jwks(t)
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}

	// The wrong secret is a clear start-up error, never new keys.
	_, err = authz.New(ctx, authz.Config{DatabaseURL: dbURL, Secrets: []string{"another-secret-0123456789-0123456789-0123"}, AdminToken: testAdminToken})
	if err == nil || !strings.Contains(err.Error(), "IDVAUTH_SECRETS") {
		t.Fatalf("start with a wrong secret: %v, want an error naming IDVAUTH_SECRETS", err)
	}

	second := startServer(t, authz.Config{DatabaseURL: dbURL, Issuer: sharedIssuer}, serverOptions{ReplicaOf: first.harnessServer})
	if m, _ := second.introspect(t, live.AccessToken); m["active"] != true {
		t.Fatalf("token issued before the restart: %v, want active", m)
	}
	second.requireInactive(t, revoked.AccessToken)
	jwksAfter := second.jwks(t)
	if len(jwksAfter.Keys) != len(jwksBefore.Keys) || jwksAfter.Keys[0].KeyID != jwksBefore.Keys[0].KeyID {
		t.Fatalf("keys changed across the restart")
	}
	second.verify(t, live.AccessToken, "ES256")
	// The client registered before the restart still gets tokens.
	if _, err := second.ccConfig(svc, "identity.verify").Token(ctx); err != nil {
		t.Fatalf("token after restart: %v", err)
	}
}

// sharedIssuer is the issuer of servers that stand for replicas of one
// deployment.
const sharedIssuer = "https://idvauth.example"

func TestTwoServersOneDatabase(t *testing.T) {
	dbURL := pgtest.URL(t)
	ctx := context.Background()
	a := startServer(t, authz.Config{DatabaseURL: dbURL, Issuer: sharedIssuer})
	b := startServer(t, authz.Config{DatabaseURL: dbURL, Issuer: sharedIssuer}, serverOptions{ReplicaOf: a.harnessServer})
	svc := a.Demo.Service

	tok, err := a.ccConfig(svc, "identity.verify").Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := b.introspect(t, tok.AccessToken); m["active"] != true {
		t.Fatalf("token from A on B: %v, want active", m)
	}
	// Both publish the same keys, so B verifies A's tokens.
	b.verify(t, tok.AccessToken, "ES256")

	// Revoked on B: inactive on A at once.
	if code, _, body := post(t, b.Public+"/oauth2/revoke", svc.ClientID, svc.ClientSecret, url.Values{"token": {tok.AccessToken}}); code != 200 {
		t.Fatalf("revoke on B: %d %s", code, body)
	}
	a.requireInactive(t, tok.AccessToken)

	// A client created on A works on B; deleted on B, its tokens die on A.
	c, err := a.Srv.CreateClient(ctx, adminapi.ClientJSON{Scope: "identity.verify"})
	if err != nil {
		t.Fatal(err)
	}
	tok2, err := b.ccConfig(c, "identity.verify").Token(ctx)
	if err != nil {
		t.Fatalf("client from A on B: %v", err)
	}
	if code, body := b.adminDo(t, http.MethodDelete, "/admin/clients/"+c.ClientID, "", ""); code != http.StatusNoContent {
		t.Fatalf("delete on B: %d %s", code, body)
	}
	a.requireInactive(t, tok2.AccessToken)
	if _, err := a.ccConfig(c, "identity.verify").Token(ctx); err == nil {
		t.Fatal("A issued a token to a client deleted on B")
	}
	// A secret rotated on A is refused on B.
	code, body := a.adminDo(t, http.MethodPost, "/admin/clients/"+svc.ClientID+"/secret", "", "")
	if code != 200 {
		t.Fatalf("rotate: %d %s", code, body)
	}
	// B hears of it through the database (LISTEN/NOTIFY) within moments.
	testutil.Eventually(t, 10*time.Second, "B refusing a secret rotated away on A", func() bool {
		_, err := b.ccConfig(svc, "identity.verify").Token(ctx)
		return err != nil
	})
}

// proxy forwards TCP to target and can be cut and restored, to play a
// database that goes away and comes back.
type proxy struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
}

func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) up(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
}

func TestReadyFollowsTheDatabase(t *testing.T) {
	dbURL := pgtest.URL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, u.Host)
	u.Host = p.addr
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	ts := startServer(t, authz.Config{DatabaseURL: u.String()})
	ready := func() int {
		code, _, _ := do(t, mustReq(t, http.MethodGet, ts.Public+"/health/ready"))
		return code
	}
	testutil.Eventually(t, 20*time.Second, "/health/ready answering 200", func() bool { return ready() == 200 })
	p.down()
	testutil.Eventually(t, 20*time.Second, "/health/ready answering 503 with the database down", func() bool { return ready() == 503 })
	// Requests that need the database fail cleanly meanwhile.
	code, _, body := post(t, ts.Public+"/oauth2/token", ts.Demo.Service.ClientID, ts.Demo.Service.ClientSecret, url.Values{"grant_type": {"client_credentials"}})
	if code < 500 || strings.Contains(string(body), "postgres") || strings.Contains(string(body), "dial") {
		t.Errorf("token while the database is down: %d %s, want a clean 5xx", code, body)
	}
	p.up(t)
	testutil.Eventually(t, 20*time.Second, "/health/ready answering 200 with the database back", func() bool { return ready() == 200 })
	if _, err := ts.ccConfig(ts.Demo.Service, "identity.verify").Token(context.Background()); err != nil {
		t.Fatalf("token after the database came back: %v", err)
	}
}

// TestReplicaLearnsOfNewClient: a replica that has looked a client ID up
// and found nothing (and cached that, issue 17 item 10) accepts the
// client as soon as another replica creates it.
func TestReplicaLearnsOfNewClient(t *testing.T) {
	dbURL := pgtest.URL(t)
	ctx := context.Background()
	// Refusals while B has not heard of the client yet count as failures.
	cfg := authz.Config{DatabaseURL: dbURL, Issuer: sharedIssuer, ClientAuthMaxFailures: 1000, ClientAuthMaxFailuresPerIP: 1000}
	a := startServer(t, cfg)
	b := startServer(t, cfg, serverOptions{ReplicaOf: a.harnessServer})
	if _, err := b.ccConfig(adminapi.ClientJSON{ClientID: "later", ClientSecret: "not-yet"}, "identity.verify").Token(ctx); err == nil {
		t.Fatal("B issued a token to a client that does not exist")
	}
	c, err := a.Srv.CreateClient(ctx, adminapi.ClientJSON{ClientID: "later", Scope: "identity.verify"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "B accepting a client created on A after B looked for it", func() bool {
		_, err := b.ccConfig(c, "identity.verify").Token(ctx)
		return err == nil
	})
}
