package inventory_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/redis/go-redis/v9"

	"livecommerce/internal/depguard"
	"livecommerce/internal/stock"
	"livecommerce/origin/inventory"
	"livecommerce/origin/mysqlstore"
	"livecommerce/origin/origintest"
	"livecommerce/origin/redisstock"
	"livecommerce/origin/shop"
)

type env struct {
	inv      *inventory.Inventory
	db       *mysqlstore.Store
	redis    *redisstock.Store
	pub      *origintest.Recorder
	merchant string
}

// setup makes live L1 with the skus (10 units, 2 per buyer, low at 3).
func setup(t *testing.T, skus ...string) *env {
	t.Helper()
	ctx := context.Background()
	db, err := mysqlstore.Open(ctx, origintest.Database(t), 8, depguard.New("mysql", depguard.Settings{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: origintest.RedisAddr()})
	t.Cleanup(func() { rdb.Close() })
	e := &env{db: db, pub: &origintest.Recorder{}}
	e.redis = redisstock.New(rdb, depguard.New("redis", depguard.Settings{}), redisstock.Options{Prefix: origintest.RedisPrefix(t)})
	e.inv = inventory.New(e.redis, db, e.pub, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if e.merchant, _, err = db.CreateMerchant(ctx, "Shop", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := db.UpsertLive(ctx, shop.Live{ID: "L1", MerchantID: e.merchant, Title: "Live"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	var ps []shop.Product
	for _, sku := range skus {
		ps = append(ps, shop.Product{SKU: sku, Name: sku, Currency: "JPY", Price: 100, Stock: 10, Limit: 2, Low: 3})
	}
	if len(ps) > 0 {
		if _, err := db.UpsertProducts(ctx, e.merchant, "L1", ps, 1000, "upload", time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func TestLevelsRebuildsMissingInOrder(t *testing.T) {
	ctx := context.Background()
	e := setup(t, "A", "B", "C")
	if err := e.inv.Rebuild(ctx, "B"); err != nil {
		t.Fatal(err)
	}
	levels, err := e.inv.Levels(ctx, []string{"C", "X", "A", "B"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range levels {
		got = append(got, l.SKU)
		if l.Remaining != 10 || l.LiveID != "L1" {
			t.Errorf("level %+v, want 10 on L1", l)
		}
	}
	if want := []string{"C", "A", "B"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Levels = %q, want %q (input order, unknown X left out)", got, want)
	}
	if got, want := e.pub.SKUs(), []string{"B", "C", "A"}; !reflect.DeepEqual(got, want) {
		t.Errorf("published rebuilds %q, want %q", got, want)
	}
	if _, err := e.inv.Level(ctx, "X", nil); !errors.Is(err, stock.ErrNotFound) {
		t.Errorf("Level(X) = %v, want stock.ErrNotFound", err)
	}
}

func TestRebuildCarriesTheDatabaseState(t *testing.T) {
	ctx := context.Background()
	e := setup(t, "A")
	res, err := e.db.CommitOrders(ctx, []shop.OrderRequest{
		{ID: ulid.Make().String(), BuyerID: "b1", IdempotencyKey: "k", SKU: "A", Quantity: 2, Version: 40},
		{ID: ulid.Make().String(), BuyerID: "b2", IdempotencyKey: "k", SKU: "A", Quantity: 1, Version: 41},
	}, time.Now().UTC())
	if err != nil || res[0].Verdict != shop.Committed || res[1].Verdict != shop.Committed {
		t.Fatalf("CommitOrders = %+v, %v", res, err)
	}
	l, err := e.inv.Level(ctx, "A", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The rebuild starts a new epoch: past every version handed out
	// before, committed or not, and recorded in the database so the next
	// rebuild starts past it in turn.
	if want := inventory.NextEpoch(41); l.Remaining != 7 || l.Version != want {
		t.Errorf("level = %+v, want remaining 7, version %d", l, want)
	}
	var floor int64
	if err := e.db.DB().QueryRow("SELECT version FROM products WHERE sku = 'A'").Scan(&floor); err != nil || floor != l.Version {
		t.Errorf("database version after rebuild = %d, %v; want %d", floor, err, l.Version)
	}
	// Holdings came along: b1 already holds the limit.
	r, err := e.redis.Reserve(ctx, redisstock.ReserveRequest{BuyerID: "b1", IdempotencyKey: "k2", SKU: "A", Quantity: 1, Fingerprint: "f", OrderID: "o", Now: time.Now()})
	if err != nil || r.Outcome != redisstock.LimitExceeded {
		t.Errorf("Reserve by b1 after rebuild = %d, %v; want LimitExceeded", r.Outcome, err)
	}
}

func TestConcurrentRebuildsShareOneLoad(t *testing.T) {
	e := setup(t, "A")
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.inv.Level(context.Background(), "A", nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := e.pub.SKUs(); len(got) != 1 {
		t.Errorf("50 concurrent cold reads published %d rebuilds, want 1", len(got))
	}
}

func TestLiveLevels(t *testing.T) {
	ctx := context.Background()
	e := setup(t, "C", "A", "B")
	for i := 0; i < 2; i++ { // once from the database, once from Redis's listing
		levels, err := e.inv.LiveLevels(ctx, "L1", nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range levels {
			got = append(got, l.SKU)
		}
		if want := []string{"A", "B", "C"}; !reflect.DeepEqual(got, want) {
			t.Errorf("read %d: LiveLevels = %q, want %q", i+1, got, want)
		}
	}
	if _, err := e.inv.LiveLevels(ctx, "NOPE", nil); !errors.Is(err, stock.ErrNotFound) {
		t.Errorf("LiveLevels(NOPE) = %v, want stock.ErrNotFound", err)
	}

	empty := setup(t)
	levels, err := empty.inv.LiveLevels(ctx, "L1", nil)
	if err != nil || len(levels) != 0 {
		t.Errorf("LiveLevels of a live without products = %v, %v; want none", levels, err)
	}
}
