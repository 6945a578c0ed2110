// Package stock is the shared vocabulary of the platform: the stock level a
// viewer reads, the event that carries a change of it between services, the
// identifiers both are keyed by, and the errors a purchase can end in.
package stock

import (
	"errors"
	"regexp"
	"strings"
	"time"
)

// MaxOriginCache is the longest an origin may answer a stock read from its
// own micro-cache. The edge invalidator waits longer than this before it
// purges, so that the edge's refetch cannot get an answer from before the
// change.
const MaxOriginCache = 250 * time.Millisecond

// Cache tags name what a cached stock answer shows, so the edge can purge
// it: sku-{sku} on a sku's answer and on its live's listing, live-{live_id}
// on both too. The origin sets them, the edge invalidator purges them.
const (
	skuTagPrefix  = "sku-"
	liveTagPrefix = "live-"
)

// SKUTag is the cache tag of a sku's answers.
func SKUTag(sku string) string { return skuTagPrefix + sku }

// LiveTag is the cache tag of a live's answers.
func LiveTag(liveID string) string { return liveTagPrefix + liveID }

// ParseTag splits a cache tag into its sku or live id; ok is false for
// anything SKUTag and LiveTag cannot have made from a valid id.
func ParseTag(tag string) (sku, liveID string, ok bool) {
	if id, found := strings.CutPrefix(tag, skuTagPrefix); found && ValidID(id) {
		return id, "", true
	}
	if id, found := strings.CutPrefix(tag, liveTagPrefix); found && ValidID(id) {
		return "", id, true
	}
	return "", "", false
}

// Status is the coarse state shown to viewers. It changes far less often than
// the count, which is why the edge is purged on status changes only.
type Status string

const (
	InStock  Status = "in_stock"
	LowStock Status = "low_stock"
	SoldOut  Status = "sold_out"
)

// StatusFor derives the status from the remaining units and the product's
// low-stock threshold.
func StatusFor(remaining, lowThreshold int64) Status {
	switch {
	case remaining <= 0:
		return SoldOut
	case remaining <= lowThreshold:
		return LowStock
	default:
		return InStock
	}
}

// Level is the stock object of the public contract.
type Level struct {
	SKU       string    `json:"sku"`
	LiveID    string    `json:"live_id"`
	Remaining int64     `json:"remaining"`
	Status    Status    `json:"status"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	// SameStatus is set, by whoever made the change, only when it is known
	// to leave the status as it was: a sale or a give-back that did not
	// cross a threshold. Its event then goes to the stock subject only, not
	// to the status subject. It is never on the wire.
	SameStatus bool `json:"-"`
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidID reports whether s is a well-formed live_id or sku.
func ValidID(s string) bool {
	return len(s) <= 64 && idPattern.MatchString(s)
}

// Sentinel errors a purchase or a read can end in. The HTTP edge maps each to
// one contract code; anything else is unexpected.
var (
	ErrNotFound             = errors.New("stock: not found")
	ErrSoldOut              = errors.New("stock: sold out")
	ErrInsufficientStock    = errors.New("stock: fewer units remain than requested")
	ErrLimitExceeded        = errors.New("stock: per-buyer limit exceeded")
	ErrSaleNotOpen          = errors.New("stock: sale is not open")
	ErrIdempotencyKeyReused = errors.New("stock: idempotency key reused with another request")
	ErrIdempotencyKeyInUse  = errors.New("stock: a request with this idempotency key is in progress")
	// ErrUnavailable wraps dependency failures (Redis, MySQL, an open breaker):
	// the request changed nothing and may be retried.
	ErrUnavailable = errors.New("stock: temporarily unavailable")
)

// Answer is the contract's answer to one of the errors above: the HTTP
// status, the error code, a message for people, and the seconds to send
// in Retry-After (0: none).
type Answer struct {
	Status     int
	Code       string
	Message    string
	RetryAfter int
}

// answers is the one table of the sentinel errors' contract codes, shared
// by every server that speaks the purchase contract (the origin, and the
// load test's naive baseline). The first match wins.
var answers = []struct {
	err    error
	answer Answer
}{
	{ErrNotFound, Answer{404, "not_found", "not found", 0}},
	{ErrSoldOut, Answer{409, "sold_out", "this product is sold out", 0}},
	{ErrInsufficientStock, Answer{409, "insufficient_stock", "fewer units remain than requested", 0}},
	{ErrLimitExceeded, Answer{409, "purchase_limit_exceeded", "this would exceed the per-buyer limit for this product", 0}},
	{ErrSaleNotOpen, Answer{409, "sale_not_open", "the sale for this product is not open", 0}},
	{ErrIdempotencyKeyReused, Answer{422, "idempotency_key_reused", "this Idempotency-Key was used with a different request", 0}},
	{ErrIdempotencyKeyInUse, Answer{409, "idempotency_key_in_use", "a request with this Idempotency-Key is still in progress", 1}},
	{ErrUnavailable, Answer{503, "unavailable", "a dependency is unavailable; retry shortly", 1}},
}

// AnswerFor returns the contract's answer to err when err is, or wraps,
// one of the sentinel errors above; ok is false for any other error.
func AnswerFor(err error) (a Answer, ok bool) {
	for _, e := range answers {
		if errors.Is(err, e.err) {
			return e.answer, true
		}
	}
	return Answer{}, false
}
