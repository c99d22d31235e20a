package admin

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/internal/outbound"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// validLogout returns the check of the logout metadata under cfg;
// checkLogout checks the logout metadata and copies it into c:
// post_logout_redirect_uris follow the rules of redirect_uris (matched
// exactly, so registered exactly); backchannel_logout_uri those of
// jwks_uri, except that plain http (on a loopback host) is for --dev
// only: the logout token it carries names a person's session.
// backchannel_logout_session_required needs the URI. Both are for
// clients that sign people in (authorization_code).
func validLogout(cfg Config) func(clientInput, *storage.Client) *web.Error {
	return func(in clientInput, c *storage.Client) *web.Error { return checkLogout(in, c, cfg.Outbound, cfg.Dev) }
}

func checkLogout(in clientInput, c *storage.Client, policy outbound.Policy, dev bool) *web.Error {
	if len(in.PostLogoutRedirectURIs) > maxRedirectURIs {
		return invalidMetadata(fmt.Sprintf("at most %d post_logout_redirect_uris", maxRedirectURIs))
	}
	public := c.TokenEndpointAuthMethod == clientauth.MethodNone
	c.PostLogoutRedirectURIs = nil
	for _, u := range in.PostLogoutRedirectURIs {
		if err := validRedirectURI(u, public); err != nil {
			return invalidMetadata(fmt.Sprintf("post_logout_redirect_uris: %q: %v", web.Truncate(u, 80), err))
		}
		if slices.Contains(c.PostLogoutRedirectURIs, u) {
			return invalidMetadata(fmt.Sprintf("post_logout_redirect_uris: %q is listed twice", web.Truncate(u, 80)))
		}
		c.PostLogoutRedirectURIs = append(c.PostLogoutRedirectURIs, u)
	}
	if u := in.BackchannelLogoutURI; u != "" {
		if err := validBackchannelURI(u, policy, dev); err != nil {
			return invalidMetadata(fmt.Sprintf("backchannel_logout_uri: %q: %v", web.Truncate(u, 80), err))
		}
		c.BackchannelLogoutURI = u
	}
	if in.BackchannelLogoutSessionRequired && c.BackchannelLogoutURI == "" {
		return invalidMetadata("backchannel_logout_session_required needs a backchannel_logout_uri")
	}
	c.BackchannelLogoutSessionRequired = in.BackchannelLogoutSessionRequired
	if (len(c.PostLogoutRedirectURIs) > 0 || c.BackchannelLogoutURI != "") && !slices.Contains(c.GrantTypes, adminapi.GrantAuthorizationCode) {
		return invalidMetadata("post_logout_redirect_uris and backchannel_logout_uri are for clients of the authorization_code grant")
	}
	return nil
}

// validBackchannelURI checks a backchannel_logout_uri: as a jwks_uri
// (absolute, no user info or fragment, https or loopback http, no
// internal address that policy refuses), and http only with dev.
func validBackchannelURI(raw string, policy outbound.Policy, dev bool) error {
	if err := validJWKSURI(raw, policy); err != nil {
		return err
	}
	if u, _ := url.Parse(raw); u.Scheme == "http" && !dev { // parsed by validJWKSURI
		return errors.New("must use https (http on a loopback host only with --dev)")
	}
	return nil
}

// logoutDetails adds to the audit details of a client change where its
// logout messages go.
func logoutDetails(details map[string]string, c adminapi.ClientJSON) {
	if c.BackchannelLogoutURI != "" {
		details["backchannel_logout_uri"] = c.BackchannelLogoutURI
	}
	if len(c.PostLogoutRedirectURIs) > 0 {
		details["post_logout_redirect_uris"] = strings.Join(c.PostLogoutRedirectURIs, " ")
	}
}
