package clientip_test

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"livecommerce/internal/clientip"
)

func TestParseProxies(t *testing.T) {
	tests := []struct {
		list string
		want []string
	}{
		{"", nil},
		{" , ,", nil},
		{"127.0.0.1", []string{"127.0.0.1/32"}},
		{"127.0.0.1,::1", []string{"127.0.0.1/32", "::1/128"}},
		{" 10.0.0.0/8 , 192.168.1.7 ", []string{"10.0.0.0/8", "192.168.1.7/32"}},
		{"10.1.2.3/8", []string{"10.0.0.0/8"}}, // host bits are masked off
		{"2001:db8::/32", []string{"2001:db8::/32"}},
		{"::ffff:10.0.0.1", []string{"10.0.0.1/32"}}, // IPv4-mapped, unmapped
		{"::ffff:10.0.0.0/104", []string{"10.0.0.0/8"}},
		{"0.0.0.0/0", []string{"0.0.0.0/0"}},
	}
	for _, tt := range tests {
		p, err := clientip.ParseProxies(tt.list)
		if err != nil {
			t.Errorf("ParseProxies(%q) = %v", tt.list, err)
			continue
		}
		var got []string
		for _, n := range p {
			got = append(got, n.String())
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("ParseProxies(%q) = %v, want %v", tt.list, got, tt.want)
		}
	}
}

func TestParseProxiesRejects(t *testing.T) {
	for _, list := range []string{
		"localhost",
		"127.0.0.1,localhost",
		"127.0.0.1:80",
		"10.0.0.0/33",
		"10.0.0.0/",
		"/8",
		"::1/129",
		"256.0.0.1",
		"1.2.3",
		"10.0.0.0/8/8",
		"127.0.0.1;10.0.0.1",
		"*",
		"\x00",
	} {
		if p, err := clientip.ParseProxies(list); err == nil {
			t.Errorf("ParseProxies(%q) = %v, nil; want an error", list, p)
		}
	}
	// The error quotes the bad entry, so an operator can find it.
	_, err := clientip.ParseProxies("127.0.0.1, bogus ,::1")
	if err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("ParseProxies with a bad entry = %v, want an error quoting it", err)
	}
}

func TestOf(t *testing.T) {
	proxies, err := clientip.ParseProxies("127.0.0.1, 10.0.0.0/8, ::1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, remote, xff, want string
	}{
		{"no header", "203.0.113.9", "", "203.0.113.9"},
		{"untrusted remote ignores XFF", "203.0.113.9", "198.51.100.1", "203.0.113.9"},
		{"untrusted remote ignores a forged list", "203.0.113.9", "127.0.0.1, 10.0.0.1", "203.0.113.9"},
		{"trusted remote", "127.0.0.1", "198.51.100.1", "198.51.100.1"},
		{"trusted CIDR", "10.9.8.7", "198.51.100.1", "198.51.100.1"},
		{"trusted IPv6", "::1", "2001:db8::7", "2001:db8::7"},
		{"last entry wins", "127.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"},
		{"last entry wins without spaces", "127.0.0.1", "6.6.6.6,7.7.7.7,198.51.100.1", "198.51.100.1"},
		{"spaces around", "127.0.0.1", "  198.51.100.1\t", "198.51.100.1"},
		{"garbage", "127.0.0.1", "garbage", "127.0.0.1"},
		{"garbage last, good first", "127.0.0.1", "198.51.100.1, garbage", "127.0.0.1"},
		{"trailing comma", "127.0.0.1", "198.51.100.1,", "127.0.0.1"},
		{"comma only", "127.0.0.1", ",", "127.0.0.1"},
		{"whitespace only", "127.0.0.1", "   ", "127.0.0.1"},
		{"with port", "127.0.0.1", "198.51.100.1:443", "127.0.0.1"},
		{"bracketed IPv6", "127.0.0.1", "[2001:db8::7]", "127.0.0.1"},
		{"zone", "127.0.0.1", "fe80::1%eth0", "127.0.0.1"},
		{"CIDR", "127.0.0.1", "198.51.100.0/24", "127.0.0.1"},
		{"NUL", "127.0.0.1", "198.51.100.1\x00", "127.0.0.1"},
		{"unicode digits", "127.0.0.1", "１.２.３.４", "127.0.0.1"},
		{"huge", "127.0.0.1", strings.Repeat("1.1.1.1, ", 2000) + "x", "127.0.0.1"},
		{"IPv4-mapped client unmapped", "127.0.0.1", "::ffff:198.51.100.1", "198.51.100.1"},
		{"IPv4-mapped remote unmapped and trusted", "::ffff:127.0.0.1", "198.51.100.1", "198.51.100.1"},
		{"IPv4-mapped untrusted remote unmapped", "::ffff:203.0.113.9", "198.51.100.1", "203.0.113.9"},
		{"IPv6 client canonical", "127.0.0.1", "2001:DB8:0:0::7", "2001:db8::7"},

		// A chain of trusted proxies (client, CDN, edge): their entries are
		// skipped from the end, and the first untrusted one is the client.
		{"chain through a trusted hop", "127.0.0.1", "198.51.100.1, 10.0.0.5", "198.51.100.1"},
		{"chain through two trusted hops", "127.0.0.1", "198.51.100.1, 10.1.1.1, 10.0.0.5", "198.51.100.1"},
		{"chain with IPv4-mapped hop", "127.0.0.1", "198.51.100.1, ::ffff:10.0.0.5", "198.51.100.1"},
		{"chain IPv6", "::1", "2001:db8::7, ::1", "2001:db8::7"},
		{"forged entry before the client", "127.0.0.1", "6.6.6.6, 198.51.100.1, 10.0.0.5", "198.51.100.1"},
		{"forged trusted entry before the client", "127.0.0.1", "10.0.0.1, 198.51.100.1, 10.0.0.5", "198.51.100.1"},
		{"forged garbage before the client", "127.0.0.1", "garbage, 198.51.100.1, 10.0.0.5", "198.51.100.1"},
		{"garbage after a trusted hop", "127.0.0.1", "198.51.100.1, garbage, 10.0.0.5", "10.0.0.5"},
		{"empty entry after a trusted hop", "127.0.0.1", "198.51.100.1,, 10.0.0.5", "10.0.0.5"},
		{"only trusted hops", "127.0.0.1", "10.0.0.1, 10.0.0.2", "10.0.0.1"},
		{"untrusted remote ignores a chain", "203.0.113.9", "198.51.100.1, 10.0.0.5", "203.0.113.9"},
		// At most 16 entries are examined: a client 16th from the end is
		// found, one 17th is not (the walk ends on the 16th, trusted).
		{"client at the 16th hop", "127.0.0.1", "198.51.100.1, " + trustedHops(15), "198.51.100.1"},
		{"client beyond the 16th hop", "127.0.0.1", "198.51.100.1, " + trustedHops(16), "10.0.0.16"},
		{"1000 trusted hops", "127.0.0.1", strings.Repeat("10.0.0.1, ", 999) + "10.0.0.1", "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			remote := netip.MustParseAddr(tt.remote)
			if got := proxies.Of(remote, tt.xff); got != tt.want {
				t.Errorf("Of(%s, %.60q) = %q, want %q", tt.remote, tt.xff, got, tt.want)
			}
		})
	}
	if got := proxies.Of(netip.Addr{}, "198.51.100.1"); got != "" {
		t.Errorf("Of(invalid addr) = %q, want empty", got)
	}
}

// trustedHops is n entries 10.0.0.n, ..., 10.0.0.1: the last is nearest.
func trustedHops(n int) string {
	hops := make([]string, n)
	for i := range hops {
		hops[i] = "10.0.0." + strconv.Itoa(n-i)
	}
	return strings.Join(hops, ", ")
}

func TestOfTrustsNobody(t *testing.T) {
	none, err := clientip.ParseProxies("")
	if err != nil {
		t.Fatal(err)
	}
	for _, remote := range []string{"127.0.0.1", "::1", "10.0.0.1"} {
		if got := none.Of(netip.MustParseAddr(remote), "198.51.100.1"); got != remote {
			t.Errorf("trusting nobody: Of(%s, XFF) = %q, want %q", remote, got, remote)
		}
	}
}

func TestOfMappedProxy(t *testing.T) {
	// A proxy written in IPv4-mapped form still matches the connection
	// it makes over IPv4.
	p, err := clientip.ParseProxies("::ffff:10.0.0.0/104")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Of(netip.MustParseAddr("10.1.2.3"), "198.51.100.1"); got != "198.51.100.1" {
		t.Errorf("Of(10.1.2.3) behind ::ffff:10.0.0.0/104 = %q, want the forwarded address", got)
	}
}

func TestOfHostPort(t *testing.T) {
	proxies, err := clientip.ParseProxies("127.0.0.1,::1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		remote, xff, want string
	}{
		{"127.0.0.1:5555", "198.51.100.1", "198.51.100.1"},
		{"[::1]:5555", "198.51.100.1", "198.51.100.1"},
		{"[::ffff:127.0.0.1]:5555", "198.51.100.1", "198.51.100.1"},
		{"203.0.113.9:5555", "198.51.100.1", "203.0.113.9"},
		{"[2001:db8::9]:443", "", "2001:db8::9"},
		{"127.0.0.1:5555", "nonsense", "127.0.0.1"},
		{"[fe80::1%eth0]:80", "198.51.100.1", "fe80::1%eth0"}, // zoned remotes are never trusted
		{"", "198.51.100.1", ""},
		{"127.0.0.1", "198.51.100.1", ""}, // no port
		{"localhost:80", "198.51.100.1", ""},
		{"@", "", ""}, // a unix socket
	}
	for _, tt := range tests {
		if got := proxies.OfHostPort(tt.remote, tt.xff); got != tt.want {
			t.Errorf("OfHostPort(%q, %q) = %q, want %q", tt.remote, tt.xff, got, tt.want)
		}
	}
}

// trusted is FuzzOf's proxy list: 127.0.0.1, ::1 and 10.0.0.0/8.
func trusted(a netip.Addr) bool {
	a = a.Unmap()
	return a == netip.MustParseAddr("127.0.0.1") || a == netip.IPv6Loopback() || netip.MustParsePrefix("10.0.0.0/8").Contains(a)
}

func FuzzOf(f *testing.F) {
	f.Add("127.0.0.1", "198.51.100.1")
	f.Add("203.0.113.9", "198.51.100.1")
	f.Add("::ffff:127.0.0.1", "6.6.6.6, ::ffff:198.51.100.1")
	f.Add("::1", "fe80::1%eth0")
	f.Add("127.0.0.1", ",,,")
	f.Add("127.0.0.1", "198.51.100.1, 10.0.0.5")
	f.Add("127.0.0.1", "6.6.6.6, 198.51.100.1, 10.0.0.5, 127.0.0.1")
	f.Add("127.0.0.1", "198.51.100.1, garbage, 10.0.0.5")
	f.Add("127.0.0.1", strings.Repeat("10.0.0.1,", 1000))
	f.Add("::1", "2001:db8::7, ::1, ::ffff:10.0.0.5")
	proxies, err := clientip.ParseProxies("127.0.0.1,::1,10.0.0.0/8")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r, err := netip.ParseAddr(remote)
		if err != nil {
			return
		}
		got := proxies.Of(r, xff)
		a, err := netip.ParseAddr(got)
		if err != nil {
			t.Fatalf("Of(%s, %q) = %q, not an address", remote, xff, got)
		}
		if a.Is4In6() {
			t.Fatalf("Of(%s, %q) = %q, still IPv4-mapped", remote, xff, got)
		}
		// Only a trusted proxy can make the answer differ from remote.
		if !trusted(r) && got != r.Unmap().String() {
			t.Fatalf("Of(%s, %q) = %q: an untrusted remote chose its own address", remote, xff, got)
		}
		if got == r.Unmap().String() {
			return
		}
		// Otherwise the answer is one of the last 16 entries, reached
		// through trusted hops only: each entry after it is trusted.
		entries := strings.Split(xff, ",")
		for i := len(entries) - 1; i >= 0 && i >= len(entries)-16; i-- {
			e, err := netip.ParseAddr(strings.TrimSpace(entries[i]))
			if err != nil {
				break
			}
			if e.Unmap().String() == got {
				return
			}
			if !trusted(e) {
				break
			}
		}
		t.Fatalf("Of(%s, %q) = %q: not reached through trusted hops within 16 entries", remote, xff, got)
	})
}

func TestLimitKey(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"ipv4", "203.0.113.7", "203.0.113.7"},
		{"ipv4 loopback", "127.0.0.1", "127.0.0.1"},
		{"ipv4-mapped", "::ffff:203.0.113.7", "203.0.113.7"},
		{"ipv4-mapped hex", "::ffff:cb00:7107", "203.0.113.7"},
		{"ipv6", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"ipv6 interface id zero", "2001:db8:1:2::", "2001:db8:1:2::/64"},
		{"ipv6 upper case", "2001:DB8:1:2::FFFF", "2001:db8:1:2::/64"},
		{"ipv6 loopback", "::1", "::/64"},
		{"ipv6 zone dropped", "fe80::1%eth0", "fe80::/64"},
		{"ipv6 other zone", "fe80::2%25wlan0", "fe80::/64"},
		{"ipv4-compatible is not mapped", "::203.0.113.7", "::/64"},
		{"empty", "", ""},
		{"garbage", "not-an-ip", "not-an-ip"},
		{"host and port", "203.0.113.7:80", "203.0.113.7:80"},
		{"bracketed", "[2001:db8::1]", "[2001:db8::1]"},
		{"already a prefix", "2001:db8:1:2::/64", "2001:db8:1:2::/64"},
		{"ipv4 cidr", "10.0.0.0/8", "10.0.0.0/8"},
		{"leading zeros", "010.0.0.1", "010.0.0.1"},
		{"trailing space", "203.0.113.7 ", "203.0.113.7 "},
		{"NUL", "203.0.113.7\x00", "203.0.113.7\x00"},
		{"oversized", strings.Repeat("1", 4096), strings.Repeat("1", 4096)},
	}
	for _, tt := range tests {
		if got := clientip.LimitKey(tt.in); got != tt.want {
			t.Errorf("%s: LimitKey(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

// TestLimitKeyGroups: addresses one client can pick (a single /64) share a
// key, and neighbouring /64s, which are other subscribers, do not.
func TestLimitKeyGroups(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
		{"2001:db8:1:2:1234:5678:9abc:def0", "2001:db8:1:2::dead:beef", true},
		{"fe80::1%eth0", "fe80::2%eth1", true},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"2001:db8:1:2::1", "2001:db9:1:2::1", false},
		{"2001:db8::1", "2001:db8:0:0:8000::1", true},
		{"2001:db8::1", "2001:db8:0:1::1", false},
		{"203.0.113.7", "203.0.113.8", false},
		{"203.0.113.7", "::ffff:203.0.113.7", true},
		{"203.0.113.7", "::ffff:203.0.113.8", false},
		// An IPv4 address and the IPv6 /64 that would hold its bytes are
		// different clients.
		{"0.0.0.1", "::1", false},
	}
	for _, tt := range tests {
		ka, kb := clientip.LimitKey(tt.a), clientip.LimitKey(tt.b)
		if got := ka == kb; got != tt.same {
			t.Errorf("LimitKey(%q) = %q, LimitKey(%q) = %q: got same %v, want %v", tt.a, ka, tt.b, kb, got, tt.same)
		}
	}
}

func FuzzLimitKey(f *testing.F) {
	for _, s := range []string{"", "203.0.113.7", "::ffff:203.0.113.7", "2001:db8:1:2::1", "fe80::1%eth0", "::1", "x", "2001:db8::/64"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := clientip.LimitKey(s)
		// A key is its own key, so keying twice never splits a client.
		if again := clientip.LimitKey(k); again != k {
			t.Fatalf("LimitKey(LimitKey(%q)) = %q, want %q", s, again, k)
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			if k != s {
				t.Fatalf("LimitKey(%q) = %q, want the input unchanged", s, k)
			}
			return
		}
		if a = a.Unmap(); a.Is4() {
			if k != a.String() {
				t.Fatalf("LimitKey(%q) = %q, want %q", s, k, a)
			}
			return
		}
		p, err := netip.ParsePrefix(k)
		if err != nil || p.Bits() != 64 || p != p.Masked() || !p.Contains(a.WithZone("")) {
			t.Fatalf("LimitKey(%q) = %q, want the masked /64 holding it", s, k)
		}
	})
}
