package templates

import (
	"bytes"
	"html/template"
	"strings"
	"testing"
)

// TestSecondFactorPages: the second-factor pages carry their form fields,
// escape what they show, and put the QR code in as the caller made it.
func TestSecondFactorPages(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	hostile := `"><script>alert(1)</script>`
	var b bytes.Buffer
	var pages []string
	if err := p.MFA(&b, MFAData{Action: "/login/mfa", CSRF: "tok", Return: hostile, ClientName: hostile, Error: "wrong"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`action="/login/mfa"`, `name="code"`, `name="csrf" value="tok"`, `autocomplete="one-time-code"`, `role="alert"`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("MFA page lacks %s", want)
		}
	}
	pages = append(pages, b.String())
	b.Reset()
	svg := template.HTML(`<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>`)
	if err := p.Enroll(&b, EnrollData{Action: "/login/mfa/enroll", CSRF: "tok", Return: "r", URI: "otpauth://totp/x?secret=" + hostile, Secret: "ABC", QR: svg}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), string(svg)) || !strings.Contains(b.String(), "<code>ABC</code>") || !strings.Contains(b.String(), `action="/login/mfa/enroll"`) {
		t.Errorf("enrollment page lacks the QR code, key or form:\n%s", b.String())
	}
	pages = append(pages, b.String())
	b.Reset()
	if err := p.Recovery(&b, RecoveryData{Codes: []string{"aaaaa-bbbbb-ccccc-ddddd", hostile}, Continue: "/oauth2/authorize?a=1&b=" + hostile}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "<code>aaaaa-bbbbb-ccccc-ddddd</code>") || !strings.Contains(b.String(), `href="/oauth2/authorize?a=1&amp;b=`) {
		t.Errorf("recovery page lacks the codes or the link:\n%s", b.String())
	}
	for _, page := range append(pages, b.String()) {
		if strings.Contains(page, "<script>") {
			t.Error("a page holds unescaped script")
		}
	}
}
