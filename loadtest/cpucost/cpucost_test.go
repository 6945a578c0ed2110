package cpucost

import (
	"math"
	"slices"
	"testing"
	"time"

	"livecommerce/loadtest/procstat"
)

func TestGroupOf(t *testing.T) {
	tests := []struct{ proc, want string }{
		{"origin", Origins},
		{"stockfeed", Feed},
		{"edge-invalidato", Invalidator}, // /proc cuts names to 15 bytes
		{"edge-invalidator", Invalidator},
		{"redis-server", Redis},
		{"mariadbd", MariaDB},
		{"mysqld", MariaDB},
		{"nats-server", NATS},
		{"varnishd", Varnish},
		{"cache-main", Varnish},
		{"cdn-config", Varnish},
		{"naive-origin", NaiveOrigin},
		{"static-json", StaticServer},
		{"loadgen", LoadGenerator},
		{"originx", Other},
		{"ksoftirqd/0", Other},
		{"", Other},
		{"(odd) name|x", Other},
	}
	for _, tt := range tests {
		if got := GroupOf(tt.proc); got != tt.want {
			t.Errorf("GroupOf(%q): got %q, want %q", tt.proc, got, tt.want)
		}
	}
}

func TestSum(t *testing.T) {
	got := Sum([]procstat.Group{
		{Name: "loadgen", Procs: 1, Cores: 0.5},
		{Name: "varnishd", Procs: 1, Cores: 0.01},
		{Name: "origin", Procs: 2, Cores: 0.4},
		{Name: "cache-main", Procs: 1, Cores: 0.2},
		{Name: "kworker/1:2", Procs: 1, Cores: 0.03},
		{Name: "mariadbd", Procs: 1, Cores: 0.1},
	})
	want := []Usage{
		{Group: Origins, Cores: 0.4, Procs: []string{"origin"}},
		{Group: MariaDB, Cores: 0.1, Procs: []string{"mariadbd"}},
		{Group: Varnish, Cores: 0.21, Procs: []string{"cache-main", "varnishd"}},
		{Group: LoadGenerator, Cores: 0.5, Procs: []string{"loadgen"}},
		{Group: Other, Cores: 0.03, Procs: []string{"kworker/1:2"}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Group != want[i].Group || math.Abs(got[i].Cores-want[i].Cores) > 1e-9 || !slices.Equal(got[i].Procs, want[i].Procs) {
			t.Errorf("row %d: got %+v, want %+v (report order)", i, got[i], want[i])
		}
	}
	if Sum(nil) != nil {
		t.Error("Sum(nil): want nil")
	}
}

// near reports whether two µs figures agree to a nanosecond.
func near(a, b float64) bool { return math.Abs(a-b) < 1e-3 }

func TestChargeOneKindIsExact(t *testing.T) {
	// 10 s at 1,000 purchases/s: 10,000 purchases. 0.5 core over 10 s is
	// 5 s of CPU, 500 µs a purchase.
	usage := []Usage{
		{Group: Origins, Cores: 0.5}, {Group: Redis, Cores: 0.1}, {Group: MariaDB, Cores: 0.2},
		{Group: Feed, Cores: 0.05}, // reads the purchases' changes off NATS, with no page connected
		{Group: LoadGenerator, Cores: 0.3}, {Group: Other, Cores: 0.01},
		{Group: NaiveOrigin, Cores: 0.02}, // idle, but not the system's
	}
	tab := Charge(System, usage, 10*time.Second, Counts{Purchase: 10_000}, Options{})
	if len(tab.Lines) != 1 {
		t.Fatalf("got %d lines, want 1 (purchases only)", len(tab.Lines))
	}
	l := tab.Lines[0]
	want := map[string]float64{Origins: 500, Redis: 100, MariaDB: 200, Feed: 50, LoadGenerator: 300, Other: 10, NaiveOrigin: 20}
	for g, us := range want {
		c, ok := l.Groups[g]
		if !ok || !near(c.Micros, us) || c.Bound {
			t.Errorf("%s: got %+v (charged %v), want exactly %g µs", g, c, ok, us)
		}
	}
	if !near(l.SystemLow, 850) || !near(l.SystemHigh, 850) {
		t.Errorf("system: got %g–%g µs, want 850 (origins, Redis, MariaDB, stockfeed; not the tool, the rest or the naive origin)", l.SystemLow, l.SystemHigh)
	}
	if !near(l.Machine.Micros, 1180) || l.Machine.Bound {
		t.Errorf("machine: got %+v, want exactly 1180 µs", l.Machine)
	}
}

func TestChargeMixedLoadBoundsSharedGroups(t *testing.T) {
	usage := []Usage{
		{Group: Origins, Cores: 0.6}, {Group: Feed, Cores: 0.4}, {Group: Invalidator, Cores: 0.01},
		{Group: Redis, Cores: 0.1}, {Group: MariaDB, Cores: 0.2}, {Group: NATS, Cores: 0.1}, {Group: Varnish, Cores: 0.15},
		{Group: LoadGenerator, Cores: 0.4},
	}
	counts := Counts{Purchase: 1_000, Read: 10_000, Event: 40_000}
	tab := Charge(System, usage, time.Second, counts, Options{})
	if len(tab.Lines) != 3 {
		t.Fatalf("got %d lines, want purchases, reads and events", len(tab.Lines))
	}
	type cell struct {
		us    float64
		bound bool
	}
	want := map[Kind]map[string]cell{
		Purchase: {Origins: {600, true}, Redis: {100, true}, Invalidator: {10, false}, MariaDB: {200, false}, NATS: {100, false}, LoadGenerator: {400, true}},
		Read:     {Origins: {60, true}, Redis: {10, true}, Varnish: {15, false}, LoadGenerator: {40, true}},
		Event:    {Feed: {10, false}, LoadGenerator: {10, true}},
	}
	sys := map[Kind][2]float64{Purchase: {310, 1010}, Read: {15, 85}, Event: {10, 10}}
	for _, l := range tab.Lines {
		if len(l.Groups) != len(want[l.Kind]) {
			t.Errorf("%s: got groups %v, want %v", l.Kind, l.Groups, want[l.Kind])
		}
		for g, w := range want[l.Kind] {
			c, ok := l.Groups[g]
			if !ok || !near(c.Micros, w.us) || c.Bound != w.bound {
				t.Errorf("%s, %s: got %+v (charged %v), want %g µs, bound %v", l.Kind, g, c, ok, w.us, w.bound)
			}
		}
		if s := sys[l.Kind]; !near(l.SystemLow, s[0]) || !near(l.SystemHigh, s[1]) {
			t.Errorf("%s: system got %g–%g µs, want %g–%g", l.Kind, l.SystemLow, l.SystemHigh, s[0], s[1])
		}
		if !l.Machine.Bound {
			t.Errorf("%s: the machine's figure is exact with three kinds running", l.Kind)
		}
	}
}

func TestChargePurchasesViaEdge(t *testing.T) {
	usage := []Usage{{Group: Varnish, Cores: 0.2}}
	counts := Counts{Purchase: 100, Read: 1000}
	if l, _ := Charge(System, usage, time.Second, counts, Options{}).Line(Purchase); len(l.Groups) != 0 {
		t.Errorf("purchases to the origins: Varnish charged to purchases: %v", l.Groups)
	}
	l, _ := Charge(System, usage, time.Second, counts, Options{PurchasesViaEdge: true}).Line(Purchase)
	if c := l.Groups[Varnish]; !near(c.Micros, 2000) || !c.Bound {
		t.Errorf("purchases through the edge: got %+v, want ≤ 2000 µs", c)
	}
}

func TestChargeGroupWithNothingOfItsOwn(t *testing.T) {
	// Purchases and reads, no live page: the stockfeed works for what
	// ran, and cannot be told which.
	l, _ := Charge(System, []Usage{{Group: Feed, Cores: 0.1}}, time.Second, Counts{Purchase: 100, Read: 100}, Options{}).Line(Read)
	if c := l.Groups[Feed]; !near(c.Micros, 1000) || !c.Bound || !near(l.SystemLow, 0) || !near(l.SystemHigh, 1000) {
		t.Errorf("got %+v, system %g–%g; want ≤ 1000 µs and a range from 0", c, l.SystemLow, l.SystemHigh)
	}
}

func TestChargeBaselines(t *testing.T) {
	usage := []Usage{{Group: Origins, Cores: 0.01}, {Group: MariaDB, Cores: 0.3}, {Group: NaiveOrigin, Cores: 0.2}, {Group: StaticServer, Cores: 0.001}}
	l, ok := Charge(Naive, usage, 2*time.Second, Counts{Purchase: 2000}, Options{}).Line(Purchase)
	if !ok || !near(l.SystemLow, 500) || !near(l.SystemHigh, 500) {
		t.Errorf("naive: got %+v, want 500 µs: the naive origin and MariaDB, not the idle origins", l)
	}
	l, _ = Charge(Static, usage, 2*time.Second, Counts{Read: 2000}, Options{}).Line(Read)
	if !near(l.SystemLow, 1) {
		t.Errorf("static: got %g µs, want 1", l.SystemLow)
	}
}

func TestChargeNothingToCharge(t *testing.T) {
	usage := []Usage{{Group: Origins, Cores: 1}}
	for _, tc := range []struct {
		name   string
		window time.Duration
		counts Counts
	}{
		{"no operation answered", time.Second, Counts{Purchase: 0}},
		{"no counts", time.Second, nil},
		{"negative counts", time.Second, Counts{Read: -5}},
		{"no window", 0, Counts{Purchase: 10}},
		{"negative window", -time.Second, Counts{Purchase: 10}},
	} {
		tab := Charge(System, usage, tc.window, tc.counts, Options{})
		if len(tab.Lines) != 0 {
			t.Errorf("%s: got %+v, want no line", tc.name, tab.Lines)
		}
		for _, l := range tab.Lines {
			if math.IsNaN(l.SystemHigh) || math.IsInf(l.SystemHigh, 0) {
				t.Errorf("%s: got %g", tc.name, l.SystemHigh)
			}
		}
	}
	if _, ok := (Table{}).Line(Purchase); ok {
		t.Error("Line of an empty table: got ok")
	}
}
