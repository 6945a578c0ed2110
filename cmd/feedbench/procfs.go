package main

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
// The kernel fixes it at 100 on every architecture Go supports on Linux
// (sysconf(_SC_CLK_TCK) would need cgo to ask).
const clockTicks = 100

// rssBytes reads VmRSS of a process from /proc/PID/status.
func rssBytes(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("procfs: read status of %d: %w", pid, err)
	}
	for line := range bytes.Lines(data) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest)) // "123456 kB"
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("procfs: pid %d: unexpected VmRSS line %q", pid, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procfs: pid %d: VmRSS: %w", pid, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("procfs: pid %d: no VmRSS (a zombie?)", pid)
}

// cpuTime is the user and system CPU a process has used so far, from
// fields 14 and 15 of /proc/PID/stat.
func cpuTime(pid int) (user, sys time.Duration, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("procfs: read stat of %d: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces
	// or parentheses itself; the fields after the last ')' are plain.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("procfs: pid %d: malformed stat", pid)
	}
	f := strings.Fields(string(data[i+1:])) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("procfs: pid %d: short stat", pid)
	}
	ticks := func(s string) (time.Duration, error) {
		n, err := strconv.ParseInt(s, 10, 64)
		return time.Duration(n) * time.Second / clockTicks, err
	}
	user, err1 := ticks(f[11])
	sys, err2 := ticks(f[12])
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("procfs: pid %d: cpu times: %w", pid, err)
	}
	return user, sys, nil
}

// selfCPU is the CPU this process has used so far, all threads together.
func selfCPU() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// ioCalls reads the read and write system calls a process has made so
// far, from /proc/PID/io ("self" for this process). Each write of the
// feed to a stream is one write call, so the count says how well it
// batches.
func ioCalls(pid string) (reads, writes int64, err error) {
	data, err := os.ReadFile("/proc/" + pid + "/io")
	if err != nil {
		return 0, 0, fmt.Errorf("procfs: read io of %s: %w", pid, err)
	}
	for line := range strings.Lines(string(data)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ": ")
		n, perr := strconv.ParseInt(v, 10, 64)
		switch {
		case k != "syscr" && k != "syscw":
		case perr != nil:
			return 0, 0, fmt.Errorf("procfs: %s io %s: %w", pid, k, perr)
		case k == "syscr":
			reads = n
		default:
			writes = n
		}
	}
	return reads, writes, nil
}

// cpuJiffies are the times all CPUs together spent, from /proc/stat.
type cpuJiffies struct {
	busy    int64 // everything but idle and iowait
	softirq int64 // of busy: interrupt work, such as loopback TCP receiving
	total   int64
}

// machineCPU reads the first line of /proc/stat: user nice system idle
// iowait irq softirq steal...
func machineCPU() (cpuJiffies, error) {
	var j cpuJiffies
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return j, fmt.Errorf("procfs: read stat: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return j, fmt.Errorf("procfs: unexpected /proc/stat line %q", line)
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return j, fmt.Errorf("procfs: /proc/stat: %w", err)
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

// cpuSpan is what a process did over a stretch of wall time.
type cpuSpan struct {
	User, Sys     time.Duration
	Wall          time.Duration
	Reads, Writes int64 // system calls
}

// Percent is the CPU used as a percentage of one core.
func (c cpuSpan) Percent() float64 {
	if c.Wall <= 0 {
		return 0
	}
	return 100 * float64(c.User+c.Sys) / float64(c.Wall)
}

func (c cpuSpan) String() string {
	return fmt.Sprintf("%.0f%% of one core (user %.1f s, sys %.1f s over %.1f s)",
		c.Percent(), c.User.Seconds(), c.Sys.Seconds(), c.Wall.Seconds())
}

// procSample is a process's counters at one moment.
type procSample struct {
	user, sys     time.Duration
	reads, writes int64
}

func sampleProc(pid int) (procSample, error) {
	var s procSample
	var err error
	if s.user, s.sys, err = cpuTime(pid); err != nil {
		return s, err
	}
	s.reads, s.writes, err = ioCalls(strconv.Itoa(pid))
	return s, err
}

func sampleSelf() (procSample, error) {
	var s procSample
	var err error
	s.user, s.sys = selfCPU()
	s.reads, s.writes, err = ioCalls("self")
	return s, err
}

func (s procSample) since(from procSample, wall time.Duration) cpuSpan {
	return cpuSpan{User: s.user - from.user, Sys: s.sys - from.sys, Wall: wall,
		Reads: s.reads - from.reads, Writes: s.writes - from.writes}
}

// cpuMeter measures a child process, this process and the whole machine
// over the same stretch of time: on a shared machine, what the others use
// matters as much as what the two processes measured use.
type cpuMeter struct {
	pid         int
	start       time.Time
	child, self procSample
	machine     cpuJiffies
}

func startCPU(pid int) (*cpuMeter, error) {
	m := &cpuMeter{pid: pid, start: time.Now()}
	var err error
	if m.child, err = sampleProc(pid); err != nil {
		return nil, err
	}
	if m.self, err = sampleSelf(); err != nil {
		return nil, err
	}
	if m.machine, err = machineCPU(); err != nil {
		return nil, err
	}
	return m, nil
}

// cpuUse is what a cpuMeter measured.
type cpuUse struct {
	Child, Self cpuSpan
	// MachineBusy is the share of all CPUs that was busy, 0 to 1, and
	// SoftIRQ the part of it spent in software interrupts, which the
	// kernel charges to no process.
	MachineBusy, SoftIRQ float64
}

// stop returns the use since start.
func (m *cpuMeter) stop() (cpuUse, error) {
	wall := time.Since(m.start)
	c, err := sampleProc(m.pid)
	if err != nil {
		return cpuUse{}, err
	}
	s, err := sampleSelf()
	if err != nil {
		return cpuUse{}, err
	}
	j, err := machineCPU()
	if err != nil {
		return cpuUse{}, err
	}
	u := cpuUse{Child: c.since(m.child, wall), Self: s.since(m.self, wall)}
	if total := float64(j.total - m.machine.total); total > 0 {
		u.MachineBusy = float64(j.busy-m.machine.busy) / total
		u.SoftIRQ = float64(j.softirq-m.machine.softirq) / total
	}
	return u, nil
}

// machine describes where a report was measured.
type machine struct {
	CPUs    int
	Model   string
	Kernel  string
	GoBench string
	GoFeed  string // the Go that built the measured binary, if any
}

func describeMachine(feedBin string) machine {
	m := machine{CPUs: runtime.NumCPU(), Model: cpuModel(), Kernel: kernel(), GoBench: runtime.Version()}
	if feedBin != "" {
		if bi, err := buildinfo.ReadFile(feedBin); err == nil {
			m.GoFeed = bi.GoVersion
		}
	}
	return m
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return "Linux " + strings.TrimSpace(string(b))
}

// fdLimit is this process's open-file limit (Go raises the soft limit to
// the hard one at start).
func fdLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return l.Cur
}
