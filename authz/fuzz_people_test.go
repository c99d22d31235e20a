package authz

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
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

// FuzzPasswordPolicy: no panic, and nothing shorter than the minimum or
// holding the username passes.
func FuzzPasswordPolicy(f *testing.F) {
	for _, s := range []string{"correct horse battery staple", "Password1234!", "qwertyuiop", "ä😀\x00", "aaaaaaaaaaaaaaaaaa"} {
		f.Add(s, "ada", "ada@example.com")
	}
	f.Fuzz(func(t *testing.T, pw, user, email string) {
		if checkPasswordPolicy(pw, user, email) != nil {
			return
		}
		if utf8.RuneCountInString(pw) < minPasswordLen || len(pw) > maxPasswordLen || !utf8.ValidString(pw) {
			t.Fatalf("policy accepted %q", pw)
		}
		if len(user) >= 3 && strings.Contains(strings.ToLower(pw), strings.ToLower(user)) {
			t.Fatalf("policy accepted %q holding the username %q", pw, user)
		}
	})
}

// FuzzCheckPassword: a malformed stored hash is an error, never a panic or
// a match.
func FuzzCheckPassword(f *testing.F) {
	good, err := Argon2{Time: 1, MemoryKiB: 64, Threads: 1}.hashPassword("correct horse battery staple")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "correct horse battery staple")
	f.Add("$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "x")
	f.Add("$argon2id$v=19$m=64,t=1,p=0$$", "")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		ok, err := checkPassword(hash, pw)
		if err != nil && ok {
			t.Fatal("an error and a match")
		}
		if ok && hash != good {
			// Only a well-formed argon2id hash can match.
			if !strings.HasPrefix(hash, "$argon2id$v=19$") {
				t.Fatalf("checkPassword(%q) matched a non-argon2id hash", hash)
			}
		}
	})
}

func isLoopbackIP(h string) bool {
	return h == "127.0.0.1" || h == "::1" || strings.HasPrefix(h, "127.")
}
