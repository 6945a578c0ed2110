package shop

import (
	"crypto/rand"
	"time"

	"github.com/oklog/ulid/v2"
)

// NewID returns a fresh id for an order or a stock adjustment made at t: a
// ULID, so ids sort by millisecond, whose 80 bits after the millisecond
// come from crypto/rand. ulid.Make would draw them from a math/rand source
// seeded with the start time and, within a millisecond, only add a small
// increment to the previous id, so one buyer's order id would give away the
// ids of everyone who bought in the same millisecond. crypto/rand.Reader is
// safe for concurrent use, so nothing here is locked, and it never returns
// an error (it would crash the program instead), so MustNew cannot panic.
// It costs one getrandom call, small beside a purchase's round trips.
func NewID(t time.Time) string {
	return ulid.MustNew(ulid.Timestamp(t), rand.Reader).String()
}
