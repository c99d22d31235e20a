package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Timeouts. They only keep a broken browser from hanging a test; no test
// asserts a duration, so they are generous.
const (
	// StartTimeout bounds the launch of the browser and of a tab.
	StartTimeout = 60 * time.Second
	// StepTimeout bounds one Tab.Run: a navigation, a click and the page
	// load it causes, an evaluation.
	StepTimeout = 30 * time.Second
)

// RequireEnv is the environment variable that turns a missing browser
// from a skip into a failure.
const RequireEnv = "IDVAUTH_TEST_REQUIRE_BROWSER"

// candidates are the names under which Chromium is looked up on PATH.
var candidates = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}

// ExecPath returns the path of the Chromium binary, or "" if there is
// none.
func ExecPath() string {
	for _, name := range candidates {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Browser is one headless Chromium, started by Start and stopped when the
// test ends. It is safe for concurrent use by the test's subtests.
type Browser struct {
	// ctx is chromedp's handle on the browser: chromedp keeps the
	// browser in a context, and a tab is a context derived from it, so
	// this one is kept (its life is the test's, ended by t.Cleanup).
	ctx context.Context
}

// Start launches Chromium for t and stops it when t ends. Without
// Chromium it skips t, or fails it under IDVAUTH_TEST_REQUIRE_BROWSER=1.
func Start(t testing.TB) *Browser {
	t.Helper()
	path := ExecPath()
	if path == "" {
		msg := "no Chromium on PATH (looked for " + strings.Join(candidates, ", ") +
			"): install it (Debian: apt-get install chromium) to run the browser tests"
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s; %s=1 requires them", msg, RequireEnv)
		}
		t.Skipf("%s, or set %s=1 to fail instead of skipping", msg, RequireEnv)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(func(format string, args ...any) {
		t.Logf("chromedp: "+format, args...)
	}))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first call starts the browser and binds its life to bctx, which
	// has no deadline; the wait for it is bounded here instead.
	if err := waitFor(StartTimeout, func() error { return chromedp.Do(bctx) }); err != nil {
		t.Fatalf("browsertest: start %s: %v", path, err)
	}
	return &Browser{ctx: bctx}
}

// waitFor runs f and returns its error, or a timeout error after d. f
// keeps running after a timeout; the caller cancels what it uses.
func waitFor(d time.Duration, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return fmt.Errorf("not done within %v", d)
	}
}

// Problem is one thing that went wrong on a page.
type Problem struct {
	// Kind is "csp" (a Content Security Policy violation), "exception"
	// (uncaught, or an unhandled promise rejection), "console" (a
	// console.error or failed console.assert) or "log" (an error entry of
	// the browser's log, which is where Chromium reports blocked
	// resources; failed network responses are not problems, a 4xx page
	// is often what a test wants).
	Kind string
	// Text says what happened, with the URL and line where known.
	Text string
}

func (p Problem) String() string { return p.Kind + ": " + p.Text }

// Tab is one page of a Browser in a browser context of its own. Its
// methods are for the test goroutine that opened it.
type Tab struct {
	ctx context.Context // chromedp's handle on the tab, as Browser.ctx

	mu       sync.Mutex
	problems []Problem
}

// cspBinding is the name of the function the page-side listener calls
// with each securitypolicyviolation event; cspWorld the isolated world it
// runs in, out of the page's sight.
const (
	cspBinding = "__browsertestCSPViolation"
	cspWorld   = "browsertest"
)

// cspListener reports every securitypolicyviolation event of a document
// (and of the frames in it: the script runs in each) to cspBinding. It
// runs in an isolated world, which the page's CSP does not govern, before
// any script of the page.
const cspListener = `document.addEventListener("securitypolicyviolation", function (e) {
  ` + cspBinding + `(JSON.stringify({
    directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile,
    line: e.lineNumber, sample: e.sample, document: e.documentURI, disposition: e.disposition
  }));
}, true);`

// NewTab opens a tab in a new browser context (its own cookies and
// storage) that records problems from its first page on, and closes it
// when t ends.
func (b *Browser) NewTab(t testing.TB) *Tab {
	t.Helper()
	tab := &Tab{}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(tab.record))
	t.Cleanup(cancel)
	tab.ctx = ctx
	err := waitFor(StartTimeout, func() error {
		return chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := cdp.Call(ctx, tg, runtime.AddBinding, runtime.AddBindingParams{Name: cspBinding, ExecutionContextName: cspWorld}); err != nil {
				return err
			}
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspListener, WorldName: cspWorld})
			return err
		}))
	})
	if err != nil {
		t.Fatalf("browsertest: open a tab: %v", err)
	}
	return tab
}

// record runs in the tab's event loop for every event, in order; it must
// return fast and send no command.
func (tab *Tab) record(ev any) {
	var p Problem
	switch ev := ev.(type) {
	case *runtime.EventBindingCalled:
		if ev.Name != cspBinding {
			return
		}
		p = Problem{Kind: "csp", Text: ev.Payload}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		p = Problem{Kind: "exception", Text: fmt.Sprintf("%s (%s:%d)", text, d.URL, d.LineNumber+1)}
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var parts []string
		for _, a := range ev.Args {
			if a.Description != "" {
				parts = append(parts, a.Description)
			} else {
				parts = append(parts, string(a.Value))
			}
		}
		p = Problem{Kind: "console", Text: string(ev.Type) + ": " + strings.Join(parts, " ")}
	case *cdplog.EventEntryAdded:
		e := ev.Entry
		if e == nil || e.Level != cdplog.EntryLevelError || e.Source == cdplog.EntrySourceNetwork {
			return
		}
		p = Problem{Kind: "log", Text: fmt.Sprintf("%s: %s (%s)", e.Source, e.Text, e.URL)}
	default:
		return
	}
	tab.mu.Lock()
	tab.problems = append(tab.problems, p)
	tab.mu.Unlock()
}

// Context is the tab's chromedp context, for actions of one's own; bound
// each call with a timeout derived from it (Run does).
func (tab *Tab) Context() context.Context { return tab.ctx }

// Run runs actions in order, each step bounded by StepTimeout, and fails
// t on the first error.
func (tab *Tab) Run(t testing.TB, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	for i, a := range actions {
		ctx, cancel := context.WithTimeout(tab.ctx, StepTimeout)
		err := chromedp.Do(ctx, a)
		cancel()
		if err != nil {
			t.Fatalf("browsertest: step %d of %d: %v%s", i+1, len(actions), err, tab.recorded())
		}
	}
}

// Get runs action a, bounded by StepTimeout, and returns its value,
// failing t on error.
func Get[T any](t testing.TB, tab *Tab, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, StepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browsertest: %v%s", err, tab.recorded())
	}
	return v
}

// Location returns the URL of the tab's page.
func (tab *Tab) Location(t testing.TB) string {
	t.Helper()
	return Get(t, tab, chromedp.Location())
}

// Problems returns what went wrong on the tab's pages so far. It first
// lets the page run the tasks it has queued (securitypolicyviolation
// events are dispatched in a task of their own), then asks the browser
// for a round trip, so every event sent before is recorded.
func (tab *Tab) Problems(t testing.TB) []Problem {
	t.Helper()
	Get(t, tab, chromedp.Evaluate[chromedp.Void](`new Promise(function (r) { setTimeout(r, 0); })`, chromedp.EvalAwaitPromise))
	Get(t, tab, chromedp.Evaluate[chromedp.Void](`0`))
	tab.mu.Lock()
	defer tab.mu.Unlock()
	return append([]Problem(nil), tab.problems...)
}

// recorded lists the problems recorded so far, for a failure message: a
// step that times out often does so because the page broke.
func (tab *Tab) recorded() string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	var b strings.Builder
	if len(tab.problems) > 0 {
		b.WriteString("; problems on the page:")
	}
	for _, p := range tab.problems {
		b.WriteString("\n\t" + p.String())
	}
	return b.String()
}

// CheckClean fails t (without stopping it) if any problem happened on
// the tab's pages, listing them; what names the point of the test.
func (tab *Tab) CheckClean(t testing.TB, what string) {
	t.Helper()
	if ps := tab.Problems(t); len(ps) > 0 {
		t.Errorf("%s: %d problem(s)%s", what, len(ps), tab.recorded())
	}
}
