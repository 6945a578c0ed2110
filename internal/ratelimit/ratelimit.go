// Package ratelimit keeps one token bucket per key (a client IP, a buyer id)
// so the origin can answer 429 with an exact Retry-After.
//
// Keys come from the network, so memory must stay bounded whatever clients
// send: buckets live in a fixed number of shards, each with a hard cap on its
// keys; idle buckets are swept inline every so often (no background
// goroutine, so there is nothing to stop; every sweep of a busy shard also
// sweeps one quiet shard in turn); long keys are shortened to a fixed
// size.
//
// When a shard is full and nothing in it is idle, the least recently seen
// buckets are evicted to make room rather than refusing the new key: refusing
// would let a flood of distinct keys lock every new, legitimate client out,
// while eviction only forgets the history of the quietest keys, whose buckets
// are the most likely to have refilled anyway. The price is that under such a
// flood a limit is enforced less strictly, never that it locks people out.
package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

const (
	// MaxKeyLen is the longest key stored as is. Longer keys are replaced by
	// a fixed-size digest form (see storedKey).
	MaxKeyLen = 256

	// DefaultIdleTTL is how long a key may go unseen before its bucket is
	// dropped.
	DefaultIdleTTL = time.Minute

	// DefaultMaxKeys caps the number of buckets held at once.
	DefaultMaxKeys = 1 << 18

	numShards = 64

	// minSweepEvery is the fewest calls a shard serves between sweeps; a
	// sweep walks the whole shard, so a shard of n keys sweeps at most every
	// n calls, which keeps the amortised cost at one entry per call.
	minSweepEvery = 256

	// digestPrefixLen is how much of an over-long key is kept readable.
	digestPrefixLen = 192
)

// Option configures a Limiter.
type Option func(*Limiter)

// WithIdleTTL sets how long a key may go unseen before its bucket is
// dropped. A dropped bucket comes back full, so a TTL shorter than the time
// a bucket takes to refill (burst/perSecond) makes the limit more lenient for
// keys that pause. Non-positive values are ignored.
func WithIdleTTL(d time.Duration) Option {
	return func(l *Limiter) {
		if d > 0 {
			l.idleTTL = d
		}
	}
}

// WithMaxKeys caps the number of buckets held at once. The cap is split
// evenly across shards and rounded up to at least one key per shard.
// Non-positive values are ignored.
func WithMaxKeys(n int) Option {
	return func(l *Limiter) {
		if n > 0 {
			l.maxPerShard = max(1, (n+numShards-1)/numShards)
		}
	}
}

// Limiter is a set of token buckets keyed by string. It is safe for
// concurrent use.
type Limiter struct {
	unlimited   bool
	limit       rate.Limit
	burst       int
	idleTTL     time.Duration
	maxPerShard int
	seed        maphash.Seed
	cursor      atomic.Uint32 // next shard swept on another's behalf
	shards      [numShards]shard
}

type shard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	calls   int
	// pad keeps neighbouring shards' mutexes off one cache line, so
	// goroutines working on different shards do not slow each other.
	_ [40]byte
}

type bucket struct {
	lim      *rate.Limiter
	lastSeen time.Time
}

// New returns a Limiter that allows perSecond events per key on average, in
// bursts of up to burst. perSecond <= 0 disables limiting: Allow always
// succeeds and nothing is stored. A burst below 1 is treated as 1, since a
// bucket that can hold no token would refuse everything forever.
func New(perSecond float64, burst int, opts ...Option) *Limiter {
	l := &Limiter{
		// NaN and +Inf are unlimited too: neither is a rate a bucket can
		// enforce.
		unlimited:   !(perSecond > 0) || math.IsInf(perSecond, 1),
		limit:       rate.Limit(perSecond),
		burst:       max(1, burst),
		idleTTL:     DefaultIdleTTL,
		maxPerShard: DefaultMaxKeys / numShards,
		seed:        maphash.MakeSeed(),
	}
	for _, opt := range opts {
		opt(l)
	}
	for i := range l.shards {
		l.shards[i].buckets = make(map[string]*bucket)
	}
	return l
}

// Allow takes one token from key's bucket at time now. When the bucket is
// empty it returns false and the exact time until a token will be available
// (rounded up to the nanosecond); turning that into a whole-second
// Retry-After is the caller's job. A refused call takes nothing.
//
// now is a parameter so callers pass the time they already read and tests
// can move the clock; calls for one key should not go backwards in time by
// much, as a bucket never refills for time it has already counted.
//
// key may alias memory that is reused after the call (fasthttp request
// data): it is copied before it is stored.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	if l.unlimited {
		return true, 0
	}
	key = storedKey(key)
	s := &l.shards[maphash.String(l.seed, key)%numShards]
	ok, retryAfter, swept := l.allow(s, key, now)
	if swept {
		// A shard only counts its own calls, so one that stops getting
		// traffic would keep its idle buckets forever. Each sweep therefore
		// also sweeps one other shard, in turn, outside s.mu so that no two
		// shard locks are ever held together.
		o := &l.shards[l.cursor.Add(1)%numShards]
		o.mu.Lock()
		l.sweepIdle(o, now)
		o.mu.Unlock()
	}
	return ok, retryAfter
}

func (l *Limiter) allow(s *shard, key string, now time.Time) (ok bool, retryAfter time.Duration, swept bool) {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.calls++
	if s.calls >= max(minSweepEvery, len(s.buckets)) {
		s.calls = 0
		l.sweepIdle(s, now)
		swept = true
	}

	b := s.buckets[key]
	if b == nil {
		if len(s.buckets) >= l.maxPerShard {
			l.makeRoom(s, now)
		}
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		s.buckets[strings.Clone(key)] = b
	}
	if now.After(b.lastSeen) {
		b.lastSeen = now
	}

	if b.lim.AllowN(now, 1) {
		return true, 0, swept
	}
	return false, l.untilOneToken(b.lim.TokensAt(now)), swept
}

// untilOneToken is the time a bucket holding tokens (< 1) needs to refill
// to one token.
func (l *Limiter) untilOneToken(tokens float64) time.Duration {
	missing := 1 - tokens
	if missing <= 0 {
		// Unreachable after a refused AllowN, but never report "retry in
		// zero" alongside a refusal.
		return time.Nanosecond
	}
	d := math.Ceil(missing / float64(l.limit) * float64(time.Second))
	if d >= math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(d)
}

// Len returns the number of buckets currently held, for tests and metrics.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.buckets)
		s.mu.Unlock()
	}
	return n
}

// idle reports whether forgetting b changes nothing that matters: either its
// bucket is already full (a new bucket would be identical) or it has not
// been seen for the idle TTL.
func (l *Limiter) idle(b *bucket, now time.Time) bool {
	return now.Sub(b.lastSeen) >= l.idleTTL || b.lim.TokensAt(now) >= float64(l.burst)
}

// sweepIdle drops s's idle buckets. s.mu must be held.
func (l *Limiter) sweepIdle(s *shard, now time.Time) {
	for k, b := range s.buckets {
		if l.idle(b, now) {
			delete(s.buckets, k)
		}
	}
}

// makeRoom frees slots in a full shard. s.mu must be held.
//
// It always leaves an eighth of the shard free, so the O(n) work here is paid
// once per many new keys, not on every one, even during a flood.
func (l *Limiter) makeRoom(s *shard, now time.Time) {
	l.sweepIdle(s, now)
	target := l.maxPerShard - max(1, l.maxPerShard/8)
	excess := len(s.buckets) - target
	if excess <= 0 {
		return
	}
	// Not enough is idle, so a flood of distinct keys is the likely cause:
	// evict the least recently seen.
	type aged struct {
		key  string
		seen time.Time
	}
	all := make([]aged, 0, len(s.buckets))
	for k, b := range s.buckets {
		all = append(all, aged{k, b.lastSeen})
	}
	slices.SortFunc(all, func(a, b aged) int { return a.seen.Compare(b.seen) })
	for _, a := range all[:excess] {
		delete(s.buckets, a.key)
	}
}

// storedKey bounds the memory one key can take. A key longer than MaxKeyLen
// becomes its first bytes plus a SHA-256 digest of the whole: still unique in
// practice, readable in a debugger, and longer than MaxKeyLen, so it can
// never equal a short key a client sent verbatim.
func storedKey(key string) string {
	if len(key) <= MaxKeyLen {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	var b strings.Builder
	b.Grow(digestPrefixLen + 1 + hex.EncodedLen(len(sum)))
	b.WriteString(key[:digestPrefixLen])
	b.WriteByte('#')
	b.WriteString(hex.EncodeToString(sum[:]))
	return b.String()
}
