package app_test

import (
	"context"
	"testing"

	"livecommerce/origin/origintest"
)

// The contract: the same Idempotency-Key from the same buyer with the same
// body returns the first answer again, however often it is retried. Here
// Redis forgets the key (flush, failover or DoneTTL expiry) after the first
// purchase; the database still remembers the order.
func TestRetriesAfterRedisForgotTheKeyKeepReplaying(t *testing.T) {
	e := origintest.Start(t, origintest.Options{})
	e.SetUpLive("L1", "", origintest.Product{SKU: "A1", Stock: 1, PerBuyerLimit: 1})
	first, err := e.Purchase("b1", "k1", "A1", 1)
	if err != nil || first.Status != 201 {
		t.Fatalf("first purchase = %d %s, %v; want 201", first.Status, first.Body, err)
	}
	if err := origintest.DeleteKeys(context.Background(), e.Redis, e.Keys.IdempotencyPrefix()); err != nil {
		t.Fatal(err)
	}
	for attempt := 2; attempt <= 4; attempt++ {
		r, err := e.Purchase("b1", "k1", "A1", 1)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != 201 || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("attempt %d = %d %s, want 201 replaying the first order: the replay from the database "+
				"is confirmed in Redis without the request's fingerprint (redisstock.Confirm), so the next retry "+
				"is judged a reuse of the key", attempt, r.Status, r.Body)
		}
	}
	if counter, orders := e.SoldInDB("A1"); counter != 1 || orders != 1 {
		t.Errorf("sold %d, orders %d; want 1 and 1", counter, orders)
	}
}
