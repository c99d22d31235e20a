package authz_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/browsertest"
)

// narrow is the viewport width the console must fit: a small phone.
const narrow = 360

// checkNarrow fails t if the page of tab scrolls sideways at the narrow
// viewport, or broke its CSP or threw.
func checkNarrow(t *testing.T, tab *browsertest.Tab, what string) {
	t.Helper()
	if w := browsertest.Get(t, tab, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > narrow {
		t.Errorf("%s: the page is %dpx wide at a %dpx viewport: it scrolls sideways", what, w, narrow)
	}
	tab.CheckClean(t, what)
}

// TestChromiumConsoleManage visits every management page of the console
// in a real Chromium at a 360px-wide viewport, on memory and PostgreSQL,
// and uses its forms: no page may scroll sideways, violate its
// Content-Security-Policy or throw.
func TestChromiumConsoleManage(t *testing.T) {
	browser := browsertest.Start(t)
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, clk, ada, _ := mfaServer(t, cfg)
		api := breakGlassAPI(t, ts)
		ctx := context.Background()
		cl, _, err := api.CreateClient(ctx, adminapi.ClientJSON{ClientName: "Shop", Scope: "openid"})
		if err != nil {
			t.Fatal(err)
		}
		e := createOperator(t, ts, "olive", "owner")
		const pw = "a long operator pass phrase"
		tab := browser.NewTab(t)
		tab.Run(t, chromedp.EmulateViewport(narrow, 740))

		tab.Run(t, chromedp.Navigate(e.EnrollmentURL), chromedp.WaitVisible(chromedp.ID("password2")))
		checkNarrow(t, tab, "enrollment page")
		tab.Run(t,
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

		// The dashboard: token counts, keys, the audit head and its copy
		// button.
		tab.Run(t, chromedp.WaitVisible(chromedp.ID("tokens-issued")), chromedp.WaitVisible(chromedp.CSS(`button[data-copy="audit-head"]`)))
		checkNarrow(t, tab, "dashboard")

		// Keys: rotate, then a revocation with the wrong key ID typed.
		tab.Run(t, chromedp.Navigate(ts.Admin+"/console/keys"), chromedp.WaitVisible(chromedp.ID("keys")))
		checkNarrow(t, tab, "keys page")
		tab.Run(t,
			chromedp.Click(chromedp.CSS(`form[action="/console/keys/rotate"] button`)),
			chromedp.WaitVisible(chromedp.ID("notice")),
		)
		checkNarrow(t, tab, "keys rotated")
		kid := browsertest.Get(t, tab, chromedp.Evaluate[string](`document.querySelector('form[action$="/retire"] h3 code').textContent`))
		tab.Run(t,
			chromedp.Click(chromedp.ID("revoke-"+kid)),
			chromedp.SendKeys(chromedp.ID("confirm-"+kid), "not the key"),
			chromedp.Click(chromedp.CSS(`form[action="/console/keys/`+kid+`/retire"] button`)),
			chromedp.WaitVisible(chromedp.ID("error")),
		)
		checkNarrow(t, tab, "retirement refused")

		// Audit: filters, the next page, verification and its copy button.
		tab.Run(t, chromedp.Navigate(ts.Admin+"/console/audit"), chromedp.WaitVisible(chromedp.ID("audit")))
		checkNarrow(t, tab, "audit page")
		// The page before the filter is marked, to wait for the next one.
		browsertest.Get(t, tab, chromedp.Evaluate[bool](`document.body.setAttribute("data-old", "1"), true`))
		tab.Run(t,
			chromedp.SendKeys(chromedp.ID("type"), adminapi.EventUserCreated),
			chromedp.Click(chromedp.CSS(`form[action="/console/audit"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`body:not([data-old]) #audit`)),
		)
		if rows := browsertest.Get(t, tab, chromedp.Evaluate[int](`document.querySelectorAll("#audit tbody tr").length`)); rows != 1 {
			t.Errorf("audit filtered on %s: %d rows, want ada's creation alone", adminapi.EventUserCreated, rows)
		}
		checkNarrow(t, tab, "audit filtered")
		tab.Run(t,
			chromedp.Click(chromedp.CSS(`form[action="/console/audit/verify"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`button[data-copy="audit-anchor"]`)),
			chromedp.Click(chromedp.CSS(`button[data-copy="audit-anchor"]`)),
			chromedp.Poll[chromedp.Void](`document.getElementById("copy-status").textContent !== ""`),
		)
		checkNarrow(t, tab, "audit verified")

		// A client's edit form: an error on it, then saved.
		editPath := "/console/clients/" + cl.ClientID + "/edit"
		tab.Run(t, chromedp.Navigate(ts.Admin+"/console/clients/"+cl.ClientID), chromedp.WaitVisible(chromedp.ID("edit-client")))
		checkNarrow(t, tab, "client page")
		tab.Run(t, chromedp.Click(chromedp.ID("edit-client")), chromedp.WaitVisible(chromedp.ID("name")))
		checkNarrow(t, tab, "client edit page")
		tab.Run(t,
			chromedp.Click(chromedp.ID("grant-refresh_token")),
			chromedp.Click(chromedp.CSS(`form[action="`+editPath+`"] button`)),
			chromedp.WaitVisible(chromedp.ID("error")),
		)
		checkNarrow(t, tab, "client edit refused")
		tab.Run(t,
			chromedp.Click(chromedp.ID("grant-refresh_token")),
			chromedp.SetValue(chromedp.ID("name"), "Shop two"),
			chromedp.Click(chromedp.CSS(`form[action="`+editPath+`"] button`)),
			chromedp.WaitVisible(chromedp.ID("notice")),
		)
		if got, _, err := api.GetClient(ctx, cl.ClientID); err != nil || got.ClientName != "Shop two" {
			t.Errorf("client after the edit: %+v, %v", got, err)
		}

		// The person page with its export link, and the other pages.
		for _, p := range []struct{ path, id string }{
			{"/console/people/" + ada.ID, "export"}, {"/console/people?q=ada", "people"}, {"/console/clients", "clients"},
		} {
			tab.Run(t, chromedp.Navigate(ts.Admin+p.path), chromedp.WaitVisible(chromedp.ID(p.id)))
			checkNarrow(t, tab, p.path)
		}
	})
}
