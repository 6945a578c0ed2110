// Package depguard puts a circuit breaker (sony/gobreaker) in front of a
// dependency such as Redis or MySQL, so that an outage answers in
// microseconds with stock.ErrUnavailable instead of piling up requests that
// each wait for their own timeout.
package depguard

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sony/gobreaker/v2"

	"livecommerce/internal/stock"
)

// ErrOpen: the breaker refused the call without making it.
var ErrOpen = errors.New("circuit open")

// Settings tune a Guard. Zero values take the defaults noted.
type Settings struct {
	// ConsecutiveFailures that open the breaker (default 5).
	ConsecutiveFailures uint32
	// OpenFor is how long the breaker stays open before letting probes
	// through (default 2s).
	OpenFor time.Duration
	// OnStateChange is called on every transition, e.g. for logs and metrics.
	OnStateChange func(name string, from, to gobreaker.State)
}

// Guard wraps calls to one dependency.
type Guard struct {
	name string
	cb   *gobreaker.CircuitBreaker[struct{}]
}

// New returns a Guard named after its dependency ("redis", "mysql").
func New(name string, s Settings) *Guard {
	if s.ConsecutiveFailures == 0 {
		s.ConsecutiveFailures = 5
	}
	if s.OpenFor <= 0 {
		s.OpenFor = 2 * time.Second
	}
	st := gobreaker.Settings{
		Name:        name,
		MaxRequests: 3,
		Timeout:     s.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= s.ConsecutiveFailures
		},
		// A caller that gave up says nothing about the dependency either
		// way: it neither opens the breaker nor counts as a success that
		// would close it.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
	}
	if s.OnStateChange != nil {
		st.OnStateChange = func(name string, from, to gobreaker.State) { s.OnStateChange(name, from, to) }
	}
	return &Guard{name: name, cb: gobreaker.NewCircuitBreaker[struct{}](st)}
}

// Do runs fn through the breaker. Failures of fn come back wrapped in
// stock.ErrUnavailable as well as in their own error, so callers can test for
// either; an open breaker returns stock.ErrUnavailable without calling fn.
func (g *Guard) Do(fn func() error) error {
	_, err := g.cb.Execute(func() (struct{}, error) { return struct{}{}, fn() })
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return fmt.Errorf("%w: %s: %w", stock.ErrUnavailable, g.name, ErrOpen)
	case errors.Is(err, context.Canceled):
		return err
	default:
		return fmt.Errorf("%w: %s: %w", stock.ErrUnavailable, g.name, err)
	}
}

// Open reports whether calls are currently refused, so a caller can fail
// fast before doing work it would have to undo.
func (g *Guard) Open() bool { return g.cb.State() == gobreaker.StateOpen }

// State is the breaker's state, for readiness and metrics.
func (g *Guard) State() gobreaker.State { return g.cb.State() }

// Name is the dependency's name.
func (g *Guard) Name() string { return g.name }
