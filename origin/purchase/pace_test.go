package purchase

import (
	"testing"
	"time"
)

// A loop waits for company only while purchases arrive at BusyRate or more:
// a quiet sale commits each purchase at once, a busy one gathers what
// arrives within the window.
func TestPaceWaitsOnlyUnderLoad(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	p := pace{window: 20 * time.Millisecond, busyRate: 200}
	now := start
	commit := func(gap time.Duration, n int) time.Duration {
		now = now.Add(gap)
		w := p.wait(now)
		p.started(now, n)
		return w
	}
	if w := commit(0, 1); w > 0 {
		t.Fatalf("first purchase ever waited %v", w)
	}
	// 100/s, one at a time: never waits.
	for i := 0; i < 20; i++ {
		if w := commit(10*time.Millisecond, 1); w > 0 {
			t.Fatalf("at 100/s purchase %d waited %v, want none", i, w)
		}
	}
	// Two purchases together now and then do not make it busy.
	for i := 0; i < 20; i++ {
		gap := 10 * time.Millisecond
		if i%5 == 0 {
			gap = time.Millisecond
		}
		if w := commit(gap, 1); w > 0 {
			t.Fatalf("at about 100/s with an occasional pair, purchase %d waited %v (rate estimate %.0f/s)", i, w, p.rate)
		}
	}
	// The sale picks up: 2 purchases every 4 ms (500/s). Within some
	// tens of milliseconds the loop is busy and waits out the rest of its
	// window.
	var waited time.Duration
	for i := 0; i < 15; i++ {
		waited = commit(4*time.Millisecond, 2)
	}
	if waited <= 0 {
		t.Fatalf("at 500/s the loop still commits at once (rate estimate %.0f/s)", p.rate)
	}
	if waited > p.window {
		t.Errorf("waited %v, more than the window %v", waited, p.window)
	}
	// Busy: a commit every window with what came meanwhile (10 at 500/s).
	for i := 0; i < 5; i++ {
		commit(20*time.Millisecond, 10)
	}
	if w := p.wait(now.Add(5 * time.Millisecond)); w != 15*time.Millisecond {
		t.Errorf("busy loop 5 ms after its last commit may wait %v, want 15ms", w)
	}
	// A pause, then one purchase: it goes at once, and so does the next
	// one a while later.
	if w := commit(2*time.Second, 1); w > 0 {
		t.Errorf("purchase after a 2 s pause waited %v", w)
	}
	if w := commit(50*time.Millisecond, 1); w > 0 {
		t.Errorf("purchase 50 ms after that waited %v", w)
	}
}

// With busyRate 0 every loop is busy (the window is a plain cap), and
// with window 0 nothing ever waits.
func TestPaceLimits(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	always := pace{window: 5 * time.Millisecond}
	always.started(now, 1)
	if w := always.wait(now.Add(time.Millisecond)); w != 4*time.Millisecond {
		t.Errorf("busyRate 0: wait %v, want 4ms", w)
	}
	never := pace{busyRate: 0}
	never.started(now, 100)
	never.started(now.Add(time.Millisecond), 100)
	if w := never.wait(now.Add(time.Millisecond)); w > 0 {
		t.Errorf("window 0: wait %v, want none", w)
	}
}
