package machine

import (
	"runtime"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	tests := []struct {
		d    Description
		want string
	}{
		{Description{CPUs: 2, Model: "AMD EPYC", Memory: 24 << 30, OS: "Debian 12", Kernel: "Linux 6.1", Go: "go1.26.8"}, "2 × AMD EPYC, 24 GiB, Debian 12, Linux 6.1, go1.26.8"},
		{Description{CPUs: 4, Go: "go1.26.8"}, "4 cores, go1.26.8"},
		{Description{CPUs: 1, Memory: 1536 << 20, Kernel: "Linux 6.1"}, "1 cores, 2 GiB, Linux 6.1"},
	}
	for _, tc := range tests {
		if got := tc.d.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestDescribeThisMachine(t *testing.T) {
	d := Describe()
	if d.CPUs != runtime.NumCPU() || d.Go != runtime.Version() {
		t.Errorf("got %d CPUs and %s, want %d and %s", d.CPUs, d.Go, runtime.NumCPU(), runtime.Version())
	}
	if runtime.GOOS == "linux" && (!strings.HasPrefix(d.Kernel, "Linux ") || d.Memory <= 0) {
		t.Errorf("on Linux: got kernel %q and %d bytes of memory", d.Kernel, d.Memory)
	}
}
