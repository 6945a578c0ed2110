package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"livecommerce/internal/feedclient"
	"livecommerce/internal/sseclient"
	"livecommerce/internal/stock"
)

// viewer is one live page: an event stream read by its own goroutine.
type viewer struct {
	n        int
	live     int
	versions []atomic.Int64 // last version seen of each sku of the live, by position

	// Written by the viewer's goroutine; read once it has stopped.
	lag        *hdrhistogram.Histogram // µs from the change's updated_at to arrival, while recording
	early      int64                   // events that arrived before their updated_at (clock rounding)
	events     int64
	reordered  int64
	malformed  int64
	snapshots  int64 // snapshots after the first (a reconnect that lost its place)
	reconnects int64
	endErr     error
}

// audience is the run's live pages.
type audience struct {
	plan      *Plan
	addr      string
	viewers   []*viewer
	recording atomic.Bool
	wg        sync.WaitGroup
	connected atomic.Int64
	failed    []error
}

func newAudience(plan *Plan, feedURL string, n int) (*audience, error) {
	u, err := url.Parse(feedURL)
	if err != nil {
		return nil, fmt.Errorf("feed url: %w", err)
	}
	a := &audience{plan: plan, addr: u.Host}
	for i := range n {
		a.viewers = append(a.viewers, &viewer{n: i, live: i % len(plan.Lives), versions: make([]atomic.Int64, plan.cfg.SKUsPerLive), lag: feedclient.NewLagHistogram()})
	}
	return a, nil
}

// connect opens every stream, at most 100 connecting at a time, and
// leaves a goroutine reading each until ctx ends. It returns the number
// that failed to connect.
func (a *audience) connect(ctx context.Context, timeout time.Duration) int {
	errs := feedclient.Ramp(ctx, len(a.viewers), 100, func(ctx context.Context, i int) error {
		v := a.viewers[i]
		s, err := a.open(ctx, v, "", timeout)
		if err != nil {
			return err
		}
		a.connected.Add(1)
		a.wg.Go(func() { a.follow(ctx, v, s, timeout) })
		return nil
	})
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
			if len(a.failed) < 5 {
				a.failed = append(a.failed, err)
			}
		}
	}
	return failed
}

// open opens v's stream and reads its snapshot.
func (a *audience) open(ctx context.Context, v *viewer, lastID string, timeout time.Duration) (*feedclient.Stream, error) {
	h := http.Header{"X-Forwarded-For": {clientIP('v', uint64(v.n))}}
	if lastID != "" {
		h.Set("Last-Event-ID", lastID)
	}
	s, err := feedclient.Open(ctx, a.addr, "/v1/lives/"+a.plan.Lives[v.live]+"/events", h, timeout)
	if err != nil {
		return nil, err
	}
	stop := s.CloseOn(ctx)
	defer stop()
	b, err := s.NextEvent()
	if err == nil && b.Type != "snapshot" && lastID == "" {
		err = fmt.Errorf("first event is %q, want snapshot", b.Type)
	}
	if err == nil {
		a.handle(v, b, time.Now())
		err = s.Ready()
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("stream of live %s: %w", a.plan.Lives[v.live], err)
	}
	return s, nil
}

// follow reads v's stream until ctx ends, reconnecting with Last-Event-ID
// when the feed ends it, as EventSource does.
func (a *audience) follow(ctx context.Context, v *viewer, s *feedclient.Stream, timeout time.Duration) {
	for {
		stop := s.CloseOn(ctx)
		lastID := ""
		var err error
		for {
			b, e := s.Next()
			if e != nil {
				err = e
				break
			}
			if b.LastEventID != "" {
				lastID = b.LastEventID
			}
			a.handle(v, b, time.Now())
		}
		stop()
		s.Close()
		if ctx.Err() != nil {
			return
		}
		v.endErr = err
		for {
			v.reconnects++
			if v.reconnects > 20 {
				return
			}
			sleep(ctx, time.Second)
			if ctx.Err() != nil {
				return
			}
			if s, err = a.open(ctx, v, lastID, timeout); err == nil {
				break
			}
			v.endErr = err
		}
	}
}

func (a *audience) handle(v *viewer, b sseclient.Block, now time.Time) {
	switch b.Type {
	case "snapshot":
		if v.events > 0 || v.snapshots > 0 || v.reconnects > 0 {
			v.snapshots++
		}
		var snap struct {
			Products []stock.Level `json:"products"`
		}
		if json.Unmarshal([]byte(b.Data), &snap) != nil {
			v.malformed++
			return
		}
		for _, p := range snap.Products {
			if pos, ok := a.position(v, p.SKU); ok && p.Version > v.versions[pos].Load() {
				v.versions[pos].Store(p.Version)
			}
		}
	case "stock":
		c, err := feedclient.ParseChange(a.plan.Lives[v.live], b.LastEventID, b.Data)
		pos, ok := a.position(v, c.SKU)
		if err != nil || !ok {
			v.malformed++
			return
		}
		v.events++
		if c.Version <= v.versions[pos].Load() {
			v.reordered++
			return
		}
		v.versions[pos].Store(c.Version)
		if a.recording.Load() {
			// updated_at is when Redis admitted the change, before the
			// order's commit: the lag from it bounds the commit-to-page lag
			// from above, and needs no answer from the tool's own buyers,
			// who may be late themselves when the machine is busy.
			lag := now.Sub(c.UpdatedAt).Microseconds()
			if lag < 0 {
				v.early++
				lag = 0
			}
			_ = v.lag.RecordValue(min(lag, feedclient.LagMax))
		}
	}
}

// position is the place of sku among the skus of v's live.
func (a *audience) position(v *viewer, sku string) (int, bool) {
	i, ok := a.plan.Index(sku)
	if !ok || a.plan.SKUs[i].Live != v.live {
		return 0, false
	}
	return i - v.live*a.plan.cfg.SKUsPerLive, true
}

// converged waits until every viewer has seen the final version of every
// sku of its live, or until timeout; it returns how many viewers had.
func (a *audience) converged(ctx context.Context, final []int64, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		done := 0
		for _, v := range a.viewers {
			ok := true
			for pos := range v.versions {
				if v.versions[pos].Load() < final[v.live*a.plan.cfg.SKUsPerLive+pos] {
					ok = false
					break
				}
			}
			if ok {
				done++
			}
		}
		if done == len(a.viewers) || time.Now().After(deadline) || ctx.Err() != nil {
			return done
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

// feedStats sums what the viewers saw; call it after they stopped.
type feedStats struct {
	Viewers, Connected, ConnectFailed int
	Converged                         int
	Events, Reordered, Malformed      int64
	Resnapshots, Reconnects           int64
	Lag                               summary // from the change's updated_at to the live page
	Early                             int64   // events read before their updated_at (clock rounding), counted as 0
	FirstErrors                       []string
}

// stats merges what the viewers saw.
func (a *audience) stats() feedStats {
	fs := feedStats{Viewers: len(a.viewers), Connected: int(a.connected.Load())}
	lag := feedclient.NewLagHistogram()
	for _, v := range a.viewers {
		fs.Events += v.events
		fs.Reordered += v.reordered
		fs.Malformed += v.malformed
		fs.Resnapshots += v.snapshots
		fs.Reconnects += v.reconnects
		fs.Early += v.early
		lag.Merge(v.lag)
		if v.endErr != nil && len(fs.FirstErrors) < 5 {
			fs.FirstErrors = append(fs.FirstErrors, "viewer "+strconv.Itoa(v.n)+": "+v.endErr.Error())
		}
	}
	for _, err := range a.failed {
		fs.FirstErrors = append(fs.FirstErrors, "connect: "+err.Error())
	}
	q := func(p float64) time.Duration { return time.Duration(lag.ValueAtQuantile(p)) * time.Microsecond }
	fs.Lag = summary{
		Name: opEvent, Count: lag.TotalCount(), Answered: lag.TotalCount(), Codes: map[string]int64{codeOK: lag.TotalCount()},
		P50: q(50), P90: q(90), P99: q(99), P999: q(99.9), Max: time.Duration(lag.Max()) * time.Microsecond, Hist: lag,
	}
	return fs
}
