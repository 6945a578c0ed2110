package latencychart

import (
	"math"
	"slices"
	"testing"
)

func TestLogScaleDecadesEven(t *testing.T) {
	s := logScale{lo: 0.1, hi: 10000, y0: 400, y1: 0}
	if got := s.pos(0.1); got != 400 {
		t.Errorf("pos(0.1) = %v, want 400", got)
	}
	if got := s.pos(10000); math.Abs(got) > 1e-9 {
		t.Errorf("pos(10000) = %v, want 0", got)
	}
	// Five decades over 400 px: 80 px each, whichever decade.
	for _, v := range []float64{0.1, 1, 10, 100, 1000} {
		if got := s.pos(v) - s.pos(v*10); math.Abs(got-80) > 1e-9 {
			t.Errorf("pos(%v) - pos(%v) = %v, want 80", v, v*10, got)
		}
	}
	// 2 and 5 sit at the same place in every decade.
	for _, m := range []float64{2, 5} {
		a := s.pos(0.1) - s.pos(0.1*m)
		b := s.pos(100) - s.pos(100*m)
		if math.Abs(a-b) > 1e-9 {
			t.Errorf("offset of %v in two decades: got %v and %v, want equal", m, a, b)
		}
	}
}

func TestLogScaleClamps(t *testing.T) {
	s := logScale{lo: 1, hi: 100, y0: 200, y1: 0}
	for _, v := range []float64{0, -5, 0.5, math.NaN(), math.Inf(-1)} {
		if got := s.pos(v); got != 200 {
			t.Errorf("pos(%v) = %v, want the floor 200", v, got)
		}
	}
	for _, v := range []float64{1000, math.Inf(1)} {
		if got := s.pos(v); got != 0 {
			t.Errorf("pos(%v) = %v, want the ceiling 0", v, got)
		}
	}
}

func TestLinScale(t *testing.T) {
	s := linScale{lo: 0, hi: 60, x0: 100, x1: 700}
	for _, c := range []struct{ t, want float64 }{{0, 100}, {30, 400}, {60, 700}, {-5, 100}, {90, 700}} {
		if got := s.pos(c.t); got != c.want {
			t.Errorf("pos(%v) = %v, want %v", c.t, got, c.want)
		}
	}
}

func TestLatencyRange(t *testing.T) {
	tests := []struct {
		name           string
		lo, hi         float64
		ok             bool
		wantLo, wantHi float64
	}{
		{"typical", 2, 80, true, 1, 100},
		{"flat line widened to a decade", 40, 40, true, 10, 100},
		{"wide", 0.1, 5000, true, 0.05, 10000},
		{"no positive value", 0, 0, false, 1, 100},
		{"absurd values clamp", 1e-300, 1e300, true, floorMS, ceilMS},
		{"all at the ceiling", 1e9, 1e9, true, 1e6, ceilMS},
		{"all at the floor", 1e-9, 1e-9, true, floorMS, 0.01},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi := latencyRange(tt.lo, tt.hi, tt.ok)
			if !near(lo, tt.wantLo) || !near(hi, tt.wantHi) {
				t.Errorf("latencyRange(%v, %v) = %v..%v, want %v..%v", tt.lo, tt.hi, lo, hi, tt.wantLo, tt.wantHi)
			}
			if hi/lo < 10*(1-eps) {
				t.Errorf("range %v..%v is less than a decade", lo, hi)
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }

func TestNiceFloorCeil(t *testing.T) {
	tests := []struct{ v, floor, ceil float64 }{
		{1, 1, 1},
		{1.5, 1, 2},
		{3, 2, 5},
		{7, 5, 10},
		{0.003, 0.002, 0.005},
		{1000, 1000, 1000},
		{0.001, 0.001, 0.001},
	}
	for _, tt := range tests {
		if got := niceFloor(tt.v); !near(got, tt.floor) {
			t.Errorf("niceFloor(%v) = %v, want %v", tt.v, got, tt.floor)
		}
		if got := niceCeil(tt.v); !near(got, tt.ceil) {
			t.Errorf("niceCeil(%v) = %v, want %v", tt.v, got, tt.ceil)
		}
	}
}

func TestLatencyTicks(t *testing.T) {
	tests := []struct {
		name       string
		lo, hi, px float64
		wantLabels []string
		wantGrid   int // gridlines, labelled or not
	}{
		{"roomy: 1-2-5 labelled", 1, 100, 400, []string{"1 ms", "2 ms", "5 ms", "10 ms", "20 ms", "50 ms", "100 ms"}, 7},
		{"middling: 2 and 5 unlabelled", 0.1, 10000, 200, []string{"0.1 ms", "1 ms", "10 ms", "100 ms", "1 s", "10 s"}, 16},
		{"tight: decades only", 0.1, 10000, 100, []string{"0.1 ms", "1 ms", "10 ms", "100 ms", "1 s", "10 s"}, 6},
		{"crowded: every other decade", floorMS, ceilMS, 100, []string{"10 µs", "1 ms", "100 ms", "10 s", "1000 s"}, 11},
		{"range ends between decades", 0.2, 5, 300, []string{"0.2 ms", "0.5 ms", "1 ms", "2 ms", "5 ms"}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ticks := latencyTicks(tt.lo, tt.hi, tt.px)
			var labels []string
			for _, tk := range ticks {
				if tk.label != "" {
					labels = append(labels, tk.label)
				}
			}
			if !slices.Equal(labels, tt.wantLabels) {
				t.Errorf("labels = %q, want %q", labels, tt.wantLabels)
			}
			if len(ticks) != tt.wantGrid {
				t.Errorf("got %d gridlines, want %d", len(ticks), tt.wantGrid)
			}
		})
	}
}

func TestLatencyLabel(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0.001, "1 µs"},
		{0.05, "50 µs"},
		{0.1, "0.1 ms"},
		{0.2, "0.2 ms"},
		{3 * 0.1, "0.3 ms"},
		{1, "1 ms"},
		{500, "500 ms"},
		{1000, "1 s"},
		{2000, "2 s"},
		{1e7, "10000 s"},
	}
	for _, tt := range tests {
		if got := latencyLabel(tt.v); got != tt.want {
			t.Errorf("latencyLabel(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestTimeStep(t *testing.T) {
	tests := []struct {
		span     float64
		maxTicks int
		want     float64
	}{
		{7, 10, 1},
		{15, 10, 2},
		{60, 10, 10},
		{60, 5, 15},
		{300, 12, 30},
		{600, 10, 60},
		{3600, 10, 600},
		{3600, 3, 1800},
		{1, 10, 0.1},
		{5, 10, 0.5},
		{30 * 86400, 10, 5 * 86400},
	}
	for _, tt := range tests {
		if got := timeStep(tt.span, tt.maxTicks); !near(got, tt.want) {
			t.Errorf("timeStep(%v, %d) = %v, want %v", tt.span, tt.maxTicks, got, tt.want)
		}
	}
}

func TestTimeRangeAndTicks(t *testing.T) {
	tests := []struct {
		name       string
		tmin, tmax float64
		maxTicks   int
		wantLabels []string
	}{
		{"a minute", 0, 59, 6, []string{"0 s", "10 s", "20 s", "30 s", "40 s", "50 s", "60 s"}},
		{"starts at zero", 30, 118, 6, []string{"0 s", "30 s", "60 s", "90 s", "120 s"}},
		{"before the start", -4, 9, 10, []string{"-4 s", "-2 s", "0 s", "2 s", "4 s", "6 s", "8 s", "10 s"}},
		{"one instant", 0, 0, 10, []string{"0 s", "0.1 s", "0.2 s", "0.3 s", "0.4 s", "0.5 s", "0.6 s", "0.7 s", "0.8 s", "0.9 s", "1.0 s"}},
		{"an hour", 0, 3500, 6, []string{"0 s", "600 s", "1200 s", "1800 s", "2400 s", "3000 s", "3600 s"}},
		{"an hour, less room", 0, 3500, 4, []string{"0 s", "900 s", "1800 s", "2700 s", "3600 s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi, step := timeRange(tt.tmin, tt.tmax, tt.maxTicks)
			if lo > tt.tmin || hi < tt.tmax {
				t.Errorf("range %v..%v does not hold %v..%v", lo, hi, tt.tmin, tt.tmax)
			}
			var labels []string
			for _, tk := range timeTicks(lo, hi, step) {
				labels = append(labels, tk.label)
			}
			if !slices.Equal(labels, tt.wantLabels) {
				t.Errorf("labels = %q, want %q", labels, tt.wantLabels)
			}
		})
	}
}

func TestCoord(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{{12, "12"}, {12.04, "12"}, {12.06, "12.1"}, {-0.01, "0"}, {-3.25, "-3.2"}, {479.99, "480"}}
	for _, tt := range tests {
		if got := coord(tt.v); got != tt.want {
			t.Errorf("coord(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
