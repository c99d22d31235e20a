package admin

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzValidRedirectURI: whatever registration accepts is an absolute URI
// without fragment, user info or wildcard, on an allowed scheme.
func FuzzValidRedirectURI(f *testing.F) {
	for _, s := range []string{"https://app.example/cb", "http://127.0.0.1:8080/cb", "com.example.app:/cb", "https://*.x/cb",
		"https://a/cb#f", "javascript:alert(1)", "http://evil.example/cb", "https://u:p@a/cb", "//a/cb", ""} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, raw string, public bool) {
		if validRedirectURI(raw, public) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || !u.IsAbs() || u.Fragment != "" || u.User != nil || strings.ContainsAny(raw, "*# ") {
			t.Fatalf("validRedirectURI(%q, %t) accepted a URI it must refuse", raw, public)
		}
		switch {
		case u.Scheme == "https" && u.Host != "":
		case u.Scheme == "http" && (u.Hostname() == "localhost" || strings.HasSuffix(u.Hostname(), ".localhost") || isLoopbackIP(u.Hostname())):
		case public && strings.Contains(u.Scheme, "."):
		default:
			t.Fatalf("validRedirectURI(%q, %t) accepted scheme %q host %q", raw, public, u.Scheme, u.Host)
		}
	})
}

func isLoopbackIP(h string) bool {
	return h == "127.0.0.1" || h == "::1" || strings.HasPrefix(h, "127.")
}
