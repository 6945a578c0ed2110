package ratelimit

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// mustAllow fails the test unless key is allowed at now.
func mustAllow(t *testing.T, l *Limiter, key string, now time.Time) {
	t.Helper()
	if ok, retry := l.Allow(key, now); !ok {
		t.Fatalf("Allow(%.20q, %v): got refused (retry %v), want allowed", key, now.Sub(t0), retry)
	}
}

// mustRefuse fails the test unless key is refused at now, and returns the
// retry delay.
func mustRefuse(t *testing.T, l *Limiter, key string, now time.Time) time.Duration {
	t.Helper()
	ok, retry := l.Allow(key, now)
	if ok {
		t.Fatalf("Allow(%.20q, %v): got allowed, want refused", key, now.Sub(t0))
	}
	if retry <= 0 {
		t.Fatalf("Allow(%.20q, %v): got retryAfter %v with a refusal, want > 0", key, now.Sub(t0), retry)
	}
	return retry
}

func TestBurstThenRefusal(t *testing.T) {
	tests := []struct {
		perSecond float64
		burst     int
		wantRetry time.Duration
	}{
		{2, 3, 500 * time.Millisecond},
		{10, 1, 100 * time.Millisecond},
		{0.5, 2, 2 * time.Second},
		{1.0 / 60, 5, time.Minute},
		{1000, 50, time.Millisecond},
		{3, 1, 333333334 * time.Nanosecond}, // 1/3 s rounded up, never down
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%g per second burst %d", tt.perSecond, tt.burst), func(t *testing.T) {
			l := New(tt.perSecond, tt.burst)
			for i := range tt.burst {
				if ok, retry := l.Allow("k", t0); !ok {
					t.Fatalf("call %d of burst: got refused (retry %v), want allowed", i+1, retry)
				}
			}
			if got := mustRefuse(t, l, "k", t0); got != tt.wantRetry {
				t.Errorf("retryAfter: got %v, want %v", got, tt.wantRetry)
			}
			// A refusal takes nothing, so asking again changes nothing.
			if got := mustRefuse(t, l, "k", t0); got != tt.wantRetry {
				t.Errorf("retryAfter after a second refusal: got %v, want %v", got, tt.wantRetry)
			}
			// Half way there, half the wait remains.
			half := tt.wantRetry / 2
			if got, want := mustRefuse(t, l, "k", t0.Add(half)), tt.wantRetry-half; absDiff(got, want) > time.Nanosecond {
				t.Errorf("retryAfter half way: got %v, want %v", got, want)
			}
			mustAllow(t, l, "k", t0.Add(tt.wantRetry))
			mustRefuse(t, l, "k", t0.Add(tt.wantRetry))
		})
	}
}

func absDiff(a, b time.Duration) time.Duration {
	if a > b {
		return a - b
	}
	return b - a
}

// TestRetryAfterIsEnough checks, over many rates and instants, that waiting
// exactly retryAfter is always enough: float rounding must never make a
// client that obeys Retry-After get refused again.
func TestRetryAfterIsEnough(t *testing.T) {
	refusals := 0
	for _, perSecond := range []float64{0.001, 0.3, 1, 1.7, 3, 7, 9.99, 33.3, 100, 12345.6} {
		l := New(perSecond, 1)
		now := t0
		for i := range 200 {
			key := "k"
			if ok, _ := l.Allow(key, now); ok {
				now = now.Add(time.Duration(i) * time.Microsecond * 37)
				continue
			}
			refusals++
			_, retry := l.Allow(key, now)
			now = now.Add(retry)
			if ok, again := l.Allow(key, now); !ok {
				t.Fatalf("%g/s: refused at exactly retryAfter (%v), asked to wait another %v", perSecond, retry, again)
			}
		}
	}
	if refusals < 100 {
		t.Errorf("refusals exercised: got %d, want at least 100", refusals)
	}
}

func FuzzStoredKey(f *testing.F) {
	for _, s := range []string{"", "ip:10.0.0.1", strings.Repeat("k", MaxKeyLen), strings.Repeat("k", MaxKeyLen+1), "\xff\x00"} {
		f.Add(s, "other")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ka, kb := storedKey(a), storedKey(b)
		if len(ka) > MaxKeyLen+1 {
			t.Fatalf("storedKey(%d bytes): got %d bytes, want <= %d", len(a), len(ka), MaxKeyLen+1)
		}
		if len(a) <= MaxKeyLen && ka != a {
			t.Fatalf("storedKey(%q) = %q, want it unchanged", a, ka)
		}
		if a != b && ka == kb {
			t.Fatalf("storedKey collision: %q and %q both map to %q", a, b, ka)
		}
	})
}

func TestRefillOverTime(t *testing.T) {
	l := New(1, 5)
	for range 5 {
		mustAllow(t, l, "k", t0)
	}
	mustRefuse(t, l, "k", t0)
	// 2.5 s refills two whole tokens.
	now := t0.Add(2500 * time.Millisecond)
	mustAllow(t, l, "k", now)
	mustAllow(t, l, "k", now)
	if got, want := mustRefuse(t, l, "k", now), 500*time.Millisecond; got != want {
		t.Errorf("retryAfter with half a token: got %v, want %v", got, want)
	}
	// A long pause refills to burst, not beyond.
	later := t0.Add(time.Hour)
	for range 5 {
		mustAllow(t, l, "k", later)
	}
	mustRefuse(t, l, "k", later)
}

func TestClockGoingBackwards(t *testing.T) {
	l := New(1, 1)
	mustAllow(t, l, "k", t0)
	// An earlier instant must not be treated as a refill.
	mustRefuse(t, l, "k", t0.Add(-time.Hour))
	mustRefuse(t, l, "k", t0)
	mustAllow(t, l, "k", t0.Add(time.Second))
}

func TestIndependentKeys(t *testing.T) {
	l := New(1, 2)
	mustAllow(t, l, "ip:10.0.0.1", t0)
	mustAllow(t, l, "ip:10.0.0.1", t0)
	mustRefuse(t, l, "ip:10.0.0.1", t0)
	for _, k := range []string{"ip:10.0.0.2", "buyer:10.0.0.1", "", "IP:10.0.0.1", "ip:10.0.0.1 "} {
		mustAllow(t, l, k, t0)
	}
	mustRefuse(t, l, "ip:10.0.0.1", t0)
}

func TestUnlimited(t *testing.T) {
	for _, perSecond := range []float64{0, -1, math.Inf(-1), math.Inf(1), math.NaN()} {
		l := New(perSecond, 1)
		for i := range 1000 {
			if ok, retry := l.Allow("k"+strconv.Itoa(i%3), t0); !ok || retry != 0 {
				t.Fatalf("New(%v): call %d got (%v, %v), want (true, 0)", perSecond, i, ok, retry)
			}
		}
		if got := l.Len(); got != 0 {
			t.Errorf("New(%v): Len = %d, want 0 (nothing stored when unlimited)", perSecond, got)
		}
	}
}

func TestBurstBelowOneIsOne(t *testing.T) {
	for _, burst := range []int{0, -5} {
		l := New(1, burst)
		mustAllow(t, l, "k", t0)
		mustRefuse(t, l, "k", t0)
	}
}

func TestLongKeys(t *testing.T) {
	l := New(1, 1)
	base := strings.Repeat("x", 1000)
	a, b := base+"a", base+"b"
	mustAllow(t, l, a, t0)
	mustAllow(t, l, b, t0) // shares a 1000-byte prefix, still its own bucket
	mustRefuse(t, l, a, t0)
	mustRefuse(t, l, b, t0)

	// A long key's stored form must not be reachable by sending it verbatim.
	mustAllow(t, l, storedKey(a), t0)
	mustAllow(t, l, a[:MaxKeyLen], t0)

	tests := []struct {
		in      string
		wantLen int
		same    bool
	}{
		{"", 0, true},
		{strings.Repeat("k", MaxKeyLen), MaxKeyLen, true},
		{strings.Repeat("k", MaxKeyLen+1), MaxKeyLen + 1, false},
		{strings.Repeat("k", 1<<20), MaxKeyLen + 1, false},
	}
	for _, tt := range tests {
		got := storedKey(tt.in)
		if len(got) != tt.wantLen {
			t.Errorf("storedKey(%d bytes): got %d bytes, want %d", len(tt.in), len(got), tt.wantLen)
		}
		if (got == tt.in) != tt.same {
			t.Errorf("storedKey(%d bytes) kept as is: got %v, want %v", len(tt.in), got == tt.in, tt.same)
		}
	}
}

// TestKeyIsCopied mimics fasthttp, whose strings point into buffers that are
// reused for the next request.
func TestKeyIsCopied(t *testing.T) {
	l := New(1, 1)
	buf := []byte("ip:192.0.2.1")
	mustAllow(t, l, unsafe.String(&buf[0], len(buf)), t0)
	copy(buf, "ip:203.0.113")
	mustRefuse(t, l, "ip:192.0.2.1", t0)
	mustAllow(t, l, "ip:203.0.113", t0)
}

func TestIdleBucketsAreSwept(t *testing.T) {
	l := New(1, 10, WithIdleTTL(10*time.Second))
	for i := range 5000 {
		l.Allow("old"+strconv.Itoa(i), t0)
	}
	if got, want := l.Len(), 5000; got != want {
		t.Fatalf("Len after 5000 keys: got %d, want %d", got, want)
	}
	// Sweeps happen inline; enough traffic on a few keys touches every
	// shard often enough to sweep it.
	later := t0.Add(time.Minute)
	for i := range 64 * minSweepEvery * 2 {
		l.Allow("new"+strconv.Itoa(i%8), later)
	}
	if got := l.Len(); got > 8 {
		t.Errorf("Len after the old keys went idle: got %d, want <= 8", got)
	}
}

func TestFullBucketsAreIdle(t *testing.T) {
	// A full bucket is dropped even before the idle TTL: recreating it is
	// indistinguishable, so forgetting it costs nothing.
	l := New(100, 1, WithIdleTTL(time.Hour))
	for i := range 1000 {
		l.Allow("k"+strconv.Itoa(i), t0)
	}
	later := t0.Add(time.Second) // every bucket has refilled
	for range 64 * minSweepEvery * 2 {
		l.Allow("hot", later)
	}
	if got := l.Len(); got > 1 {
		t.Errorf("Len once every other bucket refilled: got %d, want <= 1", got)
	}
	// The bucket that was not full at sweep time is still enforced.
	l2 := New(1, 1, WithIdleTTL(time.Hour))
	mustAllow(t, l2, "busy", t0)
	for i := range 64 * minSweepEvery * 2 {
		l2.Allow("other"+strconv.Itoa(i%4), t0.Add(500*time.Millisecond))
	}
	mustRefuse(t, l2, "busy", t0.Add(500*time.Millisecond))
}

func TestMemoryBoundedUnderKeyFlood(t *testing.T) {
	const maxKeys = 1024
	// A slow rate and a long TTL mean nothing ever becomes idle: only the
	// hard cap keeps memory bounded.
	l := New(1.0/3600, 1, WithMaxKeys(maxKeys), WithIdleTTL(24*time.Hour))
	mustAllow(t, l, "hot", t0)
	for i := range 100_000 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		l.Allow("flood:"+strconv.Itoa(i), now)
		if i%100 == 0 {
			// A key in active use is the newest, never the oldest, so the
			// flood does not reset its bucket.
			mustRefuse(t, l, "hot", now)
		}
		if i%5000 == 0 {
			if got := l.Len(); got > maxKeys {
				t.Fatalf("Len after %d keys: got %d, want <= %d", i+1, got, maxKeys)
			}
		}
	}
	if got := l.Len(); got > maxKeys || got < maxKeys/2 {
		t.Errorf("Len after the flood: got %d, want between %d and %d", got, maxKeys/2, maxKeys)
	}
}

func TestMemoryBoundedDefaultCap(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a few hundred thousand buckets")
	}
	l := New(1, 1, WithIdleTTL(24*time.Hour))
	// Long hostile keys: stored keys stay bounded in size too.
	pad := strings.Repeat("z", 4096)
	for i := range 100_000 {
		l.Allow(pad+strconv.Itoa(i), t0)
	}
	if got, want := l.Len(), 100_000; got != want {
		t.Errorf("Len: got %d, want %d (all under the default cap)", got, want)
	}
	for i := range numShards {
		s := &l.shards[i]
		for k := range s.buckets {
			if len(k) > MaxKeyLen+1 {
				t.Fatalf("stored key of %d bytes, want <= %d", len(k), MaxKeyLen+1)
			}
		}
	}
}

func TestWithMaxKeysTiny(t *testing.T) {
	l := New(1, 1, WithMaxKeys(1))
	for i := range 1000 {
		l.Allow(strconv.Itoa(i), t0)
	}
	if got := l.Len(); got > numShards {
		t.Errorf("Len with one key per shard: got %d, want <= %d", got, numShards)
	}
}

func TestConcurrentSharedKey(t *testing.T) {
	// However the calls interleave, one key at one instant grants exactly
	// burst tokens.
	const burst = 50
	l := New(1, burst)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 100 {
				if ok, _ := l.Allow("shared", t0); ok {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != burst {
		t.Errorf("allowed: got %d, want %d", got, burst)
	}
}

func TestConcurrentManyKeys(t *testing.T) {
	l := New(5, 2, WithMaxKeys(512), WithIdleTTL(time.Second))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20_000 {
				now := t0.Add(time.Duration(i) * time.Millisecond)
				l.Allow(fmt.Sprintf("g%d:k%d", g, i%700), now)
				if i%1000 == 0 {
					l.Len()
				}
			}
		})
	}
	wg.Wait()
	if got := l.Len(); got > 512 {
		t.Errorf("Len: got %d, want <= 512", got)
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	l := New(1e6, 100)
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		// Each goroutine cycles over its own small set of client keys, as
		// a busy origin sees a few thousand IPs at once.
		base := next.Add(1) * 1_000_000
		keys := make([]string, 1024)
		for i := range keys {
			keys[i] = "ip:" + strconv.FormatInt(base+int64(i), 10)
		}
		now := time.Now()
		i := 0
		for pb.Next() {
			l.Allow(keys[i%len(keys)], now)
			i++
		}
	})
}

func BenchmarkAllowNewKeys(b *testing.B) {
	l := New(10, 10, WithMaxKeys(1<<14))
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = "flood:" + strconv.Itoa(i)
	}
	now := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.Allow(keys[i%len(keys)], now)
		i++
	}
}
