package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"livecommerce/internal/sseclient"
	"livecommerce/internal/stock"
)

// Lag is recorded in microseconds up to a minute, to two significant
// digits (1%): about 20 KiB of counters per viewer, where three digits
// would cost 140 KiB each and 1.4 GB for 10,000 viewers.
const (
	lagMaxMicros = int64(time.Minute / time.Microsecond)
	lagDigits    = 2
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
		lag:      hdrhistogram.New(0, lagMaxMicros, lagDigits),
		done:     make(chan struct{}),
	}
}

// run connects, reads the snapshot, calls connected (nil on success) and
// goes on reading until the stream ends or ctx does.
func (v *viewer) run(ctx context.Context, addr, path string, timeout time.Duration, connected func(error)) {
	defer close(v.done)
	s, err := openStream(ctx, addr, path, timeout)
	if err != nil {
		v.endErr = err
		connected(err)
		return
	}
	// Closing the connection is what ends a blocked read, the snapshot's
	// included, when the run is over or interrupted.
	stop := s.closeOn(ctx)
	defer stop()
	defer s.conn.Close()
	if err := v.readSnapshot(s); err != nil {
		v.endErr = err
		connected(err)
		return
	}
	connected(nil)
	for {
		b, err := s.r.Next()
		if err != nil {
			if ctx.Err() == nil {
				v.endErr = err
			}
			return
		}
		v.handle(b, time.Now())
	}
}

func (v *viewer) readSnapshot(s *stream) error {
	b, err := s.nextEvent()
	if err == nil && b.Type != "snapshot" {
		err = fmt.Errorf("first event is %q, want snapshot", b.Type)
	}
	if err == nil {
		err = v.applySnapshot(b.Data)
	}
	if err == nil {
		err = s.ready()
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
	c, err := parseChange(v.liveID, b.LastEventID, b.Data)
	i, known := v.skus[c.sku]
	if err != nil || !known {
		v.malformed++
		return
	}
	v.events++
	lag := now.Sub(c.updatedAt).Microseconds()
	_ = v.lag.RecordValue(min(max(lag, 0), lagMaxMicros))
	if c.version <= v.versions[i].Load() {
		v.reordered++
		return
	}
	v.versions[i].Store(c.version)
}

// change is what a viewer needs from a stock event.
type change struct {
	sku       string
	version   int64
	updatedAt time.Time
}

// parseChange reads a stock event of live: its id "{sku}:{version}" and
// its data, a stock object that must name the same sku and version, and
// the live.
func parseChange(live, id, data string) (change, error) {
	if c, ok := quickChange(live, id, data); ok {
		return c, nil
	}
	var l stock.Level
	if err := json.Unmarshal([]byte(data), &l); err != nil {
		return change{}, fmt.Errorf("stock event: %w", err)
	}
	if l.SKU == "" || l.Version == 0 || l.UpdatedAt.IsZero() {
		return change{}, errors.New("stock event: missing sku, version or updated_at")
	}
	if id != l.SKU+":"+strconv.FormatInt(l.Version, 10) {
		return change{}, fmt.Errorf("stock event: id %q does not name sku %s version %d", id, l.SKU, l.Version)
	}
	if l.LiveID != live {
		return change{}, fmt.Errorf("stock event: live %q on the stream of live %q", l.LiveID, live)
	}
	return change{l.SKU, l.Version, l.UpdatedAt}, nil
}

// quickChange reads the compact JSON the feed writes, whose fields come in
// stock.Level's order, without decoding it: at 100 changes a second to
// 10,000 viewers the bench reads a million events a second on the same
// machine as the feed, and every microsecond it spends is taken from the
// feed. Anything unexpected falls back to a full decode.
func quickChange(live, id, data string) (change, bool) {
	i := strings.LastIndexByte(id, ':')
	if i <= 0 {
		return change{}, false
	}
	sku, ver := id[:i], id[i+1:]
	v, err := strconv.ParseInt(ver, 10, 64)
	if err != nil {
		return change{}, false
	}
	rest, ok := strings.CutPrefix(data, `{"sku":"`)
	rest, ok = cutPrefix(rest, ok, sku)
	rest, ok = cutPrefix(rest, ok, `","live_id":"`)
	rest, ok = cutPrefix(rest, ok, live)
	if !ok || !strings.HasPrefix(rest, `"`) {
		return change{}, false
	}
	// version and updated_at are the last two fields.
	_, rest, ok = strings.Cut(rest, `"version":`)
	rest, ok = cutPrefix(rest, ok, ver)
	if rest, ok = cutPrefix(rest, ok, `,`); !ok {
		return change{}, false
	}
	at, ok := jsonString(rest, `"updated_at":`)
	if !ok {
		return change{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return change{}, false
	}
	return change{sku, v, t}, true
}

// cutPrefix is strings.CutPrefix that does nothing once a cut failed.
func cutPrefix(s string, ok bool, prefix string) (string, bool) {
	if !ok {
		return s, false
	}
	return strings.CutPrefix(s, prefix)
}

// jsonString finds key ("name":) followed by a string in flat JSON and
// returns the string when it holds no escapes.
func jsonString(data, key string) (string, bool) {
	rest, ok := strings.CutPrefix(afterKey(data, key), `"`)
	if !ok {
		return "", false
	}
	end := strings.IndexByte(rest, '"')
	if end < 0 || strings.IndexByte(rest[:end], '\\') >= 0 {
		return "", false
	}
	return rest[:end], true
}

// afterKey is what follows key in data ("" when key is not there).
func afterKey(data, key string) string {
	_, rest, _ := strings.Cut(data, key)
	return rest
}
