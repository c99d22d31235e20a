package login

import (
	"bytes"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/templates"
)

// AssetsPath is the URL path prefix under which Asset serves the pages'
// static files.
const AssetsPath = templates.AssetsPath

// Asset serves the pages' static files (templates.Pages.Asset): only the
// exact hashed paths, with GET or HEAD, cached for a year as immutable
// (the hash in the name changes with the content) and with an ETag. Any
// other path under AssetsPath is 404, a path with dot segments included.
func (h *Handler) Asset(w http.ResponseWriter, r *http.Request) {
	a, ok := h.cfg.Pages.Asset(r.URL.Path)
	if !ok {
		web.WriteError(w, http.StatusNotFound, "not_found", "No such file.")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		web.WriteError(w, http.StatusMethodNotAllowed, "invalid_request", "Use GET.")
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ContentType)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	hd.Set("ETag", a.ETag)
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.Body))
}

// renderPage renders a page into a buffer, then writes it with status.
func (h *Handler) renderPage(w http.ResponseWriter, r *http.Request, status int, render func(*bytes.Buffer) error) {
	h.renderForm(w, r, status, nil, render)
}

// renderForm is renderPage for a page whose form post may redirect to
// the sources in formAction.
func (h *Handler) renderForm(w http.ResponseWriter, r *http.Request, status int, formAction []string, render func(*bytes.Buffer) error) {
	renderCSP(h, w, r, status, h.cfg.Pages.CSPFormAction(formAction...), render)
}

// renderScript is renderForm for a page that loads webauthn.js.
func (h *Handler) renderScript(w http.ResponseWriter, r *http.Request, status int, formAction []string, render func(*bytes.Buffer) error) {
	renderCSP(h, w, r, status, h.cfg.Pages.CSPScript(formAction...), render)
}

// renderCSP renders a page of h served under the policy csp.
func renderCSP(h *Handler, w http.ResponseWriter, r *http.Request, status int, csp string, render func(*bytes.Buffer) error) {
	web.WritePage(w, r, h.log, status, csp, h.cfg.Pages.CSP(), render)
}

func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	h.renderPage(w, r, status, func(b *bytes.Buffer) error {
		return h.cfg.Pages.Error(b, templates.ErrorData{Title: title, Message: msg, Status: status})
	})
}

func (h *Handler) messagePage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	h.renderPage(w, r, status, func(b *bytes.Buffer) error {
		return h.cfg.Pages.Message(b, templates.MessageData{Title: title, Message: msg})
	})
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request, status int, c *clientauth.Client, raw, username, msg string) {
	csrf := h.cookies.CSRFToken(w, r)
	d := templates.LoginData{Action: LoginPath, CSRF: csrf, Return: raw, ClientName: c.Rec.Name, Username: username, Error: msg}
	render := h.renderForm
	if d.Passkey = h.pk.beginPasskey(w, r, csrf, PasskeyLoginPath, raw, "", nil); d.Passkey != nil {
		render = h.renderScript
	}
	render(w, r, status, redirectSource(c, raw), func(b *bytes.Buffer) error {
		return h.cfg.Pages.Login(b, d)
	})
}

func (h *Handler) consentPage(w http.ResponseWriter, r *http.Request, c *clientauth.Client, u storage.User, requested []string, raw string) {
	csrf := h.cookies.CSRFToken(w, r)
	list := make([]templates.Scope, 0, len(requested))
	for _, name := range requested {
		sc, _ := h.cfg.Scopes.Get(name)
		list = append(list, templates.Scope{Name: sc.Name, Description: sc.Description})
	}
	name := u.Name
	if name == "" {
		name = u.Username
	}
	h.renderForm(w, r, http.StatusOK, redirectSource(c, raw), func(b *bytes.Buffer) error {
		return h.cfg.Pages.Consent(b, templates.ConsentData{Action: ConsentPath, CSRF: csrf, Return: raw, ClientName: c.Rec.Name, ClientID: c.GetID(), UserName: name, Scopes: list})
	})
}

// cspSource matches what redirectSource may put in a CSP header: a scheme,
// or a scheme with a host and port.
var cspSource = regexp.MustCompile(`^[a-z][a-z0-9+.-]*:(//[a-z0-9.-]+(:[0-9]{1,5})?|//\[[0-9a-f:.]+\](:[0-9]{1,5})?)?$`)

// redirectSource is the CSP source of the redirect URI of the checked
// authorization request raw of client c, which the login and consent
// posts may redirect to: its origin, or its scheme for a URI without a
// host (a native app's). None if it cannot be said safely.
func redirectSource(c *clientauth.Client, raw string) []string {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil
	}
	uri := q.Get("redirect_uri")
	if uri == "" && len(c.Rec.RedirectURIs) == 1 {
		uri = c.Rec.RedirectURIs[0]
	}
	if q.Has("request_uri") {
		// A pushed request: its redirect URI, one of the client's, is
		// not in raw.
		var srcs []string
		for _, reg := range c.Rec.RedirectURIs {
			srcs = append(srcs, uriSource(reg)...)
		}
		return srcs
	}
	return uriSource(uri)
}

// uriSource is the CSP source of uri: its origin, or its scheme for a URI
// without a host; none if it cannot be said safely.
func uriSource(uri string) []string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" {
		return nil
	}
	src := strings.ToLower(u.Scheme) + ":"
	if u.Host != "" {
		src += "//" + strings.ToLower(u.Host)
	}
	if !cspSource.MatchString(src) {
		return nil
	}
	return []string{src}
}
