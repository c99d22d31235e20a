package browsertest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// serve runs h on a loopback port until t ends and returns its base URL
// with the host localhost: a secure context whose name is a valid
// WebAuthn relying-party id (an IP address is not).
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return "http://localhost:" + port
}

// pages serves fixed pages: path → CSP header and body (HTML, or
// JavaScript for paths ending in .js).
func pages(m map[string][2]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := m[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		ct := "text/html; charset=utf-8"
		if strings.HasSuffix(r.URL.Path, ".js") {
			ct = "text/javascript; charset=utf-8"
		}
		w.Header().Set("Content-Type", ct)
		if p[0] != "" {
			w.Header().Set("Content-Security-Policy", p[0])
		}
		_, _ = w.Write([]byte(p[1]))
	})
}

const strict = "default-src 'none'; base-uri 'none'"

func kinds(ps []Problem) map[string]int {
	m := map[string]int{}
	for _, p := range ps {
		m[p.Kind]++
	}
	return m
}

// One browser serves every case: starting one costs far more than a tab.
func TestProblems(t *testing.T) {
	b := Start(t)
	base := serve(t, pages(map[string][2]string{
		"/clean":      {strict, `<!doctype html><title>ok</title><p>fine`},
		"/inline":     {strict, `<!doctype html><title>x</title><script>document.title = "ran"</script>`},
		"/style":      {strict, `<!doctype html><title>x</title><p style="color:red">styled`},
		"/external":   {strict, `<!doctype html><title>x</title><script src="/ok.js"></script>`},
		"/throws":     {"default-src 'none'; script-src 'self'", `<!doctype html><title>x</title><script src="/throw.js"></script>`},
		"/rejects":    {"default-src 'none'; script-src 'self'", `<!doctype html><title>x</title><script src="/reject.js"></script>`},
		"/console":    {"default-src 'none'; script-src 'self'", `<!doctype html><title>x</title><script src="/console.js"></script>`},
		"/ok.js":      {"", `document.title = "ran";`},
		"/throw.js":   {"", `throw new Error("boom");`},
		"/reject.js":  {"", `Promise.reject(new Error("nope"));`},
		"/console.js": {"", `console.error("bad thing");`},
		"/missing":    {strict, `<!doctype html><title>x</title><p>a 404 page`},
	}))

	t.Run("clean page", func(t *testing.T) {
		tab := b.NewTab(t)
		tab.Run(t, chromedp.Navigate(base+"/clean"))
		if ps := tab.Problems(t); len(ps) != 0 {
			t.Errorf("Problems() = %v, want none", ps)
		}
	})
	for _, tc := range []struct {
		path, kind string
	}{
		{"/inline", "csp"},
		{"/style", "csp"},
		{"/external", "csp"},
		{"/throws", "exception"},
		{"/rejects", "exception"},
		{"/console", "console"},
	} {
		t.Run(strings.TrimPrefix(tc.path, "/"), func(t *testing.T) {
			tab := b.NewTab(t)
			tab.Run(t, chromedp.Navigate(base+tc.path))
			ps := tab.Problems(t)
			if kinds(ps)[tc.kind] == 0 {
				t.Errorf("Problems() = %v, want a %s problem", ps, tc.kind)
			}
			t.Logf("%v", ps)
		})
	}
	t.Run("tabs do not share problems", func(t *testing.T) {
		bad, good := b.NewTab(t), b.NewTab(t)
		bad.Run(t, chromedp.Navigate(base+"/inline"))
		good.Run(t, chromedp.Navigate(base+"/clean"))
		if ps := good.Problems(t); len(ps) != 0 {
			t.Errorf("clean tab Problems() = %v, want none", ps)
		}
		if ps := bad.Problems(t); len(ps) == 0 {
			t.Error("bad tab Problems() = none, want its violation")
		}
	})
}

// fakeTB records how Start ends a test: Skipf and Fatalf stop the
// goroutine, as testing's do.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// runStart runs Start on a fakeTB and reports how it ended.
func runStart(t *testing.T) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(f)
	}()
	<-done
	return f
}

// Without Chromium the browser tests skip, saying how to get it, unless
// IDVAUTH_TEST_REQUIRE_BROWSER=1 (CI) makes that a failure.
func TestStartWithoutChromium(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(RequireEnv, "")
	if f := runStart(t); !f.skipped || f.failed || !strings.Contains(f.msg, "apt-get install chromium") || !strings.Contains(f.msg, RequireEnv+"=1") {
		t.Errorf("Start without Chromium: skipped %v, failed %v (%q); want a skip naming the package and %s", f.skipped, f.failed, f.msg, RequireEnv)
	}
	t.Setenv(RequireEnv, "1")
	if f := runStart(t); !f.failed || f.skipped {
		t.Errorf("Start without Chromium under %s=1: skipped %v, failed %v (%q); want a failure", RequireEnv, f.skipped, f.failed, f.msg)
	}
}
