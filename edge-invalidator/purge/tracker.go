package purge

import "livecommerce/internal/stock"

// Tracker remembers the last status seen for each sku, so that only changes
// of status purge the edge: the count changes on every sale, and the
// 1-second TTL already covers it.
//
// It is bounded. A sku it does not know (never seen, forgotten to make
// room, or seen by a previous process) counts as changed: one purge too
// many is cheap, one too few shows a stale status. Not safe for concurrent
// use: one consumer loop owns it.
type Tracker struct {
	max  int
	last map[string]seen
}

type seen struct {
	status  stock.Status
	version int64
}

// NewTracker remembers up to n skus (at least 1).
func NewTracker(n int) *Tracker {
	return &Tracker{max: max(1, n), last: make(map[string]seen)}
}

// Changed records ev and reports whether it changes its sku's status. An
// event no newer than the one recorded (a duplicate, or two origins
// publishing out of order) changes nothing.
func (t *Tracker) Changed(ev stock.Event) bool {
	k := ev.LiveID + "/" + ev.SKU
	s, ok := t.last[k]
	if ok && ev.Version <= s.version {
		return false
	}
	if !ok && len(t.last) >= t.max {
		// Forget an arbitrary sku: its next event purges once more.
		for old := range t.last {
			delete(t.last, old)
			break
		}
	}
	t.last[k] = seen{status: ev.Status, version: ev.Version}
	return !ok || s.status != ev.Status
}

// Len is how many skus are remembered.
func (t *Tracker) Len() int { return len(t.last) }
