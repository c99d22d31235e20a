package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
)

// clock is a settable time source shared by the rings of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// resourceServer verifies tokens against a JWKS it caches for maxAge, as a
// resource server does, and never fetches it early: a token signed by a
// key it has not seen fails.
type resourceServer struct {
	maxAge  time.Duration
	fetch   func() []byte
	set     jose.JSONWebKeySet
	fetched time.Time
}

func (rs *resourceServer) verify(t *testing.T, now time.Time, token string) error {
	t.Helper()
	if rs.fetched.IsZero() || !now.Before(rs.fetched.Add(rs.maxAge)) {
		body := rs.fetch()
		if strings.Contains(string(body), `"d":`) {
			t.Fatalf("the JWKS holds a private key: %s", body)
		}
		if err := json.Unmarshal(body, &rs.set); err != nil {
			t.Fatal(err)
		}
		rs.fetched = now
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256})
	if err != nil {
		return err
	}
	keys := rs.set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		return fmt.Errorf("kid %s is not in the cached JWKS", tok.Headers[0].KeyID)
	}
	var claims jwt.Claims
	if err := tok.Claims(keys[0].Key, &claims); err != nil {
		return err
	}
	return claims.ValidateWithLeeway(jwt.Expected{Time: now}, 0)
}

type issued struct {
	token string
	exp   time.Time
}

// simulate runs two replicas of a ring on one store for hours of
// simulated time, one of them seeing key changes only every lag, with a
// resource server verifying every live token each minute. It returns the
// number of failed verifications and the keys that signed, per algorithm.
func simulate(t *testing.T, sc Schedule, maxAge, ttl, lag, hours time.Duration) (failures int, signers map[string]map[string]bool) {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	store := memory.New()
	open := func() *Ring {
		r, err := Open(ctx, Config{Store: store, Sealer: newSealer(t, secretA), Now: clk.Now, Schedule: sc})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := open(), open()
	rs := &resourceServer{maxAge: maxAge, fetch: func() []byte { body, _ := b.JWKS(); return body }}
	signers = map[string]map[string]bool{ES256: {}, RS256: {}, PS256: {}}
	var live []issued
	start := clk.Now()
	for clk.Now().Sub(start) < hours {
		now := clk.Now()
		if _, err := a.Maintain(ctx); err != nil {
			t.Fatalf("Maintain at %v: %v", now.Sub(start), err)
		}
		if now.Sub(start)%lag == 0 {
			if _, err := b.Maintain(ctx); err != nil {
				t.Fatalf("lagging Maintain at %v: %v", now.Sub(start), err)
			}
		}
		for _, r := range []*Ring{a, b} {
			for _, alg := range Algorithms() {
				k, err := r.Active(alg)
				if err != nil {
					t.Fatal(err)
				}
				signers[alg][k.ID] = true
				payload := fmt.Sprintf(`{"sub":"c","exp":%d}`, now.Add(ttl).Unix())
				tok, _, err := k.SignJWT(TypeAccessToken, []byte(payload))
				if err != nil {
					t.Fatal(err)
				}
				live = append(live, issued{tok, now.Add(ttl)})
			}
		}
		kept := live[:0]
		for _, is := range live {
			if !now.Before(is.exp) {
				continue
			}
			kept = append(kept, is)
			if err := rs.verify(t, now, is.token); err != nil {
				failures++
				if failures <= 3 {
					t.Logf("at %v: %v", now.Sub(start), err)
				}
			}
		}
		live = kept
		clk.add(time.Minute)
	}
	// Retired keys leave the JWKS: at most next, active and one retired
	// key per algorithm stay published.
	if n := len(a.Keys()); sc.Retain < sc.Every && n > 3*len(Algorithms()) {
		t.Errorf("%d keys published after %v, want at most %d", n, hours, 3*len(Algorithms()))
	}
	return failures, signers
}

func TestRotationNeverFailsACachingResourceServer(t *testing.T) {
	const (
		ttl = 15 * time.Minute
		lag = 2 * time.Minute
	)
	for _, maxAge := range []time.Duration{7 * time.Minute, 10 * time.Minute} {
		t.Run(fmt.Sprint("max-age ", maxAge), func(t *testing.T) {
			sc := Schedule{Every: time.Hour, PrePublish: 2*maxAge + lag, Retain: ttl + 5*time.Minute + lag}
			failures, signers := simulate(t, sc, maxAge, ttl, lag, 5*time.Hour)
			if failures != 0 {
				t.Errorf("%d verifications failed across rotations, want 0", failures)
			}
			for alg, kids := range signers {
				if len(kids) < 5 {
					t.Errorf("%s: %d keys signed in 5 hours of hourly rotation, want at least 5", alg, len(kids))
				}
			}
		})
	}
}

// verifier checks tokens as a resource server with a common JOSE library
// does: it caches the JWKS for maxAge, and meeting an unknown kid fetches
// it again, at most once per refetch interval.
type verifier struct {
	resourceServer
	refetch   time.Duration
	refetched time.Time
}

func (v *verifier) verify(t *testing.T, now time.Time, token string) error {
	t.Helper()
	err := v.resourceServer.verify(t, now, token)
	if err == nil || !strings.Contains(err.Error(), "is not in the cached JWKS") {
		return err
	}
	if !v.refetched.IsZero() && now.Sub(v.refetched) < v.refetch {
		return err
	}
	v.refetched, v.fetched = now, time.Time{}
	return v.resourceServer.verify(t, now, token)
}

// emergencyRotations signs a token every second on a ring, with a
// verifier checking each, across two emergency rotations of every
// algorithm a minute apart; withdraw withdraws the standby before each.
// The second algorithm rotates ten seconds after the first, within the
// verifier's refetch interval. It returns the failed verifications.
func emergencyRotations(t *testing.T, withdraw bool) int {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r, err := Open(ctx, Config{Store: memory.New(), Sealer: newSealer(t, secretA), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	v := &verifier{resourceServer: resourceServer{maxAge: 15 * time.Minute, fetch: func() []byte { body, _ := r.JWKS(); return body }},
		refetch: 30 * time.Second}
	failures := 0
	for s := range 5 * 60 {
		// ES256 at 1:00 and 2:00, RS256 ten seconds after each.
		for i, alg := range Algorithms() {
			if s != 60+10*i && s != 120+10*i {
				continue
			}
			if next := r.cur.Load().next[alg]; withdraw && next != nil {
				if err := r.Retire(ctx, next.ID, false); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := r.RotateNow(ctx, alg); err != nil {
				t.Fatal(err)
			}
		}
		for _, alg := range Algorithms() {
			k, _ := r.Active(alg)
			tok, _, err := k.SignJWT(TypeAccessToken, fmt.Appendf(nil, `{"sub":"c","exp":%d}`, clk.Now().Add(5*time.Minute).Unix()))
			if err != nil {
				t.Fatal(err)
			}
			if err := v.verify(t, clk.Now(), tok); err != nil {
				failures++
			}
		}
		clk.add(time.Second)
	}
	return failures
}

// TestEmergencyRotationsFailNoVerification: with a standby key published
// ahead, two emergency rotations a minute apart cost a verifier that
// refetches on an unknown kid at most every 30 s not one verification;
// without the standby (withdrawn), keys that sign unannounced fail some,
// which shows the simulation can see a failure.
func TestEmergencyRotationsFailNoVerification(t *testing.T) {
	if n := emergencyRotations(t, false); n != 0 {
		t.Errorf("%d verifications failed across two emergency rotations with standby keys, want 0", n)
	}
	if n := emergencyRotations(t, true); n == 0 {
		t.Error("no verification failed with keys that sign unannounced; the simulation sees nothing")
	}
}

func TestScheduleValidate(t *testing.T) {
	for _, sc := range []Schedule{{Every: time.Hour, PrePublish: time.Hour}, {Every: -1}, {Retain: -time.Second}} {
		if err := sc.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", sc)
		}
		if _, err := Open(context.Background(), Config{Store: memory.New(), Sealer: newSealer(t, secretA), Schedule: sc}); err == nil {
			t.Errorf("Open with schedule %+v succeeded", sc)
		}
	}
	if err := (Schedule{}).Validate(); err != nil {
		t.Errorf("no rotation: Validate = %v", err)
	}
}

func states(t *testing.T, store storage.KeyStore) map[string]string {
	t.Helper()
	recs, err := store.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, r := range recs {
		m[r.ID] = r.State
	}
	return m
}

func TestRotateNowAndRetire(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r, err := Open(ctx, Config{Store: store, Sealer: newSealer(t, secretA), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := r.Active(ES256)
	tok, _, err := old.SignJWT(TypeAccessToken, []byte(`{"sub":"c"}`))
	if err != nil {
		t.Fatal(err)
	}
	clk.add(time.Minute)
	k, err := r.RotateNow(ctx, ES256)
	if err != nil {
		t.Fatalf("RotateNow = %v", err)
	}
	if k.ID == old.ID || k.State != StateActive || !k.ActivatedAt.Equal(clk.Now()) {
		t.Fatalf("RotateNow gave %s %s activated %v", k.ID, k.State, k.ActivatedAt)
	}
	if rs, _ := r.Active(RS256); rs == nil {
		t.Fatal("RotateNow(ES256) lost the RS256 key")
	}
	// The old key is retired: still published, its tokens still verify.
	if st := states(t, store)[old.ID]; st != StateRetired {
		t.Fatalf("old key is %s, want retired", st)
	}
	if _, _, _, err := r.Verify(tok, TypeAccessToken); err != nil {
		t.Fatalf("a retired key's token: Verify = %v, want valid until it expires", err)
	}
	// Retiring it again without revoking changes nothing.
	if err := r.Retire(ctx, old.ID, false); err != nil {
		t.Fatalf("Retire(retired) = %v", err)
	}
	if _, _, _, err := r.Verify(tok, TypeAccessToken); err != nil {
		t.Fatalf("after a second Retire: Verify = %v", err)
	}
	// With revokeTokens it leaves the JWKS and its tokens fail.
	if err := r.Retire(ctx, old.ID, true); err != nil {
		t.Fatalf("Retire(revoke) = %v", err)
	}
	if st := states(t, store)[old.ID]; st != StateRemoved {
		t.Fatalf("revoked key is %s, want removed", st)
	}
	if _, _, _, err := r.Verify(tok, TypeAccessToken); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("a revoked key's token: Verify = %v, want ErrUnknownKey", err)
	}
	if body, _ := r.JWKS(); strings.Contains(string(body), old.ID) {
		t.Fatal("the revoked key is still in the JWKS")
	}

	// Retiring the active key with revokeTokens: a new key signs at once,
	// the old one's tokens fail.
	cur, _ := r.Active(ES256)
	tok, _, _ = cur.SignJWT(TypeAccessToken, []byte(`{"sub":"c"}`))
	if err := r.Retire(ctx, cur.ID, true); err != nil {
		t.Fatalf("Retire(active, revoke) = %v", err)
	}
	repl, err := r.Active(ES256)
	if err != nil || repl.ID == cur.ID {
		t.Fatalf("after retiring the active key, Active = %v, %v; want a new key", repl, err)
	}
	if _, _, _, err := r.Verify(tok, TypeAccessToken); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("token of a revoked active key: Verify = %v, want ErrUnknownKey", err)
	}
	if err := r.Retire(ctx, "no-such-kid", true); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("Retire(unknown) = %v, want ErrNoSuchKey", err)
	}
	if _, err := r.RotateNow(ctx, "HS256"); err == nil {
		t.Fatal("RotateNow(HS256) succeeded")
	}
	// Records keep removed keys for the record.
	n := 0
	for _, rec := range r.Records() {
		if rec.State == StateRemoved {
			n++
			if len(rec.Sealed) != 0 {
				t.Error("Records exposes a sealed private key")
			}
		}
	}
	if n != 2 {
		t.Errorf("Records lists %d removed keys, want 2", n)
	}
}

func TestReencrypt(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	openRing(t, store, secretB)
	// "new,old": the old keys still decrypt.
	openRing(t, store, secretA, secretB)
	n, err := Reencrypt(ctx, store, newSealer(t, secretA, secretB))
	if err != nil || n != 2*len(Algorithms()) {
		t.Fatalf("Reencrypt = %d, %v; want %d keys", n, err, 2*len(Algorithms()))
	}
	// After re-encryption the new secret alone works, and the old alone not.
	openRing(t, store, secretA)
	if _, err := Open(ctx, Config{Store: store, Sealer: newSealer(t, secretB)}); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("Open with only the old secret after Reencrypt = %v, want ErrNoSecret", err)
	}
	if n, err := Reencrypt(ctx, store, newSealer(t, secretA)); err != nil || n != 0 {
		t.Fatalf("second Reencrypt = %d, %v; want nothing to do", n, err)
	}
	if _, err := Reencrypt(ctx, store, newSealer(t, secretB)); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("Reencrypt with a wrong secret = %v, want ErrNoSecret", err)
	}
}

// TestOnChangeReportsOwnStepsOnly checks that OnChange sees every change
// this ring makes, and none that another ring made.
func TestOnChangeReportsOwnStepsOnly(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	var got []string
	r, err := Open(ctx, Config{Store: store, Sealer: newSealer(t, secretA), OnChange: func(_ context.Context, alg string, ch storage.KeyChange, requested bool) {
		by := "schedule"
		if requested {
			by = "request"
		}
		got = append(got, alg+":"+ch.From+">"+ch.To+"/"+by)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "ES256:>active/schedule RS256:>active/schedule PS256:>active/schedule ES256:>next/schedule RS256:>next/schedule PS256:>next/schedule"; strings.Join(got, " ") != want {
		t.Errorf("after Open: changes %q, want %q", got, want)
	}
	got = nil
	other := openRing(t, store, secretA)
	if _, err := other.RotateNow(ctx, ES256); err != nil {
		t.Fatal(err)
	}
	if _, err := r.RotateNow(ctx, RS256); err != nil {
		t.Fatal(err)
	}
	if want := "RS256:active>retired/request RS256:next>active/request RS256:>next/request"; strings.Join(got, " ") != want {
		t.Errorf("after rotations: changes %q, want %q (only this ring's RS256 rotation)", got, want)
	}
	got = nil
	kid := r.Keys()[0].ID
	if err := r.Retire(ctx, kid, true); err != nil {
		t.Fatal(err)
	}
	for _, g := range got {
		if !strings.HasSuffix(g, "/request") {
			t.Errorf("after Retire: change %q, want every change requested", g)
		}
	}
	if len(got) == 0 {
		t.Error("Retire reported no change")
	}
}
