package logout

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/outbound"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
)

// racyStore runs hook once, right after ListBrowserSessions answers: a
// sign-in of the same browser replacing the session EndAll just listed.
type racyStore struct {
	*memory.Store
	hook *func()
}

func (r racyStore) ListBrowserSessions(ctx context.Context, userID string) ([]storage.BrowserSession, error) {
	out, err := r.Store.ListBrowserSessions(ctx, userID)
	if r.hook != nil && *r.hook != nil {
		(*r.hook)()
		*r.hook = nil
	}
	return out, err
}

// TestEndAllRacesReplace: a person's sign-in that replaces a session
// while their erasure logs them out does not keep the grants from the
// logout: the clients are still told.
func TestEndAllRacesReplace(t *testing.T) {
	base, store, ring := newTestService(t, outbound.Policy{}, "https://rp.example/bc")
	ctx := t.Context()
	now := time.Now().UTC()
	if err := store.CreateUser(ctx, storage.User{ID: "u1", Username: "alice", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	old := storage.BrowserSession{ID: "old", UserID: "u1", AuthTime: now, ExpiresAt: now.Add(time.Hour)}
	if err := store.CreateBrowserSession(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := base.Granted(ctx, "old", "rp", "req1"); err != nil {
		t.Fatal(err)
	}
	var hook func()
	rs := racyStore{Store: store, hook: &hook}
	s, err := New(Config{Store: rs, Keys: ring, Audit: audit.New(audit.Config{Store: store}), Issuer: issuer, IDTokenAlg: "RS256",
		SIDKey: make([]byte, 32), Outbound: outbound.Policy{}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	newer := storage.BrowserSession{ID: "new", UserID: "u1", AuthTime: now, ExpiresAt: now.Add(time.Hour)}
	hook = func() {
		if _, err := base.Replace(ctx, "old", newer, "127.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	s.cfg.Store = rs
	if err := s.EndAll(ctx, "u1", "erased"); err != nil {
		t.Fatal(err)
	}
	ds, _ := store.ClaimLogoutDeliveries(ctx, now.Add(time.Minute), time.Minute, 10)
	gs, _ := store.ListSessionGrants(ctx, "new")
	if len(ds) == 0 || len(gs) != 0 {
		t.Errorf("EndAll queued no back-channel logout: the grant moved to session %q and survives (%d grants)", "new", len(gs))
	}
}

// Under the fapi2 profile a client registered with RS256 before it gets
// logout tokens in an algorithm the profile allows, as its ID tokens.
func TestLogoutTokenAlgUnderFAPI2(t *testing.T) {
	s, _, _ := newTestService(t, outbound.Policy{}, "https://rp.example/bc")
	c := storage.Client{ID: "rp", IDTokenSignedResponseAlg: "RS256"}
	for _, tc := range []struct{ profile, want string }{{"", "RS256"}, {"fapi2", "ES256"}} {
		s.cfg.Profile = tc.profile
		tok, _, err := s.Token(c, "u1", "sid1")
		if err != nil {
			t.Fatal(err)
		}
		hdr, err := base64.RawURLEncoding.DecodeString(strings.SplitN(tok, ".", 2)[0])
		if err != nil || !strings.Contains(string(hdr), `"alg":"`+tc.want+`"`) {
			t.Errorf("profile %q: header %s, want alg %s", tc.profile, hdr, tc.want)
		}
	}
}
