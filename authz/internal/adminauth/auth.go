package adminauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"net/http"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/internal/certs"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// Kinds of admin callers.
const (
	KindBreakGlass = "break-glass"
	KindOperator   = "operator"
	KindClient     = "client"
)

// Principal is who made an admin request, and what it may do.
type Principal struct {
	// Kind is KindBreakGlass, KindOperator or KindClient.
	Kind string
	// ID is the operator's or the client's ID; empty for break-glass.
	ID string
	// Actor names the caller in the audit trail: "break-glass",
	// "operator:<id>" or "client:<id>".
	Actor string
	// Scopes are the admin scopes the caller holds on this request.
	Scopes []string
}

// Allows reports whether p holds scope ("" : any admin caller).
func (p Principal) Allows(scope string) bool {
	return scope == authenticated || slices.Contains(p.Scopes, scope)
}

type principalKey struct{}

// WithPrincipal returns ctx carrying the caller p of an admin request, for
// the routes whose rules depend on who calls (no one grants a client admin
// scopes they do not hold themselves).
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalOf returns the caller WithPrincipal put in ctx; false for a
// call from inside the server (the demo seeding, tests), which no
// credential made.
func PrincipalOf(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Outranks refuses, with a 403, admin scopes among scopes that p does not
// hold: no caller can hand a client (or take over one holding) more admin
// rights than their own.
func (p Principal) Outranks(scopes []string) error {
	for _, s := range scopes {
		if IsAdminScope(s) && !p.Allows(s) {
			return web.NewError(http.StatusForbidden, "insufficient_scope",
				"The client holds or asks for the admin scope "+s+", which the caller does not hold.")
		}
	}
	return nil
}

// OperatorActor is the audit actor of the operator id.
func OperatorActor(id string) string { return "operator:" + id }

// Token is an access token of ours as introspection sees it: active
// (signed by us, not expired, not revoked, its client not deleted).
type Token struct {
	ClientID string
	Subject  string
	JTI      string
	Scopes   []string
	Audience []string
	// CertThumbprint is the x5t#S256 of the TLS client certificate the
	// token is bound to (cnf x5t#S256); empty if none.
	CertThumbprint string
	// JKT is the thumbprint of the DPoP key the token is bound to (cnf
	// jkt); empty if none.
	JKT string
}

// ErrInactive is what Introspect answers (wrapped or not) for a token
// that is not active; any other error is a failure to check it.
var ErrInactive = errors.New("adminauth: token not active")

// Clients reads clients; storage.ClientStore is one.
type Clients interface {
	GetClient(ctx context.Context, id string) (storage.Client, error)
}

// Operators reads operators; storage.OperatorStore is one.
type Operators interface {
	GetOperator(ctx context.Context, id string) (storage.Operator, error)
}

// Config configures an Authenticator.
type Config struct {
	// BreakGlass is the break-glass token (IDVAUTH_ADMIN_TOKEN): owner
	// rights, every use logged at warn; empty: none.
	BreakGlass string
	// Introspect checks an access token of ours. Required.
	Introspect func(ctx context.Context, token string) (Token, error)
	// Audience is the admin API's identifier: a token's aud must name it.
	// Required.
	Audience  string
	Operators Operators
	// Clients is read on every request of a client's token: its admin
	// scopes are those it still holds, and only while it still
	// authenticates with a key. Required.
	Clients Clients
	// CheckDPoP checks how r presents the token tok, with the scheme
	// "Bearer" or "DPoP", whose cnf.jkt is jkt (empty: not DPoP-bound):
	// a DPoP-bound token needs the DPoP scheme and a valid proof for
	// r's method and URL whose ath is tok's hash, from the bound key. Its
	// refusals are *web.Error answers. nil: DPoP is refused.
	CheckDPoP func(r *http.Request, scheme, tok, jkt string) error
	// PeerCertificates returns the TLS client certificate chain of r,
	// leaf first (from a trusted proxy's header: the admin listener ends
	// no TLS itself). A certificate-bound token is accepted only with its
	// certificate (RFC 8705 section 3); nil: such tokens are refused.
	PeerCertificates func(r *http.Request) ([]*x509.Certificate, error)
	// Log receives the break-glass warnings; zap.NewNop if nil.
	Log *zap.Logger
}

// Authenticator checks the credential of admin requests. Build it with
// New; it is safe for concurrent use.
type Authenticator struct {
	cfg       Config
	glassHash [32]byte
}

// New returns an authenticator of cfg.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Introspect == nil || cfg.Audience == "" || cfg.Operators == nil || cfg.Clients == nil {
		return nil, errors.New("adminauth: incomplete configuration")
	}
	if cfg.BreakGlass != "" && len(cfg.BreakGlass) < 32 {
		return nil, errors.New("adminauth: the admin token must be at least 32 characters")
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Authenticator{cfg: cfg, glassHash: sha256.Sum256([]byte(cfg.BreakGlass))}, nil
}

// Answers of Authenticate and Authorize.
var (
	ErrUnauthorized = web.NewError(http.StatusUnauthorized, "unauthorized",
		"A valid admin bearer token is required: an access token of this server for the admin API, or the break-glass token.")
	errCertBound = web.NewError(http.StatusUnauthorized, "unauthorized",
		"The token is bound to a TLS client certificate that this request did not present (through a trusted proxy: the admin listener ends no TLS).")
	errNoDPoP   = web.NewError(http.StatusUnauthorized, "unauthorized", "DPoP is not accepted by this admin API; use a bearer token.")
	errNotAdmin = web.NewError(http.StatusForbidden, "insufficient_scope",
		"The token is neither an operator's nor a client's own: it carries no admin rights.")
	errDisabled     = web.NewError(http.StatusUnauthorized, "unauthorized", "The operator is disabled.")
	errSharedSecret = web.NewError(http.StatusUnauthorized, "unauthorized",
		"The client no longer authenticates with a key (private_key_jwt or a TLS certificate): its tokens carry no admin rights.")
	errCheck = web.NewError(http.StatusServiceUnavailable, "temporarily_unavailable", "The token could not be checked; retry.")
)

// maxTokenLen bounds the credential; our tokens are far shorter.
const maxTokenLen = 8 << 10

// Authenticate checks the credential of r and returns its principal. A
// missing, unknown, expired or revoked credential, a token for another
// audience or of a disabled operator is ErrUnauthorized-like (401); a
// failure to check it is a 503. The answers are *web.Error.
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	scheme, tok, found := strings.Cut(r.Header.Get("Authorization"), " ")
	dpop := strings.EqualFold(scheme, "DPoP")
	if !found || (!strings.EqualFold(scheme, "Bearer") && !dpop) || tok == "" || len(tok) > maxTokenLen || len(r.Header.Values("Authorization")) != 1 {
		return Principal{}, ErrUnauthorized
	}
	if a.cfg.BreakGlass != "" && !dpop {
		sum := sha256.Sum256([]byte(tok))
		if subtle.ConstantTimeCompare(sum[:], a.glassHash[:]) == 1 {
			a.cfg.Log.Warn("admin request with the break-glass token", web.RequestField(r.Context()),
				zap.String("method", r.Method), zap.String("route", r.Pattern))
			return Principal{Kind: KindBreakGlass, Actor: breakGlassActor, Scopes: RoleScopes(Owner)}, nil
		}
	}
	t, err := a.cfg.Introspect(r.Context(), tok)
	switch {
	case errors.Is(err, ErrInactive):
		return Principal{}, ErrUnauthorized
	case err != nil:
		return Principal{}, errCheck
	case !slices.Contains(t.Audience, a.cfg.Audience):
		return Principal{}, ErrUnauthorized
	case t.CertThumbprint != "" && !a.presents(r, t.CertThumbprint):
		return Principal{}, errCertBound
	}
	if dpop || t.JKT != "" {
		if a.cfg.CheckDPoP == nil {
			return Principal{}, errNoDPoP
		}
		scheme = "Bearer"
		if dpop {
			scheme = "DPoP"
		}
		if err := a.cfg.CheckDPoP(r, scheme, tok, t.JKT); err != nil {
			return Principal{}, err
		}
	}
	if t.Subject == t.ClientID {
		// The client as registered now: a token outlives neither an admin
		// scope taken away nor a switch to a shared secret.
		c, err := a.cfg.Clients.GetClient(r.Context(), t.ClientID)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return Principal{}, ErrUnauthorized
		case err != nil:
			return Principal{}, errCheck
		case !ProvesKey(c.TokenEndpointAuthMethod):
			return Principal{}, errSharedSecret
		}
		return Principal{Kind: KindClient, ID: t.ClientID, Actor: "client:" + t.ClientID, Scopes: adminScopes(t.Scopes, c.Scopes)}, nil
	}
	o, err := a.cfg.Operators.GetOperator(r.Context(), t.Subject)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// A person's token: people hold no admin rights, whatever
		// scopes a client asked for them.
		return Principal{}, errNotAdmin
	case err != nil:
		return Principal{}, errCheck
	case o.Disabled:
		return Principal{}, errDisabled
	}
	return Principal{Kind: KindOperator, ID: o.ID, Actor: OperatorActor(o.ID), Scopes: adminScopes(t.Scopes, roles[o.Role])}, nil
}

// presents reports whether r comes with the client certificate whose
// x5t#S256 is thumbprint.
func (a *Authenticator) presents(r *http.Request, thumbprint string) bool {
	if a.cfg.PeerCertificates == nil {
		return false
	}
	chain, err := a.cfg.PeerCertificates(r)
	if err != nil || len(chain) == 0 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(certs.Thumbprint(chain[0])), []byte(thumbprint)) == 1
}

// adminScopes are the admin scopes of granted within ceiling. No ceiling
// (a role this build does not know, a client registered without scopes)
// grants nothing: a missing rule never widens rights.
func adminScopes(granted, ceiling []string) []string {
	var out []string
	for _, s := range granted {
		if IsAdminScope(s) && slices.Contains(ceiling, s) {
			out = append(out, s)
		}
	}
	return out
}

// Authorize checks that p may call method on the route pattern: nil if
// it may or if the route does not serve method (it answers 405 itself),
// else a 403 insufficient_scope naming the scope needed.
func Authorize(p Principal, method, pattern string) error {
	scope, ok := RouteScope(method, pattern)
	if !ok {
		// A path or method the table does not name (the route answers
		// 404 or 405) is let through only for a caller that holds every
		// admin scope: a route added without its scope fails closed for
		// everyone else.
		if slices.ContainsFunc(Scopes(), func(s string) bool { return !p.Allows(s) }) {
			return web.NewError(http.StatusForbidden, "insufficient_scope", "This call needs every admin scope.")
		}
		return nil
	}
	if p.Allows(scope) {
		return nil
	}
	return web.NewError(http.StatusForbidden, "insufficient_scope", "This call needs the scope "+scope+".")
}
