package templates

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"strings"
)

//go:embed *.html style.css static
var files embed.FS

// styleFile holds the CSS inlined into every page's one style element.
const styleFile = "style.css"

// Pages renders idvauth's person-facing pages. Build one with New; the zero
// value is not usable. A Pages is immutable and safe for concurrent use.
type Pages struct {
	login, consent, logout, message, errorPage *template.Template
	mfa, enroll, recovery, passkeys            *template.Template
	// account holds the account page and its sections.
	account, reset, device *template.Template
	csp                    string
	// assets are the static files by name and by URL path.
	assets, assetsByPath map[string]Asset
}

// LoginData fills the sign-in page.
type LoginData struct {
	// Action is the URL the form posts to.
	Action string
	// CSRF is the anti-forgery token, posted back as the field "csrf".
	CSRF string
	// Return is posted back unchanged as the field "return"; the server
	// must validate it, the page only carries it.
	Return string
	// ClientName, if set, adds "to continue to <ClientName>".
	ClientName string
	// Username prefills the username field, e.g. after a failed attempt.
	Username string
	// Error, if set, is shown in the alert region and marks both fields
	// invalid; empty shows no alert.
	Error string
	// Passkey, if set, offers "Sign in with a passkey".
	Passkey *Passkey
}

// Passkey is a passkey button, driven by webauthn.js (see its header):
// hidden unless the browser has WebAuthn. A page with one loads the
// script and must be served under Pages.CSPScript.
type Passkey struct {
	// Kind is "get" (sign in) or "create" (add a passkey).
	Kind string
	// Options is the ceremony's options as JSON.
	Options string
	// Finish is the URL the credential is posted to, CSRF its token.
	Finish, CSRF string
	// Label is the button's text.
	Label string
}

// MFAData fills the second-factor page. Its form posts the field "code"
// (a TOTP code or a recovery code), plus "csrf" and "return".
type MFAData struct {
	// Action is the URL the form posts to.
	Action string
	// CSRF is the anti-forgery token, posted back as the field "csrf".
	CSRF string
	// Return is posted back unchanged as the field "return".
	Return string
	// ClientName, if set, adds "to continue to <ClientName>".
	ClientName string
	// Error, if set, is shown in the alert region.
	Error string
	// Passkey, if set, offers the person's passkey; PasskeyOnly hides
	// the code form (a request that needs a passkey).
	Passkey     *Passkey
	PasskeyOnly bool
}

// EnrollData fills the page that sets up an authenticator app (TOTP).
// Its form posts "code", "csrf" and "return".
type EnrollData struct {
	Action, CSRF, Return string
	// ClientName, if set, names the application that asks for it.
	ClientName string
	// URI is the otpauth:// URI, Secret its key, both shown as text.
	URI, Secret string
	// QR is the URI as an inline SVG QR code; the caller vouches that it
	// is safe markup.
	QR template.HTML
	// Error, if set, is shown in the alert region.
	Error string
	// Passkey, if set, offers to set up a passkey; with Secret empty it
	// is the only choice.
	Passkey *Passkey
}

// PasskeysData fills the page of a signed-in person's passkeys. Its forms
// post "id" (and "name" to rename) with "csrf".
type PasskeysData struct {
	RenameAction, RemoveAction, CSRF string
	Passkeys                         []PasskeyItem
	// Passkey is the button that adds one.
	Passkey *Passkey
	// Error and Message, if set, say what the last change did; Done
	// names it ("added", "renamed", "removed") in the status element's id.
	Error, Message, Done string
}

// PasskeyItem is one passkey as the page lists it.
type PasskeyItem struct {
	ID, Name string
	// Created and LastUsed are dates as shown; LastUsed may be empty.
	Created, LastUsed string
}

// RecoveryData fills the page that shows new recovery codes once.
type RecoveryData struct {
	Codes []string
	// Continue is where the Continue link leads (the flow goes on).
	Continue string
}

// AccountData fills the account page (/account): the sections in order,
// each rendered beforehand with AccountSection.
type AccountData struct {
	// Username is the signed-in person's username.
	Username string
	// CSRF is the anti-forgery token of the sign-out form.
	CSRF string
	// LogoutAction is where the sign-out form posts.
	LogoutAction string
	// Notice, if set, says what the last change did (role=status);
	// Problem, if set, why it was refused (role=alert).
	Notice, Problem string
	Sections        []AccountSection
}

// AccountSection is one rendered section of the account page.
type AccountSection struct {
	// Name is the section's id (the fragment #Name) and the suffix of its
	// template, account_<Name>.html.
	Name string
	// Title is its heading.
	Title string
	// HTML is its body, rendered by AccountSection from the embedded
	// template.
	HTML template.HTML
}

// SectionData fills one section's template: {{define "account_<name>"}}
// in templates/account_<name>.html, which every section file must define.
type SectionData struct {
	// Action is the path its forms post to, followed by /<action>.
	Action string
	// CSRF is the anti-forgery token every form posts as "csrf".
	CSRF string
	// Data is the section's own data.
	Data any
}

// ResetData fills the page that sets a new password from a reset link.
// Its form posts "new_password", "token" and "csrf".
type ResetData struct {
	Action, CSRF, Token string
	// Error, if set, is shown in the alert region.
	Error string
}

// Scope is one requested scope as the consent page lists it.
type Scope struct {
	// Name is the scope's name, e.g. "identity.verify", shown small.
	Name string
	// Description says in plain words what the scope allows. If empty the
	// page shows Name in its place.
	Description string
}

// ConsentData fills the consent page. Its form posts the field "decision"
// with the value "allow" or "deny", plus "csrf" and "return".
type ConsentData struct {
	// Action is the URL the form posts to.
	Action string
	// CSRF is the anti-forgery token, posted back as the field "csrf".
	CSRF string
	// Return is posted back unchanged as the field "return".
	Return string
	// ClientName is the client's display name. If empty the page names the
	// client by ClientID.
	ClientName string
	// ClientID is the client's id, shown small beside ClientName.
	ClientID string
	// UserName is the signed-in person's display name ("Signed in as");
	// empty omits the line.
	UserName string
	// Scopes are the requested scopes, listed in this order.
	Scopes []Scope
}

// LogoutData fills the sign-out confirmation page.
type LogoutData struct {
	// Action is the URL the form posts to.
	Action string
	// CSRF is the anti-forgery token, posted back as the field "csrf".
	CSRF string
	// ClientName is the application that asked for the sign-out; empty
	// if none did.
	ClientName string
	// Hidden are the request's parameters, posted back with the form.
	Hidden []Field
}

// Field is a hidden form field.
type Field struct{ Name, Value string }

// MessageData fills the plain message page, e.g. "You are signed out".
type MessageData struct {
	// Title is the heading and the page title; empty shows "Message".
	Title string
	// Message is the text below the heading; line breaks are kept.
	Message string
}

// ErrorData fills the error page, shown instead of redirecting when the
// client or redirect URI cannot be trusted.
type ErrorData struct {
	// Title is the heading and the page title; empty shows
	// "Something went wrong".
	Title string
	// Message is the text below the heading; line breaks are kept.
	Message string
	// Status, if not zero, is shown small above the heading as
	// "Error <Status>". It does not set the HTTP status; the caller does.
	Status int
}

// DeviceData fills the page where an operator enters the code of a
// device that signs in (RFC 8628). Its form posts "user_code" and "csrf".
type DeviceData struct {
	Action, CSRF string
	// UserCode fills the field (from verification_uri_complete).
	UserCode string
	// Error, if set, is shown in the alert region.
	Error string
}

// New parses the embedded templates once; the result is safe for
// concurrent use. An error means the embedded files are broken, which
// a test catches before release.
func New() (*Pages, error) {
	return parse(files)
}

// parse builds Pages from the files in fsys; tests pass a wrapped FS.
func parse(fsys fs.FS) (*Pages, error) {
	css, err := fs.ReadFile(fsys, styleFile)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	// The CSS becomes template text, so it must hold no actions, and it
	// must not end the style element early.
	if bytes.Contains(css, []byte("{{")) || bytes.Contains(bytes.ToLower(css), []byte("</style")) {
		return nil, fmt.Errorf("templates: %s holds \"{{\" or \"</style\"", styleFile)
	}
	assets, err := loadAssets(fsys)
	if err != nil {
		return nil, err
	}
	// asset gives a page the hashed URL path of a static file; an unknown
	// name fails the render, which New does once for every page.
	funcs := template.FuncMap{"asset": func(name string) (string, error) {
		a, ok := assets[name]
		if !ok {
			return "", fmt.Errorf("no static file %q", name)
		}
		return a.Path, nil
	}}
	base, err := template.New("base.html").Funcs(funcs).ParseFS(fsys, "base.html")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	if _, err := base.New("style").Parse(string(css)); err != nil {
		return nil, fmt.Errorf("templates: %s: %w", styleFile, err)
	}

	page := func(patterns ...string) (*template.Template, error) {
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := t.ParseFS(fsys, patterns...); err != nil {
			return nil, err
		}
		return t.Lookup("base"), nil
	}
	p := &Pages{assets: assets, assetsByPath: make(map[string]Asset, len(assets))}
	for _, a := range assets {
		p.assetsByPath[a.Path] = a
	}
	for _, f := range p.files() {
		t, err := page(append([]string{f.file}, f.with...)...)
		if err != nil {
			return nil, fmt.Errorf("templates: %s: %w", f.file, err)
		}
		// Render once now: html/template escapes on first use, so this
		// reports escaping errors at start-up rather than on a request,
		// and proves the style element holds the CSS byte for byte (the
		// escaper drops CSS comments, which would break the hash).
		var buf bytes.Buffer
		if err := t.Execute(&buf, f.zero); err != nil {
			return nil, fmt.Errorf("templates: %s: %w", f.file, err)
		}
		if got, ok := styleText(buf.String()); !ok || got != string(css) {
			return nil, fmt.Errorf("templates: %s: style element differs from %s", f.file, styleFile)
		}
		*f.dst = t
	}

	sum := sha256.Sum256(css)
	p.csp = "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; img-src data:; base-uri 'none'; frame-ancestors 'none'"
	return p, nil
}

// pageFile is one page of p: its file, where its template goes, and the
// zero value of its data.
type pageFile struct {
	file string
	dst  **template.Template
	zero any
	// with are more files (patterns) parsed into the page.
	with []string
}

// files are the pages parse builds into p.
func (p *Pages) files() []pageFile {
	return []pageFile{
		{"login.html", &p.login, LoginData{}, nil},
		{"consent.html", &p.consent, ConsentData{}, nil},
		{"logout.html", &p.logout, LogoutData{}, nil},
		{"message.html", &p.message, MessageData{}, nil},
		{"error.html", &p.errorPage, ErrorData{}, nil},
		{"mfa.html", &p.mfa, MFAData{}, nil},
		{"enroll.html", &p.enroll, EnrollData{}, nil},
		{"recovery.html", &p.recovery, RecoveryData{}, nil},
		{"passkeys.html", &p.passkeys, PasskeysData{}, nil},
		{"account.html", &p.account, AccountData{}, []string{"account_*.html"}},
		{"reset.html", &p.reset, ResetData{}, nil},
		{"device.html", &p.device, DeviceData{}, nil},
	}
}

// styleText returns the text between the first <style> and </style> of page.
func styleText(page string) (string, bool) {
	_, rest, ok := strings.Cut(page, "<style>")
	if !ok {
		return "", false
	}
	css, _, ok := strings.Cut(rest, "</style>")
	return css, ok
}

// Device renders the page that takes a device's user code to w.
func (p *Pages) Device(w io.Writer, d DeviceData) error { return p.device.Execute(w, d) }

// Login renders the sign-in page to w.
func (p *Pages) Login(w io.Writer, d LoginData) error {
	return render(p.login, "login", w, d)
}

// Consent renders the consent page to w.
func (p *Pages) Consent(w io.Writer, d ConsentData) error {
	return render(p.consent, "consent", w, d)
}

// Logout renders the sign-out confirmation page to w.
func (p *Pages) Logout(w io.Writer, d LogoutData) error {
	return render(p.logout, "logout", w, d)
}

// Message renders the plain message page to w.
func (p *Pages) Message(w io.Writer, d MessageData) error {
	return render(p.message, "message", w, d)
}

// Error renders the error page to w.
func (p *Pages) Error(w io.Writer, d ErrorData) error {
	return render(p.errorPage, "error", w, d)
}

// MFA renders the second-factor page to w.
func (p *Pages) MFA(w io.Writer, d MFAData) error {
	return render(p.mfa, "mfa", w, d)
}

// Enroll renders the authenticator app setup page to w.
func (p *Pages) Enroll(w io.Writer, d EnrollData) error {
	return render(p.enroll, "enroll", w, d)
}

// Recovery renders the recovery codes page to w.
func (p *Pages) Recovery(w io.Writer, d RecoveryData) error {
	return render(p.recovery, "recovery", w, d)
}

// Passkeys renders the page of a person's passkeys to w.
func (p *Pages) Passkeys(w io.Writer, d PasskeysData) error {
	return render(p.passkeys, "passkeys", w, d)
}

// Account renders the account page to w.
func (p *Pages) Account(w io.Writer, d AccountData) error {
	return render(p.account, "account", w, d)
}

// AccountSection renders the body of the account page's section name,
// the template account_<name> of templates/account_<name>.html.
func (p *Pages) AccountSection(w io.Writer, name string, d SectionData) error {
	if p.account == nil {
		return errNotBuilt
	}
	if err := p.account.ExecuteTemplate(w, "account_"+name, d); err != nil {
		return fmt.Errorf("templates: render account section %s: %w", name, err)
	}
	return nil
}

// Reset renders the page that sets a new password from a reset link.
func (p *Pages) Reset(w io.Writer, d ResetData) error {
	return render(p.reset, "reset", w, d)
}

// CSP returns the Content-Security-Policy under which every page works:
//
//	default-src 'none'; style-src 'sha256-…'; img-src data:; base-uri 'none'; frame-ancestors 'none'
//
// where the hash is that of the one style element all pages share. It has
// no form-action directive: CSPFormAction adds it.
func (p *Pages) CSP() string {
	return p.csp
}

// CSPFormAction is CSP with form-action 'self' and sources, each a CSP
// source expression (an origin such as https://app.example, or a scheme
// such as com.example.app:). Chrome applies form-action to the redirects
// that follow a form post, so a page whose form post may redirect back to
// a client names that client's redirect URI origin.
func (p *Pages) CSPFormAction(sources ...string) string {
	return p.csp + "; form-action " + strings.Join(append([]string{"'self'"}, sources...), " ")
}

// CSPScript is CSPFormAction for a page that loads script, which it may
// only do from the static files (AssetsPath, through the template function
// "asset"): it adds script-src 'self', and connect-src 'self' for the
// script's JSON posts (webauthn.js's fetch), and nothing else: no inline
// script, no 'unsafe-inline', no 'unsafe-eval', no other origin. Only such
// a page gets it; every other page is served without script-src and so
// runs no script at all (default-src 'none').
func (p *Pages) CSPScript(sources ...string) string {
	return p.csp + "; script-src 'self'; connect-src 'self'; form-action " + strings.Join(append([]string{"'self'"}, sources...), " ")
}

// errNotBuilt is returned when a Pages was not built by New.
var errNotBuilt = errors.New("templates: Pages not built by New")

// render executes the page t, named name in errors, with data into w.
func render(t *template.Template, name string, w io.Writer, data any) error {
	if t == nil {
		return errNotBuilt
	}
	if err := t.Execute(w, data); err != nil {
		return fmt.Errorf("templates: render %s page: %w", name, err)
	}
	return nil
}
