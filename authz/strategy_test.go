package authz

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendJSONString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`quo"te\back`, `"quo\"te\\back"`},
		{"line\nfeed\ttab\r", `"line\nfeed\ttab\r"`},
		{"\x00\x1f", `"\u0000\u001f"`},
		{"<script>&", `"\u003cscript\u003e\u0026"`},
		{"bad\xffutf8", `"bad\ufffdutf8"`},
		{"sep\u2028\u2029", `"sep\u2028\u2029"`},
		{"été 身份", `"été 身份"`},
	}
	for _, tt := range tests {
		if got := string(appendJSONString(nil, tt.in)); got != tt.want {
			t.Errorf("appendJSONString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// FuzzAppendJSONString: the output is always valid JSON that decodes to
// the input (with invalid UTF-8 replaced, as encoding/json does).
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a", `"\`, "\x00\xff", "\u2028", "<>&", "client-1 identity.verify"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendJSONString(%q) = %s: invalid JSON: %v", s, b, err)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if !utf8.ValidString(s) {
			// Each invalid byte becomes one U+FFFD.
			var sb strings.Builder
			for i := 0; i < len(s); {
				r, n := utf8.DecodeRuneInString(s[i:])
				sb.WriteRune(r)
				i += n
			}
			want = sb.String()
		}
		if got != want {
			t.Fatalf("round trip of %q = %q, want %q", s, got, want)
		}
	})
}
