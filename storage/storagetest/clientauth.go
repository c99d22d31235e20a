package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage/storagetest/internal/fixture"

	"github.com/idvauth/idvauth/storage"
)

// testClientAuthFields: the strong-authentication metadata of a client
// (and its introspection audiences, PKCE and PAR switches) round-trips through create, get, list and update, and a secret
// rotation keeps it.
func testClientAuthFields(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := newClient("mtls")
	c.SecretHash = nil
	c.TokenEndpointAuthMethod = "tls_client_auth"
	c.TLSClientAuth = storage.TLSClientAuth{SubjectDN: "CN=backend,O=Example,C=DE"}
	c.CertificateBoundAccessTokens = true
	c.TokenEndpointAudienceAllowed = true
	c.IntrospectionAudiences = []string{"api-a", "api-b"}
	c.PKCEOptional, c.RequirePushedAuthorizationRequests, c.DPoPBoundAccessTokens, c.Profile = true, true, true, "fapi2"
	mustStoreClient(t, s, c)

	upd := c
	upd.TokenEndpointAuthMethod = "private_key_jwt"
	upd.TLSClientAuth = storage.TLSClientAuth{}
	upd.JWKS = []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`)
	upd.CertificateBoundAccessTokens = false
	upd.TokenEndpointAudienceAllowed = false
	upd.IntrospectionAudiences = []string{"api-c"}
	upd.PKCEOptional, upd.RequirePushedAuthorizationRequests, upd.DPoPBoundAccessTokens, upd.Profile = false, false, false, ""
	upd.UpdatedAt = fixture.Now().Add(time.Second)
	if err := s.UpdateClient(ctx, upd); err != nil {
		t.Fatalf("UpdateClient = %v", err)
	}
	wantClient(t, s, upd)

	for _, a := range []storage.TLSClientAuth{
		{SANDNS: "backend.example"}, {SANURI: "spiffe://example/backend"}, {SANIP: "192.0.2.7"}, {SANEmail: "ops@example.com"},
	} {
		upd.TokenEndpointAuthMethod = "tls_client_auth"
		upd.JWKS, upd.JWKSURI, upd.TLSClientAuth = nil, "", a
		if err := s.UpdateClient(ctx, upd); err != nil {
			t.Fatalf("UpdateClient(%+v) = %v", a, err)
		}
		wantClient(t, s, upd)
	}
	upd.TLSClientAuth, upd.JWKSURI = storage.TLSClientAuth{}, "https://keys.example/jwks.json"
	upd.IntrospectionAudiences = []string{}
	upd.TokenEndpointAuthMethod = "self_signed_tls_client_auth"
	if err := s.UpdateClient(ctx, upd); err != nil {
		t.Fatalf("UpdateClient = %v", err)
	}
	if err := s.SetClientSecret(ctx, c.ID, nil, upd.UpdatedAt); err != nil {
		t.Fatalf("SetClientSecret = %v", err)
	}
	list, err := s.ListClients(ctx)
	if err != nil {
		t.Fatalf("ListClients = %v", err)
	}
	if len(list) != 1 {
		t.Fatalf("ListClients = %d clients, want 1", len(list))
	}
	equalClient(t, list[0], upd)

	// Get returns a copy: changing it changes nothing stored.
	list[0].JWKS = []byte("changed")
	wantClient(t, s, upd)
}

// testUseAssertion: a client assertion is usable once per client until
// the janitor removes it after it expired.
func testUseAssertion(t *testing.T, s storage.Store) {
	ctx := context.Background()
	exp := fixture.Now().Add(time.Minute)
	jti := fixture.ID("jti")
	if err := s.UseAssertion(ctx, "client-a", jti, exp); err != nil {
		t.Fatalf("UseAssertion(first) = %v, want nil", err)
	}
	if err := s.UseAssertion(ctx, "client-a", jti, exp); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("UseAssertion(again) = %v, want ErrAlreadyExists", err)
	}
	if err := s.UseAssertion(ctx, "client-b", jti, exp); err != nil {
		t.Fatalf("UseAssertion(same jti, other client) = %v, want nil", err)
	}
	// Not yet expired: the janitor keeps it.
	if _, err := s.DeleteExpired(ctx, exp.Add(-time.Second), 100); err != nil {
		t.Fatal(err)
	}
	if err := s.UseAssertion(ctx, "client-a", jti, exp); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("UseAssertion(after early janitor) = %v, want ErrAlreadyExists", err)
	}
	n, err := s.DeleteExpired(ctx, exp.Add(time.Second), 100)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("DeleteExpired after both assertions expired = %d, want 2", n)
	}
	if err := s.UseAssertion(ctx, "client-a", jti, exp.Add(time.Hour)); err != nil {
		t.Fatalf("UseAssertion(after janitor) = %v, want nil", err)
	}
	for _, odd := range []string{"", "nul\x00byte", "\xff\xfe"} {
		_ = s.UseAssertion(ctx, odd, odd, exp) // must not panic
	}
}

func testConcurrentUseAssertionOneWins(t *testing.T, s storage.Store) {
	ctx := context.Background()
	jti := fixture.ID("jti")
	won, errs := race(racers, func(int) error {
		return s.UseAssertion(ctx, "client-race", jti, fixture.Now().Add(time.Minute))
	})
	if won != 1 {
		t.Fatalf("%d of %d concurrent uses of one assertion succeeded, want exactly 1", won, racers)
	}
	for _, err := range errs {
		if !errors.Is(err, storage.ErrAlreadyExists) {
			t.Errorf("losing UseAssertion = %v, want ErrAlreadyExists", err)
		}
	}
}
