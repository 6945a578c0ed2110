package purge

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"

	"livecommerce/internal/depguard"
)

// Backend purges cached responses by tag at one CDN or edge, with one call
// and no retries of its own. A failure may implement Temporary() bool
// (false: this batch will never be accepted, drop it) and Wait()
// time.Duration (how long the server asked to be left alone).
type Backend interface {
	Purge(ctx context.Context, tags []string) error
}

// SenderConfig tunes batching, pacing and retries.
type SenderConfig struct {
	// Window is how long the oldest waiting tag gathers others before a
	// call, and how long after the newest change in a batch the call goes
	// out. It must outlast the origins' micro-cache
	// (stock.MaxOriginCache), or the edge could refetch an answer from
	// before the change (default 300ms).
	Window  time.Duration
	MaxTags int // tags per call (default 100)
	// Rate is calls per second and Burst the bucket size: the CDN's purge
	// allowance (Cloudflare Free: 5 per minute, rate 0.0833 burst 5;
	// Enterprise: 50 per second).
	Rate  float64
	Burst int
	// MinBackoff and MaxBackoff bound the exponential wait after a 5xx or
	// network error (defaults 250ms and 30s).
	MinBackoff, MaxBackoff time.Duration
	Breaker                depguard.Settings
}

func (c *SenderConfig) defaults() {
	if c.Window <= 0 {
		c.Window = 300 * time.Millisecond
	}
	if c.MaxTags <= 0 {
		c.MaxTags = 100
	}
	if c.Rate <= 0 {
		c.Rate = 5.0 / 60
	}
	if c.Burst <= 0 {
		c.Burst = 1
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 250 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(c.MinBackoff, 30*time.Second)
	}
}

// Sender takes batches from a Queue and sends them through the rate
// limiter and the circuit breaker, retrying until they are accepted.
type Sender struct {
	cfg     SenderConfig
	backend Backend
	q       *Queue
	lim     *rate.Limiter
	guard   *depguard.Guard
	m       *Metrics
	log     *slog.Logger
}

// NewSender returns a sender; m must not be nil.
func NewSender(cfg SenderConfig, backend Backend, q *Queue, m *Metrics, log *slog.Logger) *Sender {
	cfg.defaults()
	onChange := cfg.Breaker.OnStateChange
	cfg.Breaker.OnStateChange = func(name string, from, to gobreaker.State) {
		if to == gobreaker.StateClosed {
			m.Breaker.Set(0)
		} else {
			m.Breaker.Set(1)
		}
		log.Warn("cdn circuit breaker", slog.String("from", from.String()), slog.String("to", to.String()))
		if onChange != nil {
			onChange(name, from, to)
		}
	}
	return &Sender{
		cfg: cfg, backend: backend, q: q, m: m, log: log,
		lim:   rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst),
		guard: depguard.New("cdn", cfg.Breaker),
	}
}

// Open reports whether the breaker refuses calls.
func (s *Sender) Open() bool { return s.guard.Open() }

// Run sends batches until stop is closed, then sends what is still waiting
// at once and returns; messages that had not settled by then stay unacked,
// for the next process to purge again. ctx bounds every wait and call: cancelling
// it abandons the batch in hand (its messages stay unacked).
func (s *Sender) Run(ctx context.Context, stop <-chan struct{}) {
	stopping := false
	for {
		since, ok := s.q.Since()
		if !ok {
			if stopping {
				return
			}
			select {
			case <-s.q.notify:
			case <-stop:
				stopping, stop = true, nil
			case <-ctx.Done():
				return
			}
			continue
		}
		// Gather: the oldest tag waits a window for others to join it.
		if !stopping && s.q.Len() < s.cfg.MaxTags {
			if d := time.Until(since.Add(s.cfg.Window)); d > 0 {
				if s.sleep(ctx, d, &stop, &stopping, s.q.notify) != nil {
					return
				}
				continue
			}
		}
		b := s.q.Take(s.cfg.MaxTags)
		// Settle: the newest change in the batch must be older than any
		// answer an origin may still hold in its micro-cache.
		for !stopping {
			d := time.Until(b.Settled(s.cfg.Window))
			if d <= 0 {
				break
			}
			if s.sleep(ctx, d, &stop, &stopping, nil) != nil {
				return
			}
		}
		if err := s.send(ctx, b); err != nil {
			return
		}
	}
}

// sleep waits d, or until wake has something, stop closes (then stopping
// is set) or ctx ends (its error is returned).
func (s *Sender) sleep(ctx context.Context, d time.Duration, stop *<-chan struct{}, stopping *bool, wake <-chan struct{}) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-wake:
	case <-*stop:
		*stopping, *stop = true, nil
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// send makes calls until the batch is accepted, refused for good, or ctx
// ends (then it returns ctx's error and the batch's messages stay unacked).
func (s *Sender) send(ctx context.Context, b Batch) error {
	backoff := s.cfg.MinBackoff
	for {
		if err := s.lim.Wait(ctx); err != nil {
			return err
		}
		var callErr error
		var sent time.Time
		err := s.guard.Do(func() error {
			sent = time.Now()
			callErr = s.backend.Purge(ctx, b.Tags)
			return callErr
		})
		if err == nil {
			s.m.Calls.Inc()
			s.m.BatchTags.Observe(float64(len(b.Tags)))
			s.observeLag(s.q.Done(b, sent, s.cfg.Window))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait, backingOff := backoff, true
		var perm interface{ Temporary() bool }
		var throttle interface{ Wait() time.Duration }
		switch {
		case callErr == nil && errors.Is(err, depguard.ErrOpen):
			s.m.Failures.WithLabelValues("breaker_open").Inc()
		case errors.As(callErr, &perm) && !perm.Temporary():
			// Retrying cannot help and would hold every later purge back.
			// Tags are built from validated ids only, so this is a bug
			// or an API change, not bad input.
			s.m.Failures.WithLabelValues("rejected").Inc()
			s.log.Error("cdn refused a purge; dropping the batch", slog.Int("tags", len(b.Tags)), slog.Any("error", callErr))
			s.q.Done(b, time.Now(), 0)
			return nil
		case errors.As(callErr, &throttle) && throttle.Wait() > 0:
			s.m.Failures.WithLabelValues("throttled").Inc()
			wait, backingOff = throttle.Wait(), false
			s.log.Warn("cdn throttled purges", slog.Duration("retry_after", wait))
		default:
			s.m.Failures.WithLabelValues("error").Inc()
			s.log.Warn("purge failed; retrying", slog.Duration("in", wait), slog.Any("error", callErr))
		}
		if backingOff {
			// Jitter so several invalidators do not retry in step.
			wait = backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, s.cfg.MaxBackoff)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Sender) observeLag(times []time.Time) {
	now := time.Now()
	for _, t := range times {
		s.m.Lag.Observe(max(0, now.Sub(t).Seconds()))
	}
}
