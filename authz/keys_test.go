package authz_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/testutil"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

func (ts *testServer) keyList(t testing.TB) adminapi.KeyList {
	t.Helper()
	return adminCall[adminapi.KeyList](t, ts, http.MethodGet, "/admin/keys", nil, http.StatusOK)
}

func activeKID(t testing.TB, kl adminapi.KeyList, alg string) string {
	t.Helper()
	for _, k := range kl.Keys {
		if k.Alg == alg && k.State == keys.StateActive {
			return k.KID
		}
	}
	t.Fatalf("no active %s key in %+v", alg, kl)
	return ""
}

func kidOf(t testing.TB, tok string) string {
	t.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Headers[0].KeyID
}

func TestAdminKeysRotateAndRetire(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, cfg)
		ctx := context.Background()
		svc := ts.Demo.Service
		before := activeKID(t, ts.keyList(t), "ES256")
		rsBefore := activeKID(t, ts.keyList(t), "RS256")
		old, err := ts.ccConfig(svc, "identity.verify").Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if kidOf(t, old.AccessToken) != before {
			t.Fatalf("token signed by %s, want the active key %s", kidOf(t, old.AccessToken), before)
		}

		code, body := ts.adminDo(t, http.MethodPost, "/admin/keys/rotate", "application/json", `{"alg":"ES256"}`)
		if code != http.StatusOK {
			t.Fatalf("rotate: %d %s", code, body)
		}
		kl := ts.keyList(t)
		after := activeKID(t, kl, "ES256")
		if after == before || activeKID(t, kl, "RS256") != rsBefore {
			t.Fatalf("rotating ES256: active ES256 %s -> %s, RS256 %s -> %s", before, after, rsBefore, activeKID(t, kl, "RS256"))
		}
		// New tokens carry the new kid; the old token still verifies and
		// introspects active: its key is retired, still published.
		tok, err := ts.ccConfig(svc, "identity.verify").Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if kidOf(t, tok.AccessToken) != after {
			t.Fatalf("token after rotation signed by %s, want %s", kidOf(t, tok.AccessToken), after)
		}
		ts.verify(t, old.AccessToken, jose.ES256)
		if m, _ := ts.introspect(t, old.AccessToken); m["active"] != true {
			t.Fatalf("token of a retired key: %v, want active until it expires", m)
		}

		// Retire with revoke_tokens: gone from the JWKS, its tokens inactive.
		code, body = ts.adminDo(t, http.MethodPost, "/admin/keys/"+before+"/retire", "application/json", `{"revoke_tokens":true}`)
		if code != http.StatusOK || !strings.Contains(string(body), `"removed"`) {
			t.Fatalf("retire: %d %s", code, body)
		}
		if set := ts.jwks(t); len(set.Key(before)) != 0 {
			t.Fatal("a retired key with revoked tokens is still in the JWKS")
		}
		ts.requireInactive(t, old.AccessToken)
		if m, _ := ts.introspect(t, tok.AccessToken); m["active"] != true {
			t.Fatalf("token of the new key after retiring the old: %v", m)
		}

		// Rotating every algorithm with {}.
		code, body = ts.adminDo(t, http.MethodPost, "/admin/keys/rotate", "application/json", `{}`)
		if code != http.StatusOK {
			t.Fatalf("rotate all: %d %s", code, body)
		}
		kl = ts.keyList(t)
		if activeKID(t, kl, "ES256") == after || activeKID(t, kl, "RS256") == rsBefore {
			t.Fatalf("rotate {} left a key active: %+v", kl)
		}
		if strings.Contains(string(body), `"d"`) || strings.Contains(string(body), "sealed") {
			t.Fatalf("the key list shows private material: %s", body)
		}

		// Refusals change nothing.
		for _, c := range []struct {
			method, path, ct, body string
			want                   int
		}{
			{http.MethodPost, "/admin/keys/rotate", "application/json", `{"alg":"HS256"}`, 400},
			{http.MethodPost, "/admin/keys/rotate", "application/json", `{"alg":"none"}`, 400},
			{http.MethodPost, "/admin/keys/rotate", "application/json", `{"algo":"ES256"}`, 400},
			{http.MethodPost, "/admin/keys/rotate", "application/json", `[`, 400},
			{http.MethodPost, "/admin/keys/rotate", "text/plain", `{}`, 415},
			{http.MethodPost, "/admin/keys/rotate", "application/json", `{"alg":"` + strings.Repeat("A", 70000) + `"}`, 413},
			{http.MethodGet, "/admin/keys/rotate", "", "", 405},
			{http.MethodPost, "/admin/keys/no-such-kid/retire", "application/json", `{"revoke_tokens":true}`, 404},
			{http.MethodPost, "/admin/keys/%00%ff/retire", "application/json", `{}`, 404},
			{http.MethodPost, "/admin/keys/" + after + "/retire", "application/json", `{"revoke_tokens":"yes"}`, 400},
			{http.MethodDelete, "/admin/keys/" + after + "/retire", "", "", 405},
		} {
			before := ts.keyList(t)
			code, body := ts.adminDo(t, c.method, c.path, c.ct, c.body)
			if code != c.want || !strings.Contains(string(body), `"error"`) {
				t.Errorf("%s %.40s %.40s: %d %s, want %d with an error", c.method, c.path, c.body, code, body, c.want)
			}
			if got := ts.keyList(t); !equalKeyLists(got, before) {
				t.Errorf("%s %.40s %.40s changed the keys", c.method, c.path, c.body)
			}
		}
		// Without the admin token: 401.
		req, _ := http.NewRequest(http.MethodPost, ts.Admin+"/admin/keys/rotate", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		if code, _, _ := do(t, req); code != http.StatusUnauthorized {
			t.Errorf("rotate without the admin token: %d, want 401", code)
		}
	})
}

func equalKeyLists(a, b adminapi.KeyList) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestKeyStepsReachEveryReplica: an emergency step on one replica reaches
// the other through PostgreSQL (LISTEN/NOTIFY), not its next poll.
func TestKeyStepsReachEveryReplica(t *testing.T) {
	dbURL := pgtest.URL(t)
	ctx := context.Background()
	// A long poll interval: only the notification can bring the change.
	cfg := authz.Config{DatabaseURL: dbURL, Issuer: sharedIssuer, KeyCheckInterval: time.Hour}
	a := startServer(t, cfg)
	b := startServer(t, cfg, serverOptions{ReplicaOf: a.harnessServer})
	svc := a.Demo.Service

	oldKID := activeKID(t, a.keyList(t), "ES256")
	old, err := b.ccConfig(svc, "identity.verify").Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if kidOf(t, old.AccessToken) != oldKID {
		t.Fatalf("B signs with %s, A says %s is active", kidOf(t, old.AccessToken), oldKID)
	}
	if code, body := a.adminDo(t, http.MethodPost, "/admin/keys/rotate", "application/json", `{"alg":"ES256"}`); code != 200 {
		t.Fatalf("rotate on A: %d %s", code, body)
	}
	newKID := activeKID(t, a.keyList(t), "ES256")
	lag := testutil.Eventually(t, 30*time.Second, "B signing with the key A activated", func() bool {
		tok, err := b.ccConfig(svc, "identity.verify").Token(ctx)
		return err == nil && kidOf(t, tok.AccessToken) == newKID
	})
	t.Logf("B signed with the new key %v after the rotation on A", lag.Round(time.Millisecond))

	if code, body := a.adminDo(t, http.MethodPost, "/admin/keys/"+oldKID+"/retire", "application/json", `{"revoke_tokens":true}`); code != 200 {
		t.Fatalf("retire on A: %d %s", code, body)
	}
	lag = testutil.Eventually(t, 30*time.Second, "B answering inactive for a revoked key's token", func() bool {
		m, _ := b.introspect(t, old.AccessToken)
		return m["active"] == false
	})
	t.Logf("B answered inactive %v after the retire on A", lag.Round(time.Millisecond))
	if set := b.jwks(t); len(set.Key(oldKID)) != 0 {
		t.Error("B still publishes the revoked key")
	}
}

// TestOneRotationPerPeriod: two replicas whose clocks say a rotation is
// due both try it; exactly one new key is published and activated, and
// both sign with it.
func TestOneRotationPerPeriod(t *testing.T) {
	dbURL := pgtest.URL(t)
	ctx := context.Background()
	clock := testutil.NewClock(time.Now())
	// Published 2*5m+10s before it is due at 2h: from 1h49m50s.
	cfg := authz.Config{DatabaseURL: dbURL, Issuer: sharedIssuer, Now: clock.Now,
		KeyRotationInterval: 2 * time.Hour, JWKSMaxAge: 5 * time.Minute}
	a := startServer(t, cfg)
	b := startServer(t, cfg, serverOptions{ReplicaOf: a.harnessServer})
	first := activeKID(t, a.keyList(t), "ES256")

	both := func() {
		var wg sync.WaitGroup
		for _, s := range []*testServer{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Srv.MaintainKeys(ctx); err != nil {
					t.Errorf("MaintainKeys: %v", err)
				}
			}()
		}
		wg.Wait()
	}
	count := func(state string) int {
		n := 0
		for _, k := range a.keyList(t).Keys {
			if k.Alg == "ES256" && k.State == state {
				n++
			}
		}
		return n
	}
	// A standby key per algorithm is published from the start: nothing
	// else happens before the rotation is due.
	clock.Advance(time.Hour)
	both()
	if n := len(a.keyList(t).Keys); n != 2*len(keys.Algorithms()) {
		t.Fatalf("%d keys an hour before the rotation is due, want %d (an active key and a standby per algorithm)", n, 2*len(keys.Algorithms()))
	}
	clock.Advance(55 * time.Minute)
	both()
	if n := count(keys.StateNext); n != 1 {
		t.Fatalf("%d next ES256 keys after both replicas tried, want 1", n)
	}
	if activeKID(t, a.keyList(t), "ES256") != first {
		t.Fatal("the standby key signs before the rotation is due")
	}
	// When due, it is activated once; both replicas sign with it, and
	// one new standby is published.
	clock.Advance(30 * time.Minute)
	both()
	both()
	kl := a.keyList(t)
	second := activeKID(t, kl, "ES256")
	if second == first || count(keys.StateActive) != 1 || count(keys.StateRetired) != 1 || count(keys.StateNext) != 1 {
		t.Fatalf("after the rotation: %+v", kl)
	}
	for name, s := range map[string]*testServer{"A": a, "B": b} {
		tok, err := s.ccConfig(a.Demo.Service, "identity.verify").Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := kidOf(t, tok.AccessToken); got != second {
			t.Errorf("%s signs with %s after the rotation, want %s", name, got, second)
		}
	}
	// RS256 and PS256 follow the same schedule: one retired, one active
	// and one standby key each.
	if n := len(kl.Keys); n != 3*len(keys.Algorithms()) {
		t.Errorf("%d keys after one rotation of each algorithm, want %d: %+v", n, 3*len(keys.Algorithms()), kl)
	}
}
