// Package clientip finds the address a request came from, for per-client
// limits, behind the proxies an operator trusts (the local edge, a CDN).
package clientip

import (
	"fmt"
	"net/netip"
	"strings"
)

// Proxies are the networks allowed to say, in X-Forwarded-For, whom they
// forward for.
type Proxies []netip.Prefix

// ParseProxies reads a comma-separated list of addresses and CIDRs (the
// TRUSTED_PROXIES setting). An empty list trusts nobody.
func ParseProxies(list string) (Proxies, error) {
	var out Proxies
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("%q is neither an IP address nor a CIDR", s)
			}
			// Of compares unmapped addresses, so an IPv4-mapped CIDR
			// (::ffff:10.0.0.0/104) must become its IPv4 form to match.
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a CIDR", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func (p Proxies) trusts(a netip.Addr) bool {
	for _, n := range p {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// maxHops bounds how many X-Forwarded-For entries are examined: a chain
// of trusted proxies is short, and a hostile header may be long.
const maxHops = 16

// Of returns the client's address: remote itself, or, when remote is a
// trusted proxy, the nearest address in X-Forwarded-For (xff) that is not
// a trusted proxy, walking from the end (client, CDN, edge: the edge's and
// the CDN's entries are skipped). Entries before that one came from the
// client and may be forged, so they are never used; a garbled entry stops
// the walk at the last trusted hop.
func (p Proxies) Of(remote netip.Addr, xff string) string {
	remote = remote.Unmap()
	if !remote.IsValid() {
		return ""
	}
	hop := remote
	for n := 0; xff != "" && p.trusts(hop) && n < maxHops; n++ {
		entry := xff
		if i := strings.LastIndexByte(xff, ','); i >= 0 {
			entry, xff = xff[i+1:], xff[:i]
		} else {
			xff = ""
		}
		a, err := netip.ParseAddr(strings.TrimSpace(entry))
		if err != nil || a.Zone() != "" {
			break
		}
		hop = a.Unmap()
	}
	return hop.String()
}

// OfHostPort is Of for a "host:port" remote address, as net/http gives.
func (p Proxies) OfHostPort(remote, xff string) string {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return ""
	}
	return p.Of(ap.Addr(), xff)
}

// ipv6LimitBits is the IPv6 prefix a per-client limit counts as one client.
// A subscriber line is normally given at least a /64 (RFC 6177) and SLAAC
// privacy addresses let a host pick a fresh one inside it at will, so
// counting single IPv6 addresses would give one client unlimited quota.
const ipv6LimitBits = 64

// LimitKey returns the key per-client limits and caps count addr under: an
// IPv4 address itself (an IPv4-mapped IPv6 address in its IPv4 form), or
// the /64 an IPv6 address belongs to, as "2001:db8:1:2::/64". A zone is
// dropped. Input that is not an IP address is returned unchanged, so a
// caller that already keyed on it keeps the same key.
func LimitKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	// Prefix drops the zone and masks the interface bits.
	p, err := a.Prefix(ipv6LimitBits)
	if err != nil {
		return addr
	}
	return p.String()
}
