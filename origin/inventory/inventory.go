// Package inventory serves stock levels from the Redis counters and
// rebuilds those counters from the database of record whenever they are
// missing (a fresh or restarted Redis), before anything reads or reserves
// against them.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"livecommerce/internal/flight"
	"livecommerce/internal/stock"
	"livecommerce/origin/mysqlstore"
	"livecommerce/origin/redisstock"
	"livecommerce/origin/shop"
)

// Publisher announces a committed stock change.
type Publisher interface {
	Publish(stock.Level)
}

// Inventory joins the two stores.
type Inventory struct {
	redis   *redisstock.Store
	db      *mysqlstore.Store
	publish Publisher
	log     *slog.Logger
	group   flight.Group
	// Semaphores of the database reads that cold and unknown ids cause,
	// one per purpose: a flood of reads of made-up ids can fill the
	// readers' slots, never the purchases'.
	readSlots, purchaseSlots chan struct{}
	// absentFor is how long an id the database does not know is
	// remembered as absent in Redis; creating it clears the mark at once.
	absentFor time.Duration
}

// Option adjusts New.
type Option func(*Inventory)

// WithUnknownTTL sets how long a sku or live the database does not know
// is remembered as absent (default DefaultUnknownTTL).
func WithUnknownTTL(d time.Duration) Option {
	return func(inv *Inventory) {
		if d > 0 {
			inv.absentFor = d
		}
	}
}

// DefaultUnknownTTL is how long an unknown id is remembered by default.
const DefaultUnknownTTL = 10 * time.Second

// New returns an Inventory.
func New(redis *redisstock.Store, db *mysqlstore.Store, publish Publisher, log *slog.Logger, opts ...Option) *Inventory {
	inv := &Inventory{redis: redis, db: db, publish: publish, log: log,
		readSlots: make(chan struct{}, readSlots), purchaseSlots: make(chan struct{}, purchaseSlots),
		absentFor: DefaultUnknownTTL}
	for _, opt := range opts {
		opt(inv)
	}
	return inv
}

// How many database reads of cold or unknown ids run at once, per
// purpose: bounded so that a flood of them cannot take every database
// connection (order batches have a pool of their own).
const (
	readSlots     = 8
	purchaseSlots = 4
)

// Gate is asked before each database read that a stock read causes (an id
// Redis does not hold: unknown, or not loaded); an error refuses that read.
// The HTTP edge charges the client's budget of such reads with it. nil
// lets every read through.
type Gate func() error

// epochBits splits a version into a rebuild epoch (high bits) and a count
// of changes within it (low bits).
const epochBits = 32

// NextEpoch is the first version of the epoch after v's: above every
// version that could have been handed out since v was recorded.
func NextEpoch(v int64) int64 { return ((v >> epochBits) + 1) << epochBits }

// Rebuild loads one sku from the database into Redis unless it is already
// there, for the read path and the merchants' loads. Concurrent calls for
// the same sku share one database read.
func (inv *Inventory) Rebuild(ctx context.Context, sku string) error {
	return inv.rebuild(ctx, mysqlstore.ForReads, sku)
}

// RebuildForPurchase is Rebuild for a purchase: its failures count toward
// the purchase path's breaker, it has slots of its own, and it never waits
// on a read's rebuild (whose failure would be the read breaker's).
func (inv *Inventory) RebuildForPurchase(ctx context.Context, sku string) error {
	return inv.rebuild(ctx, mysqlstore.ForPurchases, sku)
}

func (inv *Inventory) rebuild(ctx context.Context, purpose mysqlstore.Purpose, sku string) error {
	_, err := inv.group.Do(ctx, fmt.Sprintf("sku:%d:%s", purpose, sku), func() (any, error) {
		// Detach from the first caller's cancellation: the others wait on
		// the same result.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		absent, err := inv.redis.Absent(ctx, sku)
		if err != nil {
			return nil, err
		}
		if absent {
			return nil, stock.ErrNotFound
		}
		release, err := inv.slot(ctx, purpose)
		if err != nil {
			return nil, err
		}
		defer release()
		ps, err := inv.db.ProductState(ctx, purpose, sku)
		if errors.Is(err, stock.ErrNotFound) {
			if err := inv.redis.MarkAbsent(ctx, sku, inv.absentFor); err != nil {
				inv.log.Warn("could not remember an unknown sku", slog.String("sku", sku), slog.Any("error", err))
			}
			return nil, err
		}
		if err != nil {
			return nil, err
		}
		// Redis versions also move on changes the database never sees
		// (give-backs, repairs), and those may have been published before
		// Redis lost them. A rebuild therefore starts a new epoch, recorded
		// in the database first so that the next rebuild starts above it.
		snap := Snapshot(ps)
		snap.Version = NextEpoch(ps.Version)
		if err := inv.db.RaiseVersion(ctx, purpose, sku, snap.Version); err != nil {
			return nil, err
		}
		loaded, err := inv.redis.Load(ctx, snap)
		if err != nil {
			return nil, err
		}
		if loaded {
			inv.log.Info("stock counters rebuilt from database", slog.String("sku", sku),
				slog.Int64("remaining", snap.Total-snap.Sold), slog.Int64("version", snap.Version))
			inv.publish.Publish(stock.Level{
				SKU: sku, LiveID: snap.LiveID, Remaining: max(snap.Total-snap.Sold, 0), Version: snap.Version,
				Status: stock.StatusFor(snap.Total-snap.Sold, snap.Low), UpdatedAt: snap.UpdatedAt,
			})
		}
		return nil, nil
	})
	return err
}

// slot takes one of purpose's database slots, waiting at most until ctx
// ends.
func (inv *Inventory) slot(ctx context.Context, purpose mysqlstore.Purpose) (release func(), err error) {
	slots := inv.readSlots
	if purpose == mysqlstore.ForPurchases {
		slots = inv.purchaseSlots
	}
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: too many stock rebuilds at once", stock.ErrUnavailable)
	}
}

// Snapshot converts the database's view of a sku into the shape Redis
// loads.
func Snapshot(ps shop.ProductState) redisstock.Snapshot {
	return redisstock.Snapshot{
		SKU: ps.SKU, LiveID: ps.LiveID, Total: ps.Stock, Sold: ps.Sold, Version: ps.Version,
		Limit: ps.Limit, Low: ps.Low, SaleStart: ps.SaleStart, SaleEnd: ps.SaleEnd,
		UpdatedAt: ps.UpdatedAt, Held: ps.Held,
	}
}

// Level returns one sku's level; stock.ErrNotFound when no such sku
// exists. gate is asked before any database read (see Gate).
func (inv *Inventory) Level(ctx context.Context, sku string, gate Gate) (stock.Level, error) {
	levels, err := inv.Levels(ctx, []string{sku}, gate)
	if err != nil {
		return stock.Level{}, err
	}
	if len(levels) == 0 {
		return stock.Level{}, stock.ErrNotFound
	}
	return levels[0], nil
}

// Levels returns the levels of the skus that exist, rebuilding missing
// ones first. gate is asked before any database read (see Gate).
func (inv *Inventory) Levels(ctx context.Context, skus []string, gate Gate) ([]stock.Level, error) {
	levels, missing, err := inv.redis.Levels(ctx, skus)
	if err != nil {
		return nil, err
	}
	// Rebuilds are rare (a fresh or flushed Redis) and each costs a
	// database read already, so each rebuilt sku is simply read again.
	for i, m := range missing {
		if !m {
			continue
		}
		err := inv.gated(ctx, skus[i], gate)
		if err == nil {
			err = inv.Rebuild(ctx, skus[i])
		}
		if errors.Is(err, stock.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		again, stillMissing, err := inv.redis.Levels(ctx, skus[i:i+1])
		if err != nil {
			return nil, err
		}
		levels[i], missing[i] = again[0], stillMissing[0]
	}
	out := levels[:0]
	for i, l := range levels {
		if !missing[i] {
			out = append(out, l)
		}
	}
	return out, nil
}

// gated asks gate before a sku's rebuild would read the database: a sku
// already known to be unknown costs nothing, so it is not charged.
func (inv *Inventory) gated(ctx context.Context, sku string, gate Gate) error {
	if gate == nil {
		return nil
	}
	absent, err := inv.redis.Absent(ctx, sku)
	switch {
	case err != nil:
		return err
	case absent:
		return stock.ErrNotFound
	}
	return gate()
}

// LiveLevels returns every product of a live; stock.ErrNotFound when the
// live does not exist. gate is asked before any database read (see Gate).
func (inv *Inventory) LiveLevels(ctx context.Context, liveID string, gate Gate) ([]stock.Level, error) {
	skus, loaded, err := inv.redis.LiveSKUs(ctx, liveID)
	if err != nil {
		return nil, err
	}
	if !loaded {
		if skus, err = inv.loadLive(ctx, liveID, gate); err != nil {
			return nil, err
		}
	}
	levels, err := inv.Levels(ctx, skus, gate)
	if err != nil {
		return nil, fmt.Errorf("inventory: live %s: %w", liveID, err)
	}
	// A sku moved to another live still lists here until the live hash is
	// rebuilt; show only what belongs.
	out := levels[:0]
	for _, l := range levels {
		if l.LiveID == liveID {
			out = append(out, l)
		}
	}
	// A stable order keeps the body, and so the ETag, stable.
	sort.Slice(out, func(i, j int) bool { return out[i].SKU < out[j].SKU })
	return out, nil
}

// loadLive lists a live's skus from the database, asking gate first, and
// records the listing (or the live's absence) in Redis. Concurrent calls
// for the same live share one database read.
func (inv *Inventory) loadLive(ctx context.Context, liveID string, gate Gate) ([]string, error) {
	if gate != nil {
		if err := gate(); err != nil {
			return nil, err
		}
	}
	v, err := inv.group.Do(ctx, "live:"+liveID, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		release, err := inv.slot(ctx, mysqlstore.ForReads)
		if err != nil {
			return nil, err
		}
		defer release()
		skus, err := inv.db.LiveSKUs(ctx, liveID)
		if errors.Is(err, stock.ErrNotFound) {
			if err := inv.redis.MarkLiveAbsent(ctx, liveID, inv.absentFor); err != nil {
				inv.log.Warn("could not remember an unknown live", slog.String("live_id", liveID), slog.Any("error", err))
			}
			return nil, err
		}
		if err != nil {
			return nil, err
		}
		if err := inv.redis.MarkLive(ctx, liveID, skus); err != nil {
			return nil, err
		}
		return skus, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]string), nil
}
