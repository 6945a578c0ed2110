// Package machine says what a load tool's figures were measured on: the
// CPU, memory, system and Go. A figure without its machine means little,
// and the load tools share the machine with what they measure.
package machine

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// Description is a machine as a report names it. A field the machine did
// not give is empty (zero).
type Description struct {
	CPUs   int
	Model  string // the CPU's model name
	Memory int64  // bytes
	OS     string // the distribution, e.g. "Debian GNU/Linux 12 (bookworm)"
	Kernel string // e.g. "Linux 6.1.0"
	Go     string // the Go that built this tool
}

// Describe reads this machine's description from /proc and /etc.
func Describe() Description {
	d := Description{CPUs: runtime.NumCPU(), Model: firstField("/proc/cpuinfo", "model name"), OS: osName(), Go: runtime.Version()}
	if m := firstField("/proc/meminfo", "MemTotal"); m != "" {
		var kb int64
		if _, err := fmt.Sscanf(m, "%d kB", &kb); err == nil {
			d.Memory = kb << 10
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		d.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	return d
}

// String is the description on one line: "2 × AMD EPYC, 24 GiB, Debian
// GNU/Linux 12 (bookworm), Linux 6.1.0, go1.26.8".
func (d Description) String() string {
	parts := []string{fmt.Sprintf("%d cores", d.CPUs)}
	if d.Model != "" {
		parts[0] = fmt.Sprintf("%d × %s", d.CPUs, d.Model)
	}
	if d.Memory > 0 {
		parts = append(parts, fmt.Sprintf("%.0f GiB", float64(d.Memory)/(1<<30)))
	}
	for _, p := range []string{d.OS, d.Kernel, d.Go} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}

// firstField returns the value of the first "key : value" line of file,
// its spaces squeezed.
func firstField(file, key string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

func osName() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
