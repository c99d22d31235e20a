package settings

import (
	"strings"
	"testing"
)

func TestNearest(t *testing.T) {
	keys := []string{"public_addr", "admin_addr", "issuer", "access_token_ttl"}
	for _, tt := range []struct{ in, want string }{
		{"public_adr", "public_addr"}, {"isuer", "issuer"}, {"acess_token_tl", "access_token_ttl"}, {"frobnicate", ""}, {"x", ""},
	} {
		if got := Nearest(tt.in, keys); got != tt.want {
			t.Errorf("Nearest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExampleYAML(t *testing.T) {
	got := string(ExampleYAML([]ExampleEntry{
		{Key: "issuer", Env: "IDVAUTH_ISSUER", Flag: "issuer", Default: "http://127.0.0.1:8080", Usage: "issuer URL"},
		{Key: "secrets", Env: "IDVAUTH_SECRETS", Usage: "secrets", List: true},
	}))
	for _, want := range []string{"\n# issuer URL\n# env IDVAUTH_ISSUER, flag --issuer\n#issuer: \"http://127.0.0.1:8080\"\n",
		"\n# env IDVAUTH_SECRETS (no flag: flags show in ps)\n#secrets: []\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("ExampleYAML lacks %q:\n%s", want, got)
		}
	}
}
