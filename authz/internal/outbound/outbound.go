// Package outbound guards the requests idvauth makes itself to URLs that
// clients register (a client's jwks_uri, and later back-channel logout
// deliveries): they must not reach the server's own network. A URL that
// names, or a host name that resolves to, a loopback, link-local,
// private, shared (CGNAT) or unspecified address is refused, unless the
// operator allows that range.
package outbound

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// forbidden are the ranges an outbound request may not reach unless
// allowed, besides what netip reports as loopback, link-local and
// private (RFC 1918, fc00::/7).
var forbidden = []netip.Prefix{
	// 0.0.0.0/8, "this network": on Linux a connection to 0.0.0.0 (or
	// any 0.x address) reaches the host itself.
	netip.MustParsePrefix("0.0.0.0/8"),
	// Shared address space (RFC 6598), carrier-grade NAT.
	netip.MustParsePrefix("100.64.0.0/10"),
}

// Policy decides which addresses outbound requests may reach. The zero
// value refuses every internal address.
type Policy struct {
	// Allow lists ranges that are internal but allowed all the same
	// (IDVAUTH_ALLOW_PRIVATE_OUTBOUND), e.g. 10.20.0.0/16 for clients
	// on the operator's own network, or 127.0.0.0/8 in tests.
	Allow []netip.Prefix
}

// Translated IPv6 ranges that carry an IPv4 address a gateway reaches for
// the sender: NAT64 (RFC 6052's well-known prefix and RFC 8215's local
// one, the IPv4 address in the last 32 bits) and 6to4 (RFC 3056, in bits
// 16 to 48).
var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour  = netip.MustParsePrefix("2002::/16")
)

// effective is the address a connection to ip reaches as far as the
// rules go: an IPv4-mapped, NAT64 or 6to4 address counts as the IPv4
// address it carries, since a gateway on the server's network may relay
// it there.
func effective(ip netip.Addr) netip.Addr {
	ip = ip.Unmap().WithZone("")
	if !ip.Is6() {
		return ip
	}
	b := ip.As16()
	switch {
	case nat64.Contains(ip), nat64Local.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16]))
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6]))
	}
	return ip
}

// Internal reports whether ip is an address of the server's own
// networks: unspecified, loopback, link-local (169.254/16, fe80::/10),
// private (RFC 1918, fc00::/7), shared (100.64/10), 0/8 or multicast. An
// IPv4-mapped, NAT64 or 6to4 IPv6 address counts as the IPv4 address it
// carries.
func Internal(ip netip.Addr) bool {
	ip = effective(ip)
	if ip.IsUnspecified() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsPrivate() || ip.IsMulticast() {
		return true
	}
	for _, p := range forbidden {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Check returns an error if ip is internal and no allowed range holds it.
func (p Policy) Check(ip netip.Addr) error {
	ip = effective(ip)
	if !Internal(ip) {
		return nil
	}
	for _, a := range p.Allow {
		if a.Contains(ip) {
			return nil
		}
	}
	return fmt.Errorf("%s is an internal address (loopback, link-local, private, shared or unspecified); allow its range with IDVAUTH_ALLOW_PRIVATE_OUTBOUND to reach it", ip)
}

// CheckHost checks host (of a URL, without port or brackets) when it is
// an IP address literal; a host name is checked when it is dialled.
func (p Policy) CheckHost(host string) error {
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil
	}
	return p.Check(ip)
}

// control is the net.Dialer Control hook: it runs after the name has
// been resolved, on the address about to be connected, so that a name
// that resolves to an internal address (DNS rebinding included) cannot
// be reached.
func (p Policy) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("outbound: unexpected address %q: %w", address, err)
	}
	return p.Check(ap.Addr())
}

// Dialer returns a dialer whose connections may reach only addresses p
// allows.
func (p Policy) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.control}
}

// Transport returns an HTTP transport for outbound requests: connections
// only to addresses p allows, and no proxy from the environment
// (HTTPS_PROXY would dial the proxy, not the host the policy checks).
func (p Policy) Transport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           p.Dialer(timeout).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ExpectContinueTimeout: time.Second,
	}
}
