// Package metrics holds the server's Prometheus metrics, in a registry of
// its own (no global state), and serves them. Label values come from fixed
// sets (endpoint names, status codes, grant types, key IDs of the ring):
// never from a request's text, so that their number stays bounded and holds
// no personal data.
package metrics

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres"
)

// Metrics are the server's metrics. Build them with New; they are safe for
// concurrent use.
type Metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	issued       *prometheus.CounterVec
	introspected *prometheus.CounterVec
	authFailures prometheus.Counter
	limited      *prometheus.CounterVec
	auditAppend  prometheus.Histogram
	// auditReadWaits counts reads that waited for room in the queue of
	// read audit entries.
	auditReadWaits prometheus.Counter
	auditBatch     prometheus.Histogram
	auditCommit    prometheus.Histogram
	deadlines      *prometheus.CounterVec
	// now, issuedHour and refusedHour count the token endpoint's answers
	// of the last hour, for the console (TokensLastHour).
	now                     func() time.Time
	issuedHour, refusedHour window
}

// New returns the metrics; now is the clock and keys lists the signing
// keys whose ages are reported.
func New(now func() time.Time, keys func() []storage.Key) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), now: now}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "idvauth_http_requests_total", Help: "HTTP requests answered, by listener, endpoint and status code.",
	}, []string{"listener", "endpoint", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "idvauth_http_request_duration_seconds", Help: "Time to answer HTTP requests, by listener and endpoint.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"listener", "endpoint"})
	m.issued = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "idvauth_tokens_issued_total", Help: "Token responses sent, by grant type.",
	}, []string{"grant"})
	m.introspected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "idvauth_introspections_total", Help: "Introspection answers, by whether the token was active.",
	}, []string{"active"})
	m.authFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "idvauth_client_auth_failures_total", Help: "Failed client authentications.",
	})
	m.limited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "idvauth_rate_limited_total", Help: "Requests refused with 429, by endpoint and limit (ip, client, cooloff).",
	}, []string{"endpoint", "limit"})
	m.auditAppend = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "idvauth_audit_append_seconds", Help: "Time a request waits for its audit entry to be durable.",
		Buckets: []float64{.0002, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	})
	m.auditReadWaits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "idvauth_audit_read_waits_total", Help: "Reads that waited for room in the full queue of read audit entries (back-pressure).",
	})
	m.auditBatch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "idvauth_audit_batch_entries", Help: "Audit entries committed together (group commit; PostgreSQL).",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
	})
	m.auditCommit = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "idvauth_audit_commit_seconds", Help: "Time to commit one audit batch (PostgreSQL).",
		Buckets: []float64{.0002, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	})
	m.deadlines = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "idvauth_request_deadline_exceeded_total",
		Help: "Requests answered after their deadline (IDVAUTH_DATABASE_TIMEOUT) passed: their store calls timed out; by listener and endpoint.",
	}, []string{"listener", "endpoint"})
	keyAge := prometheus.NewDesc("idvauth_signing_key_age_seconds", "Age of each published signing key, by kid, algorithm and state.",
		[]string{"kid", "alg", "state"}, nil)
	m.reg.MustRegister(m.requests, m.latency, m.issued, m.introspected, m.authFailures, m.limited,
		m.auditAppend, m.auditReadWaits, m.auditBatch, m.auditCommit, m.deadlines,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectorFunc{descs: []*prometheus.Desc{keyAge}, collect: func(ch chan<- prometheus.Metric) {
			now := now()
			for _, k := range keys() {
				if k.State == "removed" {
					continue
				}
				ch <- prometheus.MustNewConstMetric(keyAge, prometheus.GaugeValue, now.Sub(k.CreatedAt).Seconds(), k.ID, k.Alg, k.State)
			}
		}})
	return m
}

// WatchPool adds the pool figures of a PostgreSQL store.
func (m *Metrics) WatchPool(st any) {
	if ps, ok := st.(interface{ PoolStats() postgres.PoolStats }); ok {
		m.reg.MustRegister(poolCollector(ps.PoolStats))
	}
}

// WatchKeyRing adds how long ago the key ring last read the store
// (sinceLoad): past a few key check intervals, a replica may miss another
// one's rotation.
func (m *Metrics) WatchKeyRing(sinceLoad func() time.Duration) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "idvauth_signing_keys_loaded_age_seconds",
		Help: "Time since the key ring last read the signing keys from the store.",
	}, func() float64 { return sinceLoad().Seconds() }))
}

// collectorFunc is a prometheus.Collector computed at scrape time.
type collectorFunc struct {
	descs   []*prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

// poolCollector reports the PostgreSQL pool figures at scrape time.
func poolCollector(stats func() postgres.PoolStats) prometheus.Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("idvauth_db_"+name, help, nil, nil)
	}
	total, idle, acquired, maxc := d("connections", "Open database connections."), d("connections_idle", "Idle database connections."),
		d("connections_acquired", "Database connections in use."), d("connections_max", "Cap on database connections.")
	acq, empty, wait := d("acquires_total", "Connection acquisitions."), d("acquires_waited_total", "Connection acquisitions that waited for a connection."),
		d("acquire_seconds_total", "Time spent acquiring connections.")
	broken := d("connections_broken_total", "Database connections closed as broken: found dead before use, or failed (a deadline, the network, the server) during a statement.")
	listening, lost := d("listener_up", "1 while the change listener (LISTEN/NOTIFY) holds a live connection."),
		d("listener_lost_total", "Change listener connections lost, to errors or to silence (no answer to a ping).")
	descs := []*prometheus.Desc{total, idle, acquired, maxc, acq, empty, wait, broken, listening, lost}
	return collectorFunc{descs: descs, collect: func(ch chan<- prometheus.Metric) {
		st := stats()
		g := func(desc *prometheus.Desc, t prometheus.ValueType, v float64) {
			ch <- prometheus.MustNewConstMetric(desc, t, v)
		}
		g(total, prometheus.GaugeValue, float64(st.Total))
		g(idle, prometheus.GaugeValue, float64(st.Idle))
		g(acquired, prometheus.GaugeValue, float64(st.Acquired))
		g(maxc, prometheus.GaugeValue, float64(st.Max))
		g(acq, prometheus.CounterValue, float64(st.AcquireCount))
		g(empty, prometheus.CounterValue, float64(st.EmptyAcquireCount))
		g(wait, prometheus.CounterValue, st.AcquireDuration.Seconds())
		g(broken, prometheus.CounterValue, float64(st.Broken))
		up := 0.0
		if st.ListenerUp {
			up = 1
		}
		g(listening, prometheus.GaugeValue, up)
		g(lost, prometheus.CounterValue, float64(st.ListenerLost))
	}}
}

// Observe records one answered request, and whether its deadline had
// passed by the time it was answered (its store calls gave up).
func (m *Metrics) Observe(listener, endpoint string, status int, d time.Duration, deadlinePassed bool) {
	m.requests.WithLabelValues(listener, endpoint, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(listener, endpoint).Observe(d.Seconds())
	if deadlinePassed {
		m.deadlines.WithLabelValues(listener, endpoint).Inc()
	}
	if listener == "public" && endpoint == TokenEndpoint && status >= 400 {
		m.refusedHour.add(m.now())
	}
}

// TokenEndpoint is the endpoint label of the token endpoint (on the
// listener named "public").
const TokenEndpoint = "/oauth2/token"

// TokensLastHour returns how many token responses this server sent in
// the last hour (Issued), and how many token requests it refused (any
// error answer of TokenEndpoint, 429s included).
func (m *Metrics) TokensLastHour() (issued, refused int64) {
	now := m.now()
	return m.issuedHour.sum(now), m.refusedHour.sum(now)
}

// RateLimited counts a request refused by the limit named limit.
func (m *Metrics) RateLimited(endpoint, limit string) {
	m.limited.WithLabelValues(endpoint, limit).Inc()
}

// Handler serves /metrics: open unless token is set, then it needs that
// bearer token (never the admin token: a scraper should not hold the keys
// to the admin API).
func (m *Metrics) Handler(token string) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			web.MethodNotAllowed(w, "GET, HEAD")
			return
		}
		if token != "" {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			sum := sha256.Sum256([]byte(tok))
			if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				web.WriteError(w, http.StatusUnauthorized, "unauthorized", "A valid metrics bearer token is required.")
				return
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// AuditBatch records one committed audit batch (the PostgreSQL store
// reports them; a nil *Metrics ignores them).
func (m *Metrics) AuditBatch(entries int, commit time.Duration) {
	if m != nil {
		m.auditBatch.Observe(float64(entries))
		m.auditCommit.Observe(commit.Seconds())
	}
}

// Issued counts a token response of grant.
func (m *Metrics) Issued(grant string) {
	m.issued.WithLabelValues(grant).Inc()
	m.issuedHour.add(m.now())
}

// Introspected counts an introspection answer.
func (m *Metrics) Introspected(active bool) {
	m.introspected.WithLabelValues(strconv.FormatBool(active)).Inc()
}

// AuthFailure counts a failed client authentication.
func (m *Metrics) AuthFailure() { m.authFailures.Inc() }

// AuditReadWait counts a read that waited for room in the full queue of
// read audit entries (back-pressure).
func (m *Metrics) AuditReadWait() { m.auditReadWaits.Inc() }

// AuditAppend records how long a request waited for its audit entry.
func (m *Metrics) AuditAppend(d time.Duration) { m.auditAppend.Observe(d.Seconds()) }
