package outbound

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		ip       string
		internal bool
	}{
		{"127.0.0.1", true}, {"127.8.9.10", true}, {"::1", true},
		{"169.254.169.254", true}, {"fe80::1", true}, {"fe80::1%eth0", true},
		{"10.1.2.3", true}, {"172.16.0.1", true}, {"172.31.255.255", true}, {"192.168.1.1", true},
		{"fc00::1", true}, {"fd12:3456::1", true},
		{"100.64.0.1", true}, {"100.127.255.255", true},
		{"0.0.0.0", true}, {"0.1.2.3", true}, {"::", true},
		{"::ffff:127.0.0.1", true}, {"::ffff:10.0.0.1", true}, {"::ffff:169.254.169.254", true},
		// NAT64 and 6to4 addresses carrying an internal IPv4 address.
		{"64:ff9b::7f00:1", true}, {"64:ff9b::a9fe:a9fe", true}, {"64:ff9b:1::a00:1", true},
		{"2002:7f00:1::", true}, {"2002:a9fe:a9fe::1", true}, {"2002:c0a8:101::1", true},
		{"64:ff9b::808:808", false}, {"2002:808:808::1", false},
		{"224.0.0.1", true}, {"ff02::1", true},
		{"8.8.8.8", false}, {"172.32.0.1", false}, {"100.128.0.1", false}, {"192.0.2.1", false},
		{"2001:db8::1", false}, {"2606:4700::1111", false}, {"::ffff:8.8.8.8", false},
	} {
		ip := netip.MustParseAddr(tt.ip)
		if got := Internal(ip); got != tt.internal {
			t.Errorf("Internal(%s) = %t, want %t", tt.ip, got, tt.internal)
		}
		if err := (Policy{}).Check(ip); (err != nil) != tt.internal {
			t.Errorf("Policy{}.Check(%s) = %v, want refused %t", tt.ip, err, tt.internal)
		}
	}
	p := Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("127.0.0.0/8")}}
	for ip, ok := range map[string]bool{"10.20.3.4": true, "::ffff:10.20.3.4": true, "64:ff9b::a14:304": true, "127.0.0.1": true, "10.21.0.1": false, "::1": false, "169.254.169.254": false} {
		if err := p.Check(netip.MustParseAddr(ip)); (err == nil) != ok {
			t.Errorf("Check(%s) with %v allowed = %v, want allowed %t", ip, p.Allow, err, ok)
		}
	}
}

func TestCheckHost(t *testing.T) {
	for host, ok := range map[string]bool{"127.0.0.1": false, "::1": false, "10.0.0.1": false, "keys.example": true, "localhost": true, "": true, "8.8.8.8": true} {
		if err := (Policy{}).CheckHost(host); (err == nil) != ok {
			t.Errorf("CheckHost(%q) = %v, want allowed %t", host, err, ok)
		}
	}
}

// TestTransport: the transport dials through the policy and never through
// a proxy from the environment (which it would dial instead of the host).
func TestTransport(t *testing.T) {
	tr := (Policy{}).Transport(time.Second)
	if tr.Proxy != nil {
		t.Errorf("Transport().Proxy is set, want nil: no proxy from the environment")
	}
	if _, err := tr.DialContext(t.Context(), "tcp", "127.0.0.1:9"); err == nil || !strings.Contains(err.Error(), "internal address") {
		t.Errorf("dial 127.0.0.1:9 = %v, want refused as internal", err)
	}
	if _, err := tr.DialContext(t.Context(), "tcp", "localhost:9"); err == nil || !strings.Contains(err.Error(), "internal address") {
		t.Errorf("dial localhost:9 = %v, want refused as internal", err)
	}
}
