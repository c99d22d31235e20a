package authz_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz"
)

// TestHSTS: every answer of the public listener over TLS carries
// Strict-Transport-Security (one year by default, as configured, or none
// when turned off); plain HTTP answers and the admin listener never do.
func TestHSTS(t *testing.T) {
	e := newTLSEnv(t)
	paths := []string{"/health/live", "/.well-known/openid-configuration", "/no/such/endpoint", "/oauth2/token"}
	get := func(hc *http.Client, u string) http.Header {
		t.Helper()
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		resp.Body.Close()
		return resp.Header
	}
	tests := []struct {
		name   string
		maxAge time.Duration
		want   string
	}{
		{"default", 0, "max-age=31536000"},
		{"configured", 90 * 24 * time.Hour, "max-age=7776000"},
		{"off", -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, authz.Config{TLSCertFile: e.certFile, TLSKeyFile: e.keyFile, HSTSMaxAge: tt.maxAge}, serverOptions{NoDemo: true})
			hc := e.httpClient(nil)
			for _, p := range paths {
				if got := get(hc, ts.Public+p).Get("Strict-Transport-Security"); got != tt.want {
					t.Errorf("GET %s over TLS: Strict-Transport-Security %q, want %q", p, got, tt.want)
				}
			}
			if got := get(http.DefaultClient, ts.Admin+"/metrics").Get("Strict-Transport-Security"); got != "" {
				t.Errorf("admin listener (plain HTTP): Strict-Transport-Security %q, want none", got)
			}
		})
	}
	// Plain HTTP never carries it.
	ts := startServer(t, authz.Config{HSTSMaxAge: time.Hour}, serverOptions{NoDemo: true})
	if !strings.HasPrefix(ts.Public, "http://") {
		t.Fatalf("public URL %s, want plain HTTP", ts.Public)
	}
	for _, p := range paths {
		if got := get(http.DefaultClient, ts.Public+p).Get("Strict-Transport-Security"); got != "" {
			t.Errorf("GET %s over plain HTTP: Strict-Transport-Security %q, want none", p, got)
		}
	}
	// Under a second is refused (max-age is in whole seconds).
	if _, err := authz.New(t.Context(), authz.Config{InMemory: true, Secrets: []string{strings.Repeat("s", 40)}, AdminToken: strings.Repeat("a", 40),
		HSTSMaxAge: time.Millisecond}); err == nil || !strings.Contains(err.Error(), "HSTS max-age") {
		t.Errorf("New with HSTSMaxAge 1ms: %v, want an error naming the HSTS max-age", err)
	}
}
