package password

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzPasswordPolicy: no panic, and nothing shorter than the minimum or
// holding the username passes.
func FuzzPasswordPolicy(f *testing.F) {
	for _, s := range []string{"correct horse battery staple", "Password1234!", "qwertyuiop", "ä😀\x00", "aaaaaaaaaaaaaaaaaa"} {
		f.Add(s, "ada", "ada@example.com")
	}
	f.Fuzz(func(t *testing.T, pw, user, email string) {
		if CheckPolicy(pw, user, email) != nil {
			return
		}
		if utf8.RuneCountInString(pw) < MinLen || len(pw) > MaxLen || !utf8.ValidString(pw) {
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
	good, err := Params{Time: 1, MemoryKiB: 64, Threads: 1}.Hash("correct horse battery staple")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "correct horse battery staple")
	f.Add("$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "x")
	f.Add("$argon2id$v=19$m=64,t=1,p=0$$", "")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		ok, err := Check(hash, pw)
		if err != nil && ok {
			t.Fatal("an error and a match")
		}
		if ok && hash != good {
			// Only a well-formed argon2id hash can match.
			if !strings.HasPrefix(hash, "$argon2id$v=19$") {
				t.Fatalf("Check(%q) matched a non-argon2id hash", hash)
			}
		}
	})
}
