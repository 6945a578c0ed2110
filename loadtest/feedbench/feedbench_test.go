package feedbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"livecommerce/internal/feedclient"
	"livecommerce/internal/program"
	"livecommerce/loadtest/feedbench/feedmetrics"
	"livecommerce/loadtest/feedbench/stockpub"
	"livecommerce/loadtest/machine"
)

// executable is a path that passes -feed-bin's check.
func executable(t *testing.T) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	env := map[string]string{"NATS_URL": "nats://127.0.0.1:4999", "STOCKFEED_COALESCE_WINDOW": "80ms"}
	getenv := func(k string) string { return env[k] }
	c, err := Load([]string{"-feed-bin", executable(t), "-clients", "20", "-lives", "2"}, getenv)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.NATSURL != "nats://127.0.0.1:4999" || c.CoalesceWindow != 80*time.Millisecond || c.Clients != 20 || c.Rate != 100 {
		t.Errorf("got %+v, want the environment's NATS and window, the flags' clients and the default rate", c)
	}
	c, err = Load([]string{"-feed-bin", executable(t), "-clients", "20", "-feed-env", "STOCKFEED_COALESCE_WINDOW=100ms"}, getenv)
	if err != nil || c.CoalesceWindow != 100*time.Millisecond {
		t.Errorf("-feed-env's window: got %s, %v; want 100ms", c.CoalesceWindow, err)
	}
	c, err = Load([]string{"-feed-bin", executable(t), "-clients", "20"}, func(string) string { return "" })
	if err != nil || c.CoalesceWindow != 50*time.Millisecond || c.NATSURL != "nats://127.0.0.1:4222" {
		t.Errorf("defaults: got %s and %s, %v; want 50ms and the local NATS", c.CoalesceWindow, c.NATSURL, err)
	}
}

func TestLoadRefusesBadFlags(t *testing.T) {
	bin := executable(t)
	tests := []struct {
		args []string
		says string
	}{
		{nil, "-feed-bin"},
		{[]string{"-feed-bin", os.TempDir()}, "-feed-bin"},
		{[]string{"-feed-bin", bin, "-clients", "0"}, "-clients"},
		{[]string{"-feed-bin", bin, "-clients", "10", "-lives", "11"}, "-lives"},
		{[]string{"-feed-bin", bin, "-skus", "0"}, "-skus"},
		{[]string{"-feed-bin", bin, "-rate", "0"}, "-rate"},
		{[]string{"-feed-bin", bin, "-rate", "1", "-duration", "500ms"}, "-duration"},
		{[]string{"-feed-bin", bin, "-ramp-concurrency", "0"}, "-ramp-concurrency"},
		{[]string{"-feed-bin", bin, "-idle-wait", "-1s"}, "-idle-wait"},
		{[]string{"-feed-bin", bin, "-feed-env", "NOVALUE"}, "KEY=VALUE"},
		{[]string{"-feed-bin", bin, "extra"}, "extra"},
		{[]string{"-clients", "many"}, "clients"},
	}
	for _, tc := range tests {
		_, err := Load(tc.args, func(string) string { return "" })
		if program.Code(err) != program.BadUsage || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Load(%q): got %v, want a usage error saying %q", tc.args, err, tc.says)
		}
	}
}

func TestErrKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{io.EOF, "EOF (closed by the server)"},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), "unexpected EOF"},
		{context.Canceled, "interrupted"},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), "connection refused"},
		{syscall.EMFILE, "too many open files"},
		{errors.New(strings.Repeat("x", 200)), strings.Repeat("x", 160) + "…"},
	}
	for _, tc := range tests {
		if got := errKind(tc.err); got != tc.want {
			t.Errorf("errKind(%v): got %q, want %q", tc.err, got, tc.want)
		}
	}
}

// sampleResult is a run that missed: one stream failed to connect, one
// was dropped, one event came out of order.
func sampleResult() *Result {
	lag := feedclient.NewLagHistogram()
	for i := 1; i <= 1000; i++ {
		lag.RecordValue(int64(i * 37))
	}
	return &Result{
		cfg:         Config{Name: "spread", Clients: 10, Lives: 2, SKUs: 3, Rate: 100, Duration: 30 * time.Second, IdleWait: 5 * time.Second, RampConcurrency: 100, NATSURL: "nats://x", MaxP99: 100 * time.Millisecond, MaxIdleKiB: 20, FeedEnv: []string{"A=b"}, CoalesceWindow: 50 * time.Millisecond},
		machine:     machine.Description{CPUs: 2, Kernel: "Linux 6", Go: "go1.x"},
		goFeed:      "go1.y",
		lives:       []string{"bench-a", "bench-b"},
		nats:        "2.10",
		connectErrs: []error{nil, nil, nil, nil, nil, nil, nil, nil, io.EOF, nil},
		connected:   9,
		rampWall:    2 * time.Second,
		idleBefore:  memSample{RSS: 10 << 20, Go: feedmetrics.GoMemory{HeapInuse: 1 << 20, StackInuse: 1 << 19, Goroutines: 10}},
		idleAfter:   memSample{RSS: 10<<20 + 9*15<<10, Go: feedmetrics.GoMemory{HeapInuse: 2 << 20, StackInuse: 1 << 20, Goroutines: 30}},
		load:        stockpub.Result{Sent: []stockpub.Change{{At: time.Unix(0, 0)}, {At: time.Unix(1, 0), Live: 1}}, Rate: 100, Achieved: 99.5},
		expected:    []int{10, 12},
		lag:         lag,
		events:      []int{9, 10, 12},
		reordered:   1,
		dropped:     map[string]int{"event: disconnect, reason slow_consumer": 1},
		convergedIn: 30 * time.Millisecond,
	}
}

func TestFailuresAndMarkdown(t *testing.T) {
	r := sampleResult()
	fails := r.Failures()
	want := []string{"1 of 10 clients failed to connect", "1 clients were disconnected", "1 stock events arrived out of order"}
	if len(fails) != len(want) {
		t.Fatalf("Failures: got %q, want %q", fails, want)
	}
	for i := range want {
		if fails[i] != want[i] {
			t.Errorf("failure %d: got %q, want %q", i, fails[i], want[i])
		}
	}
	md := r.Markdown()
	for _, s := range []string{
		"## spread — stockfeed: 10 idle streams on 2 lives, then 100 changes/s for 30s",
		"| CPU | unknown, 2 cores (nproc) |",
		"| Go | go1.x (feedbench), go1.y (stockfeed) |",
		"| NATS | nats-server 2.10 at nats://x |",
		"| Idle RSS per stream | 15.0 KiB (10.0 MiB → 10.1 MiB) | < 20 KiB | ok |",
		"**Targets:** idle RSS per stream < 20 KiB met (15.0 KiB); p99 delivery lag < 100.0 ms met (36.9 ms).",
		"**Result: FAILED** — 1 of 10 clients failed to connect; ",
		"; failed: 1× EOF (closed by the server)",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("report lacks %q:\n%s", s, md)
		}
	}
	r.connectErrs[8], r.connected, r.dropped, r.reordered = nil, 10, map[string]int{}, 0
	if fails := r.Failures(); len(fails) != 0 {
		t.Errorf("a clean run: got failures %q", fails)
	}
	if md := r.Markdown(); !strings.Contains(md, "**Result: passed**") {
		t.Error("a clean run's report does not say passed")
	}
}
