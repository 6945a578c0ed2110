package retryafter_test

import (
	"net/http"
	"testing"
	"time"

	"livecommerce/internal/retryafter"
)

func TestParse(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 3 ", 3 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"999999", retryafter.Max},
		{"99999999999999999999", 0}, // not an int64: unreadable
		{"9223372036854775807", retryafter.Max},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), retryafter.Max},
		{"soon", 0},
		{"1.5", 0},
	}
	for _, tt := range tests {
		if got := retryafter.Parse(tt.in, now); got != tt.want {
			t.Errorf("Parse(%q): got %v, want %v", tt.in, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "7", "-1", "Wed, 21 Oct 2015 07:28:00 GMT", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d := retryafter.Parse(s, time.Now()); d < 0 || d > retryafter.Max {
			t.Errorf("Parse(%q) = %v, want within [0, %v]", s, d, retryafter.Max)
		}
	})
}
