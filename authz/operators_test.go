package authz_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/admin"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/authz/settings"
	"github.com/idvauth/idvauth/storage"
)

// fastArgon2 keeps the people the role table creates cheap to hash.
var fastArgon2 = settings.Argon2{Time: 1, MemoryKiB: 64, Threads: 1}

// bearerDo makes an admin call with token and returns status and body.
func (ts *testServer) bearerDo(t testing.TB, token, method, path string, in any) (int, []byte) {
	t.Helper()
	var body string
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = string(b)
	}
	req, err := http.NewRequest(method, ts.Admin+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	code, _, b := do(t, req)
	return code, b
}

// issuer is the issuer of ts, as its discovery document says.
func (ts *testServer) issuer(t testing.TB) string {
	t.Helper()
	code, _, body := do(t, mustReq(t, http.MethodGet, ts.Public+"/.well-known/openid-configuration"))
	var d struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal(body, &d); code != http.StatusOK || err != nil {
		t.Fatalf("discovery: %d %v", code, err)
	}
	return d.Issuer
}

// adminAudience is the admin API's default identifier for ts.
func (ts *testServer) adminAudience(t testing.TB) string { return ts.issuer(t) + "/admin" }

// operatorWithToken creates an operator of role through the admin API
// and returns its ID and an access token for it carrying scopes (the
// role's when none are given), issued through the client issuer.
func (ts *testServer) operatorWithToken(t testing.TB, issuer keyClient, role string, scopes ...string) (string, string) {
	t.Helper()
	e := adminCall[adminapi.Enrollment](t, ts, http.MethodPost, "/admin/operators",
		adminapi.OperatorInput{Username: "op-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + role + "-" + randomSuffix(), Role: role}, http.StatusCreated)
	if len(scopes) == 0 {
		scopes = adminauth.RoleScopes(role)
	}
	tok, err := authz.OperatorToken(context.Background(), ts.Srv, issuer.ClientID, e.Operator.ID, scopes...)
	if err != nil {
		t.Fatalf("OperatorToken: %v", err)
	}
	return e.Operator.ID, tok
}

var suffixes = make(chan int, 1)

func init() { suffixes <- 0 }

// randomSuffix is a counter, unique in the test binary.
func randomSuffix() string {
	n := <-suffixes
	suffixes <- n + 1
	return fmt.Sprint(n)
}

// keyClient is a private_key_jwt client and its private key.
type keyClient struct {
	adminapi.ClientJSON
	key jose.JSONWebKey
}

// consoleStandIn registers the client through which the tests issue
// operator tokens, as the console's sign-in will.
func (ts *testServer) consoleStandIn(t testing.TB) keyClient {
	t.Helper()
	return ts.newKeyClient(t, "identity.verify")
}

// newKeyClient registers a private_key_jwt client_credentials client with
// scope, for the admin API's audience and the ones given.
func (ts *testServer) newKeyClient(t testing.TB, scope string, aud ...string) keyClient {
	t.Helper()
	key := mustKey(t, jose.ES256)
	c := ts.createClient(t, map[string]any{"token_endpoint_auth_method": "private_key_jwt", "scope": scope,
		"audience": append([]string{ts.adminAudience(t)}, aud...), "jwks": json.RawMessage(jwksJSON(t, pub(key)))})
	return keyClient{c, key}
}

// assertion is a fresh client assertion of c for ts.
func (ts *testServer) assertion(t testing.TB, c keyClient) string {
	return signAssertion(t, c.key, assertionClaims(c.ClientID, ts.issuer(t)))
}

// revoke revokes tok at /oauth2/revoke as c, which issued it.
func (ts *testServer) revoke(t testing.TB, c keyClient, tok string) {
	t.Helper()
	form := url.Values{"token": {tok}, "client_assertion_type": {jwtBearer}, "client_assertion": {ts.assertion(t, c)}}
	if code, _, body := post(t, ts.Public+"/oauth2/revoke", "", "", form); code != http.StatusOK {
		t.Fatalf("revoke: %d %s", code, body)
	}
}

// adminCase is one admin route called for the role table: fixture makes
// what the call needs (with the break-glass token) and returns the path
// and body; ok is the status of an allowed call.
type adminCase struct {
	fixture func(t testing.TB, ts *testServer) (string, any)
	ok      int
}

// caseNeeds is the scope that the call of an adminCases case needs
// beyond its route's own: deciding on a four-eyes request needs the scope
// of its action (the cases' requests delete a client).
var caseNeeds = map[string]string{
	"POST /admin/requests/{id}/approve": adminauth.ClientsWrite,
	"POST /admin/requests/{id}/reject":  adminauth.ClientsWrite,
}

// newTestRequest stores a pending four-eyes request, by another operator,
// to delete a new client (as if four-eyes were on: the routes serve the
// requests whatever the setting).
func newTestRequest(t testing.TB, ts *testServer) storage.Approval {
	t.Helper()
	c := newTestClient(t, ts)
	now := time.Now().UTC().Truncate(time.Second)
	a := storage.Approval{ID: "req_t" + randomSuffix(), Action: adminapi.ActionClientDelete, Target: c.ClientID, Method: http.MethodDelete,
		Path: "/admin/clients/" + c.ClientID, RequestedBy: "operator:op_someone", CreatedAt: now, ExpiresAt: now.Add(time.Hour), State: storage.ApprovalPending}
	if err := ts.Srv.StoreForTest().CreateApproval(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	return a
}

func fixed(path string, body any) func(testing.TB, *testServer) (string, any) {
	return func(testing.TB, *testServer) (string, any) { return path, body }
}

func newTestClient(t testing.TB, ts *testServer) adminapi.ClientJSON {
	return adminCall[adminapi.ClientJSON](t, ts, http.MethodPost, "/admin/clients", map[string]any{"scope": "identity.verify"}, http.StatusCreated)
}

func newTestUser(t testing.TB, ts *testServer) adminapi.UserJSON {
	return adminCall[adminapi.UserJSON](t, ts, http.MethodPost, "/admin/users",
		adminapi.UserInput{Username: "person" + randomSuffix(), Password: "correct horse battery staple"}, http.StatusCreated)
}

func newTestOperator(t testing.TB, ts *testServer) adminapi.OperatorJSON {
	return adminCall[adminapi.Enrollment](t, ts, http.MethodPost, "/admin/operators",
		adminapi.OperatorInput{Username: "someone" + randomSuffix(), Role: "support"}, http.StatusCreated).Operator
}

func newTestAPIKey(t testing.TB, ts *testServer) (adminapi.ClientJSON, adminapi.APIKeyJSON) {
	c := newTestClient(t, ts)
	return c, adminCall[adminapi.APIKeyJSON](t, ts, http.MethodPost, "/admin/clients/"+c.ClientID+"/api-keys", adminapi.APIKeyCreate{Name: "ci"}, http.StatusCreated)
}

// adminCases holds every admin operation of the route table, keyed as it
// is ("METHOD pattern").
var adminCases = map[string]adminCase{
	"GET /admin/clients":  {fixed("/admin/clients", nil), 200},
	"POST /admin/clients": {fixed("/admin/clients", map[string]any{"scope": "identity.verify"}), 201},
	"GET /admin/clients/{id}": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/clients/" + newTestClient(t, ts).ClientID, nil
	}, 200},
	"PUT /admin/clients/{id}": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/clients/" + newTestClient(t, ts).ClientID, map[string]any{"client_name": "renamed", "scope": "identity.verify"}
	}, 200},
	"DELETE /admin/clients/{id}": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/clients/" + newTestClient(t, ts).ClientID, nil
	}, 204},
	"POST /admin/clients/{id}/secret": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/clients/" + newTestClient(t, ts).ClientID + "/secret", nil
	}, 200},
	"GET /admin/clients/{id}/api-keys": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/clients/" + newTestClient(t, ts).ClientID + "/api-keys", nil
	}, 200},
	"POST /admin/clients/{id}/api-keys": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/clients/" + newTestClient(t, ts).ClientID + "/api-keys", adminapi.APIKeyCreate{Name: "ci"}
	}, 201},
	"DELETE /admin/clients/{id}/api-keys/{key}": {func(t testing.TB, ts *testServer) (string, any) {
		c, k := newTestAPIKey(t, ts)
		return "/admin/clients/" + c.ClientID + "/api-keys/" + k.ID, nil
	}, 204},
	"POST /admin/clients/{id}/api-keys/{key}/rotate": {func(t testing.TB, ts *testServer) (string, any) {
		c, k := newTestAPIKey(t, ts)
		return "/admin/clients/" + c.ClientID + "/api-keys/" + k.ID + "/rotate", adminapi.APIKeyRotate{}
	}, 201},
	"GET /admin/keys":         {fixed("/admin/keys", nil), 200},
	"POST /admin/keys/rotate": {fixed("/admin/keys/rotate", map[string]any{}), 200},
	"POST /admin/keys/{kid}/retire": {func(t testing.TB, ts *testServer) (string, any) {
		kl := adminCall[adminapi.KeyList](t, ts, http.MethodGet, "/admin/keys", nil, http.StatusOK)
		return "/admin/keys/" + kl.Keys[0].KID + "/retire", map[string]any{}
	}, 200},
	"GET /admin/users": {fixed("/admin/users", nil), 200},
	"POST /admin/users": {func(testing.TB, *testServer) (string, any) {
		return "/admin/users", adminapi.UserInput{Username: "new" + randomSuffix(), Password: "correct horse battery staple"}
	}, 201},
	"GET /admin/users/{id}": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/users/" + newTestUser(t, ts).ID, nil
	}, 200},
	"DELETE /admin/users/{id}": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/users/" + newTestUser(t, ts).ID, nil
	}, 204},
	"DELETE /admin/users/{id}/consents": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/users/" + newTestUser(t, ts).ID + "/consents", nil
	}, 200},
	"POST /admin/users/{id}/erase": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/users/" + newTestUser(t, ts).ID + "/erase", nil
	}, 200},
	"GET /admin/users/{id}/export": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/users/" + newTestUser(t, ts).ID + "/export", nil
	}, 200},
	"POST /admin/users/{id}/mfa/reset": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/users/" + newTestUser(t, ts).ID + "/mfa/reset", nil
	}, 200},
	"PATCH /admin/users/{id}": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/users/" + newTestUser(t, ts).ID, map[string]string{"name": "Renamed"}
	}, 200},
	"POST /admin/users/{id}/password-reset": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/users/" + newTestUser(t, ts).ID + "/password-reset", nil
	}, 200},
	"GET /admin/audit":        {fixed("/admin/audit", nil), 200},
	"GET /admin/audit/verify": {fixed("/admin/audit/verify", nil), 200},
	"GET /admin/audit/head":   {fixed("/admin/audit/head", nil), 200},
	"GET /admin/operators":    {fixed("/admin/operators", nil), 200},
	"POST /admin/operators": {func(testing.TB, *testServer) (string, any) {
		return "/admin/operators", adminapi.OperatorInput{Username: "new" + randomSuffix(), Role: "auditor"}
	}, 201},
	"GET /admin/operators/{id}": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/operators/" + newTestOperator(t, ts).ID, nil
	}, 200},
	"PUT /admin/operators/{id}": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/operators/" + newTestOperator(t, ts).ID, map[string]any{"role": "auditor"}
	}, 200},
	"POST /admin/operators/{id}/mfa/reset": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/operators/" + newTestOperator(t, ts).ID + "/mfa/reset", nil
	}, 200},
	"GET /admin/openapi.json": {fixed("/admin/openapi.json", nil), 200},
	"GET /admin/requests":     {fixed("/admin/requests?state=pending", nil), 200},
	"GET /admin/requests/{id}": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/requests/" + newTestRequest(t, ts).ID, nil
	}, 200},
	"POST /admin/requests/{id}/approve": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/requests/" + newTestRequest(t, ts).ID + "/approve", nil
	}, 200},
	"POST /admin/requests/{id}/reject": {func(t testing.TB, ts *testServer) (string, any) {
		return "/admin/requests/" + newTestRequest(t, ts).ID + "/reject", nil
	}, 200},
}

// adminState is what the admin API shows of everything a call could
// change (the audit trail aside, which records refusals too).
func (ts *testServer) adminState(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, p := range []string{"/admin/clients", "/admin/users", "/admin/keys", "/admin/operators", "/admin/requests"} {
		code, body := ts.adminDo(t, http.MethodGet, p, "", "")
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d %s", p, code, body)
		}
		b.Write(body)
	}
	return b.String()
}

// auditBy counts the audit entries of actor, read with the break-glass
// token.
func (ts *testServer) auditBy(t testing.TB, actor string) int {
	t.Helper()
	n, cursor := 0, ""
	for {
		page := adminCall[adminapi.AuditPage](t, ts, http.MethodGet, "/admin/audit?limit=1000&cursor="+url.QueryEscape(cursor), nil, http.StatusOK)
		for _, e := range page.Entries {
			if e.Actor == actor {
				n++
			}
		}
		if cursor = page.NextCursor; cursor == "" {
			return n
		}
	}
}

// TestAdminRouteTableCoversTheAPI holds the route-to-scope table to the
// OpenAPI document, and the role table test's cases to both: every
// operation the API describes needs a scope, and nothing else is listed.
func TestAdminRouteTableCoversTheAPI(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(admin.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	var described []string
	for p, item := range doc.Paths {
		for m := range item {
			if m != "parameters" {
				described = append(described, strings.ToUpper(m)+" "+p)
			}
		}
	}
	slices.Sort(described)
	if got := adminauth.Operations(); !slices.Equal(got, described) {
		t.Errorf("route table = %v\nOpenAPI      = %v", got, described)
	}
	for _, op := range described {
		if _, ok := adminCases[op]; !ok {
			t.Errorf("%s has no case in adminCases", op)
		}
	}
}

// TestAdminRoles calls every admin route with an operator token of each
// role: the routes of the role's scopes answer as they should, the others
// 403 with nothing changed; the changes are audited with the operator as
// actor.
func TestAdminRoles(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		cfg.Argon2 = fastArgon2
		ts := startServer(t, cfg, serverOptions{NoDemo: true})
		issuer := ts.consoleStandIn(t)
		for _, role := range adminauth.Roles() {
			t.Run(role, func(t *testing.T) {
				opID, tok := ts.operatorWithToken(t, issuer, role)
				allowed := adminauth.RoleScopes(role)
				for _, op := range adminauth.Operations() {
					c := adminCases[op]
					method, _, _ := strings.Cut(op, " ")
					scope, _ := adminauth.RouteScope(method, strings.TrimPrefix(op, method+" "))
					if needs, ok := caseNeeds[op]; ok {
						scope = needs
					}
					path, body := c.fixture(t, ts)
					before := ts.adminState(t)
					code, resp := ts.bearerDo(t, tok, method, path, body)
					if scope == "" || slices.Contains(allowed, scope) {
						if code != c.ok {
							t.Errorf("%s as %s = %d %s, want %d", op, role, code, resp, c.ok)
						}
						continue
					}
					if code != http.StatusForbidden || !strings.Contains(string(resp), "insufficient_scope") {
						t.Errorf("%s as %s = %d %s, want 403 insufficient_scope", op, role, code, resp)
					}
					if after := ts.adminState(t); after != before {
						t.Errorf("%s as %s was refused but changed the state", op, role)
					}
				}
				if n := ts.auditBy(t, adminauth.OperatorActor(opID)); n == 0 {
					t.Errorf("no audit entry with actor %s", adminauth.OperatorActor(opID))
				}
			})
		}
	})
}

// TestAdminNoEscalationThroughClients: no caller hands a client admin
// scopes they do not hold, or takes over (updates, deletes, re-keys) a
// client holding some: otherwise admin:clients:write would be every admin
// scope, by way of a private_key_jwt client with keys of one's own.
func TestAdminNoEscalationThroughClients(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		cfg.Argon2 = fastArgon2
		ts := startServer(t, cfg, serverOptions{NoDemo: true})
		issuer := ts.consoleStandIn(t)
		_, tok := ts.operatorWithToken(t, issuer, adminauth.Admin) // everything but operators:write
		strong := ts.newKeyClient(t, adminauth.OperatorsWrite+" "+adminauth.AuditRead)
		key := mustKey(t, jose.ES256)
		asked := map[string]any{"token_endpoint_auth_method": "private_key_jwt", "scope": adminauth.OperatorsWrite,
			"audience": []string{ts.adminAudience(t)}, "jwks": json.RawMessage(jwksJSON(t, pub(key)))}
		before := ts.adminState(t)
		for _, c := range []struct {
			name, method, path string
			body               any
		}{
			{"create with a scope not held", http.MethodPost, "/admin/clients", asked},
			{"update a stronger client", http.MethodPut, "/admin/clients/" + strong.ClientID, map[string]any{
				"token_endpoint_auth_method": "private_key_jwt", "scope": adminauth.AuditRead,
				"audience": []string{ts.adminAudience(t)}, "jwks": json.RawMessage(jwksJSON(t, pub(key)))}},
			{"delete a stronger client", http.MethodDelete, "/admin/clients/" + strong.ClientID, nil},
			{"new secret of a stronger client", http.MethodPost, "/admin/clients/" + strong.ClientID + "/secret", nil},
		} {
			if code, body := ts.bearerDo(t, tok, c.method, c.path, c.body); code != http.StatusForbidden {
				t.Errorf("%s as admin = %d %s, want 403", c.name, code, body)
			}
		}
		if after := ts.adminState(t); after != before {
			t.Errorf("refused calls changed the state:\nbefore %s\nafter  %s", before, after)
		}
		// Within its own scopes the admin still manages clients.
		asked["scope"] = adminauth.AuditRead
		if code, body := ts.bearerDo(t, tok, http.MethodPost, "/admin/clients", asked); code != http.StatusCreated {
			t.Errorf("create with a scope held = %d %s, want 201", code, body)
		}
	})
}
