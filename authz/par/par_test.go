package par

import (
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	value := strings.Repeat("A", 43)
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{URNPrefix + value, true},
		{URNPrefix + value[:42], false},
		{URNPrefix + value + "A", false},
		{URNPrefix + strings.Repeat("+", 43), false},
		{"urn:ietf:params:oauth:request_uri:" + strings.Repeat("_", 43), true},
		{"urn:example:" + value, false},
		{value, false},
		{"", false},
	} {
		sig, ok := parseURI(tc.in)
		if ok != tc.ok || ok && sig != signature(strings.TrimPrefix(tc.in, URNPrefix)) {
			t.Errorf("parseURI(%q) = %q, %t, want ok %t", tc.in, sig, ok, tc.ok)
		}
	}
}

// FuzzParseURI: no panic, and what parses is the prefix and 43 base64url
// characters.
func FuzzParseURI(f *testing.F) {
	f.Add(URNPrefix + strings.Repeat("A", 43))
	f.Add("urn:ietf:params:oauth:request_uri:")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		if _, ok := parseURI(in); ok && (len(in) != len(URNPrefix)+43 || !strings.HasPrefix(in, URNPrefix)) {
			t.Errorf("parseURI(%q) accepted", in)
		}
	})
}
