// Package purchase is the buying path: Redis admits or refuses a purchase
// atomically, the committer makes admitted purchases durable in the
// database of record in small batches, and only then is the buyer answered
// and the change published.
package purchase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"livecommerce/internal/depguard"
	"livecommerce/internal/stock"
	"livecommerce/origin/redisstock"
	"livecommerce/origin/shop"
)

// Request is one buyer's purchase. The HTTP edge has validated its fields.
type Request struct {
	BuyerID        string
	IdempotencyKey string
	SKU            string
	Quantity       int
}

// Receipt is the body of a successful purchase.
type Receipt struct {
	OrderID   string `json:"order_id"`
	SKU       string `json:"sku"`
	Quantity  int    `json:"quantity"`
	Remaining int64  `json:"remaining"`
	Version   int64  `json:"version"`
	Status    string `json:"status"`
}

// Result is a purchase's answer. Body is the JSON to send; for a replay it
// is byte for byte the first answer.
type Result struct {
	Body     []byte
	Replayed bool
}

// ErrOutcomePending: the order may or may not have been committed (the
// database did not answer in time). Nothing will be sold twice: a retry
// with the same Idempotency-Key gets the settled answer.
var ErrOutcomePending = fmt.Errorf("%w: the outcome of this purchase is not known yet; retry with the same Idempotency-Key", stock.ErrUnavailable)

// Rebuilder loads a sku's counters from the database of record.
type Rebuilder interface {
	RebuildForPurchase(ctx context.Context, sku string) error
}

// DatabaseGuard tells whether the database's breaker is open.
type DatabaseGuard interface {
	Open() bool
}

// OrderFinder looks up a buyer's order by idempotency key in the database
// of record.
type OrderFinder interface {
	OrderByKey(ctx context.Context, buyerID, key string) (shop.Order, error)
}

// Service runs purchases.
type Service struct {
	redis     *redisstock.Store
	rebuilder Rebuilder
	dbGuard   DatabaseGuard
	orders    OrderFinder
	committer *Committer
	now       func() time.Time
}

// NewService returns a Service.
func NewService(redis *redisstock.Store, rebuilder Rebuilder, dbGuard DatabaseGuard, orders OrderFinder, committer *Committer) *Service {
	return &Service{redis: redis, rebuilder: rebuilder, dbGuard: dbGuard, orders: orders, committer: committer, now: time.Now}
}

func fingerprint(sku string, qty int) string { return sku + "\x00" + strconv.Itoa(qty) }

// Purchase admits, commits and answers one purchase. Errors are the stock
// sentinels (sold out, limit, idempotency, unavailable, not found).
func (s *Service) Purchase(ctx context.Context, r Request) (Result, error) {
	// With the database down there is no point taking units in Redis only
	// to give them back: refuse before touching anything.
	if s.dbGuard.Open() {
		return Result{}, fmt.Errorf("%w: database circuit open", stock.ErrUnavailable)
	}
	rr := redisstock.ReserveRequest{
		BuyerID: r.BuyerID, IdempotencyKey: r.IdempotencyKey, SKU: r.SKU, Quantity: r.Quantity,
		Fingerprint: fingerprint(r.SKU, r.Quantity), OrderID: shop.NewID(time.Now()), Now: s.now(),
	}
	res, err := s.redis.Reserve(ctx, rr)
	if err == nil && res.Outcome == redisstock.Missing {
		if err := s.rebuilder.RebuildForPurchase(ctx, r.SKU); err != nil {
			return Result{}, err
		}
		res, err = s.redis.Reserve(ctx, rr)
	}
	if err != nil {
		if mayHaveRun(err) {
			// The script may have run with only its reply lost (a read
			// timeout): give back whatever it may have taken.
			s.committer.giveBackLater(rr)
		}
		return Result{}, err
	}
	if refused(res.Outcome) && res.Held > 0 {
		// A buyer who already holds units may be replaying a purchase
		// whose idempotency record Redis lost (flush, failover, expiry):
		// the database's unique key remembers it. Buyers holding nothing
		// cannot be, so a sold-out flood costs the database nothing.
		if r, ok, err := s.replayFromDatabase(ctx, rr); ok || err != nil {
			return r, err
		}
	}
	switch res.Outcome {
	case redisstock.Reserved:
	case redisstock.Replay:
		return Result{Body: res.Response, Replayed: true}, nil
	case redisstock.KeyReused:
		return Result{}, stock.ErrIdempotencyKeyReused
	case redisstock.KeyInUse:
		return Result{}, stock.ErrIdempotencyKeyInUse
	case redisstock.SoldOut:
		return Result{}, stock.ErrSoldOut
	case redisstock.Insufficient:
		return Result{}, stock.ErrInsufficientStock
	case redisstock.LimitExceeded:
		return Result{}, stock.ErrLimitExceeded
	case redisstock.NotOpen:
		return Result{}, stock.ErrSaleNotOpen
	default:
		return Result{}, fmt.Errorf("%w: stock of %s was not ready", stock.ErrUnavailable, r.SKU)
	}

	j := &job{req: rr, level: res.Level, done: make(chan outcome, 1)}
	if err := s.committer.submit(ctx, j); err != nil {
		s.committer.release(j)
		return Result{}, err
	}
	select {
	case o := <-j.done:
		return o.result, o.err
	case <-ctx.Done():
		// The committer still settles this purchase (commit and confirm,
		// or release); the buyer learns which by retrying the key.
		return Result{}, ErrOutcomePending
	}
}

// mayHaveRun tells a Reserve error after which the script may have run
// from one where it certainly was not sent: the breaker refused, no pooled
// connection was free, or the connection could not be made.
func mayHaveRun(err error) bool {
	var op *net.OpError
	switch {
	case errors.Is(err, depguard.ErrOpen), errors.Is(err, redis.ErrPoolTimeout):
		return false
	case errors.As(err, &op) && op.Op == "dial":
		return false
	}
	return true
}

func refused(o redisstock.Outcome) bool {
	switch o {
	case redisstock.SoldOut, redisstock.Insufficient, redisstock.LimitExceeded, redisstock.NotOpen:
		return true
	}
	return false
}

// replayFromDatabase answers with the order the database holds under the
// request's idempotency key, if any, and records it in Redis again.
func (s *Service) replayFromDatabase(ctx context.Context, rr redisstock.ReserveRequest) (Result, bool, error) {
	o, err := s.orders.OrderByKey(ctx, rr.BuyerID, rr.IdempotencyKey)
	if errors.Is(err, stock.ErrNotFound) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, err
	}
	if fingerprint(o.SKU, o.Quantity) != rr.Fingerprint {
		return Result{}, true, stock.ErrIdempotencyKeyReused
	}
	var l stock.Level
	if levels, _, err := s.redis.Levels(ctx, []string{o.SKU}); err == nil {
		l = levels[0]
	}
	body := receiptBody(Receipt{
		OrderID: o.ID, SKU: o.SKU, Quantity: o.Quantity, Remaining: l.Remaining, Version: l.Version, Status: o.Status,
	})
	// Best effort: without it the next replay asks the database again.
	_ = s.redis.Confirm(ctx, []redisstock.Confirmation{{BuyerID: rr.BuyerID, IdempotencyKey: rr.IdempotencyKey, Fingerprint: rr.Fingerprint, Response: body}})
	return Result{Body: body, Replayed: true}, true, nil
}

func receiptBody(rc Receipt) []byte {
	b, err := json.Marshal(rc)
	if err != nil {
		panic(fmt.Sprintf("purchase: marshal receipt: %v", err)) // plain struct: cannot fail
	}
	return b
}
