package authz_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/internal/browsertest"
)

// TestChromiumAccount walks the account page in a real Chromium: /account
// leads to the sign-in page and back; the sessions list shows this
// browser and another, which it ends; an authenticator app is set up from
// the otpauth URI the page shows as text (and as an SVG QR code),
// confirmed with a code computed from it, and the recovery codes are
// shown; the password is changed. No page may violate its
// Content-Security-Policy or throw.
func TestChromiumAccount(t *testing.T) {
	browser := browsertest.Start(t)
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, clk, _, _ := mfaServer(t, cfg)
		other := newBrowser(t)
		other.accountSignIn(ts, clk, "ada", testPassword, "")
		tab := browser.NewTab(t)

		// Not signed in: the sign-in page, then back to the account.
		tab.Run(t, chromedp.Navigate(ts.Public+"/account"), chromedp.WaitVisible(chromedp.ID("username")))
		if loc := tab.Location(t); !strings.HasPrefix(loc, ts.Public+"/account/signin") {
			t.Fatalf("/account led to %s, want the sign-in page", loc)
		}
		tab.CheckClean(t, "sign-in page")
		tab.Run(t,
			chromedp.SendKeys(chromedp.ID("username"), "ada"),
			chromedp.SendKeys(chromedp.ID("password"), testPassword),
			chromedp.Click(chromedp.CSS("button[type=submit]")),
			chromedp.WaitVisible(chromedp.ID("profile-username")),
		)
		if loc := tab.Location(t); loc != ts.Public+"/account" {
			t.Errorf("after sign-in at %s, want %s/account", loc, ts.Public)
		}
		if u := browsertest.Get(t, tab, chromedp.Text(chromedp.ID("profile-username"))); u != "ada" {
			t.Errorf("profile username = %q, want ada", u)
		}
		tab.CheckClean(t, "account page")

		// Sessions: this browser and the other; end the other.
		items := browsertest.Get(t, tab, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("ul.sessions > li")).map(li => li.textContent)`))
		if len(items) != 2 {
			t.Fatalf("sessions listed = %q, want 2", items)
		}
		// This browser is named by its summary (headless Chromium on
		// Linux); the other signed in with Go's client, which names none.
		if !slices.ContainsFunc(items, func(s string) bool { return strings.Contains(s, "Chrome on Linux") }) ||
			!slices.ContainsFunc(items, func(s string) bool { return strings.Contains(s, "A browser,") }) {
			t.Errorf("sessions listed = %q, want this browser as Chrome on Linux and the other as a browser", items)
		}
		tab.Run(t,
			chromedp.Click(chromedp.CSS(`form[action="/account/sessions/end"] button`)),
			chromedp.WaitVisible(chromedp.ID("notice")),
		)
		if !other.signedOut(ts) {
			t.Error("ending the other session left it signed in")
		}
		tab.CheckClean(t, "session ended")

		// An authenticator app, from the URI shown as text.
		tab.Run(t,
			chromedp.Click(chromedp.CSS(`form[action="/account/factors/totp-start"] button`)),
			chromedp.WaitVisible(chromedp.ID("totp-uri")),
		)
		if n := browsertest.Get(t, tab, chromedp.Evaluate[int](`document.querySelectorAll(".qr svg rect").length`)); n < 10 {
			t.Errorf("the QR code has %d rects, want an SVG QR code", n)
		}
		raw := browsertest.Get(t, tab, chromedp.Text(chromedp.ID("totp-uri")))
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "otpauth" || u.Query().Get("secret") == "" {
			t.Fatalf("otpauth URI %q: %v", raw, err)
		}
		code, err := totp.GenerateCode(u.Query().Get("secret"), clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		tab.CheckClean(t, "authenticator app setup")
		tab.Run(t,
			chromedp.SendKeys(chromedp.ID("totp-code"), code),
			chromedp.Click(chromedp.CSS(`form[action="/account/factors/totp-confirm"] button`)),
			chromedp.WaitVisible(chromedp.CSS("ul.codes")),
		)
		if n := browsertest.Get(t, tab, chromedp.Evaluate[int](`document.querySelectorAll("ul.codes li").length`)); n != 10 {
			t.Errorf("recovery codes shown = %d, want 10", n)
		}
		tab.CheckClean(t, "recovery codes")
		tab.Run(t, chromedp.Click(chromedp.CSS(`a[href="/account#factors"]`)), chromedp.WaitVisible(chromedp.ID("recovery-left")))

		// The password.
		tab.Run(t,
			chromedp.SendKeys(chromedp.ID("current-password"), testPassword),
			chromedp.SendKeys(chromedp.ID("new-password"), newTestPassword),
			chromedp.Click(chromedp.CSS(`form[action="/account/password/change"] button`)),
			chromedp.WaitVisible(chromedp.ID("notice")),
		)
		if msg := browsertest.Get(t, tab, chromedp.Text(chromedp.ID("notice"))); !strings.Contains(msg, "password is changed") {
			t.Errorf("after the change the page says %q", msg)
		}
		tab.CheckClean(t, "password changed")
		clk.Add(30e9)
		newBrowser(t).accountSignIn(ts, clk, "ada", newTestPassword, u.Query().Get("secret"))
	})
}
