package authz_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
)

// TestEraseUser signs a person in (consent, session, refresh and access
// tokens, a failed login), exports their data, erases them, and checks
// that nothing of them is left and their tokens are dead.
func TestEraseUser(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, codeFlowConfig(cfg))
		username := "zelda.erasable"
		name, email := "Zelda Q. Erasable", "zelda.q.erasable@example.org"
		code, b := ts.adminJSON(t, "POST", "/admin/users", adminapi.UserInput{Username: username, Password: testPassword, Name: name, Email: email})
		if code != http.StatusCreated {
			t.Fatalf("create user: %d %s", code, b)
		}
		var u adminapi.UserJSON
		if err := json.Unmarshal(b, &u); err != nil {
			t.Fatal(err)
		}
		c := ts.createWebClient(t, adminapi.ClientJSON{})
		br := newBrowser(t)
		// One failed login first: the failure counter is keyed by the
		// username's keyed hash.
		p := br.follow(ts.Public, br.get(authURL(c, randomString(16), oauth2.GenerateVerifier(), randomString(16))))
		br.submit(ts.Public, p.onlyForm(t), url.Values{"username": {username}, "password": {"not the password at all"}})
		v := oauth2.GenerateVerifier()
		p = br.signIn(ts, authURL(c, randomString(16), v, randomString(16)), username, "allow")
		res := redirectedToClient(t, p, c.RedirectURIs[0])
		toks := ts.redeemOK(t, c, res.query.Get("code"), v)
		if toks.RefreshToken == "" {
			t.Fatal("no refresh token")
		}
		hash := ts.passwordHash(t, u.ID)

		code, b = ts.adminJSON(t, "GET", "/admin/users/"+u.ID+"/export", nil)
		if code != http.StatusOK {
			t.Fatalf("export: %d %s", code, b)
		}
		var ex adminapi.UserExport
		if err := json.Unmarshal(b, &ex); err != nil {
			t.Fatal(err)
		}
		kinds := map[string]bool{}
		for _, tk := range ex.Tokens {
			kinds[tk.Kind] = true
		}
		if ex.User.Username != username || ex.User.Email != email || len(ex.Consents) != 1 || ex.Consents[0].ClientID != c.ClientID ||
			len(ex.Sessions) != 1 || !kinds["access_token"] || !kinds["refresh_token"] || len(ex.Audit) < 2 {
			t.Errorf("export = %s", b)
		}
		if strings.Contains(string(b), hash) || strings.Contains(string(b), toks.RefreshToken) || strings.Contains(string(b), toks.AccessToken) {
			t.Error("export holds the password hash or a token")
		}
		for _, e := range ex.Audit {
			if e.IP != "" && e.Actor != "user:"+u.ID {
				t.Errorf("export shows the address of %s (entry %d): only the person's own are theirs", e.Actor, e.Seq)
			}
		}

		if ts.findText(t, hash) == "" {
			t.Fatal("the search does not find the password hash before erasure: it would prove nothing after")
		}
		// While the person exists, their profile is sealed: no column of
		// any table holds it in plain text.
		for what, s := range map[string]string{"username": username, "name": name, "email": email} {
			if where := ts.findText(t, s); where != "" {
				t.Errorf("before erasure the %s is in plain text in %s", what, where)
			}
		}
		code, b = ts.adminJSON(t, "POST", "/admin/users/"+u.ID+"/erase", nil)
		if code != http.StatusOK || !strings.Contains(string(b), `"erased": true`) {
			t.Fatalf("erase: %d %s", code, b)
		}
		if st, body := ts.refresh(t, c, toks.RefreshToken); st != http.StatusBadRequest {
			t.Errorf("refresh after erasure = %d %s, want 400", st, body)
		}
		ts.requireInactive(t, toks.AccessToken)
		for _, req := range []struct{ method, path string }{{"GET", "/admin/users/" + u.ID}, {"GET", "/admin/users/" + u.ID + "/export"}, {"POST", "/admin/users/" + u.ID + "/erase"}} {
			if code, b := ts.adminJSON(t, req.method, req.path, nil); code != http.StatusNotFound {
				t.Errorf("%s %s after erasure = %d %s, want 404", req.method, req.path, code, b)
			}
		}
		erased := ts.auditAll(t, url.Values{"type": {adminapi.EventUserErased}})
		if len(erased) != 1 || erased[0].Subject != u.ID || erased[0].Actor != "break-glass" {
			t.Errorf("user.erased entries = %+v", erased)
		}
		// The person's audit entries remain, by opaque ID only.
		if left := ts.auditAll(t, url.Values{"subject": {u.ID}}); len(left) < 2 {
			t.Errorf("audit entries about %s after erasure = %d, want them kept (opaque ID only)", u.ID, len(left))
		}
		for what, s := range map[string]string{"username": username, "name": name, "email": email, "password hash": hash} {
			if where := ts.findText(t, s); where != "" {
				t.Errorf("after erasure the %s is still in %s", what, where)
			}
		}
	})
}

// passwordHash reads a person's stored hash.
func (ts *testServer) passwordHash(t testing.TB, id string) string {
	t.Helper()
	if m, ok := ts.Store.(*memory.Store); ok {
		u, err := m.GetUser(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return u.PasswordHash
	}
	conn := ts.db(t)
	var h string
	if err := conn.QueryRow(context.Background(), `SELECT password_hash FROM users WHERE id = $1`, id).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

func (ts *testServer) db(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), ts.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// findText searches every column of every table of the store for s
// (bytea columns as text too) and names the first table.column holding
// it, or "". On the memory store it searches what the store exports.
func (ts *testServer) findText(t testing.TB, s string) string {
	t.Helper()
	ctx := context.Background()
	if m, ok := ts.Store.(*memory.Store); ok {
		users, _ := m.ListUsers(ctx)
		for _, u := range users {
			if strings.Contains(fmt.Sprint(u), s) {
				return "users"
			}
		}
		entries, _ := m.ListAudit(ctx, storageFilterAll())
		for _, e := range entries {
			if strings.Contains(string(e.Body), s) {
				return "audit"
			}
		}
		return ""
	}
	conn := ts.db(t)
	rows, err := conn.Query(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() ORDER BY table_name, column_name`)
	if err != nil {
		t.Fatal(err)
	}
	type col struct{ table, column, typ string }
	var cols []col
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.table, &c.column, &c.typ); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if rows.Err() != nil || len(cols) < 10 {
		t.Fatalf("schema has %d columns (%v): the search would prove nothing", len(cols), rows.Err())
	}
	for _, c := range cols {
		expr := fmt.Sprintf("%s::text", pgx.Identifier{c.column}.Sanitize())
		if c.typ == "bytea" {
			expr = fmt.Sprintf("encode(%s, 'escape')", pgx.Identifier{c.column}.Sanitize())
		}
		var n int
		q := fmt.Sprintf(`SELECT count(*) FROM %s WHERE strpos(%s, $1) > 0`, pgx.Identifier{c.table}.Sanitize(), expr)
		if err := conn.QueryRow(ctx, q, s).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n > 0 {
			return c.table + "." + c.column
		}
	}
	return ""
}

func storageFilterAll() storage.AuditFilter { return storage.AuditFilter{Limit: storage.MaxAuditPage} }
