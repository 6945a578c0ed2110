// Package stockread serves stock levels to viewers. A short in-process
// cache with request collapsing sits in front of Redis: however many reads
// of one sku arrive together, one Redis call answers them all, and the
// answer is at most TTL old (the contract allows the edge a second).
package stockread

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"livecommerce/internal/flight"
	"livecommerce/internal/stock"
	"livecommerce/origin/inventory"
)

// MaxTTL is the longest the cache may hold an answer.
const MaxTTL = stock.MaxOriginCache

// Source reads levels, rebuilding missing counters; it asks gate before
// any database read.
type Source interface {
	Level(ctx context.Context, sku string, gate inventory.Gate) (stock.Level, error)
	LiveLevels(ctx context.Context, liveID string, gate inventory.Gate) ([]stock.Level, error)
}

// Answer is a ready-to-send read: the JSON body, its strong ETag, and the
// cache tags the edge purges by. NotFound answers are cached too, so a
// flood of reads of an unknown sku does not reach the database.
type Answer struct {
	Body     []byte
	ETag     string
	Tags     []string
	NotFound bool
	// The tags as the edges want them, joined once per answer rather than
	// once per request: Cloudflare's Cache-Tag and Varnish's xkey.
	CacheTag, XKey string
}

// tagged sets the answer's tags and their header forms.
func (a *Answer) tagged(tags ...string) *Answer {
	a.Tags, a.CacheTag, a.XKey = tags, strings.Join(tags, ","), strings.Join(tags, " ")
	return a
}

type entry struct {
	answer  *Answer
	expires time.Time
}

// Cache is the micro-cache.
type Cache struct {
	src        Source
	ttl        time.Duration
	maxEntries int
	group      flight.Group

	mu      sync.RWMutex
	entries map[string]entry
}

// New returns a Cache; ttl is clamped to (0, MaxTTL].
func New(src Source, ttl time.Duration) *Cache {
	if ttl <= 0 || ttl > MaxTTL {
		ttl = MaxTTL
	}
	return &Cache{src: src, ttl: ttl, maxEntries: 100_000, entries: map[string]entry{}}
}

// ErrRefused wraps a gate's refusal.
var ErrRefused = errors.New("stockread: refused")

// SKU answers GET /v1/products/{sku}/stock. gate is asked before a
// database read on this caller's behalf (an id Redis does not hold); its
// error refuses the read and is returned wrapped in ErrRefused.
func (c *Cache) SKU(ctx context.Context, sku string, gate inventory.Gate) (*Answer, error) {
	return c.get(ctx, "s:"+sku, gate, func(ctx context.Context, gate inventory.Gate) (*Answer, error) {
		l, err := c.src.Level(ctx, sku, gate)
		if errors.Is(err, stock.ErrNotFound) {
			return (&Answer{NotFound: true}).tagged(stock.SKUTag(sku)), nil
		}
		if err != nil {
			return nil, err
		}
		return build(l, stock.SKUTag(sku), stock.LiveTag(l.LiveID))
	})
}

// Live answers GET /v1/lives/{live_id}/stock; gate as for SKU.
func (c *Cache) Live(ctx context.Context, liveID string, gate inventory.Gate) (*Answer, error) {
	return c.get(ctx, "l:"+liveID, gate, func(ctx context.Context, gate inventory.Gate) (*Answer, error) {
		levels, err := c.src.LiveLevels(ctx, liveID, gate)
		if errors.Is(err, stock.ErrNotFound) {
			return (&Answer{NotFound: true}).tagged(stock.LiveTag(liveID)), nil
		}
		if err != nil {
			return nil, err
		}
		if levels == nil {
			levels = []stock.Level{}
		}
		return build(struct {
			LiveID   string        `json:"live_id"`
			Products []stock.Level `json:"products"`
		}{liveID, levels}, stock.LiveTag(liveID))
	})
}

func build(v any, tags ...string) (*Answer, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("stockread: encode: %w", err)
	}
	h := fnv.New64a()
	h.Write(body)
	return (&Answer{Body: body, ETag: fmt.Sprintf(`"%016x"`, h.Sum64())}).tagged(tags...), nil
}

func (c *Cache) get(ctx context.Context, key string, gate inventory.Gate, load func(context.Context, inventory.Gate) (*Answer, error)) (*Answer, error) {
	now := time.Now()
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.answer, nil
	}
	// The gate that runs is the caller's who leads the shared load. A
	// follower refused by the leader's gate loads again on its own, asked
	// its own gate: one client's empty budget never refuses another's read.
	asked := false
	mine := func() error {
		asked = true
		return refuse(gate)
	}
	v, err := c.group.Do(ctx, key, func() (any, error) {
		return c.loadAndStore(ctx, key, mine, load)
	})
	if errors.Is(err, ErrRefused) && !asked {
		v, err = c.loadAndStore(ctx, key, func() error { return refuse(gate) }, load)
	}
	if err != nil {
		return nil, err
	}
	return v.(*Answer), nil
}

// refuse runs gate, wrapping its refusal in ErrRefused.
func refuse(gate inventory.Gate) error {
	if gate == nil {
		return nil
	}
	if err := gate(); err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return nil
}

// loadAndStore loads key's answer and caches it. The load does not die
// with ctx: others may be waiting on it (group.Do), and its answer serves
// them and later readers.
func (c *Cache) loadAndStore(ctx context.Context, key string, gate inventory.Gate, load func(context.Context, inventory.Gate) (*Answer, error)) (*Answer, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	// The answer is as old as the moment the load began: counting the
	// TTL from there keeps every answer within TTL of its read, which
	// the edge invalidator relies on (stock.MaxOriginCache).
	began := time.Now()
	a, err := load(ctx, gate)
	if err != nil {
		return nil, err
	}
	c.store(key, a, began.Add(c.ttl))
	return a, nil
}

func (c *Cache) store(key string, a *Answer, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.maxEntries {
		now := time.Now()
		for k, e := range c.entries {
			if now.After(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.maxEntries {
			// Every entry is live: a flood of distinct keys. Start over
			// rather than grow without bound.
			clear(c.entries)
		}
	}
	c.entries[key] = entry{answer: a, expires: expires}
}
