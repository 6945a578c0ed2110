// Package reconcile compares the Redis counters with the database of
// record and repairs drift. A sku's difference counts as drift only if the
// sku did not change at all (same version) over two looks further apart
// than any purchase stays between reservation and commit: a purchase in
// flight is left alone, and the repair is a compare-and-set on the version.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"livecommerce/internal/stock"
	"livecommerce/origin/inventory"
	"livecommerce/origin/mysqlstore"
	"livecommerce/origin/redisstock"
	"livecommerce/origin/shop"
)

// Publisher announces repaired levels.
type Publisher interface{ Publish(stock.Level) }

// Finding is one sku that differed.
type Finding struct {
	SKU                string
	RedisTotal         int64
	RedisSold          int64
	DBStock            int64
	DBSold             int64
	HeldMismatches     int
	Repaired           bool
	SkippedMovedBefore bool // it changed between the two looks
}

func (f Finding) String() string {
	action := "reported"
	switch {
	case f.Repaired:
		action = "repaired"
	case f.SkippedMovedBefore:
		action = "skipped (moving)"
	}
	return fmt.Sprintf("%s: redis total=%d sold=%d, database stock=%d sold=%d, %d buyer holdings differ: %s",
		f.SKU, f.RedisTotal, f.RedisSold, f.DBStock, f.DBSold, f.HeldMismatches, action)
}

// Report sums a run.
type Report struct {
	Checked   int
	NotLoaded int
	Findings  []Finding
}

type look struct {
	redis redisstock.Counters
	db    shop.ProductState
}

func (l look) differs() bool {
	return l.redis.Total != l.db.Stock || l.redis.Sold != l.db.Sold || !maps.Equal(l.redis.Held, l.db.Held)
}

func heldMismatches(a, b map[string]int64) int {
	n := 0
	for k, v := range a {
		if b[k] != v {
			n++
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			n++
		}
	}
	return n
}

// Run checks every sku; with repair it overwrites stable drift with the
// database's values. settle is the pause between the two looks.
func Run(ctx context.Context, db *mysqlstore.Store, rs *redisstock.Store, publish Publisher, repair bool, settle time.Duration) (Report, error) {
	skus, err := db.AllSKUs(ctx)
	if err != nil {
		return Report{}, err
	}
	return RunSKUs(ctx, db, rs, publish, repair, settle, skus)
}

// sweepChunk is how many skus one comparison round trip covers.
const sweepChunk = 1000

// Sweep is the periodic check: it compares units on sale and sold of every
// loaded sku in bulk (one Redis and one database round trip per thousand
// skus) and gives only the skus that differ the full two-look check with
// per-buyer holdings, which reads all of a sku's orders.
func Sweep(ctx context.Context, db *mysqlstore.Store, rs *redisstock.Store, publish Publisher, settle time.Duration) (Report, error) {
	skus, err := db.AllSKUs(ctx)
	if err != nil {
		return Report{}, err
	}
	var candidates []string
	for lo := 0; lo < len(skus); lo += sweepChunk {
		chunk := skus[lo:min(lo+sweepChunk, len(skus))]
		inRedis, err := rs.Totals(ctx, chunk)
		if err != nil {
			return Report{}, err
		}
		inDB, err := db.Totals(ctx, mysqlstore.ForReads, chunk)
		if err != nil {
			return Report{}, err
		}
		for _, sku := range chunk {
			if r, ok := inRedis[sku]; ok && r != inDB[sku] {
				candidates = append(candidates, sku)
			}
		}
	}
	rep, err := RunSKUs(ctx, db, rs, publish, true, settle, candidates)
	rep.Checked = len(skus)
	return rep, err
}

// RunSKUs is Run for the given skus only.
func RunSKUs(ctx context.Context, db *mysqlstore.Store, rs *redisstock.Store, publish Publisher, repair bool, settle time.Duration, skus []string) (Report, error) {
	var rep Report
	first := map[string]look{}
	for _, sku := range skus {
		l, err := take(ctx, db, rs, sku)
		if errors.Is(err, stock.ErrNotFound) {
			continue
		}
		if err != nil {
			return rep, err
		}
		rep.Checked++
		if !l.redis.Loaded {
			// Rebuilt on first use; nothing can drift.
			rep.NotLoaded++
			continue
		}
		if l.differs() {
			first[sku] = l
		}
	}
	if len(first) == 0 {
		return rep, nil
	}
	select {
	case <-ctx.Done():
		return rep, ctx.Err()
	case <-time.After(settle):
	}
	for _, sku := range skus {
		a, ok := first[sku]
		if !ok {
			continue
		}
		b, err := take(ctx, db, rs, sku)
		if err != nil {
			return rep, err
		}
		f := Finding{SKU: sku, RedisTotal: b.redis.Total, RedisSold: b.redis.Sold, DBStock: b.db.Stock, DBSold: b.db.Sold,
			HeldMismatches: heldMismatches(b.redis.Held, b.db.Held)}
		moved := a.redis.Version != b.redis.Version || a.db.Sold != b.db.Sold || a.db.Stock != b.db.Stock
		switch {
		case !b.differs():
			continue
		case moved:
			f.SkippedMovedBefore = true
		case repair:
			snap := inventory.Snapshot(b.db)
			l, ok, err := rs.Repair(ctx, snap, b.redis.Version, time.Now())
			if err != nil {
				return rep, err
			}
			if ok {
				f.Repaired = true
				publish.Publish(l)
			} else {
				f.SkippedMovedBefore = true
			}
		}
		rep.Findings = append(rep.Findings, f)
	}
	return rep, nil
}

func take(ctx context.Context, db *mysqlstore.Store, rs *redisstock.Store, sku string) (look, error) {
	c, err := rs.Counters(ctx, sku)
	if err != nil {
		return look{}, err
	}
	ps, err := db.ProductState(ctx, mysqlstore.ForReads, sku)
	if err != nil {
		return look{}, err
	}
	return look{redis: c, db: ps}, nil
}
