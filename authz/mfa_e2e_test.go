package authz_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/pquerna/otp/totp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
)

// End-to-end tests of multi-factor sign-in (issue 19): TOTP enrollment,
// sign-in with a second factor, replay and throttling, recovery codes,
// step-up with acr_values, amr and acr in ID tokens.

const acrMFA = "urn:idvauth:acr:mfa"

// testClock is a server clock the test moves forward (across TOTP steps)
// without sleeping. It starts ten minutes behind the real clock, which
// fosite reads for some checks (an auth_time in its future is refused), so
// that moving it forward keeps it behind.
type testClock struct{ off atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.Add(-10 * time.Minute)
	return c
}

func (c *testClock) Now() time.Time      { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *testClock) Add(d time.Duration) { c.off.Add(int64(d)) }

// mfaServer starts a code-flow server on cfg with a movable clock, no
// login post rate limit (the tests post from one address quickly), a
// person "ada" and a web client.
func mfaServer(t *testing.T, cfg authz.Config) (*testServer, *testClock, adminapi.UserJSON, webClient) {
	t.Helper()
	clk := newTestClock()
	cfg.Now = clk.Now
	cfg.RateLimits.LoginPerIP = -1
	ts := startServer(t, codeFlowConfig(cfg))
	return ts, clk, ts.createUser(t, "ada"), ts.createWebClient(t, adminapi.ClientJSON{})
}

var (
	secretPattern   = regexp.MustCompile(`secret=([A-Z2-7]+)`)
	recoveryPattern = regexp.MustCompile(`<code>([a-z2-7]{5}-[a-z2-7]{5}-[a-z2-7]{5}-[a-z2-7]{5})</code>`)
	continuePattern = regexp.MustCompile(`href="(/oauth2/authorize\?[^"]+)"`)
)

func (p page) isMFA() bool    { return len(p.forms) == 1 && p.forms[0].action == "/login/mfa" }
func (p page) isEnroll() bool { return len(p.forms) == 1 && p.forms[0].action == "/login/mfa/enroll" }

// totpCode is the code of secret at the server's time.
func totpCode(t testing.TB, secret string, clk *testClock) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// password opens authURL in b and signs in with ada's password, returning
// the page after it.
func (b *browser) password(ts *testServer, authURL string) page {
	b.t.Helper()
	p := b.follow(ts.Public, b.get(authURL))
	if !p.isLogin() {
		b.t.Fatalf("authorize = %d, want the login page:\n%s", p.status, p.body)
	}
	return b.submit(ts.Public, p.onlyForm(b.t), url.Values{"username": {"ada"}, "password": {testPassword}})
}

// enrolled is what enrollment gave the person.
type enrolled struct {
	secret string
	// code is the code that confirmed the setup.
	code     string
	recovery []string
}

// enroll completes the enrollment page p with a code of the new secret and
// returns it with the recovery codes shown, and the page the Continue
// link leads to.
func (b *browser) enroll(ts *testServer, clk *testClock, p page) (enrolled, page) {
	t := b.t
	t.Helper()
	if !p.isEnroll() {
		t.Fatalf("page = %d, want the enrollment page:\n%s", p.status, p.body)
	}
	m := secretPattern.FindStringSubmatch(p.body)
	if m == nil || !strings.Contains(p.body, "otpauth://totp/") || !strings.Contains(p.body, "<svg") {
		t.Fatalf("enrollment page lacks the otpauth URI or the QR code:\n%s", p.body)
	}
	var e enrolled
	e.secret, e.code = m[1], totpCode(t, m[1], clk)
	p = b.submit(ts.Public, p.onlyForm(t), url.Values{"code": {e.code}})
	for _, c := range recoveryPattern.FindAllStringSubmatch(p.body, -1) {
		e.recovery = append(e.recovery, c[1])
	}
	cont := continuePattern.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || len(e.recovery) != 10 || cont == nil {
		t.Fatalf("after enrollment = %d with %d recovery codes, want 10 and a Continue link:\n%s", p.status, len(e.recovery), p.body)
	}
	return e, b.follow(ts.Public, b.get(ts.Public+html.UnescapeString(cont[1])))
}

// consentAndRedeem allows the consent page if shown and redeems the code
// the browser was redirected with; it returns the ID token's claims.
func (b *browser) consentAndRedeem(ts *testServer, clk *testClock, c webClient, p page, verifier string) map[string]any {
	t := b.t
	t.Helper()
	if p.isConsent() {
		p = b.submit(ts.Public, p.onlyForm(t), url.Values{"decision": {"allow"}})
	}
	res := redirectedToClient(t, p, redirectURI)
	tok, err := c.cfg.Exchange(ctxb(), res.query.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	return ts.idTokenAt(t, raw, c.ClientID, clk.Now())
}

// idTokenAt verifies an ID token with go-jose against the JWKS at the
// server's time and returns its claims.
func (ts *testServer) idTokenAt(t testing.TB, raw, clientID string, at time.Time) map[string]any {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	set := ts.jwks(t)
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatal("ID token key not published")
	}
	var std jwt.Claims
	var all map[string]any
	if err := tok.Claims(keys[0].Key, &std, &all); err != nil {
		t.Fatalf("ID token signature: %v", err)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: ts.Public, AnyAudience: jwt.Audience{clientID}, Time: at}, time.Second); err != nil {
		t.Fatalf("ID token claims: %v", err)
	}
	return all
}

func wantAuthn(t testing.TB, claims map[string]any, acr string, amr ...string) {
	t.Helper()
	var got []string
	for _, v := range claims["amr"].([]any) {
		got = append(got, v.(string))
	}
	for _, m := range amr {
		if !slices.Contains(got, m) {
			t.Errorf("amr = %q, want it to hold %q", got, m)
		}
	}
	if !slices.Contains(amr, "otp") && slices.Contains(got, "otp") {
		t.Errorf("amr = %q, want no otp", got)
	}
	if claims["acr"] != acr {
		t.Errorf("acr = %v, want %s", claims["acr"], acr)
	}
}

func TestMFAEnrollAndSignIn(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, clk, user, c := mfaServer(t, cfg)

		// 1. Step-up to MFA leads a password-only person to enrollment.
		b := newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		p := b.password(ts, authURL(c, "state-mfa-0001", verifier, "nonce-0001", oauth2.SetAuthURLParam("acr_values", acrMFA)))
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || p.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("enrollment page headers = %v", p.header)
		}
		// A wrong code shows the page again.
		wrong := b.submit(ts.Public, p.onlyForm(t), url.Values{"code": {"000000"}})
		if !wrong.isEnroll() || !strings.Contains(wrong.body, "not correct") {
			t.Fatalf("wrong enrollment code = %d:\n%s", wrong.status, wrong.body)
		}
		e, p := b.enroll(ts, clk, wrong)
		claims := b.consentAndRedeem(ts, clk, c, p, verifier)
		wantAuthn(t, claims, acrMFA, "pwd", "otp", "mfa")
		if claims["sub"] != user.ID {
			t.Errorf("sub = %v", claims["sub"])
		}

		// 2. A new browser: password, then the code. The enrollment code's
		// step is used up; the next step's code works once.
		b2 := newBrowser(t)
		verifier = oauth2.GenerateVerifier()
		p = b2.password(ts, authURL(c, "state-mfa-0002", verifier, "nonce-0002"))
		if !p.isMFA() {
			t.Fatalf("password of a person with a factor = %d, want the code page:\n%s", p.status, p.body)
		}
		form := p.onlyForm(t)
		if p = b2.submit(ts.Public, form, url.Values{"code": {e.code}}); !p.isMFA() || !strings.Contains(p.body, "not correct") {
			t.Fatalf("the enrollment code again = %d, want refused:\n%s", p.status, p.body)
		}
		clk.Add(30 * time.Second)
		code := totpCode(t, e.secret, clk)
		p = b2.submit(ts.Public, form, url.Values{"code": {code}})
		wantAuthn(t, b2.consentAndRedeem(ts, clk, c, p, verifier), acrMFA, "pwd", "otp", "mfa")

		// 3. The same code from another browser in the same step: refused.
		b3 := newBrowser(t)
		p = b3.password(ts, authURL(c, "state-mfa-0003", oauth2.GenerateVerifier(), "nonce-0003"))
		if p = b3.submit(ts.Public, p.onlyForm(t), url.Values{"code": {code}}); !p.isMFA() {
			t.Fatalf("replayed code = %d, want refused:\n%s", p.status, p.body)
		}

		// 4. A recovery code works once (typed in upper case with spaces).
		verifier = oauth2.GenerateVerifier()
		p = b3.password(ts, authURL(c, "state-mfa-0004", verifier, "nonce-0004"))
		typed := strings.ToUpper(strings.ReplaceAll(e.recovery[3], "-", " "))
		p = b3.submit(ts.Public, p.onlyForm(t), url.Values{"code": {typed}})
		wantAuthn(t, b3.consentAndRedeem(ts, clk, c, p, verifier), acrMFA, "pwd", "otp", "mfa")
		b4 := newBrowser(t)
		p = b4.password(ts, authURL(c, "state-mfa-0005", oauth2.GenerateVerifier(), "nonce-0005"))
		if p = b4.submit(ts.Public, p.onlyForm(t), url.Values{"code": {e.recovery[3]}}); !p.isMFA() {
			t.Fatalf("a used recovery code = %d, want refused:\n%s", p.status, p.body)
		}

		// 5. The person's export lists the factor, never its secret, and
		// the recovery codes left, never the codes.
		code2, raw := ts.adminJSON(t, "GET", "/admin/users/"+user.ID+"/export", nil)
		var x adminapi.UserExport
		if code2 != http.StatusOK || json.Unmarshal(raw, &x) != nil {
			t.Fatalf("export = %d %s", code2, raw)
		}
		if len(x.Factors) != 1 || x.Factors[0].Kind != "totp" || x.Factors[0].LastUsedAt == "" || x.RecoveryCodesLeft != 9 {
			t.Errorf("export factors = %+v, %d recovery codes left; want one TOTP factor and 9", x.Factors, x.RecoveryCodesLeft)
		}
		if strings.Contains(string(raw), e.secret) || strings.Contains(string(raw), e.recovery[0]) {
			t.Error("the export holds the TOTP secret or a recovery code")
		}

		// 6. Audited with the factor type, never a code.
		ok := ts.auditAll(t, url.Values{"type": {adminapi.EventMFASucceeded}})
		failed := ts.auditAll(t, url.Values{"type": {adminapi.EventMFAFailed}})
		if len(ok) != 3 || ok[0].Details["action"] != "enroll" || ok[2].Details["factor"] != "recovery_code" || len(failed) != 4 {
			t.Errorf("audit: %d succeeded %+v, %d failed; want 3 and 4", len(ok), ok, len(failed))
		}
		for _, en := range append(ok, failed...) {
			for _, v := range en.Details {
				if strings.Contains(v, code) || strings.Contains(v, e.recovery[3]) {
					t.Errorf("audit entry holds a code: %+v", en)
				}
			}
		}
	})
}

func TestMFAStepUpPromptNone(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, clk, _, c := mfaServer(t, cfg)
		b := newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		// Signed in with a password only: acr pwd.
		claims := b.consentAndRedeem(ts, clk, c, b.password(ts, authURL(c, "state-pn-0001", verifier, "nonce-0001")), verifier)
		wantAuthn(t, claims, "urn:idvauth:acr:pwd", "pwd")

		for name, opt := range map[string]oauth2.AuthCodeOption{
			"acr_values": oauth2.SetAuthURLParam("acr_values", acrMFA),
			"claims":     oauth2.SetAuthURLParam("claims", `{"id_token":{"acr":{"essential":true,"values":["`+acrMFA+`"]}}}`),
		} {
			p := b.get(authURL(c, "state-pn-0002", oauth2.GenerateVerifier(), "nonce-0002", opt, oauth2.SetAuthURLParam("prompt", "none")))
			res := redirectedToClient(t, p, redirectURI)
			if e := res.query.Get("error"); e != "login_required" && e != "interaction_required" || res.query.Get("state") != "state-pn-0002" {
				t.Errorf("%s with prompt=none = %s, want login_required or interaction_required", name, res.loc)
			}
			// Without prompt=none the signed-in person is asked to set up
			// a second factor.
			if p := b.follow(ts.Public, b.get(authURL(c, "state-pn-0003", oauth2.GenerateVerifier(), "nonce-0003", opt))); !p.isEnroll() {
				t.Errorf("%s = %d, want the enrollment page:\n%s", name, p.status, p.body)
			}
		}
		// A claims parameter that is not JSON is refused.
		p := b.get(authURL(c, "state-pn-0004", oauth2.GenerateVerifier(), "nonce-0004", oauth2.SetAuthURLParam("claims", "{not json")))
		if res := redirectedToClient(t, p, redirectURI); res.query.Get("error") != "invalid_request" {
			t.Errorf("bad claims = %s, want invalid_request", res.loc)
		}
	})
}

func TestMFARequiredSetting(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		cfg.MFA = "required"
		ts, clk, _, c := mfaServer(t, cfg)
		b := newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		p := b.password(ts, authURL(c, "state-req-0001", verifier, "nonce-0001"))
		_, p = b.enroll(ts, clk, p)
		wantAuthn(t, b.consentAndRedeem(ts, clk, c, p, verifier), acrMFA, "pwd", "otp", "mfa")
	})
}

// TestMFAThrottled: wrong codes are counted per account before they are
// checked: of many sent at once, no more than the limit are checked, and
// then even the right code is refused until the window ends.
func TestMFAThrottled(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		const limit, n = 3, 8
		cfg.LoginMaxFailures, cfg.LoginWindow = limit, time.Minute
		ts, clk, _, c := mfaServer(t, cfg)
		b := newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		e, p := b.enroll(ts, clk, b.password(ts, authURL(c, "state-th-0000", verifier, "nonce-0000", oauth2.SetAuthURLParam("acr_values", acrMFA))))
		b.consentAndRedeem(ts, clk, c, p, verifier)
		clk.Add(30 * time.Second)

		// n browsers past the password, then n wrong codes at once.
		browsers := make([]*browser, n)
		forms := make([]form, n)
		for i := range browsers {
			browsers[i] = newBrowser(t)
			p := browsers[i].password(ts, authURL(c, "state-th-0001", oauth2.GenerateVerifier(), "nonce-0001"))
			forms[i] = p.onlyForm(t)
		}
		var wg sync.WaitGroup
		statuses := make([]int, n)
		for i := range browsers {
			wg.Go(func() {
				statuses[i] = browsers[i].submit(ts.Public, forms[i], url.Values{"code": {"999999"}}).status
			})
		}
		wg.Wait()
		checked := 0
		for _, en := range ts.auditAll(t, url.Values{"type": {adminapi.EventMFAFailed}}) {
			if en.Outcome == "wrong_code" {
				checked++
			}
		}
		throttled := 0
		for _, st := range statuses {
			if st == http.StatusTooManyRequests {
				throttled++
			}
		}
		if checked > limit || checked+throttled != n {
			t.Errorf("%d concurrent wrong codes: %d checked, %d throttled (statuses %v); want at most %d checked, the rest 429", n, checked, throttled, statuses, limit)
		}
		// Now the right code is refused too, until the window ends.
		if p := browsers[0].submit(ts.Public, forms[0], url.Values{"code": {totpCode(t, e.secret, clk)}}); p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" {
			t.Errorf("right code while throttled = %d, want 429 with Retry-After", p.status)
		}
		clk.Add(2 * time.Minute)
		verifier = oauth2.GenerateVerifier()
		p = browsers[1].password(ts, authURL(c, "state-th-0002", verifier, "nonce-0002"))
		p = browsers[1].submit(ts.Public, p.onlyForm(t), url.Values{"code": {totpCode(t, e.secret, clk)}})
		wantAuthn(t, browsers[1].consentAndRedeem(ts, clk, c, p, verifier), acrMFA, "otp", "mfa")
	})
}

// createStepUpClient registers a web client with the step-up fields in
// extra.
func (ts *testServer) createStepUpClient(t testing.TB, extra map[string]any) webClient {
	t.Helper()
	req := map[string]any{"client_name": "Step-up App", "grant_types": []string{"authorization_code"}, "redirect_uris": []string{redirectURI},
		"scope": "openid"}
	for k, v := range extra {
		req[k] = v
	}
	c := adminCall[adminapi.ClientJSON](t, ts, "POST", "/admin/clients", req, http.StatusCreated)
	return webClient{ClientJSON: c, cfg: &oauth2.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, RedirectURL: redirectURI, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: ts.Public + "/oauth2/authorize", TokenURL: ts.Public + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader},
	}}
}

// TestMFAClientFields: a client's require_mfa and default_acr_values lead
// a password-only person to set up a second factor; a request's own
// acr_values take the place of the defaults; bad values are refused.
func TestMFAClientFields(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, clk, _, plain := mfaServer(t, cfg)
		required := ts.createStepUpClient(t, map[string]any{"require_mfa": true})
		if !required.RequireMFA || len(required.DefaultACRValues) != 0 {
			t.Errorf("created client = %+v, want require_mfa", required.ClientJSON)
		}
		byDefault := ts.createStepUpClient(t, map[string]any{"default_acr_values": []string{acrMFA}})
		if got := adminCall[adminapi.ClientJSON](t, ts, "GET", "/admin/clients/"+byDefault.ClientID, nil, http.StatusOK); len(got.DefaultACRValues) != 1 || got.DefaultACRValues[0] != acrMFA {
			t.Errorf("read back default_acr_values = %q", got.DefaultACRValues)
		}

		// The plain client signs in with a password alone.
		b := newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		wantAuthn(t, b.consentAndRedeem(ts, clk, plain, b.password(ts, authURL(plain, "state-cf-0001", verifier, "nonce-1")), verifier),
			"urn:idvauth:acr:pwd", "pwd")
		// A request that asks for a password only, to the default_acr_values
		// client, is met with the password.
		p := b.follow(ts.Public, b.get(authURL(byDefault, "state-cf-0002", oauth2.GenerateVerifier(), "nonce-2",
			oauth2.SetAuthURLParam("acr_values", "urn:idvauth:acr:pwd"))))
		if !p.isConsent() {
			t.Fatalf("acr_values=pwd to a default-mfa client = %d, want consent:\n%s", p.status, p.body)
		}
		// Without acr_values, the default asks for the second factor.
		if p := b.follow(ts.Public, b.get(authURL(byDefault, "state-cf-0003", oauth2.GenerateVerifier(), "nonce-3"))); !p.isEnroll() {
			t.Fatalf("default_acr_values client = %d, want enrollment:\n%s", p.status, p.body)
		}
		// require_mfa: enrollment, whatever the request says.
		verifier = oauth2.GenerateVerifier()
		p = b.follow(ts.Public, b.get(authURL(required, "state-cf-0004", verifier, "nonce-4", oauth2.SetAuthURLParam("acr_values", "urn:idvauth:acr:pwd"))))
		_, p = b.enroll(ts, clk, p)
		wantAuthn(t, b.consentAndRedeem(ts, clk, required, p, verifier), acrMFA, "pwd", "otp", "mfa")

		for name, req := range map[string]map[string]any{
			"unknown acr":       {"default_acr_values": []string{"urn:other"}, "grant_types": []string{"authorization_code"}, "redirect_uris": []string{redirectURI}},
			"acr twice":         {"default_acr_values": []string{acrMFA, acrMFA}, "grant_types": []string{"authorization_code"}, "redirect_uris": []string{redirectURI}},
			"mfa for a service": {"require_mfa": true, "grant_types": []string{"client_credentials"}},
			"acr not a list":    {"default_acr_values": acrMFA, "grant_types": []string{"authorization_code"}, "redirect_uris": []string{redirectURI}},
			"require_mfa text":  {"require_mfa": "yes", "grant_types": []string{"authorization_code"}, "redirect_uris": []string{redirectURI}},
		} {
			req["client_name"] = "Bad"
			if code, body := ts.adminJSON(t, "POST", "/admin/clients", req); code != http.StatusBadRequest || !strings.Contains(string(body), "error") {
				t.Errorf("%s: create = %d %s, want 400", name, code, body)
			}
		}
		// Turning require_mfa off by update works.
		in := required.Metadata()
		in.RequireMFA = false
		if got := adminCall[adminapi.ClientJSON](t, ts, "PUT", "/admin/clients/"+required.ClientID, in, http.StatusOK); got.RequireMFA {
			t.Error("update kept require_mfa")
		}
	})
}

// TestMFAAdminReset: an operator's reset removes the person's factors and
// recovery codes (the next sign-in that needs one sets one up again), is
// audited, and refuses bad requests without changing anything.
func TestMFAAdminReset(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, clk, user, c := mfaServer(t, cfg)
		b := newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		e, p := b.enroll(ts, clk, b.password(ts, authURL(c, "state-ar-0001", verifier, "nonce-1", oauth2.SetAuthURLParam("acr_values", acrMFA))))
		b.consentAndRedeem(ts, clk, c, p, verifier)

		path := "/admin/users/" + user.ID + "/mfa/reset"
		for _, tc := range []struct {
			method, path string
			want         int
		}{
			{"GET", path, http.StatusMethodNotAllowed},
			{"DELETE", path, http.StatusMethodNotAllowed},
			{"POST", "/admin/users/u_nobody/mfa/reset", http.StatusNotFound},
			{"POST", "/admin/users/" + user.ID + "/mfa", http.StatusNotFound},
		} {
			if code, body := ts.adminJSON(t, tc.method, tc.path, nil); code != tc.want || !strings.Contains(string(body), `"error"`) {
				t.Errorf("%s %s = %d %s, want %d with an error", tc.method, tc.path, code, body, tc.want)
			}
		}
		// Without the admin token: refused.
		req, _ := http.NewRequest("POST", ts.Admin+path, nil)
		if code, _, _ := do(t, req); code != http.StatusUnauthorized {
			t.Errorf("reset without the admin token = %d, want 401", code)
		}
		// Nothing changed so far: the factor still asks for its code.
		b2 := newBrowser(t)
		if p := b2.password(ts, authURL(c, "state-ar-0002", oauth2.GenerateVerifier(), "nonce-2")); !p.isMFA() {
			t.Fatalf("before the reset = %d, want the code page", p.status)
		}

		got := adminCall[adminapi.MFAReset](t, ts, "POST", path, nil, http.StatusOK)
		if got != (adminapi.MFAReset{UserID: user.ID, FactorsRemoved: 1, SessionsEnded: 1}) {
			t.Errorf("reset = %+v, want 1 factor removed and 1 session ended", got)
		}
		// The session the lost factor opened ended with it.
		if p := b.follow(ts.Public, b.get(authURL(c, "state-ar-0006", oauth2.GenerateVerifier(), "nonce-6"))); !p.isLogin() {
			t.Errorf("the browser signed in before the reset = %d, want the login page again", p.status)
		}
		if es := ts.auditAll(t, url.Values{"type": {adminapi.EventMFAReset}}); len(es) != 1 || es[0].Subject != user.ID || es[0].Details["factors_removed"] != "1" {
			t.Errorf("user.mfa_reset entries = %+v", es)
		}
		// A password now suffices where nothing asks for more, recovery
		// codes are gone, and a step-up leads to a new enrollment.
		b3 := newBrowser(t)
		verifier = oauth2.GenerateVerifier()
		wantAuthn(t, b3.consentAndRedeem(ts, clk, c, b3.password(ts, authURL(c, "state-ar-0003", verifier, "nonce-3")), verifier),
			"urn:idvauth:acr:pwd", "pwd")
		verifier = oauth2.GenerateVerifier()
		p = b3.follow(ts.Public, b3.get(authURL(c, "state-ar-0004", verifier, "nonce-4", oauth2.SetAuthURLParam("acr_values", acrMFA))))
		if !p.isEnroll() {
			t.Fatalf("step-up after the reset = %d, want enrollment", p.status)
		}
		clk.Add(30 * time.Second)
		e2, p := b3.enroll(ts, clk, p)
		b3.consentAndRedeem(ts, clk, c, p, verifier)
		// The old recovery codes went with the reset; the new ones work.
		b4 := newBrowser(t)
		p = b4.password(ts, authURL(c, "state-ar-0005", oauth2.GenerateVerifier(), "nonce-5"))
		form := p.onlyForm(t)
		if p = b4.submit(ts.Public, form, url.Values{"code": {e.recovery[0]}}); !p.isMFA() {
			t.Errorf("an old recovery code after the reset = %d, want refused", p.status)
		}
		if p = b4.submit(ts.Public, form, url.Values{"code": {e2.recovery[0]}}); p.status != http.StatusSeeOther {
			t.Errorf("a new recovery code = %d, want signed in:\n%s", p.status, p.body)
		}
	})
}

// TestMFANoShortcut: between the password and the code nothing is signed
// in: the authorization endpoint asks for the password again, the pending
// state does not work in another browser, and max_age still asks for
// both steps again. A refreshed ID token keeps amr and acr.
func TestMFANoShortcut(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, clk, _, c := mfaServer(t, cfg)
		b := newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		e, p := b.enroll(ts, clk, b.password(ts, authURL(c, "state-ns-0001", verifier, "nonce-1", oauth2.SetAuthURLParam("acr_values", acrMFA))))
		b.consentAndRedeem(ts, clk, c, p, verifier)
		clk.Add(30 * time.Second)

		// Password done, code not yet: authorize again shows the login page.
		b2 := newBrowser(t)
		p = b2.password(ts, authURL(c, "state-ns-0002", oauth2.GenerateVerifier(), "nonce-2"))
		form := p.onlyForm(t)
		if p := b2.follow(ts.Public, b2.get(authURL(c, "state-ns-0003", oauth2.GenerateVerifier(), "nonce-3"))); !p.isLogin() {
			t.Fatalf("authorize between the steps = %d, want the login page:\n%s", p.status, p.body)
		}
		// The pending cookie copied into another browser (with its own
		// CSRF cookie) is worth nothing there: back to the login page.
		thief := newBrowser(t)
		pub, _ := url.Parse(ts.Public)
		for _, ck := range b2.client.Jar.Cookies(pub) {
			if ck.Name == "idvauth_mfa" {
				thief.client.Jar.SetCookies(pub, []*http.Cookie{ck})
			}
		}
		tp := thief.follow(ts.Public, thief.get(authURL(c, "state-ns-0004", oauth2.GenerateVerifier(), "nonce-4")))
		if tp = thief.submit(ts.Public, form, url.Values{"csrf": {tp.onlyForm(t).values.Get("csrf")}, "code": {totpCode(t, e.secret, clk)}}); !tp.isLogin() {
			t.Fatalf("a pending state in another browser = %d, want the login page:\n%s", tp.status, tp.body)
		}
		// The code in the right browser still works (the thief's try did
		// not use it up).
		verifier = oauth2.GenerateVerifier()
		p = b2.password(ts, authURL(c, "state-ns-0005", verifier, "nonce-5"))
		p = b2.submit(ts.Public, p.onlyForm(t), url.Values{"code": {totpCode(t, e.secret, clk)}})
		if p.isConsent() {
			p = b2.submit(ts.Public, p.onlyForm(t), url.Values{"decision": {"allow"}})
		}
		res := redirectedToClient(t, p, redirectURI)
		tok, err := c.cfg.Exchange(ctxb(), res.query.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}

		// A refreshed ID token says how the grant was signed in.
		code, _, body := post(t, ts.Public+"/oauth2/token", c.ClientID, c.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
		var refreshed struct {
			IDToken string `json:"id_token"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &refreshed) != nil {
			t.Fatalf("refresh = %d %s", code, body)
		}
		wantAuthn(t, ts.idTokenAt(t, refreshed.IDToken, c.ClientID, clk.Now()), acrMFA, "pwd", "otp", "mfa")

		// max_age=0: both steps again.
		clk.Add(30 * time.Second)
		p = b2.follow(ts.Public, b2.get(authURL(c, "state-ns-0006", oauth2.GenerateVerifier(), "nonce-6", oauth2.SetAuthURLParam("max_age", "0"))))
		if !p.isLogin() {
			t.Fatalf("max_age=0 = %d, want the login page", p.status)
		}
		if p = b2.submit(ts.Public, p.onlyForm(t), url.Values{"username": {"ada"}, "password": {testPassword}}); !p.isMFA() {
			t.Fatalf("max_age=0 after the password = %d, want the code page", p.status)
		}
	})
}

// TestMFALogsHoldNoCodes: the second-factor flow logs no TOTP secret, code,
// recovery code or pending state.
func TestMFALogsHoldNoCodes(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	ts, clk, _, c := mfaServer(t, authz.Config{Logger: zap.New(core)})
	b := newBrowser(t)
	verifier := oauth2.GenerateVerifier()
	p := b.password(ts, authURL(c, "state-lg-0001", verifier, "nonce-1", oauth2.SetAuthURLParam("acr_values", acrMFA)))
	var secrets []string
	pub, _ := url.Parse(ts.Public)
	for _, ck := range b.client.Jar.Cookies(pub) {
		secrets = append(secrets, ck.Value) // the pending state and CSRF token
	}
	e, p := b.enroll(ts, clk, p)
	b.consentAndRedeem(ts, clk, c, p, verifier)
	clk.Add(30 * time.Second)
	b2 := newBrowser(t)
	p = b2.password(ts, authURL(c, "state-lg-0002", oauth2.GenerateVerifier(), "nonce-2"))
	form := p.onlyForm(t)
	code := totpCode(t, e.secret, clk)
	b2.submit(ts.Public, form, url.Values{"code": {"123456"}})
	b2.submit(ts.Public, form, url.Values{"code": {code}})
	b3 := newBrowser(t)
	p = b3.password(ts, authURL(c, "state-lg-0003", oauth2.GenerateVerifier(), "nonce-3"))
	b3.submit(ts.Public, p.onlyForm(t), url.Values{"code": {e.recovery[1]}})
	if logs.FilterMessage("second factor").Len() < 4 {
		t.Fatalf("%d second-factor log entries, want 4 or more: the test would prove nothing", logs.FilterMessage("second factor").Len())
	}
	secrets = append(secrets, e.secret, e.code, code, "123456")
	secrets = append(secrets, e.recovery...)
	for _, en := range logs.All() {
		line, _ := json.Marshal(en.ContextMap())
		for _, s := range secrets {
			if strings.Contains(en.Message+string(line), s) || strings.Contains(string(line), strings.ReplaceAll(s, "-", "")) {
				t.Fatalf("log entry %q holds a secret, code or cookie: %s", en.Message, line)
			}
		}
	}
}
