package operators

import (
	"slices"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
)

// CheckGrant refuses an admin scope to a client_credentials request
// that did not prove a key (private_key_jwt or mTLS): a client secret or
// an API key never carries one, whatever the client's registration says.
func CheckGrant(ar fosite.AccessRequester) error {
	if !slices.ContainsFunc(ar.GetRequestedScopes(), adminauth.IsAdminScope) {
		return nil
	}
	if c, ok := ar.GetClient().(*clientauth.Client); ok && c.APIKeyID == "" && adminauth.ProvesKey(c.Rec.TokenEndpointAuthMethod) {
		return nil
	}
	return fosite.ErrInvalidScope.WithHint("Admin scopes are granted only to clients that authenticate with private_key_jwt or a TLS client certificate.")
}
