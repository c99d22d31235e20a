package clientip

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	res := Resolver{Trusted: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("fd00::/8"),
	}}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct", "203.0.113.9:4000", nil, "203.0.113.9"},
		{"direct ignores XFF", "203.0.113.9:4000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"proxy without XFF", "10.1.2.3:4000", nil, "10.1.2.3"},
		{"proxy forwards", "10.1.2.3:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client-written entries ignored", "10.1.2.3:4000", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"proxy chain", "10.1.2.3:4000", []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"several headers", "10.1.2.3:4000", []string{"6.6.6.6", "198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"garbage stops at last trusted", "10.1.2.3:4000", []string{"198.51.100.1, bogus"}, "10.1.2.3"},
		{"ipv6 proxy", "[fd00::1]:4000", []string{"2001:db8::7"}, "2001:db8::7"},
		{"mapped v4 peer", "[::ffff:203.0.113.9]:4000", nil, "203.0.113.9"},
		{"all trusted", "10.1.2.3:4000", []string{"10.4.4.4"}, "10.4.4.4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/oauth2/token", nil)
			r.RemoteAddr = tt.remote
			for _, h := range tt.xff {
				r.Header.Add("X-Forwarded-For", h)
			}
			if got := res.Addr(r).String(); got != tt.want {
				t.Errorf("Addr(%s, XFF %q) = %s, want %s", tt.remote, tt.xff, got, tt.want)
			}
		})
	}
	if got := (Resolver{}).String(httptest.NewRequest("GET", "/", nil)); got != "192.0.2.1" {
		t.Errorf("httptest peer = %s", got)
	}
}

func TestLimitKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.9":           "203.0.113.9",
		"::ffff:203.0.113.9":    "203.0.113.9",
		"2001:db8:1:2:3:4:5:6":  "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::77": "2001:db8:1:2::/64",
	} {
		a := netip.MustParseAddr(in)
		if got := LimitKey(a.Unmap()); got != want {
			t.Errorf("LimitKey(%s) = %s, want %s", in, got, want)
		}
	}
}
