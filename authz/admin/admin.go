// Package admin serves the admin API (/admin/...): clients, people and
// their erasure and export, signing keys, operators (authz/operators) and
// the audit trail. Every call needs an admin credential holding the scope
// its route needs (authz/internal/adminauth decides both) and writes one
// audit entry, with its caller and outcome, before its answer leaves.
//
// Each route returns its answer and the change it made as data (a reply);
// one wrapper checks the caller, audits the call and writes the answer, so
// no route can answer without its entry.
package admin

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/foureyes"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/clientip"
	"github.com/idvauth/idvauth/authz/internal/outbound"
	"github.com/idvauth/idvauth/authz/internal/password"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/operators"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/scopes"
	"github.com/idvauth/idvauth/storage"
)

// Store is what the admin API reads and writes.
type Store interface {
	storage.ClientStore
	storage.APIKeyStore
	CreateUser(ctx context.Context, u storage.User) error
	GetUser(ctx context.Context, id string) (storage.User, error)
	ListUsers(ctx context.Context) ([]storage.User, error)
	UpdateUser(ctx context.Context, u storage.User) error
	DeleteUser(ctx context.Context, id string) error
	ListFactors(ctx context.Context, userID string) ([]storage.Factor, error)
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
	DeleteFactors(ctx context.Context, userID string) (int, error)
	ListConsents(ctx context.Context, userID string) ([]storage.Consent, error)
	DeleteConsents(ctx context.Context, userID, clientID string) (storage.Withdrawal, error)
	ListBrowserSessions(ctx context.Context, userID string) ([]storage.BrowserSession, error)
	DeleteBrowserSession(ctx context.Context, id string) error
	ListTokensBySubject(ctx context.Context, subject string) ([]storage.Token, error)
	ClearFailures(ctx context.Context, key string) error
	ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEntry, error)
	AuditHead(ctx context.Context) (int64, []byte, error)
}

// Keys is the key ring as the admin API uses it; *keys.Ring is one.
type Keys interface {
	Reload(ctx context.Context) error
	Records() []storage.Key
	Active(alg string) (*keys.Key, error)
	RotateNow(ctx context.Context, alg string) (*keys.Key, error)
	Retire(ctx context.Context, kid string, revokeTokens bool) error
}

// Config configures a Handler. Every field without a documented default is
// required.
type Config struct {
	Store  Store
	Keys   Keys
	Scopes *scopes.Registry
	Audit  *audit.Writer
	IPs    clientip.Resolver
	// Auth checks the credential of every call; *adminauth.Authenticator
	// is one.
	Auth Authenticator
	// Operators serves /admin/operators.
	Operators *operators.Handler
	// FourEyes holds the sensitive calls for a second operator when it
	// is on, and serves /admin/requests.
	FourEyes *foureyes.Service
	// MaxAccessTokenTTL caps a client's access_token_ttl.
	MaxAccessTokenTTL time.Duration
	// MaxAPIKeyTTL caps the lifetime of API keys; DefaultMaxAPIKeyTTL if
	// zero.
	MaxAPIKeyTTL time.Duration
	// Argon2 are the parameters of new password hashes.
	Argon2 password.Params
	// Hasher hashes new passwords within the process's hashing budget,
	// shared with the login pages; if nil, one of Argon2 with the default
	// concurrency.
	Hasher *password.Hasher
	// AccountKey names the sign-in failure counter of a username, cleared
	// when its person is erased.
	AccountKey func(username string) string
	// ResetLink makes a single-use password-reset link for a person and
	// says until when it works; nil: POST /admin/users/{id}/password-reset
	// answers 501.
	ResetLink func(ctx context.Context, userID string) (string, time.Time, error)
	// EndSession logs a browser session out: it and the tokens of its
	// grants end, and its clients are told (logout.Service.End). Without
	// it an MFA reset only deletes the session records.
	EndSession func(ctx context.Context, bs storage.BrowserSession, ip string) error
	// EndPerson logs out every browser session of a person about to be
	// deleted or erased (why: "deleted", "erased"), so that their clients
	// are told while the person exists (logout.Service.EndAll). If nil,
	// the sessions only go with the person.
	EndPerson func(ctx context.Context, userID, why string) error
	// Outbound says which internal addresses a client's jwks_uri may
	// name; the zero value: none.
	Outbound outbound.Policy
	// Dev allows http back-channel logout URIs on a loopback host.
	Dev bool
	// Profile is the server's security profile ("fapi2" or ""): new and
	// updated clients are checked against its rules.
	Profile string
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Log receives the API's logs; zap.NewNop if nil.
	Log *zap.Logger
}

// Authenticator checks the credential of an admin request and says who
// made it; its refusals are *web.Error.
type Authenticator interface {
	Authenticate(r *http.Request) (adminauth.Principal, error)
}

// Handler serves the admin API. Build it with New; it is safe for
// concurrent use.
type Handler struct {
	cfg   Config
	store Store
	log   *zap.Logger
	mux   *http.ServeMux
	gate  gate
}

// New returns a handler with cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Keys == nil || cfg.Scopes == nil || cfg.Audit == nil || cfg.AccountKey == nil || cfg.MaxAccessTokenTTL <= 0 ||
		cfg.Auth == nil || cfg.Operators == nil || cfg.FourEyes == nil {
		return nil, errors.New("admin: incomplete configuration")
	}
	if cfg.EndPerson == nil {
		cfg.EndPerson = func(context.Context, string, string) error { return nil }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxAPIKeyTTL <= 0 {
		cfg.MaxAPIKeyTTL = DefaultMaxAPIKeyTTL
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Hasher == nil {
		cfg.Hasher = password.NewHasher(cfg.Argon2, 0)
	}
	h := &Handler{cfg: cfg, store: cfg.Store, log: cfg.Log, mux: http.NewServeMux()}
	h.gate = gate{auth: cfg.Auth, fourEyes: cfg.FourEyes, mux: h.mux}
	for pattern, rt := range h.routes() {
		h.mux.HandleFunc(pattern, h.serve(rt))
	}
	return h, nil
}

// routes is the route table of the admin API: each pattern and the
// route of h that serves it.
func (h *Handler) routes() map[string]route {
	table := map[string]route{
		"/admin/clients":                            h.clients,
		"/admin/clients/{id}":                       h.client,
		"/admin/clients/{id}/secret":                h.clientSecret,
		"/admin/clients/{id}/api-keys":              h.apiKeys,
		"/admin/clients/{id}/api-keys/{key}":        h.apiKey,
		"/admin/clients/{id}/api-keys/{key}/rotate": h.rotateAPIKey,
		"/admin/users":                              h.users,
		"/admin/users/{id}":                         h.user,
		"/admin/users/{id}/consents":                h.userConsents,
		"/admin/users/{id}/erase":                   h.userErase,
		"/admin/users/{id}/mfa/reset":               h.userMFAReset,
		"/admin/users/{id}/export":                  h.userExport,
		"/admin/users/{id}/password-reset": func(w http.ResponseWriter, r *http.Request) (reply, error) {
			return passwordReset(h, w, r)
		},
		"/admin/keys":              h.keys,
		"/admin/keys/rotate":       h.rotateKeys,
		"/admin/keys/{kid}/retire": h.retireKey,
		"/admin/audit":             h.auditList,
		"/admin/audit/verify":      h.auditVerify,
		"/admin/audit/head": func(w http.ResponseWriter, r *http.Request) (reply, error) {
			return auditHead(h, w, r)
		},
		"/admin/openapi.json": h.openAPI,
		"/":                   notFound,
	}
	for p, rt := range operators.Routes(h.cfg.Operators) {
		table[p] = fromOperators(rt)
	}
	for p, rt := range foureyes.Routes(h.cfg.FourEyes) {
		table[p] = fromOperators(rt)
	}
	return table
}

// fromOperators is the route of an /admin/operators or /admin/requests
// route.
func fromOperators(rt operators.Route) route {
	return func(w http.ResponseWriter, r *http.Request) (reply, error) {
		res, err := rt(w, r)
		if err != nil {
			return reply{}, err
		}
		return fromResult(res), nil
	}
}

func fromResult(res operators.Result) reply {
	rep := reply{status: res.Status, body: res.Body}
	if res.Event != "" {
		rep.event = &event{typ: res.Event, subject: res.Subject, details: res.Details}
	}
	return rep
}

// Patterns returns the route patterns of the admin API, sorted, from the
// table New registers ("/admin/clients/{id}"); the catch-all "/" aside.
// Which methods each takes, a request with another method learns from the
// Allow header of its 405.
func Patterns() []string {
	var out []string
	for p := range (&Handler{}).routes() {
		if p != "/" {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// ServeHTTP serves the admin API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// now is the clock, in UTC.
func (h *Handler) now() time.Time { return h.cfg.Now().UTC() }

// A route serves one admin API path. It returns its answer, and the change
// it made for the audit trail, or an error that the wrapper answers. It may
// set headers and read the body; it writes no status and no body.
type route func(w http.ResponseWriter, r *http.Request) (reply, error)

// reply is a route's answer.
type reply struct {
	status int
	// body is answered as JSON; nil: no body.
	body any
	// event is what the call changed; nil: an admin.request entry.
	event *event
}

// event is the audit entry of a change an admin call made.
type event struct {
	typ      string
	clientID string
	subject  string
	details  map[string]string
}

func ok(body any) (reply, error) { return reply{status: http.StatusOK, body: body}, nil }

func notFound(http.ResponseWriter, *http.Request) (reply, error) {
	return reply{}, web.NewError(http.StatusNotFound, "not_found", "No such endpoint.")
}

// methodNotAllowed refuses a method; allow lists the route's methods.
func methodNotAllowed(w http.ResponseWriter, allow string) (reply, error) {
	w.Header().Set("Allow", allow)
	return reply{}, web.NewError(http.StatusMethodNotAllowed, "method_not_allowed", "Allowed methods: "+allow+".")
}

// serve runs rt for a caller whose credential holds the scope the route
// needs (adminauth.Authorize, per method and pattern), writes one audit
// entry for the call with its caller and outcome (the event rt reported,
// or admin.request), then the answer. If the entry cannot be written the caller gets a 503 instead
// of the answer (a change rt made stays made, and the failure is logged).
func (h *Handler) serve(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var rep reply
		w.Header().Set("Cache-Control", "no-store")
		caller, approved, err := h.gate.caller(r)
		if err == nil {
			err = adminauth.Authorize(caller, r.Method, r.Pattern)
			r = r.WithContext(adminauth.WithPrincipal(r.Context(), caller))
		}
		if err == nil {
			rep, err = h.gate.hold(w, r, rt, caller, approved)
		}
		var answer *web.Error
		if err != nil {
			answer = h.errorAnswer(r, err)
			rep = reply{status: answer.Status}
		}
		if h.cfg.Audit.Enabled() {
			if aerr := h.cfg.Audit.Append(r.Context(), withApproval(h.entry(r, caller, rep, answer), approved)); aerr != nil {
				web.WriteUnavailable(w, "The audit trail could not be written; the request may have taken effect. Check and retry.")
				return
			}
		}
		switch {
		case answer != nil:
			switch {
			case answer.Header.Get("WWW-Authenticate") != "":
				// A challenge of its own (DPoP's).
			case answer.Status == http.StatusUnauthorized:
				w.Header().Set("WWW-Authenticate", `Bearer realm="idvauth-admin", error="invalid_token"`)
			case answer.Status == http.StatusForbidden:
				w.Header().Set("WWW-Authenticate", `Bearer realm="idvauth-admin", error="insufficient_scope"`)
			}
			answer.Write(w)
		case rep.body == nil:
			w.WriteHeader(rep.status)
		default:
			web.WriteJSON(w, rep.status, rep.body)
		}
	}
}

// entry is the audit entry of one admin call by caller.
func (h *Handler) entry(r *http.Request, caller adminauth.Principal, rep reply, answer *web.Error) storage.AuditEntry {
	e := storage.AuditEntry{
		Type: adminapi.EventAdminRequest, Actor: caller.Actor, IP: h.cfg.IPs.String(r), Outcome: "ok",
		Details: map[string]string{"method": r.Method, "route": routeOf(r), "status": strconv.Itoa(rep.status)},
	}
	if ev := rep.event; ev != nil {
		e.Type, e.ClientID, e.Subject = ev.typ, ev.clientID, ev.subject
		for k, v := range ev.details {
			e.Details[k] = v
		}
	}
	if answer != nil {
		e.Outcome = answer.Code
		if e.Actor == "" {
			e.Actor = audit.Anonymous
		}
	}
	return e
}

// routeOf is the matched route pattern of an admin request ("/admin/clients/{id}"),
// or the path's first two segments when none matched: never a raw path
// with IDs in it.
func routeOf(r *http.Request) string {
	if p := r.Pattern; p != "" && p != "/" {
		return p
	}
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)
	if len(parts) >= 2 {
		return web.Truncate("/"+parts[0]+"/"+parts[1], audit.MaxField)
	}
	return "unmatched"
}

// errorAnswer is the answer to err: a *web.Error as it says, a storage
// sentinel with its status, anything else a logged 500.
func (h *Handler) errorAnswer(r *http.Request, err error) *web.Error {
	var we *web.Error
	switch {
	case errors.As(err, &we):
		return we
	case errors.Is(err, storage.ErrNotFound):
		return web.NewError(http.StatusNotFound, "not_found", "No such resource.")
	case errors.Is(err, storage.ErrAlreadyExists):
		return web.NewError(http.StatusConflict, "already_exists", "A resource with this identifier exists already.")
	case errors.Is(err, storage.ErrConflict):
		return web.NewError(http.StatusConflict, "conflict", "The change conflicts with another one; retry.")
	}
	h.log.Error("admin request failed", web.RequestField(r.Context()), zap.String("path", r.URL.Path), zap.Error(err))
	return web.NewError(http.StatusInternalServerError, "server_error", "The server met an unexpected condition.")
}

func badRequest(desc string) *web.Error {
	return web.NewError(http.StatusBadRequest, "invalid_request", desc)
}

func invalidMetadata(desc string) *web.Error {
	return web.NewError(http.StatusBadRequest, "invalid_client_metadata", desc)
}

func clientField(id string) zap.Field { return zap.String("client_id", id) }
func userField(id string) zap.Field   { return zap.String("user_id", id) }

// rfc3339 is t in RFC 3339, or "" for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
