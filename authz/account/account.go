// Package account serves a person's own page on the public listener,
// /account: their profile, password, second factors, browser sessions,
// consents and a download of their data; and the page a password-reset
// link opens. The pages are server-rendered with the login pages' kit
// (login.Kit): the same cookies, CSRF tokens, Content-Security-Policy
// and headers, and they work without JavaScript.
//
// The page is a list of sections (Section). A section is one template
// block, templates/account_<name>.html, and one entry in the handler's
// list (Config.Sections, or Handler.Register): its data and its form
// posts, which go to /account/<name>/<action>. Password and factor
// changes need a sign-in no older than FreshAuth; an older one sends the
// person through the sign-in pages and back.
package account

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/login"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/templates"
)

// Path is the account page; its sections' posts go below it.
const Path = "/account"

// FreshAuth is how old a sign-in may be for a password or factor change.
const FreshAuth = 5 * time.Minute

// Store is what the account pages read and write.
type Store interface {
	GetUser(ctx context.Context, id string) (storage.User, error)
	UpdateUser(ctx context.Context, u storage.User) error
	GetClient(ctx context.Context, id string) (storage.Client, error)
	ListBrowserSessions(ctx context.Context, userID string) ([]storage.BrowserSession, error)
	DeleteBrowserSession(ctx context.Context, id string) error
	ListConsents(ctx context.Context, userID string) ([]storage.Consent, error)
	DeleteConsents(ctx context.Context, userID, clientID string) (storage.Withdrawal, error)
	ListTokensBySubject(ctx context.Context, subject string) ([]storage.Token, error)
	RevokeRequest(ctx context.Context, kind storage.TokenKind, requestID string) error
	UseAssertion(ctx context.Context, clientID, jti string, expires time.Time) error
	ListFactors(ctx context.Context, userID string) ([]storage.Factor, error)
	CreateFactor(ctx context.Context, f storage.Factor) error
	DeleteFactors(ctx context.Context, userID string) (int, error)
	SetRecoveryCodes(ctx context.Context, userID string, digests [][]byte, now time.Time) error
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
	ListPasskeys(ctx context.Context, userID string) ([]storage.Passkey, error)
}

// Config configures a Handler. Every field is required unless it says
// otherwise.
type Config struct {
	// Login are the login pages whose kit the account pages use.
	Login *login.Handler
	Store Store
	// EndSession logs a browser session out: it and the tokens of its
	// grants end, and its clients are told (logout.Service.End). Without
	// it only the session record is deleted.
	EndSession func(ctx context.Context, bs storage.BrowserSession, ip string) error
	Audit      *audit.Writer
	// Export gathers everything held about a person (the admin API's
	// export), for "Download my data".
	Export func(ctx context.Context, userID string) (adminapi.UserExport, error)
	// Issuer is the public URL that password-reset links start with.
	Issuer string
	// Sections come after the built-in ones, in order; optional.
	Sections []Section
	// Log receives the pages' logs; zap.NewNop if nil.
	Log *zap.Logger
}

// Section is one part of the account page.
type Section struct {
	// Name is its id: the fragment #Name, its template account_<Name>
	// and its posts' path /account/<Name>/<action>. Lower-case letters.
	Name string
	// Title is its heading.
	Title string
	// Load returns the data of its template for the person of v.
	Load func(ctx context.Context, v *View) (any, error)
	// Actions are its form posts by action name.
	Actions map[string]Action
}

// Action is one form post of a section.
type Action struct {
	// Fresh asks for a sign-in no older than FreshAuth; an older one
	// goes through the sign-in pages first and comes back to the section.
	Fresh bool
	// Do carries the post out for v (its form read and its CSRF token
	// checked). It either answers itself (Outcome.Done) or says what to
	// show on the account page.
	Do func(w http.ResponseWriter, r *http.Request, v *View) Outcome
}

// Outcome is what an action did.
type Outcome struct {
	// Done: the action has answered the request itself.
	Done bool
	// Notice says what changed; Problem why nothing did (the page is then
	// answered 400, or Status if set).
	Notice, Problem string
	Status          int
	// Data, if set, replaces what Load gives its section this once (a
	// step in progress, such as a TOTP enrollment).
	Data any
}

// View is the signed-in person a section shows or changes.
type View struct {
	User    storage.User
	Session storage.BrowserSession
	CSRF    string
	Now     time.Time
}

// Handler serves /account and the password-reset page. Build it with
// New; it is safe for concurrent use.
type Handler struct {
	cfg      Config
	kit      *login.Kit
	store    Store
	log      *zap.Logger
	sections []Section
}

// New returns a handler with cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Login == nil || cfg.Store == nil || cfg.Audit == nil || cfg.Export == nil || cfg.Issuer == "" {
		return nil, errors.New("account: incomplete configuration")
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	h := &Handler{cfg: cfg, store: cfg.Store, log: cfg.Log}
	h.kit = login.KitOf(cfg.Login, h.back)
	for _, s := range append(h.builtin(), cfg.Sections...) {
		if err := h.Register(s); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Register adds a section at the end of the page; an error if its name is
// not lower-case letters or is taken. Call it before serving.
func (h *Handler) Register(s Section) error {
	if s.Name == "" || strings.Trim(s.Name, "abcdefghijklmnopqrstuvwxyz") != "" || s.Load == nil && len(s.Actions) == 0 {
		return errors.New("account: a section needs a lower-case name and data or actions")
	}
	if slices.ContainsFunc(h.sections, func(o Section) bool { return o.Name == s.Name }) || s.Name == "signin" {
		return errors.New("account: section " + s.Name + " registered twice")
	}
	h.sections = append(h.sections, s)
	return nil
}

// back is where a sign-in for the account page returns: the page, at
// the section raw names if it is one (as "/account#name"). Anything else
// is the page itself, so no sign-in can lead elsewhere.
func (h *Handler) back(raw string) string {
	name, ok := strings.CutPrefix(raw, Path+"#")
	if ok && slices.ContainsFunc(h.sections, func(s Section) bool { return s.Name == name }) {
		return raw
	}
	return Path
}

// ServeHTTP serves /account, its sections' posts, the sign-in pages
// (login.KitSignInPath) and the password-reset page (ResetPath).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; p {
	case Path:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			h.kit.ErrorPage(w, r, http.StatusMethodNotAllowed, "Method not allowed", "Open this page with GET.")
			return
		}
		h.page(w, r, nil, Outcome{})
	case login.KitSignInPath:
		h.kit.SignIn(w, r)
	case login.KitSignInMFAPath:
		h.kit.SignInMFA(w, r)
	case ResetPath:
		h.reset(w, r)
	default:
		h.post(w, r)
	}
}

// signedIn returns the person of r, or sends the browser to sign in and
// come back to ret.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request, ret string) (*View, bool) {
	bs, user, ok, err := h.kit.Session(r.Context(), r)
	if err != nil {
		h.unavailable(w, r, err)
		return nil, false
	}
	if !ok {
		h.toSignIn(w, r, ret)
		return nil, false
	}
	return &View{User: user, Session: bs, CSRF: h.kit.CSRF(w, r), Now: h.kit.Now()}, true
}

func (h *Handler) toSignIn(w http.ResponseWriter, r *http.Request, ret string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, login.KitSignInPath+"?return="+strings.ReplaceAll(h.back(ret), "#", "%23"), http.StatusSeeOther)
}

// post serves a section's form post, /account/<section>/<action>.
func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	rest, _ := strings.CutPrefix(r.URL.Path, Path+"/")
	name, action, _ := strings.Cut(rest, "/")
	i := slices.IndexFunc(h.sections, func(s Section) bool { return s.Name == name })
	var act Action
	if i >= 0 {
		act = h.sections[i].Actions[action]
	}
	if act.Do == nil {
		h.kit.ErrorPage(w, r, http.StatusNotFound, "Page not found", "There is no such page.")
		return
	}
	if !h.kit.ReadForm(w, r) || !single(w, r, h) {
		return
	}
	v, ok := h.signedIn(w, r, Path+"#"+name)
	if !ok {
		return
	}
	if act.Fresh && v.Now.Sub(v.Session.AuthTime) > FreshAuth {
		// The change waits for a new sign-in; the person makes it again
		// on the page they come back to.
		h.toSignIn(w, r, Path+"#"+name)
		return
	}
	out := act.Do(w, r, v)
	if out.Done {
		return
	}
	h.page(w, r, map[string]any{name: out.Data}, out)
}

// page shows the account page: every section with its data (or the data
// an action left in over), and what the last action did.
func (h *Handler) page(w http.ResponseWriter, r *http.Request, over map[string]any, out Outcome) {
	ctx := r.Context()
	v, ok := h.signedIn(w, r, Path)
	if !ok {
		return
	}
	d := templates.AccountData{Username: v.User.Username, CSRF: v.CSRF, LogoutAction: login.LogoutPath, Notice: out.Notice, Problem: out.Problem}
	for _, s := range h.sections {
		data := over[s.Name]
		if data == nil && s.Load != nil {
			var err error
			if data, err = s.Load(ctx, v); err != nil {
				h.unavailable(w, r, err)
				return
			}
		}
		var b bytes.Buffer
		if err := h.kit.Pages().AccountSection(&b, s.Name, templates.SectionData{Action: Path + "/" + s.Name, CSRF: v.CSRF, Data: data}); err != nil {
			h.unavailable(w, r, err)
			return
		}
		d.Sections = append(d.Sections, templates.AccountSection{Name: s.Name, Title: s.Title, HTML: template.HTML(b.String())}) //nolint:gosec // rendered by html/template
	}
	status := http.StatusOK
	if out.Problem != "" {
		status = cmpOr(out.Status, http.StatusBadRequest)
	}
	h.kit.Render(w, r, status, func(b *bytes.Buffer) error { return h.kit.Pages().Account(b, d) })
}

// single refuses a form that gives a field twice: which one counts would
// be a guess.
func single(w http.ResponseWriter, r *http.Request, h *Handler) bool {
	for _, vs := range r.PostForm {
		if len(vs) > 1 {
			h.kit.ErrorPage(w, r, http.StatusBadRequest, "The form could not be read", "A field was sent twice. Go back and try again.")
			return false
		}
	}
	return true
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// audit appends an entry of type typ about the person of v, by them; kv
// are details in pairs (never a secret, code or personal data).
func (h *Handler) audit(r *http.Request, v *View, typ, outcome string, kv ...string) error {
	d := map[string]string{"via": "account"}
	for i := 0; i+1 < len(kv); i += 2 {
		d[kv[i]] = kv[i+1]
	}
	h.log.Info("account change", web.RequestField(r.Context()), zap.String("event", typ), zap.String("user_id", v.User.ID))
	return h.cfg.Audit.Append(r.Context(), storage.AuditEntry{Type: typ, Actor: audit.User(v.User.ID), Subject: v.User.ID,
		IP: h.kit.IP(r), Outcome: outcome, Details: d})
}

func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Error("account page", web.RequestField(r.Context()), zap.Error(err))
	h.kit.ErrorPage(w, r, http.StatusServiceUnavailable, "Please try again", "The server cannot complete the request right now. Try again in a moment.")
}

// failed is the outcome of an action the store or the audit trail failed.
func (h *Handler) failed(w http.ResponseWriter, r *http.Request, err error) Outcome {
	h.unavailable(w, r, err)
	return Outcome{Done: true}
}

// endOthers ends every browser session of userID but keep (none if
// empty) and, if tokens, every refresh token of theirs, and returns how many sessions
// and how many grants with a usable refresh token (at now) it ended.
func endOthers(ctx context.Context, st Store, end func(context.Context, storage.BrowserSession) error, userID, keep string, now time.Time, tokens bool) (sessions, refresh int, err error) {
	// The person's refresh grants, read first: ending a session ends its
	// own grants' tokens too, and every grant counts once.
	live := map[string]bool{}
	if tokens {
		toks, err := st.ListTokensBySubject(ctx, userID)
		if err != nil {
			return 0, 0, err
		}
		for _, t := range toks {
			if t.Kind == storage.RefreshToken {
				live[t.RequestID] = live[t.RequestID] || t.ConsumedAt.IsZero() && t.ExpiresAt.After(now)
			}
		}
	}
	list, err := st.ListBrowserSessions(ctx, userID)
	if err != nil {
		return 0, 0, err
	}
	for _, bs := range list {
		if bs.ID == keep {
			continue
		}
		switch err := end(ctx, bs); {
		case err == nil:
			sessions++
		case !errors.Is(err, storage.ErrNotFound):
			return sessions, refresh, err
		}
	}
	for req, ok := range live {
		if err := st.RevokeRequest(ctx, storage.RefreshToken, req); err != nil {
			return sessions, refresh, err
		}
		if ok {
			refresh++
		}
	}
	return sessions, refresh, nil
}

// ender is how h ends a browser session of r's person: logged out (its
// grants' tokens end and its clients are told) when the server wires
// EndSession, else its record deleted.
func (h *Handler) ender(r *http.Request) func(context.Context, storage.BrowserSession) error {
	return func(ctx context.Context, bs storage.BrowserSession) error {
		if h.cfg.EndSession != nil {
			return h.cfg.EndSession(ctx, bs, h.kit.IP(r))
		}
		return h.store.DeleteBrowserSession(ctx, bs.ID)
	}
}
