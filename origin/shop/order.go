package shop

import "time"

// OrderRequest is a purchase that Redis admitted, to be made durable.
type OrderRequest struct {
	ID             string
	BuyerID        string
	IdempotencyKey string
	SKU            string
	Quantity       int
	// Version is the stock version Redis gave the reservation; the
	// product row keeps the highest one committed.
	Version int64
}

// Verdict is what the database of record decided about one OrderRequest.
type Verdict int

// The verdicts.
const (
	Committed Verdict = iota
	RejectedNotFound
	RejectedSoldOut
	RejectedInsufficient
	RejectedLimit
	RejectedNotOpen // outside the live's sale window
	// Duplicate: the buyer already has an order under this idempotency
	// key (Redis had lost the key); Result.Order holds that order.
	Duplicate
	// InProgress: the same buyer and key appear twice in one batch; the
	// first one stands.
	InProgress
)

// Order is a confirmed purchase.
type Order struct {
	ID             string
	BuyerID        string
	IdempotencyKey string
	SKU            string
	LiveID         string
	Quantity       int
	UnitPrice      int64
	Currency       string
	Status         string
	CreatedAt      time.Time
}

// Result pairs a verdict with the order it produced or found.
type Result struct {
	Verdict Verdict
	Order   Order
}

// ReportLine is one sku of a live's sales report.
type ReportLine struct {
	SKU       string
	Name      string
	Currency  string
	Stock     int64
	UnitsSold int64
	Remaining int64
	Revenue   int64
	Orders    int64
}
