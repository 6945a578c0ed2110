// Package procstat reads what processes and the machine have used, from
// Linux's /proc: CPU time, resident memory and system calls. The load
// tools share the machine with what they measure, so what every process
// on it used is part of their figures.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ticksPerSecond is USER_HZ, the unit of utime and stime in
// /proc/PID/stat. The kernel fixes it at 100 on every architecture Go
// supports on Linux (sysconf(_SC_CLK_TCK) would need cgo to ask).
const ticksPerSecond = 100

// parseStat reads a process's name and its user and system CPU time, in
// ticks, from the contents of /proc/PID/stat (fields 2, 14 and 15).
func parseStat(data []byte) (name string, user, sys int64, err error) {
	// The name is in parentheses and may hold spaces or parentheses
	// itself; the fields after the last ')' are plain.
	open, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return "", 0, 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(data[end+1:])) // f[0] is field 3, the state
	if len(f) < 13 {
		return "", 0, 0, errors.New("short stat")
	}
	user, err1 := strconv.ParseInt(f[11], 10, 64)
	sys, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return "", 0, 0, fmt.Errorf("cpu times: %w", err)
	}
	return string(data[open+1 : end]), user, sys, nil
}

// CPUTime is the user and system CPU a process has used so far.
func CPUTime(pid int) (user, sys time.Duration, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("procstat: read stat of %d: %w", pid, err)
	}
	_, u, s, err := parseStat(data)
	if err != nil {
		return 0, 0, fmt.Errorf("procstat: pid %d: %w", pid, err)
	}
	return time.Duration(u) * time.Second / ticksPerSecond, time.Duration(s) * time.Second / ticksPerSecond, nil
}

// RSS is a process's resident memory in bytes (VmRSS of /proc/PID/status).
func RSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("procstat: read status of %d: %w", pid, err)
	}
	for line := range bytes.Lines(data) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest)) // "123456 kB"
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("procstat: pid %d: unexpected VmRSS line %q", pid, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procstat: pid %d: VmRSS: %w", pid, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("procstat: pid %d: no VmRSS (a zombie?)", pid)
}

// SelfCPU is the CPU this process has used so far, user and system, all
// threads together; finer than the ticks of /proc.
func SelfCPU() time.Duration {
	u, s := selfCPU()
	return u + s
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
		return 0, 0, fmt.Errorf("procstat: read io of %s: %w", pid, err)
	}
	for line := range strings.Lines(string(data)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ": ")
		n, perr := strconv.ParseInt(v, 10, 64)
		switch {
		case k != "syscr" && k != "syscw":
		case perr != nil:
			return 0, 0, fmt.Errorf("procstat: %s io %s: %w", pid, k, perr)
		case k == "syscr":
			reads = n
		default:
			writes = n
		}
	}
	return reads, writes, nil
}

// OpenFileLimit is this process's open-file limit (Go raises the soft
// limit to the hard one at start), 0 when it cannot be read. A stream is
// a socket on each side of it, so the limit bounds a run.
func OpenFileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return l.Cur
}
