package authz_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// requireLimited checks a 429 answer: Retry-After in whole seconds from 1
// to max, and an RFC 6749-style JSON body.
func requireLimited(t testing.TB, what string, code int, h http.Header, body []byte, max int) {
	t.Helper()
	if code != http.StatusTooManyRequests {
		t.Fatalf("%s = %d %s, want 429", what, code, body)
	}
	ra, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || ra < 1 || ra > max {
		t.Errorf("%s: Retry-After = %q, want whole seconds from 1 to %d", what, h.Get("Retry-After"), max)
	}
	if e, desc := oauthErr(t, body); e != "too_many_requests" || desc == "" || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Errorf("%s: body %s (%s), want JSON error too_many_requests with a description", what, body, h.Get("Content-Type"))
	}
}

// TestClientAuthCoolOff checks that the cool-off starts at the configured
// number of failures, refuses even the right secret from that address,
// is audited, and leaves other clients alone.
func TestClientAuthCoolOff(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		cfg.ClientAuthMaxFailures = 3
		cfg.ClientAuthWindow = time.Minute
		ts := startServer(t, cfg)
		svc, rs := ts.Demo.Service, ts.Demo.ResourceServer
		form := url.Values{"grant_type": {"client_credentials"}}
		for i := range 3 {
			if code, _, body := post(t, ts.Public+"/oauth2/token", svc.ClientID, "wrong", form); code != http.StatusUnauthorized {
				t.Fatalf("failure %d = %d %s, want 401 (no cool-off before the limit)", i+1, code, body)
			}
		}
		code, h, body := post(t, ts.Public+"/oauth2/token", svc.ClientID, svc.ClientSecret, form)
		requireLimited(t, "right secret during cool-off", code, h, body, 60)
		code, h, body = post(t, ts.Public+"/oauth2/introspect", svc.ClientID, svc.ClientSecret, url.Values{"token": {"x"}})
		requireLimited(t, "introspection during cool-off", code, h, body, 60)
		if code, _, body := post(t, ts.Public+"/oauth2/introspect", rs.ClientID, rs.ClientSecret, url.Values{"token": {"x"}}); code != http.StatusOK {
			t.Errorf("another client during the cool-off = %d %s, want 200", code, body)
		}
		locked := ts.auditAll(t, url.Values{"type": {adminapi.EventClientLocked}})
		if len(locked) != 1 || locked[0].ClientID != svc.ClientID || locked[0].IP != "127.0.0.1" || locked[0].Details["scope"] != "client_and_ip" {
			t.Errorf("client.locked entries = %+v, want one for %s from 127.0.0.1", locked, svc.ClientID)
		}
	})
}

// TestClientAuthCoolOffAcrossReplicas counts failures on two servers on one
// database: together they reach the limit, and both refuse.
func TestClientAuthCoolOffAcrossReplicas(t *testing.T) {
	dbURL := pgtest.URL(t)
	// No lock cache: each replica reads the shared counters every time,
	// so the test needs no waiting (the default cache bounds the lag to 1s).
	cfg := authz.Config{DatabaseURL: dbURL, ClientAuthMaxFailures: 4, ClientAuthWindow: time.Minute, ClientLockCacheTTL: -1}
	a := startServer(t, cfg)
	b := startServer(t, cfg, serverOptions{ReplicaOf: a.harnessServer})
	svc := a.Demo.Service
	form := url.Values{"grant_type": {"client_credentials"}}
	for i, ts := range []*testServer{a, b, a, b} {
		if code, _, body := post(t, ts.Public+"/oauth2/token", svc.ClientID, "wrong", form); code != http.StatusUnauthorized {
			t.Fatalf("failure %d = %d %s, want 401", i+1, code, body)
		}
	}
	for name, ts := range map[string]*testServer{"a": a, "b": b} {
		code, h, body := post(t, ts.Public+"/oauth2/token", svc.ClientID, svc.ClientSecret, form)
		requireLimited(t, "replica "+name+" after 2+2 failures", code, h, body, 60)
	}
}

// TestRateLimits checks the per-client and per-address token buckets: a
// client within its rate is never refused, one over it gets 429.
func TestRateLimits(t *testing.T) {
	ts := startServer(t, authz.Config{RateLimits: authz.RateLimits{TokenPerClient: 2, PerIP: 1000}})
	svc := ts.Demo.Service
	form := url.Values{"grant_type": {"client_credentials"}}
	// The bucket holds 10 s of the rate: 20 requests pass at once.
	for i := range 20 {
		if code, _, body := post(t, ts.Public+"/oauth2/token", svc.ClientID, svc.ClientSecret, form); code != http.StatusOK {
			t.Fatalf("request %d within the burst = %d %s", i+1, code, body)
		}
	}
	code, h, body := post(t, ts.Public+"/oauth2/token", svc.ClientID, svc.ClientSecret, form)
	requireLimited(t, "21st request", code, h, body, 1)
	// Another client has its own bucket.
	rs := ts.Demo.ResourceServer
	if code, _, body := post(t, ts.Public+"/oauth2/introspect", rs.ClientID, rs.ClientSecret, url.Values{"token": {"x"}}); code != http.StatusOK {
		t.Errorf("another client = %d %s", code, body)
	}

	// Per address: a tiny limit refuses before any client work.
	ip := startServer(t, authz.Config{RateLimits: authz.RateLimits{PerIP: 0.5}})
	for i := range 5 {
		if code, _, body := post(t, ip.Public+"/oauth2/token", "nobody", "x", form); code == http.StatusTooManyRequests {
			t.Fatalf("request %d within the address burst = 429 %s", i+1, body)
		}
	}
	code, h, body = post(t, ip.Public+"/oauth2/revoke", "nobody", "x", url.Values{"token": {"x"}})
	requireLimited(t, "address over its limit", code, h, body, 2)
}

// TestDefaultLimitsLetBusyClientsThrough runs a busy but well-behaved
// pattern against the default limits: never a 429.
func TestDefaultLimitsLetBusyClientsThrough(t *testing.T) {
	ts := startServer(t, authz.Config{})
	svc, rs := ts.Demo.Service, ts.Demo.ResourceServer
	code, _, body := post(t, ts.Public+"/oauth2/token", svc.ClientID, svc.ClientSecret, url.Values{"grant_type": {"client_credentials"}})
	if code != http.StatusOK {
		t.Fatalf("token: %d %s", code, body)
	}
	tok := accessToken(t, body)
	for i := range 300 {
		if code, _, body := post(t, ts.Public+"/oauth2/introspect", rs.ClientID, rs.ClientSecret, url.Values{"token": {tok}}); code != http.StatusOK {
			t.Fatalf("introspection %d = %d %s", i+1, code, body)
		}
	}
	for i := range 50 {
		if code, _, body := post(t, ts.Public+"/oauth2/token", svc.ClientID, svc.ClientSecret, url.Values{"grant_type": {"client_credentials"}}); code != http.StatusOK {
			t.Fatalf("token %d = %d %s", i+1, code, body)
		}
	}
}

// scrape reads /metrics and parses it as Prometheus text exposition.
func (ts *testServer) scrape(t testing.TB) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(ts.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	return fams
}

// value sums the samples of family whose labels include want.
func value(fams map[string]*dto.MetricFamily, family string, want map[string]string) float64 {
	f := fams[family]
	if f == nil {
		return 0
	}
	var sum float64
	for _, m := range f.GetMetric() {
		match := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			sum += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			sum += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// TestMetrics checks that /metrics parses and moves with requests.
func TestMetrics(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, cfg)
		before := ts.scrape(t)
		svc, rs := ts.Demo.Service, ts.Demo.ResourceServer
		_, _, body := post(t, ts.Public+"/oauth2/token", svc.ClientID, svc.ClientSecret, url.Values{"grant_type": {"client_credentials"}})
		tok := accessToken(t, body)
		post(t, ts.Public+"/oauth2/introspect", rs.ClientID, rs.ClientSecret, url.Values{"token": {tok}})
		post(t, ts.Public+"/oauth2/introspect", rs.ClientID, rs.ClientSecret, url.Values{"token": {"junk"}})
		post(t, ts.Public+"/oauth2/token", svc.ClientID, "wrong", url.Values{"grant_type": {"client_credentials"}})
		after := ts.scrape(t)
		for _, c := range []struct {
			family string
			labels map[string]string
			delta  float64
		}{
			{"idvauth_tokens_issued_total", map[string]string{"grant": "client_credentials"}, 1},
			{"idvauth_introspections_total", map[string]string{"active": "true"}, 1},
			{"idvauth_introspections_total", map[string]string{"active": "false"}, 1},
			{"idvauth_client_auth_failures_total", nil, 1},
			{"idvauth_http_requests_total", map[string]string{"endpoint": "/oauth2/token", "code": "200"}, 1},
			{"idvauth_http_requests_total", map[string]string{"endpoint": "/oauth2/token", "code": "401"}, 1},
			{"idvauth_http_request_duration_seconds", map[string]string{"endpoint": "/oauth2/introspect"}, 2},
			{"idvauth_audit_append_seconds", nil, 4},
		} {
			if d := value(after, c.family, c.labels) - value(before, c.family, c.labels); d != c.delta {
				t.Errorf("%s%v moved by %v, want %v", c.family, c.labels, d, c.delta)
			}
		}
		if n := value(after, "idvauth_signing_key_age_seconds", map[string]string{"state": "active"}); n < 0 || after["idvauth_signing_key_age_seconds"] == nil ||
			len(after["idvauth_signing_key_age_seconds"].GetMetric()) < 2 {
			t.Errorf("signing key ages = %v", after["idvauth_signing_key_age_seconds"])
		}
		if ts.DatabaseURL != "" && after["idvauth_db_connections_max"] == nil {
			t.Error("no database pool metrics on PostgreSQL")
		}
		// No label holds a client secret or token.
		for _, f := range after {
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if strings.Contains(l.GetValue(), svc.ClientSecret) || strings.Contains(l.GetValue(), tok) || strings.Contains(l.GetValue(), svc.ClientID) {
						t.Errorf("metric %s has label %s=%q", f.GetName(), l.GetName(), l.GetValue())
					}
				}
			}
		}
	})
}

// TestMetricsToken checks that a configured metrics token is required,
// and that the admin token is not it.
func TestMetricsToken(t *testing.T) {
	ts := startServer(t, authz.Config{MetricsToken: "metrics-token-0123456789"})
	for _, c := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer " + testAdminToken, 401}, {"Bearer metrics-token-0123456789", 200}} {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", ts.Admin+"/metrics", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		if code, _, _ := do(t, req); code != c.want {
			t.Errorf("GET /metrics with %q = %d, want %d", c.auth, code, c.want)
		}
	}
}

// TestRefusedRequestsLimit checks that an address sending refused
// requests is stopped before any work once it used up its failures
// bucket, and that those 429s write no audit entries.
func TestRefusedRequestsLimit(t *testing.T) {
	ts := startServer(t, authz.Config{RateLimits: authz.RateLimits{FailedPerIP: 0.5}}) // a bucket of 5
	form := url.Values{"grant_type": {"client_credentials"}}
	for i := range 5 {
		if code, _, body := post(t, ts.Public+"/oauth2/token", "nobody-"+strconv.Itoa(i), "x", form); code != http.StatusUnauthorized {
			t.Fatalf("refused request %d = %d %s, want 401", i+1, code, body)
		}
	}
	for _, ep := range []string{"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"} {
		code, h, body := post(t, ts.Public+ep, "nobody", "x", url.Values{"grant_type": {"client_credentials"}, "token": {"x"}})
		requireLimited(t, ep+" after 5 refusals", code, h, body, 3)
	}
	if refused := ts.auditAll(t, url.Values{"type": {adminapi.EventTokenRefused}}); len(refused) != 5 {
		t.Errorf("token.refused entries = %d, want 5 (the 429s are not audited)", len(refused))
	}
}
