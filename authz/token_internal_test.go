package authz

import (
	"testing"
	"time"

	"github.com/ory/fosite"
)

// TestRefreshLifetime checks when each refresh token of a grant expires:
// the idle lifetime from now, never past the maximum from the grant's
// start, which a grant (or a refresh token stored before starts were
// kept) without one takes from now.
func TestRefreshLifetime(t *testing.T) {
	const idle, maxLife = 2 * time.Hour, 5 * time.Hour
	s := &Server{cfg: Config{RefreshTokenTTL: idle, RefreshTokenMaxLifetime: maxLife}}
	start := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		gt        string
		start     time.Time // the session's GrantStart
		now       time.Time
		wantStart time.Time
		wantExp   time.Time
		wantErr   bool
	}{
		{"code redemption starts the grant", grantAuthorizationCode, time.Time{}, start, start, start.Add(idle), false},
		{"refresh within the maximum", grantRefreshToken, start, start.Add(time.Hour), start, start.Add(3 * time.Hour), false},
		{"refresh near the end", grantRefreshToken, start, start.Add(4 * time.Hour), start, start.Add(maxLife), false},
		{"refresh a second before the end", grantRefreshToken, start, start.Add(maxLife - time.Second), start, start.Add(maxLife), false},
		{"refresh at the end", grantRefreshToken, start, start.Add(maxLife), start, time.Time{}, true},
		{"refresh past the end", grantRefreshToken, start, start.Add(30 * 24 * time.Hour), start, time.Time{}, true},
		{"refresh token stored without a start", grantRefreshToken, time.Time{}, start, start, start.Add(idle), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			grant := &session{GrantStart: tt.start, RefreshExp: tt.now.Add(time.Minute)}
			err := s.refreshLifetime(grant, tt.gt, tt.now, maxLife)
			if tt.wantErr {
				if fosite.ErrorToRFC6749Error(err).ErrorField != fosite.ErrInvalidGrant.ErrorField {
					t.Fatalf("refreshLifetime = %v, want invalid_grant", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("refreshLifetime = %v", err)
			}
			if !grant.GrantStart.Equal(tt.wantStart) || !grant.RefreshExp.Equal(tt.wantExp) {
				t.Errorf("refreshLifetime: start %v, expiry %v; want %v, %v", grant.GrantStart, grant.RefreshExp, tt.wantStart, tt.wantExp)
			}
		})
	}
}
