package authz_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/internal/testutil"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// The secret and admin token of the servers startHarness runs, unless the
// Config names others.
const (
	testSecret     = "e2e-secret-0123456789-0123456789-0123456789"
	testAdminToken = "e2e-admin-token-0123456789-0123456789-01"
)

// loopbackOutbound allows outbound requests to loopback addresses, where
// tests serve clients' jwks_uri.
var loopbackOutbound = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// stopTimeout bounds how long Stop waits for Serve to return.
const stopTimeout = 30 * time.Second

// harnessServer is an authz.Server serving on loopback ports until its test ends
// (or Stop).
type harnessServer struct {
	Srv *authz.Server
	// Public and Admin are the base URLs of the public listener (https://
	// when the Config has a TLS certificate) and of the admin listener.
	Public, Admin string
	// Store is the server's store; nil when it runs on DatabaseURL.
	Store       storage.Store
	DatabaseURL string
	// Demo are the demo clients the server knows (see serverOptions).
	Demo authz.DemoClients

	stop func() error
}

// serverOptions say which demo clients a server started by startHarness has. The zero
// value seeds its own (authz.Server.SeedDemo).
type serverOptions struct {
	// NoDemo starts the server without demo clients.
	NoDemo bool
	// ReplicaOf is another server on the same database whose demo clients
	// this one uses: seeding them again would rotate their secrets.
	ReplicaOf *harnessServer
	// Localhost makes the issuer http://localhost:<port> rather than
	// http://127.0.0.1:<port>: WebAuthn needs a domain as relying party.
	Localhost bool
}

// startHarness runs a server with cfg on 127.0.0.1:0 until the test ends. Where
// cfg leaves them empty it fills in Store (a new memory store, unless
// DatabaseURL is set), Secrets (testSecret), testAdminToken (testAdminToken), Issuer
// (the public listener's URL), Logger (the test's) and
// AllowPrivateOutbound (loopbackOutbound: tests serve client key sets
// from httptest servers; an empty, non-nil slice keeps the production
// default, no internal address). opts is at most one serverOptions; without,
// the server seeds its demo clients.
func startHarness(t testing.TB, cfg authz.Config, opts ...serverOptions) *harnessServer {
	t.Helper()
	var o serverOptions
	switch len(opts) {
	case 0:
	case 1:
		o = opts[0]
	default:
		t.Fatalf("testutil.Start: %d serverOptions, want at most one", len(opts))
	}
	pub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adm, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pub.Close()
		t.Fatal(err)
	}
	scheme := "http://"
	if cfg.TLSCertFile != "" {
		scheme = "https://"
	}
	base := scheme + pub.Addr().String()
	if o.Localhost {
		base = scheme + "localhost:" + strconv.Itoa(pub.Addr().(*net.TCPAddr).Port)
	}
	cfg = testConfig(t, cfg, base)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := authz.New(ctx, cfg)
	if err != nil {
		cancel()
		pub.Close()
		adm.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, pub, adm) }()
	var once sync.Once
	var serveErr error
	s := &harnessServer{Srv: srv, Public: base, Admin: "http://" + adm.Addr().String(),
		Store: cfg.Store, DatabaseURL: cfg.DatabaseURL}
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case serveErr = <-done:
			case <-time.After(stopTimeout):
				serveErr = fmt.Errorf("testutil: Serve did not return within %v of cancel", stopTimeout)
			}
			srv.Close()
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	switch {
	case o.ReplicaOf != nil:
		s.Demo = o.ReplicaOf.Demo
	case !o.NoDemo:
		if s.Demo, err = srv.SeedDemo(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// Stop stops the server (as the end of the test does) and returns what
// Serve returned. Calls after the first return the same.
func (s *harnessServer) Stop() error { return s.stop() }

// runner is *testing.T or *testing.B.
type runner[T any] interface {
	testing.TB
	Run(name string, f func(T)) bool
}

// backends runs fn as two subtests: "memory", on a new memory store, and
// "postgres", on a fresh PostgreSQL schema (pgtest.URL: skipped without
// IDVAUTH_TEST_DATABASE_URL, failed instead under
// IDVAUTH_TEST_REQUIRE_POSTGRES=1). It is the one way to run a test or
// benchmark on both.
func backends[T runner[T]](t T, fn func(t T, cfg authz.Config)) {
	t.Run("memory", func(t T) { fn(t, authz.Config{Store: memory.New()}) })
	t.Run("postgres", func(t T) { fn(t, authz.Config{DatabaseURL: pgtest.URL(t)}) })
}

// testConfig fills in what a test server needs and cfg leaves out: a
// memory store, the test secrets, issuer, a test logger, and loopback
// outbound addresses.
func testConfig(t testing.TB, cfg authz.Config, issuer string) authz.Config {
	if cfg.Store == nil && cfg.DatabaseURL == "" {
		cfg.Store = memory.New()
	}
	if cfg.Secrets == nil {
		cfg.Secrets = []string{testSecret}
	}
	if cfg.AdminToken == "" {
		cfg.AdminToken = testAdminToken
	}
	if cfg.Issuer == "" {
		cfg.Issuer = issuer
	}
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	if cfg.AllowPrivateOutbound == nil {
		cfg.AllowPrivateOutbound = loopbackOutbound
	}
	if cfg.GenerateKey == nil {
		cfg.GenerateKey = testKeys.Generate
	}
	return cfg
}

// testKeys are the signing keys of the test servers, RSA ones made once.
var testKeys testutil.KeyPool
