package authz_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
)

// jwksJSON is the JSON Web Key Set of keys (public or private parts, as
// given), each with its kid and alg.
func jwksJSON(t testing.TB, keys ...jose.JSONWebKey) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustKey(t testing.TB, alg jose.SignatureAlgorithm) jose.JSONWebKey {
	t.Helper()
	var k any
	var err error
	switch alg {
	case jose.ES256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.RS256, jose.PS256:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.EdDSA:
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("mustKey(%s): unsupported", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: k, KeyID: "k-" + string(alg) + "-" + randomString(6), Algorithm: string(alg), Use: "sig"}
}

func pub(k jose.JSONWebKey) jose.JSONWebKey { return k.Public() }

func TestAdminClientAuthMetadata(t *testing.T) {
	backends(t, testAdminClientAuthMetadata)
}

func testAdminClientAuthMetadata(t *testing.T, cfg authz.Config) {
	ts := startServer(t, cfg)
	es, ed, rs := mustKey(t, jose.ES256), mustKey(t, jose.EdDSA), mustKey(t, jose.RS256)
	okSet := jwksJSON(t, pub(es), pub(ed), pub(rs))
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	before := ts.listClients(t)
	const js = "application/json"
	refusals := []struct{ name, body string }{
		{"private key in jwks", `{"token_endpoint_auth_method":"private_key_jwt","jwks":` + jwksJSON(t, es) + `}`},
		{"private RSA key in jwks", `{"token_endpoint_auth_method":"private_key_jwt","jwks":` + jwksJSON(t, rs) + `}`},
		{"private Ed25519 key in jwks", `{"token_endpoint_auth_method":"self_signed_tls_client_auth","jwks":` + jwksJSON(t, ed) + `}`},
		{"symmetric key in jwks", `{"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}}`},
		{"small RSA key", `{"token_endpoint_auth_method":"private_key_jwt","jwks":` + jwksJSON(t, jose.JSONWebKey{Key: &small.PublicKey}) + `}`},
		{"P-384 key", `{"token_endpoint_auth_method":"private_key_jwt","jwks":` + jwksJSON(t, jose.JSONWebKey{Key: &p384.PublicKey}) + `}`},
		{"alg does not fit key", `{"token_endpoint_auth_method":"private_key_jwt","jwks":` + jwksJSON(t, jose.JSONWebKey{Key: es.Public().Key, Algorithm: "RS256"}) + `}`},
		{"HS256 alg on key", `{"token_endpoint_auth_method":"private_key_jwt","jwks":` + jwksJSON(t, jose.JSONWebKey{Key: es.Public().Key, Algorithm: "HS256"}) + `}`},
		{"enc key", `{"token_endpoint_auth_method":"private_key_jwt","jwks":` + jwksJSON(t, jose.JSONWebKey{Key: es.Public().Key, Use: "enc"}) + `}`},
		{"duplicate kid", `{"token_endpoint_auth_method":"private_key_jwt","jwks":` + jwksJSON(t, jose.JSONWebKey{Key: es.Public().Key, KeyID: "a"}, jose.JSONWebKey{Key: ed.Public().Key, KeyID: "a"}) + `}`},
		{"empty jwks", `{"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[]}}`},
		{"jwks not a set", `{"token_endpoint_auth_method":"private_key_jwt","jwks":[1,2]}`},
		{"jwks garbage key", `{"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}}`},
		{"jwks and jwks_uri", `{"token_endpoint_auth_method":"private_key_jwt","jwks":` + okSet + `,"jwks_uri":"https://keys.example/jwks"}`},
		{"private_key_jwt without keys", `{"token_endpoint_auth_method":"private_key_jwt"}`},
		{"self signed without keys", `{"token_endpoint_auth_method":"self_signed_tls_client_auth"}`},
		{"jwks for secret client", `{"jwks":` + okSet + `}`},
		{"jwks_uri http", `{"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"http://keys.example/jwks"}`},
		{"jwks_uri relative", `{"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"/jwks"}`},
		{"jwks_uri user info", `{"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://u:p@keys.example/jwks"}`},
		{"jwks_uri fragment", `{"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://keys.example/jwks#a"}`},
		{"jwks_uri ftp", `{"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"ftp://keys.example/jwks"}`},
		{"tls_client_auth without subject", `{"token_endpoint_auth_method":"tls_client_auth"}`},
		{"tls_client_auth two subjects", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_subject_dn":"CN=a","tls_client_auth_san_dns":"a.example"}`},
		{"subject for secret client", `{"tls_client_auth_subject_dn":"CN=a"}`},
		{"san for self signed", `{"token_endpoint_auth_method":"self_signed_tls_client_auth","jwks":` + okSet + `,"tls_client_auth_san_dns":"a.example"}`},
		{"bad DN", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_subject_dn":"just a name"}`},
		{"DN empty value", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_subject_dn":"CN=,O=x"}`},
		{"DN hex value", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_subject_dn":"CN=#0403616263"}`},
		{"DN control char", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_subject_dn":"CN=a\u0001"}`},
		{"bad SAN IP", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_san_ip":"300.1.1.1"}`},
		{"wildcard SAN DNS", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_san_dns":"*.example.com"}`},
		{"bad SAN email", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_san_email":"Ops <ops@example.com>"}`},
		{"relative SAN URI", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_san_uri":"backend"}`},
		{"long subject", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_subject_dn":"CN=` + strings.Repeat("a", 1100) + `"}`},
		{"unknown method", `{"token_endpoint_auth_method":"client_secret_jwt"}`},
		{"bound flag wrong type", `{"tls_client_certificate_bound_access_tokens":"yes"}`},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			for _, req := range []struct{ method, path string }{{"POST", "/admin/clients"}, {"PUT", "/admin/clients/demo-service"}} {
				code, b := ts.adminDo(t, req.method, req.path, js, tt.body)
				if code != http.StatusBadRequest {
					t.Fatalf("%s %s = %d %s, want 400", req.method, req.path, code, b)
				}
				if got, desc := oauthErr(t, b); got != "invalid_client_metadata" && got != "invalid_request" || desc == "" {
					t.Errorf("%s error = %q (%q), want invalid_client_metadata with a description", req.method, got, desc)
				}
				if strings.Contains(string(b), `"d"`) || strings.Contains(string(b), "BEGIN") {
					t.Errorf("%s error echoes key material: %s", req.method, b)
				}
			}
		})
	}
	if after := ts.listClients(t); after != before {
		t.Errorf("refused requests changed the clients:\nbefore %s\nafter  %s", before, after)
	}

	accepted := []struct {
		name, body string
		check      func(t *testing.T, c adminapi.ClientJSON)
	}{
		{"private_key_jwt jwks", `{"token_endpoint_auth_method":"private_key_jwt","jwks":` + okSet + `}`, func(t *testing.T, c adminapi.ClientJSON) {
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(c.JWKS, &set); err != nil || len(set.Keys) != 3 {
				t.Errorf("jwks = %s (%v), want the 3 keys", c.JWKS, err)
			}
		}},
		{"private_key_jwt jwks_uri", `{"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://keys.example/jwks.json"}`, func(t *testing.T, c adminapi.ClientJSON) {
			if c.JWKSURI != "https://keys.example/jwks.json" {
				t.Errorf("jwks_uri = %q", c.JWKSURI)
			}
		}},
		{"loopback http jwks_uri", `{"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"http://127.0.0.1:9/jwks"}`, nil},
		{"tls_client_auth DN", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_subject_dn":"cn = KYC backend , o=Example\\, Inc.,c=DE","tls_client_certificate_bound_access_tokens":true}`, func(t *testing.T, c adminapi.ClientJSON) {
			if c.TLSClientAuthSubjectDN != `CN=KYC backend,O=Example\, Inc.,C=DE` || !c.TLSClientCertificateBoundAccessTokens {
				t.Errorf("subject DN = %q bound %v, want the canonical form and bound", c.TLSClientAuthSubjectDN, c.TLSClientCertificateBoundAccessTokens)
			}
		}},
		{"tls_client_auth SAN IP", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_san_ip":"::ffff:192.0.2.1"}`, func(t *testing.T, c adminapi.ClientJSON) {
			if c.TLSClientAuthSANIP != "192.0.2.1" {
				t.Errorf("san ip = %q, want 192.0.2.1", c.TLSClientAuthSANIP)
			}
		}},
		{"tls_client_auth SAN DNS", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_san_dns":"backend.example"}`, nil},
		{"tls_client_auth SAN URI", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_san_uri":"spiffe://example/backend"}`, nil},
		{"tls_client_auth SAN email", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_san_email":"ops@example.com"}`, nil},
		{"self signed", `{"token_endpoint_auth_method":"self_signed_tls_client_auth","jwks":` + jwksJSON(t, pub(es)) + `}`, nil},
		{"null jwks for secret client", `{"jwks":null}`, nil},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			code, b := ts.adminDo(t, "POST", "/admin/clients", js, tt.body)
			if code != http.StatusCreated {
				t.Fatalf("create = %d %s, want 201", code, b)
			}
			var c adminapi.ClientJSON
			if err := json.Unmarshal(b, &c); err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(c.TokenEndpointAuthMethod, "client_secret") != (c.ClientSecret != "") {
				t.Errorf("client_secret given = %v for %s, want only for secret methods", c.ClientSecret != "", c.TokenEndpointAuthMethod)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
			code, b = ts.adminDo(t, "GET", "/admin/clients/"+c.ClientID, "", "")
			var got adminapi.ClientJSON
			if code != 200 || json.Unmarshal(b, &got) != nil {
				t.Fatalf("get = %d %s", code, b)
			}
			c.ClientSecret = ""
			cj, _ := json.Marshal(c)
			gj, _ := json.Marshal(got)
			if string(cj) != string(gj) {
				t.Errorf("GET = %s, want what create answered %s", gj, cj)
			}
			if !strings.HasPrefix(c.TokenEndpointAuthMethod, "client_secret") {
				code, b = ts.adminDo(t, "POST", "/admin/clients/"+c.ClientID+"/secret", "", "")
				if code != http.StatusBadRequest {
					t.Errorf("rotate-secret of a %s client = %d %s, want 400", c.TokenEndpointAuthMethod, code, b)
				}
			}
		})
	}
}
