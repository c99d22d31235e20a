package authz_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/browsertest"
	"github.com/idvauth/idvauth/templates"
)

// callbackServer is a web app's redirect URI on loopback: it hands each
// request's query to the test and shows a page of its own.
type callbackServer struct {
	URL   string
	query chan url.Values
}

func startCallback(t *testing.T) *callbackServer {
	t.Helper()
	cb := &callbackServer{query: make(chan url.Values, 4)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		cb.query <- r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		_, _ = w.Write([]byte(`<!doctype html><html lang="en"><title>app</title><p id="callback">Back at the app</p>`))
	}))
	t.Cleanup(srv.Close)
	cb.URL = srv.URL + "/callback"
	return cb
}

// next returns the query of the next callback, failing t if none comes.
func (cb *callbackServer) next(t *testing.T) url.Values {
	t.Helper()
	select {
	case q := <-cb.query:
		return q
	case <-time.After(browsertest.StepTimeout):
		t.Fatal("the browser did not reach the client's redirect URI")
		return nil
	}
}

// TestChromiumCodeFlow runs the authorization-code flow in a real
// Chromium over loopback HTTP, as a person does it: the client's
// authorization URL (PKCE, nonce) leads to the login page; a wrong
// password shows the error on it; the right one leads to consent; Allow
// returns to the client's redirect URI with a code, which x/oauth2
// exchanges with the verifier; the logout page signs the browser out.
// No page may violate its Content-Security-Policy or throw.
func TestChromiumCodeFlow(t *testing.T) {
	browser := browsertest.Start(t)
	pages, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, codeFlowConfig(cfg))
		user := ts.createUser(t, "ada")
		cb := startCallback(t)
		c := ts.createWebClient(t, adminapi.ClientJSON{RedirectURIs: []string{cb.URL}})
		tab := browser.NewTab(t)

		state, verifier, nonce := randomString(24), oauth2.GenerateVerifier(), randomString(24)
		resp := browsertest.Get(t, tab, chromedp.NavigateResponse(authURL(c, state, verifier, nonce)))
		tab.Run(t, chromedp.WaitVisible(chromedp.ID("username")))
		if loc := tab.Location(t); !strings.HasPrefix(loc, ts.Public+"/") {
			t.Fatalf("authorization URL led to %s, want the server's login page", loc)
		}
		// The policy the browser enforced: no script at all, form posts
		// to the server and the client's redirect origin only.
		if got, want := resp.Headers["Content-Security-Policy"], pages.CSPFormAction(strings.TrimSuffix(cb.URL, "/callback")); resp.Status != http.StatusOK || got != want {
			t.Errorf("login page: %d with CSP %q, want 200 with %q", resp.Status, got, want)
		}
		tab.CheckClean(t, "login page")

		// A wrong password: the login page again, with the error, the
		// username kept, the password not.
		tab.Run(t,
			chromedp.SendKeys(chromedp.ID("username"), "ada"),
			chromedp.SendKeys(chromedp.ID("password"), "not the password"),
			chromedp.Click(chromedp.CSS("button[type=submit]")),
			chromedp.WaitVisible(chromedp.ID("error")),
		)
		if msg := browsertest.Get(t, tab, chromedp.Text(chromedp.ID("error"))); msg == "" {
			t.Error("wrong password: the error alert is empty")
		}
		if u, p := browsertest.Get(t, tab, chromedp.Value(chromedp.ID("username"))), browsertest.Get(t, tab, chromedp.Value(chromedp.ID("password"))); u != "ada" || p != "" {
			t.Errorf("after a wrong password the form holds %q / %d characters of password, want ada / none", u, len(p))
		}
		tab.CheckClean(t, "login page with an error")

		// The right password: consent.
		tab.Run(t,
			chromedp.SendKeys(chromedp.ID("password"), testPassword),
			chromedp.Click(chromedp.CSS("button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS(`button[name=decision][value=allow]`)),
		)
		if text := browsertest.Get(t, tab, chromedp.Text(chromedp.CSS("h1"))); !strings.Contains(text, "Acme Onboarding") {
			t.Errorf("consent heading = %q, want the client's name", text)
		}
		tab.CheckClean(t, "consent page")

		// Allow: back at the client with the code.
		tab.Run(t, chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`)), chromedp.WaitVisible(chromedp.ID("callback")))
		q := cb.next(t)
		if q.Get("state") != state || q.Get("iss") != ts.Public || q.Get("code") == "" {
			t.Fatalf("callback with state %q, iss %q, code set %v; want %q, %q, a code", q.Get("state"), q.Get("iss"), q.Get("code") != "", state, ts.Public)
		}
		tab.CheckClean(t, "redirect to the client")
		tok, err := c.cfg.Exchange(ctxb(), q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		rawID, _ := tok.Extra("id_token").(string)
		if idc := ts.verifyIDToken(t, rawID, c.ClientID, jose.RS256); idc.Subject != user.ID || idc.Nonce != nonce {
			t.Errorf("ID token sub %s, nonce %s; want %s, %s", idc.Subject, idc.Nonce, user.ID, nonce)
		}
		if _, err := c.cfg.Exchange(ctxb(), q.Get("code"), oauth2.VerifierOption(verifier)); err == nil {
			t.Error("the code was redeemed twice")
		}

		// Signed in: a new authorization skips the login page (consent
		// is remembered), straight back to the client.
		tab.Run(t, chromedp.Navigate(authURL(c, "state-again-000001", oauth2.GenerateVerifier(), "nonce-again-01")), chromedp.WaitVisible(chromedp.ID("callback")))
		if q := cb.next(t); q.Get("code") == "" || q.Get("state") != "state-again-000001" {
			t.Errorf("signed-in authorization came back with state %q, code set %v", q.Get("state"), q.Get("code") != "")
		}

		// Logout: the confirmation page, then the message; the next
		// authorization asks for the password again.
		tab.Run(t, chromedp.Navigate(ts.Public+"/logout"), chromedp.WaitVisible(chromedp.CSS("button[type=submit]")))
		tab.CheckClean(t, "logout page")
		tab.Run(t, chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("p.message")))
		if h := browsertest.Get(t, tab, chromedp.Text(chromedp.CSS("h1"))); h != "You are signed out" {
			t.Errorf("after logout the page says %q, want You are signed out", h)
		}
		tab.CheckClean(t, "signed-out page")
		tab.Run(t, chromedp.Navigate(authURL(c, state, oauth2.GenerateVerifier(), nonce)), chromedp.WaitVisible(chromedp.ID("password")))
		tab.CheckClean(t, "login page after logout")
	})
}

// TestChromiumLogoutConfirmation: in a real Chromium, RP-initiated logout
// without a hint shows the confirmation page (no CSP violation, its form
// allowed to lead to the client's registered URI); confirming signs the
// browser out and lands at the post_logout_redirect_uri with state.
func TestChromiumLogoutConfirmation(t *testing.T) {
	browser := browsertest.Start(t)
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, codeFlowConfig(cfg))
		ts.createUser(t, "ada")
		cb := startCallback(t)
		c := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Logout App", RedirectURIs: []string{cb.URL}, PostLogoutRedirectURIs: []string{cb.URL}})
		tab := browser.NewTab(t)
		tab.Run(t, chromedp.Navigate(authURL(c, randomString(24), oauth2.GenerateVerifier(), randomString(24))), chromedp.WaitVisible(chromedp.ID("username")),
			chromedp.SendKeys(chromedp.ID("username"), "ada"), chromedp.SendKeys(chromedp.ID("password"), testPassword),
			chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.WaitVisible(chromedp.CSS(`button[name=decision][value=allow]`)),
			chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`)), chromedp.WaitVisible(chromedp.ID("callback")))
		cb.next(t)

		q := url.Values{"client_id": {c.ClientID}, "post_logout_redirect_uri": {cb.URL}, "state": {"state-logout-1"}}
		tab.Run(t, chromedp.Navigate(ts.Public+"/oauth2/logout?"+q.Encode()), chromedp.WaitVisible(chromedp.CSS("button[type=submit]")))
		if text := browsertest.Get(t, tab, chromedp.Text(chromedp.CSS("p.lead"))); !strings.Contains(text, "Logout App") {
			t.Errorf("confirmation page says %q, want the client's name", text)
		}
		tab.CheckClean(t, "logout confirmation page")
		tab.Run(t, chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.WaitVisible(chromedp.ID("callback")))
		if got := cb.next(t); got.Get("state") != "state-logout-1" || got.Has("code") {
			t.Errorf("after logout the app got %v, want only state=state-logout-1", got)
		}
		tab.CheckClean(t, "post-logout redirect")
		tab.Run(t, chromedp.Navigate(authURL(c, randomString(24), oauth2.GenerateVerifier(), randomString(24))), chromedp.WaitVisible(chromedp.ID("password")))
	})
}
