package admin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/idvauth/idvauth/scopes"
	"github.com/idvauth/idvauth/storage"
)

func testHandler(t testing.TB) *Handler {
	t.Helper()
	reg, err := scopes.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Handler{cfg: Config{Scopes: reg, MaxAccessTokenTTL: time.Hour}}
}

// testJWKS is a key set of one fresh EC P-256 public key.
func testJWKS(t testing.TB) string {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestValidClientRefuses pins the answer to each kind of bad metadata,
// and that with two faults the first check in order names its own.
func TestValidClientRefuses(t *testing.T) {
	h := testHandler(t)
	long := strings.Repeat("a", maxNameLen+1)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"name too long", `{"client_name":"` + long + `","grant_types":["bogus"]}`, "client_name must be at most 200 printable characters"},
		{"name control", `{"client_name":"a\u0007b"}`, "client_name must be at most 200 printable characters"},
		{"auth method", `{"token_endpoint_auth_method":"magic","grant_types":["bogus"]}`,
			`token_endpoint_auth_method "magic" is not supported (use one of client_secret_basic, client_secret_post, private_key_jwt, tls_client_auth, self_signed_tls_client_auth, none)`},
		{"jwks and uri", `{"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[]},"jwks_uri":"https://a.example/jwks","grant_types":["bogus"]}`,
			"jwks and jwks_uri must not both be given (RFC 7591 section 2)"},
		{"key method without keys", `{"token_endpoint_auth_method":"private_key_jwt"}`, "token_endpoint_auth_method private_key_jwt needs jwks or jwks_uri"},
		{"keys without key method", `{"jwks_uri":"https://a.example/jwks"}`, "jwks and jwks_uri are for private_key_jwt and self_signed_tls_client_auth clients"},
		{"jwks null is absent", `{"token_endpoint_auth_method":"private_key_jwt","jwks":null}`, "token_endpoint_auth_method private_key_jwt needs jwks or jwks_uri"},
		{"jwks bad", `{"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[]}}`, "jwks: must hold 1 to 10 keys"},
		{"jwks_uri bad", `{"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"http://a.example/jwks"}`,
			`jwks_uri: "http://a.example/jwks": must use https (http only on a loopback host)`},
		{"tls without subject", `{"token_endpoint_auth_method":"tls_client_auth"}`, clientAuthHint},
		{"tls with two subjects", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_san_dns":"a.example","tls_client_auth_san_ip":"10.0.0.1"}`, clientAuthHint},
		{"subject without tls", `{"tls_client_auth_san_dns":"a.example"}`, "tls_client_auth_subject_dn and tls_client_auth_san_* are for tls_client_auth clients"},
		{"subject too long", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_san_uri":"https://` + strings.Repeat("a", maxSubjectLen) + `"}`,
			"tls_client_auth_* values must be at most 1000 printable characters"},
		{"subject dn", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_subject_dn":"=x"}`, "tls_client_auth_subject_dn: "},
		{"san dns", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_san_dns":"*.a.example"}`, "tls_client_auth_san_dns must be a DNS name without wildcards"},
		{"san uri", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_san_uri":"relative/path"}`, "tls_client_auth_san_uri must be an absolute URI"},
		{"san ip", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_san_ip":"fe80::1%eth0"}`, "tls_client_auth_san_ip must be an IPv4 or IPv6 address"},
		{"san email", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_san_email":"Ann <ann@a.example>"}`, "tls_client_auth_san_email must be an email address"},
		{"grant unknown", `{"grant_types":["implicit"],"scope":"nope"}`,
			`grant type "implicit" is not supported (supported: client_credentials, authorization_code, refresh_token)`},
		{"grant twice", `{"grant_types":["client_credentials","client_credentials"]}`, `grant type "client_credentials" is listed twice`},
		{"refresh without code", `{"grant_types":["refresh_token"]}`, "the refresh_token grant needs the authorization_code grant"},
		{"public client credentials", `{"token_endpoint_auth_method":"none"}`,
			"a public client (token_endpoint_auth_method none) cannot use client_credentials: it has no secret"},
		{"public introspection", `{"token_endpoint_auth_method":"none","redirect_uris":["https://a.example/cb"],"introspection_allowed":true}`,
			"a public client (token_endpoint_auth_method none) cannot be allowed to introspect"},
		{"code without redirect", `{"grant_types":["authorization_code"]}`, "the authorization_code grant needs at least one redirect_uris entry"},
		{"redirect without code", `{"grant_types":["client_credentials"],"redirect_uris":["https://a.example/cb"]}`,
			"redirect_uris and response_types are for clients with the authorization_code grant"},
		{"response types without code", `{"response_types":["code"]}`, "redirect_uris and response_types are for clients with the authorization_code grant"},
		{"response type token", `{"redirect_uris":["https://a.example/cb"],"response_types":["token"],"scope":"nope"}`,
			`response_types must be ["code"]: the only response type this server supports`},
		{"response types empty", `{"redirect_uris":["https://a.example/cb"],"response_types":[]}`,
			`response_types must be ["code"]: the only response type this server supports`},
		{"too many redirects", `{"redirect_uris":[` + strings.Repeat(`"https://a.example/cb",`, maxRedirectURIs) + `"https://a.example/cb"],"id_token_signed_response_alg":"none"}`,
			"at most 20 redirect_uris"},
		{"redirect bad", `{"redirect_uris":["http://a.example/cb"]}`,
			`redirect_uris: "http://a.example/cb": http is allowed only for loopback hosts (127.0.0.1, [::1], localhost); use https`},
		{"redirect private scheme confidential", `{"redirect_uris":["com.example.app:/cb"]}`,
			`redirect_uris: "com.example.app:/cb": private-use URI schemes are for public (native) clients only`},
		{"redirect twice", `{"redirect_uris":["https://a.example/cb","https://a.example/cb"]}`, `redirect_uris: "https://a.example/cb" is listed twice`},
		{"id token alg", `{"id_token_signed_response_alg":"none","scope":"nope"}`, `id_token_signed_response_alg "none" is not supported (use ES256, RS256, PS256)`},
		{"scope unknown", `{"scope":"openid nope","audience":[""]}`, `scope: unknown scope "nope" (known scopes: ` + strings.Join(h.cfg.Scopes.Names(), ", ") + ")"},
		{"offline without refresh", `{"redirect_uris":["https://a.example/cb"],"scope":"openid offline_access"}`, "scope offline_access needs the refresh_token grant"},
		{"too many audiences", `{"audience":[` + strings.Repeat(`"a",`, maxAudiences) + `"b"],"access_token_ttl":-1}`, "at most 20 audience values"},
		{"audience empty", `{"audience":[""]}`, "audience: each value must be 1 to 256 characters of valid UTF-8"},
		{"audience space", `{"audience":["a b"]}`, "audience: values must not contain spaces or control characters"},
		{"audience twice", `{"audience":["api","api"]}`, `audience "api" is listed twice`},
		{"introspection audiences without introspection", `{"introspection_audiences":["api"],"access_token_ttl":-1}`, "introspection_audiences is for clients with introspection_allowed"},
		{"too many introspection audiences", `{"introspection_allowed":true,"introspection_audiences":[` + strings.Repeat(`"a",`, maxAudiences) + `"b"]}`, "at most 20 introspection_audiences values"},
		{"introspection audience empty", `{"introspection_allowed":true,"introspection_audiences":[""]}`, "introspection_audiences: each value must be 1 to 256 characters of valid UTF-8"},
		{"introspection audience space", `{"introspection_allowed":true,"introspection_audiences":["a b"]}`, "introspection_audiences: values must not contain spaces or control characters"},
		{"introspection audience twice", `{"introspection_allowed":true,"introspection_audiences":["api","api"]}`, `introspection_audiences "api" is listed twice`},
		{"ttl negative", `{"access_token_ttl":-1}`, "access_token_ttl must be between 1 and 3600 seconds, or 0 for the server default"},
		{"ttl too long", `{"access_token_ttl":3601}`, "access_token_ttl must be between 1 and 3600 seconds, or 0 for the server default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in clientInput
			if err := json.Unmarshal([]byte(tc.in), &in); err != nil {
				t.Fatal(err)
			}
			_, err := h.validClient(in)
			if err == nil {
				t.Fatalf("validClient(%s) = nil, want %q", tc.in, tc.want)
			}
			desc, ok := strings.CutPrefix(err.Error(), "invalid_client_metadata: ")
			if !ok || !strings.HasPrefix(desc, tc.want) || (desc != tc.want && !strings.HasSuffix(tc.want, ": ")) {
				t.Errorf("validClient(%s) = %q, want %q", tc.in, err, "invalid_client_metadata: "+tc.want)
			}
		})
	}
}

// TestValidClientRecord pins the record that accepted metadata becomes.
func TestValidClientRecord(t *testing.T) {
	h := testHandler(t)
	set := testJWKS(t)
	for _, tc := range []struct {
		name string
		in   string
		want storage.Client
	}{
		{"defaults", `{}`, storage.Client{TokenEndpointAuthMethod: "client_secret_basic", GrantTypes: []string{"client_credentials"},
			ResponseTypes: []string{}, RedirectURIs: []string{}, Scopes: []string{}, Audience: []string{}, IntrospectionAudiences: []string{}}},
		{"code by redirect", `{"client_name":"  App  ","redirect_uris":["https://a.example/cb"],"scope":"openid openid profile"}`,
			storage.Client{Name: "App", TokenEndpointAuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code"},
				ResponseTypes: []string{"code"}, RedirectURIs: []string{"https://a.example/cb"}, Scopes: []string{"openid", "profile"}, Audience: []string{}, IntrospectionAudiences: []string{}}},
		{"public native", `{"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"],
			"redirect_uris":["com.example.app:/cb","http://127.0.0.1/cb"],"scope":"openid offline_access","id_token_signed_response_alg":"ES256"}`,
			storage.Client{TokenEndpointAuthMethod: "none", GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
				RedirectURIs: []string{"com.example.app:/cb", "http://127.0.0.1/cb"}, Scopes: []string{"openid", "offline_access"}, Audience: []string{}, IntrospectionAudiences: []string{},
				IDTokenSignedResponseAlg: "ES256"}},
		{"service", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post","audience":["api","b"],
			"access_token_ttl":3600,"introspection_allowed":true,"introspection_audiences":["api-a","api"],"tls_client_certificate_bound_access_tokens":true}`,
			storage.Client{TokenEndpointAuthMethod: "client_secret_post", GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{},
				RedirectURIs: []string{}, Scopes: []string{}, Audience: []string{"api", "b"}, IntrospectionAudiences: []string{"api-a", "api"}, AccessTokenTTL: time.Hour, IntrospectionAllowed: true,
				CertificateBoundAccessTokens: true}},
		{"tls", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_san_ip":"::ffff:10.0.0.1"}`,
			storage.Client{TokenEndpointAuthMethod: "tls_client_auth", GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{},
				RedirectURIs: []string{}, Scopes: []string{}, Audience: []string{}, IntrospectionAudiences: []string{}, TLSClientAuth: storage.TLSClientAuth{SANIP: "10.0.0.1"}}},
		{"tls dn", `{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_subject_dn":"CN=backend, O=Example"}`,
			storage.Client{TokenEndpointAuthMethod: "tls_client_auth", GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{},
				RedirectURIs: []string{}, Scopes: []string{}, Audience: []string{}, IntrospectionAudiences: []string{}, TLSClientAuth: storage.TLSClientAuth{SubjectDN: "CN=backend,O=Example"}}},
		{"jwks_uri", `{"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://a.example/jwks"}`,
			storage.Client{TokenEndpointAuthMethod: "private_key_jwt", GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{},
				RedirectURIs: []string{}, Scopes: []string{}, Audience: []string{}, IntrospectionAudiences: []string{}, JWKSURI: "https://a.example/jwks"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in clientInput
			if err := json.Unmarshal([]byte(tc.in), &in); err != nil {
				t.Fatal(err)
			}
			got, err := h.validClient(in)
			if err != nil {
				t.Fatalf("validClient(%s) = %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("validClient(%s) =\n%+v, want\n%+v", tc.in, got, tc.want)
			}
		})
	}
	t.Run("jwks", func(t *testing.T) {
		in := clientInput{TokenEndpointAuthMethod: "private_key_jwt", JWKS: json.RawMessage(" " + set + " ")}
		got, err := h.validClient(in)
		if err != nil {
			t.Fatalf("validClient(jwks) = %v", err)
		}
		var ks jose.JSONWebKeySet
		if err := json.Unmarshal(got.JWKS, &ks); err != nil || len(ks.Keys) != 1 || ks.Keys[0].KeyID != "k1" || strings.ContainsAny(string(got.JWKS), " \n") {
			t.Errorf("validClient(jwks).JWKS = %s, want the one key k1, compact", got.JWKS)
		}
	})
}
