package authz_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/idvauth/idvauth/authz"
)

// A DPoP-bound token of an automation client works at the admin API with
// a proof of its key for the call, and not without one.
func TestAdminAPIDPoPBoundToken(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, cfg)
		c := ts.newKeyClient(t, "admin:audit:read")
		d := newDPoPKey(t)
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"admin:audit:read"}, "audience": {ts.adminAudience(t)},
			"client_assertion_type": {jwtBearer}, "client_assertion": {ts.assertion(t, c)}}
		req := formRequest(t, ts.Public+"/oauth2/token", "", "", form)
		req.Header.Set("DPoP", d.proof(http.MethodPost, ts.Public+"/oauth2/token", nil))
		code, _, body := do(t, req)
		if code != http.StatusOK || !strings.Contains(string(body), `"token_type":"DPoP"`) {
			t.Fatalf("DPoP token = %d %s", code, body)
		}
		tok := accessToken(t, body)
		call := func(scheme, proof string) (int, http.Header, string) {
			t.Helper()
			r, err := http.NewRequest(http.MethodGet, ts.Admin+"/admin/audit?limit=1", nil)
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Set("Authorization", scheme+" "+tok)
			if proof != "" {
				r.Header.Set("DPoP", proof)
			}
			st, h, b := do(t, r)
			return st, h, string(b)
		}
		if st, _, b := call("DPoP", d.proof(http.MethodGet, ts.Admin+"/admin/audit", map[string]any{"ath": ath(tok)})); st != http.StatusOK {
			t.Errorf("admin call with the proof = %d %s, want 200", st, b)
		}
		other := newDPoPKey(t)
		for name, c := range map[string]struct{ scheme, proof string }{
			"as a bearer token":    {"Bearer", ""},
			"without a proof":      {"DPoP", ""},
			"proof of another URL": {"DPoP", d.proof(http.MethodGet, ts.Admin+"/admin/keys", map[string]any{"ath": ath(tok)})},
			"proof without ath":    {"DPoP", d.proof(http.MethodGet, ts.Admin+"/admin/audit", nil)},
			"proof of another key": {"DPoP", other.proof(http.MethodGet, ts.Admin+"/admin/audit", map[string]any{"ath": ath(tok)})},
		} {
			st, h, b := call(c.scheme, c.proof)
			if st != http.StatusUnauthorized || !strings.Contains(b, `"error"`) {
				t.Errorf("%s = %d %s, want 401", name, st, b)
			}
			if c.scheme == "DPoP" && !strings.HasPrefix(h.Get("WWW-Authenticate"), "DPoP ") {
				t.Errorf("%s: WWW-Authenticate = %q, want a DPoP challenge", name, h.Get("WWW-Authenticate"))
			}
		}
	})
}
