package shop_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"livecommerce/origin/shop"
)

// TestOrderIDsUnpredictable: ids made in the same millisecond differ, and
// in every byte of their entropy rather than by a small increment, as
// ulid.Make's would (its entropy is the previous id's plus at most 2^32,
// drawn from a math/rand source seeded with the start time). Ids made by
// concurrent purchases are all distinct.
func TestOrderIDsUnpredictable(t *testing.T) {
	const n = 20000
	ids := make([]ulid.ULID, 0, n)
	for range n {
		id, err := ulid.ParseStrict(shop.NewID(time.Now()))
		if err != nil {
			t.Fatalf("NewID: got an invalid ULID: %v", err)
		}
		ids = append(ids, id)
	}
	var sameMillisecond, sharedHighBytes int
	for i := 1; i < len(ids); i++ {
		a, b := ids[i-1], ids[i]
		if a.Time() != b.Time() {
			continue
		}
		sameMillisecond++
		if a == b {
			t.Fatalf("two ids in one millisecond: got %s twice, want them to differ", a)
		}
		// The top 6 of the 10 entropy bytes are equal by chance with
		// probability 2^-48; for a monotonic source they nearly always are.
		ea, eb := a.Entropy(), b.Entropy()
		if bytes.Equal(ea[:6], eb[:6]) {
			sharedHighBytes++
		}
	}
	if sameMillisecond == 0 {
		t.Skip("no two ids fell in one millisecond; nothing to compare")
	}
	if sharedHighBytes != 0 {
		t.Errorf("consecutive ids in one millisecond: got %d of %d pairs sharing their top 6 entropy bytes, want 0 (entropy must not be an increment)", sharedHighBytes, sameMillisecond)
	}

	var mu sync.Mutex
	seen := make(map[string]bool, 8*2000)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			local := make([]string, 0, 2000)
			for range 2000 {
				local = append(local, shop.NewID(time.Now()))
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range local {
				if seen[id] {
					t.Errorf("concurrent ids: got %s twice, want every id distinct", id)
				}
				seen[id] = true
			}
		})
	}
	wg.Wait()
}

// TestOrderIDsNotMonotonicMake guards the test above: it must be able to
// tell ulid.Make's monotonic entropy from ours.
func TestOrderIDsNotMonotonicMake(t *testing.T) {
	var same, shared int
	prev := ulid.Make()
	for range 20000 {
		id := ulid.Make()
		if id.Time() == prev.Time() {
			same++
			ea, eb := prev.Entropy(), id.Entropy()
			if bytes.Equal(ea[:6], eb[:6]) {
				shared++
			}
		}
		prev = id
	}
	if same > 0 && shared == 0 {
		t.Errorf("ulid.Make: got %d same-millisecond pairs and none sharing high entropy bytes; the check above would not catch it", same)
	}
}
