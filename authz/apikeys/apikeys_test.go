package apikeys

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
)

func TestNewParse(t *testing.T) {
	scanner := regexp.MustCompile(`^` + ScannerPattern + `$`)
	seen := map[string]bool{}
	for range 50 {
		key, id, digest := New()
		if !scanner.MatchString(key) {
			t.Fatalf("key %q does not match the scanner pattern", key)
		}
		gotID, secret, ok := Parse(key)
		if !ok || gotID != id || string(Digest(secret)) != string(digest) {
			t.Fatalf("Parse(New()) = %q, %t; want ID %q and the digest's secret", gotID, ok, id)
		}
		if seen[id] {
			t.Fatal("two keys with one ID")
		}
		seen[id] = true
	}
	key, _, _ := New()
	for _, bad := range []string{
		"", "idvk_", key[:len(key)-1], key + "A", strings.Replace(key, "idvk_", "idvx_", 1),
		strings.ToUpper(key[:25]) + key[25:], key[:25] + "-" + key[26:], key[:len(key)-1] + "=",
		"idvk_" + strings.Repeat("g", 20) + key[25:],
	} {
		if _, _, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) = ok, want refused", bad)
		}
	}
}

func TestFromHeader(t *testing.T) {
	key, _, _ := New()
	for header, want := range map[string]bool{
		"Bearer " + key: true, "bearer " + key: true, "Basic " + key: false, "Bearer eyJhbGciOi": false, key: false, "": false,
	} {
		r := httptest.NewRequest("POST", "/oauth2/token", nil)
		r.Header.Set("Authorization", header)
		if got, ok := FromHeader(r); ok != want || (ok && got != key) {
			t.Errorf("FromHeader(%q) = %q, %t; want %t", header, got, ok, want)
		}
	}
}

func newStoreWithKey(t *testing.T, now time.Time, networks []string) (*memory.Store, string, storage.APIKey) {
	t.Helper()
	s := memory.New()
	if err := s.CreateClient(t.Context(), storage.Client{ID: "c1", Name: "c1", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	key, id, digest := New()
	k := storage.APIKey{ID: id, ClientID: "c1", Name: "ci", Digest: digest, Scopes: []string{"identity.verify"},
		Networks: networks, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateAPIKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	return s, key, k
}

func TestCheck(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	clock := now
	s, key, k := newStoreWithKey(t, now, []string{"192.0.2.0/24", "2001:db8::/32"})
	c := NewChecker(s, func() time.Time { return clock })
	in, out := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("198.51.100.1")
	if got, err := c.Check(t.Context(), key, in); err != nil || got.ID != k.ID {
		t.Fatalf("Check(right key) = %+v, %v", got, err)
	}
	if _, err := c.Check(t.Context(), key, netip.MustParseAddr("::ffff:192.0.2.7")); err != nil {
		t.Errorf("Check(IPv4-mapped allowed address) = %v", err)
	}
	if _, err := c.Check(t.Context(), key, out); !errors.Is(err, ErrNetwork) {
		t.Errorf("Check(from another network) = %v, want ErrNetwork", err)
	}
	wrong := key[:len(key)-2] + "AA"
	if wrong == key {
		wrong = key[:len(key)-2] + "BA"
	}
	other, _, _ := New()
	for name, bad := range map[string]string{"wrong secret": wrong, "unknown key": other, "malformed": "idvk_x"} {
		if _, err := c.Check(t.Context(), bad, in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Check(%s) = %v, want ErrInvalid", name, err)
		}
	}
	clock = k.ExpiresAt
	if _, err := c.Check(t.Context(), key, in); !errors.Is(err, ErrInvalid) {
		t.Errorf("Check(at expiry) = %v, want ErrInvalid", err)
	}
}

// failingTouch fails TouchAPIKeys while fail is set.
type failingTouch struct {
	*memory.Store
	fail bool
}

func (f *failingTouch) TouchAPIKeys(ctx context.Context, used map[string]time.Time) error {
	if f.fail {
		return errors.New("down")
	}
	return f.Store.TouchAPIKeys(ctx, used)
}

// TestUsesAreBatched: uses are stored on Flush, not on use; a failed
// flush keeps them for the next.
func TestUsesAreBatched(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	clock := now
	ms, _, k := newStoreWithKey(t, now, nil)
	s := &failingTouch{Store: ms}
	c := NewChecker(s, func() time.Time { return clock })
	clock = now.Add(time.Minute)
	c.NoteUse(k.ID)
	if got, _ := ms.GetAPIKey(t.Context(), k.ID); !got.LastUsedAt.IsZero() {
		t.Fatalf("last use stored before a flush: %v", got.LastUsedAt)
	}
	s.fail = true
	if err := c.Flush(t.Context()); err == nil {
		t.Fatal("Flush with the store down = nil error")
	}
	s.fail = false
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, _ := ms.GetAPIKey(t.Context(), k.ID); !got.LastUsedAt.Equal(clock) {
		t.Fatalf("last use after a failed flush and a good one = %v, want %v", got.LastUsedAt, clock)
	}
}

func TestParseNetworks(t *testing.T) {
	got, err := ParseNetworks([]string{"192.0.2.9/24", " 2001:db8::1/32"})
	if err != nil || strings.Join(got, " ") != "192.0.2.0/24 2001:db8::/32" {
		t.Fatalf("ParseNetworks = %v, %v", got, err)
	}
	for _, bad := range []string{"192.0.2.1", "example.com/8", "10.0.0.0/33", ""} {
		if _, err := ParseNetworks([]string{bad}); err == nil {
			t.Errorf("ParseNetworks(%q) = nil error", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	key, _, _ := New()
	f.Add(key)
	f.Add("idvk_")
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, ok := Parse(s)
		if ok && s != Prefix+id+"_"+secret {
			t.Fatalf("Parse(%q) = %q, %q: not the key's parts", s, id, secret)
		}
	})
}
