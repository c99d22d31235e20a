// Package authreq holds the checks of an authorization request that need
// nothing of the login pages' state: what the server supports, PKCE, the
// sign-in parameters, redirect URI matching and the FAPI 2.0 rules.
package authreq

import (
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/fapi"
)

var pkceChallengePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// FAPI refuses a request of client c, with form, pushed or not, that
// breaks a FAPI 2.0 rule, if the server's profile or the client's binds
// the client.
func FAPI(serverProfile string, c *clientauth.Client, form url.Values, pushed bool) error {
	if !fapi.Applies(serverProfile, c.Rec.Profile) {
		return nil
	}
	if err := fapi.CheckClient(c.Rec); err != nil {
		return err
	}
	if !pushed {
		return fapi.ErrPARRequired
	}
	if form.Get("code_challenge") == "" || form.Get("code_challenge_method") != "S256" {
		return fapi.ErrPKCE
	}
	return nil
}

// SupportedRequest checks that the client may use the code flow and that
// the request asks for nothing this server does not support: only
// response_type=code and response_mode=query, no request objects.
func SupportedRequest(c *clientauth.Client, ar fosite.AuthorizeRequester) error {
	form := ar.GetRequestForm()
	switch {
	case !c.GetGrantTypes().Has("authorization_code"):
		return fosite.ErrUnauthorizedClient.WithHint("The client is not registered for the authorization_code grant.")
	case !ar.GetResponseTypes().ExactOne("code"):
		return fosite.ErrUnsupportedResponseType.WithHint("Only response_type=code is supported.")
	case form.Has("response_mode") && form.Get("response_mode") != "query":
		return fosite.ErrInvalidRequest.WithHint("Only response_mode=query is supported.")
	case form.Has("request"):
		return fosite.ErrRequestNotSupported.WithHint("Request objects are not supported.")
	case form.Has("request_uri"):
		return fosite.ErrRequestURINotSupported.WithHint("request_uri is supported only for pushed authorization requests (RFC 9126).")
	}
	return nil
}

// ValidPKCE checks the PKCE parameters: S256 only, both or neither, and
// always, but for a confidential client registered with require_pkce
// false (RFC 9700 section 2.1.1).
func ValidPKCE(c *clientauth.Client, form url.Values) error {
	challenge, method := form.Get("code_challenge"), form.Get("code_challenge_method")
	switch {
	case method != "" && method != "S256":
		return fosite.ErrInvalidRequest.WithHint("The PKCE code_challenge_method must be S256.")
	case challenge != "" && method == "":
		return fosite.ErrInvalidRequest.WithHint("The PKCE code_challenge_method must be given, and S256.")
	case challenge == "" && method != "":
		return fosite.ErrInvalidRequest.WithHint("The PKCE code_challenge is missing.")
	case challenge == "" && c.IsPublic():
		return fosite.ErrInvalidRequest.WithHint("Public clients must use PKCE (code_challenge with code_challenge_method=S256).")
	case challenge == "" && !c.Rec.PKCEOptional:
		return fosite.ErrInvalidRequest.WithHint("This client must use PKCE (code_challenge with code_challenge_method=S256).")
	case challenge != "" && !pkceChallengePattern.MatchString(challenge):
		return fosite.ErrInvalidRequest.WithHint("The PKCE code_challenge must be 43 base64url characters (the SHA-256 of the verifier).")
	}
	return nil
}

// ValidSignInParams checks what the request says about the sign-in:
// prompt, max_age, and the sizes of nonce and state.
func ValidSignInParams(form url.Values) error {
	prompts := strings.Fields(form.Get("prompt"))
	for _, p := range prompts {
		if p != "none" && p != "login" && p != "consent" {
			return fosite.ErrInvalidRequest.WithHint("prompt may hold none, login and consent only.")
		}
	}
	if slices.Contains(prompts, "none") && len(prompts) > 1 {
		return fosite.ErrInvalidRequest.WithHint("prompt=none cannot be combined with other values.")
	}
	if v := form.Get("max_age"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
			return fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative number of seconds.")
		}
	}
	if len(form.Get("nonce")) > 512 || len(form.Get("state")) > 1024 {
		return fosite.ErrInvalidRequest.WithHint("nonce and state are limited to 512 and 1024 characters.")
	}
	return nil
}

// RedirectRegistered applies exact matching: the redirect URI must be one
// of the client's, character for character. A public client's loopback
// URI may differ in port only (RFC 8252 section 7.3). An absent
// redirect_uri is allowed when exactly one is registered (RFC 6749 section
// 3.1.2.3).
func RedirectRegistered(c *clientauth.Client, requested string) bool {
	uris := c.Rec.RedirectURIs
	if requested == "" {
		return len(uris) == 1
	}
	if slices.Contains(uris, requested) {
		return true
	}
	return c.IsPublic() && loopbackRegistered(uris, requested)
}

// loopbackRegistered reports whether requested is an http URI on a
// loopback IP address that differs from one of uris in its port only.
func loopbackRegistered(uris []string, requested string) bool {
	ru, err := url.Parse(requested)
	if err != nil || ru.Scheme != "http" || ru.User != nil || ru.Fragment != "" {
		return false
	}
	if ip := net.ParseIP(ru.Hostname()); ip == nil || !ip.IsLoopback() {
		return false
	}
	return slices.ContainsFunc(uris, func(reg string) bool {
		gu, err := url.Parse(reg)
		return err == nil && gu.Scheme == "http" && gu.Hostname() == ru.Hostname() && gu.EscapedPath() == ru.EscapedPath() && gu.RawQuery == ru.RawQuery
	})
}
