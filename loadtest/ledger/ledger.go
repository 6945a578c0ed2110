// Package ledger is what one system under test answered the buyers of a
// load test: the orders it confirmed, for the invariant check and for
// buyers who resend a purchase, and the purchases whose outcome the
// buyer never learnt or that were refused for certain.
package ledger

import (
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
)

// Order is an order confirmed to its buyer with a 201.
type Order struct {
	OrderID, Buyer, Key string
	SKU                 int // index in the plan's skus
}

// Purchase names one purchase: its buyer and idempotency key.
type Purchase struct{ Buyer, Key string }

// Ledger is safe for concurrent use.
type Ledger struct {
	mu        sync.Mutex
	confirmed []Order
	// The purchases whose outcome the buyer never learnt (an order may
	// exist), and those definitely refused (none may).
	lost    map[Purchase]bool
	refused map[Purchase]bool
}

// New returns an empty ledger.
func New() *Ledger {
	return &Ledger{lost: map[Purchase]bool{}, refused: map[Purchase]bool{}}
}

// Confirm notes an order confirmed to its buyer.
func (l *Ledger) Confirm(o Order) {
	l.mu.Lock()
	l.confirmed = append(l.confirmed, o)
	l.mu.Unlock()
}

// Lost notes a purchase whose answer never reached its buyer.
func (l *Ledger) Lost(buyer, key string) {
	l.mu.Lock()
	l.lost[Purchase{buyer, key}] = true
	l.mu.Unlock()
}

// Refused notes a purchase refused for certain: a 4xx, or a 503, which
// promises nothing was sold.
func (l *Ledger) Refused(buyer, key string) {
	l.mu.Lock()
	l.refused[Purchase{buyer, key}] = true
	l.mu.Unlock()
}

// Pick returns one confirmed order at random, for a buyer to resend.
func (l *Ledger) Pick(r *rand.Rand) (Order, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.confirmed) == 0 {
		return Order{}, false
	}
	return l.confirmed[r.IntN(len(l.confirmed))], true
}

// Snapshot returns copies of the confirmed orders and of the lost and
// refused purchases.
func (l *Ledger) Snapshot() (confirmed []Order, lost, refused map[Purchase]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.confirmed), maps.Clone(l.lost), maps.Clone(l.refused)
}
