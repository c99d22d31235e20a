package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/web"
)

//go:embed pages/*.html pages/console.css pages/copy.js
var files embed.FS

// pages are the console's templates, its stylesheet's CSP hash and its
// one script.
type pages struct {
	byName     map[string]*template.Template
	csp        string
	script     []byte
	scriptPath string
}

func parsePages() (*pages, error) {
	css, err := fs.ReadFile(files, "pages/console.css")
	if err != nil {
		return nil, err
	}
	if bytes.Contains(css, []byte("{{")) || bytes.Contains(css, []byte("</")) {
		return nil, fmt.Errorf("console: console.css holds {{ or </")
	}
	js, err := fs.ReadFile(files, "pages/copy.js")
	if err != nil {
		return nil, err
	}
	jsSum := sha256.Sum256(js)
	p := &pages{byName: map[string]*template.Template{}, script: js,
		scriptPath: Prefix + "/static/copy." + hex.EncodeToString(jsSum[:6]) + ".js"}
	funcs := template.FuncMap{
		"unix": func(s int64) string {
			if s == 0 {
				return ""
			}
			return time.Unix(s, 0).UTC().Format("2006-01-02 15:04 UTC")
		},
		"join": strings.Join,
	}
	base, err := template.New("base.html").Funcs(funcs).ParseFS(files, "pages/base.html")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if _, err := base.New("style").Parse(string(css)); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	names, err := fs.Glob(files, "pages/*.html")
	if err != nil {
		return nil, err
	}
	for _, f := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "pages/"), ".html")
		if name == "base" {
			continue
		}
		t, err := base.Clone()
		if err == nil {
			_, err = t.ParseFS(files, f)
		}
		if err != nil {
			return nil, fmt.Errorf("console: %s: %w", f, err)
		}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, "base", pageData{}); err != nil {
			return nil, fmt.Errorf("console: %s: %w", f, err)
		}
		if !strings.Contains(buf.String(), "<style>"+string(css)+"</style>") {
			return nil, fmt.Errorf("console: %s: the style element differs from console.css", f)
		}
		p.byName[name] = t
	}
	sum := sha256.Sum256(css)
	p.csp = "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; img-src data:; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
	return p, nil
}

// pageData fills every console page; each uses what it needs.
type pageData struct {
	Title, Error, Notice string
	// CSRF is the anti-forgery token of the page's forms.
	CSRF string
	// Me is the signed-in operator (nil on the sign-in pages) and Can
	// what their role may do, by scope.
	Me  *adminapi.OperatorJSON
	Can map[string]bool
	// Script is the copy button's script path, for pages that load it.
	Script string

	// Sign-in and enrollment.
	Next, Username, Action, Token, Secret, URI string
	QR                                         template.HTML

	Query     string
	Clients   []adminapi.ClientJSON
	Client    *adminapi.ClientJSON
	NewSecret string
	People    []adminapi.UserJSON
	Person    *adminapi.UserJSON
	Export    *adminapi.UserExport
	Keys      []adminapi.KeyJSON
	Audit     []adminapi.AuditEntryJSON
	Operators []adminapi.OperatorJSON
	Link      string

	manageData
	operatorData
}

func (p *pages) cspFor(d pageData) string {
	if d.Script != "" {
		return p.csp + "; script-src 'self'"
	}
	return p.csp
}

// render writes the page name with d, its CSRF token set.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	t, ok := h.pages.byName[name]
	if !ok {
		h.log.Error("no such console page", zap.String("page", name))
		web.WriteServerError(w)
		return
	}
	d.CSRF = h.cookies.CSRFToken(w, r)
	web.WritePage(w, r, h.log, status, h.pages.cspFor(d), h.pages.csp, func(b *bytes.Buffer) error {
		return t.ExecuteTemplate(b, "base", d)
	})
}

// message answers with a plain page of title and text.
func (h *Handler) message(w http.ResponseWriter, r *http.Request, status int, title, text string) {
	h.render(w, r, status, "message", pageData{Title: title, Error: text})
}

// unavailable answers a failure of the store or of the server itself.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Error("console", web.RequestField(r.Context()), zap.Error(err))
	w.Header().Set("Retry-After", "5")
	h.message(w, r, http.StatusServiceUnavailable, "Please try again", "The server could not do this right now. Try again in a moment.")
}

// readForm parses a page's form post: POST, form-encoded, bounded, one
// value per field, CSRF token checked. If not ok it has answered.
func (h *Handler) readForm(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		h.message(w, r, http.StatusMethodNotAllowed, "Not allowed", "This page does not take that method.")
		return false
	}
	r.URL.RawQuery = "" // the form is the only input of a post
	if e := web.ReadForm(w, r); e != nil {
		h.message(w, r, e.Status, "Bad request", e.Description)
		return false
	}
	if !h.cookies.CheckCSRF(r) {
		h.message(w, r, http.StatusForbidden, "Form expired", "This form has expired or came from another site. Go back, reload the page and try again.")
		return false
	}
	return true
}

// serveScript serves the copy button's script under its hashed path.
func (h *Handler) serveScript(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != h.pages.scriptPath {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(h.pages.script)
}
