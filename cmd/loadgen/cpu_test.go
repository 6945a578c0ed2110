package main

import (
	"math"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestCPUBetween(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := cpuSnapshot{at: at, ticks: map[int]procTicks{
		1: {"redis-server", 100},
		2: {"mysqld", 50},
		5: {"idle", 7},
		8: {"gone", 900},
		9: {"wrapped", 50},
	}}
	// 10 s later, at 100 ticks a second: 1000 ticks are one core.
	b := cpuSnapshot{at: at.Add(10 * time.Second), ticks: map[int]procTicks{
		1:  {"redis-server", 300}, // +200: 0.2 core
		2:  {"mysqld", 1050},      // +1000: 1 core
		5:  {"idle", 7},           // used nothing: left out
		6:  {"redis-server", 100}, // a second process of that name, new: 0.1 core
		7:  {"tiny", 4},           // under 0.005 core: left out
		9:  {"wrapped", 0},        // fewer ticks than before: left out
		10: {"(odd) name|x", 120}, // names are kept as the kernel gives them
	}}
	want := []cpuUse{
		{Name: "mysqld", Procs: 1, Cores: 1},
		{Name: "redis-server", Procs: 2, Cores: 0.3},
		{Name: "(odd) name|x", Procs: 1, Cores: 0.12},
	}
	got := cpuBetween(a, b)
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Procs != want[i].Procs || math.Abs(got[i].Cores-want[i].Cores) > 1e-9 {
			t.Errorf("row %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestCPUBetweenCountsNewAndReusedPIDsFromZero(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := cpuSnapshot{at: at, ticks: map[int]procTicks{3: {"old", 10_000}}}
	b := cpuSnapshot{at: at.Add(time.Second), ticks: map[int]procTicks{
		3: {"reused", 40}, // another name on the same pid: 40 ticks, not 40 - 10,000
		4: {"fresh", 30},  // not in a: 30 ticks
		5: {"same", 30},
	}}
	got := cpuBetween(a, b)
	want := []cpuUse{{Name: "reused", Procs: 1, Cores: 0.4}, {Name: "fresh", Procs: 1, Cores: 0.3}, {Name: "same", Procs: 1, Cores: 0.3}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name || math.Abs(got[i].Cores-want[i].Cores) > 1e-9 {
			t.Errorf("row %d: got %+v, want %+v (busiest first, then by name)", i, got[i], want[i])
		}
	}
}

func TestCPUBetweenNoTime(t *testing.T) {
	s := cpuSnapshot{at: time.Now(), ticks: map[int]procTicks{1: {"x", 1}}}
	for _, b := range []cpuSnapshot{s, {at: s.at.Add(-time.Second), ticks: map[int]procTicks{1: {"x", 500}}}} {
		if got := cpuBetween(s, b); got != nil {
			t.Errorf("over no time: got %+v, want nil", got)
		}
	}
}

func TestTakeCPUSeesThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	s := takeCPU()
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
