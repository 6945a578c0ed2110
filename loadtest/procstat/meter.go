package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Span is what a process did over a stretch of wall time.
type Span struct {
	User, Sys     time.Duration
	Wall          time.Duration
	Reads, Writes int64 // system calls
}

// Percent is the CPU used as a percentage of one core.
func (c Span) Percent() float64 {
	if c.Wall <= 0 {
		return 0
	}
	return 100 * float64(c.User+c.Sys) / float64(c.Wall)
}

func (c Span) String() string {
	return fmt.Sprintf("%.0f%% of one core (user %.1f s, sys %.1f s over %.1f s)",
		c.Percent(), c.User.Seconds(), c.Sys.Seconds(), c.Wall.Seconds())
}

// counters are a process's counters at one moment.
type counters struct {
	user, sys     time.Duration
	reads, writes int64
}

func readCounters(pid int) (counters, error) {
	var s counters
	var err error
	if s.user, s.sys, err = CPUTime(pid); err != nil {
		return s, err
	}
	s.reads, s.writes, err = ioCalls(strconv.Itoa(pid))
	return s, err
}

func readSelf() (counters, error) {
	var s counters
	var err error
	s.user, s.sys = selfCPU()
	s.reads, s.writes, err = ioCalls("self")
	return s, err
}

func (s counters) since(from counters, wall time.Duration) Span {
	return Span{User: s.user - from.user, Sys: s.sys - from.sys, Wall: wall,
		Reads: s.reads - from.reads, Writes: s.writes - from.writes}
}

// jiffies are the times all CPUs together spent, from /proc/stat.
type jiffies struct {
	busy    int64 // everything but idle and iowait
	softirq int64 // of busy: interrupt work, such as loopback TCP receiving
	total   int64
}

// machineJiffies reads the first line of /proc/stat: user nice system
// idle iowait irq softirq steal...
func machineJiffies() (jiffies, error) {
	var j jiffies
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return j, fmt.Errorf("procstat: read stat: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return j, fmt.Errorf("procstat: unexpected /proc/stat line %q", line)
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return j, fmt.Errorf("procstat: /proc/stat: %w", err)
		}
		j.total += n
		if i != 3 && i != 4 {
			j.busy += n
		}
		if i == 6 {
			j.softirq = n
		}
	}
	return j, nil
}

// MachineBusy is the CPU time all CPUs together have spent busy since
// boot (everything but idle and iowait, interrupts included): the
// difference of two readings is what the whole machine spent between
// them, whichever process, or none, it is charged to.
func MachineBusy() (time.Duration, error) {
	j, err := machineJiffies()
	if err != nil {
		return 0, err
	}
	return time.Duration(j.busy) * time.Second / ticksPerSecond, nil
}

// Meter measures a process, this process and the whole machine over the
// same stretch of time: on a shared machine, what the others use matters
// as much as what the two processes measured use.
type Meter struct {
	pid         int
	start       time.Time
	child, self counters
	machine     jiffies
}

// StartMeter starts measuring process pid, this process and the machine.
func StartMeter(pid int) (*Meter, error) {
	m := &Meter{pid: pid, start: time.Now()}
	var err error
	if m.child, err = readCounters(pid); err != nil {
		return nil, err
	}
	if m.self, err = readSelf(); err != nil {
		return nil, err
	}
	if m.machine, err = machineJiffies(); err != nil {
		return nil, err
	}
	return m, nil
}

// Use is what a Meter measured.
type Use struct {
	Child, Self Span
	// MachineBusy is the share of all CPUs that was busy, 0 to 1, and
	// SoftIRQ the part of it spent in software interrupts, which the
	// kernel charges to no process.
	MachineBusy, SoftIRQ float64
}

// Stop returns the use since the meter started.
func (m *Meter) Stop() (Use, error) {
	wall := time.Since(m.start)
	c, err := readCounters(m.pid)
	if err != nil {
		return Use{}, err
	}
	s, err := readSelf()
	if err != nil {
		return Use{}, err
	}
	j, err := machineJiffies()
	if err != nil {
		return Use{}, err
	}
	u := Use{Child: c.since(m.child, wall), Self: s.since(m.self, wall)}
	if total := float64(j.total - m.machine.total); total > 0 {
		u.MachineBusy = float64(j.busy-m.machine.busy) / total
		u.SoftIRQ = float64(j.softirq-m.machine.softirq) / total
	}
	return u, nil
}
