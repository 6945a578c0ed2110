package sse

import (
	"errors"
	"testing"

	"livecommerce/internal/clientip"
)

// TestPerAddressCapKeys: the per-address cap counts an IPv6 client by its
// /64, whichever address of it the client (or a trusted proxy on its
// behalf) presents, and still tells neighbouring /64s and IPv4 clients
// apart.
func TestPerAddressCapKeys(t *testing.T) {
	proxies, err := clientip.ParseProxies("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	type req struct{ remote, xff string }
	tests := []struct {
		name          string
		first, second req
		wantRefused   bool
	}{
		{"same ipv6 address", req{"[2001:db8:1:2::1]:5000", ""}, req{"[2001:db8:1:2::1]:5001", ""}, true},
		{"other address, same /64", req{"[2001:db8:1:2::1]:5000", ""}, req{"[2001:db8:1:2:dead:beef:0:1]:5000", ""}, true},
		{"same /64 through the proxy", req{"127.0.0.1:5000", "2001:db8:1:2::1"}, req{"127.0.0.1:5001", "2001:db8:1:2::ffff"}, true},
		{"same /64, direct and proxied", req{"[2001:db8:1:2::1]:5000", ""}, req{"127.0.0.1:5001", "2001:db8:1:2::2"}, true},
		{"zoned link-local", req{"[fe80::1%eth0]:5000", ""}, req{"[fe80::2%eth0]:5000", ""}, true},
		{"ipv4 and its mapped form", req{"203.0.113.7:5000", ""}, req{"[::ffff:203.0.113.7]:5000", ""}, true},
		{"neighbouring /64", req{"[2001:db8:1:2::1]:5000", ""}, req{"[2001:db8:1:3::1]:5000", ""}, false},
		{"neighbouring ipv4", req{"203.0.113.7:5000", ""}, req{"203.0.113.8:5000", ""}, false},
		{"forged xff from an untrusted peer", req{"[2001:db8:1:2::1]:5000", "198.51.100.1"}, req{"[2001:db8:1:2::2]:5000", "198.51.100.2"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{MaxConnsPerIP: 1, Proxies: proxies}, nil, nil, nil)
			release, err := s.admit(s.clientKey(tt.first.remote, tt.first.xff))
			if err != nil {
				t.Fatalf("first stream: got %v, want admitted", err)
			}
			defer release()
			release2, err := s.admit(s.clientKey(tt.second.remote, tt.second.xff))
			if err == nil {
				defer release2()
			}
			if got := errors.Is(err, errPerIP); got != tt.wantRefused {
				t.Errorf("second stream: got error %v, want refused per address %v", err, tt.wantRefused)
			}
		})
	}
}
