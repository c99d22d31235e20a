package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/idvauth/idvauth/authz/adminapi"
)

// TestClientsStrongAuth registers tls_client_auth and private_key_jwt
// clients from the CLI, refuses a private key in --jwks-file, and
// switches a client's method without keeping the old method's fields.
func TestClientsStrongAuth(t *testing.T) {
	t.Parallel()
	d := startDev(t, nil, "--admin-token", adminToken)
	env := map[string]string{"IDVAUTH_ADMIN_URL": d.adminURL, "IDVAUTH_ADMIN_TOKEN": adminToken}
	dir := t.TempDir()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv := jose.JSONWebKey{Key: k, KeyID: "k1", Algorithm: "ES256", Use: "sig"}
	writeJSON := func(name string, v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pubFile := writeJSON("pub.jwk.json", priv.Public())
	privFile := writeJSON("priv.jwks.json", jose.JSONWebKeySet{Keys: []jose.JSONWebKey{priv}})

	code, out, errOut := cli(t, env, "clients", "create", "--id", "leaky", "--auth-method", "private_key_jwt", "--jwks-file", privFile)
	if code == 0 || !strings.Contains(errOut, "private") || strings.Contains(out+errOut, `"d"`) {
		t.Fatalf("create with a private key = exit %d, %q %q; want refused, key not echoed", code, out, errOut)
	}
	var c adminapi.ClientJSON
	decodeJSON(t, "clients create (jwt)", mustCLI(t, env, "clients", "create", "--id", "jwt", "--auth-method", "private_key_jwt",
		"--jwks-file", pubFile, "--scope", "identity.verify", "-o", "json"), &c)
	if c.ClientSecret != "" || c.TokenEndpointAuthMethod != "private_key_jwt" || !strings.Contains(string(c.JWKS), `"k1"`) {
		t.Fatalf("private_key_jwt client = %+v", c)
	}
	if c.TokenEndpointAudienceAllowed {
		t.Errorf("new private_key_jwt client has token_endpoint_audience_allowed, want off by default")
	}
	mustCLI(t, env, "clients", "update", "jwt", "--allow-token-endpoint-audience")
	c = adminapi.ClientJSON{}
	decodeJSON(t, "clients get (jwt)", mustCLI(t, env, "clients", "get", "jwt", "-o", "json"), &c)
	if !c.TokenEndpointAudienceAllowed || len(c.JWKS) == 0 {
		t.Errorf("after --allow-token-endpoint-audience = %+v, want it on and the keys kept", c)
	}
	if out := mustCLI(t, env, "clients", "get", "jwt"); !strings.Contains(out, "token_endpoint_audience_allowed") {
		t.Errorf("clients get = %q, want token_endpoint_audience_allowed shown", out)
	}
	mustCLI(t, env, "clients", "update", "jwt", "--allow-token-endpoint-audience=false")
	c = adminapi.ClientJSON{}
	decodeJSON(t, "clients get (jwt)", mustCLI(t, env, "clients", "get", "jwt", "-o", "json"), &c)
	if c.TokenEndpointAudienceAllowed {
		t.Errorf("after --allow-token-endpoint-audience=false = %+v, want it off", c)
	}
	decodeJSON(t, "clients create (mtls)", mustCLI(t, env, "clients", "create", "--id", "mtls", "--auth-method", "tls_client_auth",
		"--tls-subject-dn", "CN=kyc backend,O=Example", "--cert-bound-tokens", "-o", "json"), &c)
	if c.TLSClientAuthSubjectDN != "CN=kyc backend,O=Example" || !c.TLSClientCertificateBoundAccessTokens || c.ClientSecret != "" {
		t.Fatalf("tls_client_auth client = %+v", c)
	}
	mustCLI(t, env, "clients", "update", "mtls", "--tls-san-dns", "kyc.example")
	c = adminapi.ClientJSON{}
	decodeJSON(t, "clients get", mustCLI(t, env, "clients", "get", "mtls", "-o", "json"), &c)
	if c.TLSClientAuthSubjectDN != "" || c.TLSClientAuthSANDNS != "kyc.example" {
		t.Errorf("after --tls-san-dns: subject %q san %q, want only the SAN", c.TLSClientAuthSubjectDN, c.TLSClientAuthSANDNS)
	}
	mustCLI(t, env, "clients", "update", "mtls", "--auth-method", "self_signed_tls_client_auth", "--jwks-file", pubFile)
	c = adminapi.ClientJSON{}
	decodeJSON(t, "clients get", mustCLI(t, env, "clients", "get", "mtls", "-o", "json"), &c)
	if c.TokenEndpointAuthMethod != "self_signed_tls_client_auth" || c.TLSClientAuthSANDNS != "" || len(c.JWKS) == 0 {
		t.Errorf("after switching to self_signed_tls_client_auth = %+v", c)
	}
	if out := mustCLI(t, env, "clients", "get", "mtls"); !strings.Contains(out, "self_signed_tls_client_auth") {
		t.Errorf("clients get = %q", out)
	}
	code, _, errOut = cli(t, env, "clients", "rotate-secret", "jwt")
	if code == 0 || !strings.Contains(errOut, "private_key_jwt") {
		t.Errorf("rotate-secret of a private_key_jwt client = exit %d, %q", code, errOut)
	}
	code, _, errOut = cli(t, env, "clients", "create", "--auth-method", "tls_client_auth")
	if code == 0 || !strings.Contains(errOut, "tls_client_auth_subject_dn") {
		t.Errorf("tls_client_auth without a subject = exit %d, %q", code, errOut)
	}
	code, _, errOut = cli(t, env, "clients", "create", "--auth-method", "private_key_jwt", "--jwks-file", filepath.Join(dir, "missing"))
	if code == 0 || !strings.Contains(errOut, "--jwks-file") {
		t.Errorf("missing --jwks-file = exit %d, %q", code, errOut)
	}
}
