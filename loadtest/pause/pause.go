// Package pause waits the way every load tool here must: for a while, or
// until the run is stopped, whichever comes first, so that an interrupt
// never waits out a sleep.
package pause

import (
	"context"
	"time"
)

// For waits d or until ctx ends, and returns ctx's error in the second
// case. Callers that check ctx themselves afterwards may ignore it.
func For(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
