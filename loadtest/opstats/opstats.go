// Package opstats records what one kind of operation saw in one phase of
// a load test: latency from each operation's due time, the server's own
// part of it, outcomes by code, and p50 and p99 second by second.
package opstats

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1 µs to 10 minutes (a due
// time the sender fell far behind on), to three significant digits.
const (
	histMaxMicros = int64(10 * time.Minute / time.Microsecond)
	histDigits    = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, histMaxMicros, histDigits) }

// maxSeconds bounds the seconds of a phase's series: a phase is at most a
// warm-up and a duration long, each at most 30 minutes (the scenario's
// bound).
const maxSeconds = 2 * 30 * 60

// Outcome codes besides the contract's error codes.
const (
	CodeOK             = "ok"              // the answer the contract promises
	CodeTimeout        = "timeout"         // no answer within the timeout
	CodeConnection     = "connection"      // the request could not be sent or the answer read
	CodeBadResponse    = "bad_response"    // an answer that breaks the contract (wrong JSON, wrong sku)
	CodeReplayMismatch = "replay_mismatch" // a resent purchase answered with another order
	CodeNotSent        = "not_sent"        // every connection's queue was full: the tool gave up on it
	// A first send answered as a replay: the key was used before.
	CodeUnexpectedReplay = "unexpected_replay"
	// Waited in the tool's queue past twice the timeout; never sent.
	CodeGaveUp = "gave_up_queued"
)

// Stats is what one kind of operation saw in one phase.
type Stats struct {
	name     string
	expected map[string]bool // outcome codes that are part of the scenario

	mu      sync.Mutex
	start   time.Time // the phase's start: series second 0
	measure time.Time // operations due before this are warm-up: series only
	end     time.Time // the measured window's end (zero: no completion count)
	total   *hdrhistogram.Histogram
	// service is the time from the request's first byte on the wire to
	// its answer, for operations due in the window: the part of the
	// latency the server, not the tool's queue, accounts for.
	service  *hdrhistogram.Histogram
	inWindow int64 // answers that arrived within the measured window
	bySecond []*hdrhistogram.Histogram
	codes    map[string]int64
	warmup   int64 // operations due in the warm-up
}

// New returns the stats of operation name in a phase that started at
// start, whose measured window runs from measure to end (a zero end counts
// no completions). Outcomes other than ok and expected count against the
// error budget.
func New(name string, start, measure, end time.Time, expected ...string) *Stats {
	s := &Stats{name: name, start: start, measure: measure, end: end, total: newHist(), service: newHist(), codes: map[string]int64{}, expected: map[string]bool{CodeOK: true}}
	for _, c := range expected {
		s.expected[c] = true
	}
	return s
}

// Record notes one operation due at due that ended now with code.
func (s *Stats) Record(due time.Time, now time.Time, code string) {
	s.Served(due, time.Time{}, now, code)
}

// Served notes one operation due at due, sent at sent (zero when it never
// reached the wire), that ended now with code.
func (s *Stats) Served(due, sent, now time.Time, code string) {
	us := min(max(now.Sub(due).Microseconds(), 1), histMaxMicros)
	sec := int(due.Sub(s.start) / time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	// A phase is at most a warm-up and a duration long; the bound keeps a
	// wild due time from allocating a histogram per second.
	if sec >= 0 && sec < maxSeconds {
		for len(s.bySecond) <= sec {
			s.bySecond = append(s.bySecond, hdrhistogram.New(1, histMaxMicros, 2))
		}
		_ = s.bySecond[sec].RecordValue(us)
	}
	if !s.end.IsZero() && !now.Before(s.measure) && now.Before(s.end) {
		s.inWindow++
	}
	if due.Before(s.measure) {
		s.warmup++
		return
	}
	_ = s.total.RecordValue(us)
	if !sent.IsZero() {
		_ = s.service.RecordValue(min(max(now.Sub(sent).Microseconds(), 1), histMaxMicros))
	}
	s.codes[code]++
}

// Completed is the number of answers that arrived within the window.
func (s *Stats) Completed() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inWindow
}

// Count is the number of measured operations answered so far.
func (s *Stats) Count() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total.TotalCount()
}

// NotSent notes an operation due at due that was never sent. It has no
// latency; it counts against the error budget.
func (s *Stats) NotSent(due time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if due.Before(s.measure) {
		s.warmup++
		return
	}
	s.codes[CodeNotSent]++
}

// Summary is the part of Stats a report shows, taken once the phase is
// over.
type Summary struct {
	Name       string
	Count      int64 // operations due in the measured window, answered or not
	Answered   int64 // of which answered (timeouts included): the histogram's count
	Codes      map[string]int64
	Unexpected int64 // operations whose outcome is not part of the scenario
	P50, P90   time.Duration
	P99, P999  time.Duration
	Max        time.Duration
	Hist       *hdrhistogram.Histogram
	// ServiceP50 and ServiceP99 are the server's part: from the request's
	// first byte on the wire to its answer.
	ServiceP50, ServiceP99 time.Duration
	SeriesP50              []float64 // per second of the phase, in ms (NaN where nothing was due)
	SeriesP99              []float64
	WarmupCount            int64
}

// Summary takes the summary; call it once the phase is over.
func (s *Stats) Summary() Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := func(p float64) time.Duration { return time.Duration(s.total.ValueAtQuantile(p)) * time.Microsecond }
	sum := Summary{
		Name: s.name, Answered: s.total.TotalCount(), Codes: map[string]int64{}, Hist: hdrhistogram.Import(s.total.Export()),
		P50: q(50), P90: q(90), P99: q(99), P999: q(99.9), Max: time.Duration(s.total.Max()) * time.Microsecond,
		WarmupCount: s.warmup,
		ServiceP50:  time.Duration(s.service.ValueAtQuantile(50)) * time.Microsecond,
		ServiceP99:  time.Duration(s.service.ValueAtQuantile(99)) * time.Microsecond,
	}
	for c, n := range s.codes {
		sum.Count += n
		sum.Codes[c] = n
		if !s.expected[c] {
			sum.Unexpected += n
		}
	}
	for _, h := range s.bySecond {
		if h.TotalCount() == 0 {
			sum.SeriesP50 = append(sum.SeriesP50, math.NaN())
			sum.SeriesP99 = append(sum.SeriesP99, math.NaN())
			continue
		}
		sum.SeriesP50 = append(sum.SeriesP50, float64(h.ValueAtQuantile(50))/1000)
		sum.SeriesP99 = append(sum.SeriesP99, float64(h.ValueAtQuantile(99))/1000)
	}
	return sum
}

// SortedCodes lists the outcome codes, most frequent first.
func (s Summary) SortedCodes() []string {
	codes := make([]string, 0, len(s.Codes))
	for c := range s.Codes {
		codes = append(codes, c)
	}
	slices.SortFunc(codes, func(a, b string) int {
		if s.Codes[a] != s.Codes[b] {
			if s.Codes[a] > s.Codes[b] {
				return -1
			}
			return 1
		}
		if a < b {
			return -1
		}
		return 1
	})
	return codes
}

// ErrorRate is the share of unexpected outcomes.
func (s Summary) ErrorRate() float64 {
	if s.Count == 0 {
		return 0
	}
	return float64(s.Unexpected) / float64(s.Count)
}
