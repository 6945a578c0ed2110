package latencychart

import (
	"math"
	"strconv"
)

// The y axis never goes below a microsecond or above 10,000 seconds: a value
// outside is drawn at the edge, and a stray 1e-300 cannot ask for hundreds of
// decades of gridlines.
const (
	floorMS = 1e-3
	ceilMS  = 1e7
)

// eps absorbs the rounding of math.Log10 and of products such as 5*1e-3, so
// that values on the 1-2-5 ladder are recognised as such.
const eps = 1e-9

// logScale maps latencies in milliseconds to pixel rows.
type logScale struct {
	lo, hi float64 // range in ms, 0 < lo < hi
	y0, y1 float64 // pixel rows of lo (the bottom) and hi (the top)
}

// pos returns the row of v. Values below the range, including zero and
// negative latencies, sit on the floor; values above it on the ceiling.
func (s logScale) pos(v float64) float64 {
	if !(v > s.lo) {
		v = s.lo
	}
	v = min(v, s.hi)
	f := math.Log10(v/s.lo) / math.Log10(s.hi/s.lo)
	return s.y0 + f*(s.y1-s.y0)
}

// linScale maps seconds to pixel columns.
type linScale struct {
	lo, hi float64 // range in seconds, lo < hi
	x0, x1 float64 // pixel columns of lo and hi
}

// pos returns the column of t, clamped to the range.
func (s linScale) pos(t float64) float64 {
	t = min(max(t, s.lo), s.hi)
	return s.x0 + (t-s.lo)/(s.hi-s.lo)*(s.x1-s.x0)
}

// latencyRange picks the y range for data between lo and hi ms (ok false
// when there is no positive value at all): padded by a quarter on each side,
// widened to the 1-2-5 ladder, and at least one decade tall.
func latencyRange(lo, hi float64, ok bool) (float64, float64) {
	if !ok {
		return 1, 100
	}
	lo = niceFloor(clamp(lo/1.25, floorMS, ceilMS))
	hi = niceCeil(clamp(hi*1.25, floorMS, ceilMS))
	lo, hi = clamp(lo, floorMS, ceilMS), clamp(hi, floorMS, ceilMS)
	// Grow one rung at a time, alternately up and down, so the data stays
	// near the middle: a flat line at 40 ms gets 10..100 ms, not 20..200.
	for up := true; hi/lo < 10*(1-eps); up = !up {
		if (up && hi < ceilMS) || lo <= floorMS {
			hi = nextRung(hi)
		} else {
			lo = prevRung(lo)
		}
	}
	return lo, hi
}

func clamp(v, lo, hi float64) float64 { return min(max(v, lo), hi) }

// decade splits v > 0 into m * 10^e with 1 <= m < 10, give or take eps.
func decade(v float64) (m float64, e int) {
	e = int(math.Floor(math.Log10(v) + eps))
	return v / math.Pow10(e), e
}

// niceFloor returns the largest of 1, 2 or 5 times a power of ten that is
// not above v.
func niceFloor(v float64) float64 {
	m, e := decade(v)
	switch {
	case m >= 5-eps:
		m = 5
	case m >= 2-eps:
		m = 2
	default:
		m = 1
	}
	return m * math.Pow10(e)
}

// niceCeil returns the smallest of 1, 2 or 5 times a power of ten that is
// not below v.
func niceCeil(v float64) float64 {
	m, e := decade(v)
	switch {
	case m <= 1+eps:
		m = 1
	case m <= 2+eps:
		m = 2
	case m <= 5+eps:
		m = 5
	default:
		m = 10
	}
	return m * math.Pow10(e)
}

// nextRung and prevRung step along the 1-2-5 ladder from a value on it.
func nextRung(v float64) float64 {
	m, e := decade(v)
	switch {
	case m < 1.5:
		return 2 * math.Pow10(e)
	case m < 3.5:
		return 5 * math.Pow10(e)
	}
	return math.Pow10(e + 1)
}

func prevRung(v float64) float64 {
	m, e := decade(v)
	switch {
	case m < 1.5:
		return 5 * math.Pow10(e-1)
	case m < 3.5:
		return math.Pow10(e)
	}
	return 2 * math.Pow10(e)
}

// tick is one gridline; a tick without a label is drawn lighter.
type tick struct {
	v     float64
	label string
	minor bool
}

// latencyTicks lays gridlines on a log axis of px pixels from lo to hi ms: at
// every decade, and at 2 and 5 in between when a decade is tall enough for
// them; labels likewise, with decades skipped when even those would crowd.
func latencyTicks(lo, hi, px float64) []tick {
	perDecade := px / math.Log10(hi/lo)
	gridMinor := perDecade >= 30
	labelMinor := perDecade >= 60 // 1 to 2 is 0.3 of a decade: 18 px
	every := 1
	if perDecade < 18 {
		every = int(math.Ceil(18 / perDecade))
	}
	_, e0 := decade(lo)
	_, e1 := decade(hi)
	var ticks []tick
	for e := e0; e <= e1; e++ {
		for _, m := range [...]float64{1, 2, 5} {
			v := m * math.Pow10(e)
			if v < lo*(1-eps) || v > hi*(1+eps) {
				continue
			}
			t := tick{v: v}
			switch {
			case m == 1:
				if (e%every+every)%every == 0 {
					t.label = latencyLabel(v)
				}
			case !gridMinor:
				continue
			default:
				t.minor = true
				if labelMinor {
					t.label = latencyLabel(v)
				}
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// latencyLabel prints a tick value in ms with the unit that reads best:
// "500 µs", "0.1 ms", "20 ms", "2 s".
func latencyLabel(v float64) string {
	switch {
	case v >= 1000-eps:
		return shortNum(v/1000) + " s"
	case v >= 0.1-eps:
		return shortNum(v) + " ms"
	}
	return shortNum(v*1000) + " µs"
}

// shortNum prints v with at most three significant digits and no exponent,
// so 0.30000000000000004 prints as 0.3.
func shortNum(v float64) string {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'e', 2, 64), 64)
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// timeStep returns the smallest readable spacing that puts at most maxTicks
// intervals on span seconds: 1-2-5 below a second, then the steps of a
// clock, then 1-2-5 days.
func timeStep(span float64, maxTicks int) float64 {
	raw := span / float64(max(maxTicks, 1))
	if raw <= 1 {
		return niceCeil(raw)
	}
	// Spacings a reader can count in: those of a clock, up to a day.
	steps := [...]float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400}
	for _, s := range steps {
		if s >= raw*(1-eps) {
			return s
		}
	}
	return niceCeil(raw/86400) * 86400
}

// timeRange returns the x range for data between tmin and tmax seconds,
// widened to whole steps, and the step. The axis starts at the start of the
// run, 0, unless something lies before it.
func timeRange(tmin, tmax float64, maxTicks int) (lo, hi, step float64) {
	lo, hi = min(0, tmin), tmax
	if hi <= lo {
		hi = lo + 1
	}
	step = timeStep(hi-lo, maxTicks)
	lo = math.Floor(lo/step+eps) * step
	hi = math.Ceil(hi/step-eps) * step
	return lo, hi, step
}

// timeTicks returns the ticks from lo to hi, both multiples of step.
func timeTicks(lo, hi, step float64) []tick {
	n := int(math.Round((hi - lo) / step))
	n = min(n, 1000) // the step makes n small; this only bounds a bug
	decimals := 0
	if step < 1 {
		decimals = int(math.Ceil(-math.Log10(step) - eps))
	}
	ticks := make([]tick, 0, n+1)
	for i := 0; i <= n; i++ {
		t := lo + float64(i)*step
		label := strconv.FormatFloat(t, 'f', decimals, 64)
		if math.Abs(t) < step/2 {
			label = "0" // not "-0"
		}
		ticks = append(ticks, tick{v: t, label: label + " s"})
	}
	return ticks
}

// coord prints a pixel coordinate to a tenth of a pixel, the finest a
// screen shows, without a trailing ".0".
func coord(v float64) string {
	s := strconv.FormatFloat(v, 'f', 1, 64)
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		s = s[:len(s)-2]
	}
	if s == "-0" {
		return "0"
	}
	return s
}
