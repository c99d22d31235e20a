package adminapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz/adminapi"
)

const token = "test-admin-token-0123456789abcdef0123456789"

// request is what the fake admin API was sent.
type request struct {
	Method, Path, Query, Auth, ContentType, Body string
}

// fakeAPI is an admin API that answers every request with status and
// body, and records what it was sent.
type fakeAPI struct {
	mu     sync.Mutex
	status int
	body   string
	sent   []request
}

// start serves f on loopback and returns a client for it.
func (f *fakeAPI) start(t testing.TB, cfg adminapi.Config) *adminapi.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.sent = append(f.sent, request{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"),
			r.Header.Get("Content-Type"), string(b)})
		w.WriteHeader(f.status)
		io.WriteString(w, f.body)
	}))
	t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL + "/"
	if cfg.Token == "" {
		cfg.Token = token
	}
	c, err := adminapi.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	return c
}

func (f *fakeAPI) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.sent...)
}

// TestRoutes calls every method and checks what it sent and how it
// decoded the answer.
func TestRoutes(t *testing.T) {
	t.Parallel()
	type call func(context.Context, *adminapi.Client) (any, []byte, error)
	ret := func(v any, raw []byte, err error) (any, []byte, error) { return v, raw, err }
	client := adminapi.ClientJSON{ClientID: "kyc", ClientName: "KYC", Scope: "identity.verify", TokenEndpointAuthMethod: "client_secret_basic"}
	const clientAnswer = `{"client_id":"kyc","client_secret":"s3cret","client_name":"KYC","grant_types":["client_credentials"],"scope":"identity.verify","introspection_allowed":true}`
	clientWant := adminapi.ClientJSON{ClientID: "kyc", ClientSecret: "s3cret", ClientName: "KYC", GrantTypes: []string{"client_credentials"},
		Scope: "identity.verify", IntrospectionAllowed: true}
	const clientBody = `{"client_id":"kyc","client_name":"KYC","scope":"identity.verify","token_endpoint_auth_method":"client_secret_basic","audience":[],"access_token_ttl":0,"introspection_allowed":false}`
	const keys = `{"keys":[{"kid":"k1","alg":"ES256","state":"active","created_at":"2026-11-23T10:00:00Z"}]}`
	keysWant := adminapi.KeyList{Keys: []adminapi.KeyJSON{{KID: "k1", Alg: "ES256", State: "active", CreatedAt: "2026-11-23T10:00:00Z"}}}
	const user = `{"id":"u_1","username":"ada","name":"Ada","email":"","created_at":1,"updated_at":2}`
	userWant := adminapi.UserJSON{ID: "u_1", Username: "ada", Name: "Ada", CreatedAt: 1, UpdatedAt: 2}
	tests := []struct {
		name   string
		call   call
		status int
		answer string
		want   any     // decoded; nil: no answer
		sent   request // without Auth
	}{{
		name: "CreateClient",
		call: func(ctx context.Context, c *adminapi.Client) (any, []byte, error) {
			return ret(c.CreateClient(ctx, client))
		},
		status: 201, answer: clientAnswer, want: clientWant,
		sent: request{Method: "POST", Path: "/admin/clients", ContentType: "application/json", Body: clientBody},
	}, {
		name:   "ListClients",
		call:   func(ctx context.Context, c *adminapi.Client) (any, []byte, error) { return ret(c.ListClients(ctx)) },
		status: 200, answer: `{"clients":[` + clientAnswer + `]}`, want: adminapi.ClientList{Clients: []adminapi.ClientJSON{clientWant}},
		sent: request{Method: "GET", Path: "/admin/clients"},
	}, {
		name: "GetClient",
		call: func(ctx context.Context, c *adminapi.Client) (any, []byte, error) {
			return ret(c.GetClient(ctx, "a b/c"))
		},
		status: 200, answer: clientAnswer, want: clientWant,
		sent: request{Method: "GET", Path: "/admin/clients/a%20b%2Fc"},
	}, {
		name: "UpdateClient",
		call: func(ctx context.Context, c *adminapi.Client) (any, []byte, error) {
			return ret(c.UpdateClient(ctx, "kyc", client))
		},
		status: 200, answer: clientAnswer, want: clientWant,
		sent: request{Method: "PUT", Path: "/admin/clients/kyc", ContentType: "application/json", Body: clientBody},
	}, {
		name: "DeleteClient",
		call: func(ctx context.Context, c *adminapi.Client) (any, []byte, error) {
			return nil, nil, c.DeleteClient(ctx, "kyc")
		},
		status: 204,
		sent:   request{Method: "DELETE", Path: "/admin/clients/kyc"},
	}, {
		name: "RotateClientSecret",
		call: func(ctx context.Context, c *adminapi.Client) (any, []byte, error) {
			return ret(c.RotateClientSecret(ctx, "kyc"))
		},
		status: 200, answer: clientAnswer, want: clientWant,
		sent: request{Method: "POST", Path: "/admin/clients/kyc/secret"},
	}, {
		name:   "ListKeys",
		call:   func(ctx context.Context, c *adminapi.Client) (any, []byte, error) { return ret(c.ListKeys(ctx)) },
		status: 200, answer: keys, want: keysWant,
		sent: request{Method: "GET", Path: "/admin/keys"},
	}, {
		name: "RotateKeys",
		call: func(ctx context.Context, c *adminapi.Client) (any, []byte, error) {
			return ret(c.RotateKeys(ctx, adminapi.RotateKeysRequest{}))
		},
		status: 200, answer: keys, want: keysWant,
		sent: request{Method: "POST", Path: "/admin/keys/rotate", ContentType: "application/json", Body: `{}`},
	}, {
		name: "RetireKey",
		call: func(ctx context.Context, c *adminapi.Client) (any, []byte, error) {
			return ret(c.RetireKey(ctx, "-k1", adminapi.RetireKeyRequest{RevokeTokens: true}))
		},
		status: 200, answer: keys, want: keysWant,
		sent: request{Method: "POST", Path: "/admin/keys/-k1/retire", ContentType: "application/json", Body: `{"revoke_tokens":true}`},
	}, {
		name: "CreateUser",
		call: func(ctx context.Context, c *adminapi.Client) (any, []byte, error) {
			return ret(c.CreateUser(ctx, adminapi.UserInput{Username: "ada", Password: "pw", Name: "Ada"}))
		},
		status: 201, answer: user, want: userWant,
		sent: request{Method: "POST", Path: "/admin/users", ContentType: "application/json",
			Body: `{"username":"ada","password":"pw","name":"Ada","email":""}`},
	}, {
		name:   "ListUsers",
		call:   func(ctx context.Context, c *adminapi.Client) (any, []byte, error) { return ret(c.ListUsers(ctx)) },
		status: 200, answer: `{"users":[` + user + `]}`, want: adminapi.UserList{Users: []adminapi.UserJSON{userWant}},
		sent: request{Method: "GET", Path: "/admin/users"},
	}, {
		name:   "GetUser",
		call:   func(ctx context.Context, c *adminapi.Client) (any, []byte, error) { return ret(c.GetUser(ctx, "u_1")) },
		status: 200, answer: user, want: userWant,
		sent: request{Method: "GET", Path: "/admin/users/u_1"},
	}, {
		name: "DeleteUser",
		call: func(ctx context.Context, c *adminapi.Client) (any, []byte, error) {
			return nil, nil, c.DeleteUser(ctx, "u_1")
		},
		status: 204,
		sent:   request{Method: "DELETE", Path: "/admin/users/u_1"},
	}, {
		name: "WithdrawConsents to all",
		call: func(ctx context.Context, c *adminapi.Client) (any, []byte, error) {
			return ret(c.WithdrawConsents(ctx, "u_1", ""))
		},
		status: 200, answer: `{"user_id":"u_1","withdrawn":2}`, want: adminapi.ConsentWithdrawal{UserID: "u_1", Withdrawn: 2},
		sent: request{Method: "DELETE", Path: "/admin/users/u_1/consents"},
	}, {
		name: "WithdrawConsents to one",
		call: func(ctx context.Context, c *adminapi.Client) (any, []byte, error) {
			return ret(c.WithdrawConsents(ctx, "u_1", "a client&x"))
		},
		status: 200, answer: `{"user_id":"u_1","withdrawn":1}`, want: adminapi.ConsentWithdrawal{UserID: "u_1", Withdrawn: 1},
		sent: request{Method: "DELETE", Path: "/admin/users/u_1/consents", Query: "client_id=a+client%26x"},
	}, {
		name: "EraseUser",
		call: func(ctx context.Context, c *adminapi.Client) (any, []byte, error) {
			return ret(c.EraseUser(ctx, "u_1"))
		},
		status: 200, answer: `{"user_id":"u_1","erased":true}`, want: adminapi.UserErasure{UserID: "u_1", Erased: true},
		sent: request{Method: "POST", Path: "/admin/users/u_1/erase"},
	}, {
		name: "ExportUser",
		call: func(ctx context.Context, c *adminapi.Client) (any, []byte, error) {
			return ret(c.ExportUser(ctx, "u_1"))
		},
		status: 200, answer: `{"user":` + user + `,"audit":[{"seq":3,"type":"user.created"}]}`,
		want: adminapi.UserExport{User: userWant, Audit: []adminapi.AuditEntryJSON{{Seq: 3, Type: adminapi.EventUserCreated}}},
		sent: request{Method: "GET", Path: "/admin/users/u_1/export"},
	}, {
		name: "VerifyAudit",
		call: func(ctx context.Context, c *adminapi.Client) (any, []byte, error) {
			return ret(c.VerifyAudit(ctx, "", 0))
		},
		status: 200, answer: `{"ok":true,"complete":true,"entries":0}`, want: adminapi.AuditVerification{OK: true, Complete: true},
		sent: request{Method: "GET", Path: "/admin/audit/verify"},
	}, {
		name: "VerifyAudit from a head",
		call: func(ctx context.Context, c *adminapi.Client) (any, []byte, error) {
			return ret(c.VerifyAudit(ctx, "4:"+strings.Repeat("ab", 32), 2))
		},
		status: 200, answer: `{"ok":true,"entries":2,"first_seq":5,"last_seq":6,"last_hash":"cd"}`,
		want: adminapi.AuditVerification{OK: true, Entries: 2, FirstSeq: 5, LastSeq: 6, LastHash: "cd"},
		sent: request{Method: "GET", Path: "/admin/audit/verify", Query: "from=4%3A" + strings.Repeat("ab", 32) + "&limit=2"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeAPI{status: tt.status, body: tt.answer}
			got, raw, err := tt.call(t.Context(), f.start(t, adminapi.Config{}))
			if err != nil {
				t.Fatalf("%s = %v, want no error", tt.name, err)
			}
			if tt.want != nil && (!reflect.DeepEqual(got, tt.want) || string(raw) != tt.answer) {
				t.Errorf("%s = %+v, %q; want %+v, %q", tt.name, got, raw, tt.want, tt.answer)
			}
			want := tt.sent
			want.Auth = "Bearer " + token
			if sent := f.requests(); len(sent) != 1 || sent[0] != want {
				t.Errorf("%s sent %+v, want one request %+v", tt.name, sent, want)
			}
		})
	}
}

// TestErrors checks the errors of refusals and of answers that are not
// what the API sends.
func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		max    int64
		status int
		body   string
		want   *adminapi.Error // nil: not an *Error
		text   string
	}{
		{"refusal", 0, 404, `{"error":"not_found","error_description":"No such resource."}`,
			&adminapi.Error{Status: 404, Code: "not_found", Description: "No such resource."}, "admin API: not_found: No such resource. (HTTP 404)"},
		{"refusal without description", 0, 401, `{"error":"unauthorized"}`,
			&adminapi.Error{Status: 401, Code: "unauthorized"}, "admin API: unauthorized (HTTP 401)"},
		{"proxy error page", 0, 502, "<html><body>Bad Gateway</body></html>",
			&adminapi.Error{Status: 502, Code: "Bad Gateway"}, "admin API: Bad Gateway (HTTP 502)"},
		{"JSON without error", 0, 500, `{"message":"boom"}`,
			&adminapi.Error{Status: 500, Code: "Internal Server Error"}, "admin API: Internal Server Error (HTTP 500)"},
		{"oversize refusal", 64, 400, `{"error":"invalid_request","error_description":"` + strings.Repeat("x", 100) + `"}`,
			&adminapi.Error{Status: 400, Code: "Bad Request"}, "admin API: Bad Request (HTTP 400)"},
		{"oversize answer", 64, 200, `{"clients":[]` + strings.Repeat(" ", 100) + `}`,
			nil, "unexpected admin API answer: larger than 64 bytes"},
		{"answer of exactly the limit", 64, 200, `{"clients":[]` + strings.Repeat(" ", 64-14) + `}`, nil, ""},
		{"not JSON", 0, 200, "<html>", nil, "unexpected admin API answer: invalid character '<' looking for beginning of value"},
		{"wrong JSON", 0, 200, `{"clients":{}}`, nil, "unexpected admin API answer: json: cannot unmarshal object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeAPI{status: tt.status, body: tt.body}
			_, raw, err := f.start(t, adminapi.Config{MaxAnswerBytes: tt.max}).ListClients(t.Context())
			var ae *adminapi.Error
			switch {
			case tt.text == "" && err != nil:
				t.Fatalf("ListClients = %v, want no error", err)
			case tt.text == "":
				return
			case err == nil || !strings.HasPrefix(err.Error(), tt.text) || raw != nil:
				t.Errorf("ListClients = %q, %v; want no answer, an error starting %q", raw, err, tt.text)
			case (tt.want != nil) != errors.As(err, &ae) || (tt.want != nil && *ae != *tt.want):
				t.Errorf("ListClients error = %#v, want %#v", err, tt.want)
			}
		})
	}
}

// TestUnreachable checks the error of a server that is not there: it
// names the URL, never the token or a password in the URL.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := adminapi.New(adminapi.Config{BaseURL: "http://admin:hunter2@" + addr, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	err = c.DeleteUser(t.Context(), "u_1")
	want := "cannot reach the admin API at http://admin:xxxxx@" + addr + ": "
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), token) {
		t.Errorf("DeleteUser on %s = %v, want an error starting %q", addr, err, want)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := c.ListKeys(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("ListKeys with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  adminapi.Config
		want error
	}{
		{adminapi.Config{BaseURL: "http://127.0.0.1:8081", Token: token}, nil},
		{adminapi.Config{BaseURL: "https://admin.example/idv/", Token: token}, nil},
		{adminapi.Config{BaseURL: "ftp://127.0.0.1:8081", Token: token}, adminapi.ErrBaseURL},
		{adminapi.Config{BaseURL: "127.0.0.1:8081", Token: token}, adminapi.ErrBaseURL},
		{adminapi.Config{BaseURL: "http://", Token: token}, adminapi.ErrBaseURL},
		{adminapi.Config{BaseURL: "", Token: token}, adminapi.ErrBaseURL},
		{adminapi.Config{BaseURL: "http://127.0.0.1:8081"}, adminapi.ErrNoToken},
	}
	for _, tt := range tests {
		c, err := adminapi.New(tt.cfg)
		if !errors.Is(err, tt.want) || (err == nil) != (c != nil) {
			t.Errorf("New(%q) = %v, %v; want %v", tt.cfg.BaseURL, c, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("New(%q) = %v, shows the token", tt.cfg.BaseURL, err)
		}
	}
}

// TestBaseURLPath checks that a base URL with a path keeps it.
func TestBaseURLPath(t *testing.T) {
	t.Parallel()
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Path
		io.WriteString(w, `{"keys":[]}`)
	}))
	t.Cleanup(srv.Close)
	c, err := adminapi.New(adminapi.Config{BaseURL: srv.URL + "/idv/", Token: token, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ListKeys(t.Context()); err != nil || got != "/idv/admin/keys" {
		t.Errorf("ListKeys via %s/idv/ = %v, path %q; want /idv/admin/keys", srv.URL, err, got)
	}
}

// auditAPI answers GET /admin/audit from n entries in pages of at most
// size, with an optional broken next_cursor.
func auditAPI(t testing.TB, n, size int, stuck bool) (*adminapi.Client, *[]url.Values) {
	t.Helper()
	var mu sync.Mutex
	var queries []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		queries = append(queries, q)
		mu.Unlock()
		after, _ := strconv.Atoi(q.Get("cursor"))
		limit, _ := strconv.Atoi(q.Get("limit"))
		var entries []string
		for seq := after + 1; seq <= n && len(entries) < min(limit, size); seq++ {
			// Indented, as the server writes them.
			entries = append(entries, fmt.Sprintf("{\n  \"seq\": %d,\n  \"type\": \"token.issued\"\n}", seq))
		}
		next := ""
		if last := after + len(entries); last < n {
			next = strconv.Itoa(last)
		}
		if stuck {
			next = q.Get("cursor")
			if next == "" {
				next = "0"
			}
		}
		fmt.Fprintf(w, `{"entries": [%s], "next_cursor": %q}`, strings.Join(entries, ", "), next)
	}))
	t.Cleanup(srv.Close)
	c, err := adminapi.New(adminapi.Config{BaseURL: srv.URL, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c, &queries
}

func TestListAudit(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 11, 23, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	q := adminapi.AuditQuery{Since: since, Type: adminapi.EventTokenIssued, ClientID: "c 1", Subject: "u_1"}
	tests := []struct {
		name       string
		n, size    int
		limit      int
		wantSeqs   int
		wantLimits []string
		wantCursor []string
	}{
		{"every page", 5, 2, 0, 5, []string{"1000", "1000", "1000"}, []string{"", "2", "4"}},
		{"limit within a page", 5, 10, 3, 3, []string{"3"}, []string{""}},
		{"limit over pages", 5, 2, 3, 3, []string{"3", "1"}, []string{"", "2"}},
		{"nothing", 0, 2, 0, 0, []string{"1000"}, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, queries := auditAPI(t, tt.n, tt.size, false)
			var seqs []int64
			n, err := c.ListAudit(t.Context(), q, tt.limit, func(e adminapi.AuditEntryJSON, raw json.RawMessage) error {
				if want := fmt.Sprintf("{\n  \"seq\": %d,\n  \"type\": \"token.issued\"\n}", e.Seq); string(raw) != want {
					t.Errorf("entry %d as sent = %q, want %q", e.Seq, raw, want)
				}
				seqs = append(seqs, e.Seq)
				return nil
			})
			if err != nil || n != tt.wantSeqs || len(seqs) != n {
				t.Fatalf("ListAudit = %d, %v; handed on %d; want %d", n, err, len(seqs), tt.wantSeqs)
			}
			var limits, cursors []string
			for _, q := range *queries {
				limits, cursors = append(limits, q.Get("limit")), append(cursors, q.Get("cursor"))
				if q.Get("since") != "2026-11-23T08:00:00Z" || q.Get("type") != "token.issued" || q.Get("client_id") != "c 1" ||
					q.Get("subject") != "u_1" || q.Has("until") {
					t.Errorf("query %s, want since in UTC, type, client_id, subject, no until", q.Encode())
				}
			}
			if !reflect.DeepEqual(limits, tt.wantLimits) || !reflect.DeepEqual(cursors, tt.wantCursor) {
				t.Errorf("limits %q, cursors %q; want %q, %q", limits, cursors, tt.wantLimits, tt.wantCursor)
			}
		})
	}
}

func TestListAuditStops(t *testing.T) {
	t.Parallel()
	c, _ := auditAPI(t, 5, 2, true)
	n, err := c.ListAudit(t.Context(), adminapi.AuditQuery{}, 0, func(adminapi.AuditEntryJSON, json.RawMessage) error { return nil })
	if n != 4 || err == nil || !strings.Contains(err.Error(), "unexpected admin API answer: next_cursor \"0\" does not move on") {
		t.Errorf("ListAudit with a stuck cursor = %d, %v; want 4 entries and an error", n, err)
	}
	c, _ = auditAPI(t, 5, 2, false)
	stop := errors.New("stop")
	n, err = c.ListAudit(t.Context(), adminapi.AuditQuery{}, 0, func(e adminapi.AuditEntryJSON, _ json.RawMessage) error {
		if e.Seq == 3 {
			return stop
		}
		return nil
	})
	if n != 2 || !errors.Is(err, stop) {
		t.Errorf("ListAudit stopped by each at entry 3 = %d, %v; want 2, its error", n, err)
	}
}

func TestParseAuditAnchor(t *testing.T) {
	t.Parallel()
	h := strings.Repeat("0a", 32)
	tests := []struct {
		in   string
		want int64 // 0: an error
	}{
		{"42:" + h, 42},
		{"1:" + h, 1},
		{"0:" + h, 0},
		{"42", 0},
		{"x:" + h, 0},
		{"42:" + strings.ToUpper(h), 0},
		{"42:" + h[:62], 0},
		{"42:" + strings.Repeat("zz", 32), 0},
	}
	for _, tt := range tests {
		a, err := adminapi.ParseAuditAnchor(tt.in)
		if (err == nil) != (tt.want != 0) || a.Seq != tt.want || (err == nil && fmt.Sprintf("%d:%x", a.Seq, a.Hash) != tt.in) {
			t.Errorf("ParseAuditAnchor(%q) = %d:%x, %v; want seq %d", tt.in, a.Seq, a.Hash, err, tt.want)
		}
	}
}
