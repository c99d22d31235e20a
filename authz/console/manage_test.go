package console

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/keys"
)

func TestKeyRows(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	ts := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	kl := []adminapi.KeyJSON{
		{KID: "old", Alg: "ES256", State: keys.StateRetired, CreatedAt: ts(-40 * 24 * time.Hour), RetiredAt: ts(-30 * time.Minute)},
		{KID: "cur", Alg: "ES256", State: keys.StateActive, CreatedAt: ts(-11 * 24 * time.Hour), ActivatedAt: ts(-10 * 24 * time.Hour)},
		{KID: "nxt", Alg: "ES256", State: keys.StateNext, CreatedAt: ts(-3 * time.Hour)},
		{KID: "gone", Alg: "RS256", State: keys.StateRemoved, CreatedAt: ts(-90 * 24 * time.Hour)},
	}
	sc := keys.Schedule{Every: 30 * 24 * time.Hour, PrePublish: 24 * time.Hour, Retain: time.Hour}
	rows := keyRows(kl, sc, now)
	want := []struct{ age, next string }{
		{"40 days", "leaves the JWKS 2026-12-03 12:30 UTC (in 30 minutes)"},
		{"11 days", "retires 2026-12-23 12:00 UTC (in 20 days)"},
		{"3 hours", "signs 2026-12-23 12:00 UTC (in 20 days)"},
		{"90 days", ""},
	}
	for i, w := range want {
		if rows[i].Age != w.age || rows[i].Next != w.next {
			t.Errorf("%s: age %q next %q, want %q %q", rows[i].KID, rows[i].Age, rows[i].Next, w.age, w.next)
		}
		if rows[i].Retirable != (rows[i].State != keys.StateRemoved) {
			t.Errorf("%s: retirable %v in state %s", rows[i].KID, rows[i].Retirable, rows[i].State)
		}
	}
	if r := keyRows(kl[1:2], keys.Schedule{}, now); r[0].Next != "rotates by hand only" {
		t.Errorf("without a schedule: %q, want by hand only", r[0].Next)
	}
	if r := keyRows(kl[1:2], sc, now.Add(31*24*time.Hour)); r[0].Next != "retires due now" {
		t.Errorf("overdue: %q, want due now", r[0].Next)
	}
}

func TestReadAuditFilter(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 34, 56, 0, time.UTC)
	for _, tc := range []struct {
		query, since, problem string
		want                  time.Time
	}{
		{"", "2026-12-02T12:34", "", time.Date(2026, 12, 2, 12, 34, 0, 0, time.UTC)},
		{"since=2026-11-23T10:00", "2026-11-23T10:00:00", "", time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)},
		{"since=2026-11-23", "2026-11-23T00:00:00", "", time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)},
		{"since=2026-11-23T10:00:00%2B01:00", "2026-11-23T09:00:00", "", time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)},
		{"since=yesterday", "yesterday", "Since must be", time.Time{}},
		{"cursor=-1", "", "page link", time.Time{}},
		{"cursor=x1", "", "page link", time.Time{}},
		{"type=" + strings.Repeat("a", maxQuery+1), "", "too long", time.Time{}},
	} {
		q, _ := url.ParseQuery(tc.query)
		f, aq, problem := readAuditFilter(q, now)
		if tc.problem != "" {
			if !strings.Contains(problem, tc.problem) {
				t.Errorf("%s: problem %q, want one about %q", tc.query, problem, tc.problem)
			}
			continue
		}
		if problem != "" || f.Since != tc.since || !aq.Since.Equal(tc.want) {
			t.Errorf("%s: since %q (%v), problem %q; want %q (%v)", tc.query, f.Since, aq.Since, problem, tc.since, tc.want)
		}
	}
	q, _ := url.ParseQuery("type=client.created&client_id=shop&subject=u1&cursor=42")
	f, aq, _ := readAuditFilter(q, now)
	if aq.Type != "client.created" || aq.ClientID != "shop" || aq.Subject != "u1" || f.Cursor != "42" {
		t.Errorf("filter %+v %+v", f, aq)
	}
}

func TestPendingOf(t *testing.T) {
	err := error(&adminapi.Pending{Request: adminapi.RequestJSON{ID: "req_1", Action: adminapi.ActionKeyRetire, Target: "k1", ExpiresAt: 1}})
	p, ok := pendingOf(errors.Join(errors.New("held"), err))
	if !ok || p.ID != "req_1" || p.Action != adminapi.ActionKeyRetire || p.Target != "k1" {
		t.Errorf("pendingOf = %+v, %v", p, ok)
	}
	if _, ok := pendingOf(&adminapi.Error{Status: 400}); ok {
		t.Error("a refusal is not a pending request")
	}
}

var (
	inputPattern   = regexp.MustCompile(`<(input|textarea|select)\b[^>]*>`)
	idPattern      = regexp.MustCompile(`\bid="([^"]+)"`)
	headingPattern = regexp.MustCompile(`<h([1-6])\b`)
)

// checkA11y fails unless every visible control of body has a label and
// no heading level is skipped.
func checkA11y(t *testing.T, name, body string) {
	t.Helper()
	for _, tag := range inputPattern.FindAllString(body, -1) {
		if strings.Contains(tag, `type="hidden"`) {
			continue
		}
		m := idPattern.FindStringSubmatch(tag)
		if m == nil || !strings.Contains(body, `<label for="`+m[1]+`"`) {
			t.Errorf("%s: control without a label: %s", name, tag)
		}
	}
	level := 0
	for _, m := range headingPattern.FindAllStringSubmatch(body, -1) {
		l := int(m[1][0] - '0')
		if l > level+1 {
			t.Errorf("%s: h%d after h%d", name, l, level)
		}
		level = l
	}
}

// TestManagePages renders each management page with sample data: what it
// must show is there, its controls are labelled, its headings in order,
// and the buttons a role lacks the scope for are not.
func TestManagePages(t *testing.T) {
	h := newHandler(t)
	me := adminapi.OperatorJSON{Username: "olive", Role: "owner"}
	now := time.Now().UTC()
	kl := []adminapi.KeyJSON{{KID: "k-active", Alg: "ES256", State: keys.StateActive, CreatedAt: now.Format(time.RFC3339), ActivatedAt: now.Format(time.RFC3339)}}
	owner := map[string]bool{"admin:keys:read": true, "admin:keys:write": true, "admin:audit:read": true, "admin:clients:write": true}
	auditor := map[string]bool{"admin:keys:read": true, "admin:audit:read": true}
	base := func(can map[string]bool) pageData {
		return pageData{Title: "T", Me: &me, Can: can, Keys: kl, manageData: manageData{KeyRows: keyRows(kl, keys.Schedule{}, now)}}
	}
	dash := base(owner)
	dash.Stats, dash.Head = &tokenStats{Issued: 7, Refused: 3}, &adminapi.AuditHeadJSON{Seq: 42, Hash: strings.Repeat("ab", 32)}
	dash.Script = h.pages.scriptPath
	pend := base(owner)
	pend.Pending = &pendingView{ID: "req_9", Action: adminapi.ActionKeyRetire, Target: "k-active", Expires: "2026-12-04T12:00:00Z"}
	audit := base(auditor)
	audit.Audit, audit.NextPage = []adminapi.AuditEntryJSON{{Seq: 5, Type: "client.created"}}, "/console/audit?cursor=5"
	verified := base(auditor)
	verified.Verified, verified.Anchor = &adminapi.AuditVerification{OK: true, Complete: true, Entries: 9, FirstSeq: 1, LastSeq: 9}, "9:"+strings.Repeat("cd", 32)
	edit := base(owner)
	edit.Edit = formOf(adminapi.ClientJSON{ClientID: "shop", ClientName: "Shop", Scope: "openid", RedirectURIs: []string{"https://a.example/cb", "https://b.example/cb"},
		GrantTypes: []string{adminapi.GrantAuthorizationCode}})
	for _, tc := range []struct {
		page   string
		d      pageData
		want   []string
		absent []string
	}{
		{"dashboard", dash, []string{`id="tokens-issued">7<`, `id="tokens-refused">3<`, "this server", `<code class="secret" id="audit-head">42:abab`, "rotates by hand only", `data-copy="audit-head"`}, nil},
		{"keys", base(owner), []string{`action="/console/keys/rotate"`, `action="/console/keys/k-active/retire"`, `<label for="confirm-k-active">`}, []string{`id="pending"`}},
		{"keys", base(auditor), []string{"k-active"}, []string{`action="/console/keys/rotate"`, `/retire"`}},
		{"keys", pend, []string{`id="pending"`, "Held for a second operator", "req_9"}, nil},
		{"audit", audit, []string{`id="next-page" rel="next"`, `href="/console/audit?cursor=5"`, `action="/console/audit/verify"`, `name="since"`}, nil},
		{"auditverify", verified, []string{"The audit trail is intact", `id="audit-anchor">9:cdcd`, `data-copy="audit-anchor"`}, nil},
		{"clientedit", edit, []string{`value="Shop"`, "https://a.example/cb\nhttps://b.example/cb</textarea>", `id="grant-authorization_code" name="grant_authorization_code" value="1" checked`},
			[]string{`id="grant-client_credentials" name="grant_client_credentials" value="1" checked`}},
	} {
		w := httptest.NewRecorder()
		h.render(w, httptest.NewRequest("GET", "/console/", nil), http.StatusOK, tc.page, tc.d)
		body := w.Body.String()
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d\n%s", tc.page, w.Code, body)
		}
		for _, s := range tc.want {
			if !strings.Contains(body, s) {
				t.Errorf("%s: no %q in\n%s", tc.page, s, body)
			}
		}
		for _, s := range tc.absent {
			if strings.Contains(body, s) {
				t.Errorf("%s: shows %q", tc.page, s)
			}
		}
		checkA11y(t, tc.page, body)
	}
}

// TestManageSignedOut: the management routes need a session; a post
// without one changes nothing and is sent to the sign-in page.
func TestManageSignedOut(t *testing.T) {
	h := newHandler(t)
	for _, tc := range []struct{ method, path string }{
		{"POST", Prefix + "/keys/rotate"}, {"POST", Prefix + "/keys/k1/retire"}, {"POST", Prefix + "/audit/verify"},
		{"GET", Prefix + "/clients/c1/edit"}, {"POST", Prefix + "/clients/c1/edit"}, {"GET", Prefix + "/people/u1/export"},
	} {
		r := httptest.NewRequest(tc.method, tc.path, strings.NewReader("csrf=x"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), SignInPath) {
			t.Errorf("%s %s signed out = %d to %q, want 303 to the sign-in page", tc.method, tc.path, w.Code, w.Header().Get("Location"))
		}
	}
}
