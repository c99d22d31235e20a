package clientauth

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/idvauth/idvauth/authz/internal/audit"
)

// basicHeader is the Authorization value a client sends for id and
// secret (RFC 6749 section 2.3.1: form-encode, then HTTP Basic).
func basicHeader(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestBasicCredentials(t *testing.T) {
	for _, tt := range []struct {
		name       string
		header     string // "-" for none
		id, secret string
		ok, err    bool
	}{
		{"no header", "-", "", "", false, false},
		{"bearer", "Bearer abc", "", "", false, false},
		{"not base64", "Basic %%%", "", "", false, false},
		{"no colon", "Basic " + b64("client"), "", "", false, false},
		{"plain", basicHeader("client", "s3cret"), "client", "s3cret", true, false},
		{"lower-case scheme", "basic " + b64("client:s3cret"), "client", "s3cret", true, false},
		{"empty secret", "Basic " + b64("client:"), "client", "", true, false},
		{"colon in secret", "Basic " + b64("client:a:b"), "client", "a:b", true, false},
		{"form-encoded", basicHeader("a:b c+d%", "é&="), "a:b c+d%", "é&=", true, false},
		{"plus is space", "Basic " + b64("a+b:c+d"), "a b", "c d", true, false},
		{"bad escape in id", "Basic " + b64("a%zz:secret"), "", "secret", true, true},
		{"bad escape in secret", "Basic " + b64("client:%"), "client", "", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/oauth2/token", nil)
			if tt.header != "-" {
				r.Header.Set("Authorization", tt.header)
			}
			id, secret, ok, err := basicCredentials(r)
			if id != tt.id || secret != tt.secret || ok != tt.ok || (err != nil) != tt.err {
				t.Errorf("basicCredentials(%q) = %q, %q, %v, %v, want %q, %q, %v, error %v",
					tt.header, id, secret, ok, err, tt.id, tt.secret, tt.ok, tt.err)
			}
		})
	}
}

func TestClaimedID(t *testing.T) {
	long := strings.Repeat("x", 1000)
	for _, tt := range []struct {
		name, header, form, want string
	}{
		{"basic", basicHeader("a b", "s"), "", "a b"},
		{"basic wins over the form", basicHeader("basic", "s"), "client_id=form", "basic"},
		{"bad id escape", "Basic " + b64("%zz:s"), "client_id=form", ""},
		{"bad secret escape keeps the id", "Basic " + b64("client:%zz"), "", "client"},
		{"form", "", "client_id=form", "form"},
		{"none", "", "", ""},
		{"long id is cut", "", "client_id=" + long, long[:audit.MaxField] + "…"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(tt.form))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			if err := r.ParseForm(); err != nil {
				t.Fatal(err)
			}
			if got := ClaimedID(r); got != tt.want {
				t.Errorf("ClaimedID(%q, %q) = %q, want %q", tt.header, tt.form, got, tt.want)
			}
		})
	}
}
