package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/cmd/idvauth/internal/clikit"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// testSecret is an IDVAUTH_SECRETS value for tests.
const testSecret = "test-secret-0123456789abcdef0123456789abcdef"

// TestMigrateAndServe takes a fresh schema through migrate status, a
// refused serve, migrate up, and a production serve that keeps its data.
func TestMigrateAndServe(t *testing.T) {
	t.Parallel()
	u := pgtest.Schema(t) // empty: nothing migrated
	dbEnv := map[string]string{"IDVAUTH_DATABASE_URL": u}

	// status: every migration pending, exit 3 for scripts.
	code, out, errOut := cli(t, dbEnv, "migrate", "status")
	if code != clikit.ExitPending || errOut != "" {
		t.Fatalf("migrate status with migrations pending = exit %d, stderr %q; want 3 and nothing", code, redact(errOut))
	}
	applied := statusRows(t, out)
	if len(applied) == 0 {
		t.Fatalf("migrate status lists no migrations:\n%s", out)
	}
	for v, a := range applied {
		if a {
			t.Errorf("migrate status on an empty schema: version %d applied", v)
		}
	}
	latest := int32(len(applied))
	if !strings.HasSuffix(out, "\n"+strconv.Itoa(len(applied))+" pending: run 'idvauth migrate up'\n") {
		t.Errorf("migrate status does not end with %d pending and the command to run:\n%s", len(applied), out)
	}
	var st struct {
		Migrations []struct {
			Version int32  `json:"version"`
			Name    string `json:"name"`
			Applied bool   `json:"applied"`
		} `json:"migrations"`
	}
	code, out, _ = cli(t, dbEnv, "migrate", "status", "-o", "json")
	if code != clikit.ExitPending {
		t.Errorf("migrate status -o json with migrations pending = exit %d, want 3", code)
	}
	decodeJSON(t, "migrate status -o json", out, &st)
	if int32(len(st.Migrations)) != latest {
		t.Errorf("migrate status -o json lists %d migrations, the table %d", len(st.Migrations), latest)
	}
	for i, m := range st.Migrations {
		if m.Version != int32(i+1) || m.Name == "" || m.Applied {
			t.Errorf("migrate status -o json [%d] = %+v, want version %d, a name, not applied", i, m, i+1)
		}
	}

	// serve without --dev refuses a schema that is behind, and says what to run.
	prod := map[string]string{"IDVAUTH_DATABASE_URL": u, "IDVAUTH_SECRETS": testSecret, "IDVAUTH_ADMIN_TOKEN": adminToken}
	code, stdout, errOut := cli(t, prod, "serve", "--public-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	if code == 0 || !strings.Contains(errOut, "idvauth migrate up") || !strings.Contains(errOut, "schema") {
		t.Fatalf("serve on an un-migrated schema = exit %d, stderr %q; want non-zero and 'idvauth migrate up'", code, redact(errOut))
	}
	if stdout != "" || strings.Contains(errOut, testSecret) || strings.Contains(errOut, adminToken) {
		t.Errorf("refused serve printed stdout %q or a secret on stderr", redact(stdout))
	}

	// up (URL by flag): from 0 to the latest; again: nothing to do.
	if out := mustCLI(t, nil, "migrate", "up", "--database-url", u); out != "migrated schema from version 0 to "+strconv.Itoa(int(latest))+"\n" {
		t.Errorf("migrate up = %q, want from version 0 to %d", out, latest)
	}
	var fromTo map[string]int32
	decodeJSON(t, "migrate up -o json", mustCLI(t, dbEnv, "migrate", "up", "-o", "json"), &fromTo)
	if fromTo["from"] != latest || fromTo["to"] != latest {
		t.Errorf("second migrate up -o json = %v, want from and to %d", fromTo, latest)
	}
	if out := mustCLI(t, dbEnv, "migrate", "up"); out != "schema is up to date (version "+strconv.Itoa(int(latest))+")\n" {
		t.Errorf("third migrate up = %q, want up to date", out)
	}
	out = mustCLI(t, dbEnv, "migrate", "status")
	for v, a := range statusRows(t, out) {
		if !a {
			t.Errorf("migrate status after up: version %d not applied", v)
		}
	}
	if strings.Contains(out, "pending") {
		t.Errorf("migrate status after up still says pending:\n%s", out)
	}

	// serve without --dev now starts; it prints no banner and logs JSON.
	s := startServe(t, prod, "--public-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	var started struct {
		Msg        string `json:"msg"`
		PublicAddr string `json:"public_addr"`
		AdminAddr  string `json:"admin_addr"`
		Dev        bool   `json:"dev"`
	}
	waitFor(t, "the serving log line", s.done, func() bool {
		for _, l := range strings.Split(s.stderr.String(), "\n") {
			if json.Unmarshal([]byte(l), &started) == nil && started.Msg == "idvauth serving" {
				return true
			}
		}
		return false
	})
	if started.Dev || started.PublicAddr == "" || started.AdminAddr == "" {
		t.Fatalf("serving log line = %+v, want dev false and both addresses", started)
	}
	if out := s.stdout.String(); out != "" {
		t.Errorf("serve without --dev printed %q on stdout, want nothing", redact(out))
	}
	resp, err := http.Get("http://" + started.PublicAddr + "/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /health/ready = %d, want 200", resp.StatusCode)
	}
	admin := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": "http://" + started.AdminAddr}
	id := "persisted-" + randHex(t)
	mustCLI(t, admin, "clients", "create", "--id", id, "--name", "Persisted", "-o", "json")
	if code := s.stop(); code != 0 {
		t.Fatalf("serve after cancel = exit %d, want 0; stderr:\n%s", code, redact(s.stderr.String()))
	}
	if strings.Contains(s.stderr.String(), testSecret) || strings.Contains(s.stderr.String(), adminToken) {
		t.Error("serve logged a secret or the admin token")
	}

	// serve --dev on the same database: says data is kept, and it is.
	d := startDev(t, map[string]string{"IDVAUTH_DATABASE_URL": u, "IDVAUTH_SECRETS": testSecret, "IDVAUTH_ADMIN_TOKEN": adminToken})
	if !strings.Contains(d.banner, "Data is kept in the database given") || strings.Contains(d.banner, "NOTHING PERSISTS") {
		t.Errorf("serve --dev with a database: banner does not say the data is kept:\n%s", redact(d.banner))
	}
	admin["IDVAUTH_ADMIN_URL"] = d.adminURL
	if c := getClient(t, admin, id); c.ClientName != "Persisted" {
		t.Errorf("client created before the restart: name %q, want Persisted", c.ClientName)
	}
}

// statusRows parses the table of `migrate status` into version → applied.
func statusRows(t testing.TB, out string) map[int32]bool {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || strings.Join(strings.Fields(lines[0]), " ") != "VERSION NAME APPLIED" {
		t.Fatalf("migrate status has no VERSION NAME APPLIED header:\n%s", out)
	}
	rows := map[int32]bool{}
	for _, l := range lines[1:] {
		if strings.Contains(l, " pending: ") {
			continue // the summary line
		}
		f := strings.Fields(l)
		v, err := strconv.ParseInt(f[0], 10, 32)
		if err != nil || len(f) != 3 || (f[2] != "true" && f[2] != "false") {
			t.Fatalf("migrate status row %q, want VERSION NAME true|false", l)
		}
		rows[int32(v)] = f[2] == "true"
	}
	return rows
}

// TestJanitor checks that the janitor deletes the expired token records
// and only those.
func TestJanitor(t *testing.T) {
	t.Parallel()
	u := pgtest.URL(t)
	ctx := t.Context()
	st, err := postgres.Open(ctx, postgres.Config{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Second)
	c := storage.Client{
		ID: "janitor-" + randHex(t), Name: "janitor", SecretHash: make([]byte, 32),
		GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{}, RedirectURIs: []string{},
		Scopes: []string{"identity.verify"}, Audience: []string{}, TokenEndpointAuthMethod: "client_secret_basic",
		CreatedAt: now, UpdatedAt: now,
	}
	if err := st.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	for i, exp := range []time.Duration{-time.Hour, -time.Minute, -time.Second, time.Hour} {
		tok := storage.Token{
			Kind: storage.AccessToken, Signature: "sig-" + strconv.Itoa(i) + "-" + randHex(t), RequestID: "req-" + randHex(t),
			ClientID: c.ID, Subject: c.ID, Scopes: []string{"identity.verify"}, Audience: []string{"idv-api"},
			JTI: "jti-" + randHex(t), IssuedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(exp),
		}
		if err := st.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"IDVAUTH_DATABASE_URL": u}
	var got map[string]int
	decodeJSON(t, "janitor -o json", mustCLI(t, env, "janitor", "-o", "json"), &got)
	if got["deleted"] != 3 {
		t.Errorf("janitor -o json = %v, want deleted 3", got)
	}
	if n := pgtest.CountTokens(t, u); n != 1 {
		t.Errorf("token records after the janitor = %d, want the 1 live one", n)
	}
	if out := mustCLI(t, nil, "janitor", "--database-url", u); out != "deleted 0 expired token records\n" {
		t.Errorf("second janitor = %q, want deleted 0", out)
	}
}

// TestDatabaseCommandsNeedURL needs no database: without a URL the
// database commands say which setting is missing.
func TestDatabaseCommandsNeedURL(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"migrate", "up"}, {"migrate", "status"}, {"janitor"}} {
		code, out, errOut := cli(t, nil, args...)
		want := "Error: no database: set IDVAUTH_DATABASE_URL"
		if code == 0 || out != "" || !strings.HasPrefix(errOut, want) {
			t.Errorf("idvauth %s without a database = exit %d, stdout %q, stderr %q; want non-zero and %q",
				strings.Join(args, " "), code, out, errOut, want)
		}
	}
	// An unreachable database is an error, not a hang or a panic.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	bad := "postgres://idvauth@" + freeAddr(t) + "/idvauth?sslmode=disable&connect_timeout=5"
	if code := run(ctx, []string{"migrate", "status"}, envOf(map[string]string{"IDVAUTH_DATABASE_URL": bad}), strings.NewReader(""), &stdout, &stderr); code == 0 ||
		code != 1 || !strings.HasPrefix(stderr.String(), "Error: ") || strings.Contains(stderr.String(), "goroutine ") {
		t.Errorf("migrate status on an unreachable database = exit %d, stderr %q; want 1 (not 3: pending) and one error", code, stderr.String())
	}
}
