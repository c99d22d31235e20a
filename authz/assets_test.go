package authz_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/templates"
)

// TestAssetServed: the WebAuthn script is served at its hashed path with
// its type, nosniff, an immutable year-long cache and an ETag that
// answers 304; HEAD works, other methods do not.
func TestAssetServed(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, cfg)
		a := webauthnAsset(t)
		st, h, body := do(t, newRequest(t, http.MethodGet, ts.Public+a.Path, nil))
		if st != http.StatusOK || !bytes.Equal(body, a.Body) {
			t.Fatalf("GET %s = %d with %d bytes, want 200 with the script's %d", a.Path, st, len(body), len(a.Body))
		}
		for k, want := range map[string]string{
			"Content-Type":           "text/javascript; charset=utf-8",
			"X-Content-Type-Options": "nosniff",
			"Cache-Control":          "public, max-age=31536000, immutable",
			"ETag":                   a.ETag,
		} {
			if got := h.Get(k); got != want {
				t.Errorf("GET %s: %s = %q, want %q", a.Path, k, got, want)
			}
		}

		req := newRequest(t, http.MethodGet, ts.Public+a.Path, nil)
		req.Header.Set("If-None-Match", a.ETag)
		if st, _, body := do(t, req); st != http.StatusNotModified || len(body) != 0 {
			t.Errorf("GET with If-None-Match = %d with %d bytes, want 304 and no body", st, len(body))
		}
		if st, h, body := do(t, newRequest(t, http.MethodHead, ts.Public+a.Path, nil)); st != http.StatusOK || len(body) != 0 || h.Get("Content-Type") != a.ContentType {
			t.Errorf("HEAD = %d, %q, %d bytes; want 200, the type, no body", st, h.Get("Content-Type"), len(body))
		}
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			if st, h, _ := do(t, newRequest(t, m, ts.Public+a.Path, strings.NewReader("x"))); st != http.StatusMethodNotAllowed || h.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s = %d (Allow %q), want 405 with Allow: GET, HEAD", m, a.Path, st, h.Get("Allow"))
			}
		}
	})
}

// TestAssetUnknown: anything under /assets/ but an asset's exact hashed
// path is 404, and no path reaches the embedded templates or the source.
func TestAssetUnknown(t *testing.T) {
	ts := startServer(t, authz.Config{InMemory: true})
	a := webauthnAsset(t)
	name := strings.TrimPrefix(a.Path, "/assets/")
	for _, p := range []string{
		"/assets/webauthn.js",
		"/assets/webauthn.000000000000.js",
		"/assets/",
		"/assets",
		"/assets/static/webauthn.js",
		"/assets/base.html",
		"/assets/style.css",
		"/assets/" + strings.ToUpper(name),
		a.Path + "/",
		a.Path + ".map",
	} {
		if st, _, body := do(t, newRequest(t, http.MethodGet, ts.Public+p, nil)); st != http.StatusNotFound || bytes.Contains(body, a.Body[:40]) {
			t.Errorf("GET %s = %d, want 404", p, st)
		}
	}
	// Dot segments, sent as is (raw request lines, as no client would
	// clean them): never a file, whichever way they are spelled.
	for _, p := range []string{
		"/assets/../templates/base.html",
		"/assets/../base.html",
		"/assets/%2e%2e/base.html",
		"/assets/..%2fbase.html",
		"/assets/..%2f..%2fgo.mod",
		"/assets/%2e%2e%2f%2e%2e%2fgo.mod",
		"/assets/./" + name,
		"/assets//" + name,
		"/assets/..%5c..%5cgo.mod",
	} {
		status, body := rawGet(t, ts.Public, p)
		if status == http.StatusOK || strings.Contains(body, "{{define") || strings.Contains(body, "module github.com") {
			t.Errorf("GET %s = %d, want no file:\n%s", p, status, body)
		}
	}
}

// TestPageCSPWithoutScript: the person-facing pages run no script: their
// CSP is templates.Pages.CSPFormAction, with no script-src, so
// default-src 'none' blocks every script.
func TestPageCSPWithoutScript(t *testing.T) {
	ts := startServer(t, authz.Config{InMemory: true})
	pages, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	_, h, _ := do(t, newRequest(t, http.MethodGet, ts.Public+"/logout", nil))
	got := h.Get("Content-Security-Policy")
	if want := pages.CSPFormAction(); got != want {
		t.Errorf("logout page CSP = %q, want %q", got, want)
	}
	if !strings.HasPrefix(got, "default-src 'none';") || strings.Contains(got, "script-src") {
		t.Errorf("logout page CSP = %q, want default-src 'none' and no script-src", got)
	}
}

// webauthnAsset is the script as the templates package serves it.
func webauthnAsset(t testing.TB) templates.Asset {
	t.Helper()
	pages, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	p, ok := pages.AssetPath("webauthn.js")
	if !ok {
		t.Fatal("no webauthn.js asset")
	}
	a, _ := pages.Asset(p)
	return a
}

func newRequest(t testing.TB, method, u string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// rawGet sends "GET path" exactly as given, bypassing the URL parsing and
// cleaning of net/http's client, and returns the status and body.
func rawGet(t testing.TB, base, path string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: "+strings.TrimPrefix(base, "http://")+"\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
