package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"livecommerce/internal/depguard"
	"livecommerce/internal/stock"
	"livecommerce/origin/catalog"
	"livecommerce/origin/inventory"
	"livecommerce/origin/mysqlstore"
	"livecommerce/origin/origintest"
	"livecommerce/origin/redisstock"
	"livecommerce/origin/shop"
)

func ptr[T any](v T) *T { return &v }

func row(sku string) shop.ProductInput {
	return shop.ProductInput{
		SKU: ptr(sku), Name: ptr("Product " + sku), Price: ptr(int64(1999)), Currency: ptr("JPY"),
		Stock: ptr(int64(10)), PerBuyerLimit: ptr(int64(2)), LowStockThreshold: ptr(int64(3)),
	}
}

// fieldErrors lists "row:field" of errs, sorted.
func fieldErrors(errs []shop.RowError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, fmt.Sprintf("%d:%s", e.Row, e.Field))
	}
	sort.Strings(out)
	return out
}

func TestValidateProducts(t *testing.T) {
	with := func(f func(*shop.ProductInput)) shop.ProductInput {
		r := row("A1")
		f(&r)
		return r
	}
	tests := []struct {
		name string
		rows []shop.ProductInput
		want []string // row:field, sorted
	}{
		{"valid", []shop.ProductInput{row("A1"), row("B2")}, nil},
		{"no rows", nil, nil},
		{"low threshold optional", []shop.ProductInput{with(func(r *shop.ProductInput) { r.LowStockThreshold = nil })}, nil},
		{"zero stock and price", []shop.ProductInput{with(func(r *shop.ProductInput) { r.Stock = ptr(int64(0)); r.Price = ptr(int64(0)) })}, nil},
		{"limits at their maximum", []shop.ProductInput{with(func(r *shop.ProductInput) {
			r.Price, r.Stock, r.PerBuyerLimit = ptr(int64(shop.MaxPrice)), ptr(int64(shop.MaxStock)), ptr(int64(shop.MaxLimit))
		})}, nil},
		{"every field missing", []shop.ProductInput{{}}, []string{"1:currency", "1:name", "1:per_buyer_limit", "1:price", "1:sku", "1:stock"}},
		{"bad sku", []shop.ProductInput{row("A1"), row("../etc")}, []string{"2:sku"}},
		{"sku 65 chars", []shop.ProductInput{row(strings.Repeat("a", 65))}, []string{"1:sku"}},
		{"duplicate sku", []shop.ProductInput{row("A1"), row("B2"), row("A1")}, []string{"3:sku"}},
		{"empty name", []shop.ProductInput{with(func(r *shop.ProductInput) { r.Name = ptr("") })}, []string{"1:name"}},
		{"padded name", []shop.ProductInput{with(func(r *shop.ProductInput) { r.Name = ptr(" Hat") })}, []string{"1:name"}},
		{"name with newline", []shop.ProductInput{with(func(r *shop.ProductInput) { r.Name = ptr("Hat\nRed") })}, []string{"1:name"}},
		{"name with DEL", []shop.ProductInput{with(func(r *shop.ProductInput) { r.Name = ptr("Hat\x7f") })}, []string{"1:name"}},
		{"name invalid utf-8", []shop.ProductInput{with(func(r *shop.ProductInput) { r.Name = ptr("Hat\xff") })}, []string{"1:name"}},
		{"name 200 runes", []shop.ProductInput{with(func(r *shop.ProductInput) { r.Name = ptr(strings.Repeat("帽", 200)) })}, nil},
		{"name 201 runes", []shop.ProductInput{with(func(r *shop.ProductInput) { r.Name = ptr(strings.Repeat("帽", 201)) })}, []string{"1:name"}},
		{"negative price", []shop.ProductInput{with(func(r *shop.ProductInput) { r.Price = ptr(int64(-1)) })}, []string{"1:price"}},
		{"price too high", []shop.ProductInput{with(func(r *shop.ProductInput) { r.Price = ptr(int64(shop.MaxPrice + 1)) })}, []string{"1:price"}},
		{"lower-case currency", []shop.ProductInput{with(func(r *shop.ProductInput) { r.Currency = ptr("jpy") })}, []string{"1:currency"}},
		{"short currency", []shop.ProductInput{with(func(r *shop.ProductInput) { r.Currency = ptr("JP") })}, []string{"1:currency"}},
		{"currency with newline", []shop.ProductInput{with(func(r *shop.ProductInput) { r.Currency = ptr("JPY\n") })}, []string{"1:currency"}},
		{"negative stock", []shop.ProductInput{with(func(r *shop.ProductInput) { r.Stock = ptr(int64(-5)) })}, []string{"1:stock"}},
		{"stock too high", []shop.ProductInput{with(func(r *shop.ProductInput) { r.Stock = ptr(int64(shop.MaxStock + 1)) })}, []string{"1:stock"}},
		{"zero limit", []shop.ProductInput{with(func(r *shop.ProductInput) { r.PerBuyerLimit = ptr(int64(0)) })}, []string{"1:per_buyer_limit"}},
		{"negative low", []shop.ProductInput{with(func(r *shop.ProductInput) { r.LowStockThreshold = ptr(int64(-1)) })}, []string{"1:low_stock_threshold"}},
		{"errors of several rows at once", []shop.ProductInput{
			with(func(r *shop.ProductInput) { r.Stock = ptr(int64(-1)) }), row("OK"),
			with(func(r *shop.ProductInput) { r.SKU = ptr("B 2"); r.Currency = nil }),
		}, []string{"1:stock", "3:currency", "3:sku"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs := shop.ValidateProducts(tt.rows)
			if got := fieldErrors(errs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors = %q, want %q", got, tt.want)
			}
			for _, e := range errs {
				if e.Reason == "" {
					t.Errorf("row %d field %s has no reason", e.Row, e.Field)
				}
			}
			if len(errs) == 0 && len(out) != len(tt.rows) {
				t.Errorf("got %d products for %d rows", len(out), len(tt.rows))
			}
		})
	}

	out, _ := shop.ValidateProducts([]shop.ProductInput{row("A1")})
	want := shop.Product{SKU: "A1", Name: "Product A1", Currency: "JPY", Price: 1999, Stock: 10, Limit: 2, Low: 3}
	if out[0] != want {
		t.Errorf("product = %+v, want %+v", out[0], want)
	}
}

var currency = regexp.MustCompile(`^[A-Z]{3}$`)

func FuzzValidateProducts(f *testing.F) {
	f.Add([]byte(`[{"sku":"A1","name":"Hat","price":1999,"currency":"JPY","stock":10,"per_buyer_limit":2,"low_stock_threshold":3}]`))
	f.Add([]byte(`[{"sku":"A1","name":"Hat","price":1999,"currency":"JPY","stock":10,"per_buyer_limit":2},{"sku":"A1"}]`))
	f.Add([]byte(`[{"sku":"../x","name":" Hat","price":-1,"currency":"jpy","stock":-1,"per_buyer_limit":0,"low_stock_threshold":-1}]`))
	f.Add([]byte(`[{"sku":"A1","name":"帽子\u0000","price":1e3,"currency":"USD","stock":1,"per_buyer_limit":1}]`))
	f.Add([]byte(`[{}]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var rows []shop.ProductInput
		if json.Unmarshal(data, &rows) != nil {
			return
		}
		out, errs := shop.ValidateProducts(rows)
		for _, e := range errs {
			if e.Row < 1 || e.Row > len(rows) || e.Field == "" || e.Reason == "" {
				t.Fatalf("row error %+v for %d rows", e, len(rows))
			}
		}
		if len(errs) > 0 {
			return
		}
		if len(out) != len(rows) {
			t.Fatalf("%d products for %d rows", len(out), len(rows))
		}
		seen := map[string]bool{}
		for i, p := range out {
			switch {
			case !stock.ValidID(p.SKU), seen[p.SKU]:
				t.Fatalf("row %d: accepted sku %q", i+1, p.SKU)
			case p.Name == "" || !utf8.ValidString(p.Name) || strings.TrimSpace(p.Name) != p.Name || utf8.RuneCountInString(p.Name) > shop.MaxName:
				t.Fatalf("row %d: accepted name %q", i+1, p.Name)
			case strings.ContainsFunc(p.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
				t.Fatalf("row %d: accepted control character in name %q", i+1, p.Name)
			case !currency.MatchString(p.Currency):
				t.Fatalf("row %d: accepted currency %q", i+1, p.Currency)
			case p.Price < 0 || p.Price > shop.MaxPrice, p.Stock < 0 || p.Stock > shop.MaxStock,
				p.Limit < 1 || p.Limit > shop.MaxLimit, p.Low < 0 || p.Low > shop.MaxStock:
				t.Fatalf("row %d: accepted numbers out of range %+v", i+1, p)
			}
			seen[p.SKU] = true
		}
	})
}

// lastPublished is the newest level r recorded.
func lastPublished(t *testing.T, r *origintest.Recorder) stock.Level {
	t.Helper()
	levels := r.Levels()
	if len(levels) == 0 {
		t.Fatal("nothing published")
	}
	return levels[len(levels)-1]
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	svc      *catalog.Service
	db       *mysqlstore.Store
	redis    *redisstock.Store
	pub      *origintest.Recorder
	logs     *syncBuffer
	merchant string
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db, err := mysqlstore.Open(ctx, origintest.Database(t), 8, depguard.New("mysql", depguard.Settings{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: origintest.RedisAddr()})
	t.Cleanup(func() { rdb.Close() })
	rs := redisstock.New(rdb, depguard.New("redis", depguard.Settings{}), redisstock.Options{Prefix: origintest.RedisPrefix(t)})
	e := &env{db: db, redis: rs, pub: &origintest.Recorder{}, logs: &syncBuffer{}}
	log := slog.New(slog.NewJSONHandler(e.logs, nil))
	inv := inventory.New(rs, db, e.pub, log)
	e.svc = catalog.New(shop.DefaultLimits, db, rs, inv, e.pub, log)
	if e.merchant, _, err = db.CreateMerchant(ctx, "Shop", time.Now()); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestPutLiveValidation(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	tests := []struct {
		name string
		in   shop.LiveInput
	}{
		{"empty title", shop.LiveInput{Title: ""}},
		{"padded title", shop.LiveInput{Title: "Live "}},
		{"title with tab", shop.LiveInput{Title: "Live\t1"}},
		{"title 201 chars", shop.LiveInput{Title: strings.Repeat("x", 201)}},
		{"start not RFC 3339", shop.LiveInput{Title: "Live", SaleStartsAt: ptr("2030-01-01 10:00")}},
		{"end not a time", shop.LiveInput{Title: "Live", SaleEndsAt: ptr("tomorrow")}},
		{"start out of range", shop.LiveInput{Title: "Live", SaleStartsAt: ptr("1999-12-31T23:59:59Z")}},
		{"end before start", shop.LiveInput{Title: "Live", SaleStartsAt: ptr("2030-01-02T00:00:00Z"), SaleEndsAt: ptr("2030-01-01T00:00:00Z")}},
		{"end equal to start", shop.LiveInput{Title: "Live", SaleStartsAt: ptr("2030-01-01T00:00:00Z"), SaleEndsAt: ptr("2030-01-01T00:00:00Z")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := e.svc.PutLive(ctx, e.merchant, "L1", tt.in)
			var invalid *shop.InvalidError
			if !errors.As(err, &invalid) {
				t.Errorf("PutLive(%+v) = %v, want *InvalidError", tt.in, err)
			}
		})
	}
	var n int
	e.db.DB().QueryRow("SELECT COUNT(*) FROM lives").Scan(&n)
	if n != 0 {
		t.Errorf("%d lives exist after refused PutLive calls, want 0", n)
	}

	l, created, err := e.svc.PutLive(ctx, e.merchant, "L1", shop.LiveInput{Title: "Live", SaleStartsAt: ptr("2030-01-01T09:00:00+09:00"), SaleEndsAt: ptr("")})
	if err != nil || !created {
		t.Fatalf("valid PutLive = %v, %v", created, err)
	}
	if want := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC); !l.SaleStart.Equal(want) || l.SaleStart.Location() != time.UTC || !l.SaleEnd.IsZero() {
		t.Errorf("window = %v..%v, want %v in UTC, open end", l.SaleStart, l.SaleEnd, want)
	}
}

func TestPutProductsReachesRedis(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	if _, _, err := e.svc.PutLive(ctx, e.merchant, "L1", shop.LiveInput{Title: "Live"}); err != nil {
		t.Fatal(err)
	}

	// New: committed, loaded into Redis, published.
	if _, err := e.svc.PutProducts(ctx, e.merchant, "L1", []shop.ProductInput{row("A1")}); err != nil {
		t.Fatal(err)
	}
	levels, missing, err := e.redis.Levels(ctx, []string{"A1"})
	if err != nil || missing[0] {
		t.Fatalf("Levels(A1) after PutProducts = missing %v, %v; want loaded", missing, err)
	}
	if levels[0].Remaining != 10 || levels[0].LiveID != "L1" {
		t.Errorf("Redis level = %+v, want 10 on L1", levels[0])
	}
	first := lastPublished(t, e.pub)
	if first.SKU != "A1" || first.Remaining != 10 {
		t.Errorf("published %+v, want A1 with 10", first)
	}

	// Update: applied to the loaded counters with a higher version.
	r := row("A1")
	r.Stock = ptr(int64(3))
	if _, err := e.svc.PutProducts(ctx, e.merchant, "L1", []shop.ProductInput{r}); err != nil {
		t.Fatal(err)
	}
	got := lastPublished(t, e.pub)
	if got.Remaining != 3 || got.Status != stock.LowStock || got.Version <= first.Version {
		t.Errorf("published %+v after update, want remaining 3, low_stock, version above %d", got, first.Version)
	}

	// Rejected rows come back as InvalidError with rows; nothing changes.
	_, err = e.svc.PutProducts(ctx, e.merchant, "L1", []shop.ProductInput{row("B2"), {SKU: ptr("C 3")}})
	var invalid *shop.InvalidError
	if !errors.As(err, &invalid) || len(invalid.Rows) == 0 || invalid.Rows[0].Row != 2 {
		t.Fatalf("PutProducts with a bad row = %v, want *InvalidError about row 2", err)
	}
	if _, err := e.db.ProductState(ctx, mysqlstore.ForReads, "B2"); !errors.Is(err, stock.ErrNotFound) {
		t.Errorf("B2 exists after a rejected upload: %v", err)
	}

	// Another merchant's live is not found.
	other, _, err := e.db.CreateMerchant(ctx, "Other", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PutProducts(ctx, other, "L1", []shop.ProductInput{row("Z9")}); !errors.Is(err, stock.ErrNotFound) {
		t.Errorf("PutProducts into another merchant's live = %v, want stock.ErrNotFound", err)
	}

	tooMany := make([]shop.ProductInput, shop.MaxProducts+1)
	if _, err := e.svc.PutProducts(ctx, e.merchant, "L1", tooMany); !errors.As(err, &invalid) {
		t.Errorf("PutProducts with %d rows = %v, want *InvalidError", len(tooMany), err)
	}
}

// Moving a live's sale window must reach the loaded counters: Redis admits
// purchases, so a window it does not know is a window not enforced.
func TestPutLiveMovesWindowInRedis(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	if _, _, err := e.svc.PutLive(ctx, e.merchant, "L1", shop.LiveInput{Title: "Live"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PutProducts(ctx, e.merchant, "L1", []shop.ProductInput{row("A1")}); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if _, _, err := e.svc.PutLive(ctx, e.merchant, "L1", shop.LiveInput{Title: "Live", SaleStartsAt: &start}); err != nil {
		t.Fatal(err)
	}
	res, err := e.redis.Reserve(ctx, redisstock.ReserveRequest{
		BuyerID: "b1", IdempotencyKey: "k1", SKU: "A1", Quantity: 1, Fingerprint: "f", OrderID: "o1", Now: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != redisstock.NotOpen {
		t.Errorf("Reserve before the new sale start = outcome %d, want NotOpen (%d): the window change did not reach Redis; logs: %s",
			res.Outcome, redisstock.NotOpen, e.logs.String())
	}
}
