package scenario

import (
	"math"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
)

// validID is the contract's pattern for live ids and skus.
var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// planConfig is a small catalog: 3 lives of 4 skus, one hot each.
func planConfig(t *testing.T) *Config {
	t.Helper()
	c := defaultRunConfig(t)
	c.Lives, c.SKUsPerLive, c.HotSKUsPerLive = 3, 4, 1
	return &c
}

func TestNewPlanLayout(t *testing.T) {
	cfg := planConfig(t)
	cfg.FlashShare, cfg.PurchaseRate, cfg.Warmup = 0.25, 400, 5*time.Second
	p := NewPlan(cfg, "bTEST01")
	if got, want := len(p.Lives), 3; got != want {
		t.Fatalf("lives: got %d, want %d", got, want)
	}
	if got, want := len(p.SKUs), 12; got != want {
		t.Fatalf("skus: got %d, want %d", got, want)
	}
	if len(p.Hot) != 3 || len(p.Cold) != 9 {
		t.Errorf("hot and cold: got %d and %d, want 3 and 9", len(p.Hot), len(p.Cold))
	}
	for _, i := range p.Hot {
		if !p.SKUs[i].Hot {
			t.Errorf("sku %d is listed hot but is not", i)
		}
	}
	for _, i := range p.Cold {
		if p.SKUs[i].Hot {
			t.Errorf("sku %d is listed cold but is hot", i)
		}
	}
	for _, id := range p.Lives {
		if !validID.MatchString(id) {
			t.Errorf("live id %q is not a valid id", id)
		}
	}
	seen := map[string]bool{}
	for i, s := range p.SKUs {
		if !validID.MatchString(s.ID) {
			t.Errorf("sku %q is not a valid id", s.ID)
		}
		if seen[s.ID] {
			t.Errorf("sku %q appears twice", s.ID)
		}
		seen[s.ID] = true
		if got, ok := p.Index(s.ID); !ok || got != i {
			t.Errorf("Index(%q): got %d, %v; want %d, true", s.ID, got, ok, i)
		}
		if want := i / 4; s.Live != want {
			t.Errorf("sku %q: got live %d, want %d", s.ID, s.Live, want)
		}
		if !strings.HasPrefix(s.ID, p.Lives[s.Live]+"-") {
			t.Errorf("sku %q does not carry its live's id %q", s.ID, p.Lives[s.Live])
		}
		if s.Limit != PerBuyerLimit {
			t.Errorf("sku %q: got limit %d, want %d", s.ID, s.Limit, PerBuyerLimit)
		}
		if i != p.Flash && s.Stock != bigStock {
			t.Errorf("sku %q: got stock %d, want %d", s.ID, s.Stock, bigStock)
		}
	}
	if _, ok := p.Index("nope"); ok {
		t.Error(`Index("nope"): got ok`)
	}
	flash := p.SKUs[p.Flash]
	// 25% of 400/s over the 5 s warm-up and 15 s more.
	if flash.Hot || flash.Live != 0 || flash.Stock != 2000 {
		t.Errorf("flash sku: got %+v, want a cold sku of the first live with 2000 units", flash)
	}
}

func TestNewPlanFlashStockFloor(t *testing.T) {
	cfg := planConfig(t)
	cfg.FlashShare, cfg.PurchaseRate = 0, 0
	p := NewPlan(cfg, "bTEST02")
	if got := p.SKUs[p.Flash].Stock; got != 10 {
		t.Errorf("flash stock with no flash purchases: got %d, want 10", got)
	}
}

func TestNewPlanLargestCatalogHasValidIDs(t *testing.T) {
	cfg := planConfig(t)
	cfg.Lives, cfg.SKUsPerLive, cfg.HotSKUsPerLive = maxLives, maxSKUsLive, maxSKUsLive-1
	p := NewPlan(cfg, "b"+strings.Repeat("z", 12))
	if got, want := len(p.SKUs), maxLives*maxSKUsLive; got != want {
		t.Fatalf("skus: got %d, want %d", got, want)
	}
	for _, id := range []string{p.Lives[len(p.Lives)-1], p.SKUs[len(p.SKUs)-1].ID} {
		if !validID.MatchString(id) {
			t.Errorf("id %q is not a valid id", id)
		}
	}
}

func TestPlanIsDeterministic(t *testing.T) {
	cfg := planConfig(t)
	cfg.Seed = 7
	a, b := NewPlan(cfg, "bSAME"), NewPlan(cfg, "bSAME")
	other := *cfg
	other.Seed = 8
	c := NewPlan(&other, "bSAME")
	differ := 0
	const n = 1000
	for seq := range uint64(n) {
		pa, pb := a.NextPurchase(a.RNG(StreamPurchase, seq)), b.NextPurchase(b.RNG(StreamPurchase, seq))
		if pa != pb {
			t.Fatalf("purchase %d: got %+v and %+v from the same seed", seq, pa, pb)
		}
		va, vb := a.ViewedSKU(a.RNG(StreamRead, seq)), b.ViewedSKU(b.RNG(StreamRead, seq))
		if va != vb {
			t.Fatalf("read %d: got sku %d and %d from the same seed", seq, va, vb)
		}
		if pc := c.NextPurchase(c.RNG(StreamPurchase, seq)); pc != pa {
			differ++
		}
	}
	// Nearly every purchase names a buyer drawn from millions.
	if differ < n*9/10 {
		t.Errorf("another seed changed %d of %d purchases, want at least 90%%", differ, n)
	}
	if x, y := a.RNG(StreamRead, 3).Uint64(), a.RNG(StreamPurchase, 3).Uint64(); x == y {
		t.Errorf("the read and purchase streams drew the same first number %d", x)
	}
}

func TestPlanShares(t *testing.T) {
	cfg := planConfig(t)
	cfg.HotShare, cfg.RetryShare, cfg.GreedyShare, cfg.FlashShare = 0.8, 0.05, 0.03, 0.02
	p := NewPlan(cfg, "bSHARES")
	const draws = 200_000
	kinds := map[PurchaseKind]int{}
	hotReads := 0
	greedySKU := map[string]int{}
	for seq := range uint64(draws) {
		o := p.NextPurchase(p.RNG(StreamPurchase, seq))
		kinds[o.Kind]++
		switch o.Kind {
		case BuyGreedy:
			if !p.SKUs[o.SKU].Hot {
				t.Fatalf("purchase %d: greedy buyer %s buys cold sku %d", seq, o.Buyer, o.SKU)
			}
			if !strings.HasPrefix(o.Buyer, "greedy-") {
				t.Fatalf("purchase %d: greedy purchase by %q", seq, o.Buyer)
			}
			if prev, ok := greedySKU[o.Buyer]; ok && prev != o.SKU {
				t.Fatalf("greedy buyer %s buys sku %d and sku %d, want always one", o.Buyer, prev, o.SKU)
			}
			greedySKU[o.Buyer] = o.SKU
		case BuyFlash:
			if o.SKU != p.Flash {
				t.Fatalf("purchase %d: flash purchase of sku %d, want %d", seq, o.SKU, p.Flash)
			}
		case BuyNormal:
			if o.SKU == p.Flash {
				t.Fatalf("purchase %d: a normal purchase of the flash sku", seq)
			}
			if !strings.HasPrefix(o.Buyer, "buyer-") {
				t.Fatalf("purchase %d: normal purchase by %q", seq, o.Buyer)
			}
		}
		if p.SKUs[p.ViewedSKU(p.RNG(StreamRead, seq))].Hot {
			hotReads++
		}
	}
	if len(greedySKU) > GreedyBuyers {
		t.Errorf("greedy buyers: got %d, want at most %d", len(greedySKU), GreedyBuyers)
	}
	near := func(name string, count int, want float64) {
		t.Helper()
		if got := float64(count) / draws; math.Abs(got-want) > 0.01 {
			t.Errorf("%s: got %.4f, want %.2f ± 0.01", name, got, want)
		}
	}
	near("retry share", kinds[BuyRetry], cfg.RetryShare)
	near("greedy share", kinds[BuyGreedy], cfg.GreedyShare)
	near("flash share", kinds[BuyFlash], cfg.FlashShare)
	near("normal share", kinds[BuyNormal], 1-cfg.RetryShare-cfg.GreedyShare-cfg.FlashShare)
	near("hot share of reads", hotReads, cfg.HotShare)
}

func TestClientIP(t *testing.T) {
	private := netip.MustParsePrefix("10.0.0.0/8")
	ns := []uint64{0, 1, 255, 256, 65535, 65536, 1 << 32, 1 << 63, math.MaxUint64}
	for i := range uint64(1000) {
		ns = append(ns, i*2654435761)
	}
	for _, kind := range []byte{'b', 'v', 0, 255} {
		for _, n := range ns {
			s := ClientIP(kind, n)
			a, err := netip.ParseAddr(s)
			if err != nil || !a.Is4() || !private.Contains(a) {
				t.Fatalf("ClientIP(%d, %d): got %q, want an IPv4 address in 10.0.0.0/8", kind, n, s)
			}
		}
	}
	if a, b := ClientIP('b', 1), ClientIP('b', 2); a == b {
		t.Errorf("buyers 1 and 2 share the address %s", a)
	}
	if a, b := ClientIP('b', 1), ClientIP('v', 1); a == b {
		t.Errorf("buyer 1 and viewer 1 share the address %s", a)
	}
}
