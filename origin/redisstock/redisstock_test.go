package redisstock_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livecommerce/internal/depguard"
	"livecommerce/internal/stock"
	"livecommerce/origin/origintest"
	"livecommerce/origin/redisstock"
)

// newStore returns a Store on the real Redis under a fresh prefix, the raw
// client, and the prefix.
func newStore(t *testing.T) (*redisstock.Store, *redis.Client, string) {
	t.Helper()
	prefix := origintest.RedisPrefix(t)
	rdb := redis.NewClient(&redis.Options{Addr: origintest.RedisAddr(), PoolSize: 64})
	t.Cleanup(func() { rdb.Close() })
	return redisstock.New(rdb, depguard.New("redis", depguard.Settings{}), redisstock.Options{Prefix: prefix}), rdb, prefix
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// snapshot is a sku of live L1 with 10 units, 5 per buyer, low at 2.
func snapshot(sku string) redisstock.Snapshot {
	return redisstock.Snapshot{
		SKU: sku, LiveID: "L1", Total: 10, Sold: 0, Version: 1, Limit: 5, Low: 2, UpdatedAt: t0,
	}
}

func load(t *testing.T, s *redisstock.Store, snap redisstock.Snapshot) {
	t.Helper()
	ok, err := s.Load(context.Background(), snap)
	if err != nil || !ok {
		t.Fatalf("Load(%s) = %v, %v; want true, nil", snap.SKU, ok, err)
	}
}

func req(buyer, key, sku string, qty int) redisstock.ReserveRequest {
	return redisstock.ReserveRequest{
		BuyerID: buyer, IdempotencyKey: key, SKU: sku, Quantity: qty,
		Fingerprint: fmt.Sprintf("%s/%d", sku, qty), OrderID: "order-" + buyer + "-" + key, Now: t0,
	}
}

func reserve(t *testing.T, s *redisstock.Store, r redisstock.ReserveRequest) redisstock.Reservation {
	t.Helper()
	res, err := s.Reserve(context.Background(), r)
	if err != nil {
		t.Fatalf("Reserve(%+v) = %v", r, err)
	}
	return res
}

func counters(t *testing.T, s *redisstock.Store, sku string) redisstock.Counters {
	t.Helper()
	c, err := s.Counters(context.Background(), sku)
	if err != nil {
		t.Fatalf("Counters(%s) = %v", sku, err)
	}
	return c
}

func outcomeName(o redisstock.Outcome) string {
	names := []string{"Reserved", "Missing", "Replay", "KeyReused", "KeyInUse", "SoldOut", "Insufficient", "LimitExceeded", "NotOpen"}
	if int(o) >= 0 && int(o) < len(names) {
		return names[o]
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

func TestReserveOutcomes(t *testing.T) {
	type step struct {
		req     redisstock.ReserveRequest
		want    redisstock.Outcome
		confirm []byte // confirm the step with this body when set
	}
	withFP := func(r redisstock.ReserveRequest, fp string) redisstock.ReserveRequest { r.Fingerprint = fp; return r }
	at := func(r redisstock.ReserveRequest, now time.Time) redisstock.ReserveRequest { r.Now = now; return r }
	tests := []struct {
		name  string
		snap  func(*redisstock.Snapshot) // nil: the sku is not loaded
		steps []step
		// units sold in Redis at the end
		wantSold int64
	}{
		{
			name:  "missing before load",
			steps: []step{{req: req("b1", "k1", "A1", 1), want: redisstock.Missing}},
		},
		{
			name:     "reserved",
			snap:     func(*redisstock.Snapshot) {},
			steps:    []step{{req: req("b1", "k1", "A1", 3), want: redisstock.Reserved}},
			wantSold: 3,
		},
		{
			name:     "sold out",
			snap:     func(s *redisstock.Snapshot) { s.Sold = 10; s.Held = map[string]int64{"x": 10}; s.Limit = 10 },
			steps:    []step{{req: req("b1", "k1", "A1", 1), want: redisstock.SoldOut}},
			wantSold: 10,
		},
		{
			name:     "sold out by earlier reservations",
			snap:     func(s *redisstock.Snapshot) { s.Total = 2 },
			steps:    []step{{req: req("b1", "k1", "A1", 2), want: redisstock.Reserved}, {req: req("b2", "k1", "A1", 1), want: redisstock.SoldOut}},
			wantSold: 2,
		},
		{
			name:     "insufficient",
			snap:     func(s *redisstock.Snapshot) { s.Sold = 8 },
			steps:    []step{{req: req("b1", "k1", "A1", 3), want: redisstock.Insufficient}, {req: req("b1", "k2", "A1", 2), want: redisstock.Reserved}},
			wantSold: 10,
		},
		{
			name: "limit exceeded across two reservations",
			snap: func(s *redisstock.Snapshot) { s.Limit = 3 },
			steps: []step{
				{req: req("b1", "k1", "A1", 2), want: redisstock.Reserved},
				{req: req("b1", "k2", "A1", 2), want: redisstock.LimitExceeded},
				{req: req("b2", "k2", "A1", 2), want: redisstock.Reserved}, // another buyer is not limited
				{req: req("b1", "k3", "A1", 1), want: redisstock.Reserved}, // exactly at the limit
				{req: req("b1", "k4", "A1", 1), want: redisstock.LimitExceeded},
			},
			wantSold: 5,
		},
		{
			name:     "limit counts holdings from the database",
			snap:     func(s *redisstock.Snapshot) { s.Limit = 3; s.Sold = 3; s.Held = map[string]int64{"b1": 3} },
			steps:    []step{{req: req("b1", "k1", "A1", 1), want: redisstock.LimitExceeded}},
			wantSold: 3,
		},
		{
			name:  "not open before start",
			snap:  func(s *redisstock.Snapshot) { s.SaleStart = t0.Add(time.Minute) },
			steps: []step{{req: req("b1", "k1", "A1", 1), want: redisstock.NotOpen}},
		},
		{
			name:     "open at start",
			snap:     func(s *redisstock.Snapshot) { s.SaleStart = t0 },
			steps:    []step{{req: req("b1", "k1", "A1", 1), want: redisstock.Reserved}},
			wantSold: 1,
		},
		{
			name:  "not open after end",
			snap:  func(s *redisstock.Snapshot) { s.SaleEnd = t0.Add(-time.Minute) },
			steps: []step{{req: req("b1", "k1", "A1", 1), want: redisstock.NotOpen}},
		},
		{
			name: "closed at end",
			snap: func(s *redisstock.Snapshot) { s.SaleStart = t0.Add(-time.Hour); s.SaleEnd = t0.Add(time.Hour) },
			steps: []step{
				{req: req("b1", "k1", "A1", 1), want: redisstock.Reserved},
				{req: at(req("b1", "k2", "A1", 1), t0.Add(time.Hour)), want: redisstock.NotOpen},
			},
			wantSold: 1,
		},
		{
			name: "key in use while pending",
			snap: func(*redisstock.Snapshot) {},
			steps: []step{
				{req: req("b1", "k1", "A1", 1), want: redisstock.Reserved},
				{req: req("b1", "k1", "A1", 1), want: redisstock.KeyInUse},
			},
			wantSold: 1,
		},
		{
			name: "key reused with another fingerprint",
			snap: func(*redisstock.Snapshot) {},
			steps: []step{
				{req: req("b1", "k1", "A1", 1), want: redisstock.Reserved},
				{req: withFP(req("b1", "k1", "A1", 1), "other"), want: redisstock.KeyReused},
				{req: req("b1", "k1", "A1", 2), want: redisstock.KeyReused},
			},
			wantSold: 1,
		},
		{
			name: "same key of another buyer is another request",
			snap: func(*redisstock.Snapshot) {},
			steps: []step{
				{req: req("b1", "k1", "A1", 1), want: redisstock.Reserved},
				{req: req("b2", "k1", "A1", 1), want: redisstock.Reserved},
			},
			wantSold: 2,
		},
		{
			name: "buyer and key boundaries do not collide",
			snap: func(*redisstock.Snapshot) {},
			steps: []step{
				{req: req("a:b", "c", "A1", 1), want: redisstock.Reserved},
				{req: req("a", "b:c", "A1", 1), want: redisstock.Reserved},
			},
			wantSold: 2,
		},
		{
			name: "replay after confirm",
			snap: func(*redisstock.Snapshot) {},
			steps: []step{
				{req: req("b1", "k1", "A1", 2), want: redisstock.Reserved, confirm: []byte(`{"order_id":"o1"}`)},
				{req: req("b1", "k1", "A1", 2), want: redisstock.Replay},
				{req: withFP(req("b1", "k1", "A1", 2), "other"), want: redisstock.KeyReused},
			},
			wantSold: 2,
		},
		{
			name: "idempotency is checked before stock",
			snap: func(s *redisstock.Snapshot) { s.Total = 1 },
			steps: []step{
				{req: req("b1", "k1", "A1", 1), want: redisstock.Reserved, confirm: []byte(`{}`)},
				{req: req("b1", "k1", "A1", 1), want: redisstock.Replay},
			},
			wantSold: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _ := newStore(t)
			if tt.snap != nil {
				snap := snapshot("A1")
				tt.snap(&snap)
				load(t, s, snap)
			}
			var confirmed []byte
			for i, st := range tt.steps {
				res := reserve(t, s, st.req)
				if res.Outcome != st.want {
					t.Fatalf("step %d: Reserve(%s, %s, qty %d) = %s, want %s",
						i+1, st.req.BuyerID, st.req.IdempotencyKey, st.req.Quantity, outcomeName(res.Outcome), outcomeName(st.want))
				}
				if res.Outcome == redisstock.Replay && string(res.Response) != string(confirmed) {
					t.Errorf("step %d: replayed %q, want %q", i+1, res.Response, confirmed)
				}
				if st.confirm != nil {
					err := s.Confirm(context.Background(), []redisstock.Confirmation{{BuyerID: st.req.BuyerID, IdempotencyKey: st.req.IdempotencyKey, Fingerprint: st.req.Fingerprint, Response: st.confirm}})
					if err != nil {
						t.Fatalf("Confirm: %v", err)
					}
					confirmed = st.confirm
				}
			}
			c := counters(t, s, "A1")
			if c.Sold != tt.wantSold {
				t.Errorf("sold = %d, want %d", c.Sold, tt.wantSold)
			}
		})
	}
}

func TestReservedLevel(t *testing.T) {
	s, _, _ := newStore(t)
	snap := snapshot("A1")
	snap.Version = 41
	load(t, s, snap)
	tests := []struct {
		qty           int
		wantRemaining int64
		wantStatus    stock.Status
		wantVersion   int64
	}{
		{qty: 3, wantRemaining: 7, wantStatus: stock.InStock, wantVersion: 42},
		{qty: 5, wantRemaining: 2, wantStatus: stock.LowStock, wantVersion: 43},
		{qty: 2, wantRemaining: 0, wantStatus: stock.SoldOut, wantVersion: 44},
	}
	for i, tt := range tests {
		r := req(fmt.Sprintf("b%d", i), "k", "A1", tt.qty)
		r.Now = t0.Add(time.Duration(i+1) * time.Second)
		res := reserve(t, s, r)
		if res.Outcome != redisstock.Reserved {
			t.Fatalf("reservation %d = %s, want Reserved", i+1, outcomeName(res.Outcome))
		}
		want := stock.Level{SKU: "A1", LiveID: "L1", Remaining: tt.wantRemaining, Status: tt.wantStatus, Version: tt.wantVersion, UpdatedAt: r.Now,
			SameStatus: i == 0}
		if got := res.Level; got != want {
			t.Errorf("reservation %d level = %+v, want %+v", i+1, got, want)
		}
	}
}

func TestRelease(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	load(t, s, snapshot("A1"))
	r := req("b1", "k1", "A1", 3)
	if res := reserve(t, s, r); res.Outcome != redisstock.Reserved || res.Level.Version != 2 {
		t.Fatalf("Reserve = %s v%d, want Reserved v2", outcomeName(res.Outcome), res.Level.Version)
	}

	rel := r
	rel.Now = t0.Add(time.Second)
	l, ok, err := s.Release(ctx, rel)
	if err != nil || !ok {
		t.Fatalf("Release = %v, %v; want true, nil", ok, err)
	}
	want := stock.Level{SKU: "A1", LiveID: "L1", Remaining: 10, Status: stock.InStock, Version: 3, UpdatedAt: rel.Now, SameStatus: true}
	if l != want {
		t.Errorf("Release level = %+v, want %+v", l, want)
	}
	c := counters(t, s, "A1")
	if c.Sold != 0 || c.Version != 3 || len(c.Held) != 0 {
		t.Errorf("counters after release = %+v, want sold 0, version 3, nobody holding", c)
	}

	// Released twice: nothing more is given back.
	if l, ok, err := s.Release(ctx, rel); err != nil || ok {
		t.Errorf("second Release = %+v, %v, %v; want ok false", l, ok, err)
	}
	if c := counters(t, s, "A1"); c.Sold != 0 || c.Version != 3 {
		t.Errorf("counters after second release = %+v, want sold 0, version 3", c)
	}

	// The idempotency record is gone: the key can be used again, even with
	// another body.
	again := req("b1", "k1", "A1", 1)
	again.OrderID = "order-2"
	if res := reserve(t, s, again); res.Outcome != redisstock.Reserved {
		t.Errorf("Reserve with a released key = %s, want Reserved", outcomeName(res.Outcome))
	}

	// A release naming another order does not touch this one.
	other := again
	other.OrderID = "someone-else"
	if _, ok, err := s.Release(ctx, other); err != nil || ok {
		t.Errorf("Release of another order id = %v, %v; want ok false", ok, err)
	}
	if c := counters(t, s, "A1"); c.Sold != 1 || c.Held["b1"] != 1 {
		t.Errorf("counters = %+v, want sold 1 held by b1", c)
	}
}

func TestReleaseAfterFlush(t *testing.T) {
	ctx := context.Background()
	s, rdb, prefix := newStore(t)
	load(t, s, snapshot("A1"))
	r := req("b1", "k1", "A1", 3)
	reserve(t, s, r)
	if err := origintest.DeleteKeys(ctx, rdb, prefix); err != nil {
		t.Fatal(err)
	}
	if l, ok, err := s.Release(ctx, r); err != nil || ok {
		t.Errorf("Release after flush = %+v, %v, %v; want ok false", l, ok, err)
	}
	if c := counters(t, s, "A1"); c.Loaded {
		t.Errorf("Release after flush recreated the sku: %+v", c)
	}

	// Rebuilt from a database that never saw the order: still nothing to
	// give back, or the rebuilt counters would be wrong.
	load(t, s, snapshot("A1"))
	if _, ok, err := s.Release(ctx, r); err != nil || ok {
		t.Errorf("Release after rebuild = %v, %v; want ok false", ok, err)
	}
	if c := counters(t, s, "A1"); c.Sold != 0 || c.Version != 1 {
		t.Errorf("counters after release on rebuilt sku = %+v, want sold 0 version 1", c)
	}
}

func TestLoadRefusesToOverwrite(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	first := snapshot("A1")
	first.Sold, first.Held = 2, map[string]int64{"b1": 2}
	load(t, s, first)
	second := snapshot("A1")
	second.Total, second.Version = 99, 50
	ok, err := s.Load(ctx, second)
	if err != nil || ok {
		t.Fatalf("second Load = %v, %v; want false, nil", ok, err)
	}
	c := counters(t, s, "A1")
	if c.Total != 10 || c.Sold != 2 || c.Version != 1 || c.Held["b1"] != 2 {
		t.Errorf("counters = %+v, want the first snapshot's (total 10, sold 2, version 1, b1 holding 2)", c)
	}
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	settings := redisstock.Settings{SKU: "A1", LiveID: "L1", Total: 20, Limit: 5, Low: 2, Version: 3}
	l, ok, err := s.Apply(ctx, settings, t0)
	if err != nil || ok {
		t.Fatalf("Apply on a missing sku = %+v, %v, %v; want ok false", l, ok, err)
	}
	if c := counters(t, s, "A1"); c.Loaded {
		t.Fatalf("Apply on a missing sku created it: %+v", c)
	}

	tests := []struct {
		name        string
		own         int64 // version in Redis before
		db          int64 // database version passed in
		wantVersion int64
	}{
		{"redis ahead", 10, 3, 11},
		{"database ahead", 10, 100, 100},
		{"equal", 10, 10, 11},
		{"database one ahead", 10, 11, 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _ := newStore(t)
			snap := snapshot("A1")
			snap.Version, snap.Sold, snap.Held = tt.own, 4, map[string]int64{"b1": 4}
			load(t, s, snap)
			st := settings
			st.Version = tt.db
			now := t0.Add(time.Minute)
			l, ok, err := s.Apply(ctx, st, now)
			if err != nil || !ok {
				t.Fatalf("Apply = %v, %v; want true, nil", ok, err)
			}
			want := stock.Level{SKU: "A1", LiveID: "L1", Remaining: 16, Status: stock.InStock, Version: tt.wantVersion, UpdatedAt: now}
			if l != want {
				t.Errorf("Apply level = %+v, want %+v", l, want)
			}
			c := counters(t, s, "A1")
			if c.Total != 20 || c.Sold != 4 || c.Version != tt.wantVersion {
				t.Errorf("counters = %+v, want total 20, sold 4 (kept), version %d", c, tt.wantVersion)
			}
		})
	}
}

func TestApplyLowersStockBelowReservations(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	load(t, s, snapshot("A1"))
	reserve(t, s, req("b1", "k1", "A1", 5))
	l, ok, err := s.Apply(ctx, redisstock.Settings{SKU: "A1", LiveID: "L1", Total: 3, Limit: 5, Low: 2, Version: 1}, t0)
	if err != nil || !ok {
		t.Fatalf("Apply = %v, %v", ok, err)
	}
	if l.Remaining != 0 || l.Status != stock.SoldOut {
		t.Errorf("level = %+v, want remaining 0 and sold out (never negative)", l)
	}
	if res := reserve(t, s, req("b2", "k1", "A1", 1)); res.Outcome != redisstock.SoldOut {
		t.Errorf("Reserve after stock lowered below sold = %s, want SoldOut", outcomeName(res.Outcome))
	}
}

func TestRepair(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	snap := snapshot("A1")
	snap.Sold, snap.Version, snap.Held = 2, 5, map[string]int64{"b1": 2}
	load(t, s, snap)
	read := counters(t, s, "A1")

	// A purchase lands between the comparison and the repair: the version
	// moves, so the repair is refused.
	reserve(t, s, req("b2", "k1", "A1", 1))
	fix := snapshot("A1")
	fix.Sold, fix.Version, fix.Held = 2, 5, map[string]int64{"b1": 2}
	l, ok, err := s.Repair(ctx, fix, read.Version, t0)
	if err != nil || ok {
		t.Fatalf("Repair after the version moved = %+v, %v, %v; want ok false", l, ok, err)
	}
	if c := counters(t, s, "A1"); c.Sold != 3 || c.Held["b2"] != 1 {
		t.Fatalf("counters after refused repair = %+v, want the purchase kept (sold 3, b2 holding 1)", c)
	}

	// Against fresh counters it writes the database's values.
	read = counters(t, s, "A1")
	fix.Sold, fix.Version, fix.Held = 1, 20, map[string]int64{"b9": 1}
	l, ok, err = s.Repair(ctx, fix, read.Version, t0)
	if err != nil || !ok {
		t.Fatalf("Repair = %v, %v; want true, nil", ok, err)
	}
	if l.Remaining != 9 || l.Version != 20 {
		t.Errorf("Repair level = %+v, want remaining 9, version 20", l)
	}
	c := counters(t, s, "A1")
	if c.Sold != 1 || c.Version != 20 || len(c.Held) != 1 || c.Held["b9"] != 1 {
		t.Errorf("counters after repair = %+v, want sold 1, version 20, only b9 holding 1", c)
	}

	// Repairing a sku that is not loaded does nothing.
	if _, ok, err := s.Repair(ctx, snapshot("NOPE"), 0, t0); err != nil || ok {
		t.Errorf("Repair of a missing sku = %v, %v; want ok false", ok, err)
	}
}

func TestLevels(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	a := snapshot("A1")
	a.Sold, a.Version = 9, 7
	load(t, s, a)
	b := snapshot("B2")
	b.LiveID = "L2"
	load(t, s, b)

	levels, missing, err := s.Levels(ctx, []string{"A1", "X9", "B2"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(missing), "[false true false]"; got != want {
		t.Errorf("missing = %s, want %s", got, want)
	}
	wantA := stock.Level{SKU: "A1", LiveID: "L1", Remaining: 1, Status: stock.LowStock, Version: 7, UpdatedAt: t0}
	if levels[0] != wantA {
		t.Errorf("level of A1 = %+v, want %+v", levels[0], wantA)
	}
	if levels[2].LiveID != "L2" || levels[2].Remaining != 10 {
		t.Errorf("level of B2 = %+v, want live L2, remaining 10", levels[2])
	}

	levels, missing, err = s.Levels(ctx, nil)
	if err != nil || len(levels) != 0 || len(missing) != 0 {
		t.Errorf("Levels(nil) = %v, %v, %v; want nothing", levels, missing, err)
	}
}

func TestLiveListing(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	if _, loaded, err := s.LiveSKUs(ctx, "L1"); err != nil || loaded {
		t.Fatalf("LiveSKUs before MarkLive = %v, %v; want not loaded", loaded, err)
	}
	if err := s.MarkLive(ctx, "L1", nil); err != nil {
		t.Fatal(err)
	}
	skus, loaded, err := s.LiveSKUs(ctx, "L1")
	if err != nil || !loaded || len(skus) != 0 {
		t.Fatalf("LiveSKUs of an empty live = %q, %v, %v; want none, loaded", skus, loaded, err)
	}
	// Loading a sku adds it to a loaded listing.
	load(t, s, snapshot("A1"))
	skus, _, _ = s.LiveSKUs(ctx, "L1")
	if fmt.Sprint(skus) != "[A1]" {
		t.Errorf("LiveSKUs after Load = %q, want [A1]", skus)
	}
	if err := s.ForgetLive(ctx, "L1"); err != nil {
		t.Fatal(err)
	}
	if _, loaded, _ := s.LiveSKUs(ctx, "L1"); loaded {
		t.Error("LiveSKUs after ForgetLive: loaded, want not loaded")
	}
	// Without a listing, loading a sku does not start a partial one.
	load(t, s, snapshot("B2"))
	if skus, loaded, _ := s.LiveSKUs(ctx, "L1"); loaded {
		t.Errorf("LiveSKUs = %q, loaded after a Load without listing; want not loaded", skus)
	}
}

func TestConcurrentReservations(t *testing.T) {
	s, _, _ := newStore(t)
	snap := snapshot("HOT")
	snap.Total, snap.Limit = 50, 1
	load(t, s, snap)

	const buyers = 200
	var wg sync.WaitGroup
	outcomes := make([]redisstock.Outcome, buyers)
	errs := make([]error, buyers)
	for i := 0; i < buyers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.Reserve(context.Background(), req(fmt.Sprintf("buyer-%d", i), "k", "HOT", 1))
			outcomes[i], errs[i] = res.Outcome, err
		}()
	}
	wg.Wait()
	count := map[redisstock.Outcome]int{}
	for i, o := range outcomes {
		if errs[i] != nil {
			t.Fatalf("buyer %d: %v", i, errs[i])
		}
		count[o]++
	}
	if count[redisstock.Reserved] != 50 || count[redisstock.SoldOut] != buyers-50 {
		t.Errorf("outcomes = %v, want exactly 50 Reserved and %d SoldOut", count, buyers-50)
	}
	c := counters(t, s, "HOT")
	if c.Sold != 50 || c.Version != 51 || len(c.Held) != 50 {
		t.Errorf("counters = sold %d, version %d, %d holders; want 50, 51, 50", c.Sold, c.Version, len(c.Held))
	}
}

func TestWindow(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	load(t, s, snapshot("A1"))
	// Regression: the window script once ran inside a pipeline, where
	// Script.Run cannot fall back from EVALSHA to EVAL, so it failed with
	// NOSCRIPT on any Redis that had not cached it.
	if err := s.SetWindow(ctx, []string{"A1", "MISSING"}, t0.Add(time.Hour), time.Time{}); err != nil {
		t.Fatalf("SetWindow = %v, want nil: a Redis that has not cached the window script must still accept the change", err)
	}
	if res := reserve(t, s, req("b1", "k1", "A1", 1)); res.Outcome != redisstock.NotOpen {
		t.Errorf("Reserve before the moved start = %s, want NotOpen", outcomeName(res.Outcome))
	}
	if c := counters(t, s, "A1"); c.Version != 1 {
		t.Errorf("version after SetWindow = %d, want 1 (a window is not a stock change)", c.Version)
	}
	if c := counters(t, s, "MISSING"); c.Loaded {
		t.Error("SetWindow created a missing sku")
	}
}

func TestPendingKeyExpires(t *testing.T) {
	prefix := origintest.RedisPrefix(t)
	rdb := redis.NewClient(&redis.Options{Addr: origintest.RedisAddr()})
	t.Cleanup(func() { rdb.Close() })
	s := redisstock.New(rdb, depguard.New("redis", depguard.Settings{}), redisstock.Options{Prefix: prefix, PendingTTL: 100 * time.Millisecond})
	load(t, s, snapshot("A1"))
	reserve(t, s, req("b1", "k1", "A1", 1))
	if res := reserve(t, s, req("b1", "k1", "A1", 1)); res.Outcome != redisstock.KeyInUse {
		t.Fatalf("second Reserve = %s, want KeyInUse", outcomeName(res.Outcome))
	}
	time.Sleep(200 * time.Millisecond)
	if res := reserve(t, s, req("b1", "k1", "A1", 1)); res.Outcome == redisstock.KeyInUse {
		t.Errorf("Reserve after PendingTTL = %s, want the key no longer in use", outcomeName(res.Outcome))
	}
}

// Confirm can find the idempotency record gone: the commit outlived
// PendingTTL, or Redis lost the record and purchase.replayFromDatabase
// confirms the order the database remembered. A retry of the same request
// must then replay the stored answer, not be told it reused its key with
// another body (Confirm writes st and resp but no fp, and the reserve
// script compares fp first).
func TestReplayAfterConfirmOfForgottenKey(t *testing.T) {
	body := []byte(`{"order_id":"o1"}`)
	tests := []struct {
		name   string
		before func(t *testing.T, s *redisstock.Store, rdb *redis.Client, prefix string, r redisstock.ReserveRequest)
	}{
		{"pending record expired before the commit", func(t *testing.T, s *redisstock.Store, _ *redis.Client, _ string, r redisstock.ReserveRequest) {
			reserve(t, s, r)
			time.Sleep(100 * time.Millisecond) // PendingTTL is 50ms
		}},
		{"record lost, order replayed from the database", func(t *testing.T, s *redisstock.Store, rdb *redis.Client, prefix string, r redisstock.ReserveRequest) {
			reserve(t, s, r)
			if err := origintest.DeleteKeys(context.Background(), rdb, prefix+"idem:"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := origintest.RedisPrefix(t)
			rdb := redis.NewClient(&redis.Options{Addr: origintest.RedisAddr()})
			t.Cleanup(func() { rdb.Close() })
			s := redisstock.New(rdb, depguard.New("redis", depguard.Settings{}), redisstock.Options{Prefix: prefix, PendingTTL: 50 * time.Millisecond})
			load(t, s, snapshot("A1"))
			r := req("b1", "k1", "A1", 1)
			tt.before(t, s, rdb, prefix, r)
			if err := s.Confirm(context.Background(), []redisstock.Confirmation{{BuyerID: "b1", IdempotencyKey: "k1", Fingerprint: r.Fingerprint, Response: body}}); err != nil {
				t.Fatal(err)
			}
			res := reserve(t, s, r)
			if res.Outcome != redisstock.Replay || string(res.Response) != string(body) {
				t.Errorf("retry of the same request = %s %q, want Replay %q: "+
					"Confirm recreated the record without the request's fingerprint", outcomeName(res.Outcome), res.Response, body)
			}
		})
	}
}

// A reservation or a give-back says whether it left the sku's status as it
// was: only those that cross a threshold (low stock at 2, sold out at 0
// here) need the edge purged, and their events alone go to the status
// subject.
func TestReserveAndReleaseTellStatusChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, _ := newStore(t)
	snap := snapshot("A1")
	snap.Limit = 10
	load(t, s, snap)
	steps := []struct {
		qty      int
		release  bool
		want     stock.Status
		sameWant bool
	}{
		{qty: 5, want: stock.InStock, sameWant: true},                  // 10 -> 5
		{qty: 2, want: stock.InStock, sameWant: true},                  // 5 -> 3
		{qty: 1, want: stock.LowStock, sameWant: false},                // 3 -> 2: low
		{qty: 1, want: stock.LowStock, sameWant: true},                 // 2 -> 1
		{qty: 1, want: stock.SoldOut, sameWant: false},                 // 1 -> 0: sold out
		{qty: 1, release: true, want: stock.LowStock, sameWant: false}, // 0 -> 1
		{qty: 2, release: true, want: stock.InStock, sameWant: false},  // 1 -> 3
	}
	var reqs []redisstock.ReserveRequest
	for i, st := range steps {
		var l stock.Level
		if st.release {
			// Give back an earlier reservation of this quantity.
			var r redisstock.ReserveRequest
			for j := len(reqs) - 1; j >= 0; j-- {
				if reqs[j].Quantity == st.qty {
					r = reqs[j]
					reqs = append(reqs[:j], reqs[j+1:]...)
					break
				}
			}
			var ok bool
			var err error
			l, ok, err = s.Release(ctx, r)
			if err != nil || !ok {
				t.Fatalf("step %d: Release = %v, %v", i, ok, err)
			}
		} else {
			r := req("b"+strconv.Itoa(i), "k", "A1", st.qty)
			res := reserve(t, s, r)
			if res.Outcome != redisstock.Reserved {
				t.Fatalf("step %d: Reserve = %s", i, outcomeName(res.Outcome))
			}
			l = res.Level
			reqs = append(reqs, r)
		}
		if l.Status != st.want || l.SameStatus != st.sameWant {
			t.Errorf("step %d (%d units, release %v): status %s, same status %v; want %s, %v", i, st.qty, st.release, l.Status, l.SameStatus, st.want, st.sameWant)
		}
	}
}
