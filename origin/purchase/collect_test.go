package purchase

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestCollect: a batch takes what is queued at once and, only while its
// loop's interval has not passed, waits for more; it never passes
// MaxBatch and says when the queue was closed.
func TestCollect(t *testing.T) {
	c := &Committer{opts: CommitterOptions{MaxBatch: 3}}
	newTimer := func() *time.Timer { tm := time.NewTimer(time.Hour); tm.Stop(); return tm }

	t.Run("idle loop: only what is queued, at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ch := make(chan *job, 10)
			ch <- &job{}
			start := time.Now()
			batch, open := c.collect(ch, &job{}, 0, newTimer())
			if len(batch) != 2 || !open || time.Since(start) != 0 {
				t.Errorf("got %d jobs, open %v, after %v; want 2, true, at once", len(batch), open, time.Since(start))
			}
		})
	})

	t.Run("busy loop: waits out the interval for company", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ch := make(chan *job, 10)
			go func() {
				time.Sleep(2 * time.Millisecond)
				ch <- &job{}
			}()
			start := time.Now()
			batch, open := c.collect(ch, &job{}, 5*time.Millisecond, newTimer())
			if len(batch) != 2 || !open || time.Since(start) != 5*time.Millisecond {
				t.Errorf("got %d jobs, open %v, after %v; want 2, true, after 5ms", len(batch), open, time.Since(start))
			}
		})
	})

	t.Run("a full batch does not wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ch := make(chan *job, 10)
			for range 5 {
				ch <- &job{}
			}
			start := time.Now()
			batch, _ := c.collect(ch, &job{}, time.Second, newTimer())
			if len(batch) != 3 || len(ch) != 3 || time.Since(start) != 0 {
				t.Errorf("got %d jobs with %d left, after %v; want MaxBatch 3 with 3 left, at once", len(batch), len(ch), time.Since(start))
			}
		})
	})

	t.Run("closed queue", func(t *testing.T) {
		for _, wait := range []time.Duration{0, time.Second} {
			synctest.Test(t, func(t *testing.T) {
				ch := make(chan *job, 10)
				ch <- &job{}
				close(ch)
				batch, open := c.collect(ch, &job{}, wait, newTimer())
				if len(batch) != 2 || open {
					t.Errorf("wait %v: got %d jobs, open %v; want 2 and closed", wait, len(batch), open)
				}
			})
		}
	})

	t.Run("the timer is left stopped and drained", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tm := newTimer()
			ch := make(chan *job, 10)
			c.collect(ch, &job{}, time.Millisecond, tm)
			select {
			case <-tm.C:
				t.Error("a fire of this batch's timer was left for the next one")
			default:
			}
			// A timer reset for the next batch fires then, not before.
			start := time.Now()
			c.collect(ch, &job{}, 3*time.Millisecond, tm)
			if time.Since(start) != 3*time.Millisecond {
				t.Errorf("next batch waited %v, want 3ms", time.Since(start))
			}
		})
	})
}
