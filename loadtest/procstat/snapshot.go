package procstat

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Snapshot is the CPU time every process on the machine had used.
type Snapshot struct {
	at    time.Time
	ticks map[int]procTicks
}

type procTicks struct {
	name  string
	ticks int64
}

// Take reads every process's CPU time from /proc. On a machine without
// it the snapshot is empty, and so is what it is compared with.
func Take() Snapshot {
	s := Snapshot{at: time.Now(), ticks: map[int]procTicks{}}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue // the process ended meanwhile
		}
		name, user, sys, err := parseStat(b)
		if err != nil {
			continue
		}
		s.ticks[pid] = procTicks{name: name, ticks: user + sys}
	}
	return s
}

// Time is when the snapshot was taken.
func (s Snapshot) Time() time.Time { return s.at }

// Group is the CPU the processes of one name used over some time.
type Group struct {
	Name  string
	Procs int
	Cores float64 // CPU seconds per second
}

// Between sums the CPU each process name used from a to b, busiest
// first; processes started in between count from zero, and names that
// used under 0.005 of a core are left out.
func Between(a, b Snapshot) []Group {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return nil
	}
	by := map[string]*Group{}
	for pid, p := range b.ticks {
		d := p.ticks - a.ticks[pid].ticks
		if prev, ok := a.ticks[pid]; ok && prev.name != p.name {
			d = p.ticks // the pid was reused
		}
		if d <= 0 {
			continue
		}
		g := by[p.name]
		if g == nil {
			g = &Group{Name: p.name}
			by[p.name] = g
		}
		g.Procs++
		g.Cores += float64(d) / ticksPerSecond / wall
	}
	out := make([]Group, 0, len(by))
	for _, g := range by {
		if g.Cores >= 0.005 {
			out = append(out, *g)
		}
	}
	slices.SortFunc(out, func(x, y Group) int {
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
