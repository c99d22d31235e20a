package templates

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// newPages returns Pages built by New, failing the test if New fails.
func newPages(tb testing.TB) *Pages {
	tb.Helper()
	p, err := New()
	if err != nil {
		tb.Fatalf("New() error = %v, want nil", err)
	}
	return p
}

// page is one way to render a page, with a name for test output.
type page struct {
	name   string
	render func(p *Pages, w *bytes.Buffer) error
}

func loginPage(name string, d LoginData) page {
	return page{name, func(p *Pages, w *bytes.Buffer) error { return p.Login(w, d) }}
}

func consentPage(name string, d ConsentData) page {
	return page{name, func(p *Pages, w *bytes.Buffer) error { return p.Consent(w, d) }}
}

func logoutPage(name string, d LogoutData) page {
	return page{name, func(p *Pages, w *bytes.Buffer) error { return p.Logout(w, d) }}
}

func messagePage(name string, d MessageData) page {
	return page{name, func(p *Pages, w *bytes.Buffer) error { return p.Message(w, d) }}
}

func errorPage(name string, d ErrorData) page {
	return page{name, func(p *Pages, w *bytes.Buffer) error { return p.Error(w, d) }}
}

// renderPage renders pg and returns the HTML.
func renderPage(tb testing.TB, p *Pages, pg page) string {
	tb.Helper()
	var buf bytes.Buffer
	if err := pg.render(p, &buf); err != nil {
		tb.Fatalf("%s: render error = %v, want nil", pg.name, err)
	}
	return buf.String()
}

// Fixed sample data, used by the golden files and most tests.
var (
	sampleLogin = LoginData{
		Action:     "/oauth2/login",
		CSRF:       "csrf-token-123",
		Return:     "/oauth2/authorize?client_id=acme-kyc&state=xyz",
		ClientName: "Acme KYC",
	}
	sampleLoginError = LoginData{
		Action:     "/oauth2/login",
		CSRF:       "csrf-token-123",
		Return:     "/oauth2/authorize?client_id=acme-kyc&state=xyz",
		ClientName: "Acme KYC",
		Username:   "alice",
		Error:      "Wrong username or password.",
	}
	sampleConsent = ConsentData{
		Action:     "/oauth2/consent",
		CSRF:       "csrf-token-456",
		Return:     "/oauth2/authorize?client_id=acme-kyc&state=xyz",
		ClientName: "Acme KYC",
		ClientID:   "acme-kyc",
		UserName:   "Alice Example",
		Scopes: []Scope{
			{Name: "openid", Description: "Confirm who you are when you sign in."},
			{Name: "identity.verify", Description: "Start identity verifications (documents, selfie, address checks) on your behalf."},
			{Name: "identity.read_status", Description: "Read the status and outcome of identity verifications."},
		},
	}
	sampleLogout  = LogoutData{Action: "/oauth2/logout", CSRF: "csrf-token-789", ClientName: "Demo <App>", Hidden: []Field{{"client_id", "demo"}, {"state", "s\"<x>"}}}
	sampleMessage = MessageData{Title: "Too many attempts", Message: "Too many attempts, try again in 15 minutes."}
	sampleError   = ErrorData{Title: "Unknown client or redirect URI", Message: "The application that sent you here is not registered, or asked to send you back to an address it has not registered. Nothing was shared with it.", Status: 400}
)

// samplePages are every page with the fixed sample data; names are the
// golden file names.
func samplePages() []page {
	return []page{
		loginPage("login", sampleLogin),
		loginPage("login_error", sampleLoginError),
		consentPage("consent", sampleConsent),
		logoutPage("logout", sampleLogout),
		messagePage("message", sampleMessage),
		errorPage("error", sampleError),
	}
}

// zeroPages are every page with zero data.
func zeroPages() []page {
	return []page{
		loginPage("login_zero", LoginData{}),
		consentPage("consent_zero", ConsentData{}),
		logoutPage("logout_zero", LogoutData{}),
		messagePage("message_zero", MessageData{}),
		errorPage("error_zero", ErrorData{}),
	}
}

var (
	tagRE      = regexp.MustCompile(`<([a-zA-Z][a-zA-Z0-9]*)((?:\s[^>]*)?)>`)
	attrRE     = regexp.MustCompile(`\s([a-zA-Z-]+)(?:="([^"]*)")?`)
	styleRE    = regexp.MustCompile(`(?s)<style>.*?</style>`)
	titleRE    = regexp.MustCompile(`<title>([^<]*)</title>`)
	externalRE = regexp.MustCompile(`(?i)https?:|//[a-z0-9]`)
)

// element is a start tag: its name and attributes in order.
type element struct {
	name  string
	attrs [][2]string
}

func (e element) attr(name string) (string, bool) {
	for _, a := range e.attrs {
		if a[0] == name {
			return a[1], true
		}
	}
	return "", false
}

// elements returns the start tags of page, style element content excluded.
// html/template quotes every attribute and escapes < in text and " in
// attributes, so a regular expression is enough to read its output.
func elements(page string) []element {
	page = styleRE.ReplaceAllString(page, "<style>")
	var out []element
	for _, m := range tagRE.FindAllStringSubmatch(page, -1) {
		e := element{name: strings.ToLower(m[1])}
		for _, a := range attrRE.FindAllStringSubmatch(m[2], -1) {
			e.attrs = append(e.attrs, [2]string{strings.ToLower(a[1]), a[2]})
		}
		out = append(out, e)
	}
	return out
}

// skeleton renders the element names and attribute names of page: the
// document's structure without the values.
func skeleton(page string) string {
	var b strings.Builder
	for _, e := range elements(page) {
		b.WriteString("<" + e.name)
		for _, a := range e.attrs {
			b.WriteString(" " + a[0])
		}
		b.WriteString(">\n")
	}
	return b.String()
}

// checkPage checks what every rendered page must satisfy.
func checkPage(t *testing.T, name, html string) {
	t.Helper()
	for _, want := range []string{
		"<!doctype html>\n",
		`<html lang="en">`,
		`<meta charset="utf-8">`,
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("%s: page lacks %q", name, want)
		}
	}
	if !strings.HasPrefix(html, "<!doctype html>") {
		t.Errorf("%s: page starts %.20q, want <!doctype html>", name, html)
	}
	for _, tag := range []string{"<main>", "<style>", "<h1>", "<title>"} {
		if got := strings.Count(html, tag); got != 1 {
			t.Errorf("%s: strings.Count(page, %q) = %d, want 1", name, tag, got)
		}
	}
	if m := titleRE.FindStringSubmatch(html); m == nil || !strings.HasSuffix(m[1], " · idvauth") || m[1] == " · idvauth" {
		t.Errorf("%s: title = %q, want \"<something> · idvauth\"", name, m)
	}
	for _, bad := range []string{"<script", "<img", "<link rel=\"stylesheet\"", "style=\"", "<iframe"} {
		if strings.Contains(strings.ToLower(html), bad) {
			t.Errorf("%s: page contains %q", name, bad)
		}
	}
	if loc := externalRE.FindStringIndex(html); loc != nil {
		t.Errorf("%s: page contains an external URL near %q", name, html[max(0, loc[0]-20):min(len(html), loc[1]+20)])
	}

	els := elements(html)
	labels := map[string]bool{}
	ids := map[string]int{}
	for _, e := range els {
		if e.name == "label" {
			if f, ok := e.attr("for"); ok {
				labels[f] = true
			}
		}
		if id, ok := e.attr("id"); ok {
			ids[id]++
		}
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("%s: id %q used %d times, want 1", name, id, n)
		}
	}
	forms := 0
	for _, e := range els {
		switch e.name {
		case "input":
			typ, _ := e.attr("type")
			if typ == "hidden" {
				continue
			}
			id, _ := e.attr("id")
			if id == "" || !labels[id] {
				t.Errorf("%s: input %v has no <label for=%q>", name, e.attrs, id)
			}
		case "button":
			if typ, _ := e.attr("type"); typ != "submit" {
				t.Errorf("%s: button type = %q, want submit", name, typ)
			}
		case "form":
			forms++
			if m, _ := e.attr("method"); m != "post" {
				t.Errorf("%s: form method = %q, want post", name, m)
			}
			if _, ok := e.attr("action"); !ok {
				t.Errorf("%s: form has no action", name)
			}
		}
	}
	if forms > 1 {
		t.Errorf("%s: %d forms, want at most 1", name, forms)
	}
}

func TestPagesRender(t *testing.T) {
	p := newPages(t)
	for _, pg := range append(samplePages(), zeroPages()...) {
		t.Run(pg.name, func(t *testing.T) {
			checkPage(t, pg.name, renderPage(t, p, pg))
		})
	}
}

func TestPagesShowValues(t *testing.T) {
	p := newPages(t)
	tests := []struct {
		page   page
		want   []string
		absent []string
	}{
		{
			page: loginPage("login", sampleLogin),
			want: []string{
				"<title>Sign in · idvauth</title>",
				"<h1>Sign in</h1>",
				"to continue to <strong>Acme KYC</strong>",
				`<form method="post" action="/oauth2/login">`,
				`<input type="hidden" name="csrf" value="csrf-token-123">`,
				`<input type="hidden" name="return" value="/oauth2/authorize?client_id=acme-kyc&amp;state=xyz">`,
				`<label for="username">Username</label>`,
				`<label for="password">Password</label>`,
				`autocomplete="username"`,
				`autocomplete="current-password"`,
				`type="password"`,
				`<button type="submit" class="primary">Sign in</button>`,
			},
			absent: []string{`role="alert"`, `aria-invalid="true"`},
		},
		{
			page:   loginPage("login without client", LoginData{Action: "/login"}),
			want:   []string{"<h1>Sign in</h1>", `value=""`},
			absent: []string{"continue to", `role="alert"`},
		},
		{
			page: loginPage("login after failure", sampleLoginError),
			want: []string{
				"<title>Error: Sign in · idvauth</title>",
				`<div class="alert" role="alert" id="error">Wrong username or password.</div>`,
				`name="username" value="alice"`,
				`aria-invalid="true" aria-describedby="error"`,
			},
		},
		{
			page: consentPage("consent", sampleConsent),
			want: []string{
				"<title>Allow access · idvauth</title>",
				"<h1>Acme KYC wants to access your account</h1>",
				"Signed in as <strong>Alice Example</strong>",
				"<code>acme-kyc</code>",
				"This will allow Acme KYC to:",
				`<form method="post" action="/oauth2/consent">`,
				`<input type="hidden" name="csrf" value="csrf-token-456">`,
				`<input type="hidden" name="return" value="/oauth2/authorize?client_id=acme-kyc&amp;state=xyz">`,
				`<button type="submit" name="decision" value="allow" class="primary">Allow</button>`,
				`<button type="submit" name="decision" value="deny">Deny</button>`,
			},
		},
		{
			page:   consentPage("consent without client name", ConsentData{ClientID: "acme-kyc"}),
			want:   []string{"<h1>acme-kyc wants to access your account</h1>", "asks for no access beyond"},
			absent: []string{"Signed in as", "<ul"},
		},
		{
			page: logoutPage("logout", sampleLogout),
			want: []string{
				"<title>Sign out · idvauth</title>",
				"<h1>Sign out?</h1>",
				`<form method="post" action="/oauth2/logout">`,
				`<input type="hidden" name="csrf" value="csrf-token-789">`,
				`<button type="submit" class="primary">Sign out</button>`,
			},
			absent: []string{`name="return"`},
		},
		{
			page: messagePage("message", sampleMessage),
			want: []string{
				"<title>Too many attempts · idvauth</title>",
				"<h1>Too many attempts</h1>",
				"Too many attempts, try again in 15 minutes.",
			},
			absent: []string{"<form"},
		},
		{
			page:   messagePage("signed out", MessageData{Title: "You are signed out"}),
			want:   []string{"<title>You are signed out · idvauth</title>", "<h1>You are signed out</h1>"},
			absent: []string{`class="message"`},
		},
		{
			page: errorPage("error", sampleError),
			want: []string{
				"<title>Unknown client or redirect URI · idvauth</title>",
				`<p class="status">Error 400</p>`,
				"<h1>Unknown client or redirect URI</h1>",
				"Nothing was shared with it.",
			},
			absent: []string{"<form"},
		},
		{
			page:   errorPage("error without status", ErrorData{Title: "Oops"}),
			want:   []string{"<h1>Oops</h1>"},
			absent: []string{"Error 0", `class="status"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.page.name, func(t *testing.T) {
			got := renderPage(t, p, tt.page)
			for _, want := range tt.want {
				if !strings.Contains(got, want) {
					t.Errorf("%s page contains %q = false, want true", tt.page.name, want)
				}
			}
			for _, bad := range tt.absent {
				if strings.Contains(got, bad) {
					t.Errorf("%s page contains %q = true, want false", tt.page.name, bad)
				}
			}
		})
	}
}

func TestConsentListsScopes(t *testing.T) {
	p := newPages(t)
	tests := []struct {
		name   string
		scopes []Scope
		want   []string // the <li> elements, in order
	}{
		{
			name:   "sample",
			scopes: sampleConsent.Scopes,
			want: []string{
				"<li>Confirm who you are when you sign in. <code>openid</code></li>",
				"<li>Start identity verifications (documents, selfie, address checks) on your behalf. <code>identity.verify</code></li>",
				"<li>Read the status and outcome of identity verifications. <code>identity.read_status</code></li>",
			},
		},
		{
			name:   "no description",
			scopes: []Scope{{Name: "custom.scope"}},
			want:   []string{"<li>custom.scope</li>"},
		},
		{
			name:   "hostile",
			scopes: []Scope{{Name: `<b>x</b>`, Description: `"><script>alert(1)</script>`}},
			want:   []string{"<li>&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt; <code>&lt;b&gt;x&lt;/b&gt;</code></li>"},
		},
	}
	liRE := regexp.MustCompile(`<li>.*</li>`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sampleConsent
			d.Scopes = tt.scopes
			got := liRE.FindAllString(renderPage(t, p, consentPage(tt.name, d)), -1)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Consent(Scopes: %v) items =\n%s\nwant\n%s", tt.scopes, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// Hostile values must be escaped: the document keeps the structure it has
// with harmless values, and no script, handler or javascript: URL appears.
func TestPagesEscapeHostileValues(t *testing.T) {
	const (
		script  = `<script>alert(1)</script>`
		breakAt = `"><img src=x onerror=alert(1)>`
		jsURL   = `javascript:alert(1)`
	)
	hostile := script + breakAt + `' onmouseover='alert(1)`
	p := newPages(t)
	tests := []struct {
		benign, hostile page
	}{
		{
			loginPage("login", sampleLoginError),
			loginPage("login", LoginData{Action: jsURL, CSRF: hostile, Return: jsURL, ClientName: hostile, Username: hostile, Error: hostile}),
		},
		{
			loginPage("login action", sampleLoginError),
			loginPage("login action", LoginData{Action: breakAt, CSRF: breakAt, Return: breakAt, ClientName: breakAt, Username: breakAt, Error: breakAt}),
		},
		{
			consentPage("consent", sampleConsent),
			consentPage("consent", ConsentData{
				Action: jsURL, CSRF: hostile, Return: jsURL, ClientName: hostile, ClientID: hostile, UserName: hostile,
				Scopes: []Scope{{hostile, hostile}, {breakAt, script}, {jsURL, jsURL}},
			}),
		},
		{
			logoutPage("logout", sampleLogout),
			logoutPage("logout", LogoutData{Action: jsURL, CSRF: hostile, ClientName: hostile, Hidden: []Field{{hostile, hostile}, {script, jsURL}}}),
		},
		{
			messagePage("message", sampleMessage),
			messagePage("message", MessageData{Title: hostile, Message: hostile}),
		},
		{
			errorPage("error", sampleError),
			errorPage("error", ErrorData{Title: hostile, Message: breakAt, Status: 400}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.hostile.name, func(t *testing.T) {
			want := skeleton(renderPage(t, p, tt.benign))
			html := renderPage(t, p, tt.hostile)
			if got := skeleton(html); got != want {
				t.Errorf("%s: hostile values changed the document structure:\n%s\nwant\n%s", tt.hostile.name, got, want)
			}
			lower := strings.ToLower(html)
			for _, bad := range []string{"<script", "<img", "' onmouseover", `" onerror`} {
				if strings.Contains(lower, bad) {
					t.Errorf("%s: page contains raw %q", tt.hostile.name, bad)
				}
			}
			for _, e := range elements(html) {
				for _, a := range e.attrs {
					if strings.HasPrefix(a[0], "on") {
						t.Errorf("%s: <%s> has event handler attribute %q", tt.hostile.name, e.name, a[0])
					}
					switch a[0] {
					case "href", "src", "action", "formaction":
						if strings.Contains(strings.ToLower(a[1]), "javascript:") {
							t.Errorf("%s: <%s %s=%q> is a javascript: URL", tt.hostile.name, e.name, a[0], a[1])
						}
					}
				}
			}
			checkPage(t, tt.hostile.name, html)
		})
	}
}

// The policy must name the hash of the exact style text every page serves.
func TestCSPMatchesStyle(t *testing.T) {
	p := newPages(t)
	for _, pg := range append(samplePages(), zeroPages()...) {
		t.Run(pg.name, func(t *testing.T) {
			html := renderPage(t, p, pg)
			_, rest, ok := strings.Cut(html, "<style>")
			css, _, ok2 := strings.Cut(rest, "</style>")
			if !ok || !ok2 || css == "" {
				t.Fatalf("%s page has no <style>…</style>", pg.name)
			}
			sum := sha256.Sum256([]byte(css))
			want := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
				"'; img-src data:; base-uri 'none'; frame-ancestors 'none'"
			if got := p.CSP(); got != want {
				t.Errorf("CSP() = %q, want %q", got, want)
			}
		})
	}
	if strings.Contains(p.CSP(), "form-action") {
		t.Errorf("CSP() = %q, want no form-action directive", p.CSP())
	}
}

// countingFS counts the files opened through it.
type countingFS struct {
	fs.FS
	opens atomic.Int64
}

func (c *countingFS) Open(name string) (fs.File, error) {
	c.opens.Add(1)
	return c.FS.Open(name)
}

// Files are read and parsed in New only; rendering never touches them.
func TestParseOnce(t *testing.T) {
	cfs := &countingFS{FS: files}
	p, err := parse(cfs)
	if err != nil {
		t.Fatalf("parse(embedded) error = %v, want nil", err)
	}
	afterNew := cfs.opens.Load()
	if afterNew == 0 {
		t.Fatalf("parse opened %d files, want > 0", afterNew)
	}
	for range 3 {
		for _, pg := range samplePages() {
			renderPage(t, p, pg)
		}
	}
	if got := cfs.opens.Load(); got != afterNew {
		t.Errorf("files opened after rendering = %d, want %d (as after New)", got, afterNew)
	}
}

func TestParseRejectsBadStyle(t *testing.T) {
	tests := []struct {
		name, css string
	}{
		{"action", "body{color:red}{{.X}}"},
		{"closes style", "body{color:red}</style><script>"},
		{"comment dropped by escaper", "/* note */body{color:red}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			err := fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				data, err := fs.ReadFile(files, path)
				fsys[path] = &fstest.MapFile{Data: data}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			fsys[styleFile] = &fstest.MapFile{Data: []byte(tt.css)}
			if _, err := parse(fsys); err == nil {
				t.Errorf("parse(style %q) error = nil, want an error", tt.css)
			} else {
				t.Logf("parse(style %q) error = %v", tt.css, err)
			}
		})
	}
}

func TestZeroPagesErrors(t *testing.T) {
	var p Pages
	var buf bytes.Buffer
	if err := p.Login(&buf, LoginData{}); err == nil {
		t.Errorf("(&Pages{}).Login() error = nil, want an error")
	}
}

// Pages is shared by all requests; run with -race.
func TestConcurrentRender(t *testing.T) {
	p := newPages(t)
	want := renderPage(t, p, consentPage("consent", sampleConsent))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				for _, pg := range samplePages() {
					var buf bytes.Buffer
					if err := pg.render(p, &buf); err != nil {
						t.Errorf("%s: render error = %v", pg.name, err)
					}
				}
				var buf bytes.Buffer
				if err := p.Consent(&buf, sampleConsent); err != nil || buf.String() != want {
					t.Errorf("concurrent Consent() = %d bytes, %v; want %d bytes, nil", buf.Len(), err, len(want))
				}
			}
		})
	}
	wg.Wait()
}

func TestGolden(t *testing.T) {
	p := newPages(t)
	for _, pg := range samplePages() {
		t.Run(pg.name, func(t *testing.T) {
			got := renderPage(t, p, pg)
			path := filepath.Join("testdata", pg.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s page differs from %s (run go test -update if the change is intended):\ngot:\n%s", pg.name, path, got)
			}
		})
	}
}

func BenchmarkRender(b *testing.B) {
	p := newPages(b)
	for _, pg := range samplePages() {
		b.Run(pg.name, func(b *testing.B) {
			b.ReportAllocs()
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				if err := pg.render(p, &buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestCSPFormAction(t *testing.T) {
	p := newPages(t)
	for _, tc := range []struct {
		sources []string
		want    string
	}{
		{nil, "; form-action 'self'"},
		{[]string{"https://app.example"}, "; form-action 'self' https://app.example"},
	} {
		if got := p.CSPFormAction(tc.sources...); got != p.CSP()+tc.want {
			t.Errorf("CSPFormAction(%q) = %q, want CSP() + %q", tc.sources, got, tc.want)
		}
	}
}
