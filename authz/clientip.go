package authz

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// peerAddr is the address of the TCP peer of r; the zero Addr if
// RemoteAddr does not parse (it always does for a real connection).
func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// fromTrustedProxy reports whether r came straight from one of the
// configured trusted proxies, whose forwarding headers are believed.
func (s *Server) fromTrustedProxy(r *http.Request) bool {
	return s.trustedProxy(peerAddr(r))
}

func (s *Server) trustedProxy(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// maxForwardedHops bounds how much of X-Forwarded-For is read.
const maxForwardedHops = 32

// clientIP is the address the request came from: the TCP peer, or, when
// the peer is a trusted proxy, the right-most X-Forwarded-For address that
// is not itself a trusted proxy. Entries left of that one were written by
// the client and are not believed. An unparsable entry stops the walk at
// the last address that was trusted.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	a := peerAddr(r)
	if !s.trustedProxy(a) {
		return a
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
		if len(hops) > maxForwardedHops {
			hops = hops[len(hops)-maxForwardedHops:]
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return a
		}
		a = h.Unmap().WithZone("")
		if !s.trustedProxy(a) {
			return a
		}
	}
	return a
}

// ipString is a's text, or "unknown" for the zero Addr.
func ipString(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	return a.String()
}
