// Package audience is the live pages of a load test: event streams to the
// stockfeed spread evenly over the sale's lives, each from an address of
// its own, each reconnecting with Last-Event-ID when the feed ends it, as
// EventSource does. After the load it tells whether every page ended on
// the last version of every product of its live.
package audience

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"livecommerce/internal/feedclient"
	"livecommerce/loadtest/livepage"
	"livecommerce/loadtest/opstats"
	"livecommerce/loadtest/pause"
	"livecommerce/loadtest/scenario"
)

// viewer is one live page and the goroutine that reads its stream.
type viewer struct {
	n    int
	live int
	page *livepage.Page

	// Written by the viewer's goroutine; read once it has stopped.
	reconnects int64
	endErr     error
}

// Audience is the run's live pages.
type Audience struct {
	plan      *scenario.Plan
	addr      string
	first     []int // index in the plan's skus of each live's first sku
	size      []int // skus of each live
	viewers   []*viewer
	recording atomic.Bool
	wg        sync.WaitGroup
	connected atomic.Int64
	failed    []error // the first few connect errors
}

// New lays out n live pages of plan's lives, on the feed at feedURL.
func New(plan *scenario.Plan, feedURL string, n int) (*Audience, error) {
	u, err := url.Parse(feedURL)
	if err != nil {
		return nil, fmt.Errorf("feed url: %w", err)
	}
	a := &Audience{plan: plan, addr: u.Host, first: make([]int, len(plan.Lives)), size: make([]int, len(plan.Lives))}
	// The skus of a live follow one another in the plan; a page knows
	// each by its position in its live.
	skus := make([]map[string]int, len(plan.Lives))
	for i, s := range plan.SKUs {
		if skus[s.Live] == nil {
			skus[s.Live], a.first[s.Live] = map[string]int{}, i
		}
		skus[s.Live][s.ID] = i - a.first[s.Live]
		a.size[s.Live]++
	}
	for i := range n {
		live := i % len(plan.Lives)
		a.viewers = append(a.viewers, &viewer{n: i, live: live, page: livepage.New(plan.Lives[live], skus[live], &a.recording)})
	}
	return a, nil
}

// Record starts or stops recording the pages' lag: only the measured
// window counts.
func (a *Audience) Record(on bool) { a.recording.Store(on) }

// Connect opens every stream, at most 100 connecting at a time, and
// leaves a goroutine reading each until ctx ends. It returns the number
// that failed to connect.
func (a *Audience) Connect(ctx context.Context, timeout time.Duration) int {
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

// ConnectErrors are the first few errors of streams that failed to
// connect.
func (a *Audience) ConnectErrors() []error { return a.failed }

// Wait waits for every page's goroutine to end, once the context Connect
// was given has ended.
func (a *Audience) Wait() { a.wg.Wait() }

// open opens v's stream and reads its snapshot.
func (a *Audience) open(ctx context.Context, v *viewer, lastID string, timeout time.Duration) (*feedclient.Stream, error) {
	h := http.Header{"X-Forwarded-For": {scenario.ClientIP('v', uint64(v.n))}}
	live := a.plan.Lives[v.live]
	s, err := v.page.Open(ctx, a.addr, "/v1/lives/"+live+"/events", h, lastID, timeout)
	if err != nil {
		return nil, fmt.Errorf("stream of live %s: %w", live, err)
	}
	return s, nil
}

// follow reads v's stream until ctx ends, reconnecting with Last-Event-ID
// when the feed ends it, as EventSource does.
func (a *Audience) follow(ctx context.Context, v *viewer, s *feedclient.Stream, timeout time.Duration) {
	for {
		stop := s.CloseOn(ctx)
		lastID, err := v.page.Read(s)
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
			pause.For(ctx, time.Second)
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

// Converged waits until every page has seen the final version (final is
// by index in the plan's skus) of every sku of its live, or until
// timeout; it returns how many pages had.
func (a *Audience) Converged(ctx context.Context, final []int64, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		done := 0
		for _, v := range a.viewers {
			first := a.first[v.live]
			if v.page.Reached(final[first : first+a.size[v.live]]) {
				done++
			}
		}
		if done == len(a.viewers) || time.Now().After(deadline) || ctx.Err() != nil {
			return done
		}
		pause.For(ctx, 100*time.Millisecond)
	}
}

// Stats is what the live pages saw.
type Stats struct {
	Viewers, Connected, ConnectFailed int
	Converged                         int
	Events, Reordered, Malformed      int64
	Resnapshots, Reconnects           int64
	Lag                               opstats.Summary // from the change's updated_at to the live page
	Early                             int64           // events read before their updated_at (clock rounding), counted as 0
	FirstErrors                       []string
}

// Stats merges what the pages saw; call it once they have stopped.
// Converged is left for the caller, who waited for it.
func (a *Audience) Stats() Stats {
	fs := Stats{Viewers: len(a.viewers), Connected: int(a.connected.Load())}
	fs.ConnectFailed = fs.Viewers - fs.Connected
	lag := feedclient.NewLagHistogram()
	for _, v := range a.viewers {
		p := v.page
		fs.Events += p.Events
		fs.Reordered += p.Reordered
		fs.Malformed += p.Malformed
		fs.Resnapshots += p.Resnapshots
		fs.Reconnects += v.reconnects
		fs.Early += p.Early
		lag.Merge(p.Lag)
		if v.endErr != nil && len(fs.FirstErrors) < 5 {
			fs.FirstErrors = append(fs.FirstErrors, "viewer "+strconv.Itoa(v.n)+": "+v.endErr.Error())
		}
	}
	for _, err := range a.failed {
		fs.FirstErrors = append(fs.FirstErrors, "connect: "+err.Error())
	}
	q := func(p float64) time.Duration { return time.Duration(lag.ValueAtQuantile(p)) * time.Microsecond }
	fs.Lag = opstats.Summary{
		Name: scenario.OpEvent, Count: lag.TotalCount(), Answered: lag.TotalCount(), Codes: map[string]int64{opstats.CodeOK: lag.TotalCount()},
		P50: q(50), P90: q(90), P99: q(99), P999: q(99.9), Max: time.Duration(lag.Max()) * time.Microsecond, Hist: lag,
	}
	return fs
}
