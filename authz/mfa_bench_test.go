package authz_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
)

// BenchmarkSignIn measures a person's sign-in from the authorization
// request to the redirect back with a code, over loopback HTTP, with the
// production argon2id cost: with a password only, and with a password and
// a TOTP code. round-trips/op counts the browser's requests. The consent
// is given before the timer starts; totp-step-µs/op is the code's post
// alone (its answer is the redirect with the code).
func BenchmarkSignIn(b *testing.B) {
	for _, withTOTP := range []bool{false, true} {
		name := "password"
		if withTOTP {
			name = "password+totp"
		}
		b.Run(name, func(b *testing.B) {
			backends(b, func(b *testing.B, cfg authz.Config) { benchSignIn(b, cfg, withTOTP) })
		})
	}
}

func benchSignIn(b *testing.B, cfg authz.Config, withTOTP bool) {
	// Each sign-in with TOTP needs a time step of its own: the clock
	// moves 30 s per sign-in, from far enough behind the real one.
	clk := &testClock{}
	clk.Add(-time.Duration(b.N+40) * 30 * time.Second)
	cfg.Now, cfg.Logger = clk.Now, zap.NewNop()
	cfg.RateLimits.LoginPerIP = -1
	ts := startServer(b, cfg)
	ts.createUser(b, "ada")
	c := ts.createWebClient(b, adminapi.ClientJSON{Scope: "openid"})
	first := newBrowser(b)
	verifier := oauth2.GenerateVerifier()
	var opts []oauth2.AuthCodeOption
	if withTOTP {
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", acrMFA))
	}
	p := first.password(ts, authURL(c, "state-bench-01", verifier, "nonce-bench-01", opts...))
	var secret string
	if withTOTP {
		var e enrolled
		e, p = first.enroll(ts, clk, p)
		secret = e.secret
	}
	first.consentAndRedeem(ts, clk, c, p, verifier)
	trips := 0
	var second time.Duration
	b.ResetTimer()
	for range b.N {
		clk.Add(30 * time.Second)
		br := newBrowser(b)
		p := br.get(authURL(c, "state-bench-02", oauth2.GenerateVerifier(), "nonce-bench-02"))
		p = br.submit(ts.Public, p.onlyForm(b), url.Values{"username": {"ada"}, "password": {testPassword}})
		trips += 2
		if withTOTP {
			form, code := p.onlyForm(b), totpCode(b, secret, clk)
			start := time.Now()
			p = br.submit(ts.Public, form, url.Values{"code": {code}})
			second += time.Since(start)
			trips++
		}
		if p.status != http.StatusSeeOther {
			b.Fatalf("sign-in = %d:\n%s", p.status, p.body)
		}
	}
	b.ReportMetric(float64(trips)/float64(b.N), "round-trips/op")
	if withTOTP {
		b.ReportMetric(float64(second.Microseconds())/float64(b.N), "totp-step-µs/op")
	}
}
