// Package granterr maps what fosite answers when a grant fails to what
// idvauth answers: a spent code or refresh token is invalid_grant, and a
// store's own answer wrapped in server_error comes out again.
package granterr

import (
	"errors"

	"github.com/ory/fosite"
)

// ErrReused marks a code or refresh token used twice.
var ErrReused = errors.New("token reused")

// Spent answers invalid_grant where fosite answers a code or refresh
// token redemption that lost a race with another use of the same code or
// token: fosite wraps what the store said (the record already used up, or
// gone with the grant it revoked) in server_error (a code) or in
// invalid_request with "please retry" (a refresh token). Neither is true:
// the grant is spent, and a retry cannot help. Other errors pass as they
// are.
func Spent(gt string, err error) error {
	if gt != "authorization_code" && gt != "refresh_token" {
		return err
	}
	switch fosite.ErrorToRFC6749Error(err).ErrorField {
	case fosite.ErrServerError.ErrorField, fosite.ErrInvalidRequest.ErrorField:
	default:
		return err
	}
	if errors.Is(err, ErrReused) || errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) ||
		errors.Is(err, fosite.ErrInactiveToken) || errors.Is(err, fosite.ErrNotFound) {
		return fosite.ErrInvalidGrant.WithHint("The authorization code or refresh token was used by another request.").WithWrap(err)
	}
	return err
}

// OwnCause returns the answer a store adapter gave, when fosite wrapped it
// in server_error: a store outage (temporarily_unavailable, 503) or a
// client deleted while its grant was redeemed (invalid_client) must not
// become a 500. Other errors pass as they are.
func OwnCause(err error) error {
	if fosite.ErrorToRFC6749Error(err).ErrorField != fosite.ErrServerError.ErrorField {
		return err
	}
	for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
		var inner *fosite.RFC6749Error
		if !errors.As(e, &inner) {
			return err
		}
		switch inner.ErrorField {
		case fosite.ErrTemporarilyUnavailable.ErrorField, fosite.ErrInvalidClient.ErrorField:
			return inner
		}
		e = inner
	}
	return err
}
