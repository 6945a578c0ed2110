package procstat

import (
	"math"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name, stat string
		wantName   string
		user, sys  int64
		ok         bool
	}{
		{"plain", "42 (redis-server) S 1 42 42 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 4 0", "redis-server", 250, 31, true},
		{"spaces and parentheses in the name", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 9 8 0 0", "a (b) c", 9, 8, true},
		{"no name", "7 R 1 7 7 0 -1 0 0 0 0 0 9 8 0 0", "", 0, 0, false},
		{"short", "7 (x) R 1 7", "", 0, 0, false},
		{"not a number", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 nine 8 0 0", "", 0, 0, false},
	}
	for _, tc := range tests {
		name, user, sys, err := parseStat([]byte(tc.stat))
		if (err == nil) != tc.ok {
			t.Errorf("%s: got error %v, want ok %v", tc.name, err, tc.ok)
			continue
		}
		if tc.ok && (name != tc.wantName || user != tc.user || sys != tc.sys) {
			t.Errorf("%s: got %q %d %d, want %q %d %d", tc.name, name, user, sys, tc.wantName, tc.user, tc.sys)
		}
	}
}

func TestBetween(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := Snapshot{at: at, ticks: map[int]procTicks{
		1: {"redis-server", 100},
		2: {"mysqld", 50},
		5: {"idle", 7},
		8: {"gone", 900},
		9: {"wrapped", 50},
	}}
	// 10 s later, at 100 ticks a second: 1000 ticks are one core.
	b := Snapshot{at: at.Add(10 * time.Second), ticks: map[int]procTicks{
		1:  {"redis-server", 300}, // +200: 0.2 core
		2:  {"mysqld", 1050},      // +1000: 1 core
		5:  {"idle", 7},           // used nothing: left out
		6:  {"redis-server", 100}, // a second process of that name, new: 0.1 core
		7:  {"tiny", 4},           // under 0.005 core: left out
		9:  {"wrapped", 0},        // fewer ticks than before: left out
		10: {"(odd) name|x", 120}, // names are kept as the kernel gives them
	}}
	want := []Group{
		{Name: "mysqld", Procs: 1, Cores: 1},
		{Name: "redis-server", Procs: 2, Cores: 0.3},
		{Name: "(odd) name|x", Procs: 1, Cores: 0.12},
	}
	got := Between(a, b)
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Procs != want[i].Procs || math.Abs(got[i].Cores-want[i].Cores) > 1e-9 {
			t.Errorf("row %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestBetweenCountsNewAndReusedPIDsFromZero(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := Snapshot{at: at, ticks: map[int]procTicks{3: {"old", 10_000}}}
	b := Snapshot{at: at.Add(time.Second), ticks: map[int]procTicks{
		3: {"reused", 40}, // another name on the same pid: 40 ticks, not 40 - 10,000
		4: {"fresh", 30},  // not in a: 30 ticks
		5: {"same", 30},
	}}
	got := Between(a, b)
	want := []Group{{Name: "reused", Procs: 1, Cores: 0.4}, {Name: "fresh", Procs: 1, Cores: 0.3}, {Name: "same", Procs: 1, Cores: 0.3}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name || math.Abs(got[i].Cores-want[i].Cores) > 1e-9 {
			t.Errorf("row %d: got %+v, want %+v (busiest first, then by name)", i, got[i], want[i])
		}
	}
}

func TestBetweenNoTime(t *testing.T) {
	s := Snapshot{at: time.Now(), ticks: map[int]procTicks{1: {"x", 1}}}
	for _, b := range []Snapshot{s, {at: s.at.Add(-time.Second), ticks: map[int]procTicks{1: {"x", 500}}}} {
		if got := Between(s, b); got != nil {
			t.Errorf("over no time: got %+v, want nil", got)
		}
	}
}

func skipUnlessLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
}

func TestTakeSeesThisProcess(t *testing.T) {
	skipUnlessLinux(t)
	s := Take()
	p, ok := s.ticks[os.Getpid()]
	if !ok {
		t.Fatalf("pid %d not in the snapshot of %d processes", os.Getpid(), len(s.ticks))
	}
	if p.name == "" || p.ticks < 0 {
		t.Errorf("this process: got %+v, want its name and a tick count", p)
	}
	if s.at.IsZero() {
		t.Error("the snapshot has no time")
	}
}

func TestThisProcess(t *testing.T) {
	skipUnlessLinux(t)
	pid := os.Getpid()
	rss, err := RSS(pid)
	if err != nil || rss <= 0 {
		t.Errorf("RSS: got %d, %v; want a positive size", rss, err)
	}
	if _, _, err := CPUTime(pid); err != nil {
		t.Errorf("CPUTime: %v", err)
	}
	if _, err := RSS(-1); err == nil {
		t.Error("RSS of no process: got no error")
	}
	m, err := StartMeter(pid)
	if err != nil {
		t.Fatalf("StartMeter: %v", err)
	}
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
	}
	u, err := m.Stop()
	if err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if u.Self.Wall <= 0 || u.Child.Wall != u.Self.Wall || u.MachineBusy < 0 || u.MachineBusy > 1 {
		t.Errorf("got %+v, want a positive wall time shared by both and a busy share in [0, 1]", u)
	}
	if OpenFileLimit() == 0 {
		t.Error("OpenFileLimit: got 0")
	}
}

func TestMachineBusyAndSelfCPURise(t *testing.T) {
	skipUnlessLinux(t)
	m0, err := MachineBusy()
	if err != nil {
		t.Fatal(err)
	}
	s0 := SelfCPU()
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
	}
	m1, err := MachineBusy()
	if err != nil {
		t.Fatal(err)
	}
	if s1 := SelfCPU(); s1 <= s0 {
		t.Errorf("SelfCPU: got %v then %v after spinning 50 ms, want it to rise", s0, s1)
	}
	if m0 <= 0 || m1 < m0 {
		t.Errorf("MachineBusy: got %v then %v, want a positive count that never falls", m0, m1)
	}
	if a := Take(); a.Time().IsZero() || time.Since(a.Time()) > time.Minute {
		t.Errorf("Snapshot.Time: got %v, want now", a.Time())
	}
}
