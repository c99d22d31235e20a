package authz_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/browsertest"
	"github.com/idvauth/idvauth/authz/mfa"
	"github.com/idvauth/idvauth/templates"
)

// secondStepButton is the passkey button of the second-factor page.
const secondStepButton = `button[data-webauthn="get"][data-webauthn-finish^="/login/mfa/passkey?"]`

// passkeyFlow is one person's browser against a server at
// http://localhost (WebAuthn's secure context and relying party ID).
type passkeyFlow struct {
	t    *testing.T
	ts   *testServer
	c    webClient
	cb   *callbackServer
	tab  *browsertest.Tab
	auth *browsertest.Authenticator
}

// authorize opens the client's authorization URL with extra parameters
// and returns the verifier and nonce.
func (f *passkeyFlow) authorize(waitFor string, extra ...oauth2.AuthCodeOption) (verifier, nonce string) {
	verifier, nonce = oauth2.GenerateVerifier(), randomString(24)
	f.tab.Run(f.t, chromedp.Navigate(authURL(f.c, "state-passkey-0001", verifier, nonce, extra...)), chromedp.WaitVisible(chromedp.CSS(waitFor)))
	return verifier, nonce
}

// redeem waits for the callback, redeems its code and returns the ID
// token's claims.
func (f *passkeyFlow) redeem(verifier string) map[string]any {
	f.t.Helper()
	f.tab.Run(f.t, chromedp.WaitVisible(chromedp.ID("callback")))
	q := f.cb.next(f.t)
	tok, err := f.c.cfg.Exchange(ctxb(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		f.t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	return f.ts.idTokenAt(f.t, raw, f.c.ClientID, time.Now())
}

// logout signs the browser out through the logout page.
func (f *passkeyFlow) logout() {
	f.tab.Run(f.t, chromedp.Navigate(f.ts.Public+"/logout"), chromedp.WaitVisible(chromedp.CSS("button[type=submit]")),
		chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("p.message")))
}

// wantPasskeyAuthn checks that claims are of a phishing-resistant
// sign-in with a passkey: acr phr, amr with hwk or swk and mfa, and pwd
// exactly when withPassword.
func wantPasskeyAuthn(t *testing.T, claims map[string]any, withPassword bool) {
	t.Helper()
	var amr []string
	for _, v := range claims["amr"].([]any) {
		amr = append(amr, v.(string))
	}
	if claims["acr"] != mfa.ACRPhishingResistant || !slices.Contains(amr, "mfa") ||
		!(slices.Contains(amr, "hwk") || slices.Contains(amr, "swk")) || slices.Contains(amr, "pwd") != withPassword {
		t.Errorf("acr %v, amr %q; want %s, hwk or swk, mfa, pwd: %t", claims["acr"], amr, mfa.ACRPhishingResistant, withPassword)
	}
}

// TestChromiumPasskeys walks passkeys in a real Chromium with a virtual
// authenticator, on both backends: a person signs in with a password,
// adds a passkey on /account/passkeys and names it; signs in with the
// passkey alone (acr phr, amr hwk|swk and mfa); then, asked by the
// client for acr phr after a password, uses it as the second step (the
// code form is not offered); a copy of the authenticator whose counter
// went back is refused and audited. No page violates its CSP or throws.
// The server time of the passkey sign-ins is logged from /metrics.
func TestChromiumPasskeys(t *testing.T) {
	browser := browsertest.Start(t)
	pages, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	backends(t, func(t *testing.T, cfg authz.Config) {
		cfg.RateLimits.LoginPerIP = -1
		ts := startServer(t, codeFlowConfig(cfg), serverOptions{Localhost: true})
		user := ts.createUser(t, "ada")
		cb := startCallback(t)
		f := &passkeyFlow{t: t, ts: ts, cb: cb, c: ts.createWebClient(t, adminapi.ClientJSON{RedirectURIs: []string{cb.URL}}), tab: browser.NewTab(t)}
		f.auth = f.tab.AddAuthenticator(t)

		// The login page offers a passkey, under the script policy.
		verifier := oauth2.GenerateVerifier()
		resp := browsertest.Get(t, f.tab, chromedp.NavigateResponse(authURL(f.c, "state-passkey-0001", verifier, "nonce-passkey-01")))
		f.tab.Run(t, chromedp.WaitVisible(chromedp.CSS(`button[data-webauthn="get"]`)))
		if got, want := resp.Headers["Content-Security-Policy"], pages.CSPScript(strings.TrimSuffix(cb.URL, "/callback")); got != want {
			t.Errorf("login page CSP %q, want %q", got, want)
		}
		// A password first: signed in with pwd.
		f.tab.Run(t,
			chromedp.SendKeys(chromedp.ID("username"), "ada"),
			chromedp.SendKeys(chromedp.ID("password"), testPassword),
			chromedp.Click(chromedp.CSS("button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS(`button[name=decision][value=allow]`)),
			chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`)),
		)
		wantAuthn(t, f.redeem(verifier), mfa.ACRPassword, "pwd")
		f.tab.CheckClean(t, "password sign-in")

		// Add a passkey and name it.
		f.tab.Run(t, chromedp.Navigate(ts.Public+"/account/passkeys"), chromedp.WaitVisible(chromedp.CSS(`button[data-webauthn="create"]`)),
			chromedp.Click(chromedp.CSS(`button[data-webauthn="create"]`)), chromedp.WaitVisible(chromedp.ID("done-added")))
		if creds := f.auth.Credentials(t); len(creds) != 1 || !creds[0].IsResidentCredential || creds[0].RpID != "localhost" ||
			string(creds[0].UserHandle) == "ada" || string(creds[0].UserHandle) == user.ID {
			t.Fatalf("authenticator holds %+v, want one resident credential for localhost with a random user handle", creds)
		}
		f.tab.Run(t, chromedp.SetValue(chromedp.CSS(`input[name=name]`), "Laptop"),
			chromedp.Click(chromedp.CSS(`ul button[type=submit]:not([formaction])`)), chromedp.WaitVisible(chromedp.ID("done-renamed")))
		if got := browsertest.Get(t, f.tab, chromedp.Text(chromedp.CSS("ul strong"))); got != "Laptop" {
			t.Errorf("passkey listed as %q, want Laptop", got)
		}
		f.tab.CheckClean(t, "account passkeys page")
		f.logout()

		// The passkey alone.
		verifier, _ = f.authorize(`button[data-webauthn="get"]`)
		f.tab.Run(t, chromedp.Click(chromedp.CSS(`button[data-webauthn="get"]`)))
		wantPasskeyAuthn(t, f.redeem(verifier), false)
		f.tab.CheckClean(t, "passkey sign-in")
		f.logout()

		// Step-up to phr after a password: the passkey is the second step
		// and the only one offered.
		verifier, _ = f.authorize("#password", oauth2.SetAuthURLParam("acr_values", mfa.ACRPhishingResistant))
		f.tab.Run(t,
			chromedp.SendKeys(chromedp.ID("username"), "ada"),
			chromedp.SendKeys(chromedp.ID("password"), testPassword),
			chromedp.Click(chromedp.CSS("button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS(secondStepButton)),
		)
		if n := browsertest.Get(t, f.tab, chromedp.Evaluate[int](`document.querySelectorAll("#code").length`)); n != 0 {
			t.Error("a request for phr offered the code form")
		}
		f.tab.Run(t, chromedp.Click(chromedp.CSS(secondStepButton)))
		wantPasskeyAuthn(t, f.redeem(verifier), true)
		f.tab.CheckClean(t, "passkey as the second step")
		f.logout()

		// A clone: the same key with a counter that went back.
		f.auth.CopyCredentials(t)
		f.authorize(`button[data-webauthn="get"]`)
		f.tab.Run(t, chromedp.Click(chromedp.CSS(`button[data-webauthn="get"]`)), chromedp.WaitVisible(chromedp.ID("passkey-status")))
		if msg := browsertest.Get(t, f.tab, chromedp.Text(chromedp.ID("passkey-status"))); !strings.Contains(msg, "not accepted") {
			t.Errorf("clone: the page says %q, want the passkey refused", msg)
		}
		if loc := f.tab.Location(t); !strings.HasPrefix(loc, ts.Public+"/oauth2/authorize") {
			t.Errorf("clone: the browser went on to %s", loc)
		}
		cloned := ts.auditAll(t, url.Values{"type": {adminapi.EventMFAFailed}})
		if !slices.ContainsFunc(cloned, func(e adminapi.AuditEntryJSON) bool {
			return e.Outcome == "cloned" && e.Subject == user.ID && e.Details["factor"] == "webauthn"
		}) {
			t.Errorf("no login.mfa_failed entry with outcome cloned for the person: %+v", cloned)
		}
		f.tab.CheckClean(t, "cloned passkey refused")

		fams := ts.scrape(t)
		for _, m := range fams["idvauth_http_request_duration_seconds"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "endpoint" && strings.Contains(l.GetValue(), "passkey") && m.GetHistogram().GetSampleCount() > 0 {
					h := m.GetHistogram()
					t.Logf("server time %s: %d requests, mean %.2f ms", l.GetValue(), h.GetSampleCount(), 1000*h.GetSampleSum()/float64(h.GetSampleCount()))
				}
			}
		}
	})
}

// TestChromiumPasskeyEnroll: with IDVAUTH_MFA=required a person who has
// no factor is offered a passkey beside the authenticator app; setting
// one up signs them in with it (acr phr, amr pwd, hwk|swk and mfa), and
// the next sign-in asks for it as the second step.
func TestChromiumPasskeyEnroll(t *testing.T) {
	browser := browsertest.Start(t)
	backends(t, func(t *testing.T, cfg authz.Config) {
		cfg.RateLimits.LoginPerIP = -1
		cfg.MFA = "required"
		ts := startServer(t, codeFlowConfig(cfg), serverOptions{Localhost: true})
		ts.createUser(t, "bob")
		cb := startCallback(t)
		f := &passkeyFlow{t: t, ts: ts, cb: cb, c: ts.createWebClient(t, adminapi.ClientJSON{RedirectURIs: []string{cb.URL}}), tab: browser.NewTab(t)}
		f.auth = f.tab.AddAuthenticator(t)
		password := func() string {
			verifier, _ := f.authorize("#password")
			f.tab.Run(t,
				chromedp.SendKeys(chromedp.ID("username"), "bob"),
				chromedp.SendKeys(chromedp.ID("password"), testPassword),
				chromedp.Click(chromedp.CSS("button[type=submit]")),
			)
			return verifier
		}
		verifier := password()
		enroll := `button[data-webauthn="create"][data-webauthn-finish^="/login/mfa/enroll/passkey?"]`
		f.tab.Run(t, chromedp.WaitVisible(chromedp.CSS(enroll)))
		if n := browsertest.Get(t, f.tab, chromedp.Evaluate[int](`document.querySelectorAll("#code").length`)); n != 1 {
			t.Error("the setup page does not offer the authenticator app beside the passkey")
		}
		f.tab.CheckClean(t, "setup page")
		f.tab.Run(t, chromedp.Click(chromedp.CSS(enroll)),
			chromedp.WaitVisible(chromedp.CSS(`button[name=decision][value=allow]`)), chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`)))
		wantPasskeyAuthn(t, f.redeem(verifier), true)
		f.tab.CheckClean(t, "passkey set up in the flow")
		f.logout()

		verifier = password()
		f.tab.Run(t, chromedp.WaitVisible(chromedp.CSS(secondStepButton)), chromedp.Click(chromedp.CSS(secondStepButton)))
		wantPasskeyAuthn(t, f.redeem(verifier), true)
		f.tab.CheckClean(t, "second step with the new passkey")
	})
}
