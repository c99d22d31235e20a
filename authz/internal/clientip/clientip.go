// Package clientip finds the address a request came from, believing
// X-Forwarded-For only from configured reverse proxies, and names the keys
// that per-address limits count under.
package clientip

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds client addresses. Its zero value trusts no proxy: the TCP
// peer is the client. It is safe for concurrent use.
type Resolver struct {
	// Trusted are the reverse proxies whose X-Forwarded-For is believed.
	Trusted []netip.Prefix
}

// Peer is the address of the TCP peer of r; the zero Addr if RemoteAddr
// does not parse (it always does for a real connection).
func Peer(r *http.Request) netip.Addr {
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

// FromTrustedProxy reports whether r came straight from one of the trusted
// proxies, whose forwarding headers are believed.
func (res Resolver) FromTrustedProxy(r *http.Request) bool {
	return res.trusted(Peer(r))
}

func (res Resolver) trusted(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range res.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// maxForwardedHops bounds how much of X-Forwarded-For is read.
const maxForwardedHops = 32

// Addr is the address the request came from: the TCP peer, or, when the
// peer is a trusted proxy, the right-most X-Forwarded-For address that is
// not itself a trusted proxy. Entries left of that one were written by the
// client and are not believed. An unparsable entry stops the walk at the
// last address that was trusted.
func (res Resolver) Addr(r *http.Request) netip.Addr {
	a := Peer(r)
	if !res.trusted(a) {
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
		if !res.trusted(a) {
			return a
		}
	}
	return a
}

// String is the text of the address r came from, "unknown" if none.
func (res Resolver) String(r *http.Request) string { return String(res.Addr(r)) }

// String is a's text, or "unknown" for the zero Addr.
func String(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	return a.String()
}

// LimitKey is the rate-limit key of an address: IPv6 addresses by their
// /64, which one host or customer usually holds whole, so that rotating
// addresses inside it does not reset the limits.
func LimitKey(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return String(a)
}
