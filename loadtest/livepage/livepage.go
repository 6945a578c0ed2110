// Package livepage is a live page as the load tools play it: one event
// stream of one live, and what the page makes of it. A page keeps the
// last version of each product, counts the stock events it read, those
// out of order and those it could not read, and records each change's
// lag from its updated_at to the moment the page read it. The load
// generator's live pages and the feed benchmark's viewers are both pages.
package livepage

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"livecommerce/internal/feedclient"
	"livecommerce/internal/sseclient"
	"livecommerce/internal/stock"
)

// Page is one live page. Its stream is read by one goroutine, which alone
// writes the counters; they are read once it has stopped. The versions
// are atomics, because the end of a run checks them while pages still
// read.
type Page struct {
	liveID    string
	skus      map[string]int // sku -> position in versions; shared with other pages, read only
	recording *atomic.Bool   // lags are recorded while it holds true; nil: always
	versions  []atomic.Int64
	started   bool // a snapshot or a stock event was read

	Lag         *hdrhistogram.Histogram // µs from a change's updated_at to the page reading it
	Early       int64                   // changes read before their updated_at (clock rounding), recorded as 0
	Events      int64                   // stock events read
	Reordered   int64                   // stock events of a version older than or equal to one already seen
	Malformed   int64                   // events that could not be read, or named another live or an unknown sku
	Resnapshots int64                   // snapshots after the first: a reconnect that lost its place
	Disconnect  string                  // the reason of an `event: disconnect`, if one came
}

// New returns a page of liveID, whose products are the keys of skus (their
// values are the products' positions, 0 to len-1). Lags are recorded while
// recording holds true, or always when it is nil.
func New(liveID string, skus map[string]int, recording *atomic.Bool) *Page {
	return &Page{liveID: liveID, skus: skus, recording: recording, versions: make([]atomic.Int64, len(skus)), Lag: feedclient.NewLagHistogram()}
}

// Handle takes one event of the page's stream, read at now.
func (p *Page) Handle(b sseclient.Block, now time.Time) {
	switch b.Type {
	case "snapshot":
		if p.started {
			p.Resnapshots++
		}
		p.started = true
		var snap struct {
			Products []stock.Level `json:"products"`
		}
		if json.Unmarshal([]byte(b.Data), &snap) != nil {
			p.Malformed++
			return
		}
		// A snapshot never takes a version back: it may have been taken
		// before a change the page already read.
		for _, l := range snap.Products {
			if i, ok := p.skus[l.SKU]; ok && l.Version > p.versions[i].Load() {
				p.versions[i].Store(l.Version)
			}
		}
	case "stock":
		c, err := feedclient.ParseChange(p.liveID, b.LastEventID, b.Data)
		i, ok := p.skus[c.SKU]
		if err != nil || !ok {
			p.Malformed++
			return
		}
		p.started = true
		p.Events++
		if c.Version <= p.versions[i].Load() {
			p.Reordered++
			return
		}
		p.versions[i].Store(c.Version)
		if p.recording == nil || p.recording.Load() {
			lag := now.Sub(c.UpdatedAt).Microseconds()
			if lag < 0 {
				p.Early++
				lag = 0
			}
			_ = p.Lag.RecordValue(min(lag, feedclient.LagMax))
		}
	case "disconnect":
		var d struct {
			Reason string `json:"reason"`
		}
		if json.Unmarshal([]byte(b.Data), &d) != nil || d.Reason == "" {
			d.Reason = "unreadable"
		}
		p.Disconnect = d.Reason
	}
}

// Open opens the page's stream at addr and path and reads its first
// event: the live's snapshot, unless the page resumes after lastEventID
// (then the feed may go straight on with what the page missed).
func (p *Page) Open(ctx context.Context, addr, path string, header http.Header, lastEventID string, timeout time.Duration) (*feedclient.Stream, error) {
	if lastEventID != "" {
		header = header.Clone()
		if header == nil {
			header = http.Header{}
		}
		header.Set("Last-Event-ID", lastEventID)
	}
	s, err := feedclient.Open(ctx, addr, path, header, timeout)
	if err != nil {
		return nil, err
	}
	// Closing the connection is what ends a blocked read when ctx ends.
	stop := s.CloseOn(ctx)
	defer stop()
	b, err := s.NextEvent()
	if err == nil && b.Type != "snapshot" && lastEventID == "" {
		err = fmt.Errorf("first event is %q, want snapshot", b.Type)
	}
	if err == nil {
		p.Handle(b, time.Now())
		err = s.Ready()
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Read handles the stream's events until it ends, and returns why, with
// the id of the last event that carried one, for a reconnect to resume
// from.
func (p *Page) Read(s *feedclient.Stream) (lastEventID string, err error) {
	for {
		b, err := s.Next()
		if err != nil {
			return lastEventID, err
		}
		if b.LastEventID != "" {
			lastEventID = b.LastEventID
		}
		p.Handle(b, time.Now())
	}
}

// Versions are the last versions the page saw, by position.
func (p *Page) Versions() []int64 {
	out := make([]int64, len(p.versions))
	for i := range p.versions {
		out[i] = p.versions[i].Load()
	}
	return out
}

// Reached reports whether the page has seen at least version want[i] of
// the product at each position i.
func (p *Page) Reached(want []int64) bool {
	for i, w := range want {
		if p.versions[i].Load() < w {
			return false
		}
	}
	return true
}
