package authz_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
)

var consoleSecretPattern = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`)

// postForm returns the form of p that posts to action (one with a CSRF
// token: a search form has none).
func postForm(t testing.TB, p page, action string) form {
	t.Helper()
	for _, f := range p.forms {
		if f.action == action && f.values.Get("csrf") != "" {
			return f
		}
	}
	t.Fatalf("page (%d) has no post form to %s:\n%s", p.status, action, p.body)
	return form{}
}

// totpAt is the code of secret at t.
func totpAt(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// consoleOperator is an operator enrolled through the console.
type consoleOperator struct {
	id, username, password, secret string
}

// breakGlassAPI is an admin API client with the break-glass token.
func breakGlassAPI(t testing.TB, ts *testServer) *adminapi.Client {
	t.Helper()
	api, err := adminapi.New(adminapi.Config{BaseURL: ts.Admin, Token: testAdminToken})
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// createOperator creates an operator of role and returns its enrollment
// link: on PostgreSQL as `idvauth operators create` does, straight on the
// database; on memory through the admin API.
func createOperator(t testing.TB, ts *testServer, username, role string) adminapi.Enrollment {
	t.Helper()
	ctx := context.Background()
	var e adminapi.Enrollment
	var err error
	if ts.DatabaseURL != "" {
		e, err = authz.CreateOperator(ctx, ts.DatabaseURL, username, role, ts.Admin)
	} else {
		e, _, err = breakGlassAPI(t, ts).CreateOperator(ctx, adminapi.OperatorInput{Username: username, Role: role})
	}
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// enrollOperator creates an operator of role (on PostgreSQL as
// `idvauth operators create` does, straight on the database; on memory
// through the admin API) and enrolls them through the console in b:
// the link, a password, the authenticator app confirmed with a code.
// They end signed in.
func enrollOperator(t *testing.T, ts *testServer, clk *testClock, b *browser, username, role string) consoleOperator {
	t.Helper()
	e := createOperator(t, ts, username, role)
	if !strings.HasPrefix(e.EnrollmentURL, ts.Admin+"/console/enroll?token=") {
		t.Fatalf("enrollment link %s, want %s/console/enroll?token=...", e.EnrollmentURL, ts.Admin)
	}
	op := consoleOperator{id: e.Operator.ID, username: username, password: "operator pass phrase " + role}
	p := b.get(e.EnrollmentURL)
	if p.status != http.StatusOK {
		t.Fatalf("enrollment link: %d\n%s", p.status, p.body)
	}
	p = b.follow(ts.Admin, b.submit(ts.Admin, p.formAt(t, "/console/enroll"), url.Values{"password": {op.password}, "password2": {op.password}}))
	m := consoleSecretPattern.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil {
		t.Fatalf("after the password: %d, no TOTP secret:\n%s", p.status, p.body)
	}
	op.secret = m[1]
	p = b.follow(ts.Admin, b.submit(ts.Admin, p.formAt(t, "/console/enroll/totp"), url.Values{"code": {totpAt(t, op.secret, clk.Now())}}))
	if p.status != http.StatusOK || !strings.Contains(p.body, `<span id="me">`+username+" ("+role+")</span>") {
		t.Fatalf("after enrollment: %d, not the dashboard of %s:\n%s", p.status, username, p.body)
	}
	return op
}

// consoleSignIn signs op in with b, the code of the time step after the
// current one (the current one may have been used), and returns the page
// it ends on.
func consoleSignIn(t *testing.T, ts *testServer, clk *testClock, b *browser, op consoleOperator, next string) page {
	t.Helper()
	u := ts.Admin + "/console/signin"
	if next != "" {
		u += "?next=" + url.QueryEscape(next)
	}
	p := b.get(u)
	p = b.submit(ts.Admin, p.formAt(t, "/console/signin"), url.Values{"username": {op.username}, "password": {op.password}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/signin/totp" {
		t.Fatalf("password step: %d to %q, want 303 to the code step:\n%s", p.status, p.header.Get("Location"), p.body)
	}
	p = b.follow(ts.Admin, p)
	clk.Add(30 * time.Second)
	return b.submit(ts.Admin, p.formAt(t, "/console/signin/totp"), url.Values{"code": {totpAt(t, op.secret, clk.Now())}})
}

// TestConsoleEndToEnd: bootstrap → enrollment link → password + TOTP →
// console, on memory and PostgreSQL; the link works once; the sign-in
// refuses a wrong password and an unknown username alike, a replayed
// code, and a next that leaves the listener; a support operator sees no
// client creation and the admin API refuses the post anyway; a client's
// secret is shown once; typed confirmations guard deletion and erasure; a
// disabled operator is signed out at once. Everything is audited with the
// operator as actor.
func TestConsoleEndToEnd(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, clk, ada, _ := mfaServer(t, cfg)
		ctx := context.Background()
		api := breakGlassAPI(t, ts)
		b := newBrowser(t)

		// Not signed in: the sign-in page, coming back after.
		p := b.get(ts.Admin + "/console/clients?q=x")
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/signin?next=%2Fconsole%2Fclients%3Fq%3Dx" {
			t.Fatalf("signed out /console/clients: %d to %q", p.status, p.header.Get("Location"))
		}

		owner := enrollOperator(t, ts, clk, b, "olive", "owner")

		// The link is spent.
		ops, _, err := api.ListOperators(ctx)
		if err != nil || len(ops.Operators) != 1 || !ops.Operators[0].MFAEnrolled || ops.Operators[0].EnrollmentPending {
			t.Fatalf("operators after enrollment = %+v, %v; want olive enrolled, no link pending", ops, err)
		}

		// Sign out, then in again: password, then code. Signing out ends
		// the session on the server: a copy of its cookie is refused.
		adminURL, _ := url.Parse(ts.Admin)
		stolen := newBrowser(t)
		stolen.client.Jar.SetCookies(adminURL, b.client.Jar.Cookies(adminURL))
		if q := stolen.get(ts.Admin + "/console/"); q.status != http.StatusOK {
			t.Fatalf("a copy of the session cookie before sign-out: %d, want 200", q.status)
		}
		p = b.get(ts.Admin + "/console/")
		p = b.submit(ts.Admin, p.formAt(t, "/console/signout"), nil)
		if p.status != http.StatusSeeOther || b.get(ts.Admin+"/console/").status != http.StatusSeeOther {
			t.Fatalf("sign-out: %d; the dashboard still answers", p.status)
		}
		if q := stolen.get(ts.Admin + "/console/"); q.status != http.StatusSeeOther {
			t.Errorf("a copy of the session cookie after sign-out: %d, want 303 to the sign-in page", q.status)
		}
		p = consoleSignIn(t, ts, clk, b, owner, "/console/people?q=ada")
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/people?q=ada" {
			t.Fatalf("sign-in: %d to %q, want back to the people search", p.status, p.header.Get("Location"))
		}
		p = b.follow(ts.Admin, p)
		if !strings.Contains(p.body, `href="/console/people/`+ada.ID+`"`) {
			t.Fatalf("people search for ada does not list her:\n%s", p.body)
		}

		// Wrong password and unknown username answer alike; a replayed
		// code is refused.
		other := newBrowser(t)
		for _, creds := range [][2]string{{"olive", "not the password at all"}, {"nobody", "not the password at all"}} {
			p := other.get(ts.Admin + "/console/signin")
			p = other.submit(ts.Admin, p.formAt(t, "/console/signin"), url.Values{"username": {creds[0]}, "password": {creds[1]}})
			if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "The username or password is wrong, or the account cannot sign in.") {
				t.Errorf("sign-in as %s with a wrong password: %d\n%s", creds[0], p.status, p.body)
			}
		}
		p = other.get(ts.Admin + "/console/signin?next=" + url.QueryEscape("//evil.example/x"))
		p = other.submit(ts.Admin, p.formAt(t, "/console/signin"), url.Values{"username": {"olive"}, "password": {owner.password}})
		p = other.follow(ts.Admin, p)
		replay := totpAt(t, owner.secret, clk.Now()) // the step the owner's sign-in used
		if q := other.submit(ts.Admin, p.formAt(t, "/console/signin/totp"), url.Values{"code": {replay}}); q.status != http.StatusUnauthorized {
			t.Errorf("replayed code: %d, want 401", q.status)
		}
		clk.Add(30 * time.Second)
		p = other.submit(ts.Admin, p.formAt(t, "/console/signin/totp"), url.Values{"code": {totpAt(t, owner.secret, clk.Now())}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/" {
			t.Errorf("sign-in with next=//evil.example: %d to %q, want /console/", p.status, p.header.Get("Location"))
		}

		// A client: created, its secret shown once, deleted only when its
		// ID is typed.
		p = b.get(ts.Admin + "/console/clients")
		p = b.submit(ts.Admin, postForm(t, p, "/console/clients"), url.Values{"name": {"Shop"}, "redirect_uris": {"https://shop.example/cb"}, "scope": {"openid"}})
		m := regexp.MustCompile(`<code id="client-id">([^<]+)</code>`).FindStringSubmatch(p.body)
		sm := regexp.MustCompile(`<code class="secret" id="client-secret">([^<]+)</code>`).FindStringSubmatch(p.body)
		if p.status != http.StatusCreated || m == nil || sm == nil {
			t.Fatalf("create client: %d, no ID or secret:\n%s", p.status, p.body)
		}
		clientID, secret := m[1], sm[1]
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("secret page CSP = %q", csp)
		}
		if q := b.get(ts.Admin + "/console/clients/" + clientID); q.status != http.StatusOK || strings.Contains(q.body, secret) {
			t.Errorf("client page: %d, shows the secret again: %v", q.status, strings.Contains(q.body, secret))
		}
		p = b.get(ts.Admin + "/console/clients/" + clientID)
		if q := b.submit(ts.Admin, p.formAt(t, "/console/clients/"+clientID+"/delete"), url.Values{"confirm": {"shop"}}); q.status != http.StatusBadRequest {
			t.Errorf("delete with a wrong confirmation: %d, want 400", q.status)
		}
		if _, _, err := api.GetClient(ctx, clientID); err != nil {
			t.Fatalf("the client is gone after a wrong confirmation: %v", err)
		}
		if q := b.submit(ts.Admin, p.formAt(t, "/console/clients/"+clientID+"/delete"), url.Values{"confirm": {clientID}}); q.status != http.StatusSeeOther {
			t.Errorf("delete: %d, want 303", q.status)
		}
		if _, _, err := api.GetClient(ctx, clientID); err == nil {
			t.Error("the client is still there after its deletion")
		}

		// Erase ada, confirmed with her username.
		p = b.get(ts.Admin + "/console/people/" + ada.ID)
		if q := b.submit(ts.Admin, p.formAt(t, "/console/people/"+ada.ID+"/erase"), url.Values{"confirm": {"Ada"}}); q.status != http.StatusBadRequest {
			t.Errorf("erase with a wrong confirmation: %d, want 400", q.status)
		}
		if q := b.submit(ts.Admin, p.formAt(t, "/console/people/"+ada.ID+"/erase"), url.Values{"confirm": {"ada"}}); q.status != http.StatusSeeOther {
			t.Errorf("erase: %d, want 303", q.status)
		}
		if _, _, err := api.GetUser(ctx, ada.ID); err == nil {
			t.Error("ada is still there after her erasure")
		}

		// A support operator: no client creation shown, and refused anyway.
		sb := newBrowser(t)
		sup := enrollOperator(t, ts, clk, sb, "sam", "support")
		p = sb.get(ts.Admin + "/console/clients")
		if p.status != http.StatusOK || strings.Contains(p.body, `action="/console/clients"`) && strings.Contains(p.body, "Create client") {
			t.Errorf("support's clients page: %d, offers creation", p.status)
		}
		if strings.Contains(p.body, `href="/console/operators"`) || strings.Contains(p.body, `href="/console/keys"`) {
			t.Error("support's menu shows operators or keys")
		}
		csrf := p.formAt(t, "/console/signout").values.Get("csrf")
		before, _, _ := api.ListClients(ctx)
		q := sb.post(ts.Admin+"/console/clients", url.Values{"csrf": {csrf}, "name": {"Sneaky"}})
		after, _, _ := api.ListClients(ctx)
		if q.status != http.StatusForbidden || len(after.Clients) != len(before.Clients) {
			t.Errorf("support creating a client: %d, clients %d -> %d; want 403 and none", q.status, len(before.Clients), len(after.Clients))
		}
		// A post without the CSRF token changes nothing.
		if q := b.post(ts.Admin+"/console/clients", url.Values{"name": {"NoCSRF"}}); q.status != http.StatusForbidden {
			t.Errorf("post without CSRF: %d, want 403", q.status)
		}

		// Disabled: signed out at once.
		yes := true
		if _, _, err := api.UpdateOperator(ctx, sup.id, adminapi.OperatorUpdate{Disabled: &yes}); err != nil {
			t.Fatal(err)
		}
		if q := sb.get(ts.Admin + "/console/"); q.status != http.StatusSeeOther {
			t.Errorf("a disabled operator's dashboard: %d, want 303 to the sign-in page", q.status)
		}

		// Audited, with the operator as actor.
		want := map[string]bool{adminapi.EventOperatorEnrolled: false, adminapi.EventOperatorSignedIn: false,
			adminapi.EventOperatorSignInFailed: false, adminapi.EventOperatorMFAFailed: false, "client.created": false, "user.erased": false}
		if _, err := api.ListAudit(ctx, adminapi.AuditQuery{}, 0, func(e adminapi.AuditEntryJSON, _ json.RawMessage) error {
			if _, ok := want[e.Type]; ok && (e.Actor == "operator:"+owner.id || e.Type == adminapi.EventOperatorSignInFailed) {
				want[e.Type] = true
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for typ, seen := range want {
			if !seen {
				t.Errorf("no %s entry by the owner in the audit trail", typ)
			}
		}
	})
}
