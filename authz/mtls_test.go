package authz_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/authz/internal/testutil"
	"github.com/idvauth/idvauth/storage/memory"
)

func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tlsEnv is a server CA, a server certificate for 127.0.0.1 and a client
// CA, as files for Config.
type tlsEnv struct {
	dir               string
	serverCA, server  *testutil.Cert
	clientCA          *testutil.Cert
	certFile, keyFile string
	clientCAFile      string
	roots             *x509.CertPool
}

func newTLSEnv(t testing.TB) *tlsEnv {
	t.Helper()
	e := &tlsEnv{dir: t.TempDir()}
	e.serverCA = testutil.NewCert(t, testutil.CertOptions{Subject: pkix.Name{CommonName: "test server CA"}, CA: true})
	e.server = testutil.NewCert(t, testutil.CertOptions{Parent: e.serverCA, Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	e.clientCA = testutil.NewCert(t, testutil.CertOptions{Subject: pkix.Name{CommonName: "test client CA"}, CA: true})
	e.certFile = writeFile(t, e.dir, "server.crt", e.server.CertPEM())
	e.keyFile = writeFile(t, e.dir, "server.key", e.server.KeyPEM(t))
	e.clientCAFile = writeFile(t, e.dir, "client-ca.crt", e.clientCA.CertPEM())
	e.roots = x509.NewCertPool()
	e.roots.AddCert(e.serverCA.Cert)
	return e
}

// httpClient is an HTTPS client that trusts the test server CA and
// presents cert (none if nil).
func (e *tlsEnv) httpClient(cert *testutil.Cert) *http.Client {
	tc := &tls.Config{RootCAs: e.roots}
	if cert != nil {
		tc.Certificates = []tls.Certificate{cert.TLS()}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 30 * time.Second}
}

// postWith posts form with hc, with Basic auth unless id is "", and the
// extra header.
func postWith(t testing.TB, hc *http.Client, u, id, sec string, form url.Values, header http.Header) (int, []byte) {
	t.Helper()
	req := formRequest(t, u, id, sec, form)
	for k, v := range header {
		req.Header[k] = v
	}
	code, _, b := doWith(t, hc, req)
	return code, b
}

// cnfOf is the cnf x5t#S256 of a JWT access token, verified with the JWKS.
func (ts *testServer) cnfOf(t testing.TB, hc *http.Client, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Cnf *struct {
			X5t string `json:"x5t#S256"`
		} `json:"cnf"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	if c.Cnf == nil {
		return ""
	}
	return c.Cnf.X5t
}

func TestMutualTLSClientAuth(t *testing.T) {
	backends(t, testMutualTLSClientAuth)
}

func testMutualTLSClientAuth(t *testing.T, cfg authz.Config) {
	e := newTLSEnv(t)
	cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSClientCAFile = e.certFile, e.keyFile, e.clientCAFile
	ts := startServer(t, cfg)
	dn := pkix.Name{CommonName: "kyc-mtls", Organization: []string{"Example"}}
	good := testutil.NewCert(t, testutil.CertOptions{Parent: e.clientCA, Subject: dn, DNSNames: []string{"kyc.example"}})
	expired := testutil.NewCert(t, testutil.CertOptions{Parent: e.clientCA, Subject: dn, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	otherCA := testutil.NewCert(t, testutil.CertOptions{Subject: pkix.Name{CommonName: "other CA"}, CA: true})
	fromOtherCA := testutil.NewCert(t, testutil.CertOptions{Parent: otherCA, Subject: dn, DNSNames: []string{"kyc.example"}})
	wrongDN := testutil.NewCert(t, testutil.CertOptions{Parent: e.clientCA, Subject: pkix.Name{CommonName: "intruder", Organization: []string{"Example"}}})
	self := testutil.NewCert(t, testutil.CertOptions{Subject: pkix.Name{CommonName: "self"}})
	selfOther := testutil.NewCert(t, testutil.CertOptions{Subject: pkix.Name{CommonName: "self"}})
	selfExpired := testutil.NewCert(t, testutil.CertOptions{Subject: pkix.Name{CommonName: "self"}, Key: self.Key,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})

	ts.createClient(t, map[string]any{"client_id": "mtls", "token_endpoint_auth_method": "tls_client_auth",
		"tls_client_auth_subject_dn": "CN=kyc-mtls,O=Example", "scope": "identity.verify"})
	ts.createClient(t, map[string]any{"client_id": "mtls-san", "token_endpoint_auth_method": "tls_client_auth",
		"tls_client_auth_san_dns": "kyc.example", "scope": "identity.verify"})
	ts.createClient(t, map[string]any{"client_id": "self", "token_endpoint_auth_method": "self_signed_tls_client_auth",
		"jwks": json.RawMessage(jwksJSON(t, jose.JSONWebKey{Key: &self.Key.PublicKey})), "scope": "identity.verify"})
	bound := ts.createClient(t, map[string]any{"client_id": "bound-secret", "scope": "identity.verify",
		"tls_client_certificate_bound_access_tokens": true})
	svc, rs := ts.Demo.Service, ts.Demo.ResourceServer
	tokenURL := ts.Public + "/oauth2/token"
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"identity.verify"}}
	withID := func(id string, extra ...string) url.Values {
		f := url.Values{"grant_type": {"client_credentials"}, "scope": {"identity.verify"}, "client_id": {id}}
		for i := 0; i+1 < len(extra); i += 2 {
			f.Set(extra[i], extra[i+1])
		}
		return f
	}
	tests := []struct {
		name      string
		cert      *testutil.Cert
		basic     [2]string
		form      url.Values
		want      int
		wantBound bool
	}{
		{"tls_client_auth", good, [2]string{}, withID("mtls"), 200, true},
		{"tls_client_auth expired", expired, [2]string{}, withID("mtls"), 401, false},
		{"tls_client_auth other CA", fromOtherCA, [2]string{}, withID("mtls"), 401, false},
		{"tls_client_auth wrong DN", wrongDN, [2]string{}, withID("mtls"), 401, false},
		{"tls_client_auth self-signed", self, [2]string{}, withID("mtls"), 401, false},
		{"tls_client_auth no certificate", nil, [2]string{}, withID("mtls"), 401, false},
		{"tls_client_auth downgrade: Basic secret", good, [2]string{"mtls", "guess"}, cc, 401, false},
		{"tls_client_auth downgrade: client_secret", good, [2]string{}, withID("mtls", "client_secret", "guess"), 401, false},
		{"tls_client_auth downgrade: assertion", good, [2]string{}, withID("mtls", "client_assertion_type", jwtBearer, "client_assertion", "a.b.c"), 401, false},
		{"tls_client_auth SAN", good, [2]string{}, withID("mtls-san"), 200, true},
		{"tls_client_auth SAN other CA", fromOtherCA, [2]string{}, withID("mtls-san"), 401, false},
		{"tls_client_auth SAN missing", wrongDN, [2]string{}, withID("mtls-san"), 401, false},
		{"self_signed_tls_client_auth", self, [2]string{}, withID("self"), 200, true},
		{"self_signed_tls_client_auth other key", selfOther, [2]string{}, withID("self"), 401, false},
		{"self_signed_tls_client_auth expired", selfExpired, [2]string{}, withID("self"), 401, false},
		{"self_signed_tls_client_auth CA-issued other key", good, [2]string{}, withID("self"), 401, false},
		{"self_signed_tls_client_auth no certificate", nil, [2]string{}, withID("self"), 401, false},
		{"bound secret client with certificate", good, [2]string{bound.ClientID, bound.ClientSecret}, cc, 200, true},
		{"bound secret client without certificate", nil, [2]string{bound.ClientID, bound.ClientSecret}, cc, 400, false},
		{"secret client with certificate: not bound", good, [2]string{svc.ClientID, svc.ClientSecret}, cc, 200, false},
		{"secret client with wrong secret and a good certificate", good, [2]string{svc.ClientID, "wrong"}, cc, 401, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := e.httpClient(tt.cert)
			code, b := postWith(t, hc, tokenURL, tt.basic[0], tt.basic[1], tt.form, nil)
			if code != tt.want {
				t.Fatalf("token = %d %s, want %d", code, b, tt.want)
			}
			if code == 401 {
				if e, _ := oauthErr(t, b); e != "invalid_client" {
					t.Errorf("error = %q, want invalid_client", e)
				}
			}
			if code != 200 {
				return
			}
			tok := accessToken(t, b)
			verifyWith(t, hc, ts.Public, tok)
			want := ""
			if tt.wantBound {
				want = tt.cert.Thumbprint()
			}
			if got := ts.cnfOf(t, hc, tok); got != want {
				t.Errorf("access token cnf x5t#S256 = %q, want %q", got, want)
			}
			// Introspection (by a resource server without a certificate)
			// shows the binding.
			code, b = postWith(t, e.httpClient(nil), ts.Public+"/oauth2/introspect", rs.ClientID, rs.ClientSecret, url.Values{"token": {tok}}, nil)
			var m struct {
				Active bool `json:"active"`
				Cnf    *struct {
					X5t string `json:"x5t#S256"`
				} `json:"cnf"`
			}
			if code != 200 || json.Unmarshal(b, &m) != nil || !m.Active {
				t.Fatalf("introspect = %d %s, want active", code, b)
			}
			got := ""
			if m.Cnf != nil {
				got = m.Cnf.X5t
			}
			if got != want {
				t.Errorf("introspection cnf x5t#S256 = %q, want %q", got, want)
			}
		})
	}

	t.Run("x/oauth2 with tls_client_auth", func(t *testing.T) {
		// x/oauth2 sends client_id without a secret in the body: exactly
		// what tls_client_auth asks for.
		ctx := context.WithValue(t.Context(), oauth2.HTTPClient, e.httpClient(good))
		cfg := clientcredentials.Config{ClientID: "mtls", TokenURL: tokenURL, Scopes: []string{"identity.verify"}, AuthStyle: oauth2.AuthStyleInParams}
		tok, err := cfg.Token(ctx)
		if err != nil {
			t.Fatalf("x/oauth2 Token() = %v", err)
		}
		if got := ts.cnfOf(t, nil, tok.AccessToken); got != good.Thumbprint() {
			t.Errorf("cnf = %q, want %q", got, good.Thumbprint())
		}
		ctx = context.WithValue(t.Context(), oauth2.HTTPClient, e.httpClient(wrongDN))
		if _, err := cfg.Token(ctx); err == nil {
			t.Errorf("x/oauth2 Token() with a wrong-DN certificate succeeded")
		}
	})

	t.Run("private_key_jwt over TLS, certificate-bound", func(t *testing.T) {
		jk := mustKey(t, jose.EdDSA)
		ts.createClient(t, map[string]any{"client_id": "jwt-bound", "token_endpoint_auth_method": "private_key_jwt",
			"jwks": json.RawMessage(jwksJSON(t, pub(jk))), "scope": "identity.verify", "tls_client_certificate_bound_access_tokens": true})
		a := signAssertion(t, jk, assertionClaims("jwt-bound", ts.Public))
		code, b := postWith(t, e.httpClient(self), tokenURL, "", "", assertionForm(a), nil)
		if code != 200 {
			t.Fatalf("token = %d %s", code, b)
		}
		if got := ts.cnfOf(t, nil, accessToken(t, b)); got != self.Thumbprint() {
			t.Errorf("cnf = %q, want the presented certificate's %q", got, self.Thumbprint())
		}
		if code, b := postWith(t, e.httpClient(self), tokenURL, "", "", assertionForm(a), nil); code != 401 {
			t.Errorf("replayed assertion over TLS = %d %s, want 401", code, b)
		}
		a = signAssertion(t, jk, assertionClaims("jwt-bound", ts.Public))
		if code, b := postWith(t, e.httpClient(nil), tokenURL, "", "", assertionForm(a), nil); code != 400 {
			t.Errorf("bound private_key_jwt client without a certificate = %d %s, want 400", code, b)
		}
	})

	// Discovery names the methods and the binding.
	resp, err := e.httpClient(nil).Get(ts.Public + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	methods, _ := json.Marshal(md["token_endpoint_auth_methods_supported"])
	if !strings.Contains(string(methods), `"tls_client_auth","self_signed_tls_client_auth"`) || md["tls_client_certificate_bound_access_tokens"] != true {
		t.Errorf("discovery: methods %s, bound %v; want the mTLS methods and true", methods, md["tls_client_certificate_bound_access_tokens"])
	}
	if _, ok := md["mtls_endpoint_aliases"]; ok {
		t.Errorf("discovery has mtls_endpoint_aliases, but the mTLS endpoints are the same")
	}
}

// TestTLSListener: TLS 1.2 at least, no CBC or RSA key exchange suites,
// and a new certificate in the files is served without a restart.
func TestTLSListener(t *testing.T) {
	e := newTLSEnv(t)
	ts := startServer(t, authz.Config{TLSCertFile: e.certFile, TLSKeyFile: e.keyFile}, serverOptions{NoDemo: true})
	addr := strings.TrimPrefix(ts.Public, "https://")
	dial := func(tc *tls.Config) (*tls.ConnectionState, error) {
		tc.RootCAs = e.roots
		conn, err := tls.Dial("tcp", addr, tc)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		st := conn.ConnectionState()
		return &st, nil
	}
	if _, err := dial(&tls.Config{MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10}); err == nil {
		t.Errorf("TLS 1.1 handshake succeeded, want refused")
	}
	if _, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256}}); err == nil {
		t.Errorf("TLS 1.2 handshake with CBC and RSA key exchange suites succeeded, want refused")
	}
	st, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS 1.2 handshake: %v", err)
	}
	if st.PeerCertificates[0].SerialNumber.Cmp(e.server.Cert.SerialNumber) != 0 {
		t.Fatalf("served certificate is not the configured one")
	}
	if resp, err := e.httpClient(nil).Get(ts.Public + "/health/live"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /health/live over TLS = %v %v", resp, err)
	}

	next := testutil.NewCert(t, testutil.CertOptions{Parent: e.serverCA, Subject: pkix.Name{CommonName: "127.0.0.1 renewed"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	// Write the key first, then the certificate; a torn pair in between
	// keeps the old one (the reload fails and is retried).
	writeFile(t, e.dir, "server.key.tmp", next.KeyPEM(t))
	writeFile(t, e.dir, "server.crt.tmp", next.CertPEM())
	if err := os.Rename(filepath.Join(e.dir, "server.key.tmp"), e.keyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(e.dir, "server.crt.tmp"), e.certFile); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 15*time.Second, "the renewed certificate served", func() bool {
		st, err := dial(&tls.Config{})
		return err == nil && st.PeerCertificates[0].SerialNumber.Cmp(next.Cert.SerialNumber) == 0
	})
}

// TestForwardedClientCertificate: behind a trusted proxy that ends TLS,
// the certificate comes in a header, believed only from the proxy.
func TestForwardedClientCertificate(t *testing.T) {
	e := newTLSEnv(t)
	good := testutil.NewCert(t, testutil.CertOptions{Parent: e.clientCA, Subject: pkix.Name{CommonName: "kyc-mtls", Organization: []string{"Example"}}})
	hdr := http.Header{"X-Ssl-Client-Cert": {url.PathEscape(string(good.CertPEM()))}}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"mtls"}}
	for _, tt := range []struct {
		name    string
		proxies string
		header  http.Header
		want    int
	}{
		{"from the trusted proxy", "127.0.0.1/32", hdr, 200},
		{"from an untrusted peer", "10.0.0.0/8", hdr, 401},
		{"garbage from the trusted proxy", "127.0.0.1/32", http.Header{"X-Ssl-Client-Cert": {"%ZZnot-pem"}}, 401},
		{"two headers from the trusted proxy", "127.0.0.1/32", http.Header{"X-Ssl-Client-Cert": {hdr.Get("X-Ssl-Client-Cert"), hdr.Get("X-Ssl-Client-Cert")}}, 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := netipPrefix(tt.proxies)
			if err != nil {
				t.Fatal(err)
			}
			ts := startServer(t, authz.Config{TLSClientCAFile: e.clientCAFile, TLSClientCertHeader: "X-SSL-Client-Cert", TrustedProxies: p}, serverOptions{NoDemo: true})
			ts.createClient(t, map[string]any{"client_id": "mtls", "token_endpoint_auth_method": "tls_client_auth",
				"tls_client_auth_subject_dn": "CN=kyc-mtls,O=Example"})
			code, b := postWith(t, http.DefaultClient, ts.Public+"/oauth2/token", "", "", form, tt.header)
			if code != tt.want {
				t.Fatalf("token = %d %s, want %d", code, b, tt.want)
			}
			if code == 200 {
				if got := ts.cnfOf(t, nil, accessToken(t, b)); got != good.Thumbprint() {
					t.Errorf("cnf x5t#S256 = %q, want %q", got, good.Thumbprint())
				}
			}
		})
	}
}

var errNoPrefix = errors.New("bad prefix")

func netipPrefix(s string) ([]netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return nil, errNoPrefix
	}
	return []netip.Prefix{p}, nil
}

// verifyWith checks tok's signature against the JWKS fetched with hc.
func verifyWith(t testing.TB, hc *http.Client, base, tok string) {
	t.Helper()
	resp, err := hc.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("JWKS has %d keys with the token's kid", len(keys))
	}
	var c map[string]any
	if err := parsed.Claims(keys[0].Key, &c); err != nil {
		t.Fatalf("verify access token: %v", err)
	}
}

// TestPublicClientBoundRefreshToken: a public app registered with
// tls_client_certificate_bound_access_tokens gets access and refresh
// tokens bound to the certificate it redeemed its code with; refreshing
// needs that certificate.
func TestPublicClientBoundRefreshToken(t *testing.T) {
	e := newTLSEnv(t)
	ts := startServer(t, codeFlowConfig(authz.Config{TLSCertFile: e.certFile, TLSKeyFile: e.keyFile, TLSClientCAFile: e.clientCAFile}))
	ts.createUser(t, "ada")
	code, b := ts.adminJSON(t, "POST", "/admin/clients", map[string]any{"client_id": "mobile", "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code", "refresh_token"}, "redirect_uris": []string{redirectURI},
		"scope": "openid offline_access identity.verify", "tls_client_certificate_bound_access_tokens": true})
	if code != http.StatusCreated {
		t.Fatalf("create public client: %d %s", code, b)
	}
	var cj adminapi.ClientJSON
	_ = json.Unmarshal(b, &cj)
	c := webClient{ClientJSON: cj, cfg: &oauth2.Config{ClientID: "mobile", RedirectURL: redirectURI,
		Endpoint: oauth2.Endpoint{AuthURL: ts.Public + "/oauth2/authorize", TokenURL: ts.Public + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   []string{"openid", "offline_access", "identity.verify"}}}
	br := newBrowser(t)
	br.client.Transport = e.httpClient(nil).Transport
	v := oauth2.GenerateVerifier()
	authCode := newCode(t, ts, br, c, v)

	// The device's key: a self-made certificate is enough for binding.
	device := testutil.NewCert(t, testutil.CertOptions{Subject: pkix.Name{CommonName: "device"}})
	other := testutil.NewCert(t, testutil.CertOptions{Subject: pkix.Name{CommonName: "thief"}})
	tokenURL := ts.Public + "/oauth2/token"
	st, body := postWith(t, e.httpClient(device), tokenURL, "", "", url.Values{"grant_type": {"authorization_code"}, "code": {authCode},
		"redirect_uri": {redirectURI}, "client_id": {"mobile"}, "code_verifier": {v}}, nil)
	first := decodeTokens(t, st, body)
	if got := ts.cnfOf(t, nil, first.AccessToken); got != device.Thumbprint() {
		t.Fatalf("access token cnf = %q, want the device certificate's %q", got, device.Thumbprint())
	}
	// The bound access token is good at /userinfo only with the device's
	// certificate (RFC 8705 section 3).
	for _, tt := range []struct {
		name string
		cert *testutil.Cert
		want int
	}{{"the device certificate", device, http.StatusOK}, {"another certificate", other, http.StatusUnauthorized}, {"no certificate", nil, http.StatusUnauthorized}} {
		req, _ := http.NewRequest(http.MethodGet, ts.Public+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+first.AccessToken)
		resp, err := e.httpClient(tt.cert).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		ub, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || (tt.want != http.StatusOK && strings.Contains(string(ub), "ada")) {
			t.Errorf("/userinfo with %s = %d %s, want %d", tt.name, resp.StatusCode, ub, tt.want)
		}
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}, "client_id": {"mobile"}}
	for _, tt := range []struct {
		name string
		cert *testutil.Cert
	}{{"another certificate", other}, {"no certificate", nil}} {
		st, body := postWith(t, e.httpClient(tt.cert), tokenURL, "", "", refresh, nil)
		if ec, _ := oauthErr(t, body); st != http.StatusBadRequest || ec != "invalid_grant" {
			t.Errorf("refresh with %s = %d %s, want 400 invalid_grant", tt.name, st, body)
		}
	}
	st, body = postWith(t, e.httpClient(device), tokenURL, "", "", refresh, nil)
	second := decodeTokens(t, st, body)
	if got := ts.cnfOf(t, nil, second.AccessToken); got != device.Thumbprint() {
		t.Errorf("refreshed access token cnf = %q, want %q", got, device.Thumbprint())
	}
}

// TestTLSConfigRefusals: TLS settings that cannot work stop New with a
// message that names them.
func TestTLSConfigRefusals(t *testing.T) {
	e := newTLSEnv(t)
	garbage := writeFile(t, e.dir, "garbage.pem", []byte("not PEM"))
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	for _, tt := range []struct {
		name string
		cfg  authz.Config
		want string
	}{
		{"cert without key", authz.Config{TLSCertFile: e.certFile}, "IDVAUTH_TLS_KEY"},
		{"client CA without TLS", authz.Config{TLSClientCAFile: e.clientCAFile}, "needs TLS"},
		{"header without trusted proxies", authz.Config{TLSClientCAFile: e.clientCAFile, TLSClientCertHeader: "X-Cert"}, "IDVAUTH_TRUSTED_PROXIES"},
		{"bad header name", authz.Config{TLSClientCAFile: e.clientCAFile, TLSClientCertHeader: "X Cert:", TrustedProxies: trusted}, "header name"},
		{"unreadable cert", authz.Config{TLSCertFile: garbage, TLSKeyFile: e.keyFile}, "TLS certificate"},
		{"missing cert", authz.Config{TLSCertFile: filepath.Join(e.dir, "nope"), TLSKeyFile: e.keyFile}, "nope"},
		{"client CA without certificates", authz.Config{TLSCertFile: e.certFile, TLSKeyFile: e.keyFile, TLSClientCAFile: garbage}, "no PEM certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Store, cfg.Secrets, cfg.AdminToken = memoryStore(), []string{testSecret}, testAdminToken
			srv, err := authz.New(t.Context(), cfg)
			if err == nil {
				srv.Close()
				t.Fatalf("New(%s) = nil error, want one naming %q", tt.name, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New(%s) = %v, want it to name %q", tt.name, err, tt.want)
			}
		})
	}
}

func memoryStore() *memory.Store { return memory.New() }

// TestAdminCertificateBoundToken: an automation client that authenticates
// with its certificate gets a certificate-bound token for the admin API;
// the admin listener ends no TLS, so the token is accepted only with its
// certificate forwarded by the trusted proxy (RFC 8705 section 3), and
// refused without it or with another one.
func TestAdminCertificateBoundToken(t *testing.T) {
	e := newTLSEnv(t)
	p, err := netipPrefix("127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	backends(t, func(t *testing.T, cfg authz.Config) {
		cfg.TLSClientCAFile, cfg.TLSClientCertHeader, cfg.TrustedProxies = e.clientCAFile, "X-SSL-Client-Cert", p
		ts := startServer(t, cfg, serverOptions{NoDemo: true})
		good := testutil.NewCert(t, testutil.CertOptions{Parent: e.clientCA, Subject: pkix.Name{CommonName: "kyc-mtls", Organization: []string{"Example"}}})
		other := testutil.NewCert(t, testutil.CertOptions{Parent: e.clientCA, Subject: pkix.Name{CommonName: "kyc-mtls", Organization: []string{"Example"}}})
		ts.createClient(t, map[string]any{"client_id": "mtls-admin", "token_endpoint_auth_method": "tls_client_auth",
			"tls_client_auth_subject_dn": "CN=kyc-mtls,O=Example", "scope": adminauth.AuditRead, "audience": []string{ts.adminAudience(t)}})
		fwd := func(c *testutil.Cert) http.Header {
			return http.Header{"X-Ssl-Client-Cert": {url.PathEscape(string(c.CertPEM()))}}
		}
		code, b := postWith(t, http.DefaultClient, ts.Public+"/oauth2/token", "", "",
			url.Values{"grant_type": {"client_credentials"}, "client_id": {"mtls-admin"}, "scope": {adminauth.AuditRead}}, fwd(good))
		if code != http.StatusOK {
			t.Fatalf("token = %d %s", code, b)
		}
		tok := accessToken(t, b)
		if got := ts.cnfOf(t, nil, tok); got != good.Thumbprint() {
			t.Fatalf("cnf x5t#S256 = %q, want %q", got, good.Thumbprint())
		}
		for _, tc := range []struct {
			name   string
			header http.Header
			want   int
		}{
			{"its certificate", fwd(good), http.StatusOK},
			{"no certificate", nil, http.StatusUnauthorized},
			{"another certificate", fwd(other), http.StatusUnauthorized},
		} {
			req, err := http.NewRequest(http.MethodGet, ts.Admin+"/admin/audit", nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header[k] = v
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("%s: GET /admin/audit = %d %s, want %d", tc.name, resp.StatusCode, body, tc.want)
			}
		}
	})
}
