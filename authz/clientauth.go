package authz

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"

	"github.com/ory/fosite"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/certs"
	"github.com/idvauth/idvauth/authz/internal/web"
)

// Client authentication methods idvauth accepts today.
const (
	authBasic = "client_secret_basic"
	authPost  = "client_secret_post"
	// authNone is a public client (a browser or mobile app that cannot
	// keep a secret): it names itself with client_id and must use PKCE.
	authNone = "none"
)

// sha256Hasher is fosite's secret hasher: client secrets are 256 random
// bits, so a slow hash adds nothing; we keep their SHA-256 digest and
// compare in constant time.
type sha256Hasher struct{}

var _ fosite.Hasher = sha256Hasher{}

// Hash returns the SHA-256 digest of data.
func (sha256Hasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	return sum[:], nil
}

// Compare checks data against a digest in constant time.
func (sha256Hasher) Compare(_ context.Context, hash, data []byte) error {
	sum := sha256.Sum256(data)
	if len(hash) != sha256.Size || subtle.ConstantTimeCompare(hash, sum[:]) != 1 {
		return errors.New("secret mismatch")
	}
	return nil
}

// authenticateClient is fosite's client authentication strategy, also used
// by introspection. It accepts exactly the client's registered method.
// Every failure answers the same invalid_client, so a caller learns nothing
// about which client IDs exist; the reason goes to the debug log.
func (s *Server) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	c, err := s.checkClient(ctx, r, form)
	if n, ok := ctx.Value(authNoteKey{}).(*authNote); ok && err == nil {
		n.clientID = c.GetID()
	}
	return c, err
}

// authNote receives the ID of the client that authenticated, for callers
// whose client authentication runs inside fosite (revocation).
type authNote struct{ clientID string }

type authNoteKey struct{}

// checkClient is authenticateClient without the note.
func (s *Server) checkClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	id, secret, basic := r.BasicAuth()
	if form.Has("client_assertion") || form.Has("client_assertion_type") {
		c, err := s.authenticateAssertion(ctx, r, form, basic)
		if err != nil {
			return nil, err
		}
		s.noteCertificate(r, c)
		if err := s.clientRateLimit(r, c.rec.ID); err != nil {
			return nil, err
		}
		return c, nil
	}
	method := authBasic
	if basic {
		if form.Has("client_secret") {
			return nil, fosite.ErrInvalidRequest.WithHint("Use one client authentication method, not both HTTP Basic and client_secret in the body.")
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, fosite.ErrInvalidRequest.WithHint("The HTTP Basic credentials are not properly form-encoded (RFC 6749 section 2.3.1).")
		}
		if fid := form.Get("client_id"); fid != "" && fid != id {
			return nil, fosite.ErrInvalidRequest.WithHint("The client_id in the body differs from the one in the Authorization header.")
		}
	} else {
		method = authPost
		id, secret = form.Get("client_id"), form.Get("client_secret")
		if id == "" {
			return nil, fosite.ErrInvalidClient.WithHint("Client authentication is missing.")
		}
		if !form.Has("client_secret") {
			method = authNone
		}
	}
	ip := s.ips.String(r)
	if wait, err := s.clientLocked(ctx, id, ip); err != nil {
		return nil, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	} else if wait > 0 {
		s.rateLimited(r, "cooloff")
		return nil, rateLimitedError(wait, "Too many failed authentications of this client from this address; retry after the time in Retry-After.")
	}
	c, err := s.client(ctx, id)
	if err != nil {
		s.debugAuthFailure(ctx, id, "unknown client or store error", err)
		if isNotFound(err) {
			s.authFailed(ctx, id, ip)
			return nil, fosite.ErrInvalidClient
		}
		return nil, fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	}
	if certMethod(c.rec.TokenEndpointAuthMethod) && method == authNone && s.mtlsEnabled() {
		// RFC 8705: the client names itself with client_id and proves
		// who it is with its TLS certificate; a secret instead is the
		// wrong method, refused below.
		chain, err := s.peerCertificates(r)
		if err == nil {
			err = s.authenticateCertificate(ctx, c, chain)
		}
		if err != nil {
			s.debugAuthFailure(ctx, id, "client certificate", err)
			s.authFailed(ctx, id, ip)
			return nil, fosite.ErrInvalidClient
		}
		c.certThumb = certs.Thumbprint(chain[0])
		if err := s.clientRateLimit(r, id); err != nil {
			return nil, err
		}
		return c, nil
	}
	if c.rec.TokenEndpointAuthMethod != method {
		s.debugAuthFailure(ctx, id, "wrong authentication method "+method, nil)
		s.authFailed(ctx, id, ip)
		return nil, fosite.ErrInvalidClient
	}
	if method != authNone && (sha256Hasher{}).Compare(ctx, c.rec.SecretHash, []byte(secret)) != nil {
		s.debugAuthFailure(ctx, id, "wrong secret", nil)
		s.authFailed(ctx, id, ip)
		return nil, fosite.ErrInvalidClient
	}
	s.noteCertificate(r, c)
	if err := s.clientRateLimit(r, id); err != nil {
		return nil, err
	}
	return c, nil
}

// noteCertificate remembers the certificate a client that authenticated
// otherwise presented, for clients whose tokens are bound to it.
func (s *Server) noteCertificate(r *http.Request, c *client) {
	if !c.rec.CertificateBoundAccessTokens {
		return
	}
	if chain, err := s.peerCertificates(r); err == nil && len(chain) > 0 {
		c.certThumb = certs.Thumbprint(chain[0])
	}
}

// clientRateLimit applies the per-client request limit of the endpoint
// to a client that authenticated.
func (s *Server) clientRateLimit(r *http.Request, id string) error {
	l := s.limits.token
	if r.URL.Path == "/oauth2/introspect" {
		l = s.limits.introspect
	}
	if ok, wait := l.Allow(id, s.now()); !ok {
		s.rateLimited(r, "client")
		return rateLimitedError(wait, "This client sends too many requests; retry after the time in Retry-After.")
	}
	return nil
}

// authFailed counts a failed client authentication.
func (s *Server) authFailed(ctx context.Context, clientID, ip string) {
	s.metrics.authFailures.Inc()
	s.countAuthFailure(ctx, clientID, ip)
}

func (s *Server) debugAuthFailure(ctx context.Context, clientID, reason string, err error) {
	if ce := s.log.Check(zap.DebugLevel, "client authentication failed"); ce != nil {
		ce.Write(zap.String("request_id", web.RequestID(ctx)), zap.String("client_id", clientID), zap.String("reason", reason), zap.Error(err))
	}
}

// claimedClientID is the client ID a request names (HTTP Basic user or
// the client_id parameter), authenticated or not, for the audit trail.
func claimedClientID(r *http.Request) string {
	if id, _, ok := r.BasicAuth(); ok {
		if u, err := url.QueryUnescape(id); err == nil {
			return web.Truncate(u, audit.MaxField)
		}
		return ""
	}
	return web.Truncate(r.PostForm.Get("client_id"), audit.MaxField)
}
