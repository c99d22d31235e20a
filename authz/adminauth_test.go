package authz_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// keyClientToken registers a private_key_jwt client_credentials client
// with scope for the admin API's audience (and aud) and returns it with a
// token for scope from the token endpoint.
func (ts *testServer) keyClientToken(t testing.TB, scope string, aud ...string) (keyClient, string) {
	t.Helper()
	c := ts.newKeyClient(t, scope, aud...)
	return c, ts.keyClientTokenFor(t, c, scope, "")
}

// keyClientTokenFor is a token of c for scope and audience (its
// registered ones when "").
func (ts *testServer) keyClientTokenFor(t testing.TB, c keyClient, scope, audience string) string {
	t.Helper()
	form := assertionForm(ts.assertion(t, c))
	form.Set("scope", scope)
	if audience != "" {
		form.Set("audience", audience)
	}
	code, _, body := post(t, ts.Public+"/oauth2/token", "", "", form)
	if code != http.StatusOK {
		t.Fatalf("token for %s = %d %s", scope, code, body)
	}
	return accessToken(t, body)
}

// directStore is the store of ts, opened anew when ts runs on a database
// URL.
func directStore(t testing.TB, ts *testServer) storage.Store {
	t.Helper()
	if ts.Store != nil {
		return ts.Store
	}
	st, err := postgres.Open(context.Background(), postgres.Config{URL: ts.DatabaseURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// TestAdminAutomationClients: a shared secret never carries an admin
// scope (registration, API keys, the token endpoint); a private_key_jwt
// client with admin:audit:read reads the audit trail and nothing else, as
// itself in the trail.
func TestAdminAutomationClients(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, cfg, serverOptions{NoDemo: true})
		before := ts.listClients(t)
		for _, in := range []map[string]any{
			{"scope": "admin:audit:read"},
			{"scope": "admin:clients:write", "token_endpoint_auth_method": "client_secret_post"},
			{"scope": "admin:audit:read", "grant_types": []string{"authorization_code"}, "redirect_uris": []string{"https://app.example/cb"},
				"token_endpoint_auth_method": "private_key_jwt", "jwks": json.RawMessage(jwksJSON(t, pub(mustKey(t, jose.ES256))))},
		} {
			code, body := ts.adminJSON(t, http.MethodPost, "/admin/clients", in)
			if code != http.StatusBadRequest || !strings.Contains(string(body), "admin scope") {
				t.Errorf("POST /admin/clients %v = %d %s, want 400 naming the admin scope rule", in, code, body)
			}
		}
		if after := ts.listClients(t); after != before {
			t.Errorf("refused registrations changed the clients: %s", after)
		}

		c, tok := ts.keyClientToken(t, adminauth.AuditRead)
		if code, body := ts.bearerDo(t, tok, http.MethodGet, "/admin/audit", nil); code != http.StatusOK || !strings.Contains(string(body), `"entries"`) {
			t.Fatalf("GET /admin/audit with admin:audit:read = %d %s", code, body)
		}
		for _, op := range adminauth.Operations() {
			method, pattern, _ := strings.Cut(op, " ")
			scope, _ := adminauth.RouteScope(method, pattern)
			if scope == adminauth.AuditRead || scope == "" {
				continue
			}
			path := strings.NewReplacer("{id}", c.ClientID, "{key}", "k", "{kid}", "k").Replace(pattern)
			if code, body := ts.bearerDo(t, tok, method, path, map[string]any{}); code != http.StatusForbidden {
				t.Errorf("%s with admin:audit:read only = %d %s, want 403", op, code, body)
			}
		}
		if n := ts.auditBy(t, "client:"+c.ClientID); n < 2 {
			t.Errorf("%d audit entries with actor client:%s, want the calls it made", n, c.ClientID)
		}

		// An API key is a shared secret: never an admin scope.
		code, body := ts.adminJSON(t, http.MethodPost, "/admin/clients/"+c.ClientID+"/api-keys", map[string]any{"name": "ci", "scope": adminauth.AuditRead})
		if code != http.StatusBadRequest {
			t.Errorf("API key with an admin scope = %d %s, want 400", code, body)
		}
		k := adminCall[adminapi.APIKeyJSON](t, ts, http.MethodPost, "/admin/clients/"+c.ClientID+"/api-keys", map[string]any{"name": "ci"}, http.StatusCreated)
		if k.Scope != "" {
			t.Errorf("API key of an admin client has scope %q, want none", k.Scope)
		}
		if code, body := ts.bearerDo(t, k.Key, http.MethodGet, "/admin/audit", nil); code != http.StatusUnauthorized {
			t.Errorf("API key on the admin API = %d %s, want 401", code, body)
		}

		// A secret client that holds an admin scope anyway (written to
		// the store behind the API's back) is refused at the token
		// endpoint.
		sec := storage.Client{ID: "legacy-secret", SecretHash: sha256Sum("legacy-secret-value"), GrantTypes: []string{"client_credentials"},
			Scopes: []string{adminauth.AuditRead}, Audience: []string{ts.adminAudience(t)}, TokenEndpointAuthMethod: "client_secret_basic",
			ResponseTypes: []string{}, RedirectURIs: []string{}, CreatedAt: time.Now(), UpdatedAt: time.Now()}
		if err := directStore(t, ts).CreateClient(context.Background(), sec); err != nil {
			t.Fatal(err)
		}
		code, _, body = post(t, ts.Public+"/oauth2/token", sec.ID, "legacy-secret-value", url.Values{"grant_type": {"client_credentials"}, "scope": {adminauth.AuditRead}})
		if code != http.StatusBadRequest || !strings.Contains(string(body), "invalid_scope") {
			t.Errorf("secret client asking for an admin scope = %d %s, want 400 invalid_scope", code, body)
		}
	})
}

// TestAdminRevocationOnEveryReplica: an operator's token works on a second
// replica until it is revoked, its operator disabled or demoted; a
// client's until its token is revoked or the client deleted; each seen
// by the other replica on the very next request.
func TestAdminRevocationOnEveryReplica(t *testing.T) {
	dbURL := pgtest.URL(t)
	a := startServer(t, authz.Config{DatabaseURL: dbURL, Issuer: sharedIssuer}, serverOptions{NoDemo: true})
	b := startServer(t, authz.Config{DatabaseURL: dbURL, Issuer: sharedIssuer}, serverOptions{NoDemo: true})
	issuer := a.consoleStandIn(t)
	want := func(ts *testServer, tok, what string, code int) {
		t.Helper()
		if got, body := ts.bearerDo(t, tok, http.MethodGet, "/admin/audit?limit=1", nil); got != code {
			t.Fatalf("%s: GET /admin/audit = %d %s, want %d", what, got, body, code)
		}
	}

	// Disabled on A: refused on B.
	opID, tok := a.operatorWithToken(t, issuer, adminauth.Admin)
	want(b, tok, "operator token on B", http.StatusOK)
	adminCall[adminapi.OperatorJSON](t, a, http.MethodPut, "/admin/operators/"+opID, map[string]any{"disabled": true}, http.StatusOK)
	want(b, tok, "disabled operator on B", http.StatusUnauthorized)

	// Demoted on A: the role is the ceiling on B at once.
	opID, tok = a.operatorWithToken(t, issuer, adminauth.Admin)
	want(b, tok, "admin on B", http.StatusOK)
	adminCall[adminapi.OperatorJSON](t, a, http.MethodPut, "/admin/operators/"+opID, map[string]any{"role": "support"}, http.StatusOK)
	if code, body := b.bearerDo(t, tok, http.MethodGet, "/admin/keys", nil); code != http.StatusForbidden {
		t.Fatalf("demoted operator reading keys on B = %d %s, want 403", code, body)
	}

	// The operator's token revoked on A (by its client): refused on B.
	_, tok = a.operatorWithToken(t, issuer, adminauth.Auditor)
	want(b, tok, "auditor on B", http.StatusOK)
	a.revoke(t, issuer, tok)
	want(b, tok, "revoked operator token on B", http.StatusUnauthorized)

	// A client's token revoked on A, the client deleted on A: refused on B.
	c, ctok := a.keyClientToken(t, adminauth.AuditRead)
	want(b, ctok, "client token on B", http.StatusOK)
	a.revoke(t, c, ctok)
	want(b, ctok, "revoked client token on B", http.StatusUnauthorized)
	ctok = a.keyClientTokenFor(t, c, adminauth.AuditRead, "")
	want(b, ctok, "new client token on B", http.StatusOK)
	if code, body := a.adminDo(t, http.MethodDelete, "/admin/clients/"+c.ClientID, "", ""); code != http.StatusNoContent {
		t.Fatalf("delete client: %d %s", code, body)
	}
	want(b, ctok, "token of a deleted client on B", http.StatusUnauthorized)
}

// TestAdminBreakGlass: the static token works with owner rights, each use
// is audited as break-glass and logged at warn without the token.
func TestAdminBreakGlass(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	ts := startServer(t, authz.Config{Logger: zap.New(core)}, serverOptions{NoDemo: true})
	e := adminCall[adminapi.Enrollment](t, ts, http.MethodPost, "/admin/operators", adminapi.OperatorInput{Username: "first", Role: "owner"}, http.StatusCreated)
	if !strings.Contains(e.EnrollmentURL, "/console/enroll?token=") || e.EnrollmentExpiresAt-time.Now().Unix() > 30*60 || !e.Operator.EnrollmentPending {
		t.Errorf("enrollment = %+v, want a link valid at most 30 minutes", e)
	}
	if n := ts.auditBy(t, "break-glass"); n < 1 {
		t.Errorf("%d audit entries by break-glass, want at least one", n)
	}
	warned := 0
	for _, l := range logs.All() {
		if strings.Contains(l.Message, "break-glass") && l.Level == zap.WarnLevel {
			warned++
		}
		for _, f := range l.Context {
			if strings.Contains(f.String, testAdminToken) || strings.Contains(l.Message, testAdminToken) {
				t.Errorf("the admin token is in the log: %q %v", l.Message, l.Context)
			}
		}
	}
	if warned == 0 {
		t.Error("no warning logged for the use of the break-glass token")
	}
}

// TestAdminCredentialAndOperatorRefusals: bad credentials are 401, bad
// operator input a clear 4xx, and none changes anything.
func TestAdminCredentialAndOperatorRefusals(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, cfg, serverOptions{NoDemo: true})
		issuer := ts.consoleStandIn(t)
		_, tok := ts.operatorWithToken(t, issuer, adminauth.Owner)
		oc := ts.newKeyClient(t, adminauth.AuditRead, "https://idv.example")
		otherAud := ts.keyClientTokenFor(t, oc, adminauth.AuditRead, "https://idv.example")
		for name, header := range map[string]string{
			"none": "", "basic": "Basic " + tok, "empty bearer": "Bearer ", "garbage": "Bearer not-a-token",
			"long": "Bearer " + strings.Repeat("a", 9000), "other audience": "Bearer " + otherAud,
			"tampered": "Bearer " + tok[:len(tok)-3] + "abc",
		} {
			req, _ := http.NewRequest(http.MethodGet, ts.Admin+"/admin/audit", nil)
			if header != "" {
				req.Header.Set("Authorization", header)
			}
			if code, _, body := do(t, req); code != http.StatusUnauthorized {
				t.Errorf("%s: %d %s, want 401", name, code, body)
			}
		}
		before := ts.adminState(t)
		for _, tc := range []struct {
			name, method, path, ctype, body string
			want                            int
		}{
			{"bad role", "POST", "/admin/operators", "application/json", `{"username":"x","role":"root"}`, 400},
			{"bad username", "POST", "/admin/operators", "application/json", `{"username":"a b","role":"owner"}`, 400},
			{"long username", "POST", "/admin/operators", "application/json", `{"username":"` + strings.Repeat("a", 65) + `","role":"owner"}`, 400},
			{"unknown field", "POST", "/admin/operators", "application/json", `{"username":"x","role":"owner","admin":true}`, 400},
			{"two values", "POST", "/admin/operators", "application/json", `{"username":"x","role":"owner"}{}`, 400},
			{"wrong type", "POST", "/admin/operators", "text/plain", `{"username":"x","role":"owner"}`, 415},
			{"too large", "POST", "/admin/operators", "application/json", `{"username":"` + strings.Repeat("a", 70000) + `"}`, 413},
			{"empty update", "PUT", "/admin/operators/x", "application/json", `{}`, 400},
			{"unknown operator", "PUT", "/admin/operators/nobody", "application/json", `{"role":"admin"}`, 404},
			{"unknown operator reset", "POST", "/admin/operators/nobody/mfa/reset", "", ``, 404},
			{"wrong method", "DELETE", "/admin/operators", "", ``, 405},
		} {
			req, _ := http.NewRequest(tc.method, ts.Admin+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+tok)
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			if code, _, body := do(t, req); code != tc.want || !strings.Contains(string(body), `"error"`) {
				t.Errorf("%s: %d %s, want %d with an error", tc.name, code, body, tc.want)
			}
		}
		if after := ts.adminState(t); after != before {
			t.Error("refused operator calls changed the state")
		}
		// The last enabled owner stays: demoting or disabling them is 409.
		list := adminCall[adminapi.OperatorList](t, ts, http.MethodGet, "/admin/operators", nil, http.StatusOK)
		for _, o := range list.Operators {
			if o.Role == "owner" {
				for _, body := range []any{map[string]any{"role": "admin"}, map[string]any{"disabled": true}} {
					if code, b := ts.adminJSON(t, http.MethodPut, "/admin/operators/"+o.ID, body); code != http.StatusConflict {
						t.Errorf("PUT %v on the last owner = %d %s, want 409", body, code, b)
					}
				}
			}
		}
		e := adminCall[adminapi.Enrollment](t, ts, http.MethodPost, "/admin/operators", adminapi.OperatorInput{Username: "dup", Role: "auditor"}, http.StatusCreated)
		if code, b := ts.adminJSON(t, http.MethodPost, "/admin/operators", adminapi.OperatorInput{Username: e.Operator.Username, Role: "admin"}); code != http.StatusConflict {
			t.Errorf("duplicate username = %d %s, want 409", code, b)
		}
	})
}

func sha256Sum(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// TestProvesKeyMatchesClientAuth holds adminauth's list of key-proving
// methods to the methods clientauth supports.
func TestProvesKeyMatchesClientAuth(t *testing.T) {
	for _, m := range clientauth.Supported() {
		want := m == clientauth.MethodPrivateKeyJWT || m == clientauth.MethodTLS || m == clientauth.MethodSelfSignedTLS
		if got := adminauth.ProvesKey(m); got != want {
			t.Errorf("ProvesKey(%q) = %v, want %v", m, got, want)
		}
	}
}
