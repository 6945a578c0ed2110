package main

import (
	"livecommerce/internal/feedclient"

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
)

// transportConfig is the command line of "feedbench transport".
type transportConfig struct {
	Clients         int
	RampConcurrency int
	IdleWait        time.Duration
	ConnectTimeout  time.Duration
	Out             string
}

func parseTransportFlags(args []string) (transportConfig, error) {
	var c transportConfig
	fs := flag.NewFlagSet("feedbench transport", flag.ContinueOnError)
	fs.IntVar(&c.Clients, "clients", 5000, "idle streams to open on each transport")
	fs.IntVar(&c.RampConcurrency, "ramp-concurrency", 100, "streams connecting at the same time")
	fs.DurationVar(&c.IdleWait, "idle-wait", 3*time.Second, "pause after the ramp before memory is read")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 30*time.Second, "longest one stream may take to connect and get its first event")
	fs.StringVar(&c.Out, "out", "", "also write the Markdown report to this file")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	case c.Clients < 1:
		return c, fmt.Errorf("%w: -clients: must be at least 1", errUsage)
	case uint64(c.Clients)+100 > fdLimit():
		return c, fmt.Errorf("%w: -clients: %d streams need more than the open-file limit of %d", errUsage, c.Clients, fdLimit())
	case c.RampConcurrency < 1 || c.ConnectTimeout <= 0 || c.IdleWait < 0:
		return c, fmt.Errorf("%w: -ramp-concurrency and -connect-timeout must be positive, -idle-wait not negative", errUsage)
	}
	return c, nil
}

// transportResult is one transport's measurement.
type transportResult struct {
	Kind          string
	Streams       int
	RampWall      time.Duration
	RSSBefore     int64
	RSSAfter      int64
	Before, After serverStats
}

func (t transportResult) perStream(before, after int64) float64 {
	return float64(after-before) / float64(t.Streams) / 1024
}

func runTransport(ctx context.Context, args []string) error {
	cfg, err := parseTransportFlags(args)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("transport: find own binary: %w", err)
	}
	var results []transportResult
	for _, kind := range []string{kindNetHTTP, kindFiber, kindHijack} {
		progress("transport %s: %d idle streams", kind, cfg.Clients)
		r, err := measureTransport(ctx, self, kind, cfg)
		if err != nil {
			return fmt.Errorf("transport %s: %w", kind, err)
		}
		results = append(results, r)
	}
	report := transportMarkdown(cfg, describeMachine(""), results)
	fmt.Print(report)
	if cfg.Out != "" {
		if err := os.WriteFile(cfg.Out, []byte(report), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	return nil
}

// measureTransport starts a server of one kind, reads its memory, opens
// the streams, waits, reads its memory again and stops it.
func measureTransport(ctx context.Context, self, kind string, cfg transportConfig) (transportResult, error) {
	res := transportResult{Kind: kind, Streams: cfg.Clients}
	cmd := exec.Command(self, transportServerCmd, "-kind", kind)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return res, fmt.Errorf("stdout pipe: %w", err)
	}
	srv, err := startChild(kind+" server", cmd, nil)
	if err != nil {
		return res, err
	}
	defer srv.stop(5 * time.Second)
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
	if err := sleep(ctx, cfg.IdleWait); err != nil {
		return res, err
	}
	if err := srv.alive(); err != nil {
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
func readReady(ctx context.Context, srv *child, out io.Reader) (streamAddr, statsURL string, err error) {
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
		return "", "", fmt.Errorf("%s: no ready line within 10s%s", srv.name, srv.stderr.indented())
	case r := <-got:
		f := strings.Fields(r.line)
		if r.err != nil || len(f) != 3 || f[0] != "ready" {
			return "", "", fmt.Errorf("%s: bad ready line %q (%v)%s", srv.name, r.line, r.err, srv.stderr.indented())
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
	rss, err := rssBytes(pid)
	return s, rss, err
}

func transportMarkdown(cfg transportConfig, m machine, results []transportResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Idle SSE streams: net/http vs Fiber v2 (fasthttp), %d streams each\n\n", cfg.Clients)
	fmt.Fprintf(&b, "%s is net/http with the connection hijacked after the request and handed to a goroutine of its own "+
		"(the handler returns): not a transport of its own, but what the feed could save while staying on net/http.\n\n", kindHijack)
	fmt.Fprintf(&b, "Measured %s by `feedbench transport`: the same client, stream count and measurement for each. "+
		"Each server sends one event per stream, flushes, then blocks until it stops. "+
		"Go figures are read after a forced GC; RSS is VmRSS from /proc.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	writeMachine(&b, m, "", "")
	b.WriteString("| Transport | RSS per stream | Go heap + stacks per stream | of which heap / stacks | Goroutines per stream | Ramp |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %.1f KiB | %.1f KiB | %.1f / %.1f KiB | %.2f | %.1f s |\n", r.Kind,
			r.perStream(r.RSSBefore, r.RSSAfter),
			r.perStream(r.Before.HeapInuse+r.Before.StackInuse, r.After.HeapInuse+r.After.StackInuse),
			r.perStream(r.Before.HeapInuse, r.After.HeapInuse), r.perStream(r.Before.StackInuse, r.After.StackInuse),
			float64(r.After.Goroutines-r.Before.Goroutines)/float64(r.Streams), r.RampWall.Seconds())
	}
	b.WriteString("\n")
	return b.String()
}
