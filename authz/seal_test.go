package authz_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// createPerson registers a person through the admin API.
func (ts *testServer) createPerson(t testing.TB, username, name, email string) adminapi.UserJSON {
	t.Helper()
	code, b := ts.adminJSON(t, "POST", "/admin/users", adminapi.UserInput{Username: username, Password: testPassword, Name: name, Email: email})
	if code != http.StatusCreated {
		t.Fatalf("create user: %d %s", code, b)
	}
	var u adminapi.UserJSON
	if err := json.Unmarshal(b, &u); err != nil {
		t.Fatal(err)
	}
	return u
}

// signsIn checks that the person signs in (a lookup by username, then
// the password) and that the server exports their profile in the clear.
func (ts *testServer) signsIn(t testing.TB, c webClient, u adminapi.UserJSON) {
	t.Helper()
	v := oauth2.GenerateVerifier()
	p := newBrowser(t).signIn(ts, authURL(c, randomString(16), v, randomString(16)), u.Username, "allow")
	if toks := ts.redeemOK(t, c, redirectedToClient(t, p, c.RedirectURIs[0]).query.Get("code"), v); toks.AccessToken == "" {
		t.Fatalf("%s signed in but got no access token", u.ID)
	}
	code, b := ts.adminJSON(t, "GET", "/admin/users/"+u.ID+"/export", nil)
	var ex adminapi.UserExport
	if code != http.StatusOK || json.Unmarshal(b, &ex) != nil || ex.User.Username != u.Username || ex.User.Email != u.Email || ex.User.Name != u.Name {
		t.Errorf("export of %s: %d %s; want the profile in the clear", u.ID, code, b)
	}
}

// TestSealedPeople checks on both backends that no column of any table
// holds a person's username, name or e-mail in plain text, and that
// erasing one person (which destroys their data key) leaves the others
// signing in, found by username and exported.
func TestSealedPeople(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, codeFlowConfig(cfg))
		c := ts.createWebClient(t, adminapi.ClientJSON{})
		gone := ts.createPerson(t, "ulla.shredded", "Ulla Shredded", "Ulla.Shredded@example.org")
		kept := ts.createPerson(t, "kai.kept", "Kai Kept", "kai.kept@example.org")
		ts.signsIn(t, c, gone)
		ts.signsIn(t, c, kept)
		if ts.findText(t, ts.passwordHash(t, kept.ID)) == "" {
			t.Fatal("the search does not find the password hash: it would prove nothing")
		}
		for _, u := range []adminapi.UserJSON{gone, kept} {
			for _, s := range []string{u.Username, u.Name, u.Email, strings.ToLower(u.Email)} {
				if where := ts.findText(t, s); where != "" {
					t.Errorf("%q is in plain text in %s", s, where)
				}
			}
		}
		if code, b := ts.adminJSON(t, "POST", "/admin/users/"+gone.ID+"/erase", nil); code != http.StatusOK {
			t.Fatalf("erase: %d %s", code, b)
		}
		if n := ts.personKeys(t, gone.ID); n != 0 {
			t.Errorf("%d data keys of the erased person left, want 0", n)
		}
		if n := ts.personKeys(t, kept.ID); n != 1 {
			t.Errorf("%d data keys of the kept person, want 1", n)
		}
		ts.signsIn(t, c, kept)
		code, b := ts.adminJSON(t, "GET", "/admin/users", nil)
		if code != http.StatusOK || !strings.Contains(string(b), kept.Username) || strings.Contains(string(b), gone.Username) {
			t.Errorf("list after erasure: %d %s", code, b)
		}
	})
}

// personKeys counts the data keys the store holds for the person.
func (ts *testServer) personKeys(t testing.TB, id string) int {
	t.Helper()
	if m, ok := ts.Store.(*memory.Store); ok {
		if u, err := m.GetUser(context.Background(), id); err == nil && u.Sealed != nil && u.Sealed.Key != nil {
			return 1
		}
		return 0
	}
	var n int
	if err := ts.db(t).QueryRow(context.Background(), `SELECT count(*) FROM person_keys WHERE user_id = $1`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReencryptRewrapsPeople changes IDVAUTH_SECRETS the documented way
// while people exist: "new,old", keys reencrypt (which rewraps every
// person's data key and recomputes the blind indexes), then "new" alone:
// people still sign in and export, under a KEK of the new secret.
func TestReencryptRewrapsPeople(t *testing.T) {
	u := pgtest.URL(t)
	oldSecret, newSecret := strings.Repeat("O", 40), strings.Repeat("N", 40)
	start := func(secrets ...string) *testServer {
		return startServer(t, codeFlowConfig(authz.Config{DatabaseURL: u, Secrets: secrets}), serverOptions{NoDemo: true})
	}
	ts := start(oldSecret)
	c := ts.createWebClient(t, adminapi.ClientJSON{})
	people := []adminapi.UserJSON{ts.createPerson(t, "rita.rewrapped", "Rita Rewrapped", "rita@example.org"),
		ts.createPerson(t, "ross.rewrapped", "Ross Rewrapped", "ross@example.org")}
	ts.signsIn(t, c, people[0])
	kekBefore := ts.kekOf(t, people[0].ID)
	if err := ts.Stop(); err != nil {
		t.Fatal(err)
	}

	ts = start(newSecret, oldSecret)
	c = ts.createWebClient(t, adminapi.ClientJSON{}) // this server's URLs
	keyCount, n, err := authz.Reencrypt(context.Background(), u, "", []string{newSecret, oldSecret})
	if err != nil || keyCount == 0 || n != len(people) {
		t.Fatalf("Reencrypt = %d keys, %d people, %v; want every key and %d people", keyCount, n, err, len(people))
	}
	if _, n, err := authz.Reencrypt(context.Background(), u, "", []string{newSecret, oldSecret}); err != nil || n != 0 {
		t.Errorf("second Reencrypt rewrapped %d people (%v), want 0", n, err)
	}
	ts.signsIn(t, c, people[0]) // the running server reads both
	if err := ts.Stop(); err != nil {
		t.Fatal(err)
	}

	ts = start(newSecret)
	c = ts.createWebClient(t, adminapi.ClientJSON{})
	if after := ts.kekOf(t, people[0].ID); after == kekBefore {
		t.Errorf("the data key is still wrapped under %s", after)
	}
	for _, p := range people {
		ts.signsIn(t, c, p)
	}
}

// kekOf returns the name of the KEK that wraps the person's data key.
func (ts *testServer) kekOf(t testing.TB, id string) string {
	t.Helper()
	var kek string
	if err := ts.db(t).QueryRow(context.Background(), `SELECT kek FROM person_keys WHERE user_id = $1`, id).Scan(&kek); err != nil {
		t.Fatal(err)
	}
	return kek
}
