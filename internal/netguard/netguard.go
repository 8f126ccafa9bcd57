// Package netguard keeps outbound requests whose address comes from input
// (a browser's Web Push endpoint, a Bot Framework serviceUrl) away from
// herald's own network: loopback, private, link-local (cloud metadata at
// 169.254.169.254), carrier-grade NAT, multicast and unspecified addresses
// are refused unless the operator allows a range explicitly. The check is
// made on the address actually dialled, after name resolution, so a name
// that resolves to an internal address (DNS rebinding) is refused too.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrRefused is wrapped by dial errors for an address the guard refuses.
var ErrRefused = errors.New("address not allowed for outbound requests from input (allow its range with --outbound-allow)")

// Guard decides which addresses may be dialled. The zero value refuses
// every internal range. It is safe for concurrent use.
type Guard struct {
	allow []netip.Prefix
}

// New returns a guard that also allows the given CIDR ranges (such as
// "10.20.0.0/16" for an internal push gateway, or "127.0.0.0/8" in tests).
func New(allow []string) (*Guard, error) {
	g := &Guard{}
	for _, a := range allow {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		p, err := netip.ParsePrefix(a)
		if err != nil {
			if ip, ierr := netip.ParseAddr(a); ierr == nil {
				p = netip.PrefixFrom(ip, ip.BitLen())
			} else {
				return nil, fmt.Errorf("outbound allow %q: want a CIDR range such as 10.0.0.0/8: %w", a, err)
			}
		}
		g.allow = append(g.allow, p.Masked())
	}
	return g, nil
}

// internal ranges netip's predicates do not name.
var extraInternal = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
}

// Allowed reports whether ip may be dialled.
func (g *Guard) Allowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	if g != nil {
		for _, p := range g.allow {
			if p.Contains(ip) {
				return true
			}
		}
	}
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range extraInternal {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// control is a net.Dialer Control function that refuses what the guard
// does not allow, on the resolved address about to be dialled.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("netguard: %s: %w", address, err)
	}
	if !g.Allowed(ap.Addr()) {
		return fmt.Errorf("netguard: %s: %w", ap.Addr(), ErrRefused)
	}
	return nil
}

// DialContext returns a dial function for http.Transport that applies the
// guard.
func (g *Guard) DialContext(timeout, keepAlive time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout, KeepAlive: keepAlive, Control: g.control}
	return d.DialContext
}
