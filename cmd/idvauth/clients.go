package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz"
)

// adminClient calls the admin API.
type adminClient struct {
	base  string
	token string
	http  *http.Client
}

func newAdminClient(cmd *cobra.Command, env lookupEnv) (*adminClient, error) {
	r, err := newResolver(cmd, env)
	if err != nil {
		return nil, err
	}
	base, _ := r.get(sAdminURL)
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("IDVAUTH_ADMIN_URL: %q is not an http(s) URL", base)
	}
	token, _ := r.get(sAdminToken)
	if token == "" {
		return nil, fmt.Errorf("no admin token: set IDVAUTH_ADMIN_TOKEN (serve --dev prints one)")
	}
	return &adminClient{base: strings.TrimSuffix(base, "/"), token: token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// apiError is an error answer of the admin API.
type apiError struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *apiError) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("admin API: %s (HTTP %d)", e.Code, e.Status)
	}
	return fmt.Sprintf("admin API: %s: %s (HTTP %d)", e.Code, e.Description, e.Status)
}

// do sends a request and returns the raw answer body of a 2xx answer.
func (a *adminClient) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the admin API at %s: %w", a.base, unwrapURLError(err))
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("read admin API answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(out, e) != nil || e.Code == "" {
			e.Code = http.StatusText(resp.StatusCode)
		}
		return nil, e
	}
	return out, nil
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func addOutputFlag(cmd *cobra.Command) {
	cmd.Flags().StringP("output", "o", "table", "output format: table or json (exactly what the admin API returned)")
}

func outputJSON(cmd *cobra.Command) (bool, error) {
	o, _ := cmd.Flags().GetString("output")
	switch o {
	case "table", "":
		return false, nil
	case "json":
		return true, nil
	}
	return false, fmt.Errorf("--output must be table or json, not %q", o)
}

// clientFlags are the metadata flags of create and update.
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
	f.StringArray("redirect-uri", nil, "redirect URI for the authorization_code grant (repeatable; matched exactly)")
	f.String("id-token-alg", "", "id_token_signed_response_alg: RS256 or ES256 (default: the server's)")
	f.Int64("access-token-ttl", 0, "access token lifetime in seconds for this client (0: the server default)")
	f.Bool("introspection-allowed", false, "let this client call the introspection endpoint (resource servers)")
}

// applyClientFlags copies the flags the user set onto c. A new
// --auth-method drops the keys and certificate subject of the old one
// unless they are given again.
func applyClientFlags(cmd *cobra.Command, c *authz.ClientJSON) error {
	f := cmd.Flags()
	if f.Changed("auth-method") {
		c.JWKS, c.JWKSURI = nil, ""
		c.TLSClientAuthSubjectDN, c.TLSClientAuthSANDNS, c.TLSClientAuthSANURI, c.TLSClientAuthSANIP, c.TLSClientAuthSANEmail = "", "", "", "", ""
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
	for _, fl := range []struct {
		name string
		dst  *string
	}{{"tls-subject-dn", &c.TLSClientAuthSubjectDN}, {"tls-san-dns", &c.TLSClientAuthSANDNS}, {"tls-san-uri", &c.TLSClientAuthSANURI},
		{"tls-san-ip", &c.TLSClientAuthSANIP}, {"tls-san-email", &c.TLSClientAuthSANEmail}} {
		if f.Changed(fl.name) {
			c.TLSClientAuthSubjectDN, c.TLSClientAuthSANDNS, c.TLSClientAuthSANURI, c.TLSClientAuthSANIP, c.TLSClientAuthSANEmail = "", "", "", "", ""
			*fl.dst, _ = f.GetString(fl.name)
		}
	}
	if f.Changed("cert-bound-tokens") {
		c.TLSClientCertificateBoundAccessTokens, _ = f.GetBool("cert-bound-tokens")
	}
	if f.Changed("name") {
		c.ClientName, _ = f.GetString("name")
	}
	if f.Changed("scope") {
		c.Scope, _ = f.GetString("scope")
	}
	if f.Changed("audience") {
		c.Audience, _ = f.GetStringArray("audience")
	}
	if f.Changed("grant-type") {
		gts, _ := f.GetStringArray("grant-type")
		c.GrantTypes = []string{}
		for _, g := range gts {
			if g != "" {
				c.GrantTypes = append(c.GrantTypes, g)
			}
		}
	}
	if f.Changed("auth-method") {
		c.TokenEndpointAuthMethod, _ = f.GetString("auth-method")
	}
	if f.Changed("redirect-uri") {
		c.RedirectURIs, _ = f.GetStringArray("redirect-uri")
	}
	if f.Changed("id-token-alg") {
		c.IDTokenSignedResponseAlg, _ = f.GetString("id-token-alg")
	}
	if f.Changed("access-token-ttl") {
		c.AccessTokenTTL, _ = f.GetInt64("access-token-ttl")
	}
	if f.Changed("introspection-allowed") {
		c.IntrospectionAllowed, _ = f.GetBool("introspection-allowed")
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

func newClientsCmd(env lookupEnv) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "clients",
		Short: "Manage OAuth 2.0 clients through the admin API",
		Long: `Manage OAuth 2.0 clients through the admin API of a running server.

The admin API is found at IDVAUTH_ADMIN_URL (default http://127.0.0.1:8081)
and authenticated with IDVAUTH_ADMIN_TOKEN.`,
		Example: `  export IDVAUTH_ADMIN_TOKEN=...
  idvauth clients create --name "KYC backend" --scope identity.verify
  idvauth clients list -o json`,
	})
	cmd.PersistentFlags().String(sAdminURL.flag, sAdminURL.def, sAdminURL.usage+" (env "+sAdminURL.env+")")
	cmd.PersistentFlags().String(sAdminToken.flag, "", "admin API bearer token (prefer env IDVAUTH_ADMIN_TOKEN: flags show in ps)")

	create := &cobra.Command{
		Use:   "create",
		Short: "Register a client and print its secret (shown once)",
		Long: `Register a client. The server generates the client secret (256 random
bits) and returns it once: store it now, it cannot be shown again.`,
		Example: `  # A backend service that starts verifications
  idvauth clients create --name "KYC backend" --scope "identity.verify identity.read_status" --audience idv-api

  # A resource server that may introspect tokens and get none itself
  idvauth clients create --id idv-api --name "IDV API" --grant-type '' --introspection-allowed -o json

  # A web app that signs people in (authorization code + PKCE, refresh tokens)
  idvauth clients create --name "Onboarding web" --grant-type authorization_code --grant-type refresh_token \
    --redirect-uri https://onboarding.example/callback --scope "openid profile email offline_access identity.verify"

  # A backend that authenticates with mutual TLS (RFC 8705), or with a signed JWT (RFC 7523)
  idvauth clients create --id kyc-mtls --auth-method tls_client_auth --tls-subject-dn "CN=kyc-mtls" --scope identity.verify
  idvauth clients create --id kyc-jwt --auth-method private_key_jwt --jwks-file kyc-jwt.jwks.json --scope identity.verify

  # A mobile app: public, no secret, PKCE required
  idvauth clients create --name "Onboarding iOS" --auth-method none --grant-type authorization_code \
    --redirect-uri com.example.onboarding:/callback --scope "openid identity.verify"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			ac, err := newAdminClient(cmd, env)
			if err != nil {
				return err
			}
			var c authz.ClientJSON
			c.ClientID, _ = cmd.Flags().GetString("id")
			if err := applyClientFlags(cmd, &c); err != nil {
				return err
			}
			body, err := ac.do(cmd.Context(), http.MethodPost, "/admin/clients", clientBody(c))
			if err != nil {
				return err
			}
			return printClient(cmd, body, asJSON, true)
		},
	}
	create.Flags().String("id", "", "client_id (default: generated)")
	addClientFlags(create)

	list := &cobra.Command{
		Use:     "list",
		Short:   "List clients",
		Long:    "List every registered client (never their secrets).",
		Example: "  idvauth clients list\n  idvauth clients list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			ac, err := newAdminClient(cmd, env)
			if err != nil {
				return err
			}
			body, err := ac.do(cmd.Context(), http.MethodGet, "/admin/clients", nil)
			if err != nil {
				return err
			}
			if asJSON {
				_, err = cmd.OutOrStdout().Write(body)
				return err
			}
			var l authz.ClientList
			if err := json.Unmarshal(body, &l); err != nil {
				return fmt.Errorf("unexpected admin API answer: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CLIENT_ID\tNAME\tGRANT_TYPES\tSCOPE\tAUDIENCE\tINTROSPECT\tTTL")
			for _, c := range l.Clients {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\t%s\n", c.ClientID, c.ClientName, dash(strings.Join(c.GrantTypes, ",")),
					dash(c.Scope), dash(strings.Join(c.Audience, ",")), c.IntrospectionAllowed, ttl(c.AccessTokenTTL))
			}
			return tw.Flush()
		},
	}

	get := &cobra.Command{
		Use:     "get CLIENT_ID",
		Short:   "Show one client",
		Long:    "Show one client's metadata (never its secret).",
		Example: "  idvauth clients get demo-service -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			ac, err := newAdminClient(cmd, env)
			if err != nil {
				return err
			}
			body, err := ac.do(cmd.Context(), http.MethodGet, "/admin/clients/"+url.PathEscape(args[0]), nil)
			if err != nil {
				return err
			}
			return printClient(cmd, body, asJSON, false)
		},
	}

	update := &cobra.Command{
		Use:   "update CLIENT_ID",
		Short: "Change a client's metadata",
		Long: `Change a client's metadata: the flags you give replace those fields, the
rest stays as it is. The secret is not changed (see rotate-secret).`,
		Example: `  idvauth clients update demo-service --scope identity.read_status
  idvauth clients update demo-web --redirect-uri https://app.example/callback --redirect-uri https://app.example/cb2
  idvauth clients update idv-api --introspection-allowed=false -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			ac, err := newAdminClient(cmd, env)
			if err != nil {
				return err
			}
			path := "/admin/clients/" + url.PathEscape(args[0])
			body, err := ac.do(cmd.Context(), http.MethodGet, path, nil)
			if err != nil {
				return err
			}
			var c authz.ClientJSON
			if err := json.Unmarshal(body, &c); err != nil {
				return fmt.Errorf("unexpected admin API answer: %w", err)
			}
			if err := applyClientFlags(cmd, &c); err != nil {
				return err
			}
			if body, err = ac.do(cmd.Context(), http.MethodPut, path, clientBody(c)); err != nil {
				return err
			}
			return printClient(cmd, body, asJSON, false)
		},
	}
	addClientFlags(update)

	del := &cobra.Command{
		Use:     "delete CLIENT_ID",
		Short:   "Delete a client and every token issued to it",
		Long:    "Delete a client. Its tokens stop working at once: introspection answers active: false.",
		Example: "  idvauth clients delete demo-service\n  idvauth clients delete demo-service -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			ac, err := newAdminClient(cmd, env)
			if err != nil {
				return err
			}
			if _, err := ac.do(cmd.Context(), http.MethodDelete, "/admin/clients/"+url.PathEscape(args[0]), nil); err != nil {
				return err
			}
			if asJSON {
				fmt.Fprintf(cmd.OutOrStdout(), "{\"deleted\":%s}\n", strconv.Quote(args[0]))
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "client %s deleted\n", args[0])
			return nil
		},
	}

	rotate := &cobra.Command{
		Use:   "rotate-secret CLIENT_ID",
		Short: "Give a client a new secret (shown once); the old one stops working",
		Long: `Generate a new secret for a client. The old secret stops working at once;
tokens already issued stay valid until they expire.`,
		Example: "  idvauth clients rotate-secret demo-service -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			ac, err := newAdminClient(cmd, env)
			if err != nil {
				return err
			}
			body, err := ac.do(cmd.Context(), http.MethodPost, "/admin/clients/"+url.PathEscape(args[0])+"/secret", nil)
			if err != nil {
				return err
			}
			return printClient(cmd, body, asJSON, true)
		},
	}
	for _, c := range []*cobra.Command{create, list, get, update, del, rotate} {
		addOutputFlag(c)
		cmd.AddCommand(c)
	}
	return cmd
}

// clientBody is the JSON the admin API takes: ClientJSON without the
// server-set fields.
func clientBody(c authz.ClientJSON) map[string]any {
	m := map[string]any{
		"client_name":                c.ClientName,
		"scope":                      c.Scope,
		"audience":                   nonNilStrings(c.Audience),
		"token_endpoint_auth_method": c.TokenEndpointAuthMethod,
		"access_token_ttl":           c.AccessTokenTTL,
		"introspection_allowed":      c.IntrospectionAllowed,
	}
	if c.ClientID != "" {
		m["client_id"] = c.ClientID
	}
	if c.GrantTypes != nil {
		m["grant_types"] = c.GrantTypes
	}
	if len(c.RedirectURIs) > 0 {
		m["redirect_uris"] = c.RedirectURIs
	}
	if len(c.ResponseTypes) > 0 {
		m["response_types"] = c.ResponseTypes
	}
	if c.IDTokenSignedResponseAlg != "" {
		m["id_token_signed_response_alg"] = c.IDTokenSignedResponseAlg
	}
	if len(c.JWKS) > 0 {
		m["jwks"] = c.JWKS
	}
	for k, v := range map[string]string{"jwks_uri": c.JWKSURI, "tls_client_auth_subject_dn": c.TLSClientAuthSubjectDN,
		"tls_client_auth_san_dns": c.TLSClientAuthSANDNS, "tls_client_auth_san_uri": c.TLSClientAuthSANURI,
		"tls_client_auth_san_ip": c.TLSClientAuthSANIP, "tls_client_auth_san_email": c.TLSClientAuthSANEmail} {
		if v != "" {
			m[k] = v
		}
	}
	if c.TLSClientCertificateBoundAccessTokens {
		m["tls_client_certificate_bound_access_tokens"] = true
	}
	return m
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func printClient(cmd *cobra.Command, body []byte, asJSON, withSecret bool) error {
	w := cmd.OutOrStdout()
	if asJSON {
		_, err := w.Write(body)
		return err
	}
	var c authz.ClientJSON
	if err := json.Unmarshal(body, &c); err != nil {
		return fmt.Errorf("unexpected admin API answer: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "client_id\t%s\n", c.ClientID)
	if withSecret && c.ClientSecret != "" {
		fmt.Fprintf(tw, "client_secret\t%s\t(shown once: store it now)\n", c.ClientSecret)
	}
	fmt.Fprintf(tw, "client_name\t%s\n", c.ClientName)
	fmt.Fprintf(tw, "grant_types\t%s\n", dash(strings.Join(c.GrantTypes, " ")))
	if len(c.RedirectURIs) > 0 {
		fmt.Fprintf(tw, "redirect_uris\t%s\n", strings.Join(c.RedirectURIs, " "))
	}
	if c.IDTokenSignedResponseAlg != "" {
		fmt.Fprintf(tw, "id_token_signed_response_alg\t%s\n", c.IDTokenSignedResponseAlg)
	}
	fmt.Fprintf(tw, "scope\t%s\n", dash(c.Scope))
	fmt.Fprintf(tw, "audience\t%s\n", dash(strings.Join(c.Audience, " ")))
	fmt.Fprintf(tw, "token_endpoint_auth_method\t%s\n", c.TokenEndpointAuthMethod)
	for _, kv := range [][2]string{{"jwks_uri", c.JWKSURI}, {"tls_client_auth_subject_dn", c.TLSClientAuthSubjectDN},
		{"tls_client_auth_san_dns", c.TLSClientAuthSANDNS}, {"tls_client_auth_san_uri", c.TLSClientAuthSANURI},
		{"tls_client_auth_san_ip", c.TLSClientAuthSANIP}, {"tls_client_auth_san_email", c.TLSClientAuthSANEmail}} {
		if kv[1] != "" {
			fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
		}
	}
	if len(c.JWKS) > 0 {
		fmt.Fprintf(tw, "jwks\t%d bytes (see -o json)\n", len(c.JWKS))
	}
	if c.TLSClientCertificateBoundAccessTokens {
		fmt.Fprintf(tw, "tls_client_certificate_bound_access_tokens\ttrue\n")
	}
	fmt.Fprintf(tw, "access_token_ttl\t%s\n", ttl(c.AccessTokenTTL))
	fmt.Fprintf(tw, "introspection_allowed\t%t\n", c.IntrospectionAllowed)
	if c.ClientIDIssuedAt > 0 {
		fmt.Fprintf(tw, "created\t%s\n", time.Unix(c.ClientIDIssuedAt, 0).UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ttl(sec int64) string {
	if sec == 0 {
		return "default"
	}
	return (time.Duration(sec) * time.Second).String()
}
