// Package catalog is the merchant side of the origin: it validates lives
// and product rows, commits them to the database of record, then loads the
// new stock into Redis and publishes it. The database is written first, so
// a lowered stock bounds purchases from the moment it commits, whatever
// Redis still says.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"livecommerce/internal/stock"
	"livecommerce/origin/inventory"
	"livecommerce/origin/mysqlstore"
	"livecommerce/origin/redisstock"
	"livecommerce/origin/shop"
)

// Publisher announces stock changes.
type Publisher interface{ Publish(stock.Level) }

// Rebuilder loads a sku's counters from the database.
type Rebuilder interface {
	Rebuild(ctx context.Context, sku string) error
}

// Service applies merchant changes.
type Service struct {
	limits  shop.Limits
	db      *mysqlstore.Store
	redis   *redisstock.Store
	rebuild Rebuilder
	publish Publisher
	log     *slog.Logger
}

// New returns a Service.
func New(limits shop.Limits, db *mysqlstore.Store, redis *redisstock.Store, rebuild Rebuilder, publish Publisher, log *slog.Logger) *Service {
	return &Service{limits: limits, db: db, redis: redis, rebuild: rebuild, publish: publish, log: log}
}

// PutLive creates or updates a live. created reports a new live.
func (s *Service) PutLive(ctx context.Context, merchantID, liveID string, in shop.LiveInput) (shop.Live, bool, error) {
	l, err := shop.ParseLive(in)
	if err != nil {
		return shop.Live{}, false, err
	}
	l.ID, l.MerchantID = liveID, merchantID
	live, created, skus, err := s.db.UpsertLive(ctx, l, time.Now().UTC())
	if err != nil {
		return shop.Live{}, false, err
	}
	if created {
		// Readers may have found the id unknown a moment ago.
		if err := s.redis.ForgetLive(ctx, liveID); err != nil {
			s.log.Warn("new live stays unknown to reads for up to the unknown-id TTL", slog.String("live_id", liveID), slog.Any("error", err))
		}
	}
	if len(skus) > 0 {
		if err := s.redis.SetWindow(ctx, skus, l.SaleStart, l.SaleEnd); err != nil {
			// Until reconcile or a Redis restart, the old window holds in
			// Redis for these skus.
			s.log.Error("sale window committed but not applied in Redis; PUT the live again (or restart Redis) to apply it",
				slog.String("live_id", liveID), slog.Any("error", err))
		}
	}
	return live, created, nil
}

// RowsPerRequest is the most product rows one request may carry.
func (s *Service) RowsPerRequest() int { return s.limits.RowsPerRequest }

// PutProducts validates and applies a live's products all-or-nothing.
func (s *Service) PutProducts(ctx context.Context, merchantID, liveID string, rows []shop.ProductInput) ([]shop.Applied, error) {
	if len(rows) > s.limits.RowsPerRequest {
		return nil, shop.TooManyRows(s.limits.RowsPerRequest)
	}
	products, errs := shop.ValidateProducts(rows)
	if len(errs) > 0 {
		return nil, shop.RowsRejected(errs)
	}
	now := time.Now().UTC()
	applied, err := s.db.UpsertProducts(ctx, merchantID, liveID, products, s.limits.ProductsPerLive, "upload", now)
	var rejected *shop.RowsRejectedError
	var full *shop.LiveFullError
	switch {
	case errors.As(err, &rejected):
		return nil, shop.RowsRejected(rejected.Rows)
	case errors.As(err, &full):
		return nil, shop.LiveFull(full)
	}
	if err != nil {
		return nil, err
	}
	s.load(ctx, liveID, applied, now)
	return applied, nil
}

// load brings committed products into Redis and publishes them. A failure
// here leaves Redis behind the database, never ahead of it in a way that
// could oversell: the database bounds every order.
func (s *Service) load(ctx context.Context, liveID string, applied []shop.Applied, now time.Time) {
	// The load is the tail of a change already committed: it runs to its
	// end within its own budget, not the caller's, so that a slow client or
	// a deadline cannot leave half of a large upload unloaded (or trip the
	// Redis breaker with a string of deadline errors).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadBudget)
	defer cancel()
	skus := make([]string, len(applied))
	var created []string
	for i, a := range applied {
		skus[i] = a.SKU
		if a.Created {
			created = append(created, a.SKU)
		}
	}
	if err := s.redis.ForgetAbsent(ctx, skus); err != nil {
		s.log.Warn("new skus stay unknown to reads for up to 10s", slog.Any("error", err))
	}
	// What the database holds now for the skus this change created: loaded
	// as read, in a few queries, unless something changed them since.
	fresh, err := s.db.UnsoldStates(ctx, created)
	if err != nil {
		s.log.Warn("new products load one by one", slog.Any("error", err))
	}
	// Each sku is one Redis script, and a sku Redis does not hold yet
	// without a fresh state is a rebuild with a database write of its own:
	// a large upload takes them a few at a time.
	work := make(chan shop.Applied)
	var wg sync.WaitGroup
	for range min(loadWorkers, len(applied)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range work {
				s.loadOne(ctx, a, fresh[a.SKU], now)
			}
		}()
	}
	left := 0
	for i, a := range applied {
		if ctx.Err() != nil {
			left = len(applied) - i
			break
		}
		work <- a
	}
	close(work)
	wg.Wait()
	if left > 0 {
		s.log.Error("products committed but not loaded in Redis in time; they load on first use", slog.Int("skus", left))
	}
	// The listing is rebuilt whole from the database on the next read; not
	// before the skus are loaded, or that read would rebuild them one by one.
	if err := s.redis.ForgetLive(ctx, liveID); err != nil {
		s.log.Error("products committed but the live's listing in Redis is stale for up to a minute",
			slog.String("live_id", liveID), slog.Any("error", err))
	}
}

// loadWorkers is how many skus load loads at once: half of the inventory's
// rebuild slots, leaving the rest to purchases that find a sku missing.
const loadWorkers = 4

// loadBudget bounds the loading of one change.
const loadBudget = 2 * time.Minute

// loadOne applies a to Redis when Redis holds the sku. Otherwise a sku this
// change created, read back unsold at the version the change wrote
// (fresh), is loaded as read: it has no holdings and no version was ever
// published for it. Anything else is rebuilt, which reads the row and
// starts a new version epoch.
func (s *Service) loadOne(ctx context.Context, a shop.Applied, fresh shop.ProductState, now time.Time) {
	l, ok, err := s.redis.Apply(ctx, redisstock.Settings{
		SKU: a.SKU, LiveID: a.LiveID, Total: a.Stock, Limit: a.Limit, Low: a.Low,
		SaleStart: a.SaleStart, SaleEnd: a.SaleEnd, Version: a.Version,
	}, now)
	switch {
	case err != nil:
		s.log.Error("product committed but not applied in Redis; run `origin reconcile`", slog.String("sku", a.SKU), slog.Any("error", err))
	case ok:
		s.publish.Publish(l)
	case a.Created && fresh.SKU == a.SKU && fresh.Version == a.Version:
		loaded, err := s.redis.Load(ctx, inventory.Snapshot(fresh))
		switch {
		case err != nil:
			s.log.Error("product committed but not loaded in Redis; it loads on first use", slog.String("sku", a.SKU), slog.Any("error", err))
		case loaded:
			s.publish.Publish(stock.Level{
				SKU: a.SKU, LiveID: a.LiveID, Remaining: fresh.Stock, Version: fresh.Version,
				Status: stock.StatusFor(fresh.Stock, fresh.Low), UpdatedAt: fresh.UpdatedAt,
			})
		}
	default:
		if err := s.rebuild.Rebuild(ctx, a.SKU); err != nil {
			s.log.Error("product committed but not loaded in Redis", slog.String("sku", a.SKU), slog.Any("error", err))
		}
	}
}

// Adjust changes a sku's units on sale by a signed delta, records why,
// and brings Redis and the viewers up to date.
func (s *Service) Adjust(ctx context.Context, merchantID, sku string, in shop.AdjustmentInput) (shop.Applied, error) {
	if err := shop.CheckAdjustment(in); err != nil {
		return shop.Applied{}, err
	}
	now := time.Now().UTC()
	a, err := s.db.AdjustStock(ctx, merchantID, sku, *in.Delta, *in.Reason, shop.MaxStock, now)
	switch {
	case errors.Is(err, shop.ErrBelowSold):
		return shop.Applied{}, &shop.InvalidError{Message: "stock would fall below the units already sold; nothing was changed"}
	case errors.Is(err, shop.ErrStockTooHigh):
		return shop.Applied{}, &shop.InvalidError{Message: "stock would exceed the maximum of " + fmt.Sprint(shop.MaxStock)}
	case err != nil:
		return shop.Applied{}, err
	}
	s.load(ctx, a.LiveID, []shop.Applied{a}, now)
	return a, nil
}

// Lives lists a merchant's lives, newest first, up to the listing limit.
func (s *Service) Lives(ctx context.Context, merchantID string) ([]shop.LiveSummary, error) {
	return s.db.Lives(ctx, merchantID, s.limits.LivesListed)
}

// Report lists units sold, remaining and revenue per sku of a live, from
// the database of record.
func (s *Service) Report(ctx context.Context, merchantID, liveID string) ([]shop.ReportLine, error) {
	return s.db.Report(ctx, merchantID, liveID)
}
