package transport

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"livecommerce/internal/program"
	"livecommerce/loadtest/machine"
)

// pipeWriter hands the server's ready line to the test.
type pipeWriter chan string

func (p pipeWriter) Write(b []byte) (int, error) {
	p <- string(b)
	return len(b), nil
}

func TestServeEachKind(t *testing.T) {
	for _, kind := range []string{kindNetHTTP, kindFiber, kindHijack} {
		t.Run(kind, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			ready := make(pipeWriter, 1)
			served := make(chan error, 1)
			go func() { served <- Serve(ctx, []string{"-kind", kind}, ready) }()
			var line string
			select {
			case line = <-ready:
			case err := <-served:
				t.Fatalf("Serve: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("no ready line")
			}
			f := strings.Fields(line)
			if len(f) != 3 || f[0] != "ready" {
				t.Fatalf("ready line %q", line)
			}
			s, err := openIdle(ctx, f[1], 5*time.Second)
			if err != nil {
				t.Fatalf("openIdle: %v", err)
			}
			resp, err := http.Get("http://" + f[2] + "/stats")
			if err != nil {
				t.Fatal(err)
			}
			var st serverStats
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err != nil || st.Goroutines < 1 || st.HeapInuse <= 0 {
				t.Errorf("stats: got %+v, %v", st, err)
			}
			cancel()
			s.Close()
			if err := <-served; err != nil {
				t.Errorf("Serve after its context ended: %v", err)
			}
		})
	}
	if err := Serve(t.Context(), []string{"-kind", "carrier-pigeon"}, io.Discard); program.Code(err) != program.BadUsage {
		t.Errorf("an unknown kind: got %v, want a usage error", err)
	}
}

func TestLoad(t *testing.T) {
	c, err := Load(nil)
	if err != nil || c.Clients != 5000 || c.RampConcurrency != 100 {
		t.Errorf("defaults: got %+v, %v", c, err)
	}
	for _, args := range [][]string{{"-clients", "0"}, {"-clients", "x"}, {"extra"}, {"-ramp-concurrency", "0"}, {"-idle-wait", "-1s"}} {
		if _, err := Load(args); program.Code(err) != program.BadUsage {
			t.Errorf("Load(%q): got %v, want a usage error", args, err)
		}
	}
}

func TestReport(t *testing.T) {
	res := []result{{Kind: kindNetHTTP, Streams: 10, RampWall: time.Second, RSSBefore: 1 << 20, RSSAfter: 2 << 20,
		Before: serverStats{Goroutines: 1, HeapInuse: 2, StackInuse: 3}, After: serverStats{Goroutines: 21, HeapInuse: 10242, StackInuse: 20483}}}
	md := report(Config{Clients: 10}, machineFixture, res)
	for _, want := range []string{
		"## Idle SSE streams: net/http vs Fiber v2 (fasthttp), 10 streams each",
		"| CPU | unknown, 2 cores (nproc) |",
		"| net/http | 102.4 KiB | 3.0 KiB | 1.0 / 2.0 KiB | 2.00 | 1.0 s |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

var machineFixture = machine.Description{CPUs: 2, Kernel: "Linux 6", Go: "go1.x"}
