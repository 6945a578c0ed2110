// Package feedbench measures one stockfeed instance on this machine: the
// memory an idle event stream costs, and the delivery lag of stock
// changes to many viewers under a steady rate of changes. It starts the
// stockfeed binary it is given as a child process on a loopback port,
// drives it through NATS and real SSE connections, and returns what it
// measured with a Markdown report; the child is stopped whatever happens.
//
// Its parts are packages of their own: childproc (the child), stockpub
// (the changes, played as the origin would publish them), feedmetrics
// (the feed's /metrics) and transport (idle streams on net/http and on
// Fiber, the measurement behind the feed's choice of net/http).
package feedbench

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"livecommerce/internal/program"
	"livecommerce/loadtest/procstat"
)

// Config is the command line of a feed run.
type Config struct {
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
	// CoalesceWindow is the window the stockfeed will coalesce changes
	// over (its STOCKFEED_COALESCE_WINDOW), for the count of events a
	// viewer should see.
	CoalesceWindow time.Duration
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

// Load reads the flags of a feed run, and the environment the stockfeed
// will inherit (NATS_URL, STOCKFEED_COALESCE_WINDOW); its errors are usage
// errors (program.Usage).
func Load(args []string, getenv func(string) string) (Config, error) {
	var c Config
	natsURL := getenv("NATS_URL")
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
		return c, program.Usage(err)
	}
	if fs.NArg() > 0 {
		return c, program.Usage(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	c.CoalesceWindow = coalesceWindow(getenv("STOCKFEED_COALESCE_WINDOW"), c.FeedEnv)
	return c, program.Usage(c.validate())
}

func (c Config) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.FeedBin == "" {
		bad("-feed-bin: required (build it with go build -o bin/ ./cmd/stockfeed)")
	} else if st, err := os.Stat(c.FeedBin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		bad("-feed-bin: %s is not an executable file", c.FeedBin)
	}
	if c.Clients < 1 {
		bad("-clients: must be at least 1")
	}
	// Each stream is a socket here and one in the stockfeed, which
	// inherits this limit; a few dozen more go to NATS, HTTP and files.
	if limit := procstat.OpenFileLimit(); limit > 0 && uint64(c.Clients)+100 > limit {
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
	return errors.Join(errs...)
}

// coalesceWindow is the window the stockfeed will use: its environment's,
// unless -feed-env sets another; 50 ms, its default, otherwise.
func coalesceWindow(inherited string, feedEnv []string) time.Duration {
	v := inherited
	for _, kv := range feedEnv {
		if k, val, _ := strings.Cut(kv, "="); k == "STOCKFEED_COALESCE_WINDOW" {
			v = val
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d
	}
	return 50 * time.Millisecond
}
