package authz_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
)

// refreshFailStore fails the storing of refresh tokens with fail, once
// armed: the store going down, or the client deleted, in the middle of a
// redemption.
type refreshFailStore struct {
	*memory.Store
	fail atomic.Pointer[error]
}

func (s *refreshFailStore) CreateToken(ctx context.Context, t storage.Token) error {
	if p := s.fail.Load(); p != nil && t.Kind == storage.RefreshToken {
		return *p
	}
	return s.Store.CreateToken(ctx, t)
}

// TestRedemptionFailuresAreNot500: a store failure while a refresh token
// is redeemed answers 503 temporarily_unavailable, and a client deleted
// meanwhile invalid_client; neither is a 500 server_error.
func TestRedemptionFailuresAreNot500(t *testing.T) {
	for _, tt := range []struct {
		name       string
		fail       error
		wantStatus int
		wantCode   string
	}{
		{"store down", errors.New("connection reset"), 503, "temporarily_unavailable"},
		{"client deleted", storage.ErrNotFound, 401, "invalid_client"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := &refreshFailStore{Store: memory.New()}
			ts, _, c, b := startCodeFlow(t, authz.Config{Store: store})
			v := oauth2.GenerateVerifier()
			first := ts.redeemOK(t, c, newCode(t, ts, b, c, v), v)
			store.fail.Store(&tt.fail)
			st, body := ts.refresh(t, c, first.RefreshToken)
			if code, _ := oauthErr(t, body); st != tt.wantStatus || code != tt.wantCode {
				t.Fatalf("refresh with %s = %d %s, want %d %s", tt.name, st, body, tt.wantStatus, tt.wantCode)
			}
		})
	}
}
