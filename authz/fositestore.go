package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"

	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/internal/granterr"
	"github.com/idvauth/idvauth/storage"
)

// fositeStore is the one adapter between fosite and storage: it turns
// fosite requesters into storage records and storage errors into fosite
// errors. Nothing else in authz hands fosite a store.
type fositeStore struct {
	s *Server
}

var (
	_ fosite.ClientManager               = (*fositeStore)(nil)
	_ oauth2.CoreStorage                 = (*fositeStore)(nil)
	_ oauth2.TokenRevocationStorage      = (*fositeStore)(nil)
	_ pkce.PKCERequestStorage            = (*fositeStore)(nil)
	_ openid.OpenIDConnectRequestStorage = (*fositeStore)(nil)
)

// storedRequest is what a code, PKCE, OpenID Connect or refresh record
// keeps of the request behind it, as the record's opaque Session. Granted
// scopes and audience are the record's own columns.
type storedRequest struct {
	// Form is what fosite kept of the request form (it strips the rest):
	// the redirect URI, the PKCE challenge, the nonce.
	Form              url.Values `json:"form,omitempty"`
	RequestedScopes   []string   `json:"requested_scopes,omitempty"`
	RequestedAudience []string   `json:"requested_audience,omitempty"`
	Session           *session   `json:"session"`
}

// GetClient implements fosite.ClientManager.
func (f *fositeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := f.s.clients.LoadClient(ctx, id)
	if err != nil {
		return nil, toFosite(err)
	}
	return c, nil
}

// ClientAssertionJWTValid implements fosite.ClientManager. fosite never
// checks client assertions here: clientauth verifies private_key_jwt
// assertions and records their jti itself (storage UseAssertion), so a
// question from fosite is answered "known", which refuses.
func (f *fositeStore) ClientAssertionJWTValid(context.Context, string) error {
	return fosite.ErrJTIKnown
}

// SetClientAssertionJWT implements fosite.ClientManager; see
// ClientAssertionJWTValid.
func (f *fositeStore) SetClientAssertionJWT(context.Context, string, time.Time) error {
	return fosite.ErrServerError.WithDebug("client assertions are checked by clientauth, not fosite")
}

func (f *fositeStore) createToken(ctx context.Context, kind storage.TokenKind, sig string, req fosite.Requester) error {
	sess, ok := req.GetSession().(*session)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected session type")
	}
	var exp time.Time
	switch kind {
	case storage.AccessToken:
		exp = sess.AccessExp
	case storage.RefreshToken:
		exp = sess.RefreshExp
	default: // a code and what rides with it
		exp = sess.CodeExp
	}
	scope, aud := req.GetGrantedScopes(), req.GetGrantedAudience()
	if kind == storage.RefreshToken && sess.grantScope != nil {
		scope = sess.grantScope // the access token's was narrowed
	}
	if kind == storage.RefreshToken && sess.grantAudience != nil {
		aud = sess.grantAudience
	}
	t := storage.Token{
		Kind:      kind,
		Signature: sig,
		RequestID: req.GetID(),
		ClientID:  req.GetClient().GetID(),
		Subject:   sess.Subject,
		Scopes:    scope,
		Audience:  aud,
		IssuedAt:  req.GetRequestedAt().UTC(),
		ExpiresAt: exp.UTC(),
	}
	if kind == storage.AccessToken {
		t.KeyID, t.JTI = sess.KeyID, sess.JTI
	} else {
		var err error
		t.Session, err = json.Marshal(storedRequest{
			Form: req.GetRequestForm(), RequestedScopes: req.GetRequestedScopes(),
			RequestedAudience: req.GetRequestedAudience(), Session: sess,
		})
		if err != nil {
			return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
		}
	}
	var err error
	if iss := issuanceOf(req); iss != nil && kind == storage.AccessToken {
		e := f.s.trail.Complete(ctx, issuedEntryOf(iss.grant, iss.ip, req))
		iss.sig = sig
		err = f.s.trail.Observe(e, func() error { return f.s.store.CreateTokenAudited(ctx, t, e) })
		iss.audited = err == nil
	} else {
		err = f.s.store.CreateToken(ctx, t)
	}
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			// The client was deleted while the token was being issued.
			return fosite.ErrInvalidClient.WithWrap(err)
		}
		return toFosite(err)
	}
	return nil
}

func (f *fositeStore) getToken(ctx context.Context, kind storage.TokenKind, sig string) (fosite.Requester, error) {
	t, err := f.s.store.GetToken(ctx, kind, sig)
	if err != nil {
		return nil, toFosite(err)
	}
	if kind == storage.AccessToken {
		return requesterOf(t), nil
	}
	req, err := f.resume(ctx, t)
	if err != nil {
		return nil, err
	}
	if !t.ConsumedAt.IsZero() {
		// Used up: fosite treats this as reuse and revokes the grant.
		if kind == storage.AuthorizeCode {
			f.s.revokeGrant(ctx, kind, sig, t.RequestID)
			return req, fosite.ErrInvalidatedAuthorizeCode
		}
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

// resume rebuilds the request behind a code or refresh record, with the
// client as it is now (a deleted client makes the grant fail).
func (f *fositeStore) resume(ctx context.Context, t storage.Token) (*fosite.Request, error) {
	var sr storedRequest
	if err := json.Unmarshal(t.Session, &sr); err != nil || sr.Session == nil {
		return nil, fosite.ErrServerError.WithDebug("a stored grant cannot be decoded")
	}
	c, err := f.s.clients.LoadClient(ctx, t.ClientID)
	if err != nil {
		return nil, toFosite(err)
	}
	if sr.Form == nil {
		sr.Form = url.Values{}
	}
	return &fosite.Request{
		ID:                t.RequestID,
		RequestedAt:       t.IssuedAt,
		Client:            c,
		RequestedScope:    sr.RequestedScopes,
		GrantedScope:      t.Scopes,
		RequestedAudience: sr.RequestedAudience,
		GrantedAudience:   t.Audience,
		Form:              sr.Form,
		Session:           sr.Session,
	}, nil
}

// requesterOf rebuilds the fosite view of a stored token.
func requesterOf(t storage.Token) *fosite.Request {
	sess := &session{Subject: t.Subject, KeyID: t.KeyID, JTI: t.JTI}
	if t.Kind == storage.RefreshToken {
		sess.RefreshExp = t.ExpiresAt
	} else {
		sess.AccessExp = t.ExpiresAt
	}
	return &fosite.Request{
		ID:                t.RequestID,
		RequestedAt:       t.IssuedAt,
		Client:            &clientauth.Client{Rec: storage.Client{ID: t.ClientID}},
		RequestedScope:    t.Scopes,
		GrantedScope:      t.Scopes,
		RequestedAudience: t.Audience,
		GrantedAudience:   t.Audience,
		Form:              url.Values{},
		Session:           sess,
	}
}

// CreateAccessTokenSession implements oauth2.AccessTokenStorage.
func (f *fositeStore) CreateAccessTokenSession(ctx context.Context, sig string, req fosite.Requester) error {
	return f.createToken(ctx, storage.AccessToken, sig, req)
}

// GetAccessTokenSession implements oauth2.AccessTokenStorage.
func (f *fositeStore) GetAccessTokenSession(ctx context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	return f.getToken(ctx, storage.AccessToken, sig)
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage.
func (f *fositeStore) DeleteAccessTokenSession(ctx context.Context, sig string) error {
	return toFosite(f.s.store.DeleteToken(ctx, storage.AccessToken, sig))
}

// CreateRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (f *fositeStore) CreateRefreshTokenSession(ctx context.Context, sig, _ string, req fosite.Requester) error {
	return f.createToken(ctx, storage.RefreshToken, sig, req)
}

// GetRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (f *fositeStore) GetRefreshTokenSession(ctx context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	return f.getToken(ctx, storage.RefreshToken, sig)
}

// DeleteRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (f *fositeStore) DeleteRefreshTokenSession(ctx context.Context, sig string) error {
	return toFosite(f.s.store.DeleteToken(ctx, storage.RefreshToken, sig))
}

// RotateRefreshToken implements oauth2.RefreshTokenStorage: the used
// refresh token is marked consumed (its record stays, so that a reuse is
// recognised until it expires) and the grant's access tokens stop
// working. Of two concurrent rotations of one token exactly one wins; the
// other is a reuse and revokes the whole grant.
func (f *fositeStore) RotateRefreshToken(ctx context.Context, requestID, sig string) error {
	if _, err := f.s.store.ConsumeToken(ctx, storage.RefreshToken, sig, f.s.now()); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			f.s.revokeGrant(ctx, storage.RefreshToken, sig, requestID)
			return fosite.ErrInactiveToken.WithWrap(granterr.ErrReused)
		}
		return toFosite(err)
	}
	return f.RevokeAccessToken(ctx, requestID)
}

// CreateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (f *fositeStore) CreateAuthorizeCodeSession(ctx context.Context, sig string, req fosite.Requester) error {
	return f.createToken(ctx, storage.AuthorizeCode, sig, req)
}

// GetAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage; a
// redeemed code comes back with fosite.ErrInvalidatedAuthorizeCode.
func (f *fositeStore) GetAuthorizeCodeSession(ctx context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	return f.getToken(ctx, storage.AuthorizeCode, sig)
}

// InvalidateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage:
// of concurrent redemptions exactly one gets past this; the others revoke
// what the grant issued.
func (f *fositeStore) InvalidateAuthorizeCodeSession(ctx context.Context, sig string) error {
	t, err := f.s.store.ConsumeToken(ctx, storage.AuthorizeCode, sig, f.s.now())
	if err != nil {
		if errors.Is(err, storage.ErrConflict) {
			f.s.revokeGrant(ctx, storage.AuthorizeCode, sig, t.RequestID)
			return fosite.ErrInvalidGrant.WithHint("The authorization code has already been used.").WithWrap(granterr.ErrReused)
		}
		return toFosite(err)
	}
	return nil
}

// CreatePKCERequestSession implements pkce.PKCERequestStorage.
func (f *fositeStore) CreatePKCERequestSession(ctx context.Context, sig string, req fosite.Requester) error {
	return f.createToken(ctx, storage.PKCE, sig, req)
}

// GetPKCERequestSession implements pkce.PKCERequestStorage.
func (f *fositeStore) GetPKCERequestSession(ctx context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	return f.getToken(ctx, storage.PKCE, sig)
}

// DeletePKCERequestSession implements pkce.PKCERequestStorage. It keeps
// the record: fosite deletes it before it compares the verifier, and a
// missing record would let a second attempt without any verifier pass for
// a client that need not use PKCE. The record expires with its code.
func (f *fositeStore) DeletePKCERequestSession(context.Context, string) error {
	return nil
}

// CreateOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
// fosite hands over the code itself; only its signature is stored.
func (f *fositeStore) CreateOpenIDConnectSession(ctx context.Context, code string, req fosite.Requester) error {
	return f.createToken(ctx, storage.OpenIDConnect, f.s.codes.AuthorizeCodeSignature(ctx, code), req)
}

// GetOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (f *fositeStore) GetOpenIDConnectSession(ctx context.Context, code string, _ fosite.Requester) (fosite.Requester, error) {
	return f.getToken(ctx, storage.OpenIDConnect, f.s.codes.AuthorizeCodeSignature(ctx, code))
}

// DeleteOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (f *fositeStore) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	return toFosite(f.s.store.DeleteToken(ctx, storage.OpenIDConnect, f.s.codes.AuthorizeCodeSignature(ctx, code)))
}

// RevokeRefreshToken implements oauth2.TokenRevocationStorage.
func (f *fositeStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return toFosite(f.s.store.RevokeRequest(ctx, storage.RefreshToken, requestID))
}

// RevokeAccessToken implements oauth2.TokenRevocationStorage.
func (f *fositeStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	return toFosite(f.s.store.RevokeRequest(ctx, storage.AccessToken, requestID))
}

// toFosite maps storage errors to fosite's: not found stays not found (an
// inactive or unknown token), anything else means the store is unavailable
// (503, retry), with its text for the log only.
func toFosite(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("%w: %w", fosite.ErrNotFound, err)
	default:
		return fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	}
}

// issuanceOf is the issuance the token endpoint put in req's session, or
// nil.
func issuanceOf(req fosite.Requester) *issuance {
	if sess, ok := req.GetSession().(*session); ok {
		return sess.issuance
	}
	return nil
}
