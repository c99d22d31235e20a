package devkit

import (
	"net"
	"testing"
)

// TestLoopbackOnly checks which listen addresses --dev accepts without
// --dev-allow-remote.
func TestLoopbackOnly(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:8080", true},
		{"127.0.0.53:0", true},
		{"[::1]:8080", true},
		{"localhost:8080", true},
		{"LOCALHOST:0", true},
		{"[::ffff:127.0.0.1]:0", true},
		{"0.0.0.0:8080", false},
		{"[::]:8080", false},
		{":8080", false},
		{"192.0.2.7:8080", false},
		{"[fe80::1%eth0]:8080", false},
		{"example.org:8080", false},
		{"localhost.example.org:8080", false},
	}
	for _, tt := range tests {
		if got := LoopbackOnly(tt.addr); got != tt.want {
			t.Errorf("LoopbackOnly(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

// TestDevIssuer checks the issuer that --dev derives from its listener.
func TestDevIssuer(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"0.0.0.0:9000", "http://127.0.0.1:9000"},
		{"[::]:9000", "http://127.0.0.1:9000"},
		{"[::1]:9000", "http://[::1]:9000"},
	}
	for _, tt := range tests {
		addr, err := net.ResolveTCPAddr("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := Issuer(addr); got != tt.want {
			t.Errorf("Issuer(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
}
