package ledger

import (
	"math/rand/v2"
	"sync"
	"testing"
)

func TestLedger(t *testing.T) {
	l := New()
	r := rand.New(rand.NewPCG(1, 2))
	if _, ok := l.Pick(r); ok {
		t.Error("Pick on an empty ledger: got an order")
	}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			l.Confirm(Order{OrderID: "o", Buyer: "b", Key: "k", SKU: i})
			l.Lost("lost-buyer", "k")
			l.Refused("refused-buyer", "k")
		})
	}
	wg.Wait()
	confirmed, lost, refused := l.Snapshot()
	if len(confirmed) != 10 || !lost[Purchase{"lost-buyer", "k"}] || !refused[Purchase{"refused-buyer", "k"}] || len(lost) != 1 || len(refused) != 1 {
		t.Errorf("got %d confirmed, lost %v, refused %v", len(confirmed), lost, refused)
	}
	// The snapshot is a copy.
	lost[Purchase{"x", "y"}] = true
	if _, again, _ := l.Snapshot(); len(again) != 1 {
		t.Errorf("the snapshot shares its map with the ledger: %v", again)
	}
	if o, ok := l.Pick(r); !ok || o.OrderID != "o" {
		t.Errorf("Pick: got %+v, %v", o, ok)
	}
}
