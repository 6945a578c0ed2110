package loopback

import (
	"strings"
	"testing"
)

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:18090", true},
		{"127.0.0.1:0", true},
		{"127.9.9.9:80", true},
		{"[::1]:8080", true},
		{"localhost:1", true},
		{"0.0.0.0:18090", false},
		{":18090", false},
		{"10.0.0.1:80", false},
		{"[::]:80", false},
		{"example.com:80", false},
		{"localhost.example.com:80", false},
		{"127.0.0.1", false},
		{"127.0.0.1:99999", false},
		{"127.0.0.1:-1", false},
		{"127.0.0.1:http", false},
		{"", false},
		{"127.0.0.1:80\n", false},
	}
	for _, tc := range tests {
		err := CheckAddr("TEST_ADDR", tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("CheckAddr(%q): got %v, want ok %v", tc.addr, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "TEST_ADDR") {
			t.Errorf("CheckAddr(%q): error %q does not name the setting", tc.addr, err)
		}
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url            string
		ok, okWithPath bool
	}{
		{"http://127.0.0.1:1", true, true},
		{"http://127.0.0.2:80/", true, true},
		{"http://[::1]:8080", true, true},
		{"http://localhost:9", true, true},
		{"http://127.0.0.1:1/readyz", false, true},
		{"http://127.0.0.1:1/readyz?probe=1", false, false},
		{"http://127.0.0.1:1/#top", false, false},
		{"http://u:p@127.0.0.1:1", false, false},
		{"https://127.0.0.1:443", false, false},
		{"127.0.0.1:1", false, false},
		{"http://127.0.0.1", false, false},
		{"http://10.0.0.1:80", false, false},
		{"http://0.0.0.0:1", false, false},
		{"http://localhost.example.com:1", false, false},
	}
	for _, tc := range tests {
		if err := CheckURL("TEST_URL", tc.url); (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q): got %v, want ok %v", tc.url, err, tc.ok)
		}
		if err := CheckURLWithPath("TEST_URL", tc.url); (err == nil) != tc.okWithPath {
			t.Errorf("CheckURLWithPath(%q): got %v, want ok %v", tc.url, err, tc.okWithPath)
		}
	}
}
