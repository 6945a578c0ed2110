package openloop

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"
)

func TestScheduleWithoutRamp(t *testing.T) {
	tests := []struct {
		rate     float64
		duration time.Duration
	}{
		{1000, time.Second},
		{500, 100 * time.Millisecond},
		{1, 10 * time.Second},
		{20000, 10 * time.Second},
		{300, time.Minute},
	}
	for _, tc := range tests {
		offsets := Schedule{Rate: tc.rate, Duration: tc.duration}.all()
		want := tc.rate * tc.duration.Seconds()
		// The due times are summed in floating point, which may leave
		// one more due an instant before the end.
		if got := float64(len(offsets)); math.Abs(got-want) > 1 {
			t.Errorf("%g/s for %s: got %d operations, want %g", tc.rate, tc.duration, len(offsets), want)
		}
		if len(offsets) == 0 || offsets[0] != 0 {
			t.Errorf("%g/s for %s: the first operation is not due at once", tc.rate, tc.duration)
			continue
		}
		gap := time.Duration(float64(time.Second) / tc.rate)
		for i := 1; i < len(offsets); i++ {
			if offsets[i] <= offsets[i-1] {
				t.Fatalf("%g/s for %s: offset %d (%s) is not after offset %d (%s)", tc.rate, tc.duration, i, offsets[i], i-1, offsets[i-1])
			}
			if d := offsets[i] - offsets[i-1]; d < gap-time.Microsecond || d > gap+time.Microsecond {
				t.Fatalf("%g/s for %s: gap %d is %s, want %s", tc.rate, tc.duration, i, d, gap)
			}
		}
		if last := offsets[len(offsets)-1]; last >= tc.duration {
			t.Errorf("%g/s for %s: the last operation is due at %s, past the end", tc.rate, tc.duration, last)
		}
	}
}

func TestScheduleWithRamp(t *testing.T) {
	const rate = 1000.0
	flat := Schedule{Rate: rate, Duration: 10 * time.Second}.all()
	ramped := Schedule{Rate: rate, Duration: 10 * time.Second, Ramp: 4 * time.Second}.all()
	if len(ramped) >= len(flat) {
		t.Fatalf("got %d operations with a ramp and %d without, want fewer with it", len(ramped), len(flat))
	}
	// The rate rises linearly from a tenth over the ramp: the ramp holds
	// about 55% of what it would at full rate.
	want := rate * (6 + 4*0.55)
	if got := float64(len(ramped)); math.Abs(got-want)/want > 0.01 {
		t.Errorf("got %d operations with a 4 s ramp, want about %.0f", len(ramped), want)
	}
	steady := ramped[len(ramped)-1] - ramped[len(ramped)-2]
	first := ramped[1] - ramped[0]
	if r := float64(first) / float64(steady); r < 9.5 || r > 10.5 {
		t.Errorf("first gap %s, steady gap %s: ratio %.2f, want about 10", first, steady, r)
	}
	for i := 1; i < len(ramped); i++ {
		if ramped[i] <= ramped[i-1] {
			t.Fatalf("offset %d (%s) is not after offset %d (%s)", i, ramped[i], i-1, ramped[i-1])
		}
	}
	// A ramp longer than the load ends with it.
	if n := len(Schedule{Rate: rate, Duration: time.Second, Ramp: time.Hour}.all()); n == 0 || n >= int(rate) {
		t.Errorf("a ramp past the end: got %d operations, want some and fewer than %g", n, rate)
	}
}

func TestScheduleEmpty(t *testing.T) {
	for _, p := range []Schedule{
		{Rate: 0, Duration: time.Second},
		{Rate: -5, Duration: time.Second},
		{Rate: 100, Duration: 0},
		{Rate: 100, Duration: -time.Second},
	} {
		if got := p.all(); len(got) != 0 {
			t.Errorf("%g/s for %s: got %d operations, want none", p.Rate, p.Duration, len(got))
		}
	}
}

func TestRunSendsEverything(t *testing.T) {
	start := time.Now()
	// The measured window starts after the load, so the send delays (a
	// matter of the machine's load, not of the pacer) are not judged.
	p := Schedule{Rate: 500, Duration: 100 * time.Millisecond, Grace: 5 * time.Second, Measure: start.Add(time.Hour)}
	var seqs []int64
	var dues []time.Time
	res := p.Run(t.Context(), start, func(seq int64, due time.Time) bool {
		seqs = append(seqs, seq)
		dues = append(dues, due)
		return true
	})
	if res.Due != 50 {
		t.Errorf("Due: got %d, want 50", res.Due)
	}
	if res.Sent != res.Due || res.Skipped != 0 {
		t.Errorf("got %d sent and %d skipped of %d, want all sent", res.Sent, res.Skipped, res.Due)
	}
	if !res.KeptUp() {
		t.Errorf("KeptUp: got false for %+v", res)
	}
	for i, s := range seqs {
		if s != int64(i) {
			t.Fatalf("dispatch %d got seq %d, want %d", i, s, i)
		}
		if i > 0 && !dues[i].After(dues[i-1]) {
			t.Fatalf("due %d (%s) is not after due %d (%s)", i, dues[i], i-1, dues[i-1])
		}
	}
	if len(dues) > 0 && !dues[0].Equal(start) {
		t.Errorf("first due: got %s, want the start %s", dues[0], start)
	}
}

func TestRunRecordsSendDelayInMeasuredWindow(t *testing.T) {
	start := time.Now()
	p := Schedule{Rate: 500, Duration: 100 * time.Millisecond, Grace: 5 * time.Second, Measure: start.Add(49 * time.Millisecond)}
	res := p.Run(t.Context(), start, func(int64, time.Time) bool { return true })
	// Operations are due every 2 ms: 25 of them from 50 ms on.
	if got, want := res.SendDelay.TotalCount(), int64(25); got != want {
		t.Errorf("send delays recorded: got %d, want %d (those due in the measured window)", got, want)
	}
}

func TestRunGivesUpWhenBehind(t *testing.T) {
	start := time.Now()
	p := Schedule{Rate: 1000, Duration: 100 * time.Millisecond, Grace: 50 * time.Millisecond, Measure: start}
	// Each hand-over takes 20 ms: 100 of them cannot fit in 150 ms.
	res := p.Run(t.Context(), start, func(int64, time.Time) bool {
		time.Sleep(20 * time.Millisecond)
		return true
	})
	if res.Skipped == 0 || res.Sent+res.Skipped != res.Due {
		t.Errorf("got %d sent and %d skipped of %d, want some skipped and the rest sent", res.Sent, res.Skipped, res.Due)
	}
	if res.KeptUp() {
		t.Errorf("KeptUp: got true for %+v", res)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	p := Schedule{Rate: 1000, Duration: time.Minute, Grace: time.Second}
	res := p.Run(ctx, time.Now(), func(seq int64, due time.Time) bool {
		if seq == 10 {
			cancel()
		}
		return ctx.Err() == nil
	})
	// Operation 10 was handed over as the context ended, and refused.
	if res.Sent != 11 || res.NotSent != 1 || res.Skipped != res.Due-11 {
		t.Errorf("got %d sent (%d refused) and %d skipped of %d, want 11 (1) and the rest skipped", res.Sent, res.NotSent, res.Skipped, res.Due)
	}
	if res.KeptUp() {
		t.Error("KeptUp: got true for an interrupted schedule")
	}

	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	calls := 0
	res = p.Run(ctx, time.Now(), func(int64, time.Time) bool { calls++; return true })
	if calls != 0 || res.Sent != 0 || res.Skipped != res.Due {
		t.Errorf("with an ended context: got %d dispatches, %d sent, %d skipped of %d; want none sent", calls, res.Sent, res.Skipped, res.Due)
	}
}

// all returns every due offset.
func (p Schedule) all() []time.Duration { return slices.Collect(p.offsets) }
