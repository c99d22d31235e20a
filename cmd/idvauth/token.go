package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/spf13/cobra"
)

// This file holds `idvauth token` and `idvauth introspect`: a client of
// the public OAuth endpoints, for trying a client's registration and for
// scripts (what `hydra perform client-credentials` gives Hydra users).

// maxAnswer bounds what is read of an answer of the public endpoints.
const maxAnswer = 1 << 20

// addClientAuthFlags adds the flags that say where the server is and how
// the client authenticates.
func addClientAuthFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("url", "", "base URL of the public listener, where discovery is fetched (default: the issuer, --issuer or IDVAUTH_ISSUER)")
	f.String(sIssuer.flag, sIssuer.def, sIssuer.usage+" (env "+sIssuer.env+")")
	f.String("cacert", "", "PEM CA certificates to trust for an HTTPS server (as curl --cacert)")
	f.String("client-id", "", "client_id (env IDVAUTH_CLIENT_ID)")
	f.String("client-secret", "", "client secret, sent with HTTP Basic (prefer env IDVAUTH_CLIENT_SECRET: flags show in ps)")
	f.String("key", "", "private_key_jwt: the client's private key, PEM (PKCS #8, EC or PKCS #1) or a JWK")
	f.String("key-id", "", "private_key_jwt: kid of the assertion's header (default: the JWK's kid, else none)")
	f.String("alg", "", "private_key_jwt: signing algorithm (default: ES256 for P-256, RS256 for RSA, EdDSA for Ed25519)")
	f.String("cert", "", "tls_client_auth or self_signed_tls_client_auth: PEM client certificate")
	f.String("cert-key", "", "PEM private key of --cert")
}

// oauthClient is a client of the public endpoints with its credentials.
type oauthClient struct {
	http      *http.Client
	id        string
	secret    string
	key       *jose.JSONWebKey // private_key_jwt
	alg       jose.SignatureAlgorithm
	mtls      bool
	discovery struct {
		Issuer                string `json:"issuer"`
		TokenEndpoint         string `json:"token_endpoint"`
		IntrospectionEndpoint string `json:"introspection_endpoint"`
		JWKSURI               string `json:"jwks_uri"`
	}
}

// newOAuthClient reads the flags of addClientAuthFlags, checks that they
// name one way to authenticate, and fetches the discovery document.
func newOAuthClient(cmd *cobra.Command, env lookupEnv) (*oauthClient, error) {
	f := cmd.Flags()
	get := func(flag, envName string) string {
		if v, _ := f.GetString(flag); v != "" {
			return v
		}
		v, _ := env(envName)
		return v
	}
	c := &oauthClient{id: get("client-id", "IDVAUTH_CLIENT_ID"), secret: get("client-secret", "IDVAUTH_CLIENT_SECRET")}
	keyFile, _ := f.GetString("key")
	certFile, _ := f.GetString("cert")
	certKey, _ := f.GetString("cert-key")
	n := 0
	for _, set := range []bool{c.secret != "", keyFile != "", certFile != ""} {
		if set {
			n++
		}
	}
	switch {
	case c.id == "":
		return nil, usageErrorf("give the client's --client-id (or IDVAUTH_CLIENT_ID)")
	case n > 1:
		return nil, usageErrorf("give one way to authenticate: a client secret (IDVAUTH_CLIENT_SECRET), --key, or --cert with --cert-key")
	case (certFile == "") != (certKey == ""):
		return nil, usageErrorf("--cert and --cert-key go together")
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca, _ := f.GetString("cacert"); ca != "" {
		pemCA, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		tlsConf.RootCAs = x509.NewCertPool()
		if !tlsConf.RootCAs.AppendCertsFromPEM(pemCA) {
			return nil, fmt.Errorf("--cacert %s: no PEM certificate in it", ca)
		}
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, certKey)
		if err != nil {
			return nil, fmt.Errorf("--cert, --cert-key: %w", err)
		}
		tlsConf.Certificates, c.mtls = []tls.Certificate{pair}, true
	}
	if keyFile != "" {
		var err error
		if c.key, c.alg, err = readSigningKey(keyFile); err != nil {
			return nil, fmt.Errorf("--key %s: %w", keyFile, err)
		}
		if kid, _ := f.GetString("key-id"); kid != "" {
			c.key.KeyID = kid
		}
		if alg, _ := f.GetString("alg"); alg != "" {
			c.alg = jose.SignatureAlgorithm(alg)
		}
	}
	c.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf, Proxy: http.ProxyFromEnvironment}}
	return c, c.discover(cmd, env)
}

// discover fetches the discovery document from --url, or the issuer.
func (c *oauthClient) discover(cmd *cobra.Command, env lookupEnv) error {
	base, _ := cmd.Flags().GetString("url")
	if base == "" {
		r, err := newResolver(cmd, env)
		if err != nil {
			return err
		}
		base, _ = r.get(sIssuer)
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageErrorf("%q is not an http(s) URL of the server (--url or --issuer)", base)
	}
	d := strings.TrimSuffix(base, "/") + "/.well-known/openid-configuration"
	body, err := c.do(cmd.Context(), http.MethodGet, d, nil, http.StatusOK)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, &c.discovery); err != nil || c.discovery.TokenEndpoint == "" {
		return fmt.Errorf("%s is not a discovery document", d)
	}
	return nil
}

// do sends a request and returns the body of an answer with status want;
// an OAuth error answer becomes an error that quotes it.
func (c *oauthClient) do(ctx context.Context, method, target string, form url.Values, want int) ([]byte, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if c.secret != "" {
			req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
		}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", target, err)
	}
	if resp.StatusCode != want {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s: %s: %s (HTTP %d)", target, e.Error, e.Description, resp.StatusCode)
		}
		return nil, fmt.Errorf("%s: HTTP %d", target, resp.StatusCode)
	}
	return b, nil
}

// authForm adds what authenticates the client to a form posted to the
// token or introspection endpoint: client_id for mTLS, a signed
// assertion for private_key_jwt (the secret goes in the Basic header).
func (c *oauthClient) authForm(form url.Values) error {
	switch {
	case c.mtls:
		form.Set("client_id", c.id)
	case c.key != nil:
		a, err := c.assertion()
		if err != nil {
			return err
		}
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", a)
	case c.secret == "":
		form.Set("client_id", c.id) // a public client
	}
	return nil
}

// assertion signs a client assertion (RFC 7523) for the issuer: it lives
// a minute and is used once.
func (c *oauthClient) assertion() (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if c.key.KeyID != "" {
		opts = opts.WithHeader("kid", c.key.KeyID)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: c.alg, Key: c.key.Key}, opts)
	if err != nil {
		return "", fmt.Errorf("--key: %w", err)
	}
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	now := time.Now()
	return jwt.Signed(sig).Claims(jwt.Claims{
		Issuer: c.id, Subject: c.id, Audience: jwt.Audience{c.discovery.Issuer},
		ID: base64.RawURLEncoding.EncodeToString(jti[:]), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
	}).Serialize()
}

// readSigningKey reads a private key from a PEM or JWK file and picks
// its algorithm.
func readSigningKey(path string) (*jose.JSONWebKey, jose.SignatureAlgorithm, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	k := &jose.JSONWebKey{}
	if blk, _ := pem.Decode(b); blk != nil {
		if k.Key, err = parsePrivateKey(blk.Bytes); err != nil {
			return nil, "", err
		}
	} else if err := json.Unmarshal(b, k); err != nil {
		return nil, "", errors.New("neither a PEM private key nor a JWK")
	}
	if k.IsPublic() {
		return nil, "", errors.New("a public key: private_key_jwt signs with the private key")
	}
	if k.Algorithm != "" {
		return k, jose.SignatureAlgorithm(k.Algorithm), nil
	}
	switch k.Key.(type) {
	case *ecdsa.PrivateKey:
		return k, jose.ES256, nil
	case *rsa.PrivateKey:
		return k, jose.RS256, nil
	case ed25519.PrivateKey:
		return k, jose.EdDSA, nil
	}
	return nil, "", fmt.Errorf("a %T key: want EC, RSA or Ed25519", k.Key)
}

func parsePrivateKey(der []byte) (crypto.PrivateKey, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("a PEM block that is no private key (PKCS #8, EC or PKCS #1)")
}

func newTokenCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Get an access token with the client_credentials grant",
		Long: `Get an access token from a running server with the client_credentials grant,
as a backend service would: to try a client's registration, or in scripts.
The token endpoint is found through discovery at the issuer (or --url).

The client authenticates with its secret (IDVAUTH_CLIENT_SECRET; sent with
HTTP Basic), with a private key (--key: private_key_jwt, a signed assertion
for the issuer), or with a certificate (--cert and --cert-key: tls_client_auth
or self_signed_tls_client_auth, over HTTPS).

It prints the access token alone, for TOKEN=$(idvauth token ...). --decode
prints its header and claims instead, after checking its signature against
the server's JWKS; -o json prints the token response as the server sent it
(with "header" and "claims" added under --decode).`,
		Example: `  # With a client secret
  IDVAUTH_CLIENT_SECRET=... idvauth token --client-id demo-service --scope identity.verify

  # private_key_jwt: the key of 'idvauth certs client --self-signed', registered with --jwks-file
  idvauth token --client-id kyc-self --key pki/kyc-self/client.key --decode

  # mTLS (tls_client_auth), against a server with a test CA
  idvauth token --issuer https://127.0.0.1:8080 --cacert pki/ca/ca.crt --client-id kyc-backend \
    --cert pki/kyc-backend/client.crt --cert-key pki/kyc-backend/client.key -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			c, err := newOAuthClient(cmd, env)
			if err != nil {
				return err
			}
			form := url.Values{"grant_type": {"client_credentials"}}
			if scope, _ := cmd.Flags().GetString("scope"); scope != "" {
				form.Set("scope", scope)
			}
			if err := c.authForm(form); err != nil {
				return err
			}
			raw, err := c.do(cmd.Context(), http.MethodPost, c.discovery.TokenEndpoint, form, http.StatusOK)
			if err != nil {
				return err
			}
			var resp map[string]json.RawMessage
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			if json.Unmarshal(raw, &resp) != nil || json.Unmarshal(raw, &tok) != nil || tok.AccessToken == "" {
				return errors.New("the token endpoint answered without an access_token")
			}
			return printToken(cmd, c, asJSON, raw, resp, tok.AccessToken)
		},
	}
	addClientAuthFlags(cmd)
	cmd.Flags().String("scope", "", "space-separated scopes to ask for (default: the client's)")
	cmd.Flags().Bool("decode", false, "print the token's header and claims (signature checked against the JWKS) instead of the token")
	addLocalOutputFlag(cmd)
	return cmd
}

// printToken prints the token (text) or the response (-o json), decoded
// under --decode.
func printToken(cmd *cobra.Command, c *oauthClient, asJSON bool, raw []byte, resp map[string]json.RawMessage, token string) error {
	w := cmd.OutOrStdout()
	if decode, _ := cmd.Flags().GetBool("decode"); decode {
		header, claims, err := c.verify(cmd.Context(), token)
		if err != nil {
			return err
		}
		if !asJSON {
			fmt.Fprintf(w, "header\n%s\nclaims\n%s\n", indentJSON(header), indentJSON(claims))
			return nil
		}
		resp["header"], resp["claims"] = header, claims
		out, err := json.Marshal(resp)
		if err != nil {
			return err
		}
		raw = out
	}
	if asJSON {
		_, err := fmt.Fprintf(w, "%s\n", bytes.TrimSpace(raw))
		return err
	}
	_, err := fmt.Fprintln(w, token)
	return err
}

// verify checks token's signature with the server's JWKS and returns its
// header and claims as JSON.
func (c *oauthClient) verify(ctx context.Context, token string) (header, claims json.RawMessage, err error) {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256, jose.EdDSA})
	if err != nil {
		return nil, nil, fmt.Errorf("--decode: the access token is not a JWS: %w", err)
	}
	b, err := c.do(ctx, http.MethodGet, c.discovery.JWKSURI, nil, http.StatusOK)
	if err != nil {
		return nil, nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, nil, fmt.Errorf("%s is not a JWK Set", c.discovery.JWKSURI)
	}
	kid := jws.Signatures[0].Header.KeyID
	for _, k := range set.Key(kid) {
		if payload, err := jws.Verify(k); err == nil {
			seg := strings.SplitN(token, ".", 2)[0]
			h, err := base64.RawURLEncoding.DecodeString(seg)
			if err != nil {
				return nil, nil, err
			}
			return h, payload, nil
		}
	}
	return nil, nil, fmt.Errorf("--decode: no key of %s (kid %q) verifies the access token", c.discovery.JWKSURI, kid)
}

// indentJSON is b indented for a person to read.
func indentJSON(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}

func newIntrospectCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "introspect TOKEN|-",
		Short: "Ask the server whether a token is active, as a resource server",
		Long: `Introspect a token (RFC 7662) as a resource server would: the client given
(--client-id and its secret, --key or --cert) must be allowed to introspect.
A token of - is read from the first line of stdin, which keeps it out of ps.

It prints the answer: active and, for an active token, its claims. The exit
code is 0 whether or not the token is active; -o json prints the answer as
the server sent it, for jq.`,
		Example: `  IDVAUTH_CLIENT_SECRET=... idvauth introspect --client-id demo-resource-server "$TOKEN"
  printf '%s\n' "$TOKEN" | idvauth introspect --client-id demo-resource-server - -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := outputJSON(cmd)
			if err != nil {
				return err
			}
			token := args[0]
			if token == "-" {
				if token, err = readPasswordLine(cmd.InOrStdin()); err != nil {
					return errors.New("no token on stdin: give it as the first line")
				}
			}
			c, err := newOAuthClient(cmd, env)
			if err != nil {
				return err
			}
			if c.discovery.IntrospectionEndpoint == "" {
				return errors.New("the server's discovery document names no introspection_endpoint")
			}
			form := url.Values{"token": {token}}
			if err := c.authForm(form); err != nil {
				return err
			}
			raw, err := c.do(cmd.Context(), http.MethodPost, c.discovery.IntrospectionEndpoint, form, http.StatusOK)
			if err != nil {
				return err
			}
			if asJSON {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\n", bytes.TrimSpace(raw))
				return err
			}
			return introspectionTable(cmd.OutOrStdout(), raw)
		},
	}
	addClientAuthFlags(cmd)
	addLocalOutputFlag(cmd)
	return cmd
}

// introspectionTable prints an introspection answer, a claim a line, in
// the order of its keys, times as RFC 3339.
func introspectionTable(w io.Writer, raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("introspection answer: %w", err)
	}
	tw := newTable(w)
	fmt.Fprintf(tw, "active\t%v\n", m["active"])
	keys := sortedClaimKeys(m)
	for _, k := range keys {
		v := m[k]
		switch k {
		case "exp", "iat", "nbf":
			if n, ok := v.(json.Number); ok {
				if sec, err := n.Int64(); err == nil {
					v = unixTime(sec)
				}
			}
		}
		if s, ok := v.(string); ok {
			fmt.Fprintf(tw, "%s\t%s\n", k, s)
			continue
		}
		b, _ := json.Marshal(v)
		fmt.Fprintf(tw, "%s\t%s\n", k, b)
	}
	return tw.Flush()
}

// sortedClaimKeys is the keys of m but active, sorted.
func sortedClaimKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "active" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
