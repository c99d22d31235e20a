package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz/oauthclient"
	"github.com/idvauth/idvauth/authz/prompt"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/clikit"
)

// This file holds `idvauth token` and `idvauth introspect`: a client of
// the public OAuth endpoints, for trying a client's registration and for
// scripts (what `hydra perform client-credentials` gives Hydra users).

// addClientAuthFlags adds the flags that say where the server is and how
// the client authenticates.
func addClientAuthFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("url", "", "base URL of the public listener, where discovery is fetched (default: the issuer, --issuer or IDVAUTH_ISSUER)")
	f.String(sIssuer.Flag, sIssuer.Def, sIssuer.Usage+" (env "+sIssuer.Env+")")
	f.String("cacert", "", "PEM CA certificates to trust for an HTTPS server (as curl --cacert)")
	f.String("client-id", "", "client_id (env IDVAUTH_CLIENT_ID)")
	f.String("client-secret", "", "client secret, sent with HTTP Basic (prefer env IDVAUTH_CLIENT_SECRET: flags show in ps)")
	f.String("key", "", "private_key_jwt: the client's private key, PEM (PKCS #8, EC or PKCS #1) or a JWK")
	f.String("key-id", "", "private_key_jwt: kid of the assertion's header (default: the JWK's kid, else none)")
	f.String("alg", "", "private_key_jwt: signing algorithm (default: ES256 for P-256, RS256 for RSA, EdDSA for Ed25519)")
	f.String("cert", "", "tls_client_auth or self_signed_tls_client_auth: PEM client certificate")
	f.String("cert-key", "", "PEM private key of --cert")
}

// newOAuthClient reads the flags of addClientAuthFlags, checks that they
// name one way to authenticate, and fetches the discovery document.
func newOAuthClient(cmd *cobra.Command, env lookupEnv) (*oauthclient.Client, error) {
	f := cmd.Flags()
	get := func(flag, envName string) string {
		if v, _ := f.GetString(flag); v != "" {
			return v
		}
		v, _ := env(envName)
		return v
	}
	cfg := oauthclient.Config{ClientID: get("client-id", "IDVAUTH_CLIENT_ID"), Secret: get("client-secret", "IDVAUTH_CLIENT_SECRET"),
		TLS: &tls.Config{MinVersion: tls.VersionTLS12}}
	keyFile, _ := f.GetString("key")
	certFile, _ := f.GetString("cert")
	certKey, _ := f.GetString("cert-key")
	switch {
	case cfg.ClientID == "":
		return nil, clikit.UsageErrorf("give the client's --client-id (or IDVAUTH_CLIENT_ID)")
	case (cfg.Secret != "" && keyFile != "") || (cfg.Secret != "" && certFile != "") || (keyFile != "" && certFile != ""):
		return nil, clikit.UsageErrorf("give one way to authenticate: a client secret (IDVAUTH_CLIENT_SECRET), --key, or --cert with --cert-key")
	case (certFile == "") != (certKey == ""):
		return nil, clikit.UsageErrorf("--cert and --cert-key go together")
	}
	if ca, _ := f.GetString("cacert"); ca != "" {
		pemCA, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		cfg.TLS.RootCAs = x509.NewCertPool()
		if !cfg.TLS.RootCAs.AppendCertsFromPEM(pemCA) {
			return nil, fmt.Errorf("--cacert %s: no PEM certificate in it", ca)
		}
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, certKey)
		if err != nil {
			return nil, fmt.Errorf("--cert, --cert-key: %w", err)
		}
		cfg.TLS.Certificates = []tls.Certificate{pair}
	}
	if keyFile != "" {
		var err error
		if cfg.Key, cfg.Alg, err = oauthclient.ReadSigningKey(keyFile); err != nil {
			return nil, fmt.Errorf("--key %s: %w", keyFile, err)
		}
		if kid, _ := f.GetString("key-id"); kid != "" {
			cfg.Key.KeyID = kid
		}
		if alg, _ := f.GetString("alg"); alg != "" {
			cfg.Alg = jose.SignatureAlgorithm(alg)
		}
	}
	if cfg.BaseURL, _ = f.GetString("url"); cfg.BaseURL == "" {
		r, err := newResolver(cmd, env)
		if err != nil {
			return nil, err
		}
		cfg.BaseURL, _ = r.Get(sIssuer)
	}
	return oauthclient.New(cmd.Context(), cfg)
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
			asJSON, err := clikit.OutputJSON(cmd)
			if err != nil {
				return err
			}
			c, err := newOAuthClient(cmd, env)
			if err != nil {
				return err
			}
			scope, _ := cmd.Flags().GetString("scope")
			raw, token, err := c.Token(cmd.Context(), scope)
			if err != nil {
				return err
			}
			decode, _ := cmd.Flags().GetBool("decode")
			return c.WriteToken(cmd.Context(), cmd.OutOrStdout(), raw, token, decode, asJSON)
		},
	}
	addClientAuthFlags(cmd)
	cmd.Flags().String("scope", "", "space-separated scopes to ask for (default: the client's)")
	cmd.Flags().Bool("decode", false, "print the token's header and claims (signature checked against the JWKS) instead of the token")
	clikit.AddLocalOutputFlag(cmd)
	return cmd
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
			asJSON, err := clikit.OutputJSON(cmd)
			if err != nil {
				return err
			}
			token := args[0]
			if token == "-" {
				if token, err = prompt.Line(cmd.InOrStdin()); err != nil {
					return errors.New("no token on stdin: give it as the first line")
				}
			}
			c, err := newOAuthClient(cmd, env)
			if err != nil {
				return err
			}
			raw, err := c.Introspect(cmd.Context(), token)
			if err != nil {
				return err
			}
			if asJSON {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\n", bytes.TrimSpace(raw))
				return err
			}
			return oauthclient.WriteIntrospection(cmd.OutOrStdout(), raw)
		},
	}
	addClientAuthFlags(cmd)
	clikit.AddLocalOutputFlag(cmd)
	return cmd
}
