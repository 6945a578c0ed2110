package stockread_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/redis/go-redis/v9"

	"livecommerce/internal/depguard"
	"livecommerce/internal/stock"
	"livecommerce/origin/inventory"
	"livecommerce/origin/mysqlstore"
	"livecommerce/origin/origintest"
	"livecommerce/origin/redisstock"
	"livecommerce/origin/shop"
	"livecommerce/origin/stockread"
)

// roundTrips counts the commands and pipelines a client sends to Redis.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !handshake(cmd) {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) == 0 || !handshake(cmds[0]) {
			h.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// handshake reports the commands go-redis sends to set up a new
// connection; they are not reads of stock.
func handshake(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "client", "auth", "select":
		return true
	}
	return false
}

var _ redis.Hook = (*roundTrips)(nil)

type env struct {
	db       *mysqlstore.Store
	redis    *redisstock.Store
	inv      *inventory.Inventory
	trips    *roundTrips
	pub      *origintest.Recorder
	merchant string
}

// setup builds the real stores on a fresh database and Redis prefix, with
// live L1 holding the given skus (10 units each, low at 2).
func setup(t *testing.T, skus ...string) *env {
	t.Helper()
	ctx := context.Background()
	guard := depguard.New("mysql", depguard.Settings{})
	db, err := mysqlstore.Open(ctx, origintest.Database(t), 8, guard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{db: db, trips: &roundTrips{}, pub: &origintest.Recorder{}}
	rdb := redis.NewClient(&redis.Options{Addr: origintest.RedisAddr()})
	rdb.AddHook(e.trips)
	t.Cleanup(func() { rdb.Close() })
	e.redis = redisstock.New(rdb, depguard.New("redis", depguard.Settings{}), redisstock.Options{Prefix: origintest.RedisPrefix(t)})
	e.inv = inventory.New(e.redis, db, e.pub, slog.New(slog.NewTextHandler(io.Discard, nil)))

	if e.merchant, _, err = db.CreateMerchant(ctx, "Shop", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := db.UpsertLive(ctx, shop.Live{ID: "L1", MerchantID: e.merchant, Title: "Live"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.add(t, "L1", skus...)
	return e
}

func (e *env) add(t *testing.T, live string, skus ...string) {
	t.Helper()
	var ps []shop.Product
	for _, sku := range skus {
		ps = append(ps, shop.Product{SKU: sku, Name: "P " + sku, Currency: "JPY", Price: 100, Stock: 10, Limit: 10, Low: 2})
	}
	if len(ps) == 0 {
		return
	}
	if _, err := e.db.UpsertProducts(context.Background(), e.merchant, live, ps, 1000, "upload", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, c *stockread.Cache, sku string) *stockread.Answer {
	t.Helper()
	a, err := c.SKU(context.Background(), sku, nil)
	if err != nil {
		t.Fatalf("SKU(%s) = %v", sku, err)
	}
	return a
}

func level(t *testing.T, a *stockread.Answer) stock.Level {
	t.Helper()
	var l stock.Level
	if err := json.Unmarshal(a.Body, &l); err != nil {
		t.Fatalf("body %s: %v", a.Body, err)
	}
	return l
}

// concurrently runs n reads of sku at once and returns their answers.
func concurrently(t *testing.T, c *stockread.Cache, sku string, n int) []*stockread.Answer {
	t.Helper()
	answers := make([]*stockread.Answer, n)
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := 0; i < n; i++ {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			answers[i], errs[i] = c.SKU(context.Background(), sku, nil)
		}()
	}
	start.Done()
	done.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	return answers
}

func TestConcurrentReadsCollapse(t *testing.T) {
	e := setup(t, "A1")
	c := stockread.New(e.inv, 200*time.Millisecond)

	// Cold: the counters are rebuilt from the database once.
	answers := concurrently(t, c, "A1", 200)
	cold := e.trips.n.Load()
	if cold > 5 {
		t.Errorf("200 cold reads made %d Redis round trips, want at most 5 (a read, a rebuild, a re-read, and one late flight)", cold)
	}
	if got := len(e.pub.Levels()); got != 1 {
		t.Errorf("200 cold reads published %d rebuilds, want 1", got)
	}
	for i, a := range answers {
		if a.ETag != answers[0].ETag {
			t.Fatalf("read %d ETag %s, want %s like the others", i, a.ETag, answers[0].ETag)
		}
	}

	// Warm, after the TTL: one read of Redis answers all of them.
	time.Sleep(250 * time.Millisecond)
	e.trips.n.Store(0)
	concurrently(t, c, "A1", 200)
	if got := e.trips.n.Load(); got > 2 {
		t.Errorf("200 concurrent reads made %d Redis round trips, want at most 2", got)
	}
	// Within the TTL nothing reaches Redis.
	e.trips.n.Store(0)
	read(t, c, "A1")
	if got := e.trips.n.Load(); got > 1 {
		t.Errorf("a read right after made %d Redis round trips, want 0 (1 if the TTL just ran out)", got)
	}
}

func TestAnswersWithinTTLAreIdentical(t *testing.T) {
	ctx := context.Background()
	e := setup(t, "A1")
	ttl := 150 * time.Millisecond
	c := stockread.New(e.inv, ttl)

	first := read(t, c, "A1")
	l := level(t, first)
	if l.SKU != "A1" || l.LiveID != "L1" || l.Remaining != 10 || l.Status != stock.InStock || l.Version < 1 {
		t.Fatalf("first answer = %+v, want A1 on L1 with 10 in stock", l)
	}
	if want := []string{"sku-A1", "live-L1"}; !reflect.DeepEqual(first.Tags, want) {
		t.Errorf("Tags = %q, want %q", first.Tags, want)
	}
	if len(first.ETag) < 3 || first.ETag[0] != '"' || first.ETag[len(first.ETag)-1] != '"' {
		t.Errorf("ETag = %s, want a strong, quoted ETag", first.ETag)
	}

	// A purchase changes the stock; the cached answer holds until TTL.
	res, err := e.redis.Reserve(ctx, redisstock.ReserveRequest{
		BuyerID: "b1", IdempotencyKey: "k1", SKU: "A1", Quantity: 9, Fingerprint: "f", OrderID: "o1", Now: time.Now(),
	})
	if err != nil || res.Outcome != redisstock.Reserved {
		t.Fatalf("Reserve = %v, %v", res.Outcome, err)
	}
	if again := read(t, c, "A1"); again.ETag != first.ETag || string(again.Body) != string(first.Body) {
		t.Errorf("answer within TTL changed: ETag %s -> %s", first.ETag, again.ETag)
	}

	time.Sleep(ttl + 50*time.Millisecond)
	after := read(t, c, "A1")
	if after.ETag == first.ETag {
		t.Fatalf("ETag after TTL = %s, unchanged; want the purchase visible", after.ETag)
	}
	got := level(t, after)
	if got.Remaining != 1 || got.Status != stock.LowStock || got.Version <= l.Version {
		t.Errorf("answer after TTL = %+v, want remaining 1, low_stock, version above %d", got, l.Version)
	}
}

func TestUnknown(t *testing.T) {
	e := setup(t, "A1")
	c := stockread.New(e.inv, 100*time.Millisecond)
	a := read(t, c, "NOPE")
	if !a.NotFound {
		t.Errorf("SKU(NOPE) = %s, want NotFound", a.Body)
	}
	if want := []string{"sku-NOPE"}; !reflect.DeepEqual(a.Tags, want) {
		t.Errorf("Tags = %q, want %q", a.Tags, want)
	}
	// Not found is cached too: a flood of unknown skus stays off the
	// database and Redis.
	e.trips.n.Store(0)
	concurrently(t, c, "NOPE", 100)
	if got := e.trips.n.Load(); got != 0 {
		t.Errorf("100 reads of a cached unknown sku made %d Redis round trips, want 0", got)
	}

	l, err := c.Live(context.Background(), "NOLIVE", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !l.NotFound {
		t.Errorf("Live(NOLIVE) = %s, want NotFound", l.Body)
	}
}

type liveBody struct {
	LiveID   string        `json:"live_id"`
	Products []stock.Level `json:"products"`
}

func TestLiveSortedBySKU(t *testing.T) {
	ctx := context.Background()
	e := setup(t, "C3", "B2")
	ttl := 50 * time.Millisecond
	c := stockread.New(e.inv, ttl)

	skusOf := func(a *stockread.Answer) []string {
		t.Helper()
		var b liveBody
		if err := json.Unmarshal(a.Body, &b); err != nil {
			t.Fatalf("body %s: %v", a.Body, err)
		}
		if b.LiveID != "L1" {
			t.Errorf("live_id = %q, want L1", b.LiveID)
		}
		var skus []string
		for _, p := range b.Products {
			if p.LiveID != "L1" {
				t.Errorf("product %s of live %q in the answer for L1", p.SKU, p.LiveID)
			}
			skus = append(skus, p.SKU)
		}
		return skus
	}
	a, err := c.Live(ctx, "L1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := skusOf(a), []string{"B2", "C3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("products = %q, want %q", got, want)
	}
	if want := []string{"live-L1"}; !reflect.DeepEqual(a.Tags, want) {
		t.Errorf("Tags = %q, want %q", a.Tags, want)
	}

	// A sku added later is appended to Redis's listing after the others;
	// the answer is still in sku order.
	e.add(t, "L1", "A1", "D4")
	for _, sku := range []string{"D4", "A1"} {
		if err := e.inv.Rebuild(ctx, sku); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(ttl + 20*time.Millisecond)
	a, err = c.Live(ctx, "L1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := skusOf(a), []string{"A1", "B2", "C3", "D4"}; !reflect.DeepEqual(got, want) {
		t.Errorf("products = %q, want %q", got, want)
	}
}

func TestEmptyLive(t *testing.T) {
	e := setup(t)
	c := stockread.New(e.inv, 50*time.Millisecond)
	a, err := c.Live(context.Background(), "L1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.NotFound {
		t.Fatal("Live(L1) with no products = NotFound, want an empty list")
	}
	if got, want := string(a.Body), `{"live_id":"L1","products":[]}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
}

func TestTTLIsClamped(t *testing.T) {
	// A source that counts calls, to observe the TTL without Redis.
	src := &countingSource{}
	c := stockread.New(src, time.Hour)
	read(t, c, "A1")
	time.Sleep(stockread.MaxTTL + 50*time.Millisecond)
	read(t, c, "A1")
	if got := src.calls.Load(); got != 2 {
		t.Errorf("source called %d times across MaxTTL with a 1h TTL asked, want 2 (TTL clamped to %s)", got, stockread.MaxTTL)
	}
}

type countingSource struct{ calls atomic.Int64 }

func (s *countingSource) Level(ctx context.Context, sku string, _ inventory.Gate) (stock.Level, error) {
	n := s.calls.Add(1)
	return stock.Level{SKU: sku, LiveID: "L1", Remaining: 1, Status: stock.LowStock, Version: n, UpdatedAt: time.Unix(0, 0).UTC()}, nil
}

func (s *countingSource) LiveLevels(ctx context.Context, liveID string, _ inventory.Gate) ([]stock.Level, error) {
	return nil, stock.ErrNotFound
}

func TestErrorsAreNotCached(t *testing.T) {
	src := &failingSource{}
	c := stockread.New(src, 200*time.Millisecond)
	for i := 0; i < 2; i++ {
		if a, err := c.SKU(context.Background(), "A1", nil); !errors.Is(err, stock.ErrUnavailable) {
			t.Fatalf("read %d with the source failing = %+v, %v; want stock.ErrUnavailable", i+1, a, err)
		}
	}
	if got := src.calls.Load(); got != 2 {
		t.Errorf("two failed reads called the source %d times, want 2 (failures are not cached)", got)
	}
}

type failingSource struct{ calls atomic.Int64 }

func (s *failingSource) Level(context.Context, string, inventory.Gate) (stock.Level, error) {
	s.calls.Add(1)
	return stock.Level{}, stock.ErrUnavailable
}

func (s *failingSource) LiveLevels(context.Context, string, inventory.Gate) ([]stock.Level, error) {
	s.calls.Add(1)
	return nil, stock.ErrUnavailable
}

// gatedSource asks the gate before each load, as a cold read does, and
// holds every load until release is closed.
type gatedSource struct {
	release chan struct{}
	calls   atomic.Int64
}

func (s *gatedSource) Level(ctx context.Context, sku string, gate inventory.Gate) (stock.Level, error) {
	s.calls.Add(1)
	<-s.release
	if gate != nil {
		if err := gate(); err != nil {
			return stock.Level{}, err
		}
	}
	return stock.Level{SKU: sku, LiveID: "L1", Remaining: 1, Status: stock.LowStock, Version: 1, UpdatedAt: time.Unix(0, 0).UTC()}, nil
}

func (s *gatedSource) LiveLevels(context.Context, string, inventory.Gate) ([]stock.Level, error) {
	return nil, stock.ErrNotFound
}

// TestLeadersRefusalIsNotShared: a read that joins a load led by a client
// whose gate refuses it is not refused with it; it loads again, asking its
// own gate.
func TestLeadersRefusalIsNotShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &gatedSource{release: make(chan struct{})}
		c := stockread.New(src, time.Second)
		empty := errors.New("budget spent")
		var leaderErr, followerErr error
		var followerAnswer *stockread.Answer
		var followerAsked atomic.Int64
		var wg sync.WaitGroup
		wg.Go(func() {
			_, leaderErr = c.SKU(context.Background(), "A1", func() error { return empty })
		})
		synctest.Wait() // the leader's load is under way
		wg.Go(func() {
			followerAnswer, followerErr = c.SKU(context.Background(), "A1", func() error { followerAsked.Add(1); return nil })
		})
		synctest.Wait() // the follower waits on the leader's load
		close(src.release)
		wg.Wait()

		if !errors.Is(leaderErr, stockread.ErrRefused) || !errors.Is(leaderErr, empty) {
			t.Errorf("leader: got %v, want ErrRefused wrapping its gate's error", leaderErr)
		}
		if followerErr != nil || followerAnswer == nil || followerAnswer.NotFound {
			t.Fatalf("follower: got %+v, %v; want the level", followerAnswer, followerErr)
		}
		if got := followerAsked.Load(); got != 1 {
			t.Errorf("follower's gate asked %d times, want 1", got)
		}
		if got := src.calls.Load(); got != 2 {
			t.Errorf("source called %d times, want 2 (the leader's load, then the follower's own)", got)
		}
	})
}
