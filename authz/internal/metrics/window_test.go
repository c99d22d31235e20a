package metrics

import (
	"testing"
	"time"
)

// TestWindow: a window counts the last 60 minutes, drops older minutes,
// and reuses a bucket of an earlier hour from zero.
func TestWindow(t *testing.T) {
	var w window
	t0 := time.Date(2026, 12, 3, 10, 0, 30, 0, time.UTC)
	w.add(t0)
	w.add(t0.Add(10 * time.Second))
	w.add(t0.Add(30 * time.Minute))
	if n := w.sum(t0.Add(30 * time.Minute)); n != 3 {
		t.Errorf("sum after 30 minutes = %d, want 3", n)
	}
	if n := w.sum(t0.Add(60 * time.Minute)); n != 1 {
		t.Errorf("sum an hour later = %d, want 1 (the first minute has left the window)", n)
	}
	// The same bucket an hour on: reset, not added to.
	w.add(t0.Add(60 * time.Minute))
	if n := w.sum(t0.Add(60 * time.Minute)); n != 2 {
		t.Errorf("sum after reusing a bucket = %d, want 2", n)
	}
	if n := w.sum(t0.Add(3 * time.Hour)); n != 0 {
		t.Errorf("sum hours later = %d, want 0", n)
	}
}

// TestTokensLastHour: issued tokens and refused token requests of the
// public listener are counted; other endpoints and listeners are not.
func TestTokensLastHour(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	m := New(func() time.Time { return now }, nil)
	m.Issued("client_credentials")
	m.Issued("refresh_token")
	m.Observe("public", TokenEndpoint, 200, time.Millisecond, false)
	m.Observe("public", TokenEndpoint, 400, time.Millisecond, false)
	m.Observe("public", TokenEndpoint, 429, time.Millisecond, false)
	m.Observe("public", "/oauth2/introspect", 401, time.Millisecond, false)
	m.Observe("admin", TokenEndpoint, 404, time.Millisecond, false)
	if issued, refused := m.TokensLastHour(); issued != 2 || refused != 2 {
		t.Errorf("TokensLastHour = %d issued, %d refused; want 2, 2", issued, refused)
	}
	now = now.Add(time.Hour)
	if issued, refused := m.TokensLastHour(); issued != 0 || refused != 0 {
		t.Errorf("an hour later: %d issued, %d refused; want 0, 0", issued, refused)
	}
}
