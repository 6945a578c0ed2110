package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// feedConfig is the command line of a feed run.
type feedConfig struct {
	FeedBin         string
	NATSURL         string
	Name            string
	Clients         int
	Lives           int
	SKUs            int
	Rate            float64
	Duration        time.Duration
	IdleWait        time.Duration
	ConvergeTimeout time.Duration
	RampConcurrency int
	ConnectTimeout  time.Duration
	FeedEnv         []string
	FeedLog         string
	Out             string
	MaxP99          time.Duration
	MaxIdleKiB      float64
	CPUProfile      string
}

// envList is a repeatable KEY=VALUE flag.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }

func (e *envList) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

func parseFeedFlags(args []string) (feedConfig, error) {
	var c feedConfig
	natsURL := os.Getenv("NATS_URL")
	if natsURL == "" {
		natsURL = "nats://127.0.0.1:4222"
	}
	fs := flag.NewFlagSet("feedbench", flag.ContinueOnError)
	fs.StringVar(&c.FeedBin, "feed-bin", "", "the stockfeed binary to measure (required)")
	fs.StringVar(&c.NATSURL, "nats-url", natsURL, "NATS server with JetStream (NATS_URL)")
	fs.StringVar(&c.Name, "name", "", "scenario name for the report's heading, e.g. spread")
	fs.IntVar(&c.Clients, "clients", 10000, "event streams to open, spread evenly over the lives")
	fs.IntVar(&c.Lives, "lives", 1, "lives the streams are spread over, each with -skus skus")
	fs.IntVar(&c.SKUs, "skus", 20, "skus of each live")
	fs.Float64Var(&c.Rate, "rate", 100, "stock changes published per second during the load, in total, round robin over every (live, sku)")
	fs.DurationVar(&c.Duration, "duration", 30*time.Second, "length of the load")
	fs.DurationVar(&c.IdleWait, "idle-wait", 5*time.Second, "pause after the ramp before idle memory is read")
	fs.DurationVar(&c.ConvergeTimeout, "converge-timeout", 10*time.Second, "longest wait after the load for every client to show the last versions")
	fs.IntVar(&c.RampConcurrency, "ramp-concurrency", 100, "streams connecting at the same time during the ramp")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 30*time.Second, "longest one stream may take to connect and get its snapshot")
	fs.Var((*envList)(&c.FeedEnv), "feed-env", "KEY=VALUE added to the stockfeed's environment (repeatable), e.g. STOCKFEED_COALESCE_WINDOW=100ms")
	fs.StringVar(&c.FeedLog, "feed-log", "", "append the stockfeed's log to this file")
	fs.StringVar(&c.Out, "out", "", "also write the Markdown report to this file")
	fs.DurationVar(&c.MaxP99, "max-p99", 100*time.Millisecond, "target: p99 delivery lag below this")
	fs.Float64Var(&c.MaxIdleKiB, "max-idle-kib", 20, "target: idle RSS per stream below this many KiB")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write feedbench's own CPU profile during the load to this file")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: feedbench -feed-bin PATH [flags]\n       feedbench transport [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return c, c.validate()
}

func (c feedConfig) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.FeedBin == "" {
		bad("-feed-bin: required (build it with go build -o bin/ ./stockfeed)")
	} else if st, err := os.Stat(c.FeedBin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		bad("-feed-bin: %s is not an executable file", c.FeedBin)
	}
	if c.Clients < 1 {
		bad("-clients: must be at least 1")
	}
	// Each stream is a socket here and one in the stockfeed, which
	// inherits this limit; a few dozen more go to NATS, HTTP and files.
	if limit := fdLimit(); limit > 0 && uint64(c.Clients)+100 > limit {
		bad("-clients: %d streams need more than the open-file limit of %d (ulimit -n)", c.Clients, limit)
	}
	// The stockfeed follows at most 100,000 lives, starting at most
	// 10,000 a second (its bounds on the caps the bench raises).
	if c.Lives < 1 || c.Lives > 10_000 || c.Lives > c.Clients {
		bad("-lives: must be between 1 and 10000, and at most -clients")
	}
	if c.SKUs < 1 || c.SKUs > 1000 {
		bad("-skus: must be between 1 and 1000")
	}
	if c.Rate <= 0 || c.Rate > 100_000 {
		bad("-rate: must be above 0 and at most 100000")
	}
	if c.Duration <= 0 || int(c.Rate*c.Duration.Seconds()) < 1 {
		bad("-duration: must be long enough for at least one change at -rate")
	}
	if c.RampConcurrency < 1 {
		bad("-ramp-concurrency: must be at least 1")
	}
	if c.ConnectTimeout <= 0 || c.ConvergeTimeout <= 0 || c.IdleWait < 0 {
		bad("-connect-timeout and -converge-timeout must be positive, -idle-wait not negative")
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return nil
}

// window is the coalescing window the stockfeed will use, for the count of
// events a viewer should see.
func (c feedConfig) window() time.Duration {
	v := os.Getenv("STOCKFEED_COALESCE_WINDOW")
	for _, kv := range c.FeedEnv {
		if k, val, _ := strings.Cut(kv, "="); k == "STOCKFEED_COALESCE_WINDOW" {
			v = val
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d
	}
	return 50 * time.Millisecond
}

func runFeed(ctx context.Context, args []string) error {
	cfg, err := parseFeedFlags(args)
	if err != nil {
		return err
	}
	res, err := benchFeed(ctx, cfg)
	if err != nil {
		return err
	}
	report := res.markdown()
	fmt.Print(report)
	if cfg.Out != "" {
		if err := os.WriteFile(cfg.Out, []byte(report), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	if fails := res.failures(); len(fails) > 0 {
		return fmt.Errorf("%w: %s", errMissed, strings.Join(fails, "; "))
	}
	return nil
}

// feedProc is the stockfeed under test.
type feedProc struct {
	*child
	addr    string
	opsAddr string // /metrics
	hc      *http.Client
}

// startFeed starts the stockfeed on a free loopback port, with its caps
// raised for the run, and waits until it is ready. The caps on lives
// guard an instance against requests for made-up lives, also per client
// address; the bench's first viewers, all from one address, ask for all
// of its lives at once, so they are raised to the live count (never below
// the defaults).
func startFeed(ctx context.Context, cfg feedConfig, logTo io.Writer) (*feedProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	opsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	conns := strconv.Itoa(cfg.Clients + 10)
	lives := strconv.Itoa(max(cfg.Lives, 1000))
	newLives := strconv.Itoa(max(cfg.Lives, 100))
	cmd := exec.Command(cfg.FeedBin)
	// Later entries win over earlier ones, so -feed-env can override all
	// but the address.
	cmd.Env = append(os.Environ(),
		"NATS_URL="+cfg.NATSURL,
		"STOCKFEED_MAX_CONNS="+conns,
		"STOCKFEED_MAX_CONNS_PER_IP="+conns,
		"STOCKFEED_MAX_LIVES="+lives,
		"STOCKFEED_NEW_LIVES_PER_SECOND="+newLives,
		"STOCKFEED_NEW_LIVES_PER_CLIENT="+newLives,
		"STOCKFEED_DRAIN_WINDOW=0s", // the bench closes its streams first
		"LOG_LEVEL=warn",
	)
	cmd.Env = append(append(cmd.Env, cfg.FeedEnv...), "STOCKFEED_ADDR="+addr, "OPS_ADDR="+opsAddr)
	c, err := startChild("stockfeed", cmd, logTo)
	if err != nil {
		return nil, err
	}
	f := &feedProc{child: c, addr: addr, opsAddr: opsAddr, hc: &http.Client{Timeout: 10 * time.Second}}
	if err := c.waitHTTP(ctx, f.hc, f.url("/readyz"), 20*time.Second); err != nil {
		c.stop(5 * time.Second)
		return nil, err
	}
	return f, nil
}

func (f *feedProc) url(path string) string { return "http://" + f.addr + path }

// metricsURL is the feed's /metrics, on its ops listener.
func (f *feedProc) metricsURL() string { return "http://" + f.opsAddr + "/metrics" }

// memSample is the stockfeed's memory at one moment.
type memSample struct {
	RSS int64
	Go  goMemory
}

func (f *feedProc) memory(ctx context.Context) (memSample, error) {
	s, err := scrape(ctx, f.hc, f.metricsURL())
	if err != nil {
		return memSample{}, err
	}
	g, err := s.goMemory()
	if err != nil {
		return memSample{}, err
	}
	rss, err := rssBytes(f.Pid())
	if err != nil {
		return memSample{}, err
	}
	return memSample{RSS: rss, Go: g}, nil
}

// sleep waits d unless ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
