package depguard_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sony/gobreaker/v2"

	"livecommerce/internal/depguard"
	"livecommerce/internal/stock"
)

var errDown = errors.New("connection refused")

// fail runs n failing calls through g.
func fail(t *testing.T, g *depguard.Guard, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := g.Do(func() error { return errDown }); err == nil {
			t.Fatalf("failing call %d returned nil", i+1)
		}
	}
}

// calls counts how often the guarded function ran.
func calls(t *testing.T, g *depguard.Guard, result error) (err error, ran bool) {
	t.Helper()
	err = g.Do(func() error { ran = true; return result })
	return err, ran
}

func TestFailuresAreWrapped(t *testing.T) {
	g := depguard.New("redis", depguard.Settings{})
	err := g.Do(func() error { return errDown })
	if !errors.Is(err, stock.ErrUnavailable) {
		t.Errorf("Do(failing) = %v, want it to wrap stock.ErrUnavailable", err)
	}
	if !errors.Is(err, errDown) {
		t.Errorf("Do(failing) = %v, want it to wrap the cause", err)
	}
	if err := g.Do(func() error { return nil }); err != nil {
		t.Errorf("Do(succeeding) = %v, want nil", err)
	}
	if got, want := g.Name(), "redis"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
}

func TestOpensAfterConsecutiveFailures(t *testing.T) {
	tests := []struct {
		name      string
		settings  depguard.Settings
		threshold int
	}{
		{"default of 5", depguard.Settings{}, 5},
		{"custom 2", depguard.Settings{ConsecutiveFailures: 2}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := depguard.New("mysql", tt.settings)
			fail(t, g, tt.threshold-1)
			if g.Open() {
				t.Fatalf("open after %d failures, want closed until %d", tt.threshold-1, tt.threshold)
			}
			fail(t, g, 1)
			if !g.Open() {
				t.Fatalf("closed after %d failures, want open", tt.threshold)
			}
			if got, want := g.State(), gobreaker.StateOpen; got != want {
				t.Errorf("State() = %v, want %v", got, want)
			}
			err, ran := calls(t, g, nil)
			if ran {
				t.Error("fn ran while the breaker was open")
			}
			if !errors.Is(err, stock.ErrUnavailable) {
				t.Errorf("Do while open = %v, want stock.ErrUnavailable", err)
			}
		})
	}
}

func TestSuccessResetsTheStreak(t *testing.T) {
	g := depguard.New("redis", depguard.Settings{})
	for i := 0; i < 10; i++ {
		fail(t, g, 4)
		if err := g.Do(func() error { return nil }); err != nil {
			t.Fatalf("Do(succeeding) = %v", err)
		}
	}
	if g.Open() {
		t.Error("open after failures that were never 5 in a row, want closed")
	}
}

func TestCanceledIsNotAFailure(t *testing.T) {
	g := depguard.New("redis", depguard.Settings{})
	for i := 0; i < 20; i++ {
		err, ran := calls(t, g, fmt.Errorf("redis: get: %w", context.Canceled))
		if !ran {
			t.Fatalf("call %d: fn did not run", i+1)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("call %d: err = %v, want context.Canceled", i+1, err)
		}
		if errors.Is(err, stock.ErrUnavailable) {
			t.Errorf("call %d: err = %v, want no stock.ErrUnavailable: the caller gave up, the dependency did not fail", i+1, err)
		}
	}
	if g.Open() {
		t.Error("open after canceled calls only, want closed")
	}
}

// A canceled call says nothing about the dependency, either way: it must not
// break a run of failures (clients hanging up on a slow dependency would
// otherwise keep the breaker shut forever) nor count as a successful probe.
func TestCanceledIsNeutral(t *testing.T) {
	t.Run("does not reset the failure streak", func(t *testing.T) {
		g := depguard.New("redis", depguard.Settings{})
		fail(t, g, 4)
		calls(t, g, context.Canceled)
		fail(t, g, 1)
		if !g.Open() {
			t.Error("closed after 5 failures with one canceled call among them, want open: " +
				"depguard.New's IsSuccessful counts context.Canceled as a success, which resets ConsecutiveFailures")
		}
	})
	t.Run("does not close a half-open breaker", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			g := depguard.New("redis", depguard.Settings{OpenFor: 50 * time.Millisecond})
			fail(t, g, 5)
			time.Sleep(60 * time.Millisecond)
			for i := 0; i < 3; i++ {
				calls(t, g, context.Canceled)
			}
			if got := g.State(); got == gobreaker.StateClosed {
				t.Errorf("State() after 3 canceled probes = %v, want still half-open: "+
					"no probe showed the dependency works, yet IsSuccessful counts context.Canceled as a success", got)
			}
		})
	})
}

func TestHalfOpenAfterOpenFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var transitions []string
		g := depguard.New("mysql", depguard.Settings{
			OpenFor: 50 * time.Millisecond,
			OnStateChange: func(name string, from, to gobreaker.State) {
				mu.Lock()
				defer mu.Unlock()
				transitions = append(transitions, name+":"+from.String()+"->"+to.String())
			},
		})
		fail(t, g, 5)
		time.Sleep(40 * time.Millisecond)
		if _, ran := calls(t, g, nil); ran {
			t.Fatal("fn ran 40ms into a 50ms OpenFor, want refused")
		}
		time.Sleep(20 * time.Millisecond)
		if got, want := g.State(), gobreaker.StateHalfOpen; got != want {
			t.Fatalf("State() after OpenFor = %v, want %v", got, want)
		}
		if g.Open() {
			t.Error("Open() = true while half-open, want false")
		}
		// Successful probes close it.
		for i := 0; i < 3; i++ {
			err, ran := calls(t, g, nil)
			if err != nil || !ran {
				t.Fatalf("probe %d: err %v, ran %v; want nil, true", i+1, err, ran)
			}
		}
		if got, want := g.State(), gobreaker.StateClosed; got != want {
			t.Fatalf("State() after successful probes = %v, want %v", got, want)
		}
		// Closed again means a fresh count: it takes 5 new failures.
		fail(t, g, 4)
		if g.Open() {
			t.Error("open after 4 failures following recovery, want closed")
		}
		mu.Lock()
		defer mu.Unlock()
		want := []string{"mysql:closed->open", "mysql:open->half-open", "mysql:half-open->closed"}
		if fmt.Sprint(transitions) != fmt.Sprint(want) {
			t.Errorf("transitions = %v, want %v", transitions, want)
		}
	})
}

func TestHalfOpenFailureReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := depguard.New("redis", depguard.Settings{OpenFor: 50 * time.Millisecond})
		fail(t, g, 5)
		time.Sleep(60 * time.Millisecond)
		err, ran := calls(t, g, errDown)
		if !ran {
			t.Fatal("probe did not run after OpenFor")
		}
		if !errors.Is(err, stock.ErrUnavailable) || !errors.Is(err, errDown) {
			t.Errorf("failed probe = %v, want stock.ErrUnavailable wrapping the cause", err)
		}
		if !g.Open() {
			t.Fatal("a failed probe left the breaker closed, want open again")
		}
		if _, ran := calls(t, g, nil); ran {
			t.Error("fn ran right after a failed probe, want refused for another OpenFor")
		}
	})
}

func TestDefaultOpenFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := depguard.New("redis", depguard.Settings{})
		fail(t, g, 5)
		time.Sleep(1900 * time.Millisecond)
		if !g.Open() {
			t.Error("closed 1.9s after opening, want open for the default 2s")
		}
		time.Sleep(200 * time.Millisecond)
		if g.Open() {
			t.Error("still open 2.1s after opening, want half-open")
		}
	})
}
