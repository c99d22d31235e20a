package adminauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz/internal/certs"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

type operators map[string]storage.Operator

func (o operators) GetOperator(_ context.Context, id string) (storage.Operator, error) {
	if op, ok := o[id]; ok {
		return op, nil
	}
	return storage.Operator{}, storage.ErrNotFound
}

type clients map[string]storage.Client

func (c clients) GetClient(_ context.Context, id string) (storage.Client, error) {
	if cl, ok := c[id]; ok {
		return cl, nil
	}
	return storage.Client{}, storage.ErrNotFound
}

const glass = "break-glass-token-0123456789-0123456789"

func TestAuthenticate(t *testing.T) {
	// The certificates a trusted proxy forwards: the header X-Test-Cert
	// names which.
	mine, other := selfSigned(t), selfSigned(t)
	forwarded := map[string]*x509.Certificate{"mine": mine, "other": other}
	tokens := map[string]Token{
		"client":    {ClientID: "svc", Subject: "svc", Scopes: []string{AuditRead, "identity.verify"}, Audience: []string{"aud"}},
		"operator":  {ClientID: "console", Subject: "op1", Scopes: []string{AuditRead, KeysWrite, OperatorsWrite}, Audience: []string{"aud"}},
		"disabled":  {ClientID: "console", Subject: "op2", Scopes: []string{AuditRead}, Audience: []string{"aud"}},
		"person":    {ClientID: "web", Subject: "u_1", Scopes: []string{AuditRead}, Audience: []string{"aud"}},
		"other-aud": {ClientID: "svc", Subject: "svc", Scopes: []string{AuditRead}, Audience: []string{"idv-api"}},
		"bound":     {ClientID: "svc", Subject: "svc", Scopes: []string{AuditRead}, Audience: []string{"aud"}, CertThumbprint: certs.Thumbprint(mine)},
		"dpop":      {ClientID: "svc", Subject: "svc", Scopes: []string{AuditRead}, Audience: []string{"aud"}, JKT: "k1"},
		// Clients whose registration changed after their token was issued.
		"demoted":  {ClientID: "demoted", Subject: "demoted", Scopes: []string{AuditRead, KeysRead}, Audience: []string{"aud"}},
		"secreted": {ClientID: "secreted", Subject: "secreted", Scopes: []string{AuditRead}, Audience: []string{"aud"}},
		"gone":     {ClientID: "gone", Subject: "gone", Scopes: []string{AuditRead}, Audience: []string{"aud"}},
		// No ceiling is no right: a role this build does not know and a
		// client registered without scopes hold no admin scope.
		"unknown-role": {ClientID: "console", Subject: "op3", Scopes: []string{AuditRead, KeysWrite}, Audience: []string{"aud"}},
		"unscoped":     {ClientID: "unscoped", Subject: "unscoped", Scopes: []string{AuditRead}, Audience: []string{"aud"}},
	}
	a, err := New(Config{BreakGlass: glass, Audience: "aud",
		Operators: operators{"op1": {ID: "op1", Role: Auditor}, "op2": {ID: "op2", Role: Owner, Disabled: true},
			"op3": {ID: "op3", Role: "superuser"}},
		Clients: clients{
			"svc":      {ID: "svc", TokenEndpointAuthMethod: "private_key_jwt", Scopes: []string{AuditRead, "identity.verify"}},
			"demoted":  {ID: "demoted", TokenEndpointAuthMethod: "private_key_jwt", Scopes: []string{KeysRead}},
			"secreted": {ID: "secreted", TokenEndpointAuthMethod: "client_secret_basic", Scopes: []string{AuditRead}},
			"unscoped": {ID: "unscoped", TokenEndpointAuthMethod: "private_key_jwt"},
		},
		// A stand-in for the DPoP verifier: the proof "good" is of the key k1.
		CheckDPoP: func(r *http.Request, scheme, _, jkt string) error {
			if scheme == "DPoP" && jkt == "k1" && r.Header.Get("DPoP") == "good" || scheme == "Bearer" && jkt == "" {
				return nil
			}
			return web.NewError(http.StatusUnauthorized, "invalid_token", "bad proof")
		},
		PeerCertificates: func(r *http.Request) ([]*x509.Certificate, error) {
			if c, ok := forwarded[r.Header.Get("X-Test-Cert")]; ok {
				return []*x509.Certificate{c}, nil
			}
			return nil, nil
		},
		Introspect: func(_ context.Context, tok string) (Token, error) {
			if tok == "down" {
				return Token{}, errors.New("store down")
			}
			if t, ok := tokens[tok]; ok {
				return t, nil
			}
			return Token{}, ErrInactive
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, header string
		status       int // 0: accepted
		actor        string
		scopes       []string
	}{
		{"break-glass", "Bearer " + glass, 0, "break-glass", RoleScopes(Owner)},
		{"bearer any case", "bearer client", 0, "client:svc", []string{AuditRead}},
		{"client", "Bearer client", 0, "client:svc", []string{AuditRead}},
		{"operator within role", "Bearer operator", 0, "operator:op1", []string{AuditRead}},
		{"disabled operator", "Bearer disabled", 401, "", nil},
		{"person", "Bearer person", 403, "", nil},
		{"other audience", "Bearer other-aud", 401, "", nil},
		{"certificate-bound without its certificate", "Bearer bound", 401, "", nil},
		{"certificate-bound with another certificate", "Bearer bound cert:other", 401, "", nil},
		{"certificate-bound with its certificate", "Bearer bound cert:mine", 0, "client:svc", []string{AuditRead}},
		{"DPoP-bound as bearer", "Bearer dpop", 401, "", nil},
		{"DPoP-bound, another proof", "DPoP dpop", 401, "", nil},
		{"inactive", "Bearer nope", 401, "", nil},
		{"store down", "Bearer down", 503, "", nil},
		{"client lost a scope since", "Bearer demoted", 0, "client:demoted", []string{KeysRead}},
		{"client now uses a secret", "Bearer secreted", 401, "", nil},
		{"client deleted", "Bearer gone", 401, "", nil},
		{"operator of an unknown role", "Bearer unknown-role", 0, "operator:op3", nil},
		{"client without scopes", "Bearer unscoped", 0, "client:unscoped", nil},
		{"no header", "", 401, "", nil},
		{"basic", "Basic " + glass, 401, "", nil},
		{"DPoP scheme, unbound token", "DPoP client", 401, "", nil},
		{"break-glass with DPoP", "DPoP " + glass, 401, "", nil},
		{"too long", "Bearer " + strings.Repeat("a", maxTokenLen+1), 401, "", nil},
		{"DPoP-bound with its proof", "DPoP dpop good", 0, "client:svc", []string{AuditRead}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/admin/audit", nil)
			if h, c, ok := strings.Cut(tc.header, " cert:"); ok {
				tc.header = h
				r.Header.Set("X-Test-Cert", c)
			}
			if h, proof, ok := strings.Cut(tc.header, " good"); ok && proof == "" {
				tc.header = h
				r.Header.Set("DPoP", "good")
			}
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			p, err := a.Authenticate(r)
			if tc.status != 0 {
				var we *web.Error
				if !errors.As(err, &we) || we.Status != tc.status {
					t.Fatalf("Authenticate = %+v, %v; want %d", p, err, tc.status)
				}
				return
			}
			if err != nil || p.Actor != tc.actor || !slices.Equal(p.Scopes, tc.scopes) {
				t.Fatalf("Authenticate = %+v, %v; want actor %s scopes %v", p, err, tc.actor, tc.scopes)
			}
		})
	}
}

func TestAuthorize(t *testing.T) {
	p := Principal{Scopes: []string{AuditRead}}
	for _, tc := range []struct {
		method, pattern string
		ok              bool
	}{
		{"GET", "/admin/audit", true},
		{"GET", "/admin/openapi.json", true},
		{"DELETE", "/admin/clients/{id}", false},
		{"OPTIONS", "/admin/clients", false},                // not in the table: only for a caller with every scope
		{"POST", "/admin/users/{id}/password-reset", false}, // people:write, not audit:read
		{"PATCH", "/admin/users/{id}", false},
		{"POST", "/admin/users/{id}/new-route", false}, // a route added without its scope fails closed
	} {
		if err := Authorize(p, tc.method, tc.pattern); (err == nil) != tc.ok {
			t.Errorf("Authorize(%s %s) = %v, want ok %v", tc.method, tc.pattern, err, tc.ok)
		}
	}
	owner := Principal{Scopes: RoleScopes(Owner)}
	if err := Authorize(owner, "POST", "/admin/users/{id}/new-route"); err != nil {
		t.Errorf("Authorize(owner, a route not in the table) = %v, want it let through (the route answers 404 or 405)", err)
	}
}

func TestRoles(t *testing.T) {
	for _, r := range Roles() {
		for _, s := range RoleScopes(r) {
			if !slices.Contains(Scopes(), s) {
				t.Errorf("role %s has unknown scope %s", r, s)
			}
		}
		// Support and auditor are within admin, admin within owner.
		above := map[string]string{Admin: Owner, Support: Admin, Auditor: Admin}[r]
		for _, s := range RoleScopes(r) {
			if above != "" && !slices.Contains(RoleScopes(above), s) {
				t.Errorf("%s has %s, which %s lacks", r, s, above)
			}
		}
	}
	if !slices.Equal(RoleScopes(Owner), Scopes()) {
		t.Errorf("owner = %v, want every admin scope", RoleScopes(Owner))
	}
	if slices.ContainsFunc(RoleScopes(Auditor), func(s string) bool { return strings.HasPrefix(s, "admin:people") }) {
		t.Error("an auditor reads people's personal data")
	}
}

func TestProvesKey(t *testing.T) {
	for m, want := range map[string]bool{"private_key_jwt": true, "tls_client_auth": true, "self_signed_tls_client_auth": true,
		"client_secret_basic": false, "client_secret_post": false, "none": false, "": false} {
		if got := ProvesKey(m); got != want {
			t.Errorf("ProvesKey(%q) = %v, want %v", m, got, want)
		}
	}
}

// selfSigned returns a fresh self-signed certificate.
func selfSigned(t *testing.T) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "svc"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
