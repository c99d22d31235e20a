package authz_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/internal/testutil"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/storage"
)

// TestIntrospectVerifiedTokens: introspection keeps the tokens whose
// signature it verified, and a kept token is still checked at each call:
// a token revoked, expired, altered, or signed by a key no longer
// published is inactive at once, after it introspected active.
func TestIntrospectVerifiedTokens(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ctx := context.Background()
		clock := testutil.NewClock(time.Now())
		cfg.Now, cfg.KeyCheckInterval = clock.Now, 200*time.Millisecond
		ts := startServer(t, cfg)
		svc := ts.Demo.Service
		token := func() string {
			tok, err := ts.ccConfig(svc, "identity.verify").Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return tok.AccessToken
		}
		active := func(what, tok string, want bool) {
			t.Helper()
			if m, body := ts.introspect(t, tok); m["active"] != want {
				t.Fatalf("%s: %s, want active %v", what, body, want)
			}
		}

		revoked, expiring, altered := token(), token(), token()
		for range 2 {
			active("a fresh token", revoked, true)
			active("a fresh token", expiring, true)
			active("a fresh token", altered, true)
		}
		// The same signature over another payload.
		b := []byte(altered)
		for i := range b {
			if b[i] == '.' {
				b[i+5] ^= 1
				break
			}
		}
		active("a token with a changed payload", string(b), false)
		active("the token it was changed from", altered, true)

		if code, _, body := post(t, ts.Public+"/oauth2/revoke", svc.ClientID, svc.ClientSecret, map[string][]string{"token": {revoked}}); code != 200 {
			t.Fatalf("revoke: %d %s", code, body)
		}
		active("a revoked token", revoked, false)

		clock.Advance(time.Hour + time.Minute)
		active("an expired token", expiring, false)
		clock.Advance(-time.Hour - time.Minute)

		// Its key taken out of publication, without revoking its tokens
		// (only a rotation and a store edit do that): the token is
		// refused, though its record stands.
		kid := activeKID(t, ts.keyList(t), "ES256")
		tok := token()
		active("a token of the active key", tok, true)
		if code, body := ts.adminDo(t, "POST", "/admin/keys/rotate", "application/json", `{"alg":"ES256"}`); code != 200 {
			t.Fatalf("rotate: %d %s", code, body)
		}
		active("a token of the retired key", tok, true)
		removeKey(t, ts, kid)
		testutil.Eventually(t, 30*time.Second, "a token of a removed key inactive", func() bool {
			m, _ := ts.introspect(t, tok)
			return m["active"] == false
		})
	})
}

// removeKey moves the retired key kid to removed in the server's store,
// as an edit of the store would, without revoking its tokens.
func removeKey(t *testing.T, ts *testServer, kid string) {
	t.Helper()
	ctx := context.Background()
	if ts.Store != nil {
		if err := ts.Store.UpdateKeys(ctx, time.Now(), storage.KeyChange{ID: kid, From: storage.KeyRetired, To: storage.KeyRemoved}); err != nil {
			t.Fatal(err)
		}
		return
	}
	conn, err := pgx.Connect(ctx, ts.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE signing_keys SET state = 'removed' WHERE id = $1`, kid); err != nil {
		t.Fatal(err)
	}
}

// An access token's record is kept under a digest of its signature, never
// the signature: with the claims beside it, the signature would let a
// copy of the token table rebuild the token.
func TestTokenRecordHoldsNoSignature(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, cfg)
		svc := ts.Demo.Service
		tok, err := ts.ccConfig(svc, "identity.verify").Token(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		sig := tok.AccessToken[strings.LastIndexByte(tok.AccessToken, '.')+1:]
		recs, err := ts.Srv.StoreForTest().ListTokensBySubject(t.Context(), svc.ClientID)
		if err != nil || len(recs) == 0 {
			t.Fatalf("records of %s = %v, %v", svc.ClientID, recs, err)
		}
		for _, r := range recs {
			if strings.Contains(r.Signature, sig) || strings.Contains(string(r.Session), sig) {
				t.Errorf("a %s record holds the token's signature", r.Kind)
			}
		}
		if recs[len(recs)-1].Signature != keys.RecordKey(tok.AccessToken) {
			t.Errorf("record key = %q, want keys.RecordKey of the token", recs[len(recs)-1].Signature)
		}
		if m, _ := ts.introspect(t, tok.AccessToken); m["active"] != true {
			t.Errorf("introspection = %v, want active", m)
		}
	})
}
