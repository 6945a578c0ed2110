package feedbench

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"time"

	"livecommerce/loadtest/feedbench/childproc"
	"livecommerce/loadtest/feedbench/feedmetrics"
	"livecommerce/loadtest/procstat"
)

// feedProc is the stockfeed under test.
type feedProc struct {
	*childproc.Proc
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
func startFeed(ctx context.Context, cfg Config, logTo io.Writer) (*feedProc, error) {
	addr, err := childproc.FreeAddr()
	if err != nil {
		return nil, err
	}
	opsAddr, err := childproc.FreeAddr()
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
	c, err := childproc.Start("stockfeed", cmd, logTo)
	if err != nil {
		return nil, err
	}
	f := &feedProc{Proc: c, addr: addr, opsAddr: opsAddr, hc: &http.Client{Timeout: 10 * time.Second}}
	if err := c.WaitHTTP(ctx, f.hc, "http://"+addr+"/readyz", 20*time.Second); err != nil {
		c.Stop(5 * time.Second)
		return nil, err
	}
	return f, nil
}

// metrics reads the feed's /metrics, on its ops listener.
func (f *feedProc) metrics(ctx context.Context) (feedmetrics.Scrape, error) {
	return feedmetrics.Get(ctx, f.hc, "http://"+f.opsAddr+"/metrics")
}

// memSample is the stockfeed's memory at one moment.
type memSample struct {
	RSS int64
	Go  feedmetrics.GoMemory
}

func (f *feedProc) memory(ctx context.Context) (memSample, error) {
	s, err := f.metrics(ctx)
	if err != nil {
		return memSample{}, err
	}
	g, err := s.GoMemory()
	if err != nil {
		return memSample{}, err
	}
	rss, err := procstat.RSS(f.Pid())
	if err != nil {
		return memSample{}, err
	}
	return memSample{RSS: rss, Go: g}, nil
}
