// Package storagetest is the contract every storage backend must pass.
// A backend's test calls Run with a function that returns a fresh, empty
// store:
//
//	func TestContract(t *testing.T) {
//		storagetest.Run(t, func(t testing.TB) storage.Store { return memory.New() })
//	}
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage/storagetest/internal/fixture"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/storagetest/approvaltest"
	"github.com/idvauth/idvauth/storage/storagetest/factortest"
	"github.com/idvauth/idvauth/storage/storagetest/logouttest"
	"github.com/idvauth/idvauth/storage/storagetest/operatortest"
	"github.com/idvauth/idvauth/storage/storagetest/opsessiontest"
	"github.com/idvauth/idvauth/storage/storagetest/persontest"
	"github.com/idvauth/idvauth/storage/storagetest/usertest"
)

// Run runs the contract suite; newStore must return a fresh, empty store
// for each call (each subtest gets its own).
func Run(t *testing.T, newStore func(t testing.TB) storage.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"ClientCRUD", testClientCRUD},
		{"ClientNotFound", testClientNotFound},
		{"ClientAlreadyExists", testClientAlreadyExists},
		{"ClientOddValues", testClientOddValues},
		{"ClientWithoutSecret", testClientWithoutSecret},
		{"ClientStepUpFields", testClientStepUpFields},
		{"TokenLifecycle", testTokenLifecycle},
		{"TokenNeedsClient", testTokenNeedsClient},
		{"TokenAlreadyExists", testTokenAlreadyExists},
		{"TokenKindsAreSeparate", testTokenKindsAreSeparate},
		{"RevokeRequest", testRevokeRequest},
		{"DeleteClientDeletesTokens", testDeleteClientDeletesTokens},
		{"DeleteExpired", testDeleteExpired},
		{"TokenOddLookups", testTokenOddLookups},
		{"Keys", testKeys},
		{"KeyLifecycle", testKeyLifecycle},
		{"ConcurrentKeyStepOneWins", testConcurrentKeyStepOneWins},
		{"ConcurrentCreateOneWins", testConcurrentCreateOneWins},
		{"ConcurrentDeleteOneWins", testConcurrentDeleteOneWins},
		{"ConcurrentTokensAndDelete", testConcurrentTokensAndDelete},
		{"ConsumeToken", testConsumeToken},
		{"ConcurrentConsumeOneWins", testConcurrentConsumeOneWins},
		{"ConcurrentCreateMixed", testConcurrentCreateMixed},
		{"ClientIDTokenAlg", testClientIDTokenAlg},
		{"UserCRUD", testUserCRUD},
		{"UserNotFound", testUserNotFound},
		{"UserAlreadyExists", testUserAlreadyExists},
		{"UserOddValues", testUserOddValues},
		{"DeleteUserDeletesEverything", testDeleteUserDeletesEverything},
		{"Consents", testConsents},
		{"ConsentNeedsUserAndClient", testConsentNeedsUserAndClient},
		{"DeleteClientDeletesConsents", testDeleteClientDeletesConsents},
		{"WithdrawConsentRevokesTokens", testWithdrawConsentRevokesTokens},
		{"BrowserSessions", testBrowserSessions},
		{"DeleteExpiredSessionsAndFailures", testDeleteExpiredSessionsAndFailures},
		{"Failures", testFailures},
		{"ConcurrentFailuresCountExactly", testConcurrentFailuresCountExactly},
		{"ReserveAttempt", testReserveAttempt},
		{"ConcurrentReservationsStopAtLimit", testConcurrentReservationsStopAtLimit},
		{"ClientAuthFields", testClientAuthFields},
		{"UseAssertion", testUseAssertion},
		{"ConcurrentUseAssertionOneWins", testConcurrentUseAssertionOneWins},
		{"Ping", func(t *testing.T, s storage.Store) {
			if err := s.Ping(context.Background()); err != nil {
				t.Fatalf("Ping() = %v", err)
			}
		}},
	}
	tests = append(tests, auditTests...)
	for _, ft := range slices.Concat(factortest.Tests, persontest.Tests, usertest.Tests, logouttest.Tests, operatortest.Tests, approvaltest.Tests, opsessiontest.Tests) {
		tests = append(tests, struct {
			name string
			fn   func(t *testing.T, s storage.Store)
		}{ft.Name, ft.Fn})
	}
	tests = append(tests, apiKeyTests...)
	tests = append(tests, auditShipTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			tt.fn(t, s)
		})
	}
	// Tests whose cases each need a fresh store.
	t.Run("AuditDrop", func(t *testing.T) { testAuditDrop(t, newStore) })
}

func newClient(name string) storage.Client {
	t := fixture.Now()
	return storage.Client{
		ID:                     fixture.ID(name),
		Name:                   "Client " + name,
		SecretHash:             bytes.Repeat([]byte{7}, 32),
		GrantTypes:             []string{"client_credentials"},
		ResponseTypes:          []string{},
		RedirectURIs:           []string{},
		Scopes:                 []string{"identity.verify", "identity.read_status"},
		Audience:               []string{"idv-api", "other"},
		IntrospectionAudiences: []string{},
		DefaultACRValues:       []string{}, PostLogoutRedirectURIs: []string{},
		TokenEndpointAuthMethod: "client_secret_basic",
		AccessTokenTTL:          2 * time.Minute,
		IntrospectionAllowed:    true,
		CreatedAt:               t,
		UpdatedAt:               t,
	}
}

func mustCreateClient(t testing.TB, s storage.Store, name string) storage.Client {
	t.Helper()
	c := newClient(name)
	if err := s.CreateClient(context.Background(), c); err != nil {
		t.Fatalf("CreateClient(%s) = %v", c.ID, err)
	}
	return c
}

func newToken(clientID string, kind storage.TokenKind) storage.Token {
	t := fixture.Now()
	return storage.Token{
		Kind:      kind,
		Signature: fixture.ID("sig"),
		RequestID: fixture.ID("req"),
		ClientID:  clientID,
		Subject:   clientID,
		Scopes:    []string{"identity.verify"},
		Audience:  []string{"idv-api"},
		KeyID:     "kid-1",
		JTI:       fixture.ID("jti"),
		IssuedAt:  t,
		ExpiresAt: t.Add(5 * time.Minute),
	}
}

func mustCreateToken(t testing.TB, s storage.Store, tok storage.Token) {
	t.Helper()
	if err := s.CreateToken(context.Background(), tok); err != nil {
		t.Fatalf("CreateToken = %v", err)
	}
}

// mustStoreClient creates c and checks that it reads back as c.
func mustStoreClient(t testing.TB, s storage.Store, c storage.Client) {
	t.Helper()
	if err := s.CreateClient(context.Background(), c); err != nil {
		t.Fatalf("CreateClient(%s) = %v", c.ID, err)
	}
	wantClient(t, s, c)
}

// wantClient checks that the client with want's ID reads back as want,
// and returns what it read.
func wantClient(t testing.TB, s storage.Store, want storage.Client) storage.Client {
	t.Helper()
	got, err := s.GetClient(context.Background(), want.ID)
	if err != nil {
		t.Fatalf("GetClient(%s) = %v", want.ID, err)
	}
	equalClient(t, got, want)
	return got
}

// wantKept checks that err, the answer of a lookup of what, is nil.
func wantKept(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Errorf("%s = %v, want it kept", what, err)
	}
}

// wantEachNotFound checks that each call named in errs, made with arg,
// failed with ErrNotFound.
func wantEachNotFound(t testing.TB, arg string, errs map[string]error) {
	t.Helper()
	for name, err := range errs {
		fixture.WantNotFound(t, err, fmt.Sprintf("%s(%.20q)", name, arg))
	}
}

// equalList checks got against want, element by element with equal.
func equalList[T any](t testing.TB, what string, got, want []T, equal func(testing.TB, T, T)) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s = %d records, want %d", what, len(got), len(want))
	}
	for i := range got {
		equal(t, got[i], want[i])
	}
}

func equalClient(t testing.TB, got, want storage.Client) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("client times = %v/%v, want %v/%v", got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("client =\n%+v\nwant\n%+v", got, want)
	}
}

func equalToken(t testing.TB, got, want storage.Token) {
	t.Helper()
	if !got.IssuedAt.Equal(want.IssuedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) || !got.ConsumedAt.Equal(want.ConsumedAt) {
		t.Errorf("token times = %v/%v/%v, want %v/%v/%v", got.IssuedAt, got.ExpiresAt, got.ConsumedAt,
			want.IssuedAt, want.ExpiresAt, want.ConsumedAt)
	}
	got.IssuedAt, got.ExpiresAt, got.ConsumedAt = time.Time{}, time.Time{}, time.Time{}
	want.IssuedAt, want.ExpiresAt, want.ConsumedAt = time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("token =\n%+v\nwant\n%+v", got, want)
	}
}

func testClientCRUD(t *testing.T, s storage.Store) {
	ctx := context.Background()
	a := mustCreateClient(t, s, "a")
	b := mustCreateClient(t, s, "b")
	got := wantClient(t, s, a)
	// The store keeps its own copy.
	got.Scopes[0] = "changed"
	if again, _ := s.GetClient(ctx, a.ID); again.Scopes[0] != "identity.verify" {
		t.Error("changing a returned client changed the stored one")
	}
	list, err := s.ListClients(ctx)
	if err != nil {
		t.Fatalf("ListClients = %v", err)
	}
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	want := []string{a.ID, b.ID}
	if a.ID > b.ID {
		want = []string{b.ID, a.ID}
	}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("ListClients ids = %v, want %v", ids, want)
	}

	upd := a
	upd.Name = "renamed"
	upd.Scopes = []string{"identity.read_status"}
	upd.Audience = []string{}
	upd.AccessTokenTTL = 0
	upd.IntrospectionAllowed = false
	upd.IDTokenSignedResponseAlg = "ES256"
	upd.SecretHash = []byte("ignored by UpdateClient")
	upd.CreatedAt = fixture.Now().Add(-time.Hour)
	upd.UpdatedAt = fixture.Now().Add(time.Minute)
	if err := s.UpdateClient(ctx, upd); err != nil {
		t.Fatalf("UpdateClient = %v", err)
	}
	wantUpd := upd
	wantUpd.SecretHash = a.SecretHash
	wantUpd.CreatedAt = a.CreatedAt
	wantClient(t, s, wantUpd)

	newHash := bytes.Repeat([]byte{9}, 32)
	at := fixture.Now().Add(2 * time.Minute)
	if err := s.SetClientSecret(ctx, a.ID, newHash, at); err != nil {
		t.Fatalf("SetClientSecret = %v", err)
	}
	got, _ = s.GetClient(ctx, a.ID)
	if !bytes.Equal(got.SecretHash, newHash) || !got.UpdatedAt.Equal(at) || got.Name != "renamed" {
		t.Errorf("after SetClientSecret: hash %x updated %v name %q", got.SecretHash, got.UpdatedAt, got.Name)
	}

	if err := s.DeleteClient(ctx, a.ID); err != nil {
		t.Fatalf("DeleteClient = %v", err)
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetClient(ctx, a.ID)), "GetClient after delete")
	if list, _ := s.ListClients(ctx); len(list) != 1 || list[0].ID != b.ID {
		t.Errorf("ListClients after delete = %d clients", len(list))
	}
}

func testClientNotFound(t *testing.T, s storage.Store) {
	ctx := context.Background()
	missing := newClient("missing")
	wantEachNotFound(t, missing.ID, map[string]error{
		"GetClient":       fixture.ErrOf(s.GetClient(ctx, missing.ID)),
		"UpdateClient":    s.UpdateClient(ctx, missing),
		"SetClientSecret": s.SetClientSecret(ctx, missing.ID, []byte("x"), fixture.Now()),
		"DeleteClient":    s.DeleteClient(ctx, missing.ID),
	})
	if list, err := s.ListClients(ctx); err != nil || len(list) != 0 {
		t.Errorf("ListClients on an empty store = %d, %v", len(list), err)
	}
}

func testClientAlreadyExists(t *testing.T, s storage.Store) {
	ctx := context.Background()
	a := mustCreateClient(t, s, "a")
	dup := newClient("dup")
	dup.ID = a.ID
	if err := s.CreateClient(ctx, dup); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("CreateClient(duplicate) = %v, want ErrAlreadyExists", err)
	}
	wantClient(t, s, a)
}

// testClientOddValues: values a caller might pass that a backend could
// choke on are not found, never another error.
func testClientOddValues(t *testing.T, s storage.Store) {
	ctx := context.Background()
	for _, v := range []string{"", "a\x00b", "\xff\xfe", string(make([]byte, 10000)), "' OR 1=1 --", "%", "_"} {
		wantEachNotFound(t, v, map[string]error{
			"GetClient":    fixture.ErrOf(s.GetClient(ctx, v)),
			"DeleteClient": s.DeleteClient(ctx, v),
		})
	}
	// Unicode names survive.
	c := newClient("unicode")
	c.Name = "Vérification d'identité — 身份"
	mustStoreClient(t, s, c)
}

func testTokenLifecycle(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := mustCreateClient(t, s, "c")
	tok := newToken(c.ID, storage.AccessToken)
	mustCreateToken(t, s, tok)
	got, err := s.GetToken(ctx, storage.AccessToken, tok.Signature)
	if err != nil {
		t.Fatalf("GetToken = %v", err)
	}
	equalToken(t, got, tok)
	got.Scopes[0] = "changed"
	if again, _ := s.GetToken(ctx, storage.AccessToken, tok.Signature); again.Scopes[0] != "identity.verify" {
		t.Error("changing a returned token changed the stored one")
	}
	// An expired token is still returned: the caller decides.
	old := newToken(c.ID, storage.AccessToken)
	old.ExpiresAt = fixture.Now().Add(-time.Hour)
	mustCreateToken(t, s, old)
	wantKept(t, fixture.ErrOf(s.GetToken(ctx, storage.AccessToken, old.Signature)), "GetToken(expired)")
	if err := s.DeleteToken(ctx, storage.AccessToken, tok.Signature); err != nil {
		t.Fatalf("DeleteToken = %v", err)
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetToken(ctx, storage.AccessToken, tok.Signature)), "GetToken after delete")
	fixture.WantNotFound(t, s.DeleteToken(ctx, storage.AccessToken, tok.Signature), "DeleteToken twice")
}

func testTokenNeedsClient(t *testing.T, s storage.Store) {
	ctx := context.Background()
	tok := newToken(fixture.ID("ghost"), storage.AccessToken)
	if err := s.CreateToken(ctx, tok); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("CreateToken for a missing client = %v, want ErrNotFound", err)
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetToken(ctx, storage.AccessToken, tok.Signature)), "GetToken(refused token)")
}

func testTokenAlreadyExists(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := mustCreateClient(t, s, "c")
	tok := newToken(c.ID, storage.AccessToken)
	mustCreateToken(t, s, tok)
	dup := newToken(c.ID, storage.AccessToken)
	dup.Signature = tok.Signature
	if err := s.CreateToken(ctx, dup); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("CreateToken(duplicate signature) = %v, want ErrAlreadyExists", err)
	}
	got, _ := s.GetToken(ctx, storage.AccessToken, tok.Signature)
	equalToken(t, got, tok)
}

func testTokenKindsAreSeparate(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := mustCreateClient(t, s, "c")
	at := newToken(c.ID, storage.AccessToken)
	rt := newToken(c.ID, storage.RefreshToken)
	rt.Signature = at.Signature
	rt.RequestID = at.RequestID
	mustCreateToken(t, s, at)
	mustCreateToken(t, s, rt)
	if err := s.RevokeRequest(ctx, storage.RefreshToken, at.RequestID); err != nil {
		t.Fatal(err)
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetToken(ctx, storage.RefreshToken, rt.Signature)), "refresh token after RevokeRequest(refresh)")
	wantKept(t, fixture.ErrOf(s.GetToken(ctx, storage.AccessToken, at.Signature)), "access token after RevokeRequest(refresh)")
}

func testRevokeRequest(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := mustCreateClient(t, s, "c")
	a1 := newToken(c.ID, storage.AccessToken)
	a2 := newToken(c.ID, storage.AccessToken)
	a2.RequestID = a1.RequestID
	other := newToken(c.ID, storage.AccessToken)
	for _, tok := range []storage.Token{a1, a2, other} {
		mustCreateToken(t, s, tok)
	}
	if err := s.RevokeRequest(ctx, storage.AccessToken, a1.RequestID); err != nil {
		t.Fatalf("RevokeRequest = %v", err)
	}
	for _, tok := range []storage.Token{a1, a2} {
		fixture.WantNotFound(t, fixture.ErrOf(s.GetToken(ctx, storage.AccessToken, tok.Signature)), "token of the revoked request")
	}
	wantKept(t, fixture.ErrOf(s.GetToken(ctx, storage.AccessToken, other.Signature)), "token of another request")
	if err := s.RevokeRequest(ctx, storage.AccessToken, fixture.ID("none")); err != nil {
		t.Errorf("RevokeRequest(unknown) = %v, want nil", err)
	}
}

func testDeleteClientDeletesTokens(t *testing.T, s storage.Store) {
	ctx := context.Background()
	a := mustCreateClient(t, s, "a")
	b := mustCreateClient(t, s, "b")
	ta := newToken(a.ID, storage.AccessToken)
	tb := newToken(b.ID, storage.AccessToken)
	mustCreateToken(t, s, ta)
	mustCreateToken(t, s, tb)
	if err := s.DeleteClient(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetToken(ctx, storage.AccessToken, ta.Signature)), "token of a deleted client")
	wantKept(t, fixture.ErrOf(s.GetToken(ctx, storage.AccessToken, tb.Signature)), "token of another client")
}

func testDeleteExpired(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := mustCreateClient(t, s, "c")
	var expired []storage.Token
	for i := 0; i < 5; i++ {
		tok := newToken(c.ID, storage.AccessToken)
		tok.ExpiresAt = fixture.Now().Add(-time.Duration(i+1) * time.Minute)
		expired = append(expired, tok)
		mustCreateToken(t, s, tok)
	}
	live := newToken(c.ID, storage.AccessToken)
	mustCreateToken(t, s, live)
	n, err := s.DeleteExpired(ctx, fixture.Now(), 3)
	if err != nil || n != 3 {
		t.Fatalf("DeleteExpired(limit 3) = %d, %v, want 3", n, err)
	}
	n, err = s.DeleteExpired(ctx, fixture.Now(), 100)
	if err != nil || n != 2 {
		t.Fatalf("second DeleteExpired = %d, %v, want the 2 left", n, err)
	}
	for _, tok := range expired {
		fixture.WantNotFound(t, fixture.ErrOf(s.GetToken(ctx, storage.AccessToken, tok.Signature)), "expired token")
	}
	wantKept(t, fixture.ErrOf(s.GetToken(ctx, storage.AccessToken, live.Signature)), "live token")
	if n, _ := s.DeleteExpired(ctx, fixture.Now(), 100); n != 0 {
		t.Errorf("third DeleteExpired = %d, want 0", n)
	}
}

func testTokenOddLookups(t *testing.T, s storage.Store) {
	ctx := context.Background()
	for _, v := range []string{"", "a\x00b", "\xff\xfe", string(make([]byte, 20000)), "' OR 1=1 --"} {
		wantEachNotFound(t, v, map[string]error{
			"GetToken":    fixture.ErrOf(s.GetToken(ctx, storage.AccessToken, v)),
			"DeleteToken": s.DeleteToken(ctx, storage.AccessToken, v),
		})
		if err := s.RevokeRequest(ctx, storage.AccessToken, v); err != nil {
			t.Errorf("RevokeRequest(%.20q) = %v, want nil", v, err)
		}
	}
}

func testKeys(t *testing.T, s storage.Store) {
	ctx := context.Background()
	if keys, err := s.ListKeys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("ListKeys on an empty store = %d, %v", len(keys), err)
	}
	base := fixture.Now()
	k1 := storage.Key{ID: fixture.ID("k1"), Alg: "ES256", State: "active", Sealed: []byte{1, 2, 3}, PublicJWK: []byte(`{"kty":"EC"}`), CreatedAt: base, ActivatedAt: base}
	k2 := storage.Key{ID: fixture.ID("k2"), Alg: "RS256", State: "next", Sealed: []byte{4}, PublicJWK: []byte(`{"kty":"RSA"}`), CreatedAt: base.Add(time.Second)}
	for _, k := range []storage.Key{k2, k1} {
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatalf("CreateKey = %v", err)
		}
	}
	if err := s.CreateKey(ctx, k1); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Errorf("CreateKey(duplicate) = %v, want ErrAlreadyExists", err)
	}
	keys, err := s.ListKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("ListKeys = %d, %v", len(keys), err)
	}
	for i, want := range []storage.Key{k1, k2} {
		got := keys[i]
		if got.ID != want.ID || got.Alg != want.Alg || got.State != want.State || !bytes.Equal(got.Sealed, want.Sealed) ||
			!got.CreatedAt.Equal(want.CreatedAt) || !got.ActivatedAt.Equal(want.ActivatedAt) || !got.RetiredAt.IsZero() {
			t.Errorf("key %d = %+v, want %+v", i, got, want)
		}
		if !jsonEqual(got.PublicJWK, want.PublicJWK) {
			t.Errorf("key %d public JWK = %s, want %s", i, got.PublicJWK, want.PublicJWK)
		}
	}
}

func jsonEqual(a, b []byte) bool {
	return bytes.Equal(bytes.ReplaceAll(a, []byte(" "), nil), bytes.ReplaceAll(b, []byte(" "), nil))
}

// race runs fn in n goroutines at once and returns how many succeeded and
// the errors of the others.
func race(n int, fn func(i int) error) (int, []error) {
	var wg sync.WaitGroup
	var ok atomic.Int32
	var mu sync.Mutex
	var errs []error
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := fn(i); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			ok.Add(1)
		}()
	}
	close(start)
	wg.Wait()
	return int(ok.Load()), errs
}

const racers = 16

func testConcurrentCreateOneWins(t *testing.T, s storage.Store) {
	ctx := context.Background()
	cid := fixture.ID("contended")
	won, errs := race(racers, func(i int) error {
		c := newClient(fmt.Sprint(i))
		c.ID = cid
		return s.CreateClient(ctx, c)
	})
	if won != 1 {
		t.Fatalf("%d concurrent creates of one client succeeded, want exactly 1", won)
	}
	for _, err := range errs {
		if !errors.Is(err, storage.ErrAlreadyExists) {
			t.Errorf("losing create = %v, want ErrAlreadyExists", err)
		}
	}
	c := mustCreateClient(t, s, "tok")
	sig := fixture.ID("sig")
	won, errs = race(racers, func(i int) error {
		tok := newToken(c.ID, storage.AccessToken)
		tok.Signature = sig
		return s.CreateToken(ctx, tok)
	})
	if won != 1 {
		t.Fatalf("%d concurrent creates of one token succeeded, want exactly 1", won)
	}
	for _, err := range errs {
		if !errors.Is(err, storage.ErrAlreadyExists) {
			t.Errorf("losing token create = %v, want ErrAlreadyExists", err)
		}
	}
}

func testConcurrentDeleteOneWins(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := mustCreateClient(t, s, "c")
	tok := newToken(c.ID, storage.AccessToken)
	mustCreateToken(t, s, tok)
	won, errs := race(racers, func(int) error { return s.DeleteToken(ctx, storage.AccessToken, tok.Signature) })
	if won != 1 {
		t.Fatalf("%d concurrent deletes of one token succeeded, want exactly 1", won)
	}
	for _, err := range errs {
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("losing delete = %v, want ErrNotFound", err)
		}
	}
	won, _ = race(racers, func(int) error { return s.DeleteClient(ctx, c.ID) })
	if won != 1 {
		t.Fatalf("%d concurrent deletes of one client succeeded, want exactly 1", won)
	}
}

// testConcurrentTokensAndDelete: tokens created while their client is
// deleted either fail or are deleted with it; none outlives the client.
func testConcurrentTokensAndDelete(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := mustCreateClient(t, s, "c")
	var mu sync.Mutex
	var created []storage.Token
	_, _ = race(racers, func(i int) error {
		if i == racers/2 {
			return s.DeleteClient(ctx, c.ID)
		}
		tok := newToken(c.ID, storage.AccessToken)
		err := s.CreateToken(ctx, tok)
		if err == nil {
			mu.Lock()
			created = append(created, tok)
			mu.Unlock()
		} else if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("CreateToken racing DeleteClient = %v, want nil or ErrNotFound", err)
		}
		return err
	})
	for _, tok := range created {
		fixture.WantNotFound(t, fixture.ErrOf(s.GetToken(ctx, storage.AccessToken, tok.Signature)), "token created racing its client's deletion")
	}
}

func testConsumeToken(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := mustCreateClient(t, s, "c")
	code := newToken(c.ID, storage.AuthorizeCode)
	code.Session = []byte("{\"redirect_uri\":\"https://app.example/cb\"}\x00\xff")
	mustCreateToken(t, s, code)
	pkce := newToken(c.ID, storage.PKCE)
	pkce.Signature, pkce.RequestID = code.Signature, code.RequestID
	mustCreateToken(t, s, pkce)

	got, err := s.GetToken(ctx, storage.AuthorizeCode, code.Signature)
	if err != nil {
		t.Fatalf("GetToken = %v", err)
	}
	equalToken(t, got, code)

	at := fixture.Now().Add(3 * time.Second)
	got, err = s.ConsumeToken(ctx, storage.AuthorizeCode, code.Signature, at)
	if err != nil {
		t.Fatalf("ConsumeToken = %v", err)
	}
	want := code
	want.ConsumedAt = at
	equalToken(t, got, want)
	if got, _ = s.GetToken(ctx, storage.AuthorizeCode, code.Signature); !got.ConsumedAt.Equal(at) {
		t.Errorf("GetToken after consume: ConsumedAt = %v, want %v", got.ConsumedAt, at)
	}
	got, err = s.ConsumeToken(ctx, storage.AuthorizeCode, code.Signature, at.Add(time.Second))
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("second ConsumeToken = %v, want ErrConflict", err)
	}
	// The loser learns what the first use was, to revoke what it issued.
	equalToken(t, got, want)

	// Kinds are separate: the PKCE record under the same signature is
	// still usable.
	if got, err := s.ConsumeToken(ctx, storage.PKCE, pkce.Signature, at); err != nil || got.RequestID != code.RequestID {
		t.Errorf("ConsumeToken(PKCE) = %+v, %v; want the unused record", got, err)
	}
	for _, v := range []string{fixture.ID("missing"), "", "a\x00b", "\xff\xfe", string(make([]byte, 20000))} {
		if _, err := s.ConsumeToken(ctx, storage.AuthorizeCode, v, at); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("ConsumeToken(%.20q) = %v, want ErrNotFound", v, err)
		}
	}
	// An access token record without a session reads back without one.
	acc := newToken(c.ID, storage.AccessToken)
	mustCreateToken(t, s, acc)
	if got, err := s.GetToken(ctx, storage.AccessToken, acc.Signature); err != nil || got.Session != nil || !got.ConsumedAt.IsZero() {
		t.Errorf("GetToken(access) = %+v, %v; want no session, not consumed", got, err)
	}
}

// testConcurrentConsumeOneWins is the code redemption and refresh token
// rotation race: of many concurrent uses of one record, exactly one wins.
func testConcurrentConsumeOneWins(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := mustCreateClient(t, s, "c")
	for _, kind := range []storage.TokenKind{storage.AuthorizeCode, storage.RefreshToken} {
		for round := 0; round < 5; round++ {
			tok := newToken(c.ID, kind)
			mustCreateToken(t, s, tok)
			won, errs := race(racers, func(int) error {
				_, err := s.ConsumeToken(ctx, kind, tok.Signature, fixture.Now())
				return err
			})
			if won != 1 {
				t.Fatalf("%d concurrent uses of one %s succeeded, want exactly 1", won, kind)
			}
			for _, err := range errs {
				if !errors.Is(err, storage.ErrConflict) {
					t.Errorf("losing use of %s = %v, want ErrConflict", kind, err)
				}
			}
		}
	}
}

// testConcurrentCreateMixed creates many tokens at once, some of them
// duplicates and some for a client that does not exist, with values that
// need quoting: each call gets its own answer and each stored record
// reads back exactly (a backend that groups inserts must still do this).
func testConcurrentCreateMixed(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := mustCreateClient(t, s, "c")
	odd := []string{`a,b`, `{x}`, `"q"`, `back\slash`, `NULL`, ` spaced `, "", "ünïcødé", `'; DROP TABLE tokens; --`}
	dup := fixture.ID("dup")
	const n = 64
	toks := make([]storage.Token, n)
	for i := range toks {
		toks[i] = newToken(c.ID, storage.AccessToken)
		toks[i].Scopes = []string{odd[i%len(odd)], fmt.Sprint(i)}
		toks[i].Audience = odd[:i%len(odd)]
		if i%len(odd) == 0 {
			toks[i].Audience = nil
		}
		switch i % 8 {
		case 3:
			toks[i].Signature = dup
		case 5:
			toks[i].ClientID = fixture.ID("ghost")
		}
	}
	errs := make([]error, n)
	race(n, func(i int) error {
		errs[i] = s.CreateToken(ctx, toks[i])
		return errs[i]
	})
	dupWins := 0
	for i, tok := range toks {
		switch {
		case i%8 == 5:
			if !errors.Is(errs[i], storage.ErrNotFound) {
				t.Errorf("token %d for a missing client: CreateToken = %v, want ErrNotFound", i, errs[i])
			}
		case i%8 == 3 && errs[i] != nil:
			if !errors.Is(errs[i], storage.ErrAlreadyExists) {
				t.Errorf("token %d with a taken signature: CreateToken = %v, want ErrAlreadyExists", i, errs[i])
			}
		case errs[i] != nil:
			t.Errorf("token %d: CreateToken = %v", i, errs[i])
		default:
			if i%8 == 3 {
				dupWins++
			}
			got, err := s.GetToken(ctx, storage.AccessToken, tok.Signature)
			if err != nil {
				t.Errorf("token %d: GetToken = %v", i, err)
				continue
			}
			if tok.Audience == nil {
				tok.Audience = []string{}
			}
			if len(got.Audience) == 0 {
				got.Audience = []string{}
			}
			equalToken(t, got, tok)
		}
	}
	if dupWins != 1 {
		t.Errorf("%d creates of one signature succeeded, want exactly 1", dupWins)
	}
}

// testClientWithoutSecret: a public client has no secret and may leave
// every list empty.
func testClientWithoutSecret(t *testing.T, s storage.Store) {
	ctx := context.Background()
	at := fixture.Now()
	c := storage.Client{ID: fixture.ID("public"), Name: "public", TokenEndpointAuthMethod: "none", CreatedAt: at, UpdatedAt: at}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatalf("CreateClient(no secret, no lists) = %v", err)
	}
	got, err := s.GetClient(ctx, c.ID)
	if err != nil {
		t.Fatalf("GetClient = %v", err)
	}
	if len(got.SecretHash) != 0 || len(got.GrantTypes)+len(got.ResponseTypes)+len(got.RedirectURIs)+len(got.Scopes)+len(got.Audience) != 0 ||
		got.TokenEndpointAuthMethod != "none" {
		t.Errorf("GetClient = %+v, want no secret and empty lists", got)
	}
	if err := s.SetClientSecret(ctx, c.ID, []byte("digest"), at); err != nil {
		t.Fatalf("SetClientSecret = %v", err)
	}
	if err := s.SetClientSecret(ctx, c.ID, nil, at); err != nil {
		t.Fatalf("SetClientSecret(nil) = %v", err)
	}
	if got, _ := s.GetClient(ctx, c.ID); len(got.SecretHash) != 0 {
		t.Errorf("secret after clearing it = %x, want none", got.SecretHash)
	}
}

func newKey(alg, state string, at time.Time) storage.Key {
	return storage.Key{ID: fixture.ID("kid"), Alg: alg, State: state, Sealed: []byte("sealed"), PublicJWK: []byte(`{"kty":"EC"}`), CreatedAt: at}
}

func keyByID(t testing.TB, s storage.Store, kid string) storage.Key {
	t.Helper()
	keys, err := s.ListKeys(context.Background())
	if err != nil {
		t.Fatalf("ListKeys = %v", err)
	}
	for _, k := range keys {
		if k.ID == kid {
			return k
		}
	}
	t.Fatalf("key %s not listed", kid)
	return storage.Key{}
}

func testKeyLifecycle(t *testing.T, s storage.Store) {
	t0 := fixture.Now()
	active, next := createKeysOnePerState(t, s, t0)
	t1 := t0.Add(time.Hour)
	promoteKeys(t, s, active, next, t0, t1)
	extra := refuseSecondActiveKey(t, s, t1)
	t2 := t1.Add(time.Hour)
	removeKeys(t, s, active, extra, t1, t2)
	resealKey(t, s, next, t2)
}

// createKeysOnePerState creates an active and a next ES256 key at t0,
// and checks that there is at most one next and one active key per
// algorithm, other algorithms apart.
func createKeysOnePerState(t *testing.T, s storage.Store, t0 time.Time) (active, next storage.Key) {
	ctx := context.Background()
	active = newKey("ES256", storage.KeyActive, t0)
	active.ActivatedAt = t0
	next = newKey("ES256", storage.KeyNext, t0.Add(time.Second))
	for _, k := range []storage.Key{active, next} {
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatalf("CreateKey(%s) = %v", k.State, err)
		}
	}
	for _, state := range []string{storage.KeyNext, storage.KeyActive} {
		if err := s.CreateKey(ctx, newKey("ES256", state, t0)); !errors.Is(err, storage.ErrAlreadyExists) {
			t.Errorf("CreateKey(second %s ES256) = %v, want ErrAlreadyExists", state, err)
		}
		if err := s.CreateKey(ctx, newKey("RS256", state, t0)); err != nil {
			t.Errorf("CreateKey(%s RS256) = %v", state, err)
		}
	}
	if err := s.CreateKey(ctx, newKey("ES256", storage.KeyRetired, t0)); err != nil {
		t.Errorf("CreateKey(retired ES256) = %v; retired keys are not limited", err)
	}
	return active, next
}

// promoteKeys retires active and activates next together at t1, then
// checks that the same step again, or a step with a missing key, changes
// nothing.
func promoteKeys(t *testing.T, s storage.Store, active, next storage.Key, t0, t1 time.Time) {
	ctx := context.Background()
	promote := []storage.KeyChange{{ID: active.ID, From: storage.KeyActive, To: storage.KeyRetired}, {ID: next.ID, From: storage.KeyNext, To: storage.KeyActive}}
	if err := s.UpdateKeys(ctx, t1, promote...); err != nil {
		t.Fatalf("UpdateKeys(promote) = %v", err)
	}
	if k := keyByID(t, s, active.ID); k.State != storage.KeyRetired || !k.RetiredAt.Equal(t1) || !k.ActivatedAt.Equal(t0) {
		t.Errorf("old active key = %s retired %v activated %v, want retired at %v", k.State, k.RetiredAt, k.ActivatedAt, t1)
	}
	if k := keyByID(t, s, next.ID); k.State != storage.KeyActive || !k.ActivatedAt.Equal(t1) || !k.RetiredAt.IsZero() {
		t.Errorf("new active key = %s activated %v, want active at %v", k.State, k.ActivatedAt, t1)
	}
	// The same step again finds the states changed: nothing happens.
	if err := s.UpdateKeys(ctx, t1.Add(time.Minute), promote...); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("UpdateKeys(promote again) = %v, want ErrConflict", err)
	}
	if k := keyByID(t, s, active.ID); !k.RetiredAt.Equal(t1) {
		t.Errorf("a refused step changed RetiredAt to %v", k.RetiredAt)
	}
	// All or none: a valid change followed by a refused one changes nothing.
	err := s.UpdateKeys(ctx, t1, storage.KeyChange{ID: active.ID, From: storage.KeyRetired, To: storage.KeyRemoved},
		storage.KeyChange{ID: fixture.ID("missing"), From: storage.KeyNext, To: storage.KeyActive})
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("UpdateKeys(with a missing key) = %v, want ErrNotFound", err)
	}
	if k := keyByID(t, s, active.ID); k.State != storage.KeyRetired {
		t.Errorf("a refused UpdateKeys left the key %s, want retired", k.State)
	}
}

// refuseSecondActiveKey creates a next ES256 key and checks that it
// cannot become a second active one; it returns the key.
func refuseSecondActiveKey(t *testing.T, s storage.Store, t1 time.Time) storage.Key {
	ctx := context.Background()
	extra := newKey("ES256", storage.KeyNext, t1)
	if err := s.CreateKey(ctx, extra); err != nil {
		t.Fatalf("CreateKey(next) = %v", err)
	}
	if err := s.UpdateKeys(ctx, t1, storage.KeyChange{ID: extra.ID, From: storage.KeyNext, To: storage.KeyActive}); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Errorf("UpdateKeys(second active) = %v, want ErrAlreadyExists", err)
	}
	if k := keyByID(t, s, extra.ID); k.State != storage.KeyNext {
		t.Errorf("refused activation left the key %s", k.State)
	}
	return extra
}

// removeKeys removes retired, retired at t1, and next at t2: removal
// keeps the records, with their retirement time.
func removeKeys(t *testing.T, s storage.Store, retired, next storage.Key, t1, t2 time.Time) {
	if err := s.UpdateKeys(context.Background(), t2, storage.KeyChange{ID: retired.ID, From: storage.KeyRetired, To: storage.KeyRemoved},
		storage.KeyChange{ID: next.ID, From: storage.KeyNext, To: storage.KeyRemoved}); err != nil {
		t.Fatalf("UpdateKeys(remove) = %v", err)
	}
	if k := keyByID(t, s, retired.ID); k.State != storage.KeyRemoved || !k.RetiredAt.Equal(t1) {
		t.Errorf("removed key = %s retired %v, want removed, retired at %v", k.State, k.RetiredAt, t1)
	}
	if k := keyByID(t, s, next.ID); k.State != storage.KeyRemoved || !k.RetiredAt.Equal(t2) {
		t.Errorf("removed next key = %s retired %v, want removed at %v", k.State, k.RetiredAt, t2)
	}
}

// resealKey checks that re-encryption replaces the sealed part of active
// only, and that keys that are not there are not found.
func resealKey(t *testing.T, s storage.Store, active storage.Key, at time.Time) {
	ctx := context.Background()
	if err := s.SetKeySealed(ctx, active.ID, []byte("resealed")); err != nil {
		t.Fatalf("SetKeySealed = %v", err)
	}
	if k := keyByID(t, s, active.ID); string(k.Sealed) != "resealed" || k.State != storage.KeyActive {
		t.Errorf("after SetKeySealed: sealed %q state %s", k.Sealed, k.State)
	}
	for _, v := range []string{fixture.ID("missing"), "a\x00b", "\xff"} {
		wantEachNotFound(t, v, map[string]error{
			"SetKeySealed": s.SetKeySealed(ctx, v, []byte("x")),
			"UpdateKeys":   s.UpdateKeys(ctx, at, storage.KeyChange{ID: v, From: storage.KeyNext, To: storage.KeyActive}),
		})
	}
}

// testConcurrentKeyStepOneWins: replicas that try the same rotation step
// at once (publish a next key; promote it) succeed exactly once.
func testConcurrentKeyStepOneWins(t *testing.T, s storage.Store) {
	ctx := context.Background()
	t0 := fixture.Now()
	active := newKey("ES256", storage.KeyActive, t0)
	active.ActivatedAt = t0
	if err := s.CreateKey(ctx, active); err != nil {
		t.Fatal(err)
	}
	nexts := make([]storage.Key, racers)
	won, errs := race(racers, func(i int) error {
		nexts[i] = newKey("ES256", storage.KeyNext, t0)
		return s.CreateKey(ctx, nexts[i])
	})
	if won != 1 {
		t.Fatalf("%d replicas published a next key, want exactly 1", won)
	}
	for _, err := range errs {
		if !errors.Is(err, storage.ErrAlreadyExists) {
			t.Errorf("losing publish = %v, want ErrAlreadyExists", err)
		}
	}
	keys, _ := s.ListKeys(ctx)
	var next storage.Key
	for _, k := range keys {
		if k.State == storage.KeyNext {
			next = k
		}
	}
	won, errs = race(racers, func(int) error {
		return s.UpdateKeys(ctx, t0.Add(time.Hour), storage.KeyChange{ID: active.ID, From: storage.KeyActive, To: storage.KeyRetired},
			storage.KeyChange{ID: next.ID, From: storage.KeyNext, To: storage.KeyActive})
	})
	if won != 1 {
		t.Fatalf("%d replicas promoted the next key, want exactly 1", won)
	}
	for _, err := range errs {
		if !errors.Is(err, storage.ErrConflict) {
			t.Errorf("losing promotion = %v, want ErrConflict", err)
		}
	}
}
