package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Linux counts process CPU time in clock ticks of 1/100 s (USER_HZ) on
// every platform Go supports.
const ticksPerSecond = 100

// cpuSnapshot is the CPU time every process on the machine had used.
type cpuSnapshot struct {
	at    time.Time
	ticks map[int]procTicks
}

type procTicks struct {
	name  string
	ticks int64
}

// takeCPU reads /proc. On a machine without it the report just has no
// CPU table.
func takeCPU() cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), ticks: map[int]procTicks{}}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		line := string(b)
		open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(line[end+1:])
		if len(f) < 13 {
			continue
		}
		u, err1 := strconv.ParseInt(f[11], 10, 64)
		k, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		s.ticks[pid] = procTicks{name: line[open+1 : end], ticks: u + k}
	}
	return s
}

// cpuUse is the CPU one kind of process used over a phase.
type cpuUse struct {
	Name  string
	Procs int
	Cores float64 // CPU seconds per second of the phase
}

// cpuBetween sums the CPU each process name used from a to b, busiest
// first; processes started in between count from zero.
func cpuBetween(a, b cpuSnapshot) []cpuUse {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return nil
	}
	by := map[string]*cpuUse{}
	for pid, p := range b.ticks {
		d := p.ticks - a.ticks[pid].ticks
		if prev, ok := a.ticks[pid]; ok && prev.name != p.name {
			d = p.ticks // the pid was reused
		}
		if d <= 0 {
			continue
		}
		u := by[p.name]
		if u == nil {
			u = &cpuUse{Name: p.name}
			by[p.name] = u
		}
		u.Procs++
		u.Cores += float64(d) / ticksPerSecond / wall
	}
	out := make([]cpuUse, 0, len(by))
	for _, u := range by {
		if u.Cores >= 0.005 {
			out = append(out, *u)
		}
	}
	slices.SortFunc(out, func(x, y cpuUse) int {
		switch {
		case x.Cores > y.Cores:
			return -1
		case x.Cores < y.Cores:
			return 1
		}
		return strings.Compare(x.Name, y.Name)
	})
	return out
}
