// Package tokenreq holds the checks of a token request that fosite does
// not make: the form's grant type and audience, and the narrowing of a
// refresh to fewer scopes or audiences.
package tokenreq

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/internal/web"
)

// ErrInvalidTarget is RFC 8707's error for a resource or audience the
// client may not have.
var ErrInvalidTarget = &fosite.RFC6749Error{
	ErrorField:       "invalid_target",
	DescriptionField: "The requested resource or audience is invalid, unknown, or not allowed for this client.",
	CodeField:        http.StatusBadRequest,
}

// SupportedGrant reports whether the token endpoint serves the grant type
// gt.
func SupportedGrant(gt string) bool {
	switch fosite.GrantType(gt) {
	case fosite.GrantTypeClientCredentials, fosite.GrantTypeAuthorizationCode, fosite.GrantTypeRefreshToken:
		return true
	}
	return false
}

// CheckForm checks what fosite does not: the grant type is one
// supported says we serve, and the audience (or RFC 8707 resource, which names it too: a
// request may use one parameter or the other, not both) is well-formed.
// It copies resource to audience, where fosite reads it.
func CheckForm(form url.Values, supported func(grantType string) bool, validAudience func(string) error) error {
	if gt := form.Get("grant_type"); gt != "" && !supported(gt) {
		return fosite.ErrUnsupportedGrantType.WithHintf("The grant type '%s' is not supported by this server.", web.SafeParam(gt))
	}
	if res := form["resource"]; len(res) > 0 {
		if form.Has("audience") {
			return fosite.ErrInvalidRequest.WithHint("Use either 'audience' or 'resource', not both.")
		}
		form["audience"] = res
	}
	for _, a := range form["audience"] {
		for _, v := range strings.Fields(a) {
			if validAudience(v) != nil {
				return ErrInvalidTarget.WithHint("An audience or resource value is malformed.")
			}
		}
	}
	return nil
}

// NarrowScope gives the access token of a refresh request that names a
// scope only that scope (RFC 6749 section 6), in the order of the grant:
// each must have been granted (invalid_scope otherwise). fosite ignores
// the parameter. It returns the whole grant's scopes when it narrowed
// (nil when the request named none), for the refresh token to keep, so
// that a later refresh may ask for more again.
func NarrowScope(ar fosite.AccessRequester) ([]string, error) {
	asked := fosite.RemoveEmpty(strings.Split(ar.GetRequestForm().Get("scope"), " "))
	narrow, err := narrowed(ar, asked, ar.GetGrantedScopes(), func(sc string) error {
		return fosite.ErrInvalidScope.WithHintf("The scope '%s' was not granted to this refresh token.", web.SafeParam(sc))
	})
	if err != nil || narrow == nil {
		return nil, err
	}
	kept := slices.Clone(ar.GetGrantedScopes())
	ar.(*fosite.AccessRequest).GrantedScope = narrow
	return kept, nil
}

// NarrowAudience gives the access token of a refresh request that names
// an audience (or an RFC 8707 resource, copied to audience by CheckForm)
// only those, as NarrowScope does for the scope (invalid_target for one
// not granted). fosite ignores the parameter on a refresh.
func NarrowAudience(ar fosite.AccessRequester) ([]string, error) {
	var asked []string
	for _, a := range ar.GetRequestForm()["audience"] {
		asked = append(asked, strings.Fields(a)...)
	}
	narrow, err := narrowed(ar, asked, ar.GetGrantedAudience(), func(a string) error {
		return ErrInvalidTarget.WithHintf("The audience '%s' was not granted to this refresh token.", web.SafeParam(a))
	})
	if err != nil || narrow == nil {
		return nil, err
	}
	kept := slices.Clone(ar.GetGrantedAudience())
	ar.(*fosite.AccessRequest).GrantedAudience = narrow
	return kept, nil
}

// narrowed is the values of granted that asked names, in granted's order;
// nil when asked is empty (nothing to narrow). A value asked for but not
// granted is refuse(value). ar must be a *fosite.AccessRequest, whose
// granted values the caller then replaces.
func narrowed(ar fosite.AccessRequester, asked, granted []string, refuse func(string) error) (fosite.Arguments, error) {
	if len(asked) == 0 {
		return nil, nil
	}
	for _, v := range asked {
		if !slices.Contains(granted, v) {
			return nil, refuse(v)
		}
	}
	if _, ok := ar.(*fosite.AccessRequest); !ok {
		return nil, fosite.ErrServerError.WithDebug("unexpected access request type")
	}
	narrow := fosite.Arguments{}
	for _, v := range granted {
		if slices.Contains(asked, v) {
			narrow = append(narrow, v)
		}
	}
	return narrow, nil
}

// AudienceAllowed is fosite's audience strategy: every requested audience
// must be registered for the client, exactly.
func AudienceAllowed(allowed []string, requested []string) error {
	for _, a := range requested {
		if !slices.Contains(allowed, a) {
			return ErrInvalidTarget.WithHintf("The client is not registered for audience '%s'.", a)
		}
	}
	return nil
}
