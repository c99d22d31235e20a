package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Credentials of the fake server; the secrets need form-encoding in Basic.
const (
	testClientID         = "demo-service"
	testClientSecret     = "s3cr3t:with/odd+chars %"
	testIntrospectID     = "demo api"
	testIntrospectSecret = "intro:spect&secret"
)

// fakeServer stands in for idvauth's token and introspection endpoints and
// counts the requests it gets.
type fakeServer struct {
	t testing.TB
	// scope is the scope token requests must carry; empty means none.
	scope string
	// inactiveOdd makes tok-1, tok-3, ... answer inactive.
	inactiveOdd bool

	tokenCalls      atomic.Int64
	introspectCalls atomic.Int64
	next            atomic.Int64
	mu              sync.Mutex
	issued          map[string]int64
}

// newFakeServer starts f on 127.0.0.1 and returns its URL.
func newFakeServer(t testing.TB, f *fakeServer) string {
	t.Helper()
	f.t = t
	f.issued = make(map[string]int64)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/token", f.token)
	mux.HandleFunc("POST /oauth2/introspect", f.introspect)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// authorized reports whether r carries HTTP Basic credentials of id and
// pass, each form-encoded as RFC 6749 section 2.3.1 asks.
func authorized(r *http.Request, id, pass string) bool {
	u, p, ok := r.BasicAuth()
	if !ok {
		return false
	}
	u, err1 := url.QueryUnescape(u)
	p, err2 := url.QueryUnescape(p)
	return err1 == nil && err2 == nil && u == id && p == pass
}

func writeAnswer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func (f *fakeServer) token(w http.ResponseWriter, r *http.Request) {
	f.tokenCalls.Add(1)
	if !authorized(r, testClientID, testClientSecret) {
		writeAnswer(w, http.StatusUnauthorized, `{"error":"invalid_client","error_description":"Client authentication failed."}`)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		f.t.Errorf("token: Content-Type = %q, want application/x-www-form-urlencoded", ct)
	}
	if err := r.ParseForm(); err != nil {
		f.t.Errorf("token: ParseForm: %v", err)
	}
	if got := r.PostForm.Get("grant_type"); got != "client_credentials" {
		f.t.Errorf("token: grant_type = %q, want client_credentials", got)
	}
	if got, ok := r.PostForm["scope"]; f.scope == "" && ok || f.scope != "" && r.PostForm.Get("scope") != f.scope {
		f.t.Errorf("token: scope = %q, want %q", got, f.scope)
	}
	n := f.next.Add(1)
	tok := fmt.Sprintf("tok-%d", n)
	f.mu.Lock()
	f.issued[tok] = n
	f.mu.Unlock()
	writeAnswer(w, http.StatusOK, fmt.Sprintf(`{"access_token":%q,"token_type":"bearer","expires_in":300}`, tok))
}

func (f *fakeServer) introspect(w http.ResponseWriter, r *http.Request) {
	f.introspectCalls.Add(1)
	if !authorized(r, testIntrospectID, testIntrospectSecret) {
		writeAnswer(w, http.StatusUnauthorized, `{"error":"invalid_client"}`)
		return
	}
	if err := r.ParseForm(); err != nil {
		f.t.Errorf("introspect: ParseForm: %v", err)
	}
	f.mu.Lock()
	n, ok := f.issued[r.PostForm.Get("token")]
	f.mu.Unlock()
	if !ok || f.inactiveOdd && n%2 == 1 {
		writeAnswer(w, http.StatusOK, `{"active":false}`)
		return
	}
	writeAnswer(w, http.StatusOK, `{"active":true}`)
}

// env returns a getenv over vars.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// runJSON runs the tool with -o json and returns its report.
func runJSON(t *testing.T, args []string, getenv func(string) string) (*report, string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(append(args, "-o", "json"), getenv, &out)
	var r report
	if out.Len() > 0 {
		if jerr := json.Unmarshal(out.Bytes(), &r); jerr != nil {
			t.Fatalf("output is not a JSON report: %v\n%s", jerr, out.String())
		}
	}
	return &r, out.String(), err
}

// assertNoSecrets fails if out shows a secret or a token.
func assertNoSecrets(t *testing.T, out string) {
	t.Helper()
	for _, s := range []string{testClientSecret, testIntrospectSecret, "tok-"} {
		if strings.Contains(out, s) {
			t.Errorf("output shows %q:\n%s", s, out)
		}
	}
}

func TestTokenModeRequestCap(t *testing.T) {
	f := &fakeServer{scope: "read write"}
	target := newFakeServer(t, f)
	r, out, err := runJSON(t, []string{
		"-target", target, "-mode", "token", "-workers", "8", "-requests", "200",
		"-client-id", testClientID, "-scope", " read  write ",
	}, env(map[string]string{envClientSecret: testClientSecret}))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := f.tokenCalls.Load(); got != 200 {
		t.Errorf("server got %d token requests, want 200", got)
	}
	if r.Mode != "token" || r.Workers != 8 || r.Requests != 200 || r.OK != 200 || r.Errors != 0 || len(r.ErrorKinds) != 0 {
		t.Errorf("report = %+v, want mode token, 8 workers, 200 requests, all ok", r)
	}
	if r.RPS <= 0 || r.P50MS <= 0 || r.P50MS > r.P90MS || r.P90MS > r.P99MS || r.P99MS > r.MaxMS {
		t.Errorf("report = %+v, want rps > 0 and 0 < p50 <= p90 <= p99 <= max", r)
	}
	assertNoSecrets(t, out)
}

func TestIntrospectMode(t *testing.T) {
	f := &fakeServer{inactiveOdd: true}
	target := newFakeServer(t, f)
	// One worker cycling through 4 tokens, half of them inactive: exactly
	// half of 100 introspections succeed.
	r, out, err := runJSON(t, []string{
		"-target", target, "-mode", "introspect", "-workers", "1", "-requests", "100", "-tokens", "4",
		"-client-id", testClientID, "-client-secret", testClientSecret,
		"-introspect-client-id", testIntrospectID,
	}, env(map[string]string{envIntrospectSecret: testIntrospectSecret}))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := f.tokenCalls.Load(); got != 4 {
		t.Errorf("server got %d token requests, want 4", got)
	}
	if got := f.introspectCalls.Load(); got != 100 {
		t.Errorf("server got %d introspection requests, want 100", got)
	}
	if r.Mode != "introspect" || r.Requests != 100 || r.OK != 50 || r.Errors != 50 {
		t.Errorf("report = %+v, want 100 requests, 50 ok, 50 errors", r)
	}
	if want := map[string]int64{"inactive": 50}; fmt.Sprint(r.ErrorKinds) != fmt.Sprint(want) {
		t.Errorf("error_kinds = %v, want %v", r.ErrorKinds, want)
	}
	assertNoSecrets(t, out)
}

// TestIntrospectAPIKey: with an API key in the environment, introspect
// mode fetches no token and introspects the key.
func TestIntrospectAPIKey(t *testing.T) {
	f := &fakeServer{}
	target := newFakeServer(t, f)
	const key = "idvk_00112233445566778899_secretsecretsecretsecretsecretsecretsecre"
	f.issued[key] = 0
	r, out, err := runJSON(t, []string{
		"-target", target, "-mode", "introspect", "-workers", "1", "-requests", "20", "-introspect-client-id", testIntrospectID,
	}, env(map[string]string{envIntrospectSecret: testIntrospectSecret, envAPIKey: key}))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := f.tokenCalls.Load(); got != 0 {
		t.Errorf("server got %d token requests, want none", got)
	}
	if r.Requests != 20 || r.OK != 20 {
		t.Errorf("report = %+v, want 20 requests, all ok", r)
	}
	if strings.Contains(out, key) {
		t.Error("the output shows the API key")
	}
}

func TestIntrospectTokenFetchFails(t *testing.T) {
	f := &fakeServer{}
	target := newFakeServer(t, f)
	const wrong = "wrong-secret-value"
	var out bytes.Buffer
	err := run([]string{
		"-target", target, "-mode", "introspect", "-workers", "2", "-tokens", "3",
		"-client-id", testClientID, "-client-secret", wrong,
		"-introspect-client-id", testIntrospectID, "-introspect-client-secret", testIntrospectSecret,
	}, env(nil), &out)
	if err == nil {
		t.Fatal("run with a wrong client secret: nil error")
	}
	for _, want := range []string{"fetch token", "401", "invalid_client", "Client authentication failed."} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(out.String(), wrong) {
		t.Errorf("error or output shows the secret: %v\n%s", err, out.String())
	}
	if got := f.introspectCalls.Load(); got != 0 {
		t.Errorf("server got %d introspection requests, want 0", got)
	}
}

func TestNoSuccessIsAnError(t *testing.T) {
	f := &fakeServer{}
	target := newFakeServer(t, f)
	r, _, err := runJSON(t, []string{
		"-target", target, "-workers", "2", "-requests", "20",
		"-client-id", testClientID, "-client-secret", "wrong",
	}, env(nil))
	if !errors.Is(err, errNoSuccess) {
		t.Fatalf("run with a wrong secret: error %v, want %v", err, errNoSuccess)
	}
	if r.Requests != 20 || r.OK != 0 || r.Errors != 20 || r.ErrorKinds["status_401"] != 20 {
		t.Errorf("report = %+v, want 20 requests, all status_401", r)
	}
}

func TestSecretFlagWinsOverEnv(t *testing.T) {
	f := &fakeServer{}
	target := newFakeServer(t, f)
	r, _, err := runJSON(t, []string{
		"-target", target, "-workers", "1", "-requests", "3",
		"-client-id", testClientID, "-client-secret", testClientSecret,
	}, env(map[string]string{envClientSecret: "wrong"}))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if r.OK != 3 {
		t.Errorf("ok = %d, want 3 (the flag's secret)", r.OK)
	}
}

func TestDurationBoundsRun(t *testing.T) {
	f := &fakeServer{}
	target := newFakeServer(t, f)
	r, _, err := runJSON(t, []string{
		"-target", target, "-workers", "2", "-duration", "30ms",
		"-client-id", testClientID, "-client-secret", testClientSecret,
	}, env(nil))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if r.Requests == 0 || r.OK != r.Requests {
		t.Errorf("report = %+v, want some requests, all ok", r)
	}
	if got := f.tokenCalls.Load(); got < r.Requests {
		t.Errorf("server got %d requests, fewer than the %d reported", got, r.Requests)
	}
}

func TestJSONOutput(t *testing.T) {
	target := newFakeServer(t, &fakeServer{})
	var out bytes.Buffer
	err := run([]string{
		"-target", target, "-workers", "2", "-requests", "10", "-o", "json",
		"-client-id", testClientID, "-client-secret", testClientSecret,
	}, env(nil), &out)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	for _, k := range []string{"mode", "workers", "duration_s", "requests", "ok", "errors", "error_kinds", "rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "load_cpu"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON output lacks %q:\n%s", k, out.String())
		}
	}
	if len(m) != 13 {
		t.Errorf("JSON output has %d fields, want 13 (no server_cpu without -server-pid):\n%s", len(m), out.String())
	}
	if kinds, ok := m["error_kinds"].(map[string]any); !ok || len(kinds) != 0 {
		t.Errorf("error_kinds = %v, want an empty object", m["error_kinds"])
	}
	if m["requests"] != 10.0 || m["ok"] != 10.0 {
		t.Errorf("requests, ok = %v, %v, want 10, 10", m["requests"], m["ok"])
	}
}

func TestTextOutput(t *testing.T) {
	target := newFakeServer(t, &fakeServer{})
	var out bytes.Buffer
	err := run([]string{
		"-target", target, "-workers", "2", "-requests", "10",
		"-client-id", testClientID, "-client-secret", testClientSecret,
	}, env(nil), &out)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	re := regexp.MustCompile(`^mode=token workers=2 duration=\d+\.\d\ds requests=10 ok=10 errors=0 rps=\d+\.\d p50=[\d.]+ms p90=[\d.]+ms p99=[\d.]+ms max=[\d.]+ms\n(cpu load=[\d.]+s per_request=[\d.]+us cores=[\d.]+\n)?$`)
	if !re.MatchString(out.String()) {
		t.Errorf("text output = %q, want a match for %s", out.String(), re)
	}
}

func TestWriteTextErrorKinds(t *testing.T) {
	r := &report{Mode: "introspect", Workers: 1, DurationS: 1, Requests: 5, OK: 1, Errors: 4,
		ErrorKinds: map[string]int64{"inactive": 1, "status_401": 3}}
	var out bytes.Buffer
	if err := writeText(&out, r); err != nil {
		t.Fatal(err)
	}
	want := "mode=introspect workers=1 duration=1.00s requests=5 ok=1 errors=4 rps=0.0 p50=0ms p90=0ms p99=0ms max=0ms\n" +
		"error kind=status_401 count=3\n" +
		"error kind=inactive count=1\n"
	if out.String() != want {
		t.Errorf("writeText = %q, want %q", out.String(), want)
	}
}

// countingTransport fails every request and counts them.
type countingTransport struct{ calls atomic.Int64 }

func (c *countingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	c.calls.Add(1)
	return nil, errors.New("countingTransport: no requests expected")
}

func TestRefusesNonLoopbackTarget(t *testing.T) {
	for _, target := range []string{
		"http://10.1.2.3:8080",
		"http://example.com",
		"https://example.com:8443/",
		"http://127.0.0.1.nip.io:8080",
		"http://[::ffff:10.0.0.1]:8080",
		"http://0.0.0.0:8080",
		"http://[::]:8080",
		"http://localhost.example.com",
	} {
		t.Run(target, func(t *testing.T) {
			for _, mode := range []string{modeToken, modeIntrospect} {
				rt := &countingTransport{}
				cfg := config{
					Target: target, Mode: mode, Workers: 2, Duration: time.Second, Tokens: 2,
					ClientID: testClientID, ClientSecret: testClientSecret,
					IntrospectClientID: testIntrospectID, IntrospectClientSecret: testIntrospectSecret,
					Transport: rt,
				}
				_, err := load(context.Background(), cfg)
				if !errors.Is(err, errNotLoopback) {
					t.Errorf("load(%s, mode %s): error %v, want %v", target, mode, err, errNotLoopback)
				}
				if n := rt.calls.Load(); n != 0 {
					t.Errorf("load(%s, mode %s) sent %d requests, want 0", target, mode, n)
				}
			}
		})
	}
	// Through the command line too, with the message the user sees.
	err := run([]string{"-target", "http://10.1.2.3:8080", "-client-id", "a", "-client-secret", "b"}, env(nil), &bytes.Buffer{})
	if !errors.Is(err, errNotLoopback) || !strings.Contains(err.Error(), `"10.1.2.3"`) {
		t.Errorf("run -target http://10.1.2.3:8080: error %v, want one naming the host and wrapping %v", err, errNotLoopback)
	}
}

func TestLoopbackURL(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", true},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080", true},
		{"http://127.9.8.7", "http://127.9.8.7", true},
		{"https://[::1]:8443/idv/", "https://[::1]:8443/idv", true},
		{"http://localhost:8080", "http://localhost:8080", true},
		{"http://LocalHost:8080", "http://LocalHost:8080", true},
		{"http://[::ffff:127.0.0.1]:8080", "http://[::ffff:127.0.0.1]:8080", true},
		{"http://10.1.2.3:8080", "", false},
		{"http://example.com", "", false},
		{"ftp://127.0.0.1", "", false},
		{"127.0.0.1:8080", "", false},
		{"http://user:pw@127.0.0.1:8080", "", false},
		{"http://127.0.0.1:8080/?x=1", "", false},
		{"http://127.0.0.1:8080/#x", "", false},
		{"", "", false},
	} {
		got, err := loopbackURL(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("loopbackURL(%q) = %q, %v, want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("loopbackURL(%q) error %q shows the password", tt.in, err)
		}
	}
}

func TestDialLoopbackOnly(t *testing.T) {
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:80", true},
		{"[::1]:80", true},
		{"10.0.0.1:80", false},
		{"[2001:db8::1]:80", false},
		{"localhost:80", false}, // Control sees resolved addresses only
	} {
		err := dialLoopbackOnly("tcp", tt.addr, nil)
		if (err == nil) != tt.ok {
			t.Errorf("dialLoopbackOnly(%q) = %v, want ok %v", tt.addr, err, tt.ok)
		}
	}
}

func TestInvalidArgs(t *testing.T) {
	base := []string{"-client-id", testClientID, "-client-secret", testClientSecret}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"mode", []string{"-mode", "bogus"}, `mode "bogus"`},
		{"no workers", []string{"-workers", "0"}, "workers 0"},
		{"too many workers", []string{"-workers", "100000"}, "workers 100000"},
		{"zero duration", []string{"-duration", "0s"}, "duration 0s"},
		{"long duration", []string{"-duration", "11m"}, "at most 10m0s"},
		{"negative requests", []string{"-requests", "-1"}, "requests -1"},
		{"output", []string{"-o", "yaml"}, `output format "yaml"`},
		{"unknown flag", []string{"-bogus"}, "flag provided but not defined"},
		{"argument", []string{"extra"}, `unexpected argument "extra"`},
		{"introspect client", []string{"-mode", "introspect"}, "-introspect-client-id"},
		{"dpop in introspect mode", []string{"-mode", "introspect", "-introspect-client-id", "x", "-introspect-client-secret", "y", "-dpop"}, "-dpop: token mode only"},
		{"tokens", []string{"-mode", "introspect", "-introspect-client-id", "x", "-introspect-client-secret", "y", "-tokens", "0"}, "tokens 0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(append(append([]string{}, base...), tt.args...), env(nil), &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%q) error = %v, want one containing %q", tt.args, err, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("run(%q) wrote %q, want nothing", tt.args, out.String())
			}
		})
	}
	t.Run("missing credentials", func(t *testing.T) {
		err := run(nil, env(nil), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "-client-id") {
			t.Errorf("run() error = %v, want one naming -client-id", err)
		}
		err = run([]string{"-client-id", "x"}, env(nil), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), envClientSecret) {
			t.Errorf("run(-client-id x) error = %v, want one naming %s", err, envClientSecret)
		}
	})
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-help"}, env(nil), &out); err != nil {
		t.Fatalf("run -help: %v", err)
	}
	if want := "idvauth-load -mode token -workers 8 -duration 10s -client-id demo-service"; !strings.Contains(out.String(), want) {
		t.Errorf("-help does not show the example %q", want)
	}
	golden := filepath.Join("testdata", "help.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if out.String() != string(want) {
		t.Errorf("-help output differs from %s (go test -update rewrites it):\n%s", golden, out.String())
	}
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tt := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one p0", ms(7), 0, 7 * time.Millisecond},
		{"one p50", ms(7), 50, 7 * time.Millisecond},
		{"one p100", ms(7), 100, 7 * time.Millisecond},
		{"five p0", ms(1, 2, 3, 4, 5), 0, 1 * time.Millisecond},
		{"five p20", ms(1, 2, 3, 4, 5), 20, 1 * time.Millisecond},
		{"five p21", ms(1, 2, 3, 4, 5), 21, 2 * time.Millisecond},
		{"five p50", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"five p99", ms(1, 2, 3, 4, 5), 99, 5 * time.Millisecond},
		{"five p100", ms(1, 2, 3, 4, 5), 100, 5 * time.Millisecond},
		{"wikipedia p30", ms(15, 20, 35, 40, 50), 30, 20 * time.Millisecond},
		{"wikipedia p40", ms(15, 20, 35, 40, 50), 40, 20 * time.Millisecond},
		{"wikipedia p50", ms(15, 20, 35, 40, 50), 50, 35 * time.Millisecond},
		{"hundred p50", ms(hundred...), 50, 50 * time.Millisecond},
		{"hundred p90", ms(hundred...), 90, 90 * time.Millisecond},
		{"hundred p99", ms(hundred...), 99, 99 * time.Millisecond},
		{"hundred p99.5", ms(hundred...), 99.5, 100 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestFoldKinds(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   map[string]int64
		want map[string]int64
	}{
		{"none", map[string]int64{}, map[string]int64{}},
		{"five", map[string]int64{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}, map[string]int64{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}},
		{"seven", map[string]int64{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7},
			map[string]int64{"g": 7, "f": 6, "e": 5, "d": 4, "other": 6}},
		{"ties by name", map[string]int64{"z": 1, "y": 1, "x": 1, "w": 1, "v": 1, "u": 1},
			map[string]int64{"u": 1, "v": 1, "w": 1, "x": 1, "other": 2}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := foldKinds(tt.in, maxErrorKinds); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("foldKinds(%v, %d) = %v, want %v", tt.in, maxErrorKinds, got, tt.want)
			}
		})
	}
}

func TestSecretRedacted(t *testing.T) {
	cfg := config{ClientSecret: testClientSecret, IntrospectClientSecret: testIntrospectSecret}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(verb, cfg); strings.Contains(got, "s3cr3t") || strings.Contains(got, "intro:spect") {
			t.Errorf("Sprintf(%q, cfg) = %s, shows a secret", verb, got)
		}
	}
}

// TestServerCPU: with -server-pid, the report has the server's CPU time
// over the run; here the server runs in the test's own process, which
// does the load tool's work too, so its CPU is at least the load's.
func TestServerCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc: CPU time is read from /proc/PID/stat (Linux)")
	}
	target := newFakeServer(t, &fakeServer{})
	r, _, err := runJSON(t, []string{
		"-target", target, "-workers", "4", "-requests", "3000",
		"-client-id", testClientID, "-server-pid", strconv.Itoa(os.Getpid()),
	}, env(map[string]string{envClientSecret: testClientSecret}))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if r.ServerCPU == nil || r.LoadCPU == nil {
		t.Fatalf("report = %+v, want server and load CPU figures", r)
	}
	if r.ServerCPU.CPUS < r.LoadCPU.CPUS || r.ServerCPU.USPerRequest <= 0 || r.ServerCPU.Cores <= 0 {
		t.Errorf("server CPU %+v, load CPU %+v: want the server (this process) at least the load's, and positive", *r.ServerCPU, *r.LoadCPU)
	}
	if got := r.ServerCPU.USPerRequest; math.Abs(got-r.ServerCPU.CPUS*1e6/float64(r.Requests)) > 1 {
		t.Errorf("server CPU per request %vus, want cpu_s/requests = %v", got, r.ServerCPU.CPUS*1e6/float64(r.Requests))
	}
	_, _, err = runJSON(t, []string{"-target", target, "-requests", "10", "-client-id", testClientID, "-server-pid", "999999999"},
		env(map[string]string{envClientSecret: testClientSecret}))
	if err == nil || !strings.Contains(err.Error(), "999999999") {
		t.Errorf("run with the PID of no process = %v, want an error naming it", err)
	}
}

func TestParseStat(t *testing.T) {
	for _, tt := range []struct {
		line string
		want time.Duration
		ok   bool
	}{
		{"42 (idvauth) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 123 0 0", 3250 * time.Millisecond, true},
		{"42 (a (b) c) R 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 9 0 123 0 0", 30 * time.Millisecond, true},
		{"42 idvauth S 1", 0, false},
		{"42 (idvauth) S 1 42", 0, false},
		{"42 (idvauth) S 1 42 42 0 -1 4194560 100 0 0 0 x 75 0 0", 0, false},
	} {
		got, err := parseStat([]byte(tt.line))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseStat(%q) = %v, %v; want %v, ok %v", tt.line, got, err, tt.want, tt.ok)
		}
	}
}
