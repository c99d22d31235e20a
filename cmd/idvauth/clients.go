package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/clikit"
)

func newClientsCmd(env lookupEnv) *cobra.Command {
	cmd := clikit.Group(&cobra.Command{
		Use:   "clients",
		Short: "Manage OAuth 2.0 clients through the admin API",
		Long: `Manage OAuth 2.0 clients through the admin API of a running server.

The admin API is found at IDVAUTH_ADMIN_URL (default http://127.0.0.1:8081)
and authenticated with IDVAUTH_ADMIN_TOKEN.`,
		Example: `  export IDVAUTH_ADMIN_TOKEN=...
  idvauth clients create --name "KYC backend" --scope identity.verify
  idvauth clients list -o json`,
	})
	addAdminFlags(cmd)
	for _, c := range []*cobra.Command{clientsCreateCmd(env), clientsListCmd(env), clientsGetCmd(env), clientsUpdateCmd(env),
		clientsDeleteCmd(env), clientsRotateCmd(env)} {
		clikit.AddOutputFlag(c)
		cmd.AddCommand(c)
	}
	cmd.AddCommand(newAPIKeysCmd(env))
	return cmd
}

func clientsCreateCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Register a client and print its secret (shown once)",
		Long: `Register a client. The server generates the client secret (256 random
bits) and returns it once: store it now, it cannot be shown again.`,
		Example: `  # A backend service that starts verifications
  idvauth clients create --name "KYC backend" --scope "identity.verify identity.read_status" --audience idv-api

  # A resource server that may introspect tokens and get none itself; it
  # sees active only tokens for its audience (here the default, idv-api)
  idvauth clients create --id idv-api --name "IDV API" --grant-type '' --introspection-allowed -o json

  # A resource server that introspects the tokens of two audiences
  idvauth clients create --name "Status API" --grant-type '' --introspection-allowed \
    --introspection-audience idv-api --introspection-audience status-api -o json

  # A web app that signs people in (authorization code + PKCE, refresh tokens)
  idvauth clients create --name "Onboarding web" --grant-type authorization_code --grant-type refresh_token \
    --redirect-uri https://onboarding.example/callback --scope "openid profile email offline_access identity.verify" \
    --post-logout-redirect-uri https://onboarding.example/signed-out --backchannel-logout-uri https://onboarding.example/backchannel-logout

  # A backend that authenticates with mutual TLS (RFC 8705), or with a signed JWT (RFC 7523)
  idvauth clients create --id kyc-mtls --auth-method tls_client_auth --tls-subject-dn "CN=kyc-mtls" --scope identity.verify
  idvauth clients create --id kyc-jwt --auth-method private_key_jwt --jwks-file kyc-jwt.jwks.json --scope identity.verify

  # A mobile app: public, no secret, PKCE required
  idvauth clients create --name "Onboarding iOS" --auth-method none --grant-type authorization_code \
    --redirect-uri com.example.onboarding:/callback --scope "openid identity.verify"`,
		Args: cobra.NoArgs,
		RunE: adminRunE(env, nil, func(a *adminCall, _ []string) error {
			var c adminapi.ClientJSON
			c.ClientID, _ = a.cmd.Flags().GetString("id")
			if err := applyClientFlags(a.cmd, &c); err != nil {
				return err
			}
			return show(a, adminapi.ClientWriter(true))(a.api.CreateClient(a.ctx, c))
		}),
	}
	cmd.Flags().String("id", "", "client_id (default: generated)")
	addClientFlags(cmd)
	return cmd
}

func clientsListCmd(env lookupEnv) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List clients",
		Long:    "List every registered client (never their secrets).",
		Example: "  idvauth clients list\n  idvauth clients list -o json",
		Args:    cobra.NoArgs,
		RunE: adminRunE(env, nil, func(a *adminCall, _ []string) error {
			return show(a, adminapi.WriteClientList)(a.api.ListClients(a.ctx))
		}),
	}
}

func clientsGetCmd(env lookupEnv) *cobra.Command {
	return &cobra.Command{
		Use:     "get CLIENT_ID",
		Short:   "Show one client",
		Long:    "Show one client's metadata (never its secret).",
		Example: "  idvauth clients get demo-service -o json",
		Args:    cobra.ExactArgs(1),
		RunE: adminRunE(env, nil, func(a *adminCall, args []string) error {
			c, raw, err := a.api.GetClient(a.ctx, args[0])
			return show(a, adminapi.ClientWriter(false))(c, raw, adminapi.Named(err, "client", args[0]))
		}),
	}
}

func clientsUpdateCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update CLIENT_ID",
		Short: "Change a client's metadata",
		Long: `Change a client's metadata: the flags you give replace those fields, the
rest stays as it is. The secret is not changed (see rotate-secret).`,
		Example: `  idvauth clients update demo-service --scope identity.read_status
  idvauth clients update demo-web --redirect-uri https://app.example/callback --redirect-uri https://app.example/cb2
  idvauth clients update idv-api --introspection-allowed=false -o json`,
		Args: cobra.ExactArgs(1),
		RunE: adminRunE(env, nil, func(a *adminCall, args []string) error {
			c, _, err := a.api.GetClient(a.ctx, args[0])
			if err != nil {
				return err
			}
			if err := applyClientFlags(a.cmd, &c); err != nil {
				return err
			}
			return show(a, adminapi.ClientWriter(false))(a.api.UpdateClient(a.ctx, args[0], c))
		}),
	}
	addClientFlags(cmd)
	return cmd
}

func clientsDeleteCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete CLIENT_ID",
		Short: "Delete a client and every token issued to it",
		Long: `Delete a client. Its tokens stop working at once: introspection answers
active: false.

On a terminal it asks first; scripts confirm with --yes (without a terminal
and without --yes nothing is deleted).`,
		Example: "  idvauth clients delete demo-service\n  idvauth clients delete demo-service --yes -o json",
		Args:    cobra.ExactArgs(1),
		RunE: adminRunE(env, clikit.ConfirmCheck(func(args []string) string { return "delete client " + args[0] }), func(a *adminCall, args []string) error {
			return showDeleted(a, adminapi.Named(a.api.DeleteClient(a.ctx, args[0]), "client", args[0]), args[0], "client "+args[0]+" deleted")
		}),
	}
	clikit.AddYesFlag(cmd)
	return cmd
}

func clientsRotateCmd(env lookupEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-secret CLIENT_ID",
		Short: "Give a client a new secret (shown once); the old one stops working",
		Long: `Generate a new secret for a client. The old secret stops working at once;
tokens already issued stay valid until they expire.`,
		Example: "  idvauth clients rotate-secret demo-service -o json",
		Args:    cobra.ExactArgs(1),
		RunE: adminRunE(env, nil, func(a *adminCall, args []string) error {
			return show(a, adminapi.ClientWriter(true))(a.api.RotateClientSecret(a.ctx, args[0]))
		}),
	}
}

// addClientFlags adds the metadata flags of create and update.
func addClientFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("name", "", "client_name: a human-readable name")
	f.String("scope", "", "space-separated scopes the client may get, e.g. \"identity.verify identity.read_status\"")
	f.StringArray("audience", nil, "audience the client's tokens may name (repeatable); none: the server's default audience")
	f.StringArray("grant-type", nil, "grant type (repeatable; default client_credentials; --grant-type '' for none, e.g. a resource server)")
	f.String("auth-method", "", "token_endpoint_auth_method: client_secret_basic (default), client_secret_post, private_key_jwt, tls_client_auth, self_signed_tls_client_auth, or none (a public app: no secret, PKCE required)")
	f.String("jwks-file", "", "file with the client's public keys (a JWK Set or one JWK) for private_key_jwt or self_signed_tls_client_auth")
	f.String("jwks-uri", "", "https URL where the client publishes its public keys (instead of --jwks-file)")
	f.String("tls-subject-dn", "", "tls_client_auth: the certificate subject DN (RFC 4514), e.g. \"CN=kyc-backend,O=Example\"")
	f.String("tls-san-dns", "", "tls_client_auth: a DNS name in the certificate's subjectAltName (instead of --tls-subject-dn)")
	f.String("tls-san-uri", "", "tls_client_auth: a URI in the certificate's subjectAltName")
	f.String("tls-san-ip", "", "tls_client_auth: an IP address in the certificate's subjectAltName")
	f.String("tls-san-email", "", "tls_client_auth: an email address in the certificate's subjectAltName")
	f.Bool("cert-bound-tokens", false, "bind the client's access tokens to its TLS client certificate (RFC 8705; always on for the tls methods)")
	f.Bool("require-pkce", true, "authorization_code: require PKCE (S256); only a confidential client may be registered with --require-pkce=false")
	f.Bool("require-par", false, "authorization_code: accept only pushed authorization requests (RFC 9126 require_pushed_authorization_requests)")
	f.String("profile", "", "security profile the client is held to: fapi2 (the FAPI 2.0 Security Profile: private_key_jwt or mTLS, PAR, PKCE, DPoP or mTLS-bound tokens, https redirect URIs, ES256 ID tokens); '' for none")
	f.Bool("dpop-bound-tokens", false, "every token request of the client must carry a DPoP proof, so all its access tokens are bound to its key (RFC 9449 dpop_bound_access_tokens)")
	f.Bool("allow-token-endpoint-audience", false, "private_key_jwt: also accept assertions whose aud is the token endpoint URL (RFC 7523), not only the issuer; for clients that cannot be changed yet")
	f.StringArray("redirect-uri", nil, "redirect URI for the authorization_code grant (repeatable; matched exactly)")
	f.StringArray("post-logout-redirect-uri", nil, "where RP-initiated logout may send the person back (repeatable; matched exactly; --post-logout-redirect-uri '' for none)")
	f.String("backchannel-logout-uri", "", "https URL that receives back-channel logout tokens when a person who used the client logs out ('' for none)")
	f.Bool("backchannel-logout-session-required", false, "the client needs the sid claim in logout tokens (always sent)")
	f.String("id-token-alg", "", "id_token_signed_response_alg: RS256, ES256 or PS256 (default: the server's)")
	f.Duration("access-token-ttl", 0, "access token lifetime for this client, e.g. 10m, in whole seconds (0: the server default)")
	f.Bool("introspection-allowed", false, "let this client call the introspection endpoint (resource servers)")
	f.StringArray("introspection-audience", nil, "audience of the tokens this resource server may see active when it introspects (repeatable); none: its --audience, or the server's default audience")
	f.StringArray("default-acr-value", nil, "default_acr_values: acr value asked for when a sign-in request names none, e.g. urn:idvauth:acr:mfa (repeatable; --default-acr-value '' for none)")
	f.Bool("require-mfa", false, "every sign-in for this client uses a second factor (people without one set one up)")
}

// applyClientFlags copies the flags of addClientFlags that the user set
// onto c. A new --auth-method drops the keys, certificate subject and
// assertion audience switch of the old one unless they are given again;
// --introspection-allowed=false drops the introspection audiences.
func applyClientFlags(cmd *cobra.Command, c *adminapi.ClientJSON) error {
	f := cmd.Flags()
	tlsSubject := []*string{&c.TLSClientAuthSubjectDN, &c.TLSClientAuthSANDNS, &c.TLSClientAuthSANURI, &c.TLSClientAuthSANIP, &c.TLSClientAuthSANEmail}
	blank := func(fields []*string) {
		for _, p := range fields {
			*p = ""
		}
	}
	if f.Changed("auth-method") {
		c.JWKS, c.JWKSURI = nil, ""
		blank(tlsSubject)
		c.TokenEndpointAudienceAllowed = false
	}
	if f.Changed("jwks-file") {
		path, _ := f.GetString("jwks-file")
		jwks, err := readJWKSFile(path)
		if err != nil {
			return err
		}
		c.JWKS, c.JWKSURI = jwks, ""
	}
	if f.Changed("jwks-uri") {
		c.JWKSURI, _ = f.GetString("jwks-uri")
		c.JWKS = nil
	}
	for i, name := range []string{"tls-subject-dn", "tls-san-dns", "tls-san-uri", "tls-san-ip", "tls-san-email"} {
		if f.Changed(name) {
			blank(tlsSubject)
			*tlsSubject[i], _ = f.GetString(name)
		}
	}
	for name, dst := range map[string]*string{"name": &c.ClientName, "scope": &c.Scope, "auth-method": &c.TokenEndpointAuthMethod,
		"id-token-alg": &c.IDTokenSignedResponseAlg, "backchannel-logout-uri": &c.BackchannelLogoutURI, "profile": &c.Profile} {
		if f.Changed(name) {
			*dst, _ = f.GetString(name)
		}
	}
	for name, dst := range map[string]*[]string{"audience": &c.Audience, "redirect-uri": &c.RedirectURIs,
		"introspection-audience": &c.IntrospectionAudiences, "default-acr-value": &c.DefaultACRValues,
		"post-logout-redirect-uri": &c.PostLogoutRedirectURIs} {
		if f.Changed(name) {
			*dst, _ = f.GetStringArray(name)
		}
	}
	c.DefaultACRValues = slices.DeleteFunc(c.DefaultACRValues, func(v string) bool { return v == "" }) // '' alone: none
	c.PostLogoutRedirectURIs = slices.DeleteFunc(c.PostLogoutRedirectURIs, func(v string) bool { return v == "" })
	for name, dst := range map[string]*bool{"cert-bound-tokens": &c.TLSClientCertificateBoundAccessTokens, "introspection-allowed": &c.IntrospectionAllowed,
		"allow-token-endpoint-audience": &c.TokenEndpointAudienceAllowed, "require-mfa": &c.RequireMFA,
		"require-par": &c.RequirePushedAuthorizationRequests, "backchannel-logout-session-required": &c.BackchannelLogoutSessionRequired,
		"dpop-bound-tokens": &c.DPoPBoundAccessTokens} {
		if f.Changed(name) {
			*dst, _ = f.GetBool(name)
		}
	}
	if f.Changed("require-pkce") {
		v, _ := f.GetBool("require-pkce")
		c.RequirePKCE = &v
	}
	if !c.IntrospectionAllowed && !f.Changed("introspection-audience") {
		c.IntrospectionAudiences = nil // only for introspecting clients
	}
	if f.Changed("grant-type") {
		gts, _ := f.GetStringArray("grant-type")
		c.GrantTypes = []string{} // --grant-type '' alone: none
		for _, g := range gts {
			if g != "" {
				c.GrantTypes = append(c.GrantTypes, g)
			}
		}
	}
	if f.Changed("access-token-ttl") {
		// A duration on the command line; whole seconds on the wire.
		d, _ := f.GetDuration("access-token-ttl")
		if d < 0 || d%time.Second != 0 {
			return clikit.UsageErrorf("--access-token-ttl: %s is not a whole number of seconds, 0 or more (examples: 10m, 90s, 0 for the server default)", d)
		}
		c.AccessTokenTTL = int64(d / time.Second)
	}
	return nil
}

// maxJWKSFile bounds what --jwks-file reads; the server takes 16 KiB.
const maxJWKSFile = 64 << 10

// readJWKSFile reads a JWK Set, or one JWK that it wraps in a set. The
// server refuses private keys; this only checks that the file is JSON.
func readJWKSFile(path string) (json.RawMessage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--jwks-file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxJWKSFile+1))
	if err != nil {
		return nil, fmt.Errorf("--jwks-file: %w", err)
	}
	if len(b) > maxJWKSFile {
		return nil, fmt.Errorf("--jwks-file: %s is larger than %d KiB", path, maxJWKSFile>>10)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("--jwks-file: %s is not a JSON object (a JWK Set or one JWK)", path)
	}
	if _, ok := probe["keys"]; ok {
		return json.RawMessage(b), nil
	}
	return json.RawMessage(`{"keys":[` + strings.TrimSpace(string(b)) + `]}`), nil
}
