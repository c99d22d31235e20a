package authz

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// benchBackends runs fn on the memory store and, when
// IDVAUTH_TEST_DATABASE_URL is set, on PostgreSQL.
// Each runs with the audit trail on and, as "noaudit", off: the ratio is
// what the trail costs.
func benchBackends(b *testing.B, fn func(b *testing.B, cfg Config)) {
	b.Run("memory", func(b *testing.B) { fn(b, Config{Store: memory.New()}) })
	b.Run("memory-noaudit", func(b *testing.B) { fn(b, Config{Store: memory.New(), AuditDisabled: true}) })
	if os.Getenv(pgtest.EnvURL) != "" {
		b.Run("postgres", func(b *testing.B) { fn(b, Config{DatabaseURL: pgtest.URL(b)}) })
		b.Run("postgres-noaudit", func(b *testing.B) { fn(b, Config{DatabaseURL: pgtest.URL(b), AuditDisabled: true}) })
	}
}

// newBenchServer returns a server with one client-credentials client and
// one introspecting client.
func newBenchServer(b *testing.B, cfg Config) (http.Handler, ClientJSON, ClientJSON) {
	b.Helper()
	cfg.Secrets, cfg.AdminToken, cfg.JanitorInterval = []string{testSecret}, testAdminToken, -1
	cfg.RateLimits = RateLimits{TokenPerClient: -1, IntrospectPerClient: -1, PerIP: -1}
	s, err := New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	d, err := s.SeedDemo(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return s.PublicHandler(), d.Service, d.ResourceServer
}

func tokenRequest(c ClientJSON) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader("grant_type=client_credentials&scope=identity.verify"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(c.ClientID, c.ClientSecret)
	return r
}

// BenchmarkTokenHandler measures one client-credentials token request
// through the public handler, in process (no network). Compare with
// keys.BenchmarkSignES256 of the same run: signing is the floor.
func BenchmarkTokenHandler(b *testing.B) {
	benchBackends(b, func(b *testing.B, cfg Config) {
		h, svc, _ := newBenchServer(b, cfg)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tokenRequest(svc))
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}

// BenchmarkIntrospectHandler measures introspection of an active JWT
// access token through the public handler, in process.
func BenchmarkIntrospectHandler(b *testing.B) {
	benchBackends(b, func(b *testing.B, cfg Config) {
		h, svc, rs := newBenchServer(b, cfg)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, tokenRequest(svc))
		tok := accessToken(b, w.Body.Bytes())
		body := "token=" + url.QueryEscape(tok)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			r := httptest.NewRequest(http.MethodPost, "/oauth2/introspect", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth(rs.ClientID, rs.ClientSecret)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"active":true`) {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}
