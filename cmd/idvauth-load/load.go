package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Limits that keep a run bounded.
const (
	maxDuration   = 10 * time.Minute
	maxWorkers    = 1024
	maxTokens     = 10000
	maxErrorKinds = 5

	// maxBody is how much of a response body is kept for the success check;
	// the rest is read and discarded so that the connection is reused.
	maxBody = 64 << 10
	// requestTimeout bounds one request, so that a hung server cannot hold
	// a worker past the end of the run for long.
	requestTimeout = 15 * time.Second
)

// Modes of a run.
const (
	modeToken      = "token"
	modeIntrospect = "introspect"
)

// errNotLoopback is returned, wrapped, for a target or a dialled address
// that is not loopback.
var errNotLoopback = errors.New("not a loopback address (127.0.0.0/8, ::1 or localhost)")

// secret holds a client secret. String and GoString print [REDACTED], so a
// stray %v or %#v of a config cannot leak it.
type secret string

// String returns "[REDACTED]".
func (secret) String() string { return "[REDACTED]" }

// GoString returns `"[REDACTED]"`.
func (secret) GoString() string { return `"[REDACTED]"` }

// config describes one run. The zero value is not valid: Mode, Workers,
// Duration and the client of the mode must be set; validate says what is
// missing.
type config struct {
	// Target is the base URL of the server, such as http://127.0.0.1:8080.
	// Its host must be localhost or a loopback IP address.
	Target string
	// Mode is modeToken or modeIntrospect.
	Mode string
	// Workers is the number of concurrent workers, 1 to maxWorkers.
	Workers int
	// Duration bounds the run, at most maxDuration.
	Duration time.Duration
	// Requests caps the number of requests sent; zero means no cap (the
	// run is still bounded by Duration).
	Requests int64
	// ClientID and ClientSecret authenticate the token requests: the load
	// itself in token mode, the tokens to introspect in introspect mode.
	ClientID     string
	ClientSecret secret
	// IntrospectClientID and IntrospectClientSecret authenticate the
	// introspection requests; only introspect mode uses them.
	IntrospectClientID     string
	IntrospectClientSecret secret
	// Scope, if not empty, is sent as the scope of token requests.
	Scope string
	// DPoP sends a DPoP proof (RFC 9449) with each token request, each
	// worker with a key of its own, and expects DPoP tokens; token mode
	// only.
	DPoP bool
	// Tokens is how many distinct tokens introspect mode fetches before
	// the run and cycles through, 1 to maxTokens.
	Tokens int
	// APIKey, if set, is what introspect mode introspects instead of
	// fetched tokens (an idvauth API key); no client ID is needed then.
	APIKey secret
	// ServerPID, if set, is the PID of a server on this machine whose CPU
	// time over the run is reported (from /proc).
	ServerPID int
	// Transport, if not nil, replaces the loopback-only transport tuned
	// for Workers keep-alive connections; tests use it to watch requests.
	Transport http.RoundTripper
}

// validate checks cfg and returns the target's base URL, without a
// trailing slash.
func (cfg *config) validate() (string, error) {
	base, err := loopbackURL(cfg.Target)
	if err != nil {
		return "", err
	}
	switch cfg.Mode {
	case modeToken, modeIntrospect:
	default:
		return "", fmt.Errorf("mode %q: want %q or %q", cfg.Mode, modeToken, modeIntrospect)
	}
	if cfg.Workers < 1 || cfg.Workers > maxWorkers {
		return "", fmt.Errorf("workers %d: want 1 to %d", cfg.Workers, maxWorkers)
	}
	if cfg.Duration <= 0 || cfg.Duration > maxDuration {
		return "", fmt.Errorf("duration %v: want more than 0 and at most %v", cfg.Duration, maxDuration)
	}
	if cfg.Requests < 0 {
		return "", fmt.Errorf("requests %d: want 0 (no cap) or more", cfg.Requests)
	}
	if cfg.ClientID == "" && (cfg.Mode == modeToken || cfg.APIKey == "") {
		return "", errors.New("missing client id (-client-id)")
	}
	if cfg.ClientSecret == "" && (cfg.Mode == modeToken || cfg.APIKey == "") {
		return "", fmt.Errorf("missing client secret (-client-secret or %s)", envClientSecret)
	}
	if cfg.DPoP && cfg.Mode != modeToken {
		return "", errors.New("-dpop: token mode only")
	}
	if cfg.Mode == modeIntrospect {
		if cfg.IntrospectClientID == "" {
			return "", errors.New("introspect mode: missing introspect client id (-introspect-client-id)")
		}
		if cfg.IntrospectClientSecret == "" {
			return "", fmt.Errorf("introspect mode: missing introspect client secret (-introspect-client-secret or %s)", envIntrospectSecret)
		}
		if cfg.Tokens < 1 || cfg.Tokens > maxTokens {
			return "", fmt.Errorf("tokens %d: want 1 to %d", cfg.Tokens, maxTokens)
		}
	}
	return base, nil
}

// loopbackURL checks that target is an http or https URL without
// credentials, query or fragment whose host is localhost or a loopback IP
// address, and returns it without a trailing slash. The error wraps
// errNotLoopback if only the host is wrong.
func loopbackURL(target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		// url.Error repeats the whole target, which may hold a password.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("target: %w", err)
	}
	if u.User != nil {
		return "", fmt.Errorf("target %s: must not hold credentials; use the client flags", u.Redacted())
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("target %q: scheme must be http or https", target)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("target %q: must not have a query or fragment", target)
	}
	if host := u.Hostname(); !isLoopbackHost(host) {
		return "", fmt.Errorf("target %q: host %q is %w", target, host, errNotLoopback)
	}
	return u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"), nil
}

// isLoopbackHost reports whether host is localhost or a loopback IP address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// dialLoopbackOnly is a net.Dialer Control function refusing any address
// that is not loopback, so that a name such as localhost cannot lead
// elsewhere.
func dialLoopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		return fmt.Errorf("dial %s: %w", address, errNotLoopback)
	}
	return nil
}

// newTransport returns a transport for many keep-alive connections to one
// loopback host: an idle slot per worker, no cap on connections, no
// compression, no proxy, and dials to loopback addresses only.
func newTransport(workers int) *http.Transport {
	d := &net.Dialer{
		Timeout:   5 * time.Second,
		KeepAlive: 30 * time.Second,
		Control:   dialLoopbackOnly,
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		MaxIdleConns:          workers,
		MaxIdleConnsPerHost:   workers,
		MaxConnsPerHost:       0,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: requestTimeout,
		DisableCompression:    true,
	}
}

// basicAuth returns an Authorization header value for HTTP Basic with id
// and s form-encoded first, as RFC 6749 section 2.3.1 asks.
func basicAuth(id string, s secret) string {
	raw := url.QueryEscape(id) + ":" + url.QueryEscape(string(s))
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(raw))
}

// formHeader returns the headers of a form POST authenticated with auth.
func formHeader(auth string) http.Header {
	return http.Header{
		"Accept":        {"application/json"},
		"Authorization": {auth},
		"Content-Type":  {"application/x-www-form-urlencoded"},
		"User-Agent":    {"idvauth-load"},
	}
}

// endpoint is what the workers send: one URL, headers and a set of bodies
// taken in turn, all built once before the run. It is read-only once built
// and safe for concurrent use.
type endpoint struct {
	client *http.Client
	url    string
	// header is shared by every request; neither http.Client (without a
	// cookie jar or redirects) nor the transport writes to it.
	header http.Header
	bodies [][]byte
	// check returns "" for a successful answer, or the error kind.
	check func(status int, body []byte) string
	// dpop says each request carries a DPoP proof for url, made by its
	// worker's prover.
	dpop bool
}

// tokenEndpoint returns the client_credentials grant of cfg.
func tokenEndpoint(c *http.Client, base string, cfg *config) *endpoint {
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope := strings.Join(strings.Fields(cfg.Scope), " "); scope != "" {
		form.Set("scope", scope)
	}
	e := &endpoint{
		client: c,
		url:    base + "/oauth2/token",
		header: formHeader(basicAuth(cfg.ClientID, cfg.ClientSecret)),
		bodies: [][]byte{[]byte(form.Encode())},
		check:  checkToken,
	}
	if cfg.DPoP {
		e.dpop, e.check = true, checkDPoPToken
	}
	return e
}

// introspectEndpoint returns the introspection of tokens, in turn, by the
// introspect client of cfg.
func introspectEndpoint(c *http.Client, base string, cfg *config, tokens []string) *endpoint {
	bodies := make([][]byte, len(tokens))
	for i, tok := range tokens {
		bodies[i] = []byte(url.Values{"token": {tok}}.Encode())
	}
	return &endpoint{
		client: c,
		url:    base + "/oauth2/introspect",
		header: formHeader(basicAuth(cfg.IntrospectClientID, cfg.IntrospectClientSecret)),
		bodies: bodies,
		check:  checkIntrospect,
	}
}

var accessTokenKey = []byte(`"access_token"`)

// checkToken accepts HTTP 200 with an access_token.
func checkToken(status int, body []byte) string {
	if status != http.StatusOK {
		return statusKind(status)
	}
	if !bytes.Contains(body, accessTokenKey) {
		return "no_access_token"
	}
	return ""
}

// checkIntrospect accepts HTTP 200 with "active": true.
func checkIntrospect(status int, body []byte) string {
	if status != http.StatusOK {
		return statusKind(status)
	}
	var v struct {
		Active bool `json:"active"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "bad_json"
	}
	if !v.Active {
		return "inactive"
	}
	return ""
}

func statusKind(status int) string { return "status_" + strconv.Itoa(status) }

// transportKind names the kind of a failed request.
func transportKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, errNotLoopback):
		return "not_loopback"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "conn_refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "conn_reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	default:
		return "transport"
	}
}

// post sends body to e, with header h, and reads the whole answer into buf, keeping at most
// maxBody bytes, so that the connection goes back to the pool.
func post(ctx context.Context, e *endpoint, h http.Header, body []byte, buf *bytes.Buffer) (status int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header = h
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, maxBody)); err != nil {
		return 0, err
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// fetchTokens obtains n access tokens from tokens, with up to par requests
// at a time. It fails on the first answer without a token; the error gives
// the status and the server's error and error_description, never a secret
// or a token.
func fetchTokens(ctx context.Context, tokens *endpoint, n, par int) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		out   = make([]string, n)
		next  atomic.Int64
		once  sync.Once
		first error
		wg    sync.WaitGroup
	)
	for range min(n, par) {
		wg.Go(func() {
			var buf bytes.Buffer
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				tok, err := fetchToken(ctx, tokens, &buf)
				if err != nil {
					once.Do(func() {
						first = fmt.Errorf("fetch token %d of %d from %s: %w", i+1, n, tokens.url, err)
						cancel()
					})
					return
				}
				out[i] = tok
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fetch tokens: %w", err)
	}
	return out, nil
}

// fetchToken obtains one access token from tokens.
func fetchToken(ctx context.Context, tokens *endpoint, buf *bytes.Buffer) (string, error) {
	status, err := post(ctx, tokens, tokens.header, tokens.bodies[0], buf)
	if err != nil {
		return "", err
	}
	var v struct {
		AccessToken      string `json:"access_token"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	jsonErr := json.Unmarshal(buf.Bytes(), &v)
	if status != http.StatusOK {
		if jsonErr != nil || v.Error == "" {
			return "", fmt.Errorf("status %d", status)
		}
		return "", fmt.Errorf("status %d: error=%q error_description=%q",
			status, clip(v.Error), clip(v.ErrorDescription))
	}
	if jsonErr != nil {
		return "", fmt.Errorf("status %d: body is not JSON: %w", status, jsonErr)
	}
	if v.AccessToken == "" {
		return "", fmt.Errorf("status %d: no access_token in the answer", status)
	}
	return v.AccessToken, nil
}

// clip shortens a server-supplied string for an error message.
func clip(s string) string {
	const n = 200
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// quota hands out at most limit requests across workers; zero limit means
// no cap. It is safe for concurrent use.
type quota struct {
	limit int64
	taken atomic.Int64
}

// take reports whether one more request may be sent.
func (q *quota) take() bool {
	return q.limit <= 0 || q.taken.Add(1) <= q.limit
}

// worker holds what one goroutine measured. Only that goroutine touches it
// until the run ends, so the hot path takes no lock.
type worker struct {
	latencies []time.Duration
	ok        int64
	kinds     map[string]int64
	buf       bytes.Buffer
	// prover makes the DPoP proofs of an endpoint with dpop, header is
	// the worker's copy of the endpoint's headers that carries them.
	prover *prover
	header http.Header
}

// run sends requests to e, taking its bodies in turn from index first,
// until ctx ends or q runs out.
func (w *worker) run(ctx context.Context, e *endpoint, q *quota, first int) {
	i := first
	h := e.header
	if w.prover != nil {
		h = w.header
	}
	for ctx.Err() == nil && q.take() {
		body := e.bodies[i%len(e.bodies)]
		i++
		if w.prover != nil {
			var err error
			if h["Dpop"][0], err = w.prover.proof(time.Now()); err != nil {
				w.kinds["dpop_proof"]++ // not sent: no latency
				continue
			}
		}
		began := time.Now()
		status, err := post(ctx, e, h, body, &w.buf)
		took := time.Since(began)
		var kind string
		switch {
		case err != nil && ctx.Err() != nil:
			return // cut off by the end of the run, not by the server
		case err != nil:
			kind = transportKind(err)
		default:
			kind = e.check(status, w.buf.Bytes())
		}
		w.latencies = append(w.latencies, took)
		if kind == "" {
			w.ok++
		} else {
			w.kinds[kind]++
		}
	}
}

// report is the outcome of a run; its JSON form is the -o json output.
// Latencies cover every recorded request, successful or not.
type report struct {
	Mode       string           `json:"mode"`
	Workers    int              `json:"workers"`
	DurationS  float64          `json:"duration_s"`
	Requests   int64            `json:"requests"`
	OK         int64            `json:"ok"`
	Errors     int64            `json:"errors"`
	ErrorKinds map[string]int64 `json:"error_kinds"`
	RPS        float64          `json:"rps"`
	P50MS      float64          `json:"p50_ms"`
	P90MS      float64          `json:"p90_ms"`
	P99MS      float64          `json:"p99_ms"`
	MaxMS      float64          `json:"max_ms"`
	// ServerCPU is the server's CPU use over the run (with -server-pid);
	// LoadCPU the load tool's own, which shares the machine's cores.
	ServerCPU *cpuFigures `json:"server_cpu,omitempty"`
	LoadCPU   *cpuFigures `json:"load_cpu,omitempty"`
}

// load runs cfg until cfg.Duration has passed, cfg.Requests requests have
// been sent or ctx ends, whichever comes first, and reports what happened.
// It refuses an invalid cfg, including a target that is not loopback,
// before sending anything. In introspect mode it first fetches cfg.Tokens
// tokens and fails if any fetch fails. A run in which no request succeeded
// is still reported, with OK zero and a nil error.
func load(ctx context.Context, cfg config) (*report, error) {
	base, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	rt := cfg.Transport
	if rt == nil {
		rt = newTransport(cfg.Workers)
	}
	client := &http.Client{
		Transport: rt,
		Timeout:   requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	defer client.CloseIdleConnections()

	e := tokenEndpoint(client, base, &cfg)
	if cfg.Mode == modeIntrospect {
		tokens := []string{string(cfg.APIKey)}
		if cfg.APIKey == "" {
			if tokens, err = fetchTokens(ctx, e, cfg.Tokens, cfg.Workers); err != nil {
				return nil, err
			}
		}
		e = introspectEndpoint(client, base, &cfg, tokens)
	}

	cpu, cpuErr := startCPU(cfg.ServerPID)
	if cpuErr != nil && cfg.ServerPID != 0 {
		return nil, cpuErr
	}
	var provers []*prover
	for range cfg.Workers {
		if !e.dpop {
			break
		}
		p, err := newProver(e.url)
		if err != nil {
			return nil, err
		}
		provers = append(provers, p)
	}
	elapsed, workers := hammer(ctx, e, provers, cfg.Workers, cfg.Duration, cfg.Requests)
	r := summarize(cfg.Mode, elapsed, workers)
	if cpu != nil {
		if err := cpu.finish(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// hammer runs n workers against e for at most d and at most limit requests
// (zero: no cap), and returns the time it took with what each measured.
// With provers (one per worker), worker i proves with provers[i].
func hammer(ctx context.Context, e *endpoint, provers []*prover, n int, d time.Duration, limit int64) (time.Duration, []*worker) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	hint := 1 << 12
	if limit > 0 {
		hint = int(min(limit/int64(n)+1, 1<<16))
	}
	q := &quota{limit: limit}
	workers := make([]*worker, n)
	var wg sync.WaitGroup
	began := time.Now()
	for i := range workers {
		w := &worker{
			latencies: make([]time.Duration, 0, hint),
			kinds:     make(map[string]int64),
		}
		if i < len(provers) {
			w.prover, w.header = provers[i], dpopHeader(e.header)
		}
		workers[i] = w
		wg.Go(func() { w.run(ctx, e, q, i) })
	}
	wg.Wait()
	return time.Since(began), workers
}

// summarize merges what the workers measured over elapsed.
func summarize(mode string, elapsed time.Duration, workers []*worker) *report {
	r := &report{
		Mode:      mode,
		Workers:   len(workers),
		DurationS: round(elapsed.Seconds(), 3),
	}
	total := 0
	for _, w := range workers {
		total += len(w.latencies)
	}
	latencies := make([]time.Duration, 0, total)
	kinds := make(map[string]int64)
	for _, w := range workers {
		latencies = append(latencies, w.latencies...)
		r.OK += w.ok
		for k, c := range w.kinds {
			kinds[k] += c
			r.Errors += c
		}
	}
	r.Requests = int64(len(latencies))
	r.ErrorKinds = foldKinds(kinds, maxErrorKinds)
	if s := elapsed.Seconds(); s > 0 {
		r.RPS = round(float64(r.OK)/s, 1)
	}
	slices.Sort(latencies)
	r.P50MS = millis(percentile(latencies, 50))
	r.P90MS = millis(percentile(latencies, 90))
	r.P99MS = millis(percentile(latencies, 99))
	r.MaxMS = millis(percentile(latencies, 100))
	return r
}

// percentile returns the p-th percentile (0 to 100) of sorted by the
// nearest-rank method: the smallest value with at least p percent of the
// values at or below it. It returns 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	return sorted[min(max(rank, 1), n)-1]
}

// foldKinds returns counts with at most n keys: the n-1 most frequent kinds
// and "other" for the rest, if there are more than n.
func foldKinds(counts map[string]int64, n int) map[string]int64 {
	out := make(map[string]int64, min(len(counts), n))
	if len(counts) <= n {
		for k, c := range counts {
			out[k] = c
		}
		return out
	}
	for i, kc := range sortedKinds(counts) {
		if i < n-1 {
			out[kc.kind] = kc.count
		} else {
			out["other"] += kc.count
		}
	}
	return out
}

type kindCount struct {
	kind  string
	count int64
}

// sortedKinds returns counts by decreasing count, then by kind.
func sortedKinds(counts map[string]int64) []kindCount {
	out := make([]kindCount, 0, len(counts))
	for k, c := range counts {
		out = append(out, kindCount{k, c})
	}
	slices.SortFunc(out, func(a, b kindCount) int {
		return cmp.Or(cmp.Compare(b.count, a.count), strings.Compare(a.kind, b.kind))
	})
	return out
}

func millis(d time.Duration) float64 {
	return round(float64(d)/float64(time.Millisecond), 3)
}

func round(x float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(x*p) / p
}

// writeText writes r as one line of key=value pairs, then a line per
// error kind.
func writeText(w io.Writer, r *report) error {
	_, err := fmt.Fprintf(w, "mode=%s workers=%d duration=%.2fs requests=%d ok=%d errors=%d rps=%.1f p50=%s p90=%s p99=%s max=%s\n",
		r.Mode, r.Workers, r.DurationS, r.Requests, r.OK, r.Errors, r.RPS,
		formatMS(r.P50MS), formatMS(r.P90MS), formatMS(r.P99MS), formatMS(r.MaxMS))
	if err != nil {
		return err
	}
	for _, c := range []struct {
		who string
		f   *cpuFigures
	}{{"server", r.ServerCPU}, {"load", r.LoadCPU}} {
		if c.f == nil {
			continue
		}
		if _, err := fmt.Fprintf(w, "cpu %s=%.2fs per_request=%.1fus cores=%.2f\n", c.who, c.f.CPUS, c.f.USPerRequest, c.f.Cores); err != nil {
			return err
		}
	}
	for _, kc := range sortedKinds(r.ErrorKinds) {
		if _, err := fmt.Fprintf(w, "error kind=%s count=%d\n", kc.kind, kc.count); err != nil {
			return err
		}
	}
	return nil
}

// formatMS formats milliseconds with at most two decimals: 0.52ms, 12ms.
func formatMS(ms float64) string {
	return strconv.FormatFloat(round(ms, 2), 'f', -1, 64) + "ms"
}

// writeJSON writes r as an indented JSON object.
func writeJSON(w io.Writer, r *report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
