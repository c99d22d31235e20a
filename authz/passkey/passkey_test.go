package passkey_test

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz/passkey"
	"github.com/idvauth/idvauth/authz/passkey/passkeytest"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
)

func TestRelyingParty(t *testing.T) {
	for _, tc := range []struct {
		issuer, id, origin string
		err                error
	}{
		{"https://id.example.com", "id.example.com", "https://id.example.com", nil},
		{"https://id.example.com:8443/tenant", "id.example.com", "https://id.example.com:8443", nil},
		{"http://localhost:8080", "localhost", "http://localhost:8080", nil},
		{"http://127.0.0.1:8080", "", "", passkey.ErrUnavailable},
		{"https://[::1]:8443", "", "", passkey.ErrUnavailable},
	} {
		id, origin, err := passkey.RelyingParty(tc.issuer)
		if id != tc.id || origin != tc.origin || !errors.Is(err, tc.err) {
			t.Errorf("RelyingParty(%q) = %q, %q, %v; want %q, %q, %v", tc.issuer, id, origin, err, tc.id, tc.origin, tc.err)
		}
	}
	for _, bad := range []string{"", "localhost", "ftp://example.com", "https://"} {
		if _, _, err := passkey.RelyingParty(bad); err == nil {
			t.Errorf("RelyingParty(%q) = nil error", bad)
		}
	}
}

// fixture is a relying party on a memory store with one person, a clock
// the test moves, and a software authenticator.
type fixture struct {
	rp    *passkey.RP
	store *memory.Store
	user  storage.User
	auth  *passkeytest.Authenticator
	now   time.Time
}

const binding = "csrf-token-of-the-browser-0123456789abcdefg"

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sealer, err := keys.NewSealer([]string{strings.Repeat("s", 40)}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: memory.New(), now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC),
		auth: &passkeytest.Authenticator{Origin: "https://id.example.com"}}
	f.user = storage.User{ID: "u1", Username: "ada", PasswordHash: "x", CreatedAt: f.now, UpdatedAt: f.now}
	if err := f.store.CreateUser(context.Background(), f.user); err != nil {
		t.Fatal(err)
	}
	f.rp, err = passkey.New(passkey.Config{Issuer: "https://id.example.com", Store: f.store, Sealer: sealer, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// register adds a passkey for the person through a ceremony.
func (f *fixture) register(t *testing.T) storage.Passkey {
	t.Helper()
	ctx := context.Background()
	ps, _ := f.store.ListPasskeys(ctx, f.user.ID)
	b, err := f.rp.BeginRegistration(f.user.ID, f.user.Username, ps, binding)
	if err != nil {
		t.Fatal(err)
	}
	body, err := f.auth.Create(b.Options)
	if err != nil {
		t.Fatal(err)
	}
	pk, amr, err := f.rp.FinishRegistration(ctx, b.State, binding, f.user.ID, "Laptop", body)
	if err != nil {
		t.Fatalf("FinishRegistration = %v", err)
	}
	if !slices.Equal(amr, []string{"hwk", "mfa"}) || pk.UserID != f.user.ID || len(pk.UserHandle) != 32 || strings.Contains(string(pk.Credential), "ada") {
		t.Fatalf("registered %+v with amr %q", pk, amr)
	}
	if err := f.store.CreatePasskey(ctx, pk); err != nil {
		t.Fatal(err)
	}
	return pk
}

// login runs a sign-in ceremony of kind (for userID, if set) up to the
// posted assertion, and returns its state and parsed assertion.
func (f *fixture) login(t *testing.T, userID string) (passkey.Begun, *passkey.Assertion, storage.Passkey) {
	t.Helper()
	ps, _ := f.store.ListPasskeys(context.Background(), f.user.ID)
	b, err := f.rp.BeginLogin(userID, ps, binding)
	if err != nil {
		t.Fatal(err)
	}
	body, err := f.auth.Get(b.Options)
	if err != nil {
		t.Fatal(err)
	}
	a, err := passkey.ParseAssertion(body)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := f.store.GetPasskey(context.Background(), a.CredentialID())
	if err != nil {
		t.Fatal(err)
	}
	return b, a, pk
}

// TestCeremonies: a passkey registers and signs in, alone and as a second
// step, with the counter moving forward; a state is used once, only for
// its browser, its kind and its person, and only within StateTTL; a
// counter that goes back is refused as a clone and changes nothing.
func TestCeremonies(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.register(t)

	b, a, pk := f.login(t, "")
	res, err := f.rp.FinishLogin(ctx, b.State, binding, passkey.KindLogin, a, pk)
	if err != nil || res.Passkey.SignCount != 1 || !slices.Equal(res.AMR, []string{"hwk", "mfa"}) {
		t.Fatalf("FinishLogin = %+v, %v; want counter 1, hwk mfa", res, err)
	}
	if _, err := f.rp.FinishLogin(ctx, b.State, binding, passkey.KindLogin, a, pk); !errors.Is(err, passkey.ErrState) {
		t.Errorf("FinishLogin(replayed) = %v, want ErrState", err)
	}

	for name, tc := range map[string]struct {
		binding, kind, user string
		after               time.Duration
		want                error
	}{
		"another browser":     {binding: "another", kind: passkey.KindLogin, want: passkey.ErrState},
		"another endpoint":    {binding: binding, kind: passkey.KindRegister, want: passkey.ErrState},
		"expired":             {binding: binding, kind: passkey.KindLogin, after: passkey.StateTTL, want: passkey.ErrState},
		"second step":         {binding: binding, kind: passkey.KindSecond, user: f.user.ID},
		"someone else's":      {binding: binding, kind: passkey.KindSecond, user: "u2", want: passkey.ErrRefused},
		"just within the ttl": {binding: binding, kind: passkey.KindLogin, after: passkey.StateTTL - time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			b, a, pk := f.login(t, tc.user)
			f.now = f.now.Add(tc.after)
			_, err := f.rp.FinishLogin(ctx, b.State, tc.binding, tc.kind, a, pk)
			if !errors.Is(err, tc.want) {
				t.Errorf("FinishLogin = %v, want %v", err, tc.want)
			}
		})
	}

	// A clone: the authenticator's counter behind the stored one.
	before, _ := f.store.ListPasskeys(ctx, f.user.ID)
	f.auth.SetCounters(0)
	b, a, pk = f.login(t, "")
	if _, err := f.rp.FinishLogin(ctx, b.State, binding, passkey.KindLogin, a, pk); !errors.Is(err, passkey.ErrCloned) {
		t.Errorf("FinishLogin(counter went back) = %v, want ErrCloned", err)
	}
	if after, _ := f.store.ListPasskeys(ctx, f.user.ID); after[0].SignCount != before[0].SignCount || !after[0].LastUsedAt.Equal(before[0].LastUsedAt) {
		t.Errorf("a refused clone changed the passkey: %+v, was %+v", after[0], before[0])
	}
}

// TestRegistrationRefusals: a registration response for another person,
// of a used state, or that is not one, is refused.
func TestRegistrationRefusals(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	b, err := f.rp.BeginRegistration(f.user.ID, f.user.Username, nil, binding)
	if err != nil {
		t.Fatal(err)
	}
	body, err := f.auth.Create(b.Options)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.rp.FinishRegistration(ctx, b.State, binding, "u2", "x", body); !errors.Is(err, passkey.ErrState) {
		t.Errorf("FinishRegistration(another person) = %v, want ErrState", err)
	}
	if _, _, err := f.rp.FinishRegistration(ctx, b.State, binding, f.user.ID, "x", body); !errors.Is(err, passkey.ErrState) {
		t.Errorf("FinishRegistration(state used) = %v, want ErrState", err)
	}
	for _, bad := range []string{`{}`, `{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{}}`, `[]`} {
		if _, _, err := f.rp.FinishRegistration(ctx, b.State, binding, f.user.ID, "x", []byte(bad)); !errors.Is(err, passkey.ErrInput) {
			t.Errorf("FinishRegistration(%s) = %v, want ErrInput", bad, err)
		}
	}
}
