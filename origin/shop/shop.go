// Package shop is the origin's business vocabulary: lives, products and
// orders, the limits on what a merchant may send, their validation, and
// the errors the rest of the origin answers with. It knows nothing of
// storage or HTTP: mysqlstore stores these types, httpapi maps them to the
// wire, and the merchants' CLI checks its files with the same rules.
//
// Stock levels, stock events and the purchase outcomes shared with the
// stockfeed are internal/stock's.
package shop

import (
	"errors"
	"fmt"
)

// Limits on what a merchant may send.
const (
	MaxTitle    = 200
	MaxName     = 200
	MaxPrice    = 1_000_000_000_000 // minor units
	MaxStock    = 100_000_000
	MaxLimit    = 10_000
	MaxProducts = 5_000 // rows per request at most; the CLI sends larger files in parts
	// MaxRowErrors is how many row problems one answer lists: enough to fix
	// a file in a pass or two, small whatever a request holds.
	MaxRowErrors = 100
)

// Limits bound what one merchant's request may make the origin hold and
// what one live may grow to (a live's stock read and each viewer's
// snapshot carry every product of the live). They are settings.
type Limits struct {
	RowsPerRequest  int // product rows per upsert, 1..MaxProducts
	ProductsPerLive int // products one live may hold
	LivesListed     int // lives one listing shows, newest first
}

// DefaultLimits are the settings' defaults.
var DefaultLimits = Limits{RowsPerRequest: MaxProducts, ProductsPerLive: 2_000, LivesListed: 1_000}

// Errors of merchant changes.
var (
	// ErrBelowSold: a stock change would leave fewer units on sale than
	// were already sold.
	ErrBelowSold = errors.New("shop: stock would fall below the units already sold")
	// ErrStockTooHigh: a stock change would exceed MaxStock.
	ErrStockTooHigh = errors.New("shop: stock would exceed the maximum")
)

// InvalidError refuses a merchant's request, with per-field or per-row
// reasons.
type InvalidError struct {
	Message string
	Rows    []RowError
}

func (e *InvalidError) Error() string { return "shop: " + e.Message }

// RowError explains why one row of an upsert was refused. Row counts from 1.
type RowError struct {
	Row    int
	Field  string
	Reason string
}

// RowsRejectedError is an upsert refused as a whole because of these rows.
type RowsRejectedError struct{ Rows []RowError }

func (e *RowsRejectedError) Error() string {
	return fmt.Sprintf("shop: %d rows rejected", len(e.Rows))
}

// LiveFullError refuses an upsert that would leave a live with more than
// Max products.
type LiveFullError struct{ Max, Have, Adding int }

func (e *LiveFullError) Error() string {
	return fmt.Sprintf("shop: a live holds at most %d products; it has %d and the upsert adds %d", e.Max, e.Have, e.Adding)
}

// RowsRejected is the answer to an upsert refused for these rows: the count
// of them all, and the first MaxRowErrors.
func RowsRejected(rows []RowError) *InvalidError {
	msg := fmt.Sprintf("%d rows rejected; nothing was applied", countRows(rows))
	if len(rows) > MaxRowErrors {
		msg += fmt.Sprintf(" (the first %d of %d problems are listed)", MaxRowErrors, len(rows))
		rows = rows[:MaxRowErrors]
	}
	return &InvalidError{Message: msg, Rows: rows}
}

// countRows counts the distinct rows among problems, which come in row
// order.
func countRows(problems []RowError) int {
	n, last := 0, 0
	for _, p := range problems {
		if p.Row != last {
			n, last = n+1, p.Row
		}
	}
	return n
}

// TooManyRows refuses a request of more than max product rows.
func TooManyRows(max int) *InvalidError {
	return &InvalidError{Message: fmt.Sprintf("at most %d products per request; send larger files in parts (merchantctl does); nothing was applied", max)}
}

// LiveFull is the answer to an upsert refused by the products-per-live cap.
func LiveFull(e *LiveFullError) *InvalidError {
	return &InvalidError{Message: fmt.Sprintf("a live holds at most %d products; it has %d and this request adds %d; nothing was applied", e.Max, e.Have, e.Adding)}
}
