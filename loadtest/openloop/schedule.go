// Package openloop sends operations on a fixed schedule, open-loop:
// operation i is due at a time fixed in advance, whatever happened to the
// ones before it, and its latency is measured from that due time. A slow
// server therefore cannot hide its tail by slowing the sender down
// (coordinated omission): the requests it delays are late from the
// moment they were due.
package openloop

import (
	"context"
	"iter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"livecommerce/loadtest/pause"
)

// Schedule is when operations are due: at Rate a second for Duration,
// after a ramp.
type Schedule struct {
	Rate     float64       // operations per second
	Duration time.Duration // how long operations are due
	// Ramp is how long the rate takes to rise from a tenth to its full
	// value at the start, as a real audience arrives over some seconds; it
	// lies within the warm-up. A cold start at full rate measures the
	// sender's and the servers' warming-up instead: new connections, new
	// worker goroutines and threads, an empty cache.
	Ramp time.Duration
	// Measure is when the measured window starts: send delays are counted
	// from then on.
	Measure time.Time
	// Grace is how far behind the schedule the sender may end up before
	// it gives up on the rest: a run that cannot send at its rate fails
	// rather than going on for ever.
	Grace time.Duration
}

// Result is how well the schedule was kept.
type Result struct {
	Due     int64 // operations the schedule held
	Sent    int64 // operations started
	Skipped int64 // due operations never handed over: the sender fell too far behind
	NotSent int64 // handed over but refused: every connection's queue was full
	// SendDelay is how late operations due in the measured window started
	// (µs), past their due time.
	SendDelay *hdrhistogram.Histogram
}

// KeptUp reports whether the sender delivered the requested rate: every
// operation was handed over, 99% of those in the measured window within
// 100 ms of their due time. A late start is not hidden either way: the
// latency counts from the due time.
func (r Result) KeptUp() bool {
	return r.Skipped == 0 && r.NotSent == 0 && r.Sent == r.Due && (r.SendDelay.TotalCount() == 0 || r.SendDelay.ValueAtQuantile(99) <= maxSendDelayP99)
}

// maxSendDelayP99 is how late (µs) the sender may hand over 1% of the
// operations and still count as on schedule.
const maxSendDelayP99 = 100_000

// tick is how often the sender wakes to start what has come due. Each
// operation still gets its own due time; a coarser tick only batches the
// goroutine starts.
const tick = 500 * time.Microsecond

// offsets yields the due offset of every operation: one every 1/rate
// seconds, sparser during the ramp. They are computed as they are needed,
// not held: a long run at a high rate has hundreds of millions.
func (p Schedule) offsets(yield func(time.Duration) bool) {
	if p.Rate <= 0 || p.Duration <= 0 {
		return
	}
	ramp := min(p.Ramp, p.Duration).Seconds()
	end := p.Duration.Seconds()
	// Through the ramp the gaps are summed; past it each offset is
	// computed from the ramp's end, so rounding never adds an operation.
	t := 0.0
	for ; t < ramp && t < end; t += 1 / (p.Rate * (0.1 + 0.9*t/ramp)) {
		if !yield(time.Duration(t * float64(time.Second))) {
			return
		}
	}
	for k := 0.0; ; k++ {
		at := t + k/p.Rate
		if at >= end-1e-9 || !yield(time.Duration(at*float64(time.Second))) {
			return
		}
	}
}

// Run hands every operation to dispatch when it comes due, with its due
// time; dispatch queues it and returns at once, false when it had to
// refuse it (every queue full). It
// returns once every due operation was handed over, the sender gave up,
// or ctx ended.
func (p Schedule) Run(ctx context.Context, start time.Time, dispatch func(seq int64, due time.Time) bool) Result {
	res := Result{SendDelay: hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 2)}
	for range p.offsets {
		res.Due++
	}
	next, stop := iter.Pull(p.offsets)
	defer stop()
	// offset holds the next operation's offset; i is its number.
	offset, more := next()
	giveUp := start.Add(p.Duration + p.Grace)
	var i int64
	for more && ctx.Err() == nil {
		now := time.Now()
		if now.After(giveUp) {
			break
		}
		if d := start.Add(offset); d.After(now) {
			pause.For(ctx, min(d.Sub(now), tick))
			continue
		}
		// Hand over everything that has come due, each with its own due
		// time.
		for more && !start.Add(offset).After(now) && ctx.Err() == nil {
			d := start.Add(offset)
			if !d.Before(p.Measure) {
				_ = res.SendDelay.RecordValue(max(time.Since(d).Microseconds(), 0))
			}
			if !dispatch(i, d) {
				res.NotSent++
			}
			res.Sent++
			i++
			offset, more = next()
			if time.Now().After(giveUp) {
				break
			}
		}
	}
	res.Skipped = res.Due - i
	return res
}
