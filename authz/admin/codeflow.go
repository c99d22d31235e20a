package admin

import (
	"fmt"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/fapi"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// validCodeFlowRules checks the switches of the authorization-code flow
// and copies them into c: require_pkce may be false only for a
// confidential client (RFC 9700 section 2.1.1: a public client has
// nothing else to bind its code to), and
// require_pushed_authorization_requests (RFC 9126 section 6) and
// dpop_bound_access_tokens (RFC 9449 section 5.2) are free.
func validCodeFlowRules(in clientInput, c *storage.Client) *web.Error {
	if in.RequirePKCE != nil && !*in.RequirePKCE {
		if c.TokenEndpointAuthMethod == clientauth.MethodNone {
			return invalidMetadata("require_pkce may be false only for a confidential client: a public client must use PKCE (RFC 9700 section 2.1.1)")
		}
		c.PKCEOptional = true
	}
	c.RequirePushedAuthorizationRequests = in.RequirePushedAuthorizationRequests
	c.DPoPBoundAccessTokens = in.DPoPBoundAccessTokens
	return nil
}

// codeFlowDetails adds to the audit details of a client change what its
// code-flow switches relax or demand; absent means the defaults (PKCE
// required, PAR not).
func codeFlowDetails(details map[string]string, c adminapi.ClientJSON) {
	if c.RequirePKCE != nil && !*c.RequirePKCE {
		details["require_pkce"] = "false"
	}
	if c.RequirePushedAuthorizationRequests {
		details["require_pushed_authorization_requests"] = "true"
	}
	if c.DPoPBoundAccessTokens {
		details["dpop_bound_access_tokens"] = "true"
	}
}

// profileRules is the check that sets a client's security profile and
// checks the record against the rules of the profile that binds it, its
// own or the server's (serverProfile; fapi.Registration): each broken
// rule is named.
func profileRules(serverProfile string) func(clientInput, *storage.Client) *web.Error {
	return func(in clientInput, c *storage.Client) *web.Error {
		if !fapi.ValidProfile(in.Profile) {
			return invalidMetadata(fmt.Sprintf("profile %q is not supported (use %q, or leave it out)", web.Truncate(in.Profile, 20), fapi.Profile))
		}
		c.Profile = in.Profile
		if !fapi.Applies(serverProfile, c.Profile) {
			return nil
		}
		if err := fapi.Registration(*c); err != nil {
			return invalidMetadata(err.Error())
		}
		return nil
	}
}
