package reconcile_test

import (
	"context"
	"testing"
	"time"

	"livecommerce/origin/origintest"
	"livecommerce/origin/reconcile"
)

// TestSweepRepairsOnlyWhatDiffers: the periodic sweep compares totals in
// bulk and gives the full check only to skus that differ.
func TestSweepRepairsOnlyWhatDiffers(t *testing.T) {
	e := origintest.Start(t, origintest.Options{})
	e.SetUpLive("SW", "", origintest.Product{SKU: "CLEAN", Stock: 10, PerBuyerLimit: 5}, origintest.Product{SKU: "BENT", Stock: 10, PerBuyerLimit: 5})
	for _, sku := range []string{"CLEAN", "BENT"} {
		if r, err := e.Purchase("b1", "k-"+sku, sku, 2); err != nil || r.Status != 201 {
			t.Fatalf("purchase %s: %v %d %s", sku, err, r.Status, r.Body)
		}
	}
	ctx := context.Background()
	// Redis forgets one sale of BENT: it would sell a unit that is gone.
	if err := e.Redis.HSet(ctx, e.Keys.SKU("BENT"), "sold", 1).Err(); err != nil {
		t.Fatal(err)
	}
	d := e.Server.Deps()
	rep, err := reconcile.Sweep(ctx, d.DB, d.Stock, &origintest.Recorder{}, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checked != 2 || len(rep.Findings) != 1 || rep.Findings[0].SKU != "BENT" || !rep.Findings[0].Repaired {
		t.Fatalf("sweep = %+v, want 2 checked and BENT repaired alone", rep)
	}
	for _, sku := range []string{"CLEAN", "BENT"} {
		if rem, ok := e.RedisRemaining(sku); !ok || rem != 8 {
			t.Errorf("%s: redis remaining %d (loaded %v), want 8", sku, rem, ok)
		}
	}
	again, err := reconcile.Sweep(ctx, d.DB, d.Stock, &origintest.Recorder{}, 50*time.Millisecond)
	if err != nil || len(again.Findings) != 0 {
		t.Errorf("second sweep = %+v, %v; want nothing to repair", again, err)
	}
}
