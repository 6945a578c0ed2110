package opstats

import (
	"math"
	"slices"
	"testing"
	"time"
)

// recorderStart is a fixed phase start: the recorder never reads the clock.
var recorderStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestOpStatsWarmupIsSeriesOnly(t *testing.T) {
	measure := recorderStart.Add(2 * time.Second)
	s := New("read", recorderStart, measure, time.Time{})
	// Second 0 and 1 are warm-up, second 3 is measured, second 2 is
	// empty.
	for _, at := range []time.Duration{100 * time.Millisecond, 1500 * time.Millisecond, 3200 * time.Millisecond} {
		due := recorderStart.Add(at)
		s.Record(due, due.Add(4*time.Millisecond), CodeOK)
	}
	sum := s.Summary()
	if sum.Count != 1 || sum.Answered != 1 || s.Count() != 1 {
		t.Errorf("measured: got Count %d, Answered %d, Count() %d; want 1", sum.Count, sum.Answered, s.Count())
	}
	if sum.WarmupCount != 2 {
		t.Errorf("WarmupCount: got %d, want 2", sum.WarmupCount)
	}
	if len(sum.SeriesP50) != 4 || len(sum.SeriesP99) != 4 {
		t.Fatalf("series: got %d and %d seconds, want 4", len(sum.SeriesP50), len(sum.SeriesP99))
	}
	for _, sec := range []int{0, 1, 3} {
		if v := sum.SeriesP99[sec]; math.Abs(v-4) > 0.05 {
			t.Errorf("second %d: got p99 %g ms, want 4", sec, v)
		}
	}
	if !math.IsNaN(sum.SeriesP50[2]) || !math.IsNaN(sum.SeriesP99[2]) {
		t.Errorf("second 2: got %g and %g, want NaN where nothing was due", sum.SeriesP50[2], sum.SeriesP99[2])
	}
}

func TestOpStatsPercentiles(t *testing.T) {
	s := New("purchase", recorderStart, recorderStart, time.Time{})
	// 1 ms to 1000 ms, one of each.
	for i := 1; i <= 1000; i++ {
		due := recorderStart.Add(time.Duration(i) * time.Millisecond)
		s.Record(due, due.Add(time.Duration(i)*time.Millisecond), CodeOK)
	}
	sum := s.Summary()
	near := func(name string, got, want time.Duration) {
		t.Helper()
		if d := got - want; d < -want/100 || d > want/100 {
			t.Errorf("%s: got %s, want %s ± 1%%", name, got, want)
		}
	}
	near("p50", sum.P50, 500*time.Millisecond)
	near("p90", sum.P90, 900*time.Millisecond)
	near("p99", sum.P99, 990*time.Millisecond)
	near("p99.9", sum.P999, 999*time.Millisecond)
	near("max", sum.Max, time.Second)
	if !(sum.P50 <= sum.P90 && sum.P90 <= sum.P99 && sum.P99 <= sum.P999 && sum.P999 <= sum.Max) {
		t.Errorf("percentiles out of order: %s %s %s %s %s", sum.P50, sum.P90, sum.P99, sum.P999, sum.Max)
	}
	if sum.Hist == nil || sum.Hist.TotalCount() != 1000 {
		t.Errorf("Hist: got %v, want a copy holding 1000 values", sum.Hist)
	}
	// The summary's histogram is a copy: recording more leaves it alone.
	s.Record(recorderStart, recorderStart.Add(time.Millisecond), CodeOK)
	if sum.Hist.TotalCount() != 1000 {
		t.Errorf("Hist: got %d values after a later record, want the 1000 of the summary", sum.Hist.TotalCount())
	}
}

func TestOpStatsErrorRate(t *testing.T) {
	s := New("purchase", recorderStart, recorderStart, time.Time{}, "sold_out", "purchase_limit_exceeded")
	record := func(code string, n int) {
		for range n {
			s.Record(recorderStart, recorderStart.Add(time.Millisecond), code)
		}
	}
	record(CodeOK, 85)
	record("sold_out", 5)
	record("purchase_limit_exceeded", 2)
	record(CodeTimeout, 3)
	record("http_500", 1)
	for range 4 {
		s.NotSent(recorderStart.Add(time.Second))
	}
	s.NotSent(recorderStart.Add(-time.Second)) // warm-up: not counted
	sum := s.Summary()
	if sum.Count != 100 || sum.Answered != 96 {
		t.Errorf("got Count %d and Answered %d, want 100 and 96", sum.Count, sum.Answered)
	}
	if sum.Unexpected != 8 {
		t.Errorf("Unexpected: got %d, want 8 (timeouts, the 500 and the ones not sent)", sum.Unexpected)
	}
	if got := sum.ErrorRate(); math.Abs(got-0.08) > 1e-12 {
		t.Errorf("ErrorRate: got %g, want 0.08", got)
	}
	if sum.Codes[CodeNotSent] != 4 || sum.WarmupCount != 1 {
		t.Errorf("not sent: got %d measured and %d warm-up, want 4 and 1", sum.Codes[CodeNotSent], sum.WarmupCount)
	}
	if got := (Summary{}).ErrorRate(); got != 0 {
		t.Errorf("ErrorRate of nothing: got %g, want 0", got)
	}
}

func TestSortedCodes(t *testing.T) {
	s := Summary{Codes: map[string]int64{"ok": 50, "timeout": 3, "sold_out": 7, "connection": 3, "http_500": 1, "bad_response": 7}}
	want := []string{"ok", "bad_response", "sold_out", "connection", "timeout", "http_500"}
	if got := s.SortedCodes(); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := (Summary{}).SortedCodes(); len(got) != 0 {
		t.Errorf("no codes: got %v", got)
	}
}

func TestOpStatsClampsOddTimes(t *testing.T) {
	s := New("read", recorderStart, recorderStart, time.Time{})
	// Ended before it was due (a clock step): 1 µs, in its second.
	s.Record(recorderStart.Add(2500*time.Millisecond), recorderStart, CodeOK)
	// Due long before the phase: the longest latency, in no second.
	s.Record(recorderStart.Add(-time.Hour), recorderStart.Add(time.Second), CodeOK)
	// The zero time, as an uninitialised due would be.
	s.Record(time.Time{}, recorderStart, CodeOK)
	sum := s.Summary()
	if sum.Answered != 1 || sum.WarmupCount != 2 {
		t.Errorf("got %d measured and %d warm-up, want 1 and 2 (due before the window)", sum.Answered, sum.WarmupCount)
	}
	if sum.P50 != time.Microsecond {
		t.Errorf("an operation that ended before its due time: got %s, want 1µs", sum.P50)
	}
	if len(sum.SeriesP99) != 3 || math.Abs(sum.SeriesP99[2]-0.001) > 1e-9 {
		t.Errorf("series: got %v, want 3 seconds with 0.001 ms in the last", sum.SeriesP99)
	}

	late := New("read", recorderStart.Add(-time.Hour), recorderStart.Add(-time.Hour), time.Time{})
	late.Record(recorderStart.Add(-time.Hour), recorderStart, CodeTimeout)
	if got, want := late.Summary().Max, time.Duration(histMaxMicros)*time.Microsecond; got < want*99/100 {
		t.Errorf("an hour late: got max %s, want it clamped near %s", got, want)
	}
}

func TestStatsCompletedCountsAnswersInTheWindow(t *testing.T) {
	measure := recorderStart.Add(time.Second)
	s := New("read", recorderStart, measure, measure.Add(time.Second))
	for _, at := range []time.Duration{500 * time.Millisecond, 1100 * time.Millisecond, 1900 * time.Millisecond, 2100 * time.Millisecond} {
		due := recorderStart.Add(at)
		s.Record(due, due, CodeOK)
	}
	if got := s.Completed(); got != 2 {
		t.Errorf("Completed: got %d, want the 2 answered between 1 s and 2 s", got)
	}
	if got := New("read", recorderStart, recorderStart, time.Time{}).Completed(); got != 0 {
		t.Errorf("Completed without an end: got %d, want 0", got)
	}
}
