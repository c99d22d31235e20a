package authz_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/internal/browsertest"
	"github.com/idvauth/idvauth/authz/operators"
)

// TestChromiumConsoleOperators walks the operators' and the four-eyes
// requests' pages in a real Chromium with four-eyes on, on memory and
// PostgreSQL: an owner enrolls, creates a support operator and copies the
// link (the copy button's script runs), changes their role, disables them
// with typed confirmation, asks for an admin (held: the request is shown),
// and sees the request go once a second owner approved it. No page may
// violate its Content-Security-Policy or throw.
func TestChromiumConsoleOperators(t *testing.T) {
	browser := browsertest.Start(t)
	backends(t, func(t *testing.T, cfg authz.Config) {
		cfg.FourEyes = true
		ts, clk, _, _ := mfaServer(t, cfg)
		api := breakGlassAPI(t, ts)
		_, token, err := operators.Create(context.Background(), ts.Srv.StoreForTest(), "olive", "owner", clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		const pw = "a long operator pass phrase"
		tab := browser.NewTab(t)
		tab.Run(t,
			chromedp.Navigate(operators.EnrollmentURL(ts.Admin, token)),
			chromedp.WaitVisible(chromedp.ID("password2")),
			chromedp.SendKeys(chromedp.ID("password"), pw),
			chromedp.SendKeys(chromedp.ID("password2"), pw),
			chromedp.Click(chromedp.CSS(`form[action="/console/enroll"] button`)),
			chromedp.WaitVisible(chromedp.ID("totp-secret")),
		)
		secret := browsertest.Get(t, tab, chromedp.Text(chromedp.ID("totp-secret")))
		tab.Run(t,
			chromedp.SendKeys(chromedp.ID("code"), totpAt(t, secret, clk.Now())),
			chromedp.Click(chromedp.CSS(`form[action="/console/enroll/totp"] button`)),
			chromedp.WaitVisible(chromedp.ID("me")),
		)

		// Create a support operator: the link, copied.
		tab.Run(t,
			chromedp.Click(chromedp.CSS(`nav a[href="/console/operators"]`)),
			chromedp.WaitVisible(chromedp.ID("operators")),
		)
		tab.CheckClean(t, "operators page")
		tab.Run(t,
			chromedp.SendKeys(chromedp.ID("username"), "sam"),
			chromedp.SetValue(chromedp.ID("role"), "support"),
			chromedp.Click(chromedp.CSS(`form[action="/console/operators"] button`)),
			chromedp.WaitVisible(chromedp.ID("enrollment-link")),
		)
		if link := browsertest.Get(t, tab, chromedp.Text(chromedp.ID("enrollment-link"))); !strings.HasPrefix(link, ts.Admin+"/console/enroll?token=") {
			t.Errorf("enrollment link %q, want one on %s", link, ts.Admin)
		}
		tab.Run(t, chromedp.WaitVisible(chromedp.CSS(`button[data-copy="enrollment-link"]`)),
			chromedp.Click(chromedp.CSS(`button[data-copy="enrollment-link"]`)),
			chromedp.Poll[chromedp.Void](`document.getElementById("copy-status").textContent !== ""`))
		tab.CheckClean(t, "enrollment link page")

		// Role, then disable with the username typed.
		sam, _ := operatorNamed(t, api, "sam")
		tab.Run(t,
			chromedp.Navigate(ts.Admin+"/console/operators"),
			chromedp.Click(chromedp.CSS(`a[href="/console/operators/`+sam.ID+`"]`)),
			chromedp.WaitVisible(chromedp.ID("operator-role")),
			chromedp.SetValue(chromedp.ID("role"), "auditor"),
			chromedp.Click(chromedp.CSS(`form[action="/console/operators/`+sam.ID+`/role"] button`)),
			chromedp.WaitVisible(chromedp.ID("notice")),
		)
		if role := browsertest.Get(t, tab, chromedp.Text(chromedp.ID("operator-role"))); role != "auditor" {
			t.Errorf("role after the change: %q, want auditor", role)
		}
		tab.CheckClean(t, "operator page")
		tab.Run(t,
			chromedp.SendKeys(chromedp.ID("confirm-disable"), "sam"),
			chromedp.Click(chromedp.CSS(`form[action="/console/operators/`+sam.ID+`/disable"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`form[action="/console/operators/`+sam.ID+`/enable"]`)),
		)
		if o, _ := operatorNamed(t, api, "sam"); !o.Disabled {
			t.Error("sam is not disabled")
		}
		tab.CheckClean(t, "operator disabled")

		// An admin: held, the request shown.
		tab.Run(t,
			chromedp.Navigate(ts.Admin+"/console/operators"),
			chromedp.WaitVisible(chromedp.ID("username")),
			chromedp.SendKeys(chromedp.ID("username"), "nina"),
			chromedp.SetValue(chromedp.ID("role"), "admin"),
			chromedp.Click(chromedp.CSS(`form[action="/console/operators"] button`)),
			chromedp.WaitVisible(chromedp.ID("held")),
		)
		reqID := browsertest.Get(t, tab, chromedp.Text(chromedp.ID("held-id")))
		if n := browsertest.Get(t, tab, chromedp.Evaluate[int](`document.querySelectorAll('#requests form[action$="/approve"]').length`)); n != 0 {
			t.Errorf("the requester sees %d approve buttons, want none", n)
		}
		tab.CheckClean(t, "held request")

		// A second owner approves it; the page lists it no more.
		xb := newBrowser(t)
		storeOperator(t, ts, clk, xb, "oscar", "owner")
		p := xb.get(ts.Admin + "/console/requests")
		if p = xb.submit(ts.Admin, p.formAt(t, "/console/requests/"+reqID+"/approve"), nil); p.status != 200 {
			t.Fatalf("approval: %d\n%s", p.status, p.body)
		}
		tab.Run(t,
			chromedp.Click(chromedp.CSS(`nav a[href="/console/requests"]`)),
			chromedp.WaitVisible(chromedp.ID("requests")),
		)
		if n := browsertest.Get(t, tab, chromedp.Evaluate[int](`document.querySelectorAll('#request-`+reqID+`').length`)); n != 0 {
			t.Error("the approved request is still listed")
		}
		if _, n := operatorNamed(t, api, "nina"); n != 1 {
			t.Errorf("%d nina after approval, want 1", n)
		}
		tab.CheckClean(t, "requests page")
	})
}
