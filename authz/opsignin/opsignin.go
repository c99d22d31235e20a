// Package opsignin is the authorization endpoint through which operators
// give `idvauth login` a token for the admin API: the authorization-code
// grant with PKCE (RFC 8252: a loopback redirect, any port) for the
// built-in public client idvauth-cli, on the admin listener only.
//
// The operator signs in on the console (password and second factor);
// this package then asks them, on a page of its own, whether the command
// line may act for them, and issues the code. The token endpoint is the
// server's own, mounted on the admin listener; what an operator's token
// may do is bounded by their role on every request (adminauth).
package opsignin

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/mfa"
	"github.com/idvauth/idvauth/authz/operators"
	"github.com/idvauth/idvauth/scopes"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/templates"
)

// Paths on the admin listener.
const (
	AuthorizePath = "/console/oauth2/authorize"
	TokenPath     = "/console/oauth2/token"
)

// maxQueryLen bounds an authorization request.
const maxQueryLen = 4 << 10

// Provider is the part of fosite the endpoint uses.
type Provider interface {
	NewAuthorizeRequest(ctx context.Context, r *http.Request) (fosite.AuthorizeRequester, error)
	NewAuthorizeResponse(ctx context.Context, ar fosite.AuthorizeRequester, session fosite.Session) (fosite.AuthorizeResponder, error)
	WriteAuthorizeResponse(ctx context.Context, rw http.ResponseWriter, ar fosite.AuthorizeRequester, resp fosite.AuthorizeResponder)
	WriteAuthorizeError(ctx context.Context, rw http.ResponseWriter, ar fosite.AuthorizeRequester, err error)
}

// Operators reads operators; storage.OperatorStore is one.
type Operators interface {
	GetOperator(ctx context.Context, id string) (storage.Operator, error)
}

// Auditor appends audit entries.
type Auditor interface {
	Append(ctx context.Context, e storage.AuditEntry) error
}

// Config configures a Handler. Every field without a documented default
// is required.
type Config struct {
	Provider Provider
	// NewSession makes the fosite session of a grant for subject, with
	// the claims of the sign-in.
	NewSession func(subject string, claims *jwt.IDTokenClaims) fosite.Session
	// SignedIn says which operator is signed in to the console on r, and
	// since when.
	SignedIn func(r *http.Request) (operatorID string, authTime time.Time, ok bool)
	// SignInURL is the console's sign-in page that returns to next, a
	// local path, once the operator has signed in.
	SignInURL func(next string) string
	Operators Operators
	// Audience is the admin API's identifier, the audience of the tokens.
	Audience string
	// Issuer is sent as the iss parameter of the answer (RFC 9207).
	Issuer  string
	Pages   *templates.Pages
	Cookies web.Cookies
	Audit   Auditor
	// Tokens keeps the records of the device grant.
	Tokens Tokens
	// Sealer seals the device grant's authorization codes while they
	// wait for their poll.
	Sealer Sealer
	// AdminURL is where the admin listener is reached, for the device
	// grant's verification_uri; empty: http:// and the request's host.
	AdminURL string
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Log is told of failures; zap.NewNop if nil.
	Log *zap.Logger
}

// Handler serves AuthorizePath. It is safe for concurrent use.
type Handler struct{ cfg Config }

// New returns the handler of cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Provider == nil || cfg.NewSession == nil || cfg.SignedIn == nil || cfg.SignInURL == nil || cfg.Operators == nil ||
		cfg.Audience == "" || cfg.Pages == nil || cfg.Audit == nil || cfg.Tokens == nil || cfg.Sealer == nil {
		return nil, errors.New("opsignin: incomplete configuration")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Handler{cfg: cfg}, nil
}

// ServeHTTP serves the authorization endpoint: GET shows the operator
// the request (after sign-in), POST is their decision.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		h.ask(w, r)
	case http.MethodPost:
		h.decide(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		h.errorPage(w, r, http.StatusMethodNotAllowed, "Method not allowed", "Open this page from idvauth login.")
	}
}

// ask checks the request, sends an operator who is not signed in to the
// console's sign-in, and asks one who is whether to allow it.
func (h *Handler) ask(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.RawQuery
	ar, ok := h.parse(w, r, raw)
	if !ok {
		return
	}
	opID, _, signed := h.cfg.SignedIn(r)
	if !signed {
		http.Redirect(w, r, h.cfg.SignInURL(AuthorizePath+"?"+raw), http.StatusSeeOther)
		return
	}
	o, ok := h.operator(w, r, ar, opID)
	if !ok {
		return
	}
	list := make([]templates.Scope, 0, len(ar.GetRequestedScopes()))
	for _, sc := range grantable(ar.GetRequestedScopes(), o.Role) {
		list = append(list, templates.Scope{Name: sc})
	}
	csrf := h.cfg.Cookies.CSRFToken(w, r)
	h.render(w, r, http.StatusOK, []string{redirectOrigin(ar)}, func(b *bytes.Buffer) error {
		return h.cfg.Pages.Consent(b, templates.ConsentData{Action: AuthorizePath, CSRF: csrf, Return: raw,
			ClientName: "idvauth command line", ClientID: ar.GetClient().GetID(), UserName: o.Username, Scopes: list})
	})
}

// decide takes the operator's answer to ask's page.
func (h *Handler) decide(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 2*maxQueryLen)
	if err := r.ParseForm(); err != nil || len(r.PostForm["return"]) != 1 || len(r.PostForm["decision"]) != 1 {
		h.errorPage(w, r, http.StatusBadRequest, "The form could not be read", "Start again from idvauth login.")
		return
	}
	if !h.cfg.Cookies.CheckCSRF(r) {
		h.errorPage(w, r, http.StatusForbidden, "The form has expired", "For your safety this form can only be sent from the page that showed it. Start again from idvauth login.")
		return
	}
	ar, ok := h.parse(w, r, r.PostForm.Get("return"))
	if !ok {
		return
	}
	ctx := r.Context()
	opID, authTime, signed := h.cfg.SignedIn(r)
	if !signed {
		h.errorPage(w, r, http.StatusForbidden, "You are signed out", "Sign in to the console and start again from idvauth login.")
		return
	}
	o, ok := h.operator(w, r, ar, opID)
	if !ok {
		return
	}
	if r.PostForm.Get("decision") != "allow" {
		h.audit(ctx, o.ID, "denied")
		h.cfg.Provider.WriteAuthorizeError(ctx, w, ar, fosite.ErrAccessDenied.WithHint("The operator did not allow the request."))
		return
	}
	for _, sc := range grantable(ar.GetRequestedScopes(), o.Role) {
		ar.GrantScope(sc)
	}
	ar.GrantScope(scopes.OfflineAccess) // idvauth login refreshes silently
	ar.GrantAudience(h.cfg.Audience)
	resp, err := h.cfg.Provider.NewAuthorizeResponse(ctx, ar, h.session(o.ID, authTime))
	if err != nil {
		h.cfg.Provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	if err := h.audit(ctx, o.ID, "allowed"); err != nil {
		h.errorPage(w, r, http.StatusServiceUnavailable, "Try again", "The sign-in could not be recorded.")
		return
	}
	resp.AddParameter("iss", h.cfg.Issuer)
	h.cfg.Provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// parse checks an authorization request, raw its query: the built-in
// client of the command line, a loopback redirect URI, PKCE S256. A
// request whose client or redirect URI cannot be trusted gets a page;
// any other error goes back to the redirect URI.
func (h *Handler) parse(w http.ResponseWriter, r *http.Request, raw string) (fosite.AuthorizeRequester, bool) {
	q, err := url.ParseQuery(raw)
	if err != nil || len(raw) > maxQueryLen {
		h.errorPage(w, r, http.StatusBadRequest, "The request could not be read", "Start again from idvauth login.")
		return nil, false
	}
	for k, v := range q {
		if len(v) > 1 {
			h.errorPage(w, r, http.StatusBadRequest, "The request could not be read", "The parameter "+web.SafeParam(k)+" is given more than once.")
			return nil, false
		}
	}
	if q.Get("client_id") != operators.CLIClientID || !loopbackRedirect(q.Get("redirect_uri")) {
		h.errorPage(w, r, http.StatusBadRequest, "Unknown application",
			"Only idvauth login signs in here, with a loopback redirect URI (http://127.0.0.1:PORT/callback).")
		return nil, false
	}
	req := r.Clone(r.Context())
	req.Method, req.URL = http.MethodGet, &url.URL{Path: AuthorizePath, RawQuery: raw}
	req.Body, req.Form, req.PostForm = http.NoBody, nil, nil
	ar, err := h.cfg.Provider.NewAuthorizeRequest(r.Context(), req)
	if err == nil && (q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256") {
		err = fosite.ErrInvalidRequest.WithHint("PKCE with code_challenge_method S256 is required.")
	}
	if err == nil && q.Get("response_type") != "code" {
		err = fosite.ErrUnsupportedResponseType.WithHint("Only response_type code is served.")
	}
	if err == nil {
		if bad := slices.IndexFunc(ar.GetRequestedScopes(), func(s string) bool { return !adminauth.IsAdminScope(s) && s != scopes.OfflineAccess }); bad >= 0 {
			err = fosite.ErrInvalidScope.WithHintf("The scope '%s' is not an admin scope.", web.SafeParam(ar.GetRequestedScopes()[bad]))
		}
	}
	if err != nil {
		if errors.Is(err, fosite.ErrTemporarilyUnavailable) || ar == nil || ar.GetRedirectURI() == nil {
			h.errorPage(w, r, http.StatusBadRequest, "The request is not valid", "Start again from idvauth login.")
			return nil, false
		}
		h.cfg.Provider.WriteAuthorizeError(r.Context(), w, ar, err)
		return nil, false
	}
	return ar, true
}

// operator reads the signed-in operator; a disabled one is refused (to
// the redirect URI of ar, or with a page when ar is nil).
func (h *Handler) operator(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, id string) (storage.Operator, bool) {
	o, err := h.cfg.Operators.GetOperator(r.Context(), id)
	switch {
	case errors.Is(err, storage.ErrNotFound) || (err == nil && o.Disabled):
		if ar == nil {
			h.errorPage(w, r, http.StatusForbidden, "Access denied", "The operator is disabled.")
		} else {
			h.cfg.Provider.WriteAuthorizeError(r.Context(), w, ar, fosite.ErrAccessDenied.WithHint("The operator is disabled."))
		}
		return o, false
	case err != nil:
		h.cfg.Log.Error("read operator", web.RequestField(r.Context()), zap.Error(err))
		h.errorPage(w, r, http.StatusServiceUnavailable, "Try again", "The server could not read your account.")
		return o, false
	}
	return o, true
}

// session is the fosite session of a grant of the operator id, who
// signed in at authTime with a password and a second factor.
func (h *Handler) session(id string, authTime time.Time) fosite.Session {
	amr := []string{mfa.AMRPassword, mfa.AMROTP, mfa.AMRMFA}
	return h.cfg.NewSession(id, &jwt.IDTokenClaims{Subject: id, AuthTime: authTime,
		AuthenticationMethodsReferences: amr, AuthenticationContextClassReference: mfa.ACR(amr)})
}

// grantable are the admin scopes of requested that role holds; all of
// role's when requested names none.
func grantable(requested []string, role string) []string {
	all := adminauth.RoleScopes(role)
	var asked []string
	for _, s := range requested {
		if adminauth.IsAdminScope(s) {
			asked = append(asked, s)
		}
	}
	if len(asked) == 0 {
		return all
	}
	return slices.DeleteFunc(asked, func(s string) bool { return !slices.Contains(all, s) })
}

// loopbackRedirect reports whether u is a loopback redirect URI of
// idvauth login: http, 127.0.0.1 or [::1], a port, the path /callback.
func loopbackRedirect(u string) bool {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "http" || p.Port() == "" || p.Path != "/callback" || p.RawQuery != "" || p.Fragment != "" || p.User != nil {
		return false
	}
	return p.Hostname() == "127.0.0.1" || p.Hostname() == "::1"
}

// redirectOrigin is the scheme and host of ar's redirect URI, where the
// decision form's answer redirects.
func redirectOrigin(ar fosite.AuthorizeRequester) string {
	u := ar.GetRedirectURI()
	return u.Scheme + "://" + u.Host
}

func (h *Handler) audit(ctx context.Context, operatorID, outcome string) error {
	err := h.cfg.Audit.Append(ctx, storage.AuditEntry{Type: EventCLIAuthorized, Actor: adminauth.OperatorActor(operatorID),
		Subject: operatorID, ClientID: operators.CLIClientID, Details: map[string]string{"outcome": outcome}})
	if err != nil {
		h.cfg.Log.Error("audit the operator's decision", web.RequestField(ctx), zap.Error(err))
	}
	return err
}

// EventCLIAuthorized is the audit entry of an operator's answer to
// idvauth login: details outcome "allowed" or "denied".
const EventCLIAuthorized = "operator.cli_authorization"

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, formAction []string, render func(*bytes.Buffer) error) {
	web.WritePage(w, r, h.cfg.Log, status, h.cfg.Pages.CSPFormAction(formAction...), h.cfg.Pages.CSP(), render)
}

func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	web.WritePage(w, r, h.cfg.Log, status, h.cfg.Pages.CSP(), h.cfg.Pages.CSP(), func(b *bytes.Buffer) error {
		return h.cfg.Pages.Error(b, templates.ErrorData{Title: title, Message: msg, Status: status})
	})
}
