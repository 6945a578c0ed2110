package feedclient

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// LagMax is the largest delivery lag a lag histogram tells apart (µs);
// a longer one is recorded as LagMax.
const LagMax = int64(time.Minute / time.Microsecond)

// NewLagHistogram returns a histogram of delivery lags in microseconds,
// one per live page. Two significant digits (1%) cost about 20 KiB of
// counters per page, where three would cost 140 KiB: 1.4 GB for 10,000
// pages, taken from the machine the feed under test runs on.
func NewLagHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(1, LagMax, 2) }
