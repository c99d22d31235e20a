package authz_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/admin"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// loadOpenAPI parses and validates the admin API's OpenAPI document, with
// its server set to base (the test's admin listener).
func loadOpenAPI(t testing.TB, base string) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(admin.OpenAPI())
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() || doc.IsOpenAPI32OrLater() {
		t.Fatalf("openapi.json is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3.1 document: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: base}}
	return doc
}

// pathParam is a path parameter in a route pattern or an OpenAPI path.
var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// TestAdminOpenAPIRoutes checks that the OpenAPI document describes every
// route and method the admin API serves, and nothing else. The routes come
// from the table the handler registers (admin.Patterns); the methods of
// each from the Allow header of the 405 the running server answers to
// OPTIONS, which no route takes.
func TestAdminOpenAPIRoutes(t *testing.T) {
	srv := startHarness(t, authz.Config{}, serverOptions{NoDemo: true})
	doc := loadOpenAPI(t, srv.Admin)
	served := map[string]bool{}
	patterns := admin.Patterns()
	if len(patterns) == 0 {
		t.Fatal("admin.Patterns() is empty")
	}
	for _, p := range patterns {
		req, err := http.NewRequest(http.MethodOptions, srv.Admin+pathParam.ReplaceAllString(p, "x"), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		allow := resp.Header.Get("Allow")
		if resp.StatusCode != http.StatusMethodNotAllowed || allow == "" {
			t.Errorf("OPTIONS %s = %d with Allow %q, want 405 with the route's methods (answer other methods with methodNotAllowed)", p, resp.StatusCode, allow)
			continue
		}
		for _, m := range strings.Split(allow, ",") {
			served[strings.TrimSpace(m)+" "+p] = true
		}
	}
	described := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			described[method+" "+path] = true
		}
	}
	for _, op := range sortedKeys(served) {
		if !described[op] {
			t.Errorf("%s is served but not in authz/admin/openapi.json: describe it", op)
		}
	}
	for _, op := range sortedKeys(described) {
		if !served[op] {
			t.Errorf("%s is in authz/admin/openapi.json but not served", op)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestAdminOpenAPIServed checks GET /admin/openapi.json: the embedded
// document, behind the admin token like the rest of the API.
func TestAdminOpenAPIServed(t *testing.T) {
	srv := startHarness(t, authz.Config{}, serverOptions{NoDemo: true})
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", strings.Repeat("x", len(testAdminToken)), http.StatusUnauthorized},
		{"admin token", testAdminToken, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.Admin+"/admin/openapi.json", nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("GET /admin/openapi.json = %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want != http.StatusOK {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var got, want any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(admin.OpenAPI(), &want); err != nil {
				t.Fatal(err)
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			if !bytes.Equal(g, w) {
				t.Error("GET /admin/openapi.json differs from admin.OpenAPI()")
			}
		})
	}
}

// openAPICheck is an http.RoundTripper that holds every admin API answer
// to the OpenAPI document: a described operation's answer to its
// response schema (an undescribed status fails too), any other answer to
// the Error schema. A request the server accepted (2xx) must also be
// valid for the document, which would otherwise be stricter than the
// server. It records the operations and statuses it saw.
type openAPICheck struct {
	t      testing.TB
	doc    *openapi3.T
	router routers.Router
	opts   *openapi3filter.Options

	mu   sync.Mutex
	seen map[string]bool // "createClient 201"
}

func newOpenAPICheck(t testing.TB, base string) *openAPICheck {
	doc := loadOpenAPI(t, base)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &openAPICheck{t: t, doc: doc, router: router, seen: map[string]bool{},
		opts: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}}
}

func (c *openAPICheck) RoundTrip(req *http.Request) (*http.Response, error) {
	t := c.t
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	what := req.Method + " " + req.URL.Path

	route, params, err := c.router.FindRoute(req)
	if err != nil {
		// Not a described operation: it must be refused with an Error.
		if resp.StatusCode < 400 {
			t.Errorf("%s: undescribed operation answered %d", what, resp.StatusCode)
		}
		c.mu.Lock()
		c.seen["undescribed "+strconv.Itoa(resp.StatusCode)] = true
		c.mu.Unlock()
		c.checkError(what, resp.StatusCode, body)
		return resp, nil
	}
	c.mu.Lock()
	c.seen[route.Operation.OperationID+" "+strconv.Itoa(resp.StatusCode)] = true
	c.mu.Unlock()
	check := req.Clone(req.Context())
	check.Body = io.NopCloser(bytes.NewReader(reqBody))
	in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route, Options: c.opts}
	if resp.StatusCode/100 == 2 {
		if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
			t.Errorf("%s was accepted (%d) but is not a valid request by openapi.json: %v", what, resp.StatusCode, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: c.opts}
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		t.Errorf("%s: answer %d does not match openapi.json: %v\n%s", what, resp.StatusCode, err, body)
	}
	if resp.StatusCode >= 400 {
		c.checkError(what, resp.StatusCode, body)
	}
	return resp, nil
}

// checkError holds an answer body to the Error schema.
func (c *openAPICheck) checkError(what string, status int, body []byte) {
	c.t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		c.t.Errorf("%s: %d answer is not JSON: %v", what, status, err)
		return
	}
	if err := c.doc.Components.Schemas["Error"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		c.t.Errorf("%s: %d answer does not match the Error schema: %v\n%s", what, status, err, body)
	}
}

// TestAdminOpenAPIAnswers drives every admin operation, and the usual
// refusals, through a real admin API client whose transport holds each
// answer to the OpenAPI document (see openAPICheck); then checks that
// every described operation was driven to its success status.
func TestAdminOpenAPIAnswers(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		srv := startHarness(t, cfg, serverOptions{NoDemo: true})
		check := newOpenAPICheck(t, srv.Admin)
		hc := &http.Client{Transport: check}
		api, err := adminapi.New(adminapi.Config{BaseURL: srv.Admin, Token: testAdminToken, HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		driveAdminAPI(t, api)
		driveAdminRefusals(t, srv.Admin, hc)
		for k := range driveFourEyes(t, cfg) {
			check.seen[k] = true
		}

		for path, item := range check.doc.Paths.Map() {
			for method, op := range item.Operations() {
				for code := range op.Responses.Map() {
					if n, err := strconv.Atoi(code); err == nil && n/100 == 2 && !check.seen[op.OperationID+" "+code] {
						t.Errorf("%s %s (%s) never answered %d in this test: drive it in driveAdminAPI or driveFourEyes", method, path, op.OperationID, n)
					}
				}
			}
		}
		for _, s := range []int{400, 401, 404, 405, 409, 413, 415} {
			found := false
			for k := range check.seen {
				found = found || strings.HasSuffix(k, " "+strconv.Itoa(s))
			}
			if !found {
				t.Errorf("no answer in this test had status %d", s)
			}
		}
	})
}

// driveAdminAPI calls every admin operation once with a valid request and
// fails on an error: openAPICheck looks at the answers.
func driveAdminAPI(t *testing.T, api *adminapi.Client) {
	t.Helper()
	ctx := context.Background()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	_, _, err := api.CreateClient(ctx, adminapi.ClientJSON{ClientID: "svc", Scope: "identity.verify", Audience: []string{"https://idv.example"}})
	must("create client", err)
	key := mustKey(t, jose.ES256)
	_, _, err = api.CreateClient(ctx, adminapi.ClientJSON{ClientID: "web", ClientName: "Web app",
		GrantTypes: []string{adminapi.GrantAuthorizationCode, adminapi.GrantRefreshToken}, RedirectURIs: []string{"https://app.example/cb"},
		Scope: "openid identity.read_status", TokenEndpointAuthMethod: "private_key_jwt",
		JWKS: json.RawMessage(jwksJSON(t, key.Public())), IDTokenSignedResponseAlg: "ES256", AccessTokenTTL: 120})
	must("create client with keys", err)
	_, _, err = api.ListClients(ctx)
	must("list clients", err)
	c, _, err := api.GetClient(ctx, "svc")
	must("get client", err)
	c.ClientName = "Service"
	_, _, err = api.UpdateClient(ctx, "svc", c)
	must("update client", err)
	_, _, err = api.RotateClientSecret(ctx, "svc")
	must("rotate secret", err)
	must("delete client", api.DeleteClient(ctx, "web"))

	ak, _, err := api.CreateAPIKey(ctx, "svc", adminapi.APIKeyCreate{Name: "ci", Networks: []string{"10.0.0.0/8"}})
	must("create API key", err)
	_, _, err = api.ListAPIKeys(ctx, "svc")
	must("list API keys", err)
	grace := int64(60)
	next, _, err := api.RotateAPIKey(ctx, "svc", ak.ID, adminapi.APIKeyRotate{GracePeriod: &grace})
	must("rotate API key", err)
	_, _, err = api.ListAPIKeys(ctx, "svc") // the old key, replaced_by the new
	must("list API keys after rotation", err)
	must("revoke API key", api.RevokeAPIKey(ctx, "svc", next.ID))

	u, _, err := api.CreateUser(ctx, adminapi.UserInput{Username: "ada", Password: "correct horse battery staple", Name: "Ada", Email: "ada@example.com"})
	must("create user", err)
	_, _, err = api.ListUsers(ctx)
	must("list users", err)
	_, _, err = api.GetUser(ctx, u.ID)
	must("get user", err)
	_, _, err = api.WithdrawConsents(ctx, u.ID, "svc")
	must("withdraw consents", err)
	_, _, err = api.ExportUser(ctx, u.ID)
	must("export user", err)
	_, _, err = api.ResetMFA(ctx, u.ID)
	must("reset MFA", err)
	name := "Ada Lovelace"
	_, _, err = api.UpdateUser(ctx, u.ID, adminapi.UserPatch{Name: &name})
	must("update user", err)
	_, _, err = api.PasswordReset(ctx, u.ID)
	must("password reset link", err)
	_, _, err = api.EraseUser(ctx, u.ID)
	must("erase user", err)
	u2, _, err := api.CreateUser(ctx, adminapi.UserInput{Username: "grace", Password: "another long pass phrase"})
	must("create user", err)
	must("delete user", api.DeleteUser(ctx, u2.ID))

	op, _, err := api.CreateOperator(ctx, adminapi.OperatorInput{Username: "olga", Role: "support"})
	must("create operator", err)
	_, _, err = api.ListOperators(ctx)
	must("list operators", err)
	_, _, err = api.GetOperator(ctx, op.Operator.ID)
	must("get operator", err)
	auditor := "auditor"
	_, _, err = api.UpdateOperator(ctx, op.Operator.ID, adminapi.OperatorUpdate{Role: &auditor})
	must("update operator", err)
	_, _, err = api.ResetOperatorMFA(ctx, op.Operator.ID)
	must("reset operator MFA", err)

	before, _, err := api.ListKeys(ctx)
	must("list keys", err)
	_, _, err = api.RotateKeys(ctx, adminapi.RotateKeysRequest{})
	must("rotate keys", err)
	_, _, err = api.RotateKeys(ctx, adminapi.RotateKeysRequest{Alg: "RS256"})
	must("rotate RS256", err)
	if len(before.Keys) == 0 {
		t.Fatal("no signing keys before rotation")
	}
	_, _, err = api.RetireKey(ctx, before.Keys[0].KID, adminapi.RetireKeyRequest{RevokeTokens: true})
	must("retire key", err)

	var last adminapi.AuditEntryJSON
	_, err = api.ListAudit(ctx, adminapi.AuditQuery{}, 0, func(e adminapi.AuditEntryJSON, _ json.RawMessage) error { last = e; return nil })
	must("list audit", err)
	_, err = api.ListAudit(ctx, adminapi.AuditQuery{Type: adminapi.EventClientCreated, ClientID: "svc"}, 1, func(adminapi.AuditEntryJSON, json.RawMessage) error { return nil })
	must("list audit filtered", err)
	v, _, err := api.VerifyAudit(ctx, "", 0)
	must("verify audit", err)
	if !v.OK {
		t.Errorf("audit verification: %+v", v)
	}
	_, _, err = api.VerifyAudit(ctx, strconv.FormatInt(last.Seq, 10)+":"+last.Hash, 10)
	must("verify audit from", err)
	head, _, err := adminapi.AuditHead(ctx, api)
	must("audit head", err)
	if head.Seq <= last.Seq || len(head.Hash) != 64 {
		t.Errorf("audit head %+v, want after entry %d (the reads since are audited)", head, last.Seq)
	}
	p, _, err := adminapi.AuditPageOf(ctx, api, adminapi.AuditQuery{}, strconv.FormatInt(last.Seq-2, 10), 1)
	must("audit page", err)
	if len(p.Entries) != 1 || p.Entries[0].Seq != last.Seq-1 || p.NextCursor != strconv.FormatInt(last.Seq-1, 10) {
		t.Errorf("audit page after %d: %+v, want entry %d and its cursor", last.Seq-2, p, last.Seq-1)
	}
}

// driveFourEyes drives the four-eyes answers on a server of its own
// with four-eyes on, of the backend of cfg: every held call (202), and
// the routes of the requests. It returns what its openAPICheck saw.
func driveFourEyes(t *testing.T, cfg authz.Config) map[string]bool {
	t.Helper()
	var fresh authz.Config
	if cfg.DatabaseURL != "" {
		fresh.DatabaseURL = pgtest.URL(t)
	}
	fe := startFourEyes(t, fresh)
	_, ownerTok := fe.operator(t, adminauth.Owner)
	check := newOpenAPICheck(t, fe.Admin)
	hc := &http.Client{Transport: check}
	ctx := context.Background()
	requester, err := adminapi.New(adminapi.Config{BaseURL: fe.Admin, Token: testAdminToken, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	approver, err := adminapi.New(adminapi.Config{BaseURL: fe.Admin, Token: ownerTok, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	held := func(what string, err error) {
		t.Helper()
		var p *adminapi.Pending
		if !errors.As(err, &p) || p.Request.State != adminapi.RequestPending {
			t.Fatalf("%s: %v, want it held", what, err)
		}
		ids = append(ids, p.Request.ID)
	}
	u, _, err := requester.CreateUser(ctx, adminapi.UserInput{Username: "ada", Password: "correct horse battery staple"})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := requester.CreateClient(ctx, adminapi.ClientJSON{ClientID: "svc", Scope: "identity.verify"})
	if err != nil {
		t.Fatal(err)
	}
	op, _, err := requester.CreateOperator(ctx, adminapi.OperatorInput{Username: "olga", Role: "support"})
	if err != nil {
		t.Fatal(err)
	}
	keys, _, err := requester.ListKeys(ctx)
	if err != nil || len(keys.Keys) == 0 {
		t.Fatalf("list keys: %v %v", keys, err)
	}
	_, _, err = requester.EraseUser(ctx, u.ID)
	held("erase user", err)
	held("delete user", requester.DeleteUser(ctx, u.ID))
	held("delete client", requester.DeleteClient(ctx, c.ClientID))
	_, _, err = requester.RetireKey(ctx, keys.Keys[0].KID, adminapi.RetireKeyRequest{RevokeTokens: true})
	held("retire key with its tokens", err)
	_, _, err = requester.CreateOperator(ctx, adminapi.OperatorInput{Username: "oscar", Role: "owner"})
	held("create an owner", err)
	role := "admin"
	_, _, err = requester.UpdateOperator(ctx, op.Operator.ID, adminapi.OperatorUpdate{Role: &role})
	held("make an admin", err)

	if l, _, err := approver.ListRequests(ctx, adminapi.RequestPending); err != nil || len(l.Requests) != len(ids) {
		t.Fatalf("list requests: %d, %v; want %d", len(l.Requests), err, len(ids))
	}
	if _, _, err := approver.GetRequest(ctx, ids[0]); err != nil {
		t.Fatalf("get request: %v", err)
	}
	if _, _, err := approver.ApproveRequest(ctx, ids[0]); err != nil {
		t.Fatalf("approve: %v", err)
	}
	if _, _, err := approver.ApproveRequest(ctx, ids[1]); err == nil {
		t.Fatal("approval of the erasure of a person erased: no error")
	}
	if _, _, err := approver.RejectRequest(ctx, ids[2]); err != nil {
		t.Fatalf("reject: %v", err)
	}
	if _, _, err := approver.RejectRequest(ctx, ids[2]); err == nil {
		t.Fatal("second rejection: no error")
	}
	return check.seen
}

// driveAdminRefusals sends the usual bad requests (and GET
// /admin/openapi.json, which adminapi.Client does not call); openAPICheck
// holds their answers to the document and the Error schema.
func driveAdminRefusals(t *testing.T, base string, hc *http.Client) {
	t.Helper()
	big := `{"client_name":"` + strings.Repeat("a", 70<<10) + `"}`
	for _, tc := range []struct {
		name, method, path, ct, body string
		noToken                      bool
		want                         int
	}{
		{"no token", "GET", "/admin/clients", "", "", true, 401},
		{"unknown client", "GET", "/admin/clients/nope", "", "", false, 404},
		{"unknown user", "GET", "/admin/users/nope/export", "", "", false, 404},
		{"unknown key", "POST", "/admin/keys/nope/retire", "application/json", `{}`, false, 404},
		{"wrong method", "PATCH", "/admin/clients", "", "", false, 405},
		{"wrong method on a described path", "DELETE", "/admin/keys", "", "", false, 405},
		{"wrong content type", "POST", "/admin/clients", "text/plain", `{}`, false, 415},
		{"bad JSON", "POST", "/admin/clients", "application/json", `{"client_id":`, false, 400},
		{"unknown field", "POST", "/admin/clients", "application/json", `{"client_secret":"x"}`, false, 400},
		{"too large", "POST", "/admin/clients", "application/json", big, false, 413},
		{"duplicate client", "POST", "/admin/clients", "application/json", `{"client_id":"svc"}`, false, 409},
		{"secret of an unknown client", "POST", "/admin/clients/pub/secret", "", "", false, 404},
		{"weak password", "POST", "/admin/users", "application/json", `{"username":"bob","password":"x"}`, false, 400},
		{"bad audit limit", "GET", "/admin/audit?limit=0", "", "", false, 400},
		{"unknown audit parameter", "GET", "/admin/audit?nope=1", "", "", false, 400},
		{"bad verify anchor", "GET", "/admin/audit/verify?from=1:zz", "", "", false, 400},
		{"unknown endpoint", "GET", "/admin/nope", "", "", false, 404},
		{"this document", "GET", "/admin/openapi.json", "", "", false, 200},
	} {
		req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if !tc.noToken {
			req.Header.Set("Authorization", "Bearer "+testAdminToken)
		}
		if tc.ct != "" {
			req.Header.Set("Content-Type", tc.ct)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %s %s = %d, want %d", tc.name, tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
}
