package authz_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
)

// BenchmarkFAPILogin measures the logins of a FAPI 2.0 client (server
// profile fapi2: private_key_jwt, PAR, PKCE, DPoP) for a person whose
// browser is signed in and who consented before, over loopback HTTP:
// the push to /oauth2/par, the authorization request by reference that
// answers with the code, and the code's redemption with a DPoP proof.
// It reports logins/s and the HTTP round trips of the client and the
// browser per login. The client's assertions and proofs are signed in
// the loop, on the same cores, as a client would.
func BenchmarkFAPILogin(b *testing.B) {
	backends(b, func(b *testing.B, cfg authz.Config) {
		cfg.Logger, cfg.JanitorInterval, cfg.Profile = zap.NewNop(), -1, "fapi2"
		cfg.RateLimits = authz.RateLimits{TokenPerClient: -1, IntrospectPerClient: -1, PerIP: -1, LoginPerIP: -1, FailedPerIP: -1}
		ts := startServer(b, codeFlowConfig(cfg), serverOptions{NoDemo: true})
		ts.createUser(b, "ada")
		br := newBrowser(b)
		g := newFAPIGrant(b, ts, br, nil) // signs in and consents once
		rt := &countingTransport{}
		br.client.Transport = rt
		client := &http.Client{Transport: rt}
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: &proofTransport{d: g.d, next: rt}})
		assertion := func() string { return signAssertion(b, g.c.key, assertionClaims(g.c.ClientID, ts.Public)) }
		b.ResetTimer()
		start := time.Now()
		for b.Loop() {
			v := oauth2.GenerateVerifier()
			params := parParams(g.wc, "state-fapi-bench", v, "nonce-fapi-bench")
			params.Set("client_assertion_type", jwtBearer)
			params.Set("client_assertion", assertion())
			resp, err := client.Do(formRequest(b, ts.Public+"/oauth2/par", "", "", params))
			if err != nil {
				b.Fatal(err)
			}
			var a parAnswer
			err = json.NewDecoder(resp.Body).Decode(&a)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusCreated {
				b.Fatalf("push = %d %v", resp.StatusCode, err)
			}
			p := br.get(ts.byReference(g.c.ClientID, a.RequestURI))
			loc, err := url.Parse(p.header.Get("Location"))
			if err != nil || p.status != http.StatusSeeOther || loc.Query().Get("code") == "" {
				b.Fatalf("authorization by reference = %d %s, want a redirect with a code", p.status, p.header.Get("Location"))
			}
			tok, err := g.wc.cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(v),
				oauth2.SetAuthURLParam("client_assertion_type", jwtBearer), oauth2.SetAuthURLParam("client_assertion", assertion()))
			if err != nil || tok.TokenType != "DPoP" {
				b.Fatalf("redemption = %v, %v; want a DPoP token", tok, err)
			}
		}
		elapsed := time.Since(start)
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "logins/s")
		b.ReportMetric(float64(rt.n.Load())/float64(b.N), "http/login")
	})
}

// proofTransport adds a fresh DPoP proof of d to each POST it sends by
// next (a dpopKey's own RoundTrip sends by the default transport).
type proofTransport struct {
	d    *dpopKey
	next http.RoundTripper
}

func (p *proofTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	u := *r.URL
	u.RawQuery = ""
	r.Header.Set("DPoP", p.d.proof(r.Method, u.String(), nil))
	return p.next.RoundTrip(r)
}
