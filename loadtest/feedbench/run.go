package feedbench

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"livecommerce/internal/feedclient"
	"livecommerce/loadtest/cpuprofile"
	"livecommerce/loadtest/feedbench/feedmetrics"
	"livecommerce/loadtest/feedbench/stockpub"
	"livecommerce/loadtest/machine"
	"livecommerce/loadtest/pause"
	"livecommerce/loadtest/procstat"
)

// Result is everything a run measured.
type Result struct {
	cfg      Config
	progress io.Writer
	machine  machine.Description
	goFeed   string // the Go that built the stockfeed, if known
	lives    []string
	nats     string // server version

	// Phase 1: the ramp and idle memory.
	connectErrs []error // per viewer; nil for those that connected
	connected   int
	rampWall    time.Duration
	idleBefore  memSample
	idleAfter   memSample

	// Phase 2: the load.
	load      stockpub.Result
	expected  []int // stock events each viewer of a live should read, about, per live
	cpu       procstat.Use
	afterLoad memSample
	server    feedmetrics.ServerLag

	// What the viewers saw.
	lag          *hdrhistogram.Histogram
	events       []int // per connected viewer
	fewEvents    int   // connected viewers that read under 90% of their live's expected events
	reordered    int
	malformed    int
	resnapshots  int
	dropped      map[string]int // disconnected viewers by reason
	mismatched   int            // connected viewers whose last versions are wrong
	convergedIn  time.Duration  // from the last change sent to every viewer showing it
	convergedAll bool
}

// Run runs both phases against a stockfeed it starts, and stops it and
// cleans NATS up whatever happens. It tells the operator where it is on
// progress.
func Run(ctx context.Context, cfg Config, progress io.Writer) (res *Result, err error) {
	pub, err := stockpub.New(cfg.NATSURL, cfg.Lives, cfg.SKUs)
	if err != nil {
		return nil, err
	}
	defer pub.Close()

	var logTo io.Writer
	if cfg.FeedLog != "" {
		f, err := os.OpenFile(cfg.FeedLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("-feed-log: %w", err)
		}
		defer f.Close()
		logTo = f
	}
	res = &Result{cfg: cfg, progress: progress, machine: machine.Describe(), lives: pub.Lives, nats: pub.NATSVersion()}
	if bi, err := buildinfo.ReadFile(cfg.FeedBin); err == nil {
		res.goFeed = bi.GoVersion
	}
	res.say("starting %s (%d clients over %d lives: %s…)", cfg.FeedBin, cfg.Clients, cfg.Lives, pub.Lives[0])
	feed, err := startFeed(ctx, cfg, logTo)
	if err != nil {
		return nil, err
	}
	defer feed.Stop(5 * time.Second)
	defer func() {
		if perr := pub.Purge(); perr != nil {
			err = errors.Join(err, perr)
		}
	}()
	if err := pub.Seed(ctx); err != nil {
		return nil, err
	}

	// The viewers end before the stockfeed (defers run last first), so
	// that it sees them leave rather than being shut down under them.
	vctx, closeViewers := context.WithCancel(ctx)
	viewers := make([]*viewer, cfg.Clients)
	defer func() {
		closeViewers()
		waitViewers(viewers, 10*time.Second)
	}()

	if err := res.idlePhase(ctx, vctx, feed, pub, viewers); err != nil {
		return nil, err
	}
	if err := res.loadPhase(ctx, feed, pub, viewers); err != nil {
		return nil, err
	}
	closeViewers()
	if !waitViewers(viewers, 10*time.Second) {
		return nil, errors.New("viewers did not stop within 10s")
	}
	res.collect(viewers, pub.Versions)
	return res, nil
}

// idlePhase reads the stockfeed's memory, opens every stream, lets the
// feed settle and reads its memory again.
func (r *Result) idlePhase(ctx, vctx context.Context, feed *feedProc, pub *stockpub.Publisher, viewers []*viewer) error {
	var err error
	if r.idleBefore, err = feed.memory(ctx); err != nil {
		return err
	}
	skus := pub.SKUIndex()
	r.say("phase 1: opening %d streams over %d lives, %d at a time", len(viewers), len(pub.Lives), r.cfg.RampConcurrency)
	start := time.Now()
	r.connectErrs = feedclient.Ramp(vctx, len(viewers), r.cfg.RampConcurrency, func(ctx context.Context, i int) error {
		// Viewer i watches live i mod lives: the lives get their viewers
		// in turn, and as evenly as the counts allow.
		l := i % len(pub.Lives)
		v := newViewer(l, pub.Lives[l], skus)
		viewers[i] = v
		errc := make(chan error, 1)
		path := "/v1/lives/" + pub.Lives[l] + "/events"
		go v.run(ctx, feed.addr, path, r.cfg.ConnectTimeout, func(err error) { errc <- err })
		return <-errc
	})
	r.rampWall = time.Since(start)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for _, e := range r.connectErrs {
		if e == nil {
			r.connected++
		}
	}
	if r.connected == 0 {
		return fmt.Errorf("no stream connected; first error: %w", r.connectErrs[0])
	}
	r.say("phase 1: %d/%d connected in %.1fs; idle for %s", r.connected, len(viewers), r.rampWall.Seconds(), r.cfg.IdleWait)
	if err := pause.For(ctx, r.cfg.IdleWait); err != nil {
		return err
	}
	if err := feed.Alive(); err != nil {
		return err
	}
	r.idleAfter, err = feed.memory(ctx)
	return err
}

// loadPhase publishes the changes, measures the CPU both processes use
// meanwhile, and waits for the viewers to show the last versions.
func (r *Result) loadPhase(ctx context.Context, feed *feedProc, pub *stockpub.Publisher, viewers []*viewer) error {
	before, err := feed.metrics(ctx)
	if err != nil {
		return err
	}
	meter, err := procstat.StartMeter(feed.Pid())
	if err != nil {
		return err
	}
	r.say("phase 2: %g changes/s over %d lives × %d skus for %s", r.cfg.Rate, r.cfg.Lives, r.cfg.SKUs, r.cfg.Duration)
	stopProfile, err := cpuprofile.Start(r.cfg.CPUProfile)
	if err != nil {
		return err
	}
	r.load, err = pub.Load(ctx, r.cfg.Rate, r.cfg.Duration)
	stopProfile()
	if err != nil {
		return err
	}
	if r.cpu, err = meter.Stop(); err != nil {
		return err
	}
	r.expected = stockpub.ExpectedPerLive(r.load.Sent, len(pub.Lives), r.cfg.CoalesceWindow)
	at, ok := waitConverged(ctx, viewers, pub.Versions, r.cfg.ConvergeTimeout)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.convergedAll = ok
	r.convergedIn = at.Sub(r.load.Sent[len(r.load.Sent)-1].At)
	after, err := feed.metrics(ctx)
	if err != nil {
		return err
	}
	r.server = feedmetrics.LagBetween(before, after)
	if r.afterLoad, err = feed.memory(ctx); err != nil {
		return err
	}
	return nil
}

// waitConverged waits until every viewer still reading shows the last
// published version of every sku of its live (want is per live, then per
// sku), and says when that was seen.
func waitConverged(ctx context.Context, viewers []*viewer, want [][]int64, timeout time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now()
		if allConverged(viewers, want) {
			return now, true
		}
		if now.After(deadline) {
			return now, false
		}
		select {
		case <-ctx.Done():
			return now, false
		case <-tick.C:
		}
	}
}

func allConverged(viewers []*viewer, want [][]int64) bool {
	for _, v := range viewers {
		if v == nil {
			continue
		}
		select {
		case <-v.done:
			continue // ended or never connected: counted apart
		default:
		}
		if !v.page.Reached(want[v.live]) {
			return false
		}
	}
	return true
}

// waitViewers waits for every viewer's goroutine to end.
func waitViewers(viewers []*viewer, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for _, v := range viewers {
		if v == nil {
			continue
		}
		select {
		case <-v.done:
		case <-deadline:
			return false
		}
	}
	return true
}

// collect merges what the viewers saw; they have all stopped. want is
// the last published versions per live, then per sku.
func (r *Result) collect(viewers []*viewer, want [][]int64) {
	r.lag = feedclient.NewLagHistogram()
	r.dropped = map[string]int{}
	for i, v := range viewers {
		if r.connectErrs[i] != nil {
			continue
		}
		p := v.page
		r.lag.Merge(p.Lag)
		r.events = append(r.events, int(p.Events))
		if 10*int(p.Events) < 9*r.expected[v.live] {
			r.fewEvents++
		}
		r.reordered += int(p.Reordered)
		r.malformed += int(p.Malformed)
		r.resnapshots += int(p.Resnapshots)
		switch {
		case p.Disconnect != "":
			r.dropped["event: disconnect, reason "+p.Disconnect]++
		case v.endErr != nil:
			r.dropped["stream ended: "+errKind(v.endErr)]++
		}
		if !p.Reached(want[v.live]) {
			r.mismatched++
		}
	}
}

// errKind names an error by its kind, so that ten thousand of them
// group into a few lines (their text holds addresses and ports).
func errKind(err error) string {
	var nerr net.Error
	switch {
	case errors.Is(err, io.EOF):
		return "EOF (closed by the server)"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected EOF"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no free local port"
	case errors.Is(err, syscall.EMFILE):
		return "too many open files"
	case errors.As(err, &nerr) && nerr.Timeout():
		return "timeout"
	}
	s := err.Error()
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// say tells the operator where the run is; the report goes elsewhere.
func (r *Result) say(format string, a ...any) {
	fmt.Fprintf(r.progress, "%s feedbench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}
