package purchase

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"livecommerce/internal/stock"
	"livecommerce/origin/mysqlstore"
	"livecommerce/origin/redisstock"
	"livecommerce/origin/shop"
)

// Publisher announces committed stock changes.
type Publisher interface {
	Publish(stock.Level)
}

// DriftReporter is told when the database refused what Redis admitted, so
// that sku's counters get compared and repaired.
type DriftReporter interface {
	Drifted(sku string)
}

type outcome struct {
	result Result
	err    error
}

type job struct {
	req   redisstock.ReserveRequest
	level stock.Level // after the reservation
	done  chan outcome
}

// CommitterOptions tune batching.
type CommitterOptions struct {
	// Shards is the number of writer loops; a sku always goes to the same
	// one, so its product row is only ever updated by one transaction of
	// this process at a time (default 1: one loop gathers the largest
	// batches, and a batch already commits many skus in one transaction).
	Shards int
	// Window is the shortest time between the starts of two commits of a
	// busy loop (default 20ms): one that receives at least BusyRate
	// purchases a second. A busy loop commits at most once per Window, and
	// the batch is what queued meanwhile, so a batch grows with the load
	// and its cost is shared by more purchases. It also caps the updates of
	// a hot sku's row at one per Window per origin, which keeps a
	// multi-primary Galera cluster's certification conflicts on that row
	// rare. 0 removes the wait: commits go back to back.
	Window time.Duration
	// BusyRate is the arrival rate, in purchases a second per loop, from
	// which a loop waits for company (default 200). Below it, a purchase
	// is committed at once with whatever else is queued: nobody is waited
	// for when nobody is coming. 0 makes every loop busy.
	BusyRate float64
	// MaxBatch caps a batch (default 500).
	MaxBatch int
	// CommitTimeout bounds one batch transaction, retries included
	// (default 1.5s). A database that hangs is detected by batches
	// running out of it, so it also sets how soon the breaker opens.
	CommitTimeout time.Duration
}

// Committer batches admitted purchases into database transactions and
// settles each one: confirm in Redis and publish, or give the units back.
type Committer struct {
	db      *mysqlstore.Store
	redis   *redisstock.Store
	publish Publisher
	drift   DriftReporter
	log     *slog.Logger
	opts    CommitterOptions
	shards  []chan *job
	wg      sync.WaitGroup

	mu     sync.RWMutex
	closed bool
	stop   chan struct{} // closed by Close: background settling gives up

	batchSize *prometheus.HistogramVec
	outcomes  *prometheus.CounterVec
	rowWrites prometheus.Counter
}

// NewCommitter starts the writer loops. Close stops them after draining.
func NewCommitter(db *mysqlstore.Store, redis *redisstock.Store, publish Publisher, drift DriftReporter, reg prometheus.Registerer, log *slog.Logger, o CommitterOptions) *Committer {
	if o.Shards <= 0 {
		o.Shards = 1
	}
	if o.Window < 0 {
		o.Window = 20 * time.Millisecond
	}
	if o.BusyRate < 0 {
		o.BusyRate = 200
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 500
	}
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = 1500 * time.Millisecond
	}
	c := &Committer{
		db: db, redis: redis, publish: publish, drift: drift, log: log, opts: o,
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "purchase_batch_size", Help: "Purchases per database transaction.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500},
		}, []string{"shard"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "purchase_commit_outcomes_total", Help: "Admitted purchases by what the database decided.",
		}, []string{"outcome"}),
		rowWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "purchase_product_row_updates_total", Help: "Product row updates made by order batches (one per sku per batch).",
		}),
	}
	c.stop = make(chan struct{})
	reg.MustRegister(c.batchSize, c.outcomes, c.rowWrites)
	for i := 0; i < o.Shards; i++ {
		ch := make(chan *job, o.MaxBatch*4)
		c.shards = append(c.shards, ch)
		c.wg.Add(1)
		go c.loop(fmt.Sprint(i), ch)
	}
	return c
}

func (c *Committer) submit(ctx context.Context, j *job) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return fmt.Errorf("%w: shutting down", stock.ErrUnavailable)
	}
	h := fnv.New32a()
	h.Write([]byte(j.req.SKU))
	select {
	case c.shards[h.Sum32()%uint32(len(c.shards))] <- j:
		return nil
	case <-ctx.Done():
		// The shard's queue is full: its database writes are stuck.
		return fmt.Errorf("%w: order queue full", stock.ErrUnavailable)
	}
}

// Close stops accepting purchases, commits what is queued and waits for
// the loops to finish. Call it after the HTTP server has drained.
func (c *Committer) Close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		for _, ch := range c.shards {
			close(ch)
		}
		close(c.stop)
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *Committer) loop(shard string, ch chan *job) {
	defer c.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	p := pace{window: c.opts.Window, busyRate: c.opts.BusyRate}
	for {
		first, ok := <-ch
		if !ok {
			return
		}
		batch, open := c.collect(ch, first, p.wait(time.Now()), timer)
		c.batchSize.WithLabelValues(shard).Observe(float64(len(batch)))
		p.started(time.Now(), len(batch))
		c.commit(batch)
		if !open {
			// The channel is closed and empty: Close closes it only once no
			// purchase can be submitted, and everything queued before was
			// collected above.
			return
		}
	}
}

// collect builds a batch from first: it takes what is queued at once, and
// waits up to wait (when positive) for more. open is false once the
// channel was found closed.
func (c *Committer) collect(ch chan *job, first *job, wait time.Duration, timer *time.Timer) (batch []*job, open bool) {
	batch = []*job{first}
	if wait > 0 {
		timer.Reset(wait)
		defer func() {
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}()
	}
	for len(batch) < c.opts.MaxBatch {
		if wait <= 0 {
			select {
			case j, ok := <-ch:
				if !ok {
					return batch, false
				}
				batch = append(batch, j)
				continue
			default:
				return batch, true
			}
		}
		select {
		case j, ok := <-ch:
			if !ok {
				return batch, false
			}
			batch = append(batch, j)
		case <-timer.C:
			// Time's up: take only what is queued now.
			wait = 0
		}
	}
	return batch, true
}

func (c *Committer) commit(batch []*job) {
	now := time.Now().UTC()
	reqs := make([]shop.OrderRequest, len(batch))
	for i, j := range batch {
		reqs[i] = shop.OrderRequest{
			ID: j.req.OrderID, BuyerID: j.req.BuyerID, IdempotencyKey: j.req.IdempotencyKey,
			SKU: j.req.SKU, Quantity: j.req.Quantity, Version: j.level.Version,
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.CommitTimeout)
	results, err := c.db.CommitOrders(ctx, reqs, now)
	cancel()

	switch {
	case errors.Is(err, mysqlstore.ErrOutcomeUnknown):
		// Neither confirm nor release yet: the buyers are told to retry
		// with their keys (which answer "in use" meanwhile) and the batch
		// is settled as soon as the database can say whether it landed.
		c.log.Error("order batch outcome unknown; settling in the background", slog.Int("orders", len(batch)), slog.Any("error", err))
		c.outcomes.WithLabelValues("unknown").Add(float64(len(batch)))
		for _, j := range batch {
			deliver(j, outcome{err: ErrOutcomePending})
		}
		c.settleLater(batch, results)
		return
	case err != nil:
		c.fail(batch, err)
		return
	}
	c.apply(batch, results)
}

func deliver(j *job, o outcome) {
	// done holds one answer; a job settled late already had "pending".
	select {
	case j.done <- o:
	default:
	}
}

// fail gives every reservation of a batch that did not land back.
func (c *Committer) fail(batch []*job, err error) {
	c.log.Warn("order batch failed; reservations released", slog.Int("orders", len(batch)), slog.Any("error", err))
	c.outcomes.WithLabelValues("failed").Add(float64(len(batch)))
	for _, j := range batch {
		c.release(j)
		deliver(j, outcome{err: unavailable(err)})
	}
}

// settleLater asks the database, with backoff, whether a batch whose
// commit outcome was lost landed, then confirms or releases it like any
// other batch. It gives up when the committer closes; the keys then stay
// pending until they expire, and `origin reconcile` returns leaked units.
func (c *Committer) settleLater(batch []*job, results []shop.Result) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		delay := 100 * time.Millisecond
		for {
			select {
			case <-c.stop:
				return
			case <-time.After(delay):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			landed, err := c.db.BatchLanded(ctx, results)
			cancel()
			switch {
			case err != nil:
				delay = min(delay*2, 5*time.Second)
				continue
			case landed:
				c.log.Info("order batch settled: it landed", slog.Int("orders", len(batch)))
				c.apply(batch, results)
			default:
				c.fail(batch, errors.New("order batch settled: it did not land"))
			}
			return
		}
	}()
}

// apply settles a committed batch: confirm or give back each purchase,
// publish the new levels, answer the buyers.
func (c *Committer) apply(batch []*job, results []shop.Result) {
	var confirms []redisstock.Confirmation
	latest := map[string]stock.Level{}
	stockDrift, windowDrift := map[string]bool{}, map[string]bool{}
	outs := make([]outcome, len(batch))
	for i, r := range results {
		j := batch[i]
		switch r.Verdict {
		case shop.Committed:
			body := receiptBody(Receipt{
				OrderID: r.Order.ID, SKU: r.Order.SKU, Quantity: r.Order.Quantity,
				Remaining: j.level.Remaining, Version: j.level.Version, Status: "confirmed",
			})
			confirms = append(confirms, redisstock.Confirmation{BuyerID: j.req.BuyerID, IdempotencyKey: j.req.IdempotencyKey, Fingerprint: j.req.Fingerprint, Response: body})
			outs[i] = outcome{result: Result{Body: body}}
			// The event of the batch's newest level goes to the status
			// subject unless no sale of the sku in the batch changed it.
			l, seen := latest[j.req.SKU]
			same := j.level.SameStatus && (!seen || l.SameStatus)
			if !seen || l.Version < j.level.Version {
				l = j.level
			}
			l.SameStatus = same
			latest[j.req.SKU] = l
			c.outcomes.WithLabelValues("committed").Inc()
			continue
		case shop.Duplicate:
			var confirm *redisstock.Confirmation
			outs[i], confirm = c.duplicate(j, r.Order)
			if confirm != nil {
				confirms = append(confirms, *confirm)
			}
			c.outcomes.WithLabelValues("duplicate").Inc()
			continue
		}
		// The database refused what Redis admitted: Redis had drifted (a
		// flush, lost writes, a restore). First, this may be a replay whose
		// own earlier order is what fills the limit or the stock.
		if o, err := c.orderByKey(j); err == nil {
			var confirm *redisstock.Confirmation
			outs[i], confirm = c.duplicate(j, o)
			if confirm != nil {
				confirms = append(confirms, *confirm)
			}
			c.outcomes.WithLabelValues("duplicate").Inc()
			continue
		}
		// Otherwise the database's word stands, and the counters are
		// brought in line (below, once per sku) and fully reconciled in
		// the background.
		c.release(j)
		c.drift.Drifted(j.req.SKU)
		if r.Verdict == shop.RejectedNotOpen {
			windowDrift[j.req.SKU] = true
		} else {
			stockDrift[j.req.SKU] = true
		}
		var e error
		switch r.Verdict {
		case shop.RejectedNotFound:
			e = stock.ErrNotFound
		case shop.RejectedSoldOut:
			e = stock.ErrSoldOut
		case shop.RejectedInsufficient:
			e = stock.ErrInsufficientStock
		case shop.RejectedLimit:
			e = stock.ErrLimitExceeded
		case shop.RejectedNotOpen:
			e = stock.ErrSaleNotOpen
		default:
			e = stock.ErrIdempotencyKeyInUse
		}
		c.outcomes.WithLabelValues("refused_by_database").Inc()
		c.log.Warn("database refused a purchase Redis admitted; repairing the counters",
			slog.String("sku", j.req.SKU), slog.String("reason", e.Error()))
		outs[i] = outcome{err: e}
	}
	c.realign(stockDrift, windowDrift)
	// One conditional UPDATE per sku with committed orders in the batch.
	c.rowWrites.Add(float64(len(latest)))

	if len(confirms) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := c.redis.Confirm(ctx, confirms); err != nil {
			// The orders are durable; a replay before the pending records
			// expire answers "in use", after that the database's unique
			// key finds the order.
			c.log.Warn("could not record finished purchases in Redis", slog.Int("orders", len(confirms)), slog.Any("error", err))
		}
		cancel()
	}
	for _, l := range latest {
		c.publish.Publish(l)
	}
	for i, j := range batch {
		deliver(j, outs[i])
	}
}

// realign corrects Redis where the database just refused what it
// admitted, without waiting for reconcile's two looks (which a sku under
// steady demand, each refused attempt moving its version, might never
// pass). Remaining is only ever lowered to what the database has left,
// which is never below the units truly available (reservations in flight
// are counted in Redis, not yet in the database), so this cannot take a
// purchase in flight away. A refused sale window is reloaded whole.
func (c *Committer) realign(stockDrift, windowDrift map[string]bool) {
	if len(stockDrift) == 0 && len(windowDrift) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for sku := range stockDrift {
		totals, err := c.db.Totals(ctx, mysqlstore.ForPurchases, []string{sku})
		if err != nil {
			c.log.Warn("could not read totals to realign Redis", slog.String("sku", sku), slog.Any("error", err))
			continue
		}
		t, ok := totals[sku]
		if !ok {
			continue
		}
		l, lowered, err := c.redis.Clamp(ctx, sku, t[0], t[1], time.Now())
		if err != nil {
			c.log.Warn("could not realign Redis with the database", slog.String("sku", sku), slog.Any("error", err))
			continue
		}
		if lowered {
			c.publish.Publish(l)
		}
	}
	for sku := range windowDrift {
		start, end, err := c.db.SaleWindow(ctx, sku)
		if err == nil {
			err = c.redis.SetWindow(ctx, []string{sku}, start, end)
		}
		if err != nil {
			c.log.Warn("could not reload a sale window into Redis", slog.String("sku", sku), slog.Any("error", err))
		}
	}
}

func (c *Committer) orderByKey(j *job) (shop.Order, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.db.OrderByKey(ctx, j.req.BuyerID, j.req.IdempotencyKey)
}

// duplicate answers a purchase whose idempotency key already has an order
// in the database (Redis had forgotten the key): the units just reserved go
// back, and the first order is replayed when the body matches. The replay
// is recorded in Redis so later retries answer from there.
func (c *Committer) duplicate(j *job, first shop.Order) (outcome, *redisstock.Confirmation) {
	l, ok := c.release(j)
	if fingerprint(first.SKU, first.Quantity) != j.req.Fingerprint {
		return outcome{err: stock.ErrIdempotencyKeyReused}, nil
	}
	if !ok {
		l = j.level
	}
	body := receiptBody(Receipt{
		OrderID: first.ID, SKU: first.SKU, Quantity: first.Quantity,
		Remaining: l.Remaining, Version: l.Version, Status: first.Status,
	})
	return outcome{result: Result{Body: body, Replayed: true}},
		&redisstock.Confirmation{BuyerID: j.req.BuyerID, IdempotencyKey: j.req.IdempotencyKey, Fingerprint: j.req.Fingerprint, Response: body}
}

// giveBackLater releases a reservation that may or may not exist: now,
// and once more a moment later in case the script ran after its reply was
// given up on. The release acts only while the idempotency record names
// this very order, so it never touches anything else.
func (c *Committer) giveBackLater(req redisstock.ReserveRequest) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		// Shutting down: no background work may start after Close.
		c.release(&job{req: req})
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		j := &job{req: req}
		for _, wait := range []time.Duration{0, time.Second} {
			select {
			case <-c.stop:
				return
			case <-time.After(wait):
			}
			c.release(j)
		}
	}()
}

// release gives a reservation back and publishes the restored level.
func (c *Committer) release(j *job) (stock.Level, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req := j.req
	req.Now = time.Now()
	l, ok, err := c.redis.Release(ctx, req)
	if err != nil {
		// The units stay reserved in Redis (undersell, never oversell)
		// until reconcile repairs the counter.
		c.log.Error("could not release a reservation", slog.String("sku", req.SKU), slog.String("order_id", req.OrderID), slog.Any("error", err))
		return stock.Level{}, false
	}
	if ok {
		c.publish.Publish(l)
	}
	return l, ok
}

func unavailable(err error) error {
	if errors.Is(err, stock.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", stock.ErrUnavailable, err)
}
