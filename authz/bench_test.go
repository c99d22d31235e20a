package authz

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/idvauth/idvauth/storage/memory"
)

// newBenchServer returns a server on a memory store with one client
// credentials client and one introspecting client.
func newBenchServer(b *testing.B) (*Server, http.Handler, ClientJSON, ClientJSON) {
	b.Helper()
	s, err := New(context.Background(), Config{Store: memory.New(), Secrets: []string{testSecret}, AdminToken: testAdminToken})
	if err != nil {
		b.Fatal(err)
	}
	d, err := s.SeedDemo(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return s, s.PublicHandler(), d.Service, d.ResourceServer
}

func tokenRequest(c ClientJSON) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader("grant_type=client_credentials&scope=identity.verify"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(c.ClientID, c.ClientSecret)
	return r
}

// BenchmarkTokenHandler measures one client-credentials token request
// through the public handler, in process (no network).
func BenchmarkTokenHandler(b *testing.B) {
	_, h, svc, _ := newBenchServer(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, tokenRequest(svc))
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkIntrospectHandler measures introspection of an active JWT
// access token through the public handler, in process.
func BenchmarkIntrospectHandler(b *testing.B) {
	_, h, svc, rs := newBenchServer(b)
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
}
