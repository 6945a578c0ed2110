package origintest

import (
	"sync"

	"livecommerce/internal/stock"
)

// Recorder keeps the levels a component publishes, for tests of packages
// that take a one-method publisher. It records; it stands in for nothing
// the test checks the behaviour of.
type Recorder struct {
	mu     sync.Mutex
	levels []stock.Level
}

// Publish records l.
func (r *Recorder) Publish(l stock.Level) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.levels = append(r.levels, l)
}

// Levels returns what was published so far, oldest first.
func (r *Recorder) Levels() []stock.Level {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]stock.Level(nil), r.levels...)
}

// SKUs returns the sku of each published level, oldest first.
func (r *Recorder) SKUs() []string {
	var out []string
	for _, l := range r.Levels() {
		out = append(out, l.SKU)
	}
	return out
}
