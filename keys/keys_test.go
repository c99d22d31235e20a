package keys

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
)

const (
	secretA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	secretB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func newSealer(t testing.TB, secrets ...string) *Sealer {
	t.Helper()
	s, err := NewSealer(secrets, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openRing(t testing.TB, store *memory.Store, secrets ...string) *Ring {
	t.Helper()
	r, err := Open(context.Background(), Config{Store: store, Sealer: newSealer(t, secrets...)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSealerRoundTripAndSecretRotation(t *testing.T) {
	old := newSealer(t, secretA)
	sealed, err := old.Seal([]byte("private"), []byte("kid1"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), "private") {
		t.Fatal("sealed value contains the plaintext")
	}
	rotated := newSealer(t, secretB, secretA)
	pt, current, err := rotated.Open(sealed, []byte("kid1"))
	if err != nil || string(pt) != "private" || current {
		t.Fatalf("Open with rotated secrets = %q, %v, %v; want plaintext, not current", pt, current, err)
	}
	if _, _, err := newSealer(t, secretB).Open(sealed, []byte("kid1")); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("Open with a wrong secret: err = %v, want ErrNoSecret", err)
	}
	if _, _, err := old.Open(sealed, []byte("kid2")); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("Open with another kid as aad: err = %v, want ErrNoSecret", err)
	}
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	if _, _, err := old.Open(tampered, []byte("kid1")); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("Open of a tampered value: err = %v, want ErrNoSecret", err)
	}
	if _, _, err := old.Open(sealed[:10], []byte("kid1")); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("Open of a truncated value: err = %v, want ErrNoSecret", err)
	}
}

func TestNewSealerRejectsShortOrMissingSecrets(t *testing.T) {
	for _, secrets := range [][]string{nil, {"short"}, {secretA, "short"}} {
		if _, err := NewSealer(secrets, rand.Reader); err == nil {
			t.Errorf("NewSealer(%d secrets) = nil error, want an error", len(secrets))
		}
	}
}

func TestOpenCreatesOneActiveKeyAndOneStandbyPerAlgorithmAndReloads(t *testing.T) {
	store := memory.New()
	r := openRing(t, store, secretA)
	for _, alg := range Algorithms() {
		k, err := r.Active(alg)
		if err != nil {
			t.Fatal(err)
		}
		if k.Alg != alg || k.State != StateActive {
			t.Errorf("Active(%s) = %s %s, want an active %s key", alg, k.Alg, k.State, alg)
		}
	}
	recs, _ := store.ListKeys(context.Background())
	if len(recs) != 2*len(Algorithms()) {
		t.Fatalf("store holds %d keys, want %d (an active key and a standby per algorithm)", len(recs), 2*len(Algorithms()))
	}
	for _, alg := range Algorithms() {
		if r.cur.Load().next[alg] == nil {
			t.Errorf("no standby %s key after Open", alg)
		}
	}
	// A second ring on the same store with the same secret uses the same keys.
	r2 := openRing(t, store, secretA)
	for _, alg := range Algorithms() {
		a, _ := r.Active(alg)
		b, _ := r2.Active(alg)
		if a.ID != b.ID {
			t.Errorf("reopened ring signs %s with %s, want %s", alg, b.ID, a.ID)
		}
	}
	// A wrong secret fails clearly and creates nothing.
	if _, err := Open(context.Background(), Config{Store: store, Sealer: newSealer(t, secretB)}); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("Open with a wrong secret: err = %v, want ErrNoSecret", err)
	}
	if recs, _ := store.ListKeys(context.Background()); len(recs) != 2*len(Algorithms()) {
		t.Fatalf("after a failed Open the store holds %d keys, want %d", len(recs), 2*len(Algorithms()))
	}
	// Old secret listed second still decrypts.
	openRing(t, store, secretB, secretA)
}

func TestSignVerifiesWithGoJoseAgainstJWKS(t *testing.T) {
	r := openRing(t, memory.New(), secretA)
	body, etag := r.JWKS()
	if etag == "" {
		t.Fatal("JWKS has no etag")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("JWKS key %s is not public", k.KeyID)
		}
	}
	if strings.Contains(string(body), `"d"`) || strings.Contains(string(body), `"p"`) {
		t.Fatalf("JWKS contains private parameters: %s", body)
	}
	for _, alg := range Algorithms() {
		t.Run(alg, func(t *testing.T) {
			k, _ := r.Active(alg)
			now := time.Now()
			payload := []byte(`{"iss":"https://issuer","sub":"c1","exp":` + itoa(now.Add(time.Minute).Unix()) + `}`)
			tok, sig, err := k.SignJWT(TypeAccessToken, payload)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(tok, "."+sig) {
				t.Fatalf("signature %q is not the last part of the token", sig)
			}
			parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			h := parsed.Headers[0]
			if h.KeyID != k.ID || h.ExtraHeaders[jose.HeaderType] != "at+jwt" {
				t.Fatalf("header = kid %q typ %v, want kid %q typ at+jwt", h.KeyID, h.ExtraHeaders[jose.HeaderType], k.ID)
			}
			keys := set.Key(k.ID)
			if len(keys) != 1 {
				t.Fatalf("JWKS has %d keys with kid %s, want 1", len(keys), k.ID)
			}
			var claims jwt.Claims
			if err := parsed.Claims(keys[0].Key, &claims); err != nil {
				t.Fatalf("go-jose verification against the JWKS: %v", err)
			}
			if claims.Subject != "c1" {
				t.Fatalf("sub = %q, want c1", claims.Subject)
			}
			got, vk, vsig, err := r.Verify(tok, TypeAccessToken)
			if err != nil || string(got) != string(payload) || vk.ID != k.ID || vsig != sig {
				t.Fatalf("Verify = %s, %v, %q, %v", got, vk, vsig, err)
			}
		})
	}
}

var errTestRand = errors.New("test rand: failing")

// testRand passes reads on to crypto/rand and counts them, or fails every
// read once failing is set.
type testRand struct {
	reads   atomic.Int64
	failing atomic.Bool
}

func (r *testRand) Read(p []byte) (int, error) {
	if r.failing.Load() {
		return 0, errTestRand
	}
	r.reads.Add(1)
	return rand.Read(p)
}

func TestSigningUsesConfigRand(t *testing.T) {
	// Since Go 1.26 crypto/ecdsa ignores a reader other than
	// crypto/rand.Reader unless this is set; the runtime rereads GODEBUG
	// when it changes.
	t.Setenv("GODEBUG", "cryptocustomrand=1")
	ctx := context.Background()
	payload := []byte(`{"sub":"x"}`)
	store := memory.New()

	// A key the ring generates signs with the ring's Rand.
	src := &testRand{}
	r, err := Open(ctx, Config{Store: store, Sealer: newSealer(t, secretA), Rand: src})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := r.Active(ES256)
	before := src.reads.Load()
	if _, _, err := k.SignJWT(TypeAccessToken, payload); err != nil {
		t.Fatal(err)
	}
	if src.reads.Load() == before {
		t.Fatal("SignJWT(ES256) read nothing from Config.Rand")
	}
	src.failing.Store(true)
	if _, _, err := k.SignJWT(TypeAccessToken, payload); !errors.Is(err, errTestRand) {
		t.Fatalf("SignJWT(ES256) with a failing Config.Rand: err = %v, want %v", err, errTestRand)
	}
	// So does a key carried over by Reload.
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	k, _ = r.Active(ES256)
	if _, _, err := k.SignJWT(TypeAccessToken, payload); !errors.Is(err, errTestRand) {
		t.Fatalf("SignJWT(ES256) after Reload with a failing Config.Rand: err = %v, want %v", err, errTestRand)
	}

	// A key another ring loads from the store signs with that ring's Rand.
	failing := &testRand{}
	failing.failing.Store(true)
	r2, err := Open(ctx, Config{Store: store, Sealer: newSealer(t, secretA), Rand: failing})
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := r2.Active(ES256)
	if k2.ID != k.ID {
		t.Fatalf("second ring signs with %s, want the stored key %s", k2.ID, k.ID)
	}
	if _, _, err := k2.SignJWT(TypeAccessToken, payload); !errors.Is(err, errTestRand) {
		t.Fatalf("SignJWT(ES256) of a loaded key with a failing Config.Rand: err = %v, want %v", err, errTestRand)
	}
	src.failing.Store(false)
	if _, _, err := k.SignJWT(TypeAccessToken, payload); err != nil {
		t.Fatalf("first ring's key after its Rand recovered: %v", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	store := memory.New()
	r := openRing(t, store, secretA)
	es, _ := r.Active(ES256)
	rs, _ := r.Active(RS256)
	good, _, err := es.SignJWT(TypeAccessToken, []byte(`{"sub":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	idTok, _, _ := es.SignJWT(TypeJWT, []byte(`{"sub":"x"}`))
	parts := strings.Split(good, ".")
	otherRing := openRing(t, memory.New(), secretA)
	foreignKey, _ := otherRing.Active(ES256)
	foreign, _, _ := foreignKey.SignJWT(TypeAccessToken, []byte(`{"sub":"x"}`))
	// A header claiming RS256 with the ES256 key's kid.
	confused := b64.EncodeToString([]byte(`{"alg":"RS256","kid":"`+es.ID+`","typ":"at+jwt"}`)) + "." + parts[1] + "." + parts[2]
	rsTok, _, _ := rs.SignJWT(TypeAccessToken, []byte(`{"sub":"x"}`))
	rsParts := strings.Split(rsTok, ".")
	tests := []struct{ name, tok string }{
		{"empty", ""},
		{"garbage", "not-a-jwt"},
		{"two parts", parts[0] + "." + parts[1]},
		{"tampered payload", parts[0] + "." + b64.EncodeToString([]byte(`{"sub":"y"}`)) + "." + parts[2]},
		{"tampered signature", parts[0] + "." + parts[1] + "." + rsParts[2][:86]},
		{"alg none", b64.EncodeToString([]byte(`{"alg":"none","kid":"`+es.ID+`","typ":"at+jwt"}`)) + "." + parts[1] + "."},
		{"alg confusion", confused},
		{"wrong typ", idTok},
		{"foreign key", foreign},
	}
	for _, tt := range tests {
		if _, _, _, err := r.Verify(tt.tok, TypeAccessToken); err == nil {
			t.Errorf("Verify(%s) = nil error, want an error", tt.name)
		}
	}
}

func itoa(n int64) string { return strings.TrimSpace(strings.Replace(jsonNum(n), "\n", "", -1)) }

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }

func BenchmarkSignES256(b *testing.B) {
	r := openRing(b, memory.New(), secretA)
	k, _ := r.Active(ES256)
	payload := []byte(`{"iss":"http://127.0.0.1:8080","sub":"demo-service","aud":["idv-api"],"exp":1700000300,"iat":1700000000,"jti":"0123456789abcdefghijkl","client_id":"demo-service","scope":"identity.verify identity.read_status"}`)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := k.SignJWT(TypeAccessToken, payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyES256(b *testing.B) {
	r := openRing(b, memory.New(), secretA)
	k, _ := r.Active(ES256)
	tok, _, _ := k.SignJWT(TypeAccessToken, []byte(`{"sub":"demo-service","exp":1700000300}`))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, _, err := r.Verify(tok, TypeAccessToken); err != nil {
			b.Fatal(err)
		}
	}
}

// stuckKeys is a key store whose ListKeys hangs, as on a dead connection,
// until its context ends, once stuck is set.
type stuckKeys struct {
	storage.KeyStore
	stuck atomic.Bool
}

func (s *stuckKeys) ListKeys(ctx context.Context) ([]storage.Key, error) {
	if s.stuck.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.KeyStore.ListKeys(ctx)
}

// TestReloadHoldsNoLockAcrossTheStore: a reload stuck in the store does
// not hold up another reload, which fails within its own deadline, nor
// the readers of the ring.
func TestReloadHoldsNoLockAcrossTheStore(t *testing.T) {
	store := &stuckKeys{KeyStore: memory.New()}
	r, err := Open(context.Background(), Config{Store: store, Sealer: newSealer(t, secretA)})
	if err != nil {
		t.Fatal(err)
	}
	store.stuck.Store(true)
	hung, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := make(chan error, 1)
	go func() { first <- r.Reload(hung) }()
	second := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		second <- r.Reload(ctx)
	}()
	select {
	case err := <-second:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("second Reload = %v, want its own deadline exceeded", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a Reload waited for another one stuck in the store")
	}
	if _, err := r.Active(ES256); err != nil {
		t.Fatalf("Active while a reload hangs: %v", err)
	}
	cancel()
	if err := <-first; err == nil {
		t.Fatal("the stuck Reload succeeded")
	}
}
