// Package transport compares what an idle event stream costs on net/http
// and on Fiber (fasthttp): the measurement behind the feed's choice of
// net/http. Each server runs as a child process of the benchmark's own
// binary (the hidden command ServerCommand), so that its memory is its
// own; the same client opens the same number of streams on each.
package transport

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"livecommerce/internal/feedclient"
	"livecommerce/internal/program"
	"livecommerce/loadtest/feedbench/childproc"
	"livecommerce/loadtest/machine"
	"livecommerce/loadtest/markdown"
	"livecommerce/loadtest/pause"
	"livecommerce/loadtest/procstat"
)

// Config is the command line of "feedbench transport".
type Config struct {
	Clients         int
	RampConcurrency int
	IdleWait        time.Duration
	ConnectTimeout  time.Duration
	Out             string
}

// Load reads the flags of "feedbench transport"; its errors are usage
// errors (program.Usage).
func Load(args []string) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("feedbench transport", flag.ContinueOnError)
	fs.IntVar(&c.Clients, "clients", 5000, "idle streams to open on each transport")
	fs.IntVar(&c.RampConcurrency, "ramp-concurrency", 100, "streams connecting at the same time")
	fs.DurationVar(&c.IdleWait, "idle-wait", 3*time.Second, "pause after the ramp before memory is read")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 30*time.Second, "longest one stream may take to connect and get its first event")
	fs.StringVar(&c.Out, "out", "", "also write the Markdown report to this file")
	if err := fs.Parse(args); err != nil {
		return c, program.Usage(err)
	}
	switch limit := procstat.OpenFileLimit(); {
	case fs.NArg() > 0:
		return c, program.Usage(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	case c.Clients < 1:
		return c, program.Usage(fmt.Errorf("-clients: must be at least 1"))
	case uint64(c.Clients)+100 > limit:
		return c, program.Usage(fmt.Errorf("-clients: %d streams need more than the open-file limit of %d", c.Clients, limit))
	case c.RampConcurrency < 1 || c.ConnectTimeout <= 0 || c.IdleWait < 0:
		return c, program.Usage(fmt.Errorf("-ramp-concurrency and -connect-timeout must be positive, -idle-wait not negative"))
	}
	return c, nil
}

// result is one transport's measurement.
type result struct {
	Kind          string
	Streams       int
	RampWall      time.Duration
	RSSBefore     int64
	RSSAfter      int64
	Before, After serverStats
}

func (t result) perStream(before, after int64) float64 {
	return float64(after-before) / float64(t.Streams) / 1024
}

// Run measures each transport in turn, each server started from this
// process's own binary, and returns the Markdown report. It tells the
// operator where it is on progress.
func Run(ctx context.Context, cfg Config, progress io.Writer) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("transport: find own binary: %w", err)
	}
	var results []result
	for _, kind := range []string{kindNetHTTP, kindFiber, kindHijack} {
		fmt.Fprintf(progress, "%s feedbench: transport %s: %d idle streams\n", time.Now().Format("15:04:05"), kind, cfg.Clients)
		r, err := measure(ctx, self, kind, cfg)
		if err != nil {
			return "", fmt.Errorf("transport %s: %w", kind, err)
		}
		results = append(results, r)
	}
	return report(cfg, machine.Describe(), results), nil
}

// measure starts a server of one kind, reads its memory, opens
// the streams, waits, reads its memory again and stops it.
func measure(ctx context.Context, self, kind string, cfg Config) (result, error) {
	res := result{Kind: kind, Streams: cfg.Clients}
	cmd := exec.Command(self, ServerCommand, "-kind", kind)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return res, fmt.Errorf("stdout pipe: %w", err)
	}
	srv, err := childproc.Start(kind+" server", cmd, nil)
	if err != nil {
		return res, err
	}
	defer srv.Stop(5 * time.Second)
	streamAddr, statsURL, err := readReady(ctx, srv, out)
	if err != nil {
		return res, err
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	if res.Before, res.RSSBefore, err = transportStats(ctx, hc, statsURL, srv.Pid()); err != nil {
		return res, err
	}

	streams := make([]*feedclient.Stream, cfg.Clients)
	defer func() {
		for _, s := range streams {
			if s != nil {
				s.Close()
			}
		}
	}()
	start := time.Now()
	errs := feedclient.Ramp(ctx, cfg.Clients, cfg.RampConcurrency, func(ctx context.Context, i int) error {
		s, err := openIdle(ctx, streamAddr, cfg.ConnectTimeout)
		streams[i] = s
		return err
	})
	res.RampWall = time.Since(start)
	if err := firstError(errs); err != nil {
		return res, err
	}
	if err := pause.For(ctx, cfg.IdleWait); err != nil {
		return res, err
	}
	if err := srv.Alive(); err != nil {
		return res, err
	}
	res.After, res.RSSAfter, err = transportStats(ctx, hc, statsURL, srv.Pid())
	return res, err
}

// openIdle opens a stream and reads its first event. Nobody reads it
// after that: the servers send nothing more, and a reading goroutine per
// stream would only load the bench.
func openIdle(ctx context.Context, addr string, timeout time.Duration) (*feedclient.Stream, error) {
	s, err := feedclient.Open(ctx, addr, "/events", nil, timeout)
	if err != nil {
		return nil, err
	}
	s.CloseOn(ctx) // an interrupt ends the wait for the first event
	b, err := s.NextEvent()
	if err == nil && b.Data != "hello" {
		err = fmt.Errorf("first event %q, want hello", b.Data)
	}
	if err == nil {
		err = s.Ready()
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func firstError(errs []error) error {
	n, first := 0, error(nil)
	for _, e := range errs {
		if e != nil {
			if first == nil {
				first = e
			}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d streams failed to connect; first: %w", n, len(errs), first)
}

// readReady waits for the child's "ready STREAM_ADDR STATS_ADDR" line.
func readReady(ctx context.Context, srv *childproc.Proc, out io.Reader) (streamAddr, statsURL string, err error) {
	type ready struct {
		line string
		err  error
	}
	got := make(chan ready, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		got <- ready{line, err}
	}()
	select {
	case <-ctx.Done():
		return "", "", ctx.Err()
	case <-time.After(10 * time.Second):
		return "", "", fmt.Errorf("%s: no ready line within 10s%s", srv.Name(), srv.StderrTail())
	case r := <-got:
		f := strings.Fields(r.line)
		if r.err != nil || len(f) != 3 || f[0] != "ready" {
			return "", "", fmt.Errorf("%s: bad ready line %q (%v)%s", srv.Name(), r.line, r.err, srv.StderrTail())
		}
		return f[1], "http://" + f[2] + "/stats", nil
	}
}

func transportStats(ctx context.Context, hc *http.Client, url string, pid int) (serverStats, int64, error) {
	var s serverStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return s, 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return s, 0, fmt.Errorf("stats: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return s, 0, fmt.Errorf("stats: %w", err)
	}
	// RSS after the stats call, so after its GC, as the Go figures are.
	rss, err := procstat.RSS(pid)
	return s, rss, err
}

// report is the comparison's Markdown.
func report(cfg Config, m machine.Description, results []result) string {
	var d markdown.Doc
	d.Line("## Idle SSE streams: net/http vs Fiber v2 (fasthttp), %d streams each", cfg.Clients)
	d.Line("")
	d.Line("%s is net/http with the connection hijacked after the request and handed to a goroutine of its own "+
		"(the handler returns): not a transport of its own, but what the feed could save while staying on net/http.", kindHijack)
	d.Line("")
	d.Line("Measured %s by `feedbench transport`: the same client, stream count and measurement for each. "+
		"Each server sends one event per stream, flushes, then blocks until it stops. "+
		"Go figures are read after a forced GC; RSS is VmRSS from /proc.", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	d.Line("")
	d.Table("Machine", "")
	d.Row("CPU", fmt.Sprintf("%s, %d cores (nproc)", orUnknown(m.Model), m.CPUs))
	d.Row("Kernel", orUnknown(m.Kernel))
	d.Row("Go", m.Go+" (feedbench)")
	d.Line("")
	d.Table("Transport", "RSS per stream", "Go heap + stacks per stream", "of which heap / stacks", "Goroutines per stream", "Ramp")
	for _, r := range results {
		d.Row(r.Kind,
			fmt.Sprintf("%.1f KiB", r.perStream(r.RSSBefore, r.RSSAfter)),
			fmt.Sprintf("%.1f KiB", r.perStream(r.Before.HeapInuse+r.Before.StackInuse, r.After.HeapInuse+r.After.StackInuse)),
			fmt.Sprintf("%.1f / %.1f KiB", r.perStream(r.Before.HeapInuse, r.After.HeapInuse), r.perStream(r.Before.StackInuse, r.After.StackInuse)),
			fmt.Sprintf("%.2f", float64(r.After.Goroutines-r.Before.Goroutines)/float64(r.Streams)),
			fmt.Sprintf("%.1f s", r.RampWall.Seconds()))
	}
	d.Line("")
	return d.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
