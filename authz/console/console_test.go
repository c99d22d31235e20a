package console

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/password"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/storage/memory"
)

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/console/clients?q=a": "/console/clients?q=a",
		"/":                    "/",
		"":                     "",
		"//evil.example/x":     "",
		"/\\evil.example":      "",
		"https://evil.example": "",
		"console":              "",
		"/a\nb":                "",
		"/%2F%2Fevil":          "", // decodes to //evil: refused to be safe
		"javascript:alert(1)":  "",
	} {
		if got := LocalPath(in); got != want {
			t.Errorf("LocalPath(%q) = %q, want %q", in, got, want)
		}
	}
	if got := SignInURL("/console/oauth2/authorize?a=b&c=d"); got != "/console/signin?next=%2Fconsole%2Foauth2%2Fauthorize%3Fa%3Db%26c%3Dd" {
		t.Errorf("SignInURL = %q", got)
	}
	if got := SignInURL("https://evil.example/"); got != SignInPath {
		t.Errorf("SignInURL(off-site) = %q, want %q", got, SignInPath)
	}
}

func newHandler(t *testing.T) *Handler {
	t.Helper()
	sealer, err := keys.NewSealer([]string{strings.Repeat("s", 32)}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st := memory.New()
	h, err := New(Config{Store: st, API: http.NotFoundHandler(), TokenTTL: 5 * time.Minute, Sealer: sealer,
		Token:  func(context.Context, string, []string) (string, error) { return "", nil },
		Hasher: password.NewHasher(password.Params{Time: 1, MemoryKiB: 64, Threads: 1}, 2), Audit: audit.New(audit.Config{Store: st}),
		ThrottleSecret: []byte("throttle"), MaxFailures: 5, MaxFailuresPerIP: 50, Window: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestBadInput: every malformed request gets a 4xx page and changes
// nothing; none is a 500.
func TestBadInput(t *testing.T) {
	h := newHandler(t)
	form := func(v url.Values) string { return v.Encode() }
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"enroll without token", "GET", EnrollPath, "", http.StatusBadRequest},
		{"enroll with a short token", "GET", EnrollPath + "?token=abc", "", http.StatusBadRequest},
		{"enroll post without CSRF", "POST", EnrollPath, form(url.Values{"token": {strings.Repeat("a", 43)}}), http.StatusForbidden},
		{"sign-in post without CSRF", "POST", SignInPath, form(url.Values{"username": {"a"}, "password": {"b"}}), http.StatusForbidden},
		{"sign-out by GET", "GET", SignOutPath, "", http.StatusMethodNotAllowed},
		{"sign-in with a JSON body", "POST", SignInPath, `{"username":"a"}`, http.StatusBadRequest},
		{"oversized sign-in form", "POST", SignInPath, "username=" + strings.Repeat("a", 70<<10), http.StatusRequestEntityTooLarge},
		{"code step without a password step", "GET", SignInTOTPPath, "", http.StatusSeeOther},
		{"app setup without an enrollment", "GET", EnrollTOTPPath, "", http.StatusBadRequest},
		{"unknown page", "GET", Prefix + "/nope", "", http.StatusNotFound},
		{"page signed out", "GET", Prefix + "/clients", "", http.StatusSeeOther},
		{"unknown script", "GET", Prefix + "/static/copy.js", "", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if tc.method == "POST" && !strings.HasPrefix(tc.body, "{") {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else if tc.method == "POST" {
				r.Header.Set("Content-Type", "application/json")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Errorf("%s %s = %d, want %d\n%s", tc.method, tc.path, w.Code, tc.want, w.Body.String())
			}
			if csp := w.Header().Get("Content-Security-Policy"); w.Code != http.StatusSeeOther && w.Code != http.StatusNotFound && (csp == "" || strings.Contains(csp, "unsafe")) {
				t.Errorf("CSP = %q", csp)
			}
		})
	}
}
