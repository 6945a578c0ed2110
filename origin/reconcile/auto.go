package reconcile

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"livecommerce/origin/mysqlstore"
	"livecommerce/origin/redisstock"
)

// Auto repairs drift without an operator: skus reported by the purchase
// path (the database refused what Redis admitted) are checked at once, and
// every sku on an interval (which also catches units a crashed process left
// reserved). Each sku is checked at most once per cooldown.
type Auto struct {
	db       *mysqlstore.Store
	rs       *redisstock.Store
	publish  Publisher
	log      *slog.Logger
	settle   time.Duration
	interval time.Duration
	cooldown time.Duration

	mu      sync.Mutex
	pending map[string]bool
	checked map[string]time.Time

	kick     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// NewAuto starts the background loop; interval 0 disables the sweep of
// every sku. settle must exceed the longest a purchase stays between
// reservation and commit. Close stops it.
func NewAuto(db *mysqlstore.Store, rs *redisstock.Store, publish Publisher, log *slog.Logger, interval, settle time.Duration) *Auto {
	a := &Auto{
		db: db, rs: rs, publish: publish, log: log,
		settle: settle, interval: interval, cooldown: 2 * time.Second,
		pending: map[string]bool{}, checked: map[string]time.Time{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go a.loop()
	return a
}

// Drifted queues a sku for a check; it never blocks.
func (a *Auto) Drifted(sku string) {
	a.mu.Lock()
	a.pending[sku] = true
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// Close stops the loop and waits for a check in progress.
func (a *Auto) Close() {
	a.stopOnce.Do(func() { close(a.stop) })
	<-a.done
}

func (a *Auto) loop() {
	defer close(a.done)
	var sweep <-chan time.Time
	if a.interval > 0 {
		t := time.NewTicker(a.interval)
		defer t.Stop()
		sweep = t.C
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-a.stop
		cancel()
	}()
	for {
		select {
		case <-a.stop:
			return
		case <-a.kick:
			a.check(ctx, a.due())
		case <-sweep:
			rep, err := Sweep(ctx, a.db, a.rs, a.publish, a.settle)
			if err != nil {
				a.log.Warn("reconcile sweep failed", slog.Any("error", err))
				continue
			}
			a.logFindings(rep)
		}
	}
}

// due takes the pending skus whose cooldown has passed; the others stay
// pending for a later kick.
func (a *Auto) due() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	var skus []string
	for sku := range a.pending {
		if now.Sub(a.checked[sku]) < a.cooldown {
			continue
		}
		delete(a.pending, sku)
		a.checked[sku] = now
		skus = append(skus, sku)
	}
	if len(a.pending) > 0 {
		// Come back for the ones still cooling down.
		time.AfterFunc(a.cooldown, func() {
			select {
			case a.kick <- struct{}{}:
			default:
			}
		})
	}
	for sku, t := range a.checked {
		if now.Sub(t) > time.Minute {
			delete(a.checked, sku)
		}
	}
	return skus
}

func (a *Auto) check(ctx context.Context, skus []string) {
	if len(skus) == 0 {
		return
	}
	rep, err := RunSKUs(ctx, a.db, a.rs, a.publish, true, a.settle, skus)
	if err != nil {
		a.log.Warn("reconcile failed", slog.Int("skus", len(skus)), slog.Any("error", err))
		return
	}
	a.logFindings(rep)
}

func (a *Auto) logFindings(rep Report) {
	for _, f := range rep.Findings {
		if f.Repaired {
			a.log.Warn("stock counters repaired from the database", slog.String("finding", f.String()))
		} else if f.SkippedMovedBefore {
			// Still selling: look again once it settles.
			a.Drifted(f.SKU)
		}
	}
}
