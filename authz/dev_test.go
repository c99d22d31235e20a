package authz_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/idvauth/idvauth/authz"
)

// TestDevCallbackShowsSecretsOnlyToLoopback: the --dev callback page puts
// the demo web app's client secret and PKCE verifier in its curl line only
// for a request whose TCP peer is loopback and that was not forwarded;
// anyone else gets placeholders and the reason.
func TestDevCallbackShowsSecretsOnlyToLoopback(t *testing.T) {
	cfg := codeFlowConfig(authz.Config{Dev: true})
	ts := startServer(t, cfg)
	d, err := ts.Srv.SeedDemo(ctxb())
	if err != nil {
		t.Fatal(err)
	}
	h := ts.Srv.PublicHandler()
	tests := []struct {
		name   string
		remote string
		header http.Header
		shown  bool
	}{
		{"IPv4 loopback", "127.0.0.1:40000", nil, true},
		{"IPv6 loopback", "[::1]:40000", nil, true},
		{"other loopback address", "127.0.0.2:40000", nil, true},
		{"IPv4-mapped loopback", "[::ffff:127.0.0.1]:40000", nil, true},
		{"another host", "192.0.2.7:40000", nil, false},
		{"private network", "10.1.2.3:40000", nil, false},
		{"IPv6 host", "[2001:db8::1]:40000", nil, false},
		{"forwarded by a local proxy", "127.0.0.1:40000", http.Header{"X-Forwarded-For": {"198.51.100.9"}}, false},
		{"forwarded (RFC 7239) by a local proxy", "127.0.0.1:40000", http.Header{"Forwarded": {"for=198.51.100.9"}}, false},
		{"forwarded claiming loopback", "192.0.2.7:40000", http.Header{"X-Forwarded-For": {"127.0.0.1"}}, false},
		{"no port", "garbage", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://"+strings.TrimPrefix(ts.Public, "http://")+authz.DevCallbackPath+"?code=abc&state=s&iss=x", nil)
			r.RemoteAddr = tt.remote
			for k, v := range tt.header {
				r.Header[k] = v
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			body := w.Body.String()
			if w.Code != http.StatusOK || !strings.Contains(body, "code   abc") {
				t.Fatalf("callback from %s = %d:\n%s", tt.remote, w.Code, body)
			}
			hasSecret := strings.Contains(body, d.Web.ClientSecret)
			hasVerifier := strings.Contains(body, d.Verifier)
			if hasSecret != tt.shown || hasVerifier != tt.shown {
				t.Errorf("callback from %s: secret shown %v, verifier shown %v; want %v", tt.remote, hasSecret, hasVerifier, tt.shown)
			}
			if explained := strings.Contains(body, "did not come from this machine"); explained == tt.shown {
				t.Errorf("callback from %s: explains the placeholders = %v, want %v", tt.remote, explained, !tt.shown)
			}
		})
	}
}
