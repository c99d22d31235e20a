package clientauth

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzBasicCredentials: any Authorization value parses without a panic;
// what basicCredentials accepts is exactly the form-decoded user and
// password of a Basic header (RFC 6749 section 2.3.1, RFC 7617); and any
// id and secret, form-encoded and sent in a Basic header, come back the
// same.
func FuzzBasicCredentials(f *testing.F) {
	for _, s := range []struct{ header, id, secret string }{
		{basicHeader("client", "s3cret"), "client", "s3cret"},
		{"Basic " + b64("a+b%20c:d%3Ae"), "a:b", "c d"},
		{"basic " + b64("client:"), "", ""},
		{"BASIC " + b64(":secret"), "%", "+"},
		{"Basic " + b64("client:a:b"), "a%zz", "é"},
		{"Basic " + b64("%zz:%"), "\x00\xff", "\r\n"},
		{"Basic " + b64("client"), "", ":"},
		{"Basic  " + b64("client:secret"), " ", "  "},
		{"Basic " + b64("client:secret") + "\n", "日本", "\t"},
		{"Basic", "", ""},
		{"Bearer abc", "", ""},
		{"Basic %%%", "", ""},
		{"", "", ""},
	} {
		f.Add(s.header, s.id, s.secret)
	}
	f.Fuzz(func(t *testing.T, header, id, secret string) {
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", nil)
		r.Header["Authorization"] = []string{header}
		gotID, gotSecret, ok, err := basicCredentials(r)
		user, pass, basic := refBasic(header)
		wantID, err1 := url.QueryUnescape(user)
		wantSecret, err2 := url.QueryUnescape(pass)
		switch {
		case ok != basic:
			t.Fatalf("basicCredentials(%q) ok = %v, want %v", header, ok, basic)
		case !ok && (gotID != "" || gotSecret != "" || err != nil):
			t.Fatalf("basicCredentials(%q) = %q, %q, false, %v, want nothing", header, gotID, gotSecret, err)
		case ok && (err != nil) != (err1 != nil || err2 != nil):
			t.Fatalf("basicCredentials(%q) error = %v, want the unescape errors %v, %v", header, err, err1, err2)
		case ok && (gotID != wantID || gotSecret != wantSecret):
			t.Fatalf("basicCredentials(%q) = %q, %q, want %q, %q", header, gotID, gotSecret, wantID, wantSecret)
		}

		r.Header.Set("Authorization", basicHeader(id, secret))
		if gotID, gotSecret, ok, err := basicCredentials(r); !ok || err != nil || gotID != id || gotSecret != secret {
			t.Fatalf("basicCredentials(basicHeader(%q, %q)) = %q, %q, %v, %v, want them back", id, secret, gotID, gotSecret, ok, err)
		}
	})
}

// refBasic parses an HTTP Basic Authorization value without net/http:
// the scheme, case-insensitive, one space, then base64 of user:password.
func refBasic(h string) (user, pass string, ok bool) {
	const scheme = "basic "
	if len(h) < len(scheme) {
		return "", "", false
	}
	for i := range len(scheme) {
		c := h[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != scheme[i] {
			return "", "", false
		}
	}
	raw, err := base64.StdEncoding.DecodeString(h[len(scheme):])
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}
