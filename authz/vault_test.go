package authz_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/personkeys"
	"github.com/idvauth/idvauth/authz/seal"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/postgres"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// dbDump is a copy of every row of every table of a database schema, as
// JSON objects by table: what a backup holds.
type dbDump map[string][]json.RawMessage

// dumpDB copies every row of every table of the schema of url.
func dumpDB(t testing.TB, url string) dbDump {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	d := dbDump{}
	for _, tb := range tables {
		rows, err := conn.Query(ctx, `SELECT to_jsonb(t) FROM `+pgx.Identifier{tb}.Sanitize()+` t`)
		if err != nil {
			t.Fatal(err)
		}
		if d[tb], err = pgx.CollectRows(rows, pgx.RowTo[json.RawMessage]); err != nil {
			t.Fatal(err)
		}
	}
	if len(d["users"]) == 0 {
		t.Fatal("the dump holds no users: it would prove nothing")
	}
	return d
}

// restore loads d into a fresh, migrated schema, every table, and returns
// its URL. Foreign keys are not checked while it loads (as pg_restore
// loads data before it adds them).
func (d dbDump) restore(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	u := pgtest.URL(t)
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	for tb, rows := range d {
		if tb == "schema_version" {
			continue // the fresh schema has its own
		}
		if _, err := conn.Exec(ctx, `DELETE FROM `+pgx.Identifier{tb}.Sanitize()); err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if _, err := conn.Exec(ctx, `INSERT INTO `+pgx.Identifier{tb}.Sanitize()+` SELECT * FROM jsonb_populate_record(NULL::`+
				pgx.Identifier{tb}.Sanitize()+`, $1)`, r); err != nil {
				t.Fatalf("restore %s: %v", tb, err)
			}
		}
	}
	return u
}

// openPerson reads the person id from the database at url as a server
// with secrets and the person-key store at vaultURL would.
func openPerson(t testing.TB, url, vaultURL string, secrets []string, id string) (storage.User, error) {
	t.Helper()
	ctx := context.Background()
	st, err := postgres.Open(ctx, postgres.Config{URL: url, ClientCacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := personkeys.Open(ctx, personkeys.Config{Store: st, Secrets: secrets, URL: vaultURL})
	if err != nil {
		st.Close()
		return storage.User{}, err
	}
	defer ss.Close()
	return ss.GetUser(ctx, id)
}

// TestErasureReachesDumps is the test: with a person-key store of
// its own, a dump of the main database taken before an erasure can no
// longer be decrypted, after it, with the current secrets and the current
// person-key store (before it, it could: restored, it opens). The others
// keep signing in, found by username.
func TestErasureReachesDumps(t *testing.T) {
	u, vaultURL := pgtest.URL(t), pgtest.VaultURL(t)
	ts := startServer(t, codeFlowConfig(authz.Config{DatabaseURL: u, PersonKeysDatabaseURL: vaultURL}), serverOptions{NoDemo: true})
	c := ts.createWebClient(t, adminapi.ClientJSON{})
	gone := ts.createPerson(t, "erin.erased", "Erin Erased", "erin@example.org")
	kept := ts.createPerson(t, "kim.kept", "Kim Kept", "kim@example.org")
	ts.signsIn(t, c, gone)
	if n := ts.personKeys(t, gone.ID); n != 0 {
		t.Errorf("the main database holds %d data keys of %s, want 0", n, gone.ID)
	}
	dump := dumpDB(t, u)
	for _, r := range dump["person_keys"] {
		if strings.Contains(string(r), gone.ID) {
			t.Errorf("the dump holds a data key of %s: %s", gone.ID, r)
		}
	}
	secrets := []string{testSecret}
	if p, err := openPerson(t, dump.restore(t), vaultURL, secrets, gone.ID); err != nil || p.Email != gone.Email {
		t.Fatalf("the dump taken before the erasure, restored, reads %+v, %v; want the person: the test would prove nothing", p, err)
	}
	if code, b := ts.adminJSON(t, "POST", "/admin/users/"+gone.ID+"/erase", nil); code != 200 {
		t.Fatalf("erase: %d %s", code, b)
	}
	restored := dump.restore(t)
	if p, err := openPerson(t, restored, vaultURL, secrets, gone.ID); !errors.Is(err, seal.ErrSealed) {
		t.Errorf("after the erasure, the dump taken before reads %+v, %v; want ErrSealed", p, err)
	}
	if p, err := openPerson(t, restored, vaultURL, secrets, kept.ID); err != nil || p.Email != kept.Email {
		t.Errorf("the dump's other person reads %+v, %v; want them", p, err)
	}
	ts.signsIn(t, c, kept)

	// A server on the restored dump (a disaster recovery from a backup of
	// before the erasure) starts, serves the others, and lists no erased
	// person.
	rs := startServer(t, codeFlowConfig(authz.Config{DatabaseURL: restored, PersonKeysDatabaseURL: vaultURL}), serverOptions{NoDemo: true})
	rs.signsIn(t, rs.createWebClient(t, adminapi.ClientJSON{}), kept)
	if code, b := rs.adminJSON(t, "GET", "/admin/users", nil); code != 200 || !strings.Contains(string(b), kept.ID) || strings.Contains(string(b), gone.ID) {
		t.Errorf("list on the restored dump: %d %s; want %s and not %s", code, b, kept.ID, gone.ID)
	}
}

// TestPersonKeyStoreMemory: on the memory backend with a memory person-key
// store, people are sealed with no key in the main store, sign in, and an
// erasure deletes the key from the person-key store.
func TestPersonKeyStoreMemory(t *testing.T) {
	pk := memory.NewPersonKeys()
	ts := startServer(t, codeFlowConfig(authz.Config{Store: memory.New(), PersonKeys: pk}), serverOptions{NoDemo: true})
	c := ts.createWebClient(t, adminapi.ClientJSON{})
	gone := ts.createPerson(t, "mo.erased", "Mo Erased", "mo@example.org")
	kept := ts.createPerson(t, "max.kept", "Max Kept", "max@example.org")
	ts.signsIn(t, c, gone)
	if n := ts.personKeys(t, gone.ID); n != 0 {
		t.Errorf("the main store holds %d data keys of %s, want 0", n, gone.ID)
	}
	if _, err := pk.GetPersonKey(context.Background(), gone.ID); err != nil {
		t.Fatalf("the person-key store has no key of %s: %v", gone.ID, err)
	}
	if code, b := ts.adminJSON(t, "POST", "/admin/users/"+gone.ID+"/erase", nil); code != 200 {
		t.Fatalf("erase: %d %s", code, b)
	}
	if _, err := pk.GetPersonKey(context.Background(), gone.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the erased person's key is still in the person-key store: %v", err)
	}
	ts.signsIn(t, c, kept)
}

// vaultKEK returns the KEK name of the person's key in the person-key
// store at vaultURL.
func vaultKEK(t testing.TB, vaultURL, id string) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), vaultURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var kek string
	if err := conn.QueryRow(context.Background(), `SELECT kek FROM vault_person_keys WHERE user_id = $1`, id).Scan(&kek); err != nil {
		t.Fatal(err)
	}
	return kek
}

// TestPersonKeysMoveAndRewrap: people created without a person-key store
// keep signing in on a server with one while their keys are still in the
// main database; migrate seal (SealPeople) moves them; a server without
// the store is then refused; keys reencrypt rewraps the keys in the store.
func TestPersonKeysMoveAndRewrap(t *testing.T) {
	u, vaultURL := pgtest.URL(t), pgtest.VaultURL(t)
	oldSecret, newSecret := strings.Repeat("O", 40), strings.Repeat("N", 40)
	start := func(vault string, secrets ...string) *testServer {
		return startServer(t, codeFlowConfig(authz.Config{DatabaseURL: u, PersonKeysDatabaseURL: vault, Secrets: secrets}), serverOptions{NoDemo: true})
	}
	ts := start("", oldSecret)
	people := []adminapi.UserJSON{ts.createPerson(t, "olga.old", "Olga Old", "olga@example.org"),
		ts.createPerson(t, "otto.old", "Otto Old", "otto@example.org")}
	if err := ts.Stop(); err != nil {
		t.Fatal(err)
	}

	ts = start(vaultURL, oldSecret)
	c := ts.createWebClient(t, adminapi.ClientJSON{})
	people = append(people, ts.createPerson(t, "nina.new", "Nina New", "nina@example.org"))
	for _, p := range people {
		ts.signsIn(t, c, p) // keys in either place
	}
	if n := ts.personKeys(t, people[0].ID); n != 1 {
		t.Fatalf("%d keys of an old person in the main database before the move, want 1", n)
	}
	if pr, err := authz.SealPeople(context.Background(), u, vaultURL, []string{oldSecret}, 1, true); err != nil || pr.KeysLeft != 2 {
		t.Errorf("SealPeople --status = %+v, %v; want 2 keys left", pr, err)
	}
	pr, err := authz.SealPeople(context.Background(), u, vaultURL, []string{oldSecret}, 1, false)
	if err != nil || pr.Changed != 2 || pr.KeysLeft != 0 {
		t.Fatalf("SealPeople = %+v, %v; want 2 keys moved, none left", pr, err)
	}
	for _, p := range people {
		if n := ts.personKeys(t, p.ID); n != 0 {
			t.Errorf("%d keys of %s in the main database after the move, want 0", n, p.ID)
		}
		ts.signsIn(t, c, p) // the running server reads the moved keys
	}
	if err := ts.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := authz.New(context.Background(), testConfig(t, authz.Config{DatabaseURL: u, Secrets: []string{oldSecret}}, "http://127.0.0.1")); err == nil ||
		!strings.Contains(err.Error(), "IDVAUTH_PERSON_KEYS_DATABASE_URL") {
		t.Errorf("New without the person-key store after the move = %v; want it refused, naming the setting", err)
	}

	kekBefore := vaultKEK(t, vaultURL, people[0].ID)
	_, n, err := authz.Reencrypt(context.Background(), u, vaultURL, []string{newSecret, oldSecret})
	if err != nil || n != len(people) {
		t.Fatalf("Reencrypt = %d people, %v; want %d", n, err, len(people))
	}
	if after := vaultKEK(t, vaultURL, people[0].ID); after == kekBefore {
		t.Errorf("the key in the person-key store is still wrapped under %s", after)
	}
	ts = start(vaultURL, newSecret)
	c = ts.createWebClient(t, adminapi.ClientJSON{})
	for _, p := range people {
		ts.signsIn(t, c, p)
	}
}
