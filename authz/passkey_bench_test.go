package authz_test

import (
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
)

// BenchmarkPasskeySignIn measures a sign-in with a passkey alone, from
// the authorization request to the redirect back with a code, over
// loopback HTTP with a software authenticator (its signing is inside the
// loop, but not inside passkey-post-µs/op, the credential's post alone:
// the server's check, counter update and session). round-trips/op counts
// the browser's requests; consent is given before the timer starts.
func BenchmarkPasskeySignIn(b *testing.B) {
	backends(b, func(b *testing.B, cfg authz.Config) {
		cfg.Logger = zap.NewNop()
		ts, _, c, auth := passkeyServer(b, cfg)
		newBrowser(b).addPasskey(ts, c, auth)
		trips := 0
		var post time.Duration
		b.ResetTimer()
		for range b.N {
			br := newBrowser(b)
			btn, ok := passkeyButton(b, br.get(authURL(c, "state-bench-pk", oauth2.GenerateVerifier(), "nonce-bench-pk")))
			if !ok {
				b.Fatal("no passkey button on the login page")
			}
			body, err := auth.Get(btn.options)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			code, ans := br.postCredential(ts.Public, btn.finish, btn.csrf, "application/json", body)
			post += time.Since(start)
			if code != http.StatusOK {
				b.Fatalf("passkey post = %d %v", code, ans)
			}
			if p := br.get(ts.Public + ans["redirect"]); p.status != http.StatusSeeOther {
				b.Fatalf("authorization after the passkey = %d:\n%s", p.status, p.body)
			}
			trips += 3
		}
		b.ReportMetric(float64(trips)/float64(b.N), "round-trips/op")
		b.ReportMetric(float64(post.Microseconds())/float64(b.N), "passkey-post-µs/op")
	})
}
