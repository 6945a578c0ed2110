package flight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"livecommerce/internal/stock"
)

func TestDoSharesOneCallAndHonoursEachContext(t *testing.T) {
	var g Group
	var calls atomic.Int32
	release := make(chan struct{})
	fn := func() (any, error) {
		calls.Add(1)
		<-release
		return "value", nil
	}
	var wg sync.WaitGroup
	results := make([]any, 5)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = g.Do(context.Background(), "k", fn)
		}()
	}
	// A caller with a short deadline stops waiting; the shared call goes on.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := g.Do(ctx, "k", fn); !errors.Is(err, stock.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("impatient caller: got %v, want stock.ErrUnavailable wrapping the deadline", err)
	}
	close(release)
	wg.Wait()
	for i, r := range results {
		if r != "value" {
			t.Errorf("caller %d: got %v, want the shared value", i, r)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("fn ran %d times, want 1", n)
	}
}
