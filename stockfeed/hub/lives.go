package hub

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"livecommerce/internal/ratelimit"
)

// Errors of Join.
var (
	// ErrUnknownLive: the stream holds no stock of this live.
	ErrUnknownLive = errors.New("hub: no stock is known for this live")
	// ErrUnavailable: the live's stock could not be read in time (NATS or
	// JetStream down), or the feed is shutting down.
	ErrUnavailable = errors.New("hub: stock events are unavailable")
	// ErrBusy: this instance follows as many lives as it may, or is
	// starting to follow new ones faster than it may.
	ErrBusy = errors.New("hub: too many lives on this instance")
)

// Sink receives a live's stream: Begin with the stream's identity, then
// every stored message in stream order, CaughtUp once the history stored
// when following began has been delivered, then every new message.
type Sink interface {
	Begin(epoch string)
	Apply(seq uint64, subject string, data []byte)
	CaughtUp()
}

// Source follows one live's stock events.
type Source interface {
	// Follow feeds sink until ctx ends (then it returns nil), or returns
	// an error when it cannot go on.
	Follow(ctx context.Context, liveID string, sink Sink) error
}

// Options tune Lives. Zero values take the defaults in parentheses.
type Options struct {
	Window      time.Duration // coalescing window (50ms)
	QueueLen    int           // windows a viewer may fall behind before it is cut (64)
	Linger      time.Duration // how long a live stays followed after its last viewer left (0: stop at once)
	JoinTimeout time.Duration // longest a viewer waits for a live's history (5s)
	MaxLives    int           // lives followed at once (1000)
	// NewLivesPerSecond limits how fast lives start being followed, each
	// costing a JetStream consumer, so requests for many made-up lives
	// cannot flood NATS (100, with a burst of twice that).
	NewLivesPerSecond float64
	// NewLivesPerClient is the same limit per client address (2, with a
	// burst of 10), so one client asking for made-up lives cannot use up
	// the instance's allowance and lock real viewers out of new lives.
	NewLivesPerClient float64
}

func (o *Options) defaults() {
	if o.Window <= 0 {
		o.Window = 50 * time.Millisecond
	}
	if o.QueueLen <= 0 {
		o.QueueLen = 64
	}
	if o.JoinTimeout <= 0 {
		o.JoinTimeout = 5 * time.Second
	}
	if o.MaxLives <= 0 {
		o.MaxLives = 1000
	}
	if o.NewLivesPerSecond <= 0 {
		o.NewLivesPerSecond = 100
	}
	if o.NewLivesPerClient <= 0 {
		o.NewLivesPerClient = 2
	}
}

// Lives follows the lives that have viewers: the first viewer of a live
// starts following it, and the last one to leave stops it (after
// Options.Linger, so a page reload does not cost a new consumer).
type Lives struct {
	src     Source
	opt     Options
	metrics *Metrics
	log     *slog.Logger
	limiter *rate.Limiter
	perKey  *ratelimit.Limiter

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	runs   map[string]*run
	closed bool
}

// run is a live being followed.
type run struct {
	liveID string
	hub    *Hub
	cancel context.CancelFunc
	refs   int
	linger *time.Timer
}

// NewLives returns a Lives reading from src; Close stops it.
func NewLives(src Source, opt Options, m *Metrics, log *slog.Logger) *Lives {
	opt.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Lives{
		src: src, opt: opt, metrics: m, log: log,
		limiter: rate.NewLimiter(rate.Limit(opt.NewLivesPerSecond), max(1, int(2*opt.NewLivesPerSecond))),
		perKey:  ratelimit.New(opt.NewLivesPerClient, max(1, int(5*opt.NewLivesPerClient))),
		ctx:     ctx, cancel: cancel,
		runs: map[string]*run{},
	}
}

// Join adds a viewer to a live, starting to follow it if needed, and
// waits until the live's history has been read. lastEventID is the
// viewer's Last-Event-ID ("" for none); from is the viewer's limit key
// (its address, an IPv6 /64 as one), for the per-client limit on new
// lives. The client must Leave.
func (ls *Lives) Join(ctx context.Context, liveID, lastEventID, from string) (*Client, error) {
	ls.mu.Lock()
	if ls.closed {
		ls.mu.Unlock()
		return nil, ErrUnavailable
	}
	r := ls.runs[liveID]
	if r == nil {
		if len(ls.runs) >= ls.opt.MaxLives {
			ls.evictIdleLocked()
		}
		now := time.Now()
		if ok, _ := ls.perKey.Allow(from, now); !ok || len(ls.runs) >= ls.opt.MaxLives || !ls.limiter.AllowN(now, 1) {
			ls.mu.Unlock()
			return nil, ErrBusy
		}
		r = ls.startLocked(liveID)
	}
	r.refs++
	if r.linger != nil {
		r.linger.Stop()
		r.linger = nil
	}
	ls.mu.Unlock()

	timer := time.NewTimer(ls.opt.JoinTimeout)
	defer timer.Stop()
	select {
	case <-r.hub.readyChan():
	case <-ctx.Done():
		ls.release(r)
		return nil, ctx.Err()
	case <-timer.C:
		ls.release(r)
		return nil, ErrUnavailable
	}
	c, err := r.hub.join(lastEventID)
	if err != nil {
		ls.release(r)
		return nil, err
	}
	c.release = func() { ls.release(r) }
	return c, nil
}

func (ls *Lives) startLocked(liveID string) *run {
	ctx, cancel := context.WithCancel(ls.ctx)
	r := &run{liveID: liveID, hub: newHub(liveID, ls.opt.Window, ls.opt.QueueLen, ls.metrics), cancel: cancel}
	ls.runs[liveID] = r
	ls.metrics.lives.Inc()
	ls.wg.Add(2)
	go ls.follow(ctx, r)
	go func() {
		defer ls.wg.Done()
		r.hub.fanOut(ctx)
	}()
	return r
}

// follow keeps the live's source running, retrying with backoff while
// NATS is away, until the run is stopped.
func (ls *Lives) follow(ctx context.Context, r *run) {
	defer ls.wg.Done()
	backoff := 100 * time.Millisecond
	for {
		err := ls.src.Follow(ctx, r.liveID, r.hub)
		if ctx.Err() != nil {
			return
		}
		ls.log.Warn("following a live's stock events failed; retrying",
			slog.String("live_id", r.liveID), slog.Duration("in", backoff), slog.Any("error", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (ls *Lives) release(r *run) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	r.refs--
	if r.refs > 0 || ls.runs[r.liveID] != r {
		return
	}
	r.hub.mu.Lock()
	unknown := len(r.hub.state) == 0
	r.hub.mu.Unlock()
	// A live nobody knows is dropped at once: requests for made-up lives
	// must not pile up consumers.
	if unknown || ls.opt.Linger <= 0 {
		ls.stopLocked(r)
		return
	}
	r.linger = time.AfterFunc(ls.opt.Linger, func() {
		ls.mu.Lock()
		defer ls.mu.Unlock()
		if r.refs == 0 && ls.runs[r.liveID] == r {
			ls.stopLocked(r)
		}
	})
}

// evictIdleLocked stops one live that nobody watches (it is only
// lingering), to make room for a live that has a viewer.
func (ls *Lives) evictIdleLocked() {
	for _, r := range ls.runs {
		if r.refs == 0 {
			ls.stopLocked(r)
			return
		}
	}
}

func (ls *Lives) stopLocked(r *run) {
	delete(ls.runs, r.liveID)
	if r.linger != nil {
		r.linger.Stop()
	}
	r.cancel()
	ls.metrics.lives.Dec()
}

// Following reports how many lives are followed now.
func (ls *Lives) Following() int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return len(ls.runs)
}

// Close stops following every live and waits for the sources to stop.
// Viewers still joined get no more frames; cut them first.
func (ls *Lives) Close() {
	ls.mu.Lock()
	ls.closed = true
	for _, r := range ls.runs {
		ls.stopLocked(r)
	}
	ls.mu.Unlock()
	ls.cancel()
	ls.wg.Wait()
}
