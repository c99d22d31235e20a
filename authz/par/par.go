// Package par serves pushed authorization requests (RFC 9126): a client
// posts its authorization request to /oauth2/par, authenticated as at the
// token endpoint, and gets a request_uri that stands for it at the
// authorization endpoint.
//
// A pushed request is a token record of kind storage.PushedRequest, keyed
// by the SHA-256 of its random part, so that every replica sees it, and
// sees its use at once. It lives in two stages:
//
//   - pushed: what /oauth2/par stored, for TTL (60 s by default). The
//     authorization endpoint starts it once (Requests.Begin), which
//     consumes the record.
//   - started: Begin stores the same request again under a new random
//     handle, for PageTTL, which the login and consent pages carry in
//     place of the request. Each page reads it (Requests.Resume); the
//     code is issued only after Requests.Finish consumed it, so that of
//     any replays of those pages at most one gets a code.
//
// Neither stage is accepted in the other's place: a request_uri given out
// by /oauth2/par is refused on the pages, and a page handle at the
// authorization endpoint.
package par

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/dpop"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/clientip"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// Path is where pushed authorization requests are posted.
const Path = "/oauth2/par"

// URNPrefix starts every request_uri (RFC 9126 section 2.2); 256 random
// bits, base64url-encoded, follow it.
const URNPrefix = "urn:ietf:params:oauth:request_uri:"

// PageTTL is how long a started request may take through the login and
// consent pages: a person's time to sign in, not a client's.
const PageTTL = 10 * time.Minute

// Store is what pushed requests are kept in: the single-use token records.
type Store interface {
	CreateToken(ctx context.Context, t storage.Token) error
	GetToken(ctx context.Context, kind storage.TokenKind, signature string) (storage.Token, error)
	ConsumeToken(ctx context.Context, kind storage.TokenKind, signature string, now time.Time) (storage.Token, error)
}

// Config configures Requests. Every field without a documented default
// is required.
type Config struct {
	Store Store
	// Authenticate authenticates the client of a request, as at the token
	// endpoint; it returns a *clientauth.Client.
	Authenticate func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error)
	// Validate checks an authorization request (a query string) as the
	// authorization endpoint does, REQUIRE_PAR aside.
	Validate func(ctx context.Context, r *http.Request, raw string) error
	// TTL is how long a request_uri may be started; one minute if zero.
	TTL time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Log receives the endpoint's logs; zap.NewNop if nil.
	Log *zap.Logger
	// Audit records each push of an authenticated client, accepted or
	// refused; required.
	Audit *audit.Writer
	// IPs finds the address a push came from.
	IPs clientip.Resolver
	// DPoP, if set, checks the DPoP proof a push may carry, sent to
	// Endpoint (the PAR endpoint's URL): its key binds the code as
	// dpop_jkt would (RFC 9449 section 10.1).
	DPoP     *dpop.Verifier
	Endpoint string
}

// Requests serves /oauth2/par and resolves what it stored. Build it with
// New; it is safe for concurrent use.
type Requests struct {
	cfg Config
}

// New returns Requests with cfg.
func New(cfg Config) (*Requests, error) {
	if cfg.Store == nil || cfg.Authenticate == nil || cfg.Validate == nil || cfg.Audit == nil {
		return nil, errors.New("par: incomplete configuration")
	}
	if cfg.TTL == 0 {
		cfg.TTL = time.Minute
	}
	if cfg.TTL < 0 {
		return nil, errors.New("par: the request lifetime must be positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Requests{cfg: cfg}, nil
}

// Stages of a stored request.
const (
	stagePushed  = "pushed"
	stageStarted = "started"
)

// record is the Session of a stored request.
type record struct {
	Stage string `json:"stage"`
	// Query is the authorization request, client_id included.
	Query string `json:"query"`
}

// credentialParams are the client-authentication parameters of a push,
// which are no part of the authorization request.
var credentialParams = []string{"client_secret", "client_assertion", "client_assertion_type"}

// ServeHTTP serves POST /oauth2/par (RFC 9126 section 2): 201 with the
// request_uri and expires_in, or an RFC 6749 error; nothing is stored
// unless the client is authenticated and the request would be accepted at
// the authorization endpoint.
func (p *Requests) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	if oe := web.ReadForm(w, r); oe != nil {
		oe.Write(w)
		return
	}
	form := r.PostForm
	if form.Has("request_uri") {
		web.WriteError(w, http.StatusBadRequest, "invalid_request", "A pushed authorization request must not contain request_uri (RFC 9126 section 2.1).")
		return
	}
	fc, err := p.cfg.Authenticate(ctx, r, form)
	if err != nil {
		writeError(ctx, p.cfg.Log, w, err) // clientauth audits what it refuses
		return
	}
	c, ok := fc.(*clientauth.Client)
	if !ok {
		writeError(ctx, p.cfg.Log, w, fosite.ErrServerError.WithDebug("unexpected client type"))
		return
	}
	uri, err := p.push(ctx, r, c, form)
	if aerr := p.audit(ctx, r, c.GetID(), form, err); aerr != nil && err == nil {
		// No request_uri leaves without its entry; the stored request is
		// never given out and expires unused.
		err = fosite.ErrTemporarilyUnavailable.WithHint("The request could not be recorded; retry.")
	}
	if err != nil {
		writeError(ctx, p.cfg.Log, w, err)
		return
	}
	web.WriteJSON(w, http.StatusCreated, struct {
		RequestURI string `json:"request_uri"`
		ExpiresIn  int64  `json:"expires_in"`
	}{uri, int64(p.cfg.TTL / time.Second)})
}

// push validates and stores the authorization request in form of the
// authenticated client c, and returns its request_uri.
func (p *Requests) push(ctx context.Context, r *http.Request, c *clientauth.Client, form url.Values) (string, error) {
	if id := form.Get("client_id"); id != "" && id != c.GetID() {
		return "", fosite.ErrInvalidRequest.WithHint("client_id is not the authenticated client.")
	}
	q := url.Values{}
	for k, v := range form {
		q[k] = v
	}
	for _, k := range credentialParams {
		q.Del(k)
	}
	q.Set("client_id", c.GetID())
	if p.cfg.DPoP != nil && dpop.Present(r) {
		proof, err := p.cfg.DPoP.Check(ctx, r, p.cfg.Endpoint)
		if err != nil {
			return "", err
		}
		if q.Has("dpop_jkt") && q.Get("dpop_jkt") != proof.JKT {
			return "", dpop.ErrInvalidProof.WithHint("dpop_jkt is not the thumbprint of the DPoP proof's key (RFC 9449 section 10.1).")
		}
		q.Set("dpop_jkt", proof.JKT)
	}
	raw := q.Encode()
	if err := p.cfg.Validate(ctx, r, raw); err != nil {
		return "", err
	}
	value, err := p.store(ctx, c.GetID(), record{Stage: stagePushed, Query: raw}, p.cfg.Now().UTC(), p.cfg.TTL)
	if err != nil {
		return "", err
	}
	return URNPrefix + value, nil
}

// audit appends the entry of a push of clientID that ended with err (nil:
// accepted). It names the parameters pushed, never their values.
func (p *Requests) audit(ctx context.Context, r *http.Request, clientID string, form url.Values, err error) error {
	names := make([]string, 0, len(form))
	for k := range form {
		if !slices.Contains(credentialParams, k) {
			names = append(names, web.Truncate(k, 64))
		}
	}
	slices.Sort(names)
	if len(names) > 32 {
		names = append(names[:32], "...")
	}
	e := storage.AuditEntry{Type: adminapi.EventRequestPushed, Actor: audit.Client(clientID), ClientID: clientID,
		IP: p.cfg.IPs.String(r), Details: map[string]string{"params": strings.Join(names, " ")}}
	if err != nil {
		e.Outcome = fosite.ErrorToRFC6749Error(err).ErrorField
	}
	return p.cfg.Audit.Append(ctx, e)
}

// store keeps rec for clientID until now+ttl under a new random value,
// and returns the value.
func (p *Requests) store(ctx context.Context, clientID string, rec record, now time.Time, ttl time.Duration) (string, error) {
	session, err := json.Marshal(rec)
	if err != nil {
		return "", fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	value := web.RandomToken()
	err = p.cfg.Store.CreateToken(ctx, storage.Token{
		Kind: storage.PushedRequest, Signature: signature(value), RequestID: web.RandomToken(), ClientID: clientID,
		IssuedAt: now, ExpiresAt: now.Add(ttl), Session: session,
	})
	if errors.Is(err, storage.ErrNotFound) {
		// The client was deleted a moment ago.
		return "", fosite.ErrInvalidClient
	}
	if err != nil {
		return "", fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	}
	return value, nil
}

// IsPushed reports whether q is an authorization request by reference: it
// has a request_uri.
func IsPushed(q url.Values) bool { return q.Has("request_uri") }

// Begin starts the pushed request requestURI of clientID at the
// authorization endpoint: it consumes it, stores it again for the pages,
// and returns the request_uri the pages carry instead. The error is an
// RFC 6749 error (invalid_request_uri for anything wrong with it).
func (p *Requests) Begin(ctx context.Context, clientID, requestURI string) (string, error) {
	sig, ok := parseURI(requestURI)
	if !ok {
		return "", errInvalidURI
	}
	now := p.cfg.Now().UTC()
	// Another client's request_uri, or one of the wrong stage, is refused
	// before it is consumed: whoever saw it cannot burn it for the client
	// it belongs to.
	t, err := p.cfg.Store.GetToken(ctx, storage.PushedRequest, sig)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return "", errInvalidURI
	case err != nil:
		return "", fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	}
	if _, err := check(t, clientID, stagePushed, now); err != nil {
		return "", err
	}
	t, err = p.cfg.Store.ConsumeToken(ctx, storage.PushedRequest, sig, now)
	switch {
	case errors.Is(err, storage.ErrConflict):
		return "", errInvalidURI.WithHint("The request_uri has been used already.")
	case errors.Is(err, storage.ErrNotFound):
		return "", errInvalidURI
	case err != nil:
		return "", fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	}
	rec, err := check(t, clientID, stagePushed, now)
	if err != nil {
		return "", err
	}
	value, err := p.store(ctx, clientID, record{Stage: stageStarted, Query: rec.Query}, now, PageTTL)
	if err != nil {
		return "", err
	}
	return URNPrefix + value, nil
}

// Resume returns the authorization request (a query string) that the
// started request requestURI of clientID stands for.
func (p *Requests) Resume(ctx context.Context, clientID, requestURI string) (string, error) {
	sig, ok := parseURI(requestURI)
	if !ok {
		return "", errInvalidURI
	}
	t, err := p.cfg.Store.GetToken(ctx, storage.PushedRequest, sig)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return "", errInvalidURI
	case err != nil:
		return "", fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	}
	rec, err := check(t, clientID, stageStarted, p.cfg.Now().UTC())
	if err != nil {
		return "", err
	}
	return rec.Query, nil
}

// Finish uses up the started request requestURI of clientID before its
// code is issued: of any number of calls, one succeeds.
func (p *Requests) Finish(ctx context.Context, clientID, requestURI string) error {
	sig, ok := parseURI(requestURI)
	if !ok {
		return errInvalidURI
	}
	now := p.cfg.Now().UTC()
	t, err := p.cfg.Store.ConsumeToken(ctx, storage.PushedRequest, sig, now)
	switch {
	case errors.Is(err, storage.ErrConflict):
		return errInvalidURI.WithHint("The request_uri has been used already.")
	case errors.Is(err, storage.ErrNotFound):
		return errInvalidURI
	case err != nil:
		return fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	}
	_, err = check(t, clientID, stageStarted, now)
	return err
}

// errInvalidURI is the answer for a request_uri that is unknown, expired,
// used, another client's, or of the wrong stage: the same for all, so
// that a caller learns nothing about other clients' requests.
var errInvalidURI = fosite.ErrInvalidRequestURI.WithHint("The request_uri is unknown, expired, used, or not this client's.")

// check checks the stored request t for clientID at stage and now, and
// returns its record.
func check(t storage.Token, clientID, stage string, now time.Time) (record, error) {
	var rec record
	if err := json.Unmarshal(t.Session, &rec); err != nil {
		return record{}, fosite.ErrServerError.WithWrap(err).WithDebug(fmt.Sprintf("pushed request record: %v", err))
	}
	if t.ClientID != clientID || rec.Stage != stage || !now.Before(t.ExpiresAt) {
		return record{}, errInvalidURI
	}
	return rec, nil
}

// parseURI returns the record signature of requestURI, if it is one of
// ours in form.
func parseURI(requestURI string) (string, bool) {
	value, ok := strings.CutPrefix(requestURI, URNPrefix)
	if !ok || len(value) != 43 {
		return "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(value); err != nil {
		return "", false
	}
	return signature(value), true
}

// signature is the key of the record of value: its SHA-256, so that the
// store does not hold usable request_uris.
func signature(value string) string {
	sum := sha256.Sum256([]byte(value))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// writeError writes err as an RFC 6749 JSON error; server errors are
// logged and answered with fixed text.
func writeError(ctx context.Context, log *zap.Logger, w http.ResponseWriter, err error) {
	clientauth.SetRetryAfter(w, err)
	rfc := fosite.ErrorToRFC6749Error(err)
	web.LogFosite(ctx, log, "par", err)
	desc := rfc.GetDescription()
	status := rfc.CodeField
	if status >= 500 {
		desc = "The server met an unexpected condition."
	}
	if status == http.StatusFound || status == 0 {
		status = http.StatusBadRequest
	}
	web.WriteError(w, status, rfc.ErrorField, desc)
}
