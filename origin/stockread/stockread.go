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
	"sync"
	"time"

	"livecommerce/internal/flight"
	"livecommerce/internal/stock"
)

// MaxTTL is the longest the cache may hold an answer.
const MaxTTL = stock.MaxOriginCache

// Source reads levels, rebuilding missing counters.
type Source interface {
	Level(ctx context.Context, sku string) (stock.Level, error)
	LiveLevels(ctx context.Context, liveID string) ([]stock.Level, error)
}

// Answer is a ready-to-send read: the JSON body, its strong ETag, and the
// cache tags the edge purges by. NotFound answers are cached too, so a
// flood of reads of an unknown sku does not reach the database.
type Answer struct {
	Body     []byte
	ETag     string
	Tags     []string
	NotFound bool
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

// ErrNotCached: the answer was asked for from the cache only, and the
// cache has none.
var ErrNotCached = errors.New("stockread: not in the cache")

// SKU answers GET /v1/products/{sku}/stock; with load false, only from
// the cache.
func (c *Cache) SKU(ctx context.Context, sku string, load bool) (*Answer, error) {
	return c.get(ctx, "s:"+sku, load, func(ctx context.Context) (*Answer, error) {
		l, err := c.src.Level(ctx, sku)
		if errors.Is(err, stock.ErrNotFound) {
			return &Answer{NotFound: true, Tags: []string{stock.SKUTag(sku)}}, nil
		}
		if err != nil {
			return nil, err
		}
		return build(l, stock.SKUTag(sku), stock.LiveTag(l.LiveID))
	})
}

// Live answers GET /v1/lives/{live_id}/stock; with load false, only from
// the cache.
func (c *Cache) Live(ctx context.Context, liveID string, load bool) (*Answer, error) {
	return c.get(ctx, "l:"+liveID, load, func(ctx context.Context) (*Answer, error) {
		levels, err := c.src.LiveLevels(ctx, liveID)
		if errors.Is(err, stock.ErrNotFound) {
			return &Answer{NotFound: true, Tags: []string{stock.LiveTag(liveID)}}, nil
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
	return &Answer{Body: body, ETag: fmt.Sprintf(`"%016x"`, h.Sum64()), Tags: tags}, nil
}

func (c *Cache) get(ctx context.Context, key string, mayLoad bool, load func(context.Context) (*Answer, error)) (*Answer, error) {
	now := time.Now()
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.answer, nil
	}
	if !mayLoad {
		return nil, ErrNotCached
	}
	v, err := c.group.Do(ctx, key, func() (any, error) {
		// The shared load must not die with the first caller's context.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		// The answer is as old as the moment the load began: counting the
		// TTL from there keeps every answer within TTL of its read, which
		// the edge invalidator relies on (stock.MaxOriginCache).
		began := time.Now()
		a, err := load(lctx)
		if err != nil {
			return nil, err
		}
		c.store(key, a, began.Add(c.ttl))
		return a, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Answer), nil
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
