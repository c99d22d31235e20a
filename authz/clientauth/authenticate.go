package clientauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/ory/fosite"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/apikeys"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/certs"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// SecretHasher is fosite's secret hasher: client secrets are 256 random
// bits, so a slow hash adds nothing; we keep their SHA-256 digest and
// compare in constant time.
type SecretHasher struct{}

var _ fosite.Hasher = SecretHasher{}

// Hash returns the SHA-256 digest of data.
func (SecretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	return sum[:], nil
}

// Compare checks data against a digest in constant time.
func (SecretHasher) Compare(_ context.Context, hash, data []byte) error {
	sum := sha256.Sum256(data)
	if len(hash) != sha256.Size || subtle.ConstantTimeCompare(hash, sum[:]) != 1 {
		return errors.New("secret mismatch")
	}
	return nil
}

// Authenticate is fosite's client authentication strategy, also used by
// introspection and revocation: it returns a *Client. It accepts exactly
// the client's registered method. Every failure answers the same
// invalid_client, so a caller learns nothing about which client IDs exist;
// the reason goes to the debug log.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	ip := a.cfg.IPs.String(r)
	if key, ok := apikeys.FromHeader(r); ok {
		return a.authenticateAPIKey(ctx, r, form, key, ip)
	}
	if form.Has("client_assertion") || form.Has("client_assertion_type") {
		_, _, basic, _ := basicCredentials(r)
		c, err := a.authenticateAssertion(ctx, r, form, basic, ip)
		if err != nil {
			return nil, err
		}
		a.noteCertificate(r, c)
		return a.admit(ctx, r, c, c.Rec.ID, ip)
	}
	id, secret, method, err := secretCredentials(r, form)
	if err != nil {
		return nil, err
	}
	c, err := a.loadUnlocked(ctx, r, id, ip)
	if err != nil {
		a.spendCompare(method, secret)
		return nil, err
	}
	if CertMethod(c.Rec.TokenEndpointAuthMethod) && method == MethodNone && a.MTLSEnabled() {
		// RFC 8705: the client names itself with client_id and proves
		// who it is with its TLS certificate; a secret instead is the
		// wrong method, refused below.
		if err := a.checkCertificate(ctx, r, c); err != nil {
			return nil, a.fail(ctx, id, ip, "client certificate", err)
		}
		return a.admit(ctx, r, c, c.Rec.ID, ip)
	}
	if c.Rec.TokenEndpointAuthMethod != method {
		a.spendCompare(method, secret)
		return nil, a.fail(ctx, id, ip, "wrong authentication method "+method, nil)
	}
	if method != MethodNone && a.compare(c.Rec.SecretHash, secret) != nil {
		return nil, a.fail(ctx, id, ip, "wrong secret", nil)
	}
	a.noteCertificate(r, c)
	return a.admit(ctx, r, c, c.Rec.ID, ip)
}

// dummyDigest is what a secret is compared with when there is no client
// secret to compare it with.
var dummyDigest = sha256.Sum256([]byte("idvauth: no such client secret"))

// compareSecret compares secret with the client's digest hash in constant
// time; it is Authenticator.compare, replaced in tests.
func compareSecret(hash []byte, secret string) error {
	return SecretHasher{}.Compare(context.Background(), hash, []byte(secret))
}

// spendCompare does the work of checking a secret sent with method for
// a request that fails before its secret is checked (an unknown client,
// one that uses another method), so that such a failure takes as long
// as a wrong secret: the time must not tell which client IDs exist.
func (a *Authenticator) spendCompare(method, secret string) {
	if method != MethodNone {
		_ = a.compare(dummyDigest[:], secret)
	}
}

// secretCredentials reads the client ID and secret of a request that
// carries no assertion: from HTTP Basic (client_secret_basic), else from
// the form (client_secret_post, or none for a public client that only
// names itself).
func secretCredentials(r *http.Request, form url.Values) (id, secret, method string, err error) {
	id, secret, basic, basicErr := basicCredentials(r)
	if !basic {
		id, secret, method = form.Get("client_id"), form.Get("client_secret"), MethodPost
		if id == "" {
			return "", "", "", fosite.ErrInvalidClient.WithHint("Client authentication is missing.")
		}
		if !form.Has("client_secret") {
			method = MethodNone
		}
		return id, secret, method, nil
	}
	switch {
	case form.Has("client_secret"):
		return "", "", "", fosite.ErrInvalidRequest.WithHint("Use one client authentication method, not both HTTP Basic and client_secret in the body.")
	case basicErr != nil:
		return "", "", "", fosite.ErrInvalidRequest.WithHint("The HTTP Basic credentials are not properly form-encoded (RFC 6749 section 2.3.1).")
	case form.Get("client_id") != "" && form.Get("client_id") != id:
		return "", "", "", fosite.ErrInvalidRequest.WithHint("The client_id in the body differs from the one in the Authorization header.")
	}
	return id, secret, MethodBasic, nil
}

// loadUnlocked loads the client id for authentication from ip, unless
// that client ID or address is cooling off. An unknown client counts as a
// failed authentication; a store failure is temporarily_unavailable.
func (a *Authenticator) loadUnlocked(ctx context.Context, r *http.Request, id, ip string) (*Client, error) {
	if wait, err := a.clientLocked(ctx, id, ip); err != nil {
		return nil, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	} else if wait > 0 {
		return nil, a.coolingOff(r, wait)
	}
	c, err := a.LoadClient(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, a.fail(ctx, id, ip, "unknown client", err)
	case err != nil:
		a.debugAuthFailure(ctx, id, "store error", err)
		return nil, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	}
	return c, nil
}

// checkCertificate authenticates c by the TLS client certificate of r and
// records its thumbprint.
func (a *Authenticator) checkCertificate(ctx context.Context, r *http.Request, c *Client) error {
	chain, err := a.PeerCertificates(r)
	if err == nil {
		err = a.authenticateCertificate(ctx, c, chain)
	}
	if err != nil {
		return err
	}
	c.CertThumb = certs.Thumbprint(chain[0])
	return nil
}

// fail counts a failed authentication of id from ip, logs why at debug
// level, and returns the one answer every failure gets: invalid_client,
// or, for a failure past a limit, the 429 of a cool-off.
func (a *Authenticator) fail(ctx context.Context, id, ip, reason string, err error) error {
	a.debugAuthFailure(ctx, id, reason, err)
	a.cfg.OnFailure()
	if wait := a.countAuthFailure(ctx, id, ip); wait > 0 {
		return a.coolingOff(nil, wait)
	}
	return fosite.ErrInvalidClient
}

// admit lets a client whose credentials were right through, unless its
// client ID or address started cooling off while they were checked (by
// concurrent attempts: a right secret among many wrong ones sent at once
// is not let through past the limit), and through its rate limit. lockID
// names the counters: the client ID, or the API key's.
func (a *Authenticator) admit(ctx context.Context, r *http.Request, c *Client, lockID, ip string) (*Client, error) {
	if wait, err := a.clientLocked(ctx, lockID, ip); err != nil {
		return nil, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	} else if wait > 0 {
		return nil, a.coolingOff(r, wait)
	}
	if err := a.clientRateLimit(r, c.Rec.ID); err != nil {
		return nil, err
	}
	return c, nil
}

// coolingOff is the answer to an attempt in a cool-off.
func (a *Authenticator) coolingOff(r *http.Request, wait time.Duration) error {
	if r != nil {
		a.cfg.OnLimited(r, "cooloff")
	}
	return RateLimitedError(wait, "Too many failed authentications of this client from this address; retry after the time in Retry-After.")
}

// noteCertificate remembers the certificate a client that authenticated
// otherwise presented, for clients whose tokens are bound to it.
func (a *Authenticator) noteCertificate(r *http.Request, c *Client) {
	if !c.Rec.CertificateBoundAccessTokens {
		return
	}
	if chain, err := a.PeerCertificates(r); err == nil && len(chain) > 0 {
		c.CertThumb = certs.Thumbprint(chain[0])
	}
}

// clientRateLimit applies the per-client request limit of the endpoint
// to a client that authenticated.
func (a *Authenticator) clientRateLimit(r *http.Request, id string) error {
	l := a.cfg.TokenLimiter
	if r.URL.Path == "/oauth2/introspect" {
		l = a.cfg.IntrospectLimiter
	}
	if ok, wait := l.Allow(id, a.now()); !ok {
		a.cfg.OnLimited(r, "client")
		return RateLimitedError(wait, "This client sends too many requests; retry after the time in Retry-After.")
	}
	return nil
}

func (a *Authenticator) debugAuthFailure(ctx context.Context, clientID, reason string, err error) {
	if ce := a.log.Check(zap.DebugLevel, "client authentication failed"); ce != nil {
		ce.Write(zap.String("request_id", web.RequestID(ctx)), zap.String("client_id", clientID), zap.String("reason", reason), zap.Error(err))
	}
}

// ClaimedID is the client ID a request names (HTTP Basic user or the
// client_id parameter), authenticated or not, for the audit trail.
func ClaimedID(r *http.Request) string {
	if id, _, ok, _ := basicCredentials(r); ok {
		// id is "" if it is not form-encoded, whatever the secret.
		return web.Truncate(id, audit.MaxField)
	}
	return web.Truncate(r.PostForm.Get("client_id"), audit.MaxField)
}

// basicCredentials reads the HTTP Basic credentials of r: ok reports a
// Basic Authorization header, and id and secret are its user and
// password form-decoded (RFC 6749 section 2.3.1). Each of id and secret
// is "" if it is not properly form-encoded, and err reports that.
func basicCredentials(r *http.Request) (id, secret string, ok bool, err error) {
	rawID, rawSecret, ok := r.BasicAuth()
	if !ok {
		return "", "", false, nil
	}
	id, err1 := url.QueryUnescape(rawID)
	secret, err2 := url.QueryUnescape(rawSecret)
	if err1 != nil || err2 != nil {
		return id, secret, true, errors.Join(err1, err2)
	}
	return id, secret, true, nil
}
