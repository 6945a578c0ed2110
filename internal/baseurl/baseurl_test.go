package baseurl_test

import (
	"errors"
	"strings"
	"testing"

	"livecommerce/internal/baseurl"
)

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		raw, want string
		allowPath bool
	}{
		{"http://127.0.0.1:8001", "http://127.0.0.1:8001", false},
		{"https://shop.example.com/", "https://shop.example.com", false},
		{"http://[::1]:8000", "http://[::1]:8000", false},
		{"https://api.cloudflare.com/client/v4/", "https://api.cloudflare.com/client/v4", true},
	} {
		if got, err := baseurl.Check(tt.raw, tt.allowPath); err != nil || got != tt.want {
			t.Errorf("Check(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
		}
	}
	for _, tt := range []struct {
		raw, want string
	}{
		{"", "is empty"},
		{"http://x/" + strings.Repeat("a", 3000), "longer than"},
		{"http://a b", "without spaces"},
		{"http://a\nb", "without spaces"},
		{"http://[::1", "not a URL"},
		{"file:///etc/passwd", "scheme must be http or https"},
		{"javascript:alert(1)", "scheme must be http or https"},
		{"http://user:hunter2@h", "user name or password"},
		{"http://", "has no host"},
		{"http://h?x=1", "query or fragment"},
		{"http://h?", "query or fragment"},
		{"http://h#", "query or fragment"},
		{"http://h/some/path", "must not have a path"},
		{"http://h:0", "port must be"},
		{"http://h:99999", "port must be"},
	} {
		_, err := baseurl.Check(tt.raw, false)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Check(%.40q) = %v, want an error saying %q", tt.raw, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q repeats the password", err)
		}
	}
	if _, err := baseurl.Check("https://u:p@h", true); !errors.Is(err, baseurl.ErrUserinfo) {
		t.Errorf("got %v, want ErrUserinfo", err)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8000", "https://h/p?q#f", "http://u:p@h", "http://[::1]:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := baseurl.Check(raw, true)
		if err != nil {
			return
		}
		if again, err := baseurl.Check(got, true); err != nil || again != got {
			t.Errorf("Check(%q) = %q, which checks as %q, %v", raw, got, again, err)
		}
		if !strings.HasPrefix(got, "http://") && !strings.HasPrefix(got, "https://") {
			t.Errorf("Check(%q) = %q, not http(s)", raw, got)
		}
	})
}
