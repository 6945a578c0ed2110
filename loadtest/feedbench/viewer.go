package feedbench

import (
	"context"
	"errors"
	"time"

	"livecommerce/loadtest/livepage"
)

// viewer is one simulated live page: an event stream, read by its own
// goroutine, that records what it sees without sharing a lock with the
// other viewers.
type viewer struct {
	live int // index of its live in the run's lives
	page *livepage.Page

	// Written by the viewer's goroutine; read once done is closed.
	endErr error // why the stream ended, when the bench did not end it
	done   chan struct{}
}

// newViewer is a viewer of liveID; skus maps each sku of a live to its
// position (shared, read only).
func newViewer(live int, liveID string, skus map[string]int) *viewer {
	return &viewer{live: live, page: livepage.New(liveID, skus, nil), done: make(chan struct{})}
}

// run connects, reads the snapshot, calls connected (nil on success) and
// goes on reading until the stream ends or ctx does.
func (v *viewer) run(ctx context.Context, addr, path string, timeout time.Duration, connected func(error)) {
	defer close(v.done)
	s, err := v.page.Open(ctx, addr, path, nil, "", timeout)
	if err == nil && v.page.Malformed > 0 {
		s.Close()
		err = errors.New("snapshot: unreadable")
	}
	if err != nil {
		v.endErr = err
		connected(err)
		return
	}
	// Closing the connection is what ends a blocked read when the run is
	// over or interrupted.
	stop := s.CloseOn(ctx)
	defer stop()
	defer s.Close()
	connected(nil)
	if _, err := v.page.Read(s); ctx.Err() == nil {
		v.endErr = err
	}
}
