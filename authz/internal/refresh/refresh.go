// Package refresh serves the refresh_token grant (RFC 6749 section 6)
// with fosite's handler, except that the refresh token of a client whose
// grant keeps it (a FAPI 2.0 client's) is not rotated.
//
// fosite's handler rotates on every use: it marks the used token consumed
// and issues a new one, so an answer lost on the way strands the client,
// whose only token is now spent. The FAPI 2.0 Security Profile (section
// 5.3.2.1) asks that refresh tokens are not rotated; they are
// sender-constrained instead (the grant's DPoP key or certificate, checked
// by the token endpoint). For such a client a refresh issues a new access
// token (and an ID token, by the OpenID Connect handler, for an openid
// grant), and the answer carries no refresh_token: the one presented
// stays valid, unchanged, until its own expiry, its revocation or the end
// of its grant. Every check before the answer is fosite's, as for any
// client: the client's authentication and grant type, the token found,
// unexpired and issued to that client, offline_access, the scopes and
// audience still allowed.
//
// A refresh token is kept only if it was stored bound to a DPoP key or a
// certificate. One stored unbound (its grant began before the profile
// applied to its client) is rotated once more: the new one is stored with
// the binding of the request, and kept from then on. Kept unbound, it
// would refresh with any key, each time another.
package refresh

import (
	"context"
	"errors"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
)

// Handler is fosite's refresh token grant handler, which keeps the
// refresh token of the clients Keep names.
type Handler struct {
	*oauth2.RefreshTokenGrantHandler
	// Keep reports whether the refresh tokens of client c are kept (not
	// rotated).
	Keep func(c fosite.Client) bool
}

var _ fosite.TokenEndpointHandler = (*Handler)(nil)

// Bindable is the session of a grant whose tokens may be bound to a DPoP
// key or a client certificate.
type Bindable interface {
	// StoredBound reports whether the refresh token presented was stored
	// bound to either.
	StoredBound() bool
}

// keeps reports whether the refresh token of ar is kept: its client's
// are, and it is bound (a session that cannot say is taken as unbound).
func (h *Handler) keeps(ar fosite.Requester) bool {
	b, ok := ar.GetSession().(Bindable)
	return ok && b.StoredBound() && h.Keep(ar.GetClient())
}

// Keeping returns h, which rotates refresh tokens, as a handler that keeps
// those of the clients keep names.
func Keeping(h *oauth2.RefreshTokenGrantHandler, keep func(c fosite.Client) bool) *Handler {
	return &Handler{RefreshTokenGrantHandler: h, Keep: keep}
}

// PopulateTokenEndpointResponse implements fosite.TokenEndpointHandler:
// fosite's, which rotates, unless the refresh token is kept.
func (h *Handler) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) || !h.keeps(ar) {
		return h.RefreshTokenGrantHandler.PopulateTokenEndpointResponse(ctx, ar, resp)
	}
	token, sig, err := h.AccessTokenStrategy.GenerateAccessToken(ctx, ar)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	stored := ar.Sanitize(nil)
	stored.SetID(ar.GetID())
	// Each refresh ends the grant's earlier access tokens, as under
	// rotation (whose RotateRefreshToken ends them): a token whose answer
	// was lost, or that the client replaces, stops working. Revoking and
	// creating are not one step: of refreshes that overlap, each may
	// revoke before the others create, so each of their tokens may stay
	// live, for at most the access-token lifetime (under rotation, the two
	// would end the whole grant as a reuse).
	if err := h.TokenRevocationStorage.RevokeAccessToken(ctx, ar.GetID()); err != nil && !errors.Is(err, fosite.ErrNotFound) {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	if err := h.TokenRevocationStorage.CreateAccessTokenSession(ctx, sig, stored); err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	resp.SetAccessToken(token)
	resp.SetTokenType("bearer")
	resp.SetExpiresIn(expiresIn(ar, h.Config.GetAccessTokenLifespan(ctx), time.Now().UTC()))
	resp.SetScopes(ar.GetGrantedScopes())
	return nil
}

// expiresIn is what is left at now of the access token of ar, as fosite's
// handlers count it: lifespan if the session sets no expiry.
func expiresIn(ar fosite.Requester, lifespan time.Duration, now time.Time) time.Duration {
	exp := ar.GetSession().GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		return fosite.GetEffectiveLifespan(ar.GetClient(), fosite.GrantTypeRefreshToken, fosite.AccessToken, lifespan)
	}
	return exp.Sub(now)
}
