package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz/adminapi"
)

// auditClient registers a client on d and gets one token for it and one
// refusal (a wrong secret), so that the trail has entries about it.
func auditClient(t testing.TB, d *devServer, env map[string]string) (clientID string) {
	t.Helper()
	clientID = "audit-" + randHex(t)
	var c adminapi.ClientJSON
	decodeJSON(t, "clients create -o json", mustCLI(t, env, "clients", "create", "--id", clientID, "--scope", "identity.verify", "-o", "json"), &c)
	for _, secret := range []string{c.ClientSecret, "wrong-secret"} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, d.publicURL+"/oauth2/token",
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"identity.verify"}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(clientID, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if want := secret == c.ClientSecret; (resp.StatusCode == http.StatusOK) != want {
			t.Fatalf("token request (right secret %t) = HTTP %d", want, resp.StatusCode)
		}
	}
	return clientID
}

// jsonLines decodes JSON lines strictly as audit entries.
func jsonLines(t testing.TB, what, out string) []adminapi.AuditEntryJSON {
	t.Helper()
	var es []adminapi.AuditEntryJSON
	for i, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" && out == "" {
			break
		}
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		var e adminapi.AuditEntryJSON
		if err := dec.Decode(&e); err != nil || dec.More() {
			t.Fatalf("%s: line %d is not one audit entry (%v): %s", what, i+1, err, redact(l))
		}
		es = append(es, e)
	}
	return es
}

func types(es []adminapi.AuditEntryJSON) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Type)
	}
	return out
}

// TestAuditList reads the trail of a running `serve --dev` with filters,
// as a table and as JSON lines.
func TestAuditList(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken})
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}
	clientID := auditClient(t, d, env)

	// -o json: JSON lines, each byte for byte an entry of the API's page.
	out := mustCLI(t, env, "audit", "list", "--client", clientID, "-o", "json")
	es := jsonLines(t, "audit list --client -o json", out)
	if got, want := types(es), []string{adminapi.EventClientCreated, adminapi.EventTokenIssued, adminapi.EventTokenRefused}; !slices.Equal(got, want) {
		t.Errorf("audit list --client %s -o json: types %q, want %q", clientID, got, want)
	}
	var page struct {
		Entries []json.RawMessage `json:"entries"`
	}
	decodeJSON(t, "GET /admin/audit", adminGet(t, d, "/admin/audit?client_id="+clientID), &page)
	var want strings.Builder
	for _, raw := range page.Entries {
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			t.Fatal(err)
		}
		want.WriteString(b.String() + "\n")
	}
	if out != want.String() {
		t.Errorf("audit list -o json =\n%s\nwant the admin API's entries, one a line:\n%s", out, want.String())
	}
	for i, e := range es {
		if e.ClientID != clientID || e.Seq <= 0 || len(e.Hash) != 64 || (i > 0 && e.Seq <= es[i-1].Seq) {
			t.Errorf("entry %d = seq %d, client %q, hash %q; want client %s, increasing seq, a SHA-256 hash", i, e.Seq, e.ClientID, e.Hash, clientID)
		}
	}

	// The table: a header and one line per entry, details as k=v.
	out = mustCLI(t, env, "audit", "list", "--client", clientID)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if header := strings.Fields(lines[0]); !slices.Equal(header, []string{"SEQ", "TIME", "TYPE", "ACTOR", "CLIENT", "SUBJECT", "OUTCOME", "DETAILS"}) {
		t.Errorf("audit list header = %q", lines[0])
	}
	if len(lines) != len(es)+1 {
		t.Fatalf("audit list has %d lines, want a header and %d entries:\n%s", len(lines), len(es), out)
	}
	for i, e := range es {
		cells := splitCells(lines[i+1])
		if len(cells) != 8 || cells[0] != strconv.FormatInt(e.Seq, 10) || cells[2] != e.Type || cells[4] != clientID || cells[6] != e.Outcome {
			t.Errorf("audit list line %d = %q, want seq %d, type %s, client %s, outcome %s", i+1, cells, e.Seq, e.Type, clientID, e.Outcome)
			continue
		}
		if tm, err := time.Parse(time.RFC3339, cells[1]); err != nil || tm.Location() != time.UTC {
			t.Errorf("audit list line %d: time %q, want RFC 3339 UTC", i+1, cells[1])
		}
		for k, v := range e.Details {
			if !strings.Contains(cells[7], k+"="+v) && !strings.Contains(cells[7], k+"="+strconv.Quote(v)) {
				t.Errorf("audit list line %d: details %q lack %s=%s", i+1, cells[7], k, v)
			}
		}
	}

	// Filters and --limit.
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"type", []string{"--type", adminapi.EventTokenRefused}, []string{adminapi.EventTokenRefused}},
		{"limit", []string{"--limit", "2"}, []string{adminapi.EventClientCreated, adminapi.EventTokenIssued}},
		{"since a duration ago", []string{"--since", "1h"}, types(es)},
		{"since a date", []string{"--since", time.Now().UTC().Add(-24 * time.Hour).Format(time.DateOnly)}, types(es)},
		{"until a duration ago", []string{"--until", "1h"}, nil},
		{"since in the future", []string{"--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, nil},
		{"unknown subject", []string{"--subject", "u_nobody"}, nil},
	}
	for _, tt := range tests {
		args := append([]string{"audit", "list", "--client", clientID, "-o", "json"}, tt.args...)
		if got := types(jsonLines(t, tt.name, mustCLI(t, env, args...))); !slices.Equal(got, tt.want) {
			t.Errorf("%s: idvauth %s = types %q, want %q", tt.name, strings.Join(args, " "), got, tt.want)
		}
	}
	// Without filters: every entry, the key creations first.
	all := jsonLines(t, "audit list -o json", mustCLI(t, env, "audit", "list", "-o", "json"))
	if len(all) < len(es)+2 || all[0].Seq != 1 || all[0].Type != adminapi.EventKeyCreated {
		t.Errorf("audit list -o json: %d entries starting with %q, want the whole trail from seq 1 (key.created)", len(all), types(all[:min(1, len(all))]))
	}
	// An empty answer prints the header only, or nothing as JSON.
	if out := mustCLI(t, env, "audit", "list", "--subject", "u_nobody"); len(strings.Split(strings.TrimSuffix(out, "\n"), "\n")) != 1 {
		t.Errorf("audit list with no match = %q, want the header only", out)
	}
	if out := mustCLI(t, env, "audit", "list", "--subject", "u_nobody", "-o", "json"); out != "" {
		t.Errorf("audit list -o json with no match = %q, want nothing", out)
	}
}

// TestAuditListErrors checks refusals before any call.
func TestAuditListErrors(t *testing.T) {
	t.Parallel()
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": "http://" + freeAddr(t)}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"audit", "list", "--since", "yesterday"}, `Error: --since: "yesterday" is neither an RFC 3339 time`},
		{[]string{"audit", "list", "--until", "-5m"}, `Error: --until: "-5m" is neither`},
		{[]string{"audit", "export", "--since", "2026-13-01"}, `Error: --since: "2026-13-01" is neither`},
		{[]string{"audit", "list", "--since", "1h", "--until", "2h"}, "Error: --since must be before --until"},
		{[]string{"audit", "list", "--limit", "-1"}, "Error: --limit must be 0 (every entry) or more, not -1"},
		{[]string{"audit", "list", "-o", "yaml"}, `Error: --output must be table or json, not "yaml"`},
		{[]string{"audit", "export", "-o", "json"}, "Error: unknown shorthand flag: 'o' in -o"},
		{[]string{"audit", "verify", "extra"}, `Error: unknown command "extra" for "idvauth audit verify"`},
		{[]string{"audit", "frobnicate"}, `Error: unknown command "frobnicate" for "idvauth audit"`},
	}
	for _, tt := range tests {
		code, out, errOut := cli(t, env, tt.args...)
		if code == 0 || out != "" || !strings.HasPrefix(errOut, tt.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("idvauth %s = exit %d, stdout %q, stderr %q; want non-zero, nothing, one line starting %q",
				strings.Join(tt.args, " "), code, out, errOut, tt.want)
		}
	}
}

// fakeAdmin is an admin API that answers GET /admin/audit from entries in
// pages of at most pageSize, and /admin/audit/verify with verify. It
// records the queries it was sent.
type fakeAdmin struct {
	entries  []adminapi.AuditEntryJSON
	pageSize int
	failPage int // answer 500 to this page (1-based); 0: never
	verify   string
	// verifyFn, if set, answers /admin/audit/verify instead of verify.
	verifyFn func(q url.Values) string

	mu      sync.Mutex
	queries []url.Values
}

func (f *fakeAdmin) start(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+adminToken {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"unauthorized","error_description":"A valid admin bearer token is required."}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/admin/audit/verify":
			if f.verifyFn != nil {
				f.mu.Lock()
				f.queries = append(f.queries, r.URL.Query())
				f.mu.Unlock()
				fmt.Fprint(w, f.verifyFn(r.URL.Query()))
				return
			}
			fmt.Fprint(w, f.verify)
		case "/admin/audit":
			q := r.URL.Query()
			f.mu.Lock()
			f.queries = append(f.queries, q)
			n := len(f.queries)
			f.mu.Unlock()
			if n == f.failPage {
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprint(w, `{"error":"server_error","error_description":"The server failed."}`)
				return
			}
			after, _ := strconv.ParseInt(q.Get("cursor"), 10, 64)
			limit, _ := strconv.Atoi(q.Get("limit"))
			page := adminapi.AuditPage{Entries: []adminapi.AuditEntryJSON{}}
			for _, e := range f.entries {
				if e.Seq > after && len(page.Entries) < min(limit, f.pageSize) {
					page.Entries = append(page.Entries, e)
				}
			}
			if len(page.Entries) > 0 && page.Entries[len(page.Entries)-1].Seq < f.entries[len(f.entries)-1].Seq {
				page.NextCursor = strconv.FormatInt(page.Entries[len(page.Entries)-1].Seq, 10)
			}
			b, _ := json.MarshalIndent(page, "", "  ")
			w.Write(b)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func fakeEntries(n int) []adminapi.AuditEntryJSON {
	var es []adminapi.AuditEntryJSON
	for i := 1; i <= n; i++ {
		es = append(es, adminapi.AuditEntryJSON{
			Seq: int64(i), Time: "2026-11-23T10:00:0" + strconv.Itoa(i%10) + ".5Z", Type: adminapi.EventTokenIssued,
			Actor: "client:c1", ClientID: "c1", Outcome: "ok", Details: map[string]string{"scope": "identity.verify openid", "grant": "client_credentials"},
			PrevHash: strings.Repeat("0", 64), Hash: strings.Repeat(strconv.Itoa(i%10), 64),
		})
	}
	return es
}

// TestAuditListPages checks that list and export follow next_cursor, and
// that --limit stops early, against an API with pages of two entries.
func TestAuditListPages(t *testing.T) {
	t.Parallel()
	f := &fakeAdmin{entries: fakeEntries(5), pageSize: 2}
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": f.start(t)}

	es := jsonLines(t, "audit list -o json", mustCLI(t, env, "audit", "list", "--type", "token.issued", "--since", "2026-11-23T09:00:00+01:00", "-o", "json"))
	if len(es) != 5 || es[0].Seq != 1 || es[4].Seq != 5 {
		t.Errorf("audit list over pages of 2 = %d entries, want all 5 in order", len(es))
	}
	var cursors []string
	for _, q := range f.queries {
		cursors = append(cursors, q.Get("cursor"))
		if q.Get("type") != "token.issued" || q.Get("since") != "2026-11-23T08:00:00Z" || q.Get("limit") != "1000" {
			t.Errorf("query %s, want type token.issued, since in UTC, limit 1000", q.Encode())
		}
	}
	if want := []string{"", "2", "4"}; !slices.Equal(cursors, want) {
		t.Errorf("cursors sent = %q, want %q", cursors, want)
	}

	f.mu.Lock()
	f.queries = nil
	f.mu.Unlock()
	es = jsonLines(t, "audit list --limit 3 -o json", mustCLI(t, env, "audit", "list", "--limit", "3", "-o", "json"))
	if len(es) != 3 || es[2].Seq != 3 || len(f.queries) != 2 || f.queries[1].Get("limit") != "1" {
		t.Errorf("audit list --limit 3 = %d entries in %d calls (last limit %q), want 3 entries in 2 calls, the second asking for 1",
			len(es), len(f.queries), f.queries[len(f.queries)-1].Get("limit"))
	}

	// The table shows time to the second, details in key order, quoted
	// where they hold blanks.
	out := mustCLI(t, env, "audit", "list", "--limit", "1")
	want := `grant=client_credentials scope="identity.verify openid"`
	if cells := splitCells(strings.Split(out, "\n")[1]); len(cells) != 8 || cells[1] != "2026-11-23T10:00:01Z" || cells[5] != "-" || cells[7] != want {
		t.Errorf("audit list row = %q, want time 2026-11-23T10:00:01Z, no subject (-), details %s", cells, want)
	}

	// export to stdout: the same JSON lines, every page.
	if got := jsonLines(t, "audit export", mustCLI(t, env, "audit", "export")); len(got) != 5 {
		t.Errorf("audit export = %d entries, want 5", len(got))
	}
}

// TestAuditTableQuotesControlCharacters checks that text a caller chose
// (a claimed client ID) cannot drive the terminal or break the table.
func TestAuditTableQuotesControlCharacters(t *testing.T) {
	t.Parallel()
	es := fakeEntries(1)
	es[0].ClientID = "evil\x1b[2J\tid"
	es[0].Details = map[string]string{"note": "a\nb", "empty": ""}
	f := &fakeAdmin{entries: es, pageSize: 10}
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": f.start(t)}
	out := mustCLI(t, env, "audit", "list")
	if strings.ContainsAny(out, "\x1b\t") || strings.Count(out, "\n") != 2 {
		t.Errorf("audit list = %q, want control characters quoted and one line per entry", out)
	}
	for _, want := range []string{`"evil\x1b[2J\tid"`, `empty="" note="a\nb"`} {
		if !strings.Contains(out, want) {
			t.Errorf("audit list = %q, want it to contain %s", out, want)
		}
	}
}

// TestAuditVerify checks a clean trail of a running server.
func TestAuditVerify(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken})
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}
	auditClient(t, d, env)
	out := mustCLI(t, env, "audit", "verify")
	m := regexp.MustCompile(`^audit trail intact: \d+ entries \(seq 1\.\.(\d+)\)\nhead (\d+):([0-9a-f]{64}) \(keep it; next time: idvauth audit verify --from (\d+:[0-9a-f]{64})\)\n$`).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] || m[4] != m[2]+":"+m[3] {
		t.Fatalf("audit verify = %q, want \"audit trail intact: N entries (seq 1..N)\" and the head to keep", out)
	}
	// From the kept head: only what came after it (the verification's own
	// admin.request entry).
	out = mustCLI(t, env, "audit", "verify", "--from", m[4])
	if !regexp.MustCompile(`^audit trail intact after entry ` + m[2] + `: 1 entry \(seq \d+\.\.\d+\)\nhead \d+:[0-9a-f]{64} `).MatchString(out) {
		t.Errorf("audit verify --from %s = %q, want the one entry after it", m[4], out)
	}
	// A head that does not match: the chain was rewritten.
	code, out, errOut := cli(t, env, "audit", "verify", "--from", "1:"+strings.Repeat("ab", 32))
	if code == 0 || !strings.HasPrefix(out, "audit trail BROKEN at entry 1: its hash is not the one kept") || !strings.Contains(errOut, "entry 1") {
		t.Errorf("audit verify --from a wrong head = exit %d, %q, %q; want 1, broken at entry 1", code, out, errOut)
	}
	for _, args := range [][]string{{"--from", "12"}, {"--from", "x:" + strings.Repeat("a", 64)}, {"--page", "0"}, {"--page", "1000001"}} {
		code, out, errOut := cli(t, env, append([]string{"audit", "verify"}, args...)...)
		if code == 0 || out != "" || !strings.HasPrefix(errOut, "Error: --") {
			t.Errorf("audit verify %q = exit %d, %q, %q; want a usage error", args, code, out, errOut)
		}
	}

	// In parts of 2, as JSON lines: the last is the whole answer.
	lines := strings.Split(strings.TrimSpace(mustCLI(t, env, "audit", "verify", "--page", "2", "-o", "json")), "\n")
	var v adminapi.AuditVerification
	decodeJSON(t, "audit verify -o json", lines[len(lines)-1], &v)
	var sum int64
	for _, l := range lines {
		var p adminapi.AuditVerification
		decodeJSON(t, "audit verify -o json", l, &p)
		sum += p.Entries
	}
	if !v.OK || !v.Complete || len(lines) < 3 || sum != v.LastSeq || len(v.LastHash) != 64 || v.BrokenAt != 0 {
		t.Errorf("audit verify --page 2 -o json: %d lines, %d entries in all, last %+v; want several parts adding up to an intact trail", len(lines), sum, v)
	}
}

// TestAuditVerifyParts checks, against a fake API, that audit verify
// continues each part from the last one's head and stops at a break.
func TestAuditVerifyParts(t *testing.T) {
	t.Parallel()
	hash := func(seq int64) string { return strings.Repeat(fmt.Sprintf("%02x", seq), 32) }
	f := &fakeAdmin{verifyFn: func(q url.Values) string {
		var after int64
		if from := q.Get("from"); from != "" {
			a, _ := adminapi.ParseAuditAnchor(from)
			after = a.Seq
		}
		limit, _ := strconv.ParseInt(q.Get("limit"), 10, 64)
		last := min(after+limit, 7)
		v := adminapi.AuditVerification{OK: last < 6 || after >= 6, Complete: last == 7, Entries: last - after, FirstSeq: after + 1,
			LastSeq: last, LastHash: hash(last)}
		if !v.OK {
			v.Entries, v.LastSeq, v.LastHash, v.BrokenAt, v.Reason = 6-after-1, 5, hash(5), 6, "its hash does not match its content (changed entry)"
		}
		b, _ := json.Marshal(v)
		return string(b)
	}}
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": f.start(t)}
	code, out, _ := cli(t, env, "audit", "verify", "--page", "2")
	if want := "audit trail BROKEN at entry 6: its hash does not match its content (changed entry)\n"; code == 0 || out != want {
		t.Errorf("audit verify in parts over a break = exit %d, %q; want 1, %q", code, out, want)
	}
	var sent []string
	for _, q := range f.queries {
		sent = append(sent, q.Get("from")+"/"+q.Get("limit"))
	}
	if want := []string{"/2", "2:" + hash(2) + "/2", "4:" + hash(4) + "/2"}; !slices.Equal(sent, want) {
		t.Errorf("queries %q, want %q", sent, want)
	}
	f.queries = nil
	out = mustCLI(t, env, "audit", "verify", "--page", "3", "--from", "6:"+hash(6))
	if want := "audit trail intact after entry 6: 1 entry (seq 7..7)\nhead 7:" + hash(7) + " (keep it; next time: idvauth audit verify --from 7:" + hash(7) + ")\n"; out != want {
		t.Errorf("audit verify --from 6 = %q, want %q", out, want)
	}
}

// TestAuditVerifyBroken checks the report of a broken trail, which the
// memory store cannot produce, against a fake admin API.
func TestAuditVerifyBroken(t *testing.T) {
	t.Parallel()
	body := `{"ok":false,"complete":false,"entries":41,"first_seq":1,"last_seq":41,"last_hash":"` + strings.Repeat("ab", 32) +
		`","broken_at":42,"reason":"its hash does not match its content (changed entry)"}`
	f := &fakeAdmin{verify: body}
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": f.start(t)}

	code, out, errOut := cli(t, env, "audit", "verify")
	if want := "audit trail BROKEN at entry 42: its hash does not match its content (changed entry)\n"; code == 0 || out != want {
		t.Errorf("audit verify of a broken trail = exit %d, stdout %q; want non-zero, %q", code, out, want)
	}
	if want := "Error: audit verification failed: the chain breaks at entry 42\n"; errOut != want {
		t.Errorf("audit verify of a broken trail: stderr %q, want %q", errOut, want)
	}
	code, out, errOut = cli(t, env, "audit", "verify", "-o", "json")
	if code == 0 || out != body+"\n" || !strings.Contains(errOut, "entry 42") {
		t.Errorf("audit verify -o json of a broken trail = exit %d, stdout %q, stderr %q; want non-zero, the API's answer, entry 42 named",
			code, out, errOut)
	}

	// An empty trail is intact.
	f2 := &fakeAdmin{verify: `{"ok":true,"complete":true,"entries":0}`}
	env["IDVAUTH_ADMIN_URL"] = f2.start(t)
	if out := mustCLI(t, env, "audit", "verify"); out != "audit trail intact: 0 entries\n" {
		t.Errorf("audit verify of an empty trail = %q", out)
	}
	// A wrong admin token is the API's error.
	env["IDVAUTH_ADMIN_TOKEN"] = "not-the-admin-token-0123456789abcdef"
	if code, out, errOut := cli(t, env, "audit", "verify"); code == 0 || out != "" || !strings.Contains(errOut, "unauthorized") {
		t.Errorf("audit verify with a wrong token = exit %d, stdout %q, stderr %q; want non-zero, unauthorized", code, out, errOut)
	}
}

// TestAuditExportFile checks export to a file: 0600, never over an
// existing file without --force, no file left by a failed export.
func TestAuditExportFile(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken})
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}
	clientID := auditClient(t, d, env)
	path := filepath.Join(t.TempDir(), "audit.jsonl")

	out := mustCLI(t, env, "audit", "export", "--client", clientID, "--output-file", path)
	if want := "exported 3 audit entries to " + path + "\n"; out != want {
		t.Errorf("audit export --output-file = %q, want %q", out, want)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("export file mode = %v, want 0600", st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := types(jsonLines(t, "export file", string(b))); !slices.Equal(got, []string{adminapi.EventClientCreated, adminapi.EventTokenIssued, adminapi.EventTokenRefused}) {
		t.Errorf("export file holds %q", got)
	}
	if want := mustCLI(t, env, "audit", "list", "--client", clientID, "-o", "json"); string(b) != want {
		t.Errorf("export file =\n%s\nwant what audit list -o json prints:\n%s", b, want)
	}

	// The file exists now: refused, unchanged.
	code, out, errOut := cli(t, env, "audit", "export", "--output-file", path)
	if want := "Error: " + path + " exists: choose another --output-file, or add --force to overwrite it\n"; code == 0 || out != "" || errOut != want {
		t.Errorf("audit export over an existing file = exit %d, stdout %q, stderr %q; want non-zero, nothing, %q", code, out, errOut, want)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, b) {
		t.Error("a refused export changed the existing file")
	}

	// --force overwrites, and makes an existing file 0600.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, env, "audit", "export", "--type", adminapi.EventTokenIssued, "--client", clientID, "--output-file", path, "--force")
	b, _ = os.ReadFile(path)
	if got := types(jsonLines(t, "export file after --force", string(b))); !slices.Equal(got, []string{adminapi.EventTokenIssued}) {
		t.Errorf("export file after --force holds %q, want only the token.issued entry", got)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("export file mode after --force = %v, want 0600", st.Mode().Perm())
	}

	// An export that fails half-way leaves no file.
	f := &fakeAdmin{entries: fakeEntries(5), pageSize: 2, failPage: 2}
	env["IDVAUTH_ADMIN_URL"] = f.start(t)
	partial := filepath.Join(t.TempDir(), "partial.jsonl")
	code, out, errOut = cli(t, env, "audit", "export", "--output-file", partial)
	if code == 0 || out != "" || !strings.Contains(errOut, "server_error") || !strings.Contains(errOut, "partial export "+partial+" was removed") {
		t.Errorf("audit export failing on page 2 = exit %d, stdout %q, stderr %q; want non-zero, the error, the partial file removed", code, out, errOut)
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Errorf("a failed export left %s (%v)", partial, err)
	}
	// A file that cannot be created is named.
	missing := filepath.Join(t.TempDir(), "no-such-dir", "audit.jsonl")
	if code, _, errOut := cli(t, env, "audit", "export", "--output-file", missing); code == 0 || !strings.Contains(errOut, missing) {
		t.Errorf("audit export into a missing directory = exit %d, stderr %q; want non-zero naming the file", code, errOut)
	}
}

// TestServeAuditOff checks that --audit off warns at start and records
// nothing.
func TestServeAuditOff(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken}, "--audit", "off")
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}
	if !strings.Contains(d.stderr.String(), "AUDIT TRAIL OFF") {
		t.Errorf("serve --audit off logged no warning:\n%s", redact(d.stderr.String()))
	}
	auditClient(t, d, env)
	if out := mustCLI(t, env, "audit", "list", "-o", "json"); out != "" {
		t.Errorf("audit list with the trail off = %q, want nothing", out)
	}
	d2 := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken})
	if strings.Contains(d2.stderr.String(), "AUDIT TRAIL OFF") {
		t.Error("serve with the trail on warns that it is off")
	}
}
