package authz_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/internal/browsertest"
)

// TestChromiumConsole walks the web admin console in a real Chromium, on
// memory and PostgreSQL: an owner enrolls from the link (password, then
// the authenticator app), signs out and in again with password and TOTP,
// creates a client and reads its secret once (the copy button's script
// runs), erases a person with typed confirmation, and opens every page.
// No page may violate its Content-Security-Policy or throw.
func TestChromiumConsole(t *testing.T) {
	browser := browsertest.Start(t)
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, clk, ada, _ := mfaServer(t, cfg)
		api := breakGlassAPI(t, ts)
		ctx := context.Background()
		e := createOperator(t, ts, "olive", "owner")
		const pw = "a long operator pass phrase"
		tab := browser.NewTab(t)

		// Enrollment: the link, a password, the app.
		tab.Run(t, chromedp.Navigate(e.EnrollmentURL), chromedp.WaitVisible(chromedp.ID("password2")))
		tab.CheckClean(t, "enrollment page")
		tab.Run(t,
			chromedp.SendKeys(chromedp.ID("password"), pw),
			chromedp.SendKeys(chromedp.ID("password2"), pw),
			chromedp.Click(chromedp.CSS(`form[action="/console/enroll"] button`)),
			chromedp.WaitVisible(chromedp.ID("totp-secret")),
		)
		if n := browsertest.Get(t, tab, chromedp.Evaluate[int](`document.querySelectorAll(".qr svg rect").length`)); n < 10 {
			t.Errorf("the QR code has %d rects, want an SVG QR code", n)
		}
		secret := browsertest.Get(t, tab, chromedp.Text(chromedp.ID("totp-secret")))
		tab.CheckClean(t, "authenticator app setup")
		tab.Run(t,
			chromedp.SendKeys(chromedp.ID("code"), totpAt(t, secret, clk.Now())),
			chromedp.Click(chromedp.CSS(`form[action="/console/enroll/totp"] button`)),
			chromedp.WaitVisible(chromedp.ID("me")),
		)
		tab.CheckClean(t, "dashboard after enrollment")

		// Sign out, and in with password and TOTP.
		tab.Run(t,
			chromedp.Click(chromedp.CSS(`form[action="/console/signout"] button`)),
			chromedp.WaitVisible(chromedp.ID("username")),
			chromedp.SendKeys(chromedp.ID("username"), "olive"),
			chromedp.SendKeys(chromedp.ID("password"), pw),
			chromedp.Click(chromedp.CSS(`form[action="/console/signin"] button`)),
			chromedp.WaitVisible(chromedp.ID("code")),
		)
		tab.CheckClean(t, "code page")
		clk.Add(30 * time.Second)
		tab.Run(t,
			chromedp.SendKeys(chromedp.ID("code"), totpAt(t, secret, clk.Now())),
			chromedp.Click(chromedp.CSS(`form[action="/console/signin/totp"] button`)),
			chromedp.WaitVisible(chromedp.ID("me")),
		)
		if me := browsertest.Get(t, tab, chromedp.Text(chromedp.ID("me"))); me != "olive (owner)" {
			t.Errorf("signed in as %q, want olive (owner)", me)
		}

		// A client, its secret read once.
		tab.Run(t,
			chromedp.Navigate(ts.Admin+"/console/clients"),
			chromedp.WaitVisible(chromedp.ID("name")),
			chromedp.SendKeys(chromedp.ID("name"), "Shop"),
			chromedp.SendKeys(chromedp.ID("redirect_uris"), "https://shop.example/cb"),
			chromedp.Click(chromedp.CSS(`form[action="/console/clients"][method="post"] button`)),
			chromedp.WaitVisible(chromedp.ID("client-secret")),
		)
		clientSecret := browsertest.Get(t, tab, chromedp.Text(chromedp.ID("client-secret")))
		clientID := browsertest.Get(t, tab, chromedp.Text(chromedp.ID("client-id")))
		if len(clientSecret) < 32 || clientID == "" {
			t.Fatalf("client %q secret %q, want an ID and a secret", clientID, clientSecret)
		}
		// The copy button shows only once its script runs.
		tab.Run(t, chromedp.WaitVisible(chromedp.CSS(`button[data-copy="client-secret"]`)),
			chromedp.Click(chromedp.CSS(`button[data-copy="client-secret"]`)))
		tab.Run(t, chromedp.Poll[chromedp.Void](`document.getElementById("copy-status").textContent !== ""`))
		tab.CheckClean(t, "client secret page")
		tab.Run(t, chromedp.Navigate(ts.Admin+"/console/clients/"+clientID), chromedp.WaitVisible(chromedp.ID("client-id")))
		if html := browsertest.Get(t, tab, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); strings.Contains(html, clientSecret) {
			t.Error("the client's page shows its secret again")
		}
		tab.CheckClean(t, "client page")

		// Erase ada, typing her username.
		tab.Run(t,
			chromedp.Navigate(ts.Admin+"/console/people?q=ada"),
			chromedp.WaitVisible(chromedp.ID("people")),
			chromedp.Click(chromedp.CSS(`a[href="/console/people/`+ada.ID+`"]`)),
			chromedp.WaitVisible(chromedp.ID("person-username")),
		)
		tab.CheckClean(t, "person page")
		tab.Run(t,
			chromedp.SendKeys(chromedp.ID("confirm"), "ada"),
			chromedp.Click(chromedp.CSS(`form[action="/console/people/`+ada.ID+`/erase"] button`)),
			chromedp.WaitVisible(chromedp.ID("notice")),
		)
		if _, _, err := api.GetUser(ctx, ada.ID); err == nil {
			t.Error("ada is still there after her erasure")
		}
		tab.CheckClean(t, "person erased")

		// Every other page.
		for _, p := range []struct{ path, id string }{{"/console/", "me"}, {"/console/keys", "me"}, {"/console/audit", "audit"}, {"/console/operators", "operators"}} {
			tab.Run(t, chromedp.Navigate(ts.Admin+p.path), chromedp.WaitVisible(chromedp.ID(p.id)))
			tab.CheckClean(t, p.path)
		}
	})
}
