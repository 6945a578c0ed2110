package purchase

import (
	"crypto/rand"

	"github.com/oklog/ulid/v2"
)

// newOrderID returns a fresh order id: a ULID, so ids sort by millisecond, whose
// 80 bits after the millisecond come from crypto/rand. ulid.Make would
// draw them from a math/rand source seeded with the start time and, within
// a millisecond, only add a small increment to the previous id, so one
// buyer's order id would give away the ids of everyone who bought in the
// same millisecond. crypto/rand.Reader is safe for concurrent use, so
// nothing here is locked, and it never returns an error (it would crash the
// program instead), so MustNew cannot panic. It costs one getrandom call,
// small beside the purchase's Redis and MySQL round trips.
func newOrderID() string {
	return ulid.MustNew(ulid.Now(), rand.Reader).String()
}
