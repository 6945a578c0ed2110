package pause

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if err := For(t.Context(), time.Second); err != nil {
			t.Fatalf("got %v, want nil", err)
		}
		if got := time.Since(start); got != time.Second {
			t.Errorf("waited %s, want 1s", got)
		}
	})
}

func TestForEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := For(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want %v", err, context.DeadlineExceeded)
		}
		if got := time.Since(start); got != 100*time.Millisecond {
			t.Errorf("waited %s, want 100ms", got)
		}
	})
}
