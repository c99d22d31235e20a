package foureyes

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
)

type fakeKeys []storage.Key

func (fakeKeys) Reload(context.Context) error { return nil }
func (k fakeKeys) Records() []storage.Key     { return k }

// TestHold: which calls are held, what a held one stores, and that the
// route can still read the body of every call.
func TestHold(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	st := memory.New()
	if err := st.CreateUser(ctx, storage.User{ID: "u1", Username: "ada", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateOperator(ctx, storage.Operator{ID: "op1", Username: "bob", Role: adminauth.Admin, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	run := func(*http.Request, adminauth.Principal, storage.Approval) (int, []byte) { return 0, nil }
	svc, err := New(Config{Store: st, Keys: fakeKeys{{ID: "k1"}}, On: true, Run: run, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	caller := adminauth.Principal{Kind: adminauth.KindOperator, ID: "op9", Actor: "operator:op9"}
	for _, tc := range []struct {
		name, method, pattern, path, body string
		values                            map[string]string
		held                              string // the action, "" if not held
		stored                            string // the body stored
	}{
		{"erase", "POST", "/admin/users/{id}/erase", "/admin/users/u1/erase", "", map[string]string{"id": "u1"}, adminapi.ActionUserErase, ""},
		{"delete person", "DELETE", "/admin/users/{id}", "/admin/users/u1", "", map[string]string{"id": "u1"}, adminapi.ActionUserErase, ""},
		{"erase of no one", "POST", "/admin/users/{id}/erase", "/admin/users/u2/erase", "", map[string]string{"id": "u2"}, "", ""},
		{"retire with tokens", "POST", "/admin/keys/{kid}/retire", "/admin/keys/k1/retire", `{"revoke_tokens": true}`, map[string]string{"kid": "k1"}, adminapi.ActionKeyRetire, `{"revoke_tokens":true}`},
		{"retire alone", "POST", "/admin/keys/{kid}/retire", "/admin/keys/k1/retire", `{"revoke_tokens": false}`, map[string]string{"kid": "k1"}, "", ""},
		{"retire of no key", "POST", "/admin/keys/{kid}/retire", "/admin/keys/k2/retire", `{"revoke_tokens": true}`, map[string]string{"kid": "k2"}, "", ""},
		{"retire, bad JSON", "POST", "/admin/keys/{kid}/retire", "/admin/keys/k1/retire", `{"revoke_tokens": tru`, map[string]string{"kid": "k1"}, "", ""},
		{"retire, unknown field", "POST", "/admin/keys/{kid}/retire", "/admin/keys/k1/retire", `{"revoke_tokens": true, "x": 1}`, map[string]string{"kid": "k1"}, "", ""},
		{"new owner", "POST", "/admin/operators", "/admin/operators", `{"username":"eve","role":"owner"}`, nil, adminapi.ActionOperatorGrant, `{"username":"eve","role":"owner"}`},
		{"new support", "POST", "/admin/operators", "/admin/operators", `{"username":"eve","role":"support"}`, nil, "", ""},
		{"new admin, bad username", "POST", "/admin/operators", "/admin/operators", `{"username":"e v e","role":"admin"}`, nil, "", ""},
		{"make owner", "PUT", "/admin/operators/{id}", "/admin/operators/op1", `{"role":"owner"}`, map[string]string{"id": "op1"}, adminapi.ActionOperatorGrant, `{"role":"owner"}`},
		{"admin stays admin", "PUT", "/admin/operators/{id}", "/admin/operators/op1", `{"role":"admin"}`, map[string]string{"id": "op1"}, "", ""},
		{"disable", "PUT", "/admin/operators/{id}", "/admin/operators/op1", `{"disabled":true}`, map[string]string{"id": "op1"}, "", ""},
		{"delete no client", "DELETE", "/admin/clients/{id}", "/admin/clients/c1", "", map[string]string{"id": "c1"}, "", ""},
		{"rotate", "POST", "/admin/keys/rotate", "/admin/keys/rotate", `{}`, nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if tc.body != "" {
				r.Header.Set("Content-Type", "application/json")
			}
			r.Pattern = tc.pattern // as the admin mux sets it: its patterns name no method
			for k, v := range tc.values {
				r.SetPathValue(k, v)
			}
			res, held, err := svc.Hold(r, caller)
			if err != nil {
				t.Fatal(err)
			}
			if rest, _ := io.ReadAll(r.Body); string(rest) != tc.body {
				t.Errorf("body left for the route = %q, want %q", rest, tc.body)
			}
			if held != (tc.held != "") {
				t.Fatalf("Hold = %v, want %v", held, tc.held != "")
			}
			if !held {
				return
			}
			j, ok := res.Body.(adminapi.RequestJSON)
			if res.Status != http.StatusAccepted || res.Event != adminapi.EventRequestCreated || !ok {
				t.Fatalf("Hold = %+v, want 202 and the request", res)
			}
			a, err := st.GetApproval(ctx, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if a.Action != tc.held || a.State != storage.ApprovalPending || a.RequestedBy != caller.Actor || a.Method != tc.method || a.Path != tc.path ||
				string(a.Body) != tc.stored || !a.CreatedAt.Equal(now) || !a.ExpiresAt.Equal(now.Add(24*time.Hour)) {
				t.Errorf("stored request = %+v", a)
			}
		})
	}

	off, err := New(Config{Store: st, Keys: fakeKeys{}, Run: run})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/admin/users/u1/erase", nil)
	r.Pattern = "/admin/users/{id}/erase"
	r.SetPathValue("id", "u1")
	if _, held, err := off.Hold(r, caller); held || err != nil {
		t.Errorf("Hold with four-eyes off = %v, %v; want not held", held, err)
	}
	if _, err := New(Config{Store: st, Keys: fakeKeys{}}); err == nil {
		t.Error("New without Run: no error")
	}
}
