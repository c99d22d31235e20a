package authz_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/settings"
)

// TestConcurrentLoginsCheckAtMostTheLimit sends 21 sign-ins to one account
// at once, 20 with wrong passwords and one with the right one, against a
// limit of 5 failures: at most 5 passwords may be checked (the rest are
// refused before, with 429), on every backend.
func TestConcurrentLoginsCheckAtMostTheLimit(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		// A password check slow enough that all the attempts overlap.
		cfg.Argon2 = settings.Argon2{Time: 8, MemoryKiB: 8 << 10, Threads: 1}
		cfg.LoginMaxFailures, cfg.LoginMaxFailuresPerIP = 5, 1000
		cfg.RateLimits.LoginPerIP = -1
		cfg.PasswordHashConcurrency = 64
		ts := startServer(t, cfg)
		ts.createUser(t, "ada")
		c := ts.createWebClient(t, adminapi.ClientJSON{})
		b := newBrowser(t)
		login := b.follow(ts.Public, b.get(authURL(c, "state-lock-001", oauth2.GenerateVerifier(), "nonce-lock-001"))).onlyForm(t)
		const n = 21
		pages := make([]page, n)
		var wg sync.WaitGroup
		for i := range n {
			pw := "wrong password " + randomString(6)
			if i == n/2 {
				pw = testPassword
			}
			wg.Go(func() { pages[i] = b.submit(ts.Public, login, url.Values{"username": {"ada"}, "password": {pw}}) })
		}
		wg.Wait()
		checked, refused := 0, 0
		for _, p := range pages {
			switch {
			case p.status == http.StatusTooManyRequests:
				refused++
			case strings.Contains(p.body, "not correct"), p.isConsent():
				checked++
			default:
				t.Errorf("an attempt got %d: %.200s", p.status, p.body)
			}
		}
		if checked > cfg.LoginMaxFailures || checked+refused != n {
			t.Fatalf("%d of %d concurrent sign-ins were checked (%d refused), want at most %d", checked, n, refused, cfg.LoginMaxFailures)
		}
	})
}
