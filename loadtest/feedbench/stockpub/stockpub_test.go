package stockpub

import (
	"slices"
	"testing"
	"time"
)

func TestExpectedEvents(t *testing.T) {
	ms := func(n int) time.Time { return time.Unix(0, 0).Add(time.Duration(n) * time.Millisecond) }
	tests := []struct {
		name string
		sent []Change
		want int
	}{
		{"none", nil, 0},
		{"one", []Change{{ms(0), 0, 0}}, 1},
		{"first goes at once, the rest of the window together", []Change{{ms(0), 0, 0}, {ms(10), 0, 0}, {ms(49), 0, 0}}, 2},
		{"two skus after the first", []Change{{ms(0), 0, 0}, {ms(10), 0, 1}, {ms(20), 0, 0}}, 3},
		{"a window apart, each at once", []Change{{ms(0), 0, 0}, {ms(50), 0, 0}, {ms(200), 0, 0}}, 3},
		{"flush due before the next change", []Change{{ms(0), 0, 0}, {ms(10), 0, 0}, {ms(70), 0, 0}}, 3},
		{"round robin every 10ms over 20 skus", roundRobin(100, 20, 10*time.Millisecond), 100},
		// The first change at once, then two skus per 50ms flush.
		{"round robin every 10ms over 2 skus", roundRobin(100, 2, 10*time.Millisecond), 41},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExpectedEvents(tt.sent, 50*time.Millisecond); got != tt.want {
				t.Errorf("ExpectedEvents = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestExpectedPerLive(t *testing.T) {
	// Two lives taking turns every 10ms: each sees one sku change every
	// 20ms, sent at once the first time, then once per 50ms window (19
	// flushes), and the last change after the last flush. The third live
	// got nothing.
	var sent []Change
	for k := range 100 {
		sent = append(sent, Change{time.Unix(0, 0).Add(time.Duration(k) * 10 * time.Millisecond), k % 2, 0})
	}
	got := ExpectedPerLive(sent, 3, 50*time.Millisecond)
	if want := []int{21, 21, 0}; !slices.Equal(got, want) {
		t.Errorf("ExpectedPerLive = %v, want %v", got, want)
	}
}

func roundRobin(n, skus int, every time.Duration) []Change {
	out := make([]Change, n)
	for k := range out {
		out[k] = Change{time.Unix(0, 0).Add(time.Duration(k) * every), 0, k % skus}
	}
	return out
}
