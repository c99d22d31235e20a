package main

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/clikit"
)

// userJSONKeys are the fields of a user answer: never a password.
var userJSONKeys = []string{"created_at", "email", "id", "name", "updated_at", "username"}

// TestUsersLifecycle drives every users subcommand against a running
// `serve --dev`.
func TestUsersLifecycle(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken})
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}
	username := "ada-" + randHex(t)
	password := "analytical engine " + randHex(t)

	// create, password on stdin (not a terminal): the table, no password.
	code, out, errOut := cliStdin(t, env, password+"\n",
		"users", "create", "--username", username, "--name", "Ada Lovelace", "--email", "ada@example.com")
	if code != 0 {
		t.Fatalf("users create = exit %d, stderr %q; want 0", code, redactPassword(errOut, password))
	}
	if strings.Contains(out, password) || strings.Contains(errOut, password) {
		t.Fatal("users create shows the password")
	}
	if errOut != "" {
		t.Errorf("users create wrote %q on stderr, want nothing (no prompt when stdin is not a terminal)", errOut)
	}
	rows := tableRows(out)
	id := rows["id"]
	if !strings.HasPrefix(id, "u_") {
		t.Fatalf("users create printed id %q, want u_...:\n%s", id, out)
	}
	wantRows := map[string]string{"id": id, "username": username, "name": "Ada Lovelace", "email": "ada@example.com"}
	for k, v := range wantRows {
		if rows[k] != v {
			t.Errorf("users create: %s = %q, want %q", k, rows[k], v)
		}
	}
	for _, k := range []string{"created", "updated"} {
		if rows[k] == "" || rows[k] == "-" {
			t.Errorf("users create: %s = %q, want a time", k, rows[k])
		}
	}

	// The same username again: 409, as the admin API says.
	code, out, errOut = cliStdin(t, env, password+"\n", "users", "create", "--username", username)
	wantErr := "Error: admin API: already_exists: A user with this username exists. (HTTP 409)\n"
	if code == 0 || out != "" || errOut != wantErr {
		t.Errorf("users create of an existing username = exit %d, stdout %q, stderr %q; want non-zero, nothing, %q",
			code, out, redactPassword(errOut, password), wantErr)
	}

	// create -o json with --password-stdin and a CRLF line ending: exactly
	// the API's answer, no password field.
	other := "grace-" + randHex(t)
	code, out, errOut = cliStdin(t, env, password+"\r\n", "users", "create", "--username", other, "--password-stdin", "-o", "json")
	if code != 0 {
		t.Fatalf("users create --password-stdin -o json = exit %d, stderr %q; want 0", code, redactPassword(errOut, password))
	}
	if strings.Contains(out, password) || strings.Contains(errOut, password) || strings.Contains(out, "password") {
		t.Fatal("users create -o json shows the password or a password field")
	}
	var created map[string]any
	decodeJSON(t, "users create -o json", out, &created)
	if keys := sortedKeys(created); !slices.Equal(keys, userJSONKeys) {
		t.Errorf("users create -o json has fields %q, want %q", keys, userJSONKeys)
	}
	otherID, _ := created["id"].(string)
	if created["username"] != other || !strings.HasPrefix(otherID, "u_") || created["name"] != "" || created["email"] != "" {
		t.Errorf("users create -o json = %s, want username %s, an id, no name or email", out, other)
	}

	// list: the table and -o json, both without passwords.
	out = mustCLI(t, env, "users", "list")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if header := strings.Fields(lines[0]); !slices.Equal(header, []string{"ID", "USERNAME", "NAME", "EMAIL", "CREATED"}) {
		t.Errorf("users list header = %q", lines[0])
	}
	listed := map[string][]string{}
	for _, l := range lines[1:] {
		cells := splitCells(l)
		listed[cells[0]] = cells
	}
	if got := listed[id]; len(got) != 5 || !slices.Equal(got[:4], []string{id, username, "Ada Lovelace", "ada@example.com"}) || got[4] != rows["created"] {
		t.Errorf("users list row of %s = %q, want %s %s, Ada Lovelace, ada@example.com, %s", id, got, id, username, rows["created"])
	}
	if got := listed[otherID]; len(got) != 5 || !slices.Equal(got[:4], []string{otherID, other, "-", "-"}) {
		t.Errorf("users list row of %s = %q, want %s with dashes for name and email", otherID, got, other)
	}
	out = mustCLI(t, env, "users", "list", "-o", "json")
	var l struct {
		Users []map[string]any `json:"users"`
	}
	decodeJSON(t, "users list -o json", out, &l)
	var found int
	for _, u := range l.Users {
		if keys := sortedKeys(u); !slices.Equal(keys, userJSONKeys) {
			t.Errorf("users list -o json: a user has fields %q, want %q", keys, userJSONKeys)
		}
		if u["id"] == id || u["id"] == otherID {
			found++
		}
	}
	if found != 2 || strings.Contains(out, password) {
		t.Errorf("users list -o json lists %d of the 2 users created, shows the password %t", found, strings.Contains(out, password))
	}

	// get: the table, and -o json is byte for byte the API's answer.
	if got := tableRows(mustCLI(t, env, "users", "get", id)); !maps.Equal(got, rows) {
		t.Errorf("users get = %q, want what create printed, %q", got, rows)
	}
	out = mustCLI(t, env, "users", "get", id, "-o", "json")
	if want := adminGet(t, d, "/admin/users/"+id); out != want {
		t.Errorf("users get -o json = %q, want the admin API's answer %q", out, want)
	}
	var u adminapi.UserJSON
	decodeJSON(t, "users get -o json", out, &u)
	if u.ID != id || u.Username != username || u.Name != "Ada Lovelace" || u.Email != "ada@example.com" {
		t.Errorf("users get -o json = %+v, want %s %s", u, id, username)
	}

	// withdraw-consents: nothing to withdraw yet, to all or to one client.
	if out := mustCLI(t, env, "users", "withdraw-consents", id); out != "withdrew 0 consents of user "+id+"; revoked 0 tokens\n" {
		t.Errorf("users withdraw-consents = %q, want %q", out, "withdrew 0 consents of user "+id+"; revoked 0 tokens\n")
	}
	out = mustCLI(t, env, "users", "withdraw-consents", id, "--client", authz.DemoServiceID)
	if want := "withdrew 0 consents of user " + id + " to client " + authz.DemoServiceID + "; revoked 0 tokens\n"; out != want {
		t.Errorf("users withdraw-consents --client = %q, want %q", out, want)
	}
	var cw adminapi.ConsentWithdrawal
	decodeJSON(t, "users withdraw-consents -o json",
		mustCLI(t, env, "users", "withdraw-consents", id, "--client", "a client/with odd&chars", "-o", "json"), &cw)
	if cw != (adminapi.ConsentWithdrawal{UserID: id, Withdrawn: 0}) {
		t.Errorf("users withdraw-consents -o json = %+v, want user_id %s, withdrawn 0", cw, id)
	}

	// get takes a username as well as an ID.
	if got := tableRows(mustCLI(t, env, "users", "get", strings.ToUpper(username))); got["id"] != id {
		t.Errorf("users get USERNAME = %q, want the person with ID %s", got, id)
	}
	// delete without a terminal and without --yes: refused, nothing deleted.
	if code, out, errOut := cli(t, env, "users", "delete", username); code != clikit.ExitUsage || out != "" ||
		errOut != "Error: delete user "+username+": add --yes to confirm (no terminal to ask on; nothing was changed)\n" {
		t.Errorf("users delete without --yes = exit %d, stdout %q, stderr %q; want 2 and a refusal", code, out, errOut)
	}
	if got := tableRows(mustCLI(t, env, "users", "get", id)); got["id"] != id {
		t.Errorf("after a refused delete, users get = %q, want the person still there", got)
	}
	// delete by username: then get, delete and withdraw-consents fail with
	// not found, naming what they looked for.
	if out := mustCLI(t, env, "users", "delete", username, "--yes"); out != "deleted user "+id+"\n" {
		t.Errorf("users delete = %q, want %q", out, "deleted user "+id+"\n")
	}
	notFound := "Error: no user with ID or username \"" + id + "\": admin API: not_found: No such resource. (HTTP 404)\n"
	for _, args := range [][]string{{"users", "get", id}, {"users", "delete", id, "--yes"}, {"users", "withdraw-consents", id}} {
		if code, out, errOut := cli(t, env, args...); code == 0 || out != "" || errOut != notFound {
			t.Errorf("idvauth %s after delete = exit %d, stdout %q, stderr %q; want non-zero, nothing, %q",
				strings.Join(args, " "), code, out, errOut, notFound)
		}
	}
	out = mustCLI(t, env, "users", "delete", otherID, "-y", "-o", "json")
	var del map[string]string
	decodeJSON(t, "users delete -o json", out, &del)
	if del["deleted"] != otherID {
		t.Errorf("users delete -o json = %s, want {\"deleted\":%q}", out, otherID)
	}
	if out := mustCLI(t, env, "users", "list", "-o", "json"); strings.Contains(out, id) || strings.Contains(out, otherID) {
		t.Errorf("users list after delete still shows a deleted user: %s", out)
	}

	// The server's own output (logs, banner) never saw the password.
	if strings.Contains(d.stdout.String(), password) || strings.Contains(d.stderr.String(), password) {
		t.Error("the server printed or logged the password")
	}
}

// TestUsersErrors checks refusals: each exits non-zero with one clear line
// on stderr, nothing on stdout, and never the password.
func TestUsersErrors(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken})
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}
	strong := "analytical engine " + randHex(t)
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  []string
	}{
		{
			name:  "weak password: too short",
			stdin: "Tr0ub4dor\n",
			args:  []string{"users", "create", "--username", "weak-" + randHex(t)},
			want:  []string{"Error: admin API: weak_password: the password must be at least 12 characters long (it has 9). (HTTP 400)"},
		},
		{
			name:  "weak password: contains the username",
			stdin: "xx-charles-babbage-xx\n",
			args:  []string{"users", "create", "--username", "charles-babbage"},
			want:  []string{"weak_password", "must not contain the username"},
		},
		{
			name: "empty stdin",
			args: []string{"users", "create", "--username", "empty-" + randHex(t)},
			want: []string{"Error: no password on stdin: give it as the first line of stdin"},
		},
		{
			name:  "empty first line",
			stdin: "\r\n" + strong + "\n",
			args:  []string{"users", "create", "--username", "blank-" + randHex(t), "--password-stdin"},
			want:  []string{"Error: no password on stdin"},
		},
		{
			name:  "password too long for stdin",
			stdin: strings.Repeat("long passphrase ", 100) + "\n",
			args:  []string{"users", "create", "--username", "long-" + randHex(t)},
			want:  []string{"Error: the password on stdin is longer than 1024 bytes"},
		},
		{
			name:  "no --password flag",
			stdin: strong + "\n",
			args:  []string{"users", "create", "--username", "flag-" + randHex(t), "--password", strong},
			want:  []string{"Error: unknown flag: --password"},
		},
		{
			name:  "no --password= flag",
			stdin: strong + "\n",
			args:  []string{"users", "create", "--username", "flag-" + randHex(t), "--password=" + strong},
			want:  []string{"Error: unknown flag: --password"},
		},
		{
			name:  "no username",
			stdin: strong + "\n",
			args:  []string{"users", "create", "--name", "Nobody"},
			want:  []string{`Error: required flag(s) "username" not set`},
		},
		{
			name:  "bad username",
			stdin: strong + "\n",
			args:  []string{"users", "create", "--username", "ada lovelace"},
			want:  []string{"Error: admin API: invalid_request: username must be"},
		},
		{
			name:  "bad email",
			stdin: strong + "\n",
			args:  []string{"users", "create", "--username", "mail-" + randHex(t), "--email", "Ada <ada@example.com>"},
			want:  []string{"Error: admin API: invalid_request: email must be a plain address"},
		},
		{
			name: "unknown user",
			args: []string{"users", "get", "u_nobody"},
			want: []string{`Error: no user with ID or username "u_nobody": admin API: not_found: No such resource. (HTTP 404)`},
		},
		{
			name: "get without an id",
			args: []string{"users", "get"},
			want: []string{"Error: accepts 1 arg(s), received 0"},
		},
		{
			name: "unknown output format",
			args: []string{"users", "list", "-o", "yaml"},
			want: []string{`Error: --output must be table or json, not "yaml"`},
		},
		{
			name: "unknown subcommand",
			args: []string{"users", "frobnicate"},
			want: []string{`Error: unknown command "frobnicate" for "idvauth users"`},
		},
	}
	t.Run("refusals", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				code, out, errOut := cliStdin(t, env, tt.stdin, tt.args...)
				if code == 0 || out != "" {
					t.Errorf("idvauth %s = exit %d, stdout %q; want non-zero and nothing", strings.Join(tt.args, " "), code, out)
				}
				for _, w := range tt.want {
					if !strings.Contains(errOut, w) {
						t.Errorf("idvauth %s: stderr %q lacks %q", strings.Join(tt.args, " "), errOut, w)
					}
				}
				if strings.Count(errOut, "\n") != 1 {
					t.Errorf("stderr has %d lines, want one clear message:\n%s", strings.Count(errOut, "\n"), errOut)
				}
				for _, pw := range strings.Split(tt.stdin, "\n") {
					if pw = strings.TrimSuffix(pw, "\r"); pw != "" && strings.Contains(out+errOut, pw) {
						t.Error("the output shows the password")
					}
				}
			})
		}
	})
	// None of the refused creates made a user.
	var l adminapi.UserList
	decodeJSON(t, "users list -o json", mustCLI(t, env, "users", "list", "-o", "json"), &l)
	for _, tt := range tests {
		if i := slices.Index(tt.args, "--username"); i >= 0 {
			for _, u := range l.Users {
				if u.Username == tt.args[i+1] {
					t.Errorf("%s: the refused users create made user %q", tt.name, u.Username)
				}
			}
		}
	}
}

// TestUsersWithoutServer checks the errors found before any call, so that
// no password is asked for when the call cannot be made.
func TestUsersWithoutServer(t *testing.T) {
	t.Parallel()
	unreachable := "http://" + freeAddr(t)
	code, out, errOut := cliStdin(t, map[string]string{"IDVAUTH_ADMIN_URL": unreachable}, "",
		"users", "create", "--username", "ada")
	if code == 0 || out != "" || !strings.HasPrefix(errOut, "Error: no admin token: set IDVAUTH_ADMIN_TOKEN") {
		t.Errorf("users create without an admin token = exit %d, stdout %q, stderr %q; want non-zero and the missing token named first",
			code, out, errOut)
	}
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": unreachable}
	code, out, errOut = cliStdin(t, env, "analytical engine 1843\n", "users", "create", "--username", "ada")
	if code == 0 || out != "" || !strings.HasPrefix(errOut, "Error: cannot reach the admin API at "+unreachable+": ") ||
		strings.Contains(errOut, "analytical engine") || strings.Contains(errOut, adminToken) {
		t.Errorf("users create with an unreachable admin API = exit %d, stdout %q, stderr %q; want non-zero, "+
			"cannot reach, no password or token", code, out, errOut)
	}
}

// adminGet returns the admin API's raw answer to GET path.
func adminGet(t testing.TB, d *devServer, path string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, d.adminURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = HTTP %d, %v", path, resp.StatusCode, err)
	}
	return string(b)
}

// splitCells splits a row of a tabwriter table into its cells.
func splitCells(line string) []string {
	return regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// redactPassword blanks password and anything secret-like in s for a
// failure message.
func redactPassword(s, password string) string {
	return redact(strings.ReplaceAll(s, password, "[PASSWORD]"))
}

// TestUsersEraseExport exports a person, refuses to erase without --yes,
// then erases them.
func TestUsersEraseExport(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken})
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}
	username := "ada-" + randHex(t)
	password := "analytical engine " + randHex(t)
	code, out, errOut := cliStdin(t, env, password+"\n", "users", "create", "--username", username, "--name", "Ada Lovelace", "-o", "json")
	if code != 0 {
		t.Fatalf("users create = exit %d, stderr %q", code, redactPassword(errOut, password))
	}
	var u adminapi.UserJSON
	decodeJSON(t, "users create -o json", out, &u)

	// export: indented JSON of everything held, never the password.
	out = mustCLI(t, env, "users", "export", u.ID)
	var x adminapi.UserExport
	decodeJSON(t, "users export", out, &x)
	if x.User != u || len(x.Audit) == 0 || x.Audit[0].Type != adminapi.EventUserCreated || x.Audit[0].Subject != u.ID {
		t.Errorf("users export = user %+v, audit %q; want %+v and the user.created entry", x.User, types(x.Audit), u)
	}
	// Indented with two spaces (each export is audited, so a second
	// answer differs: compare the layout, not the content).
	var compact, indented bytes.Buffer
	if err := json.Compact(&compact, []byte(out)); err != nil {
		t.Fatal(err)
	}
	if err := json.Indent(&indented, compact.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	if out != indented.String()+"\n" || !strings.HasPrefix(out, "{\n  \"user\": {\n") {
		t.Errorf("users export =\n%s\nwant it indented:\n%s", out, indented.String())
	}
	if strings.Contains(out, password) || strings.Contains(out, "$argon2") {
		t.Error("users export shows the password or its hash")
	}
	if code, _, errOut := cli(t, env, "users", "export", u.ID, "-o", "json"); code == 0 || !strings.Contains(errOut, "unknown shorthand flag: 'o'") {
		t.Errorf("users export -o json = exit %d, stderr %q; want unknown flag (it is JSON either way)", code, errOut)
	}

	// erase without --yes: refused before any call, nothing erased.
	code, out, errOut = cli(t, env, "users", "erase", u.ID)
	want := "Error: erase user " + u.ID + " and everything held about them: add --yes to confirm (no terminal to ask on; nothing was changed)\n"
	if code != clikit.ExitUsage || out != "" || errOut != want {
		t.Errorf("users erase without --yes = exit %d, stdout %q, stderr %q; want non-zero, nothing, %q", code, out, errOut, want)
	}
	if got := tableRows(mustCLI(t, env, "users", "get", u.ID)); got["id"] != u.ID {
		t.Errorf("after a refused erase, users get = %q, want the person still there", got)
	}

	// erase --yes: gone; get, export and erase again answer not found.
	if out := mustCLI(t, env, "users", "erase", u.ID, "--yes"); out != "erased user "+u.ID+": profile, password hash, consents, sessions and tokens removed\n" {
		t.Errorf("users erase --yes = %q", out)
	}
	notFound := "Error: no user with ID or username \"" + u.ID + "\": admin API: not_found: No such resource. (HTTP 404)\n"
	for _, args := range [][]string{{"users", "get", u.ID}, {"users", "export", u.ID}, {"users", "erase", u.ID, "--yes"}} {
		if code, out, errOut := cli(t, env, args...); code == 0 || out != "" || errOut != notFound {
			t.Errorf("idvauth %s after erase = exit %d, stdout %q, stderr %q; want non-zero, nothing, %q", strings.Join(args, " "), code, out, errOut, notFound)
		}
	}
	// The trail keeps the opaque ID only.
	es := jsonLines(t, "audit list --subject", mustCLI(t, env, "audit", "list", "--subject", u.ID, "-o", "json"))
	if got := types(es); !slices.Contains(got, adminapi.EventUserErased) {
		t.Errorf("audit entries about the erased person = %q, want a user.erased entry", got)
	}
	if trail := mustCLI(t, env, "audit", "list", "-o", "json"); strings.Contains(trail, username) || strings.Contains(trail, "Ada Lovelace") {
		t.Error("the audit trail holds the erased person's username or name")
	}

	// -o json is the API's answer.
	other := "grace-" + randHex(t)
	_, out, _ = cliStdin(t, env, password+"\n", "users", "create", "--username", other, "-o", "json")
	decodeJSON(t, "users create -o json", out, &u)
	var ue adminapi.UserErasure
	decodeJSON(t, "users erase -o json", mustCLI(t, env, "users", "erase", u.ID, "--yes", "-o", "json"), &ue)
	if ue != (adminapi.UserErasure{UserID: u.ID, Erased: true}) {
		t.Errorf("users erase -o json = %+v, want user_id %s, erased true", ue, u.ID)
	}
}

// TestUsersMFAReset: mfa-reset answers for a person (none of whose factors
// are left after it) and refuses an unknown ID.
func TestUsersMFAReset(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken})
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}
	password := "analytical engine " + randHex(t)
	_, out, _ := cliStdin(t, env, password+"\n", "users", "create", "--username", "ada-"+randHex(t), "-o", "json")
	var u adminapi.UserJSON
	decodeJSON(t, "users create -o json", out, &u)
	if out := mustCLI(t, env, "users", "mfa-reset", u.ID); out != "reset second factors of user "+u.ID+": 0 factor(s) and all recovery codes removed, 0 session(s) ended\n" {
		t.Errorf("users mfa-reset = %q", out)
	}
	var m adminapi.MFAReset
	decodeJSON(t, "users mfa-reset -o json", mustCLI(t, env, "users", "mfa-reset", u.ID, "-o", "json"), &m)
	if m != (adminapi.MFAReset{UserID: u.ID}) {
		t.Errorf("users mfa-reset -o json = %+v", m)
	}
	notFound := "Error: admin API: not_found: No such resource. (HTTP 404)\n"
	if code, out, errOut := cli(t, env, "users", "mfa-reset", "u_nobody"); code == 0 || out != "" || errOut != notFound {
		t.Errorf("users mfa-reset of an unknown user = exit %d, %q, %q; want %q", code, out, errOut, notFound)
	}
	es := jsonLines(t, "audit list", mustCLI(t, env, "audit", "list", "--subject", u.ID, "--type", adminapi.EventMFAReset, "-o", "json"))
	if len(es) != 2 {
		t.Errorf("user.mfa_reset entries = %d, want 2", len(es))
	}
}
