package authz

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/idvauth/idvauth/storage"
)

// fositeStore is the one adapter between fosite and storage: it turns
// fosite requesters into storage records and storage errors into fosite
// errors. Nothing else in authz hands fosite a store.
type fositeStore struct {
	s *Server
}

var (
	_ fosite.ClientManager          = (*fositeStore)(nil)
	_ oauth2.AccessTokenStorage     = (*fositeStore)(nil)
	_ oauth2.TokenRevocationStorage = (*fositeStore)(nil)
)

// GetClient implements fosite.ClientManager.
func (f *fositeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := f.s.client(ctx, id)
	if err != nil {
		return nil, toFosite(err)
	}
	return c, nil
}

// ClientAssertionJWTValid implements fosite.ClientManager. private_key_jwt
// is not enabled, so every assertion is refused.
func (f *fositeStore) ClientAssertionJWTValid(context.Context, string) error {
	return fosite.ErrJTIKnown
}

// SetClientAssertionJWT implements fosite.ClientManager; see
// ClientAssertionJWTValid.
func (f *fositeStore) SetClientAssertionJWT(context.Context, string, time.Time) error {
	return fosite.ErrServerError.WithDebug("client assertions are not enabled")
}

func (f *fositeStore) createToken(ctx context.Context, kind storage.TokenKind, sig string, req fosite.Requester) error {
	sess, ok := req.GetSession().(*session)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected session type")
	}
	exp := sess.AccessExp
	if kind == storage.RefreshToken {
		exp = sess.RefreshExp
	}
	t := storage.Token{
		Kind:      kind,
		Signature: sig,
		RequestID: req.GetID(),
		ClientID:  req.GetClient().GetID(),
		Subject:   sess.Subject,
		Scopes:    req.GetGrantedScopes(),
		Audience:  req.GetGrantedAudience(),
		IssuedAt:  req.GetRequestedAt().UTC(),
		ExpiresAt: exp.UTC(),
	}
	if kind == storage.AccessToken {
		t.KeyID, t.JTI = sess.KeyID, sess.JTI
	}
	if err := f.s.store.CreateToken(ctx, t); err != nil {
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
	return requesterOf(t), nil
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
		Client:            &client{rec: storage.Client{ID: t.ClientID}},
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

// RotateRefreshToken implements oauth2.RefreshTokenStorage: the grant's
// refresh and access tokens stop working.
func (f *fositeStore) RotateRefreshToken(ctx context.Context, requestID, _ string) error {
	if err := f.RevokeRefreshToken(ctx, requestID); err != nil {
		return err
	}
	return f.RevokeAccessToken(ctx, requestID)
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
