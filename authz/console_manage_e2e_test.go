package authz_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/operators"
)

var (
	issuedPattern  = regexp.MustCompile(`id="tokens-issued">(\d+)<`)
	refusedPattern = regexp.MustCompile(`id="tokens-refused">(\d+)<`)
	headPattern    = regexp.MustCompile(`id="audit-(?:head|anchor)">(\d+):([0-9a-f]{64})<`)
	auditRow       = regexp.MustCompile(`<tr><td>(\d+)</td>`)
)

// csrfPost posts v with the CSRF token of p's form to action, and only
// v: the test browser would send every checkbox of a form as checked.
func csrfPost(t *testing.T, ts *testServer, b *browser, p page, action string, v url.Values) page {
	t.Helper()
	if v == nil {
		v = url.Values{}
	}
	v.Set("csrf", p.formAt(t, "/console/signout").values.Get("csrf"))
	return b.post(ts.Admin+action, v)
}

// keyStates are the states of the signing keys, by kid.
func keyStates(t *testing.T, api *adminapi.Client) map[string]string {
	t.Helper()
	kl, _, err := api.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range kl.Keys {
		out[k.KID] = k.State
	}
	return out
}

// consoleActiveKID is the active ES256 key.
func consoleActiveKID(t *testing.T, api *adminapi.Client) string {
	t.Helper()
	kl, _, err := api.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kl.Keys {
		if k.State == "active" && k.Alg == "ES256" {
			return k.KID
		}
	}
	t.Fatalf("no active ES256 key in %+v", kl)
	return ""
}

func sameStates(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestConsoleManage drives the console's management pages on memory and
// PostgreSQL, signed in as an owner: the dashboard's token counts, key
// ages and audit head; key rotation and retirement (revoking tokens only
// with the key ID typed); the audit trail's filters, pages and
// verification; a client's edit form, with the API's refusal shown on
// it; a person's export. Roles without the scope see no button and are
// refused (403) with nothing changed; a post without its CSRF token and
// bad values are refused too. (The keys come last: revoking a key's
// tokens ends the other operators' console tokens until they renew.)
func TestConsoleManage(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, clk, ada, _ := mfaServer(t, cfg)
		ctx := context.Background()
		api := breakGlassAPI(t, ts)
		b := newBrowser(t)
		enrollOperator(t, ts, clk, b, "olive", "owner")
		ab := newBrowser(t)
		enrollOperator(t, ts, clk, ab, "aude", "auditor")
		sb := newBrowser(t)
		enrollOperator(t, ts, clk, sb, "sam", "support")

		t.Run("dashboard", func(t *testing.T) {
			ts.issueTokens(t, 2)
			svc := ts.Demo.Service
			if code, _, _ := post(t, ts.Public+"/oauth2/token", svc.ClientID, "not the secret", url.Values{"grant_type": {"client_credentials"}}); code != http.StatusUnauthorized {
				t.Fatalf("token request with a wrong secret: %d, want 401", code)
			}
			p := b.get(ts.Admin + "/console/")
			issued, refused, head := issuedPattern.FindStringSubmatch(p.body), refusedPattern.FindStringSubmatch(p.body), headPattern.FindStringSubmatch(p.body)
			if p.status != http.StatusOK || issued == nil || refused == nil || head == nil {
				t.Fatalf("dashboard: %d, no token counts or audit head:\n%s", p.status, p.body)
			}
			if issued[1] != "2" || refused[1] != "1" || !strings.Contains(p.body, "On this server") {
				t.Errorf("dashboard: %s issued, %s refused; want 2 and 1, on this server", issued[1], refused[1])
			}
			if !strings.Contains(p.body, "retires ") || !strings.Contains(p.body, "(in 30 days)") && !strings.Contains(p.body, "(in 29 days)") {
				t.Errorf("dashboard: no next rotation of the active key:\n%s", p.body)
			}
			seq, _ := strconv.ParseInt(head[1], 10, 64)
			pg, _, err := adminapi.AuditPageOf(ctx, api, adminapi.AuditQuery{}, strconv.FormatInt(seq-1, 10), 1)
			if err != nil || len(pg.Entries) != 1 || pg.Entries[0].Seq != seq || pg.Entries[0].Hash != head[2] {
				t.Errorf("dashboard head %s:%s is not entry %d of the trail: %+v %v", head[1], head[2], seq, pg, err)
			}
		})

		t.Run("audit", func(t *testing.T) {
			for range 55 {
				if _, _, err := api.ListClients(ctx); err != nil {
					t.Fatal(err)
				}
			}
			q := url.Values{"type": {adminapi.EventAdminRequest}, "since": {"2000-01-01T00:00"}}
			p := ab.get(ts.Admin + "/console/audit?" + q.Encode())
			rows := auditRow.FindAllStringSubmatch(p.body, -1)
			m := regexp.MustCompile(`href="(/console/audit\?[^"]+)" id="next-page"`).FindStringSubmatch(p.body)
			if p.status != http.StatusOK || len(rows) != 50 || m == nil {
				t.Fatalf("audit page 1: %d, %d rows, next link %v", p.status, len(rows), m != nil)
			}
			last, _ := strconv.Atoi(rows[49][1])
			p2 := ab.get(ts.Admin + strings.ReplaceAll(m[1], "&amp;", "&"))
			rows2 := auditRow.FindAllStringSubmatch(p2.body, -1)
			if p2.status != http.StatusOK || len(rows2) == 0 {
				t.Fatalf("audit page 2: %d, %d rows", p2.status, len(rows2))
			}
			if first, _ := strconv.Atoi(rows2[0][1]); first <= last || strings.Contains(p2.body, "<td>"+adminapi.EventUserCreated+"</td>") {
				t.Errorf("page 2 starts at %d after page 1 ended at %d, or lost the type filter", first, last)
			}
			// Filters: the subject's entries only.
			p = ab.get(ts.Admin + "/console/audit?" + url.Values{"subject": {ada.ID}, "type": {adminapi.EventUserCreated}, "since": {"2000-01-01"}}.Encode())
			if rows := auditRow.FindAllStringSubmatch(p.body, -1); p.status != http.StatusOK || len(rows) != 1 || !strings.Contains(p.body, "<td>"+adminapi.EventUserCreated+"</td>") {
				t.Errorf("audit filtered on ada's creation: %d, %d rows", p.status, len(rows))
			}
			for _, bad := range []string{"since=yesterday", "cursor=abc", "cursor=-5"} {
				if p := ab.get(ts.Admin + "/console/audit?" + bad); p.status != http.StatusBadRequest {
					t.Errorf("audit ?%s: %d, want 400", bad, p.status)
				}
			}
			// Verify: the head to keep, and a verification from it.
			p = ab.get(ts.Admin + "/console/audit")
			v := ab.submit(ts.Admin, p.formAt(t, "/console/audit/verify"), nil)
			head := headPattern.FindStringSubmatch(v.body)
			if v.status != http.StatusOK || head == nil || !strings.Contains(v.body, "The audit trail is intact") || !strings.Contains(v.body, `data-copy="audit-anchor"`) {
				t.Fatalf("verify: %d, no head:\n%s", v.status, v.body)
			}
			if v := ab.submit(ts.Admin, p.formAt(t, "/console/audit/verify"), url.Values{"from": {head[1] + ":" + head[2]}}); v.status != http.StatusOK || !strings.Contains(v.body, "The audit trail is intact") {
				t.Errorf("verify from the kept head: %d\n%s", v.status, v.body)
			}
			if v := ab.submit(ts.Admin, p.formAt(t, "/console/audit/verify"), url.Values{"from": {"12:zz"}}); v.status != http.StatusBadRequest {
				t.Errorf("verify from a bad head: %d, want 400", v.status)
			}
			if v := ab.post(ts.Admin+"/console/audit/verify", nil); v.status != http.StatusForbidden {
				t.Errorf("verify without CSRF: %d, want 403", v.status)
			}
		})

		t.Run("client edit", func(t *testing.T) {
			cl, _, err := api.CreateClient(ctx, adminapi.ClientJSON{ClientName: "Shop", Scope: "openid"})
			if err != nil {
				t.Fatal(err)
			}
			editPath := "/console/clients/" + cl.ClientID + "/edit"
			// Support reads clients but may not change them.
			p := sb.get(ts.Admin + "/console/clients/" + cl.ClientID)
			if p.status != http.StatusOK || strings.Contains(p.body, editPath) {
				t.Errorf("support's client page: %d, offers editing", p.status)
			}
			if q := csrfPost(t, ts, sb, p, editPath, url.Values{"name": {"Sneaky"}}); q.status != http.StatusForbidden {
				t.Errorf("support editing a client: %d, want 403", q.status)
			}
			if got, _, _ := api.GetClient(ctx, cl.ClientID); got.ClientName != "Shop" {
				t.Errorf("client name %q after refused edits, want Shop", got.ClientName)
			}

			p = b.get(ts.Admin + "/console/clients/" + cl.ClientID)
			if !strings.Contains(p.body, `href="`+editPath+`"`) {
				t.Errorf("owner's client page has no edit link")
			}
			p = b.get(ts.Admin + editPath)
			if p.status != http.StatusOK || p.formAt(t, editPath).values.Get("name") != "Shop" {
				t.Fatalf("edit page: %d\n%s", p.status, p.body)
			}
			// The API's refusal, on the form, as typed; nothing changed.
			q := csrfPost(t, ts, b, p, editPath, url.Values{"name": {"Shop two"}, "grant_refresh_token": {"1"}})
			if q.status != http.StatusBadRequest || !strings.Contains(q.body, `id="error"`) || !strings.Contains(q.body, "refresh_token") ||
				!strings.Contains(q.body, `value="Shop two"`) {
				t.Errorf("refused edit: %d, error not on the form:\n%s", q.status, q.body)
			}
			if got, _, _ := api.GetClient(ctx, cl.ClientID); got.ClientName != "Shop" {
				t.Errorf("client name %q after a refused edit, want Shop", got.ClientName)
			}
			if q := b.post(ts.Admin+editPath, url.Values{"name": {"No CSRF"}}); q.status != http.StatusForbidden {
				t.Errorf("edit without CSRF: %d, want 403", q.status)
			}
			q = csrfPost(t, ts, b, p, editPath, url.Values{"name": {"Shop two"}, "scope": {"openid  profile"}, "redirect_uris": {"https://shop.example/cb\r\nhttps://shop.example/cb2"},
				"grant_authorization_code": {"1"}, "grant_refresh_token": {"1"}})
			got, _, err := api.GetClient(ctx, cl.ClientID)
			if q.status != http.StatusOK || err != nil || got.ClientName != "Shop two" || got.Scope != "openid profile" ||
				strings.Join(got.RedirectURIs, " ") != "https://shop.example/cb https://shop.example/cb2" ||
				strings.Join(got.GrantTypes, " ") != "authorization_code refresh_token" {
				t.Errorf("edit: %d; client now %+v %v\n%s", q.status, got, err, q.body)
			}
		})

		t.Run("person export", func(t *testing.T) {
			exportPath := "/console/people/" + ada.ID + "/export"
			p := b.get(ts.Admin + "/console/people/" + ada.ID)
			if !strings.Contains(p.body, `href="`+exportPath+`"`) || !strings.Contains(p.body, `id="consents-h"`) || !strings.Contains(p.body, `id="sessions-h"`) {
				t.Errorf("person page: no export link, consents or sessions:\n%s", p.body)
			}
			p = b.get(ts.Admin + exportPath)
			var ex adminapi.UserExport
			if p.status != http.StatusOK || json.Unmarshal([]byte(p.body), &ex) != nil || ex.User.ID != ada.ID {
				t.Fatalf("export: %d\n%s", p.status, p.body)
			}
			if cd := p.header.Get("Content-Disposition"); cd != `attachment; filename="person-`+ada.ID+`.json"` {
				t.Errorf("Content-Disposition %q", cd)
			}
			if p.header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(p.header.Get("Content-Type"), "application/json") {
				t.Errorf("export headers: %v", p.header)
			}
			// The auditor reads no personal data.
			if q := ab.get(ts.Admin + exportPath); q.status != http.StatusForbidden || strings.Contains(q.body, ada.ID) {
				t.Errorf("auditor's export: %d, want 403 without the person", q.status)
			}
			if q := b.get(ts.Admin + "/console/people/u_nobody/export"); q.status != http.StatusNotFound {
				t.Errorf("export of nobody: %d, want 404", q.status)
			}
		})
		t.Run("keys", func(t *testing.T) {
			// The auditor reads the keys, has no button, and is refused.
			p := ab.get(ts.Admin + "/console/keys")
			if p.status != http.StatusOK || strings.Contains(p.body, `action="/console/keys/rotate"`) || strings.Contains(p.body, `/retire"`) {
				t.Errorf("auditor's keys page: %d, offers rotation or retirement", p.status)
			}
			before := keyStates(t, api)
			kid := consoleActiveKID(t, api)
			for _, action := range []string{"/console/keys/rotate", "/console/keys/" + kid + "/retire"} {
				if q := csrfPost(t, ts, ab, p, action, nil); q.status != http.StatusForbidden || !sameStates(before, keyStates(t, api)) {
					t.Errorf("auditor posting %s: %d, keys changed: %v", action, q.status, !sameStates(before, keyStates(t, api)))
				}
			}
			// Without the CSRF token: refused.
			if q := b.post(ts.Admin+"/console/keys/rotate", nil); q.status != http.StatusForbidden || !sameStates(before, keyStates(t, api)) {
				t.Errorf("rotate without CSRF: %d, want 403 and no change", q.status)
			}

			// Rotate: a new active key, the old one retired.
			p = b.get(ts.Admin + "/console/keys")
			q := csrfPost(t, ts, b, p, "/console/keys/rotate", nil)
			next := consoleActiveKID(t, api)
			if q.status != http.StatusOK || !strings.Contains(q.body, `id="notice"`) || next == kid || keyStates(t, api)[kid] != "retired" {
				t.Fatalf("rotate: %d, active %s (was %s), old key %s", q.status, next, kid, keyStates(t, api)[kid])
			}
			// Revoking the old key's tokens needs its ID typed.
			before = keyStates(t, api)
			for _, confirm := range []string{"", "wrong", strings.ToUpper(kid)} {
				q := csrfPost(t, ts, b, p, "/console/keys/"+kid+"/retire", url.Values{"revoke_tokens": {"1"}, "confirm": {confirm}})
				if q.status != http.StatusBadRequest || !sameStates(before, keyStates(t, api)) {
					t.Errorf("revoke with confirmation %q: %d, keys changed: %v", confirm, q.status, !sameStates(before, keyStates(t, api)))
				}
			}
			q = csrfPost(t, ts, b, p, "/console/keys/"+kid+"/retire", url.Values{"revoke_tokens": {"1"}, "confirm": {kid}})
			if q.status != http.StatusOK || keyStates(t, api)[kid] != "removed" {
				t.Errorf("revoke with the key ID typed: %d, key %s", q.status, keyStates(t, api)[kid])
			}
			// The owner's console token was signed by that key: the console
			// renewed it, so the owner carries on.
			if q := b.get(ts.Admin + "/console/keys"); q.status != http.StatusOK {
				t.Errorf("keys page after revoking the console token's key: %d, want 200", q.status)
			}
			// Another operator's token of that key: their next page is sent
			// back once (303) with a new token, and then works; a post
			// says nothing was done.
			if q := ab.get(ts.Admin + "/console/keys"); q.status != http.StatusSeeOther || q.header.Get("Location") != "/console/keys" {
				t.Errorf("auditor's keys page after the revocation: %d to %q, want 303 to the same page", q.status, q.header.Get("Location"))
			}
			if q := ab.get(ts.Admin + "/console/keys"); q.status != http.StatusOK {
				t.Errorf("auditor's keys page with the renewed token: %d, want 200", q.status)
			}
			// A plain retirement needs no typing.
			q = csrfPost(t, ts, b, p, "/console/keys/"+next+"/retire", nil)
			if q.status != http.StatusOK || keyStates(t, api)[next] != "retired" {
				t.Errorf("retire %s: %d, state %s", next, q.status, keyStates(t, api)[next])
			}
			if q := csrfPost(t, ts, b, p, "/console/keys/no-such-key/retire", nil); q.status != http.StatusNotFound {
				t.Errorf("retire an unknown key: %d, want 404", q.status)
			}
		})

	})
}

// TestConsoleManageFourEyes: with four-eyes on, revoking a key's tokens
// from the console is held: the page says so with the request, and the
// key has not changed.
func TestConsoleManageFourEyes(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		cfg.FourEyes = true
		ts, clk, _, _ := mfaServer(t, cfg)
		api := breakGlassAPI(t, ts)
		// Granting owner through the API is itself held: made in the store,
		// as the bootstrap does.
		o, token, err := operators.Create(context.Background(), ts.Srv.StoreForTest(), "olive", "owner", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		b := newBrowser(t)
		enrollFrom(t, ts, clk, b, ts.Admin+"/console/enroll?token="+url.QueryEscape(token), o.Username, o.Role)
		kid := consoleActiveKID(t, api)
		before := keyStates(t, api)
		p := b.get(ts.Admin + "/console/keys")
		q := csrfPost(t, ts, b, p, "/console/keys/"+kid+"/retire", url.Values{"revoke_tokens": {"1"}, "confirm": {kid}})
		m := regexp.MustCompile(`request <code>(req_[^<]+)</code>`).FindStringSubmatch(q.body)
		if q.status != http.StatusAccepted || m == nil || !strings.Contains(q.body, "Held for a second operator") {
			t.Fatalf("held retirement: %d\n%s", q.status, q.body)
		}
		if !sameStates(before, keyStates(t, api)) {
			t.Error("the keys changed before a second operator approved")
		}
		r, _, err := api.GetRequest(context.Background(), m[1])
		if err != nil || r.State != adminapi.RequestPending || r.Action != adminapi.ActionKeyRetire || r.Target != kid {
			t.Errorf("request %s = %+v, %v; want a pending key.retire of %s", m[1], r, err, kid)
		}
	})
}

// enrollFrom enrolls an operator through the console in b from the
// enrollment link: a password, the authenticator app confirmed.
func enrollFrom(t *testing.T, ts *testServer, clk *testClock, b *browser, link, username, role string) {
	t.Helper()
	pw := "operator pass phrase " + role
	p := b.get(link)
	p = b.follow(ts.Admin, b.submit(ts.Admin, p.formAt(t, "/console/enroll"), url.Values{"password": {pw}, "password2": {pw}}))
	m := consoleSecretPattern.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("enrollment: %d, no TOTP secret:\n%s", p.status, p.body)
	}
	p = b.follow(ts.Admin, b.submit(ts.Admin, p.formAt(t, "/console/enroll/totp"), url.Values{"code": {totpAt(t, m[1], clk.Now())}}))
	if !strings.Contains(p.body, `<span id="me">`+username+" ("+role+")</span>") {
		t.Fatalf("after enrollment: %d, not signed in as %s", p.status, username)
	}
}
