package authz_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/operators"
)

var enrollmentLinkPattern = regexp.MustCompile(`<code class="secret" id="enrollment-link">([^<]+)</code>`)

// enrollmentLink returns the enrollment link a console page shows.
func enrollmentLink(t *testing.T, p page) string {
	t.Helper()
	m := enrollmentLinkPattern.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("page (%d) shows no enrollment link:\n%s", p.status, p.body)
	}
	return html.UnescapeString(m[1])
}

// enrollWithLink enrolls the operator of link through the console in b
// (a password, then the authenticator app); they end signed in.
func enrollWithLink(t *testing.T, ts *testServer, clk *testClock, b *browser, link, username, role string) consoleOperator {
	t.Helper()
	op := consoleOperator{username: username, password: "a long operator pass phrase " + role}
	p := b.get(link)
	if p.status != http.StatusOK {
		t.Fatalf("enrollment link of %s: %d\n%s", username, p.status, p.body)
	}
	p = b.follow(ts.Admin, b.submit(ts.Admin, p.formAt(t, "/console/enroll"), url.Values{"password": {op.password}, "password2": {op.password}}))
	m := consoleSecretPattern.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil {
		t.Fatalf("after the password of %s: %d, no TOTP secret:\n%s", username, p.status, p.body)
	}
	op.secret = m[1]
	p = b.follow(ts.Admin, b.submit(ts.Admin, p.formAt(t, "/console/enroll/totp"), url.Values{"code": {totpAt(t, op.secret, clk.Now())}}))
	if p.status != http.StatusOK || !strings.Contains(p.body, `<span id="me">`+username+" ("+role+")</span>") {
		t.Fatalf("after enrollment: %d, not the dashboard of %s:\n%s", p.status, username, p.body)
	}
	return op
}

// storeOperator creates an operator of role straight in the store (as the
// bootstrap does: through the API, granting owner is held under
// four-eyes) and enrolls them in b.
func storeOperator(t *testing.T, ts *testServer, clk *testClock, b *browser, username, role string) consoleOperator {
	t.Helper()
	o, token, err := operators.Create(context.Background(), ts.Srv.StoreForTest(), username, role, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	op := enrollWithLink(t, ts, clk, b, operators.EnrollmentURL(ts.Admin, token), username, role)
	op.id = o.ID
	return op
}

// csrfOf is the CSRF token of a signed-in console page of b.
func csrfOf(t *testing.T, ts *testServer, b *browser) string {
	t.Helper()
	return b.get(ts.Admin+"/console/").formAt(t, "/console/signout").values.Get("csrf")
}

// operatorNamed returns the operator username as the API lists them.
func operatorNamed(t *testing.T, api *adminapi.Client, username string) (adminapi.OperatorJSON, int) {
	t.Helper()
	l, _, err := api.ListOperators(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var found adminapi.OperatorJSON
	n := 0
	for _, o := range l.Operators {
		if o.Username == username {
			found, n = o, n+1
		}
	}
	return found, n
}

// TestConsoleOperators: an owner manages operators through the console,
// on memory and PostgreSQL: creates one (the link, shown once, enrolls
// them), changes their role (seen on their next page), disables them
// (their console session ends at once), enables them, resets their second
// factor (a new link), each confirmation typed. A support operator sees
// no operators' link, gets 403 on every operators' page and post, and
// changes nothing; bad input and a post without CSRF get a 4xx and change
// nothing.
func TestConsoleOperators(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, clk, _, _ := mfaServer(t, cfg)
		ctx := context.Background()
		api := breakGlassAPI(t, ts)
		b := newBrowser(t)
		owner := enrollOperator(t, ts, clk, b, "olive", "owner")

		// Create: the link shown once, with its copy button's script.
		p := b.get(ts.Admin + "/console/operators")
		if p.status != http.StatusOK || !strings.Contains(p.body, `href="/console/requests"`) {
			t.Fatalf("operators page: %d, or no link to the requests:\n%s", p.status, p.body)
		}
		create := postForm(t, p, "/console/operators")
		p = b.submit(ts.Admin, create, url.Values{"username": {"sam"}, "role": {"support"}})
		if p.status != http.StatusCreated {
			t.Fatalf("create operator: %d\n%s", p.status, p.body)
		}
		link := enrollmentLink(t, p)
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("enrollment link page CSP = %q", csp)
		}
		sam, n := operatorNamed(t, api, "sam")
		if n != 1 || sam.Role != "support" || !sam.EnrollmentPending {
			t.Fatalf("after creation: %d sam, %+v; want one support operator with a link pending", n, sam)
		}
		if q := b.get(ts.Admin + "/console/operators/" + sam.ID); q.status != http.StatusOK || strings.Contains(q.body, link) {
			t.Errorf("operator page: %d, shows the link again: %v", q.status, strings.Contains(q.body, link))
		}
		sb := newBrowser(t)
		samOp := enrollWithLink(t, ts, clk, sb, link, "sam", "support")
		samOp.id = sam.ID

		// Bad input: refused, nothing changed.
		for _, in := range []url.Values{{"username": {""}, "role": {"support"}}, {"username": {"eve"}, "role": {"god"}},
			{"username": {"sam"}, "role": {"auditor"}}, {"username": {strings.Repeat("x", 65)}, "role": {"auditor"}}} {
			if q := b.submit(ts.Admin, create, in); q.status/100 != 4 || !strings.Contains(q.body, `id="error"`) {
				t.Errorf("create with %v: %d, want a 4xx with its reason", in, q.status)
			}
		}
		if l, _, _ := api.ListOperators(ctx); len(l.Operators) != 2 {
			t.Errorf("after bad creations: %d operators, want 2", len(l.Operators))
		}
		p = b.get(ts.Admin + "/console/operators/" + sam.ID)
		opPath := "/console/operators/" + sam.ID
		for _, c := range []struct {
			action string
			v      url.Values
		}{{opPath + "/role", url.Values{"role": {"god"}}}, {opPath + "/disable", url.Values{"confirm": {"Sam"}}},
			{opPath + "/mfa-reset", url.Values{"confirm": {""}}}} {
			if q := b.submit(ts.Admin, p.formAt(t, c.action), c.v); q.status/100 != 4 {
				t.Errorf("%s with %v: %d, want a 4xx", c.action, c.v, q.status)
			}
		}
		if q := b.post(ts.Admin+opPath+"/disable", url.Values{"confirm": {"sam"}}); q.status != http.StatusForbidden {
			t.Errorf("disable without CSRF: %d, want 403", q.status)
		}
		if q := b.post(ts.Admin+"/console/operators", url.Values{"username": {"eve"}, "role": {"owner"}}); q.status != http.StatusForbidden {
			t.Errorf("create without CSRF: %d, want 403", q.status)
		}
		if o, _ := operatorNamed(t, api, "sam"); o.Role != "support" || o.Disabled || !o.MFAEnrolled {
			t.Fatalf("after refused changes sam is %+v; want support, enabled, enrolled", o)
		}
		if _, n := operatorNamed(t, api, "eve"); n != 0 {
			t.Error("eve was created by a refused post")
		}

		// The last owner cannot demote themselves.
		selfPath := "/console/operators/" + owner.id
		p = b.get(ts.Admin + selfPath)
		if q := b.submit(ts.Admin, p.formAt(t, selfPath+"/role"), url.Values{"role": {"support"}}); q.status/100 != 4 {
			t.Errorf("the last owner demoting themselves: %d, want a 4xx", q.status)
		}
		if o, _ := operatorNamed(t, api, "olive"); o.Role != "owner" {
			t.Errorf("after a refused self-demotion olive is %s", o.Role)
		}

		// Support: no link, 403 on every operators' page and post, and
		// nothing changes.
		q := sb.get(ts.Admin + "/console/")
		if strings.Contains(q.body, `href="/console/operators"`) || !strings.Contains(q.body, `href="/console/requests"`) {
			t.Error("support's menu shows operators, or no requests")
		}
		for _, path := range []string{"/console/operators", "/console/operators/" + owner.id} {
			if q := sb.get(ts.Admin + path); q.status != http.StatusForbidden {
				t.Errorf("support GET %s: %d, want 403", path, q.status)
			}
		}
		csrf := csrfOf(t, ts, sb)
		for _, c := range []struct {
			path string
			v    url.Values
		}{{"/console/operators", url.Values{"username": {"mallory"}, "role": {"owner"}}},
			{"/console/operators/" + sam.ID + "/role", url.Values{"role": {"owner"}}},
			{"/console/operators/" + owner.id + "/disable", url.Values{"confirm": {"olive"}}},
			{"/console/operators/" + owner.id + "/mfa-reset", url.Values{"confirm": {"olive"}}}} {
			c.v.Set("csrf", csrf)
			if q := sb.post(ts.Admin+c.path, c.v); q.status != http.StatusForbidden {
				t.Errorf("support POST %s: %d, want 403", c.path, q.status)
			}
		}
		if o, _ := operatorNamed(t, api, "olive"); o.Disabled || !o.MFAEnrolled {
			t.Errorf("after support's posts olive is %+v", o)
		}
		if o, _ := operatorNamed(t, api, "sam"); o.Role != "support" {
			t.Errorf("after support's posts sam is %s", o.Role)
		}
		if _, n := operatorNamed(t, api, "mallory"); n != 0 {
			t.Error("support created an operator")
		}

		// Role change: seen on sam's next page.
		p = b.get(ts.Admin + opPath)
		p = b.submit(ts.Admin, p.formAt(t, opPath+"/role"), url.Values{"role": {"auditor"}})
		if p.status != http.StatusOK || !strings.Contains(p.body, `<dd id="operator-role">auditor</dd>`) {
			t.Fatalf("role change: %d\n%s", p.status, p.body)
		}
		if q := sb.get(ts.Admin + "/console/"); !strings.Contains(q.body, `<span id="me">sam (auditor)</span>`) {
			t.Errorf("sam's page after the role change:\n%s", q.body)
		}

		// Disable: sam's console session ends at once.
		p = b.submit(ts.Admin, p.formAt(t, opPath+"/disable"), url.Values{"confirm": {"sam"}})
		if p.status != http.StatusOK || !strings.Contains(p.body, `<dd id="operator-state">disabled</dd>`) {
			t.Fatalf("disable: %d\n%s", p.status, p.body)
		}
		if q := sb.get(ts.Admin + "/console/"); q.status != http.StatusSeeOther || !strings.HasPrefix(q.header.Get("Location"), "/console/signin") {
			t.Errorf("a disabled operator's dashboard: %d to %q, want 303 to the sign-in page", q.status, q.header.Get("Location"))
		}
		p = b.submit(ts.Admin, p.formAt(t, opPath+"/enable"), nil)
		if o, _ := operatorNamed(t, api, "sam"); p.status != http.StatusOK || o.Disabled {
			t.Fatalf("enable: %d, sam disabled %v", p.status, o.Disabled)
		}
		if q := consoleSignIn(t, ts, clk, sb, samOp, ""); q.status != http.StatusSeeOther {
			t.Errorf("sam's sign-in once enabled: %d", q.status)
		}

		// MFA reset: a new link; sam is signed out and not enrolled.
		p = b.submit(ts.Admin, p.formAt(t, opPath+"/mfa-reset"), url.Values{"confirm": {"sam"}})
		if p.status != http.StatusOK || enrollmentLink(t, p) == link {
			t.Fatalf("MFA reset: %d, or the old link", p.status)
		}
		if o, _ := operatorNamed(t, api, "sam"); o.MFAEnrolled || !o.EnrollmentPending {
			t.Errorf("after the MFA reset sam is %+v", o)
		}
		if q := sb.get(ts.Admin + "/console/"); q.status != http.StatusSeeOther {
			t.Errorf("sam's console after the MFA reset: %d, want 303 to the sign-in page", q.status)
		}
	})
}

var heldPattern = regexp.MustCompile(`<code id="held-id">([^<]+)</code>`)

// TestConsoleFourEyes: with IDVAUTH_FOUR_EYES on, on memory and
// PostgreSQL, an owner's creation of an admin through the console answers
// 202 and shows the held request; the owner sees no approve button on
// their own request and a forced approval is refused (403); a support
// operator is refused too; a second owner approves it on the requests
// page, which shows the new operator's link: the operator is created
// once, and a second approval is refused. A held role change is rejected
// and never happens.
func TestConsoleFourEyes(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		cfg.FourEyes = true
		ts, clk, _, _ := mfaServer(t, cfg)
		ctx := context.Background()
		api := breakGlassAPI(t, ts)
		ob, xb, sb := newBrowser(t), newBrowser(t), newBrowser(t)
		olive := storeOperator(t, ts, clk, ob, "olive", "owner")
		storeOperator(t, ts, clk, xb, "oscar", "owner")

		// Support is not held: created and enrolled at once.
		p := ob.get(ts.Admin + "/console/operators")
		create := postForm(t, p, "/console/operators")
		p = ob.submit(ts.Admin, create, url.Values{"username": {"sam"}, "role": {"support"}})
		if p.status != http.StatusCreated {
			t.Fatalf("create a support operator: %d\n%s", p.status, p.body)
		}
		enrollWithLink(t, ts, clk, sb, enrollmentLink(t, p), "sam", "support")

		// An admin is held: 202, the request shown, nothing done.
		p = ob.submit(ts.Admin, create, url.Values{"username": {"nina"}, "role": {"admin"}})
		m := heldPattern.FindStringSubmatch(p.body)
		if p.status != http.StatusAccepted || m == nil || enrollmentLinkPattern.MatchString(p.body) {
			t.Fatalf("create an admin under four-eyes: %d, no held request or a link:\n%s", p.status, p.body)
		}
		reqID := m[1]
		if _, n := operatorNamed(t, api, "nina"); n != 0 {
			t.Fatal("nina exists before any approval")
		}

		// The requester: the request listed as theirs, no approve button;
		// a forced approval refused.
		p = ob.get(ts.Admin + "/console/requests")
		approve := "/console/requests/" + reqID + "/approve"
		if !strings.Contains(p.body, `id="request-`+reqID+`"`) || strings.Contains(p.body, `action="`+approve+`"`) {
			t.Fatalf("the requester's requests page: no request, or an approve button:\n%s", p.body)
		}
		if q := ob.post(ts.Admin+approve, url.Values{"csrf": {csrfOf(t, ts, ob)}}); q.status != http.StatusForbidden || !strings.Contains(q.body, "another operator must") {
			t.Errorf("self-approval: %d, want 403 saying why\n%s", q.status, q.body)
		}
		// Support: neither button, and refused.
		if q := sb.get(ts.Admin + "/console/requests"); q.status != http.StatusOK || !strings.Contains(q.body, `id="request-`+reqID+`"`) ||
			strings.Contains(q.body, `action="`+approve+`"`) {
			t.Errorf("support's requests page: %d, no request or an approve button", q.status)
		}
		if q := sb.post(ts.Admin+approve, url.Values{"csrf": {csrfOf(t, ts, sb)}}); q.status != http.StatusForbidden {
			t.Errorf("support's approval: %d, want 403", q.status)
		}
		if q := xb.post(ts.Admin+approve, url.Values{"csrf": {"forged"}}); q.status != http.StatusForbidden {
			t.Errorf("approval with a bad CSRF token: %d, want 403", q.status)
		}
		if r, _, err := api.GetRequest(ctx, reqID); err != nil || r.State != adminapi.RequestPending {
			t.Fatalf("after the refused approvals the request is %+v, %v; want pending", r, err)
		}

		// The second owner approves it on the page: done once.
		p = xb.get(ts.Admin + "/console/requests")
		p = xb.submit(ts.Admin, p.formAt(t, approve), nil)
		if p.status != http.StatusOK {
			t.Fatalf("approval: %d\n%s", p.status, p.body)
		}
		// The link is on the host the approver reached (no admin URL is
		// set here): the approved call was replayed with it.
		if l := enrollmentLink(t, p); !strings.HasPrefix(l, ts.Admin+"/console/enroll?token=") {
			t.Errorf("enrollment link after approval = %q, want one on %s", l, ts.Admin)
		}
		if nina, n := operatorNamed(t, api, "nina"); n != 1 || nina.Role != "admin" {
			t.Fatalf("after approval: %d nina, %+v", n, nina)
		}
		if q := xb.post(ts.Admin+approve, url.Values{"csrf": {csrfOf(t, ts, xb)}}); q.status != http.StatusConflict {
			t.Errorf("second approval: %d, want 409", q.status)
		}
		if _, n := operatorNamed(t, api, "nina"); n != 1 {
			t.Errorf("after a second approval: %d nina, want 1", n)
		}
		if r, _, _ := api.GetRequest(ctx, reqID); r.State != adminapi.RequestApproved || r.RequestedBy != "operator:"+olive.id {
			t.Errorf("request after approval: %+v", r)
		}

		// A held role change, rejected: never done.
		sam, _ := operatorNamed(t, api, "sam")
		p = ob.get(ts.Admin + "/console/operators/" + sam.ID)
		p = ob.submit(ts.Admin, p.formAt(t, "/console/operators/"+sam.ID+"/role"), url.Values{"role": {"owner"}})
		m = heldPattern.FindStringSubmatch(p.body)
		if p.status != http.StatusAccepted || m == nil {
			t.Fatalf("role change to owner under four-eyes: %d\n%s", p.status, p.body)
		}
		p = xb.get(ts.Admin + "/console/requests")
		p = xb.submit(ts.Admin, p.formAt(t, "/console/requests/"+m[1]+"/reject"), nil)
		if p.status != http.StatusOK || strings.Contains(p.body, `id="request-`+m[1]+`"`) {
			t.Errorf("reject: %d, or still listed", p.status)
		}
		if o, _ := operatorNamed(t, api, "sam"); o.Role != "support" {
			t.Errorf("after the rejection sam is %s, want support", o.Role)
		}

		// A client's deletion from its page, held: 202 with the request,
		// not an error page, and the client still there.
		cl, _, err := api.CreateClient(ctx, adminapi.ClientJSON{ClientName: "held", GrantTypes: []string{"client_credentials"},
			TokenEndpointAuthMethod: "client_secret_basic"})
		if err != nil {
			t.Fatal(err)
		}
		p = ob.get(ts.Admin + "/console/clients/" + cl.ClientID)
		p = ob.submit(ts.Admin, p.formAt(t, "/console/clients/"+cl.ClientID+"/delete"), url.Values{"confirm": {cl.ClientID}})
		if p.status != http.StatusAccepted || heldPattern.FindStringSubmatch(p.body) == nil {
			t.Errorf("client deletion under four-eyes: %d, want 202 with the held request\n%s", p.status, p.body)
		}
		if _, _, err := api.GetClient(ctx, cl.ClientID); err != nil {
			t.Errorf("held deletion: the client is gone: %v", err)
		}

		// An owner who steps down (not held) lands on the dashboard in
		// their new role.
		oscar, _ := operatorNamed(t, api, "oscar")
		p = xb.get(ts.Admin + "/console/operators/" + oscar.ID)
		p = xb.submit(ts.Admin, p.formAt(t, "/console/operators/"+oscar.ID+"/role"), url.Values{"role": {"support"}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/" {
			t.Fatalf("stepping down: %d to %q, want 303 to the dashboard", p.status, p.header.Get("Location"))
		}
		if q := xb.get(ts.Admin + "/console/"); !strings.Contains(q.body, `<span id="me">oscar (support)</span>`) {
			t.Errorf("oscar's dashboard after stepping down:\n%s", q.body)
		}
	})
}
