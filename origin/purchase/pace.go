package purchase

import (
	"math"
	"time"
)

// pace decides how long a writer loop waits for company before it
// commits. Every commit costs the database and the origin about the same
// whatever its size, so under load a batch should hold many purchases; but
// a purchase that arrives when few are coming must not wait for others.
// The loop therefore estimates its arrival rate from its own commits, and
// waits (until window has passed since its previous commit started) only
// while that rate is at least busyRate. Below it, it commits what is
// queued at once, and a commit of one purchase is what a quiet sale costs.
type pace struct {
	window   time.Duration
	busyRate float64   // purchases/s from which the loop waits; 0: always
	rate     float64   // estimated purchases/s arriving at the loop
	last     time.Time // start of the previous commit
}

// wait returns how long the loop may still wait at now before committing;
// zero or less means commit at once.
func (p *pace) wait(now time.Time) time.Duration {
	if p.window <= 0 || p.rate < p.busyRate || p.last.IsZero() {
		return 0
	}
	return p.window - now.Sub(p.last)
}

// rateMemory is how far back the rate estimate looks, in effect: long
// enough that two purchases arriving together do not make a quiet loop
// busy, short enough to follow a sale that picks up within a tenth of a
// second.
const rateMemory = 100 * time.Millisecond

// started records a commit of n purchases starting at now: the n arrived
// since the previous commit started. The estimate is an exponentially
// decaying count of arrivals over rateMemory.
func (p *pace) started(now time.Time, n int) {
	if !p.last.IsZero() {
		dt := max(now.Sub(p.last), 0)
		p.rate *= math.Exp(-float64(dt) / float64(rateMemory))
	}
	p.rate += float64(n) / rateMemory.Seconds()
	p.last = now
}
