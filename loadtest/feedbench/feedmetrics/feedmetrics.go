// Package feedmetrics reads the stockfeed's /metrics for the feed
// benchmark, with Prometheus's own text parser: the Go runtime's view of
// the feed's memory, and the feed's own view of its delivery lag over a
// load.
package feedmetrics

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape is one reading of a /metrics page: its metric families by name.
type Scrape map[string]*dto.MetricFamily

// Get reads the metrics at url.
func Get(ctx context.Context, hc *http.Client, url string) (Scrape, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: get %s: %s", url, resp.Status)
	}
	s, err := Parse(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("metrics: %s: %w", url, err)
	}
	return s, nil
}

// Parse reads a Prometheus text exposition.
func Parse(r io.Reader) (Scrape, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	return Scrape(families), nil
}

// series returns the series of family name whose labels are exactly
// labels (name, value pairs), or nil.
func (s Scrape) series(name string, labels ...string) *dto.Metric {
	f := s[name]
	if f == nil {
		return nil
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if i := slices.Index(labels, l.GetName()); i < 0 || i%2 != 0 || labels[i+1] != l.GetValue() {
				match = false
				break
			}
		}
		if match {
			return m
		}
	}
	return nil
}

// Value is the value of a counter, gauge or untyped series of family name
// whose labels are exactly labels (name, value pairs), and whether there
// is one.
func (s Scrape) Value(name string, labels ...string) (float64, bool) {
	m := s.series(name, labels...)
	switch {
	case m == nil:
		return 0, false
	case m.Counter != nil:
		return m.Counter.GetValue(), true
	case m.Gauge != nil:
		return m.Gauge.GetValue(), true
	case m.Untyped != nil:
		return m.Untyped.GetValue(), true
	}
	return 0, false
}

// GoMemory is the Go runtime's own view of the memory a process uses for
// objects and goroutine stacks.
type GoMemory struct {
	HeapInuse  int64
	StackInuse int64
	Goroutines int64
}

// HeapAndStack is the heap and the stacks together.
func (m GoMemory) HeapAndStack() int64 { return m.HeapInuse + m.StackInuse }

// GoMemory reads the Go collector's series.
func (s Scrape) GoMemory() (GoMemory, error) {
	var m GoMemory
	for name, dst := range map[string]*int64{
		"go_memstats_heap_inuse_bytes":  &m.HeapInuse,
		"go_memstats_stack_inuse_bytes": &m.StackInuse,
		"go_goroutines":                 &m.Goroutines,
	} {
		v, ok := s.Value(name)
		if !ok {
			return GoMemory{}, fmt.Errorf("metrics: no %s", name)
		}
		*dst = int64(v)
	}
	return m, nil
}

// ServerLag is the stockfeed's own view of a load, from its /metrics: its
// lag is measured when a write to the socket returns, the bench's when
// the event has been read and parsed on the other side.
type ServerLag struct {
	Deliveries float64 // lag observations (one per stock event written)
	Sum        float64 // seconds
	P99Bound   float64 // smallest bucket bound holding 99% of them; +Inf when beyond the last
	EventsIn   float64 // changes applied
	Coalesced  float64
	EventsOut  float64
	DropSlow   float64
}

// lagMetric is the feed's delivery lag histogram.
const lagMetric = "stockfeed_delivery_lag_seconds"

// LagBetween is what the feed measured between two scrapes.
func LagBetween(before, after Scrape) ServerLag {
	d := func(name string, labels ...string) float64 {
		a, _ := after.Value(name, labels...)
		b, _ := before.Value(name, labels...)
		return a - b
	}
	s := ServerLag{
		EventsIn:  d("stockfeed_events_in_total", "result", "applied"),
		Coalesced: d("stockfeed_events_coalesced_total"),
		EventsOut: d("stockfeed_events_out_total"),
		DropSlow:  d("stockfeed_clients_dropped_total", "reason", "slow_consumer"),
		P99Bound:  math.Inf(1),
	}
	ha, hb := histogram(after), histogram(before)
	if ha == nil {
		return s
	}
	s.Deliveries = float64(ha.GetSampleCount())
	s.Sum = ha.GetSampleSum()
	earlier := map[float64]uint64{}
	if hb != nil {
		s.Deliveries -= float64(hb.GetSampleCount())
		s.Sum -= hb.GetSampleSum()
		for _, b := range hb.GetBucket() {
			earlier[b.GetUpperBound()] = b.GetCumulativeCount()
		}
	}
	// Buckets are cumulative and come in rising bounds.
	for _, b := range ha.GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue
		}
		if float64(b.GetCumulativeCount()-earlier[b.GetUpperBound()]) >= 0.99*s.Deliveries {
			s.P99Bound = b.GetUpperBound()
			break
		}
	}
	return s
}

// histogram is the feed's delivery lag histogram in s, or nil.
func histogram(s Scrape) *dto.Histogram {
	if m := s.series(lagMetric); m != nil {
		return m.GetHistogram()
	}
	return nil
}
