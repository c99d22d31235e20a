package logout

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/outbound"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
)

const issuer = "https://idp.example"

// newTestService is a service on a memory store with a fresh key ring and
// a client "rp" whose logout URIs are given.
func newTestService(t testing.TB, policy outbound.Policy, backchannel string) (*Service, *memory.Store, *keys.Ring) {
	t.Helper()
	store := memory.New()
	sealer, err := keys.NewSealer([]string{strings.Repeat("s", 40)}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.Open(t.Context(), keys.Config{Store: store, Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := store.CreateClient(t.Context(), storage.Client{ID: "rp", Name: "RP", GrantTypes: []string{"authorization_code"},
		PostLogoutRedirectURIs: []string{"https://rp.example/bye"}, BackchannelLogoutURI: backchannel, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: store, Keys: ring, Audit: audit.New(audit.Config{Store: store}), Issuer: issuer, IDTokenAlg: keys.RS256,
		SIDKey: make([]byte, 32), Outbound: policy, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s, store, ring
}

// sign signs claims as a token of type typ with the ring's RS256 key.
func sign(t testing.TB, ring *keys.Ring, typ string, claims map[string]any) string {
	t.Helper()
	k, err := ring.Active(keys.RS256)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	tok, _, err := k.SignJWT(typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestCheckHint(t *testing.T) {
	s, _, ring := newTestService(t, outbound.Policy{}, "")
	expired := time.Now().Add(-time.Hour).Unix()
	good := sign(t, ring, keys.TypeJWT, map[string]any{"iss": issuer, "sub": "u1", "aud": "rp", "exp": expired, "sid": "s1"})
	if h, err := s.CheckHint(good); err != nil || h.Subject != "u1" || h.ClientID != "rp" || h.SID != "s1" {
		t.Errorf("CheckHint(expired, aud string) = %+v, %v; want sub u1, client rp, sid s1", h, err)
	}
	azp := sign(t, ring, keys.TypeJWT, map[string]any{"iss": issuer, "sub": "u1", "aud": []string{"rp", "api"}, "azp": "rp"})
	if h, err := s.CheckHint(azp); err != nil || h.ClientID != "rp" || len(h.Audience) != 2 {
		t.Errorf("CheckHint(aud array, azp) = %+v, %v", h, err)
	}
	for name, tok := range map[string]string{
		"another issuer":          sign(t, ring, keys.TypeJWT, map[string]any{"iss": "https://evil.example", "sub": "u1", "aud": "rp"}),
		"no subject":              sign(t, ring, keys.TypeJWT, map[string]any{"iss": issuer, "aud": "rp"}),
		"no audience":             sign(t, ring, keys.TypeJWT, map[string]any{"iss": issuer, "sub": "u1"}),
		"two audiences, no azp":   sign(t, ring, keys.TypeJWT, map[string]any{"iss": issuer, "sub": "u1", "aud": []string{"rp", "api"}}),
		"a logout token":          sign(t, ring, keys.TypeLogout, map[string]any{"iss": issuer, "sub": "u1", "aud": "rp"}),
		"an access token":         sign(t, ring, keys.TypeAccessToken, map[string]any{"iss": issuer, "sub": "u1", "aud": "rp"}),
		"tampered":                good[:len(good)-3] + "AAA",
		"not a JWT":               "abc",
		"claims not JSON objects": sign(t, ring, keys.TypeJWT, map[string]any{"iss": 1}),
	} {
		if _, err := s.CheckHint(tok); err == nil {
			t.Errorf("CheckHint(%s) = nil error, want refused", name)
		}
	}
}

func TestParse(t *testing.T) {
	s, _, ring := newTestService(t, outbound.Policy{}, "")
	hint := sign(t, ring, keys.TypeJWT, map[string]any{"iss": issuer, "sub": "u1", "aud": "rp", "sid": "s1"})
	gone := sign(t, ring, keys.TypeJWT, map[string]any{"iss": issuer, "sub": "u1", "aud": "deleted-client"})
	for _, tc := range []struct {
		name, query string
		bad         bool
		redirect    string
		client      string
	}{
		{"nothing", "", false, "", ""},
		{"hint and registered uri", "id_token_hint=" + hint + "&post_logout_redirect_uri=https://rp.example/bye&state=x", false, "https://rp.example/bye", "rp"},
		{"client and registered uri", "client_id=rp&post_logout_redirect_uri=https://rp.example/bye", false, "https://rp.example/bye", "rp"},
		{"prefix of a registered uri", "client_id=rp&post_logout_redirect_uri=https://rp.example/bye/x", false, "", "rp"},
		{"uri without client", "post_logout_redirect_uri=https://rp.example/bye", false, "", ""},
		{"hint of a deleted client", "id_token_hint=" + gone + "&post_logout_redirect_uri=https://rp.example/bye", false, "", "deleted-client"},
		{"client not the hint's audience", "id_token_hint=" + hint + "&client_id=other", true, "", ""},
		{"unknown client", "client_id=nobody", true, "", ""},
		{"bad hint", "id_token_hint=x.y.z", true, "", ""},
		{"hint twice", "id_token_hint=" + hint + "&id_token_hint=" + hint, true, "", ""},
		{"state too long", "state=" + strings.Repeat("s", maxStateLen+1), true, "", ""},
		{"invalid utf-8", "state=%ff", true, "", ""},
		{"ui_locales ignored", "client_id=rp&ui_locales=de&ui_locales=fr", false, "", "rp"},
	} {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		req, err := s.Parse(t.Context(), q)
		var bad *Error
		if tc.bad != errors.As(err, &bad) || !tc.bad && err != nil {
			t.Errorf("%s: Parse = %v, want bad request %t", tc.name, err, tc.bad)
			continue
		}
		if tc.bad {
			continue
		}
		if req.RedirectURI != tc.redirect || req.ClientID != tc.client || req.Unregistered != (q.Has("post_logout_redirect_uri") && tc.redirect == "") {
			t.Errorf("%s: Parse = redirect %q client %q unregistered %t; want %q %q", tc.name, req.RedirectURI, req.ClientID, req.Unregistered, tc.redirect, tc.client)
		}
		if want := map[bool]string{true: q.Get("state")}[tc.redirect != ""]; req.State != want {
			t.Errorf("%s: state = %q, want %q (only with a redirect)", tc.name, req.State, want)
		}
	}
}

// TestDeliveryKeepsOffInternalAddresses: a back-channel URI that reaches
// an internal address is not connected to unless the policy allows it;
// the delivery is retried later, not lost.
func TestDeliveryKeepsOffInternalAddresses(t *testing.T) {
	got := make(chan string, 1)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.FormValue("logout_token") }))
	defer rp.Close()
	s, store, _ := newTestService(t, outbound.Policy{}, rp.URL)
	ctx := t.Context()
	now := time.Now().UTC()
	if err := store.CreateUser(ctx, storage.User{ID: "u1", Username: "ada", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	bs := storage.BrowserSession{ID: "bs1", UserID: "u1", AuthTime: now, ExpiresAt: now.Add(time.Hour)}
	if err := store.CreateBrowserSession(ctx, bs); err != nil {
		t.Fatal(err)
	}
	if err := s.Granted(ctx, bs.ID, "rp", "req1"); err != nil {
		t.Fatal(err)
	}
	if err := s.End(ctx, bs, "192.0.2.1"); err != nil {
		t.Fatalf("End = %v", err)
	}
	if n := s.deliverDue(ctx); n != 1 {
		t.Fatalf("deliverDue = %d, want 1", n)
	}
	select {
	case <-got:
		t.Fatal("the delivery reached a loopback address the policy refuses")
	default:
	}
	due, err := store.ClaimLogoutDeliveries(ctx, time.Now().Add(time.Hour), time.Minute, 10)
	if err != nil || len(due) != 1 || due[0].Attempts != 1 || due[0].SID != s.SID(bs.ID) || due[0].Subject != "u1" {
		t.Fatalf("queued after the refused attempt = %+v, %v; want one with 1 attempt", due, err)
	}
}

// FuzzParse: no end-session request makes Parse panic, and a request it
// accepts redirects only to a registered URI.
func FuzzParse(f *testing.F) {
	s, _, _ := newTestService(f, outbound.Policy{}, "")
	for _, seed := range []string{"", "client_id=rp&post_logout_redirect_uri=https://rp.example/bye&state=x", "id_token_hint=a.b.c",
		"client_id=rp&client_id=rp", "post_logout_redirect_uri=%ff", "id_token_hint=eyJhbGciOiJSUzI1NiJ9.e30.AA"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		req, err := s.Parse(t.Context(), q)
		if err == nil && req.RedirectURI != "" && req.RedirectURI != "https://rp.example/bye" {
			t.Fatalf("Parse(%q) redirects to %q", raw, req.RedirectURI)
		}
	})
}
