package authz_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// countingStore counts the token-record operations of a store, by kind.
type countingStore struct {
	storage.Store
	pushed, other atomic.Int64
}

func (c *countingStore) note(kind storage.TokenKind) {
	if kind == storage.PushedRequest {
		c.pushed.Add(1)
	} else {
		c.other.Add(1)
	}
}

func (c *countingStore) CreateToken(ctx context.Context, t storage.Token) error {
	c.note(t.Kind)
	return c.Store.CreateToken(ctx, t)
}

func (c *countingStore) GetToken(ctx context.Context, kind storage.TokenKind, sig string) (storage.Token, error) {
	c.note(kind)
	return c.Store.GetToken(ctx, kind, sig)
}

func (c *countingStore) ConsumeToken(ctx context.Context, kind storage.TokenKind, sig string, now time.Time) (storage.Token, error) {
	c.note(kind)
	return c.Store.ConsumeToken(ctx, kind, sig, now)
}

// countingTransport counts the HTTP requests a client sends.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// BenchmarkLogin measures one sign-in of a person through the code flow
// over loopback HTTP, from the first request to the redeemed code, by
// value and pushed (PAR), and reports the HTTP round trips of the client
// and the browser and the store's token-record operations per login
// (consent is remembered after the first). Password hashing is cheap
// here: it is not what is measured.
func BenchmarkLogin(b *testing.B) {
	for _, pushed := range []bool{false, true} {
		name := "by-value"
		if pushed {
			name = "pushed"
		}
		b.Run(name, func(b *testing.B) {
			backends(b, func(b *testing.B, cfg authz.Config) { benchLogin(b, cfg, pushed) })
		})
	}
}

func benchLogin(b *testing.B, cfg authz.Config, pushed bool) {
	cfg.Logger, cfg.JanitorInterval = zap.NewNop(), -1
	cfg.RateLimits = authz.RateLimits{TokenPerClient: -1, IntrospectPerClient: -1, PerIP: -1, LoginPerIP: -1, FailedPerIP: -1}
	if cfg.DatabaseURL != "" {
		cfg.Store, cfg.DatabaseURL = pgtest.Open(b), ""
	}
	counted := &countingStore{Store: cfg.Store}
	cfg.Store = counted
	ts := startServer(b, codeFlowConfig(cfg))
	ts.createUser(b, "ada")
	c := ts.createWebClient(b, adminapi.ClientJSON{})
	rt := &countingTransport{}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: rt})
	b.ReportAllocs()
	b.ResetTimer()
	pushedOps, otherOps := counted.pushed.Load(), counted.other.Load()
	for b.Loop() {
		br := newBrowser(b)
		br.client.Transport = rt
		v := oauth2.GenerateVerifier()
		start := authURL(c, "state-bench-1", v, "nonce")
		if pushed {
			req := formRequest(b, ts.Public+"/oauth2/par", c.ClientID, c.ClientSecret, parParams(c, "state-bench-1", v, "nonce"))
			resp, err := (&http.Client{Transport: rt}).Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var a parAnswer
			err = json.NewDecoder(resp.Body).Decode(&a)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusCreated {
				b.Fatalf("push = %d %v", resp.StatusCode, err)
			}
			start = ts.byReference(c.ClientID, a.RequestURI)
		}
		p := br.signIn(ts, start, "ada", "allow")
		loc, err := url.Parse(p.header.Get("Location"))
		if err != nil || loc.Query().Get("code") == "" {
			b.Fatalf("no code: %d %s", p.status, p.header.Get("Location"))
		}
		if _, err := c.cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(v)); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(rt.n.Load())/n, "http/login")
	b.ReportMetric(float64(counted.pushed.Load()-pushedOps)/n, "par-ops/login")
	b.ReportMetric(float64(counted.other.Load()-otherOps)/n, "token-ops/login")
}
