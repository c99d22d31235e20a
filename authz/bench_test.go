package authz_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/testutil"
)

// benchBackends runs fn with the audit trail on and, as "noaudit", off
// (the ratio is what the trail costs), each on the memory store and on
// PostgreSQL (testutil.Backends).
func benchBackends(b *testing.B, fn func(b *testing.B, cfg authz.Config)) {
	b.Run("audit", func(b *testing.B) { testutil.Backends(b, fn) })
	b.Run("noaudit", func(b *testing.B) {
		testutil.Backends(b, func(b *testing.B, cfg authz.Config) {
			cfg.AuditDisabled = true
			fn(b, cfg)
		})
	})
}

// newBenchServer returns the public handler of a server with one
// client-credentials client and one introspecting client (the demo
// clients), to call in process, without the network. It logs nothing and
// has no rate limits or janitor: they are not what is measured.
func newBenchServer(b *testing.B, cfg authz.Config) (http.Handler, adminapi.ClientJSON, adminapi.ClientJSON) {
	b.Helper()
	cfg.Logger, cfg.JanitorInterval = zap.NewNop(), -1
	cfg.RateLimits = authz.RateLimits{TokenPerClient: -1, IntrospectPerClient: -1, PerIP: -1}
	ts := startServer(b, cfg)
	return ts.Srv.PublicHandler(), ts.Demo.Service, ts.Demo.ResourceServer
}

func tokenRequest(c adminapi.ClientJSON) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader("grant_type=client_credentials&scope=identity.verify"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(c.ClientID, c.ClientSecret)
	return r
}

// BenchmarkTokenHandler measures one client-credentials token request
// through the public handler, in process (no network). Compare with
// keys.BenchmarkSignES256 of the same run: signing is the floor.
func BenchmarkTokenHandler(b *testing.B) {
	benchBackends(b, func(b *testing.B, cfg authz.Config) {
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
	benchBackends(b, func(b *testing.B, cfg authz.Config) {
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
