package authz

import (
	"testing"
	"time"

	"github.com/ory/fosite"
)

// TestLimitCodeLifetime: a FAPI 2.0 client's code lives at most the
// limit whatever fosite asks; other expiries are untouched.
func TestLimitCodeLifetime(t *testing.T) {
	s := &session{}
	s.LimitCodeLifetime(time.Minute)
	far := time.Now().UTC().Add(10 * time.Minute)
	s.SetExpiresAt(fosite.AuthorizeCode, far)
	if got := s.GetExpiresAt(fosite.AuthorizeCode); got.After(time.Now().UTC().Add(time.Minute)) || got.Before(time.Now().UTC().Add(50*time.Second)) {
		t.Errorf("code expiry %s, want about a minute from now", got)
	}
	s.SetExpiresAt(fosite.AccessToken, far)
	if s.GetExpiresAt(fosite.AccessToken) != far {
		t.Error("the access token's expiry was limited too")
	}
	near := time.Now().UTC().Add(10 * time.Second)
	s.SetExpiresAt(fosite.AuthorizeCode, near)
	if s.GetExpiresAt(fosite.AuthorizeCode) != near {
		t.Error("a shorter code expiry was changed")
	}
	unlimited := &session{}
	unlimited.SetExpiresAt(fosite.AuthorizeCode, far)
	if unlimited.GetExpiresAt(fosite.AuthorizeCode) != far {
		t.Error("a session without a limit cut its code's expiry")
	}
}
