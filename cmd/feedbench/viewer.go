package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"livecommerce/internal/feedclient"
	"livecommerce/internal/sseclient"
	"livecommerce/internal/stock"
)

// viewer is one simulated live page: an event stream, read by its own
// goroutine, that records what it sees without sharing a lock with the
// other viewers.
type viewer struct {
	live   int            // index of its live in the run's lives
	liveID string         // that live's id, which every event must name
	skus   map[string]int // sku -> index in versions; shared, read only

	// versions holds the last version seen of each sku. The final check
	// reads it while the viewer may still be reading, hence atomics.
	versions []atomic.Int64

	// The rest is written by the viewer's goroutine only, and read once
	// done is closed.
	lag        *hdrhistogram.Histogram
	events     int    // stock events read
	reordered  int    // stock events older than or equal to one already seen
	malformed  int    // stock events the bench could not read, or of another live
	snapshots  int    // snapshot events after the first (there should be none)
	disconnect string // reason of an `event: disconnect`, if one came
	endErr     error  // why the stream ended, when the bench did not end it
	done       chan struct{}
}

func newViewer(live int, liveID string, skus map[string]int) *viewer {
	return &viewer{
		live:     live,
		liveID:   liveID,
		skus:     skus,
		versions: make([]atomic.Int64, len(skus)),
		lag:      feedclient.NewLagHistogram(),
		done:     make(chan struct{}),
	}
}

// run connects, reads the snapshot, calls connected (nil on success) and
// goes on reading until the stream ends or ctx does.
func (v *viewer) run(ctx context.Context, addr, path string, timeout time.Duration, connected func(error)) {
	defer close(v.done)
	s, err := feedclient.Open(ctx, addr, path, nil, timeout)
	if err != nil {
		v.endErr = err
		connected(err)
		return
	}
	// Closing the connection is what ends a blocked read, the snapshot's
	// included, when the run is over or interrupted.
	stop := s.CloseOn(ctx)
	defer stop()
	defer s.Close()
	if err := v.readSnapshot(s); err != nil {
		v.endErr = err
		connected(err)
		return
	}
	connected(nil)
	for {
		b, err := s.Next()
		if err != nil {
			if ctx.Err() == nil {
				v.endErr = err
			}
			return
		}
		v.handle(b, time.Now())
	}
}

func (v *viewer) readSnapshot(s *feedclient.Stream) error {
	b, err := s.NextEvent()
	if err == nil && b.Type != "snapshot" {
		err = fmt.Errorf("first event is %q, want snapshot", b.Type)
	}
	if err == nil {
		err = v.applySnapshot(b.Data)
	}
	if err == nil {
		err = s.Ready()
	}
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

func (v *viewer) applySnapshot(data string) error {
	var snap struct {
		Products []stock.Level `json:"products"`
	}
	if err := json.Unmarshal([]byte(data), &snap); err != nil {
		return err
	}
	for _, p := range snap.Products {
		if i, ok := v.skus[p.SKU]; ok {
			v.versions[i].Store(p.Version)
		}
	}
	return nil
}

func (v *viewer) handle(b sseclient.Block, now time.Time) {
	switch b.Type {
	case "stock":
		v.onStock(b, now)
	case "snapshot":
		v.snapshots++
		_ = v.applySnapshot(b.Data)
	case "disconnect":
		var d struct {
			Reason string `json:"reason"`
		}
		if json.Unmarshal([]byte(b.Data), &d) != nil || d.Reason == "" {
			d.Reason = "unreadable"
		}
		v.disconnect = d.Reason
	}
}

func (v *viewer) onStock(b sseclient.Block, now time.Time) {
	c, err := feedclient.ParseChange(v.liveID, b.LastEventID, b.Data)
	i, known := v.skus[c.SKU]
	if err != nil || !known {
		v.malformed++
		return
	}
	v.events++
	lag := now.Sub(c.UpdatedAt).Microseconds()
	_ = v.lag.RecordValue(min(max(lag, 0), feedclient.LagMax))
	if c.Version <= v.versions[i].Load() {
		v.reordered++
		return
	}
	v.versions[i].Store(c.Version)
}
