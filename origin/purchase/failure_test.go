package purchase_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"livecommerce/internal/faultproxy"
	"livecommerce/internal/stock"
	"livecommerce/origin/app"
	"livecommerce/origin/origintest"
	"livecommerce/origin/purchase"
	"livecommerce/origin/reconcile"
)

// These tests break the origin's dependencies for real, mid-run: MySQL
// behind a fault proxy, Redis keys deleted under the origin, Redis counters
// corrupted, the process shut down while buying, NATS unreachable. After
// each fault they check the promises of the contract: a failed purchase
// changes nothing, no unit is sold twice or lost, and every 201 is durable.

// retryPause is how long a buyer waits before retrying a key. Shorter than
// the 1 s Retry-After the origin sends, to keep the tests short.
const retryPause = 20 * time.Millisecond

// answer is one purchase request as the buyer saw it.
type answer struct {
	Status     int
	Code       string
	RetryAfter string
	Replayed   bool
	Receipt    purchase.Receipt
	Latency    time.Duration
	Err        error // transport error, or an unreadable 201 body
}

func (a answer) String() string {
	if a.Err != nil {
		return "transport error: " + a.Err.Error()
	}
	if a.Code == "" {
		return strconv.Itoa(a.Status)
	}
	return strconv.Itoa(a.Status) + " " + a.Code
}

// retry reports whether the contract tells the buyer to send the same key
// again: 503 (a dependency is down, or the outcome is not known yet) or a
// request with the key still in progress.
func (a answer) retry() bool {
	return a.Err == nil && (a.Status == 503 || a.Code == "idempotency_key_in_use")
}

func buy(e *origintest.Env, buyer, key, sku string, qty int) answer {
	began := time.Now()
	r, err := e.Purchase(buyer, key, sku, qty)
	a := answer{Latency: time.Since(began), Err: err}
	if err != nil {
		return a
	}
	a.Status, a.Code = r.Status, r.Code()
	a.RetryAfter = r.Header.Get("Retry-After")
	a.Replayed = r.Header.Get("Idempotent-Replayed") == "true"
	if r.Status == 201 {
		if err := json.Unmarshal(r.Body, &a.Receipt); err != nil || a.Receipt.OrderID == "" {
			a.Err = fmt.Errorf("201 with body %q: %v", r.Body, err)
		}
	}
	return a
}

// settle sends a purchase and, while the answer says so, sends it again
// with the same key, until deadline. Every answer goes to each (may be nil).
func settle(deadline time.Time, try func() answer, each func(answer)) answer {
	return settleUntil(func() time.Time { return deadline }, try, each)
}

// settleUntil is settle with a deadline that may move while it runs.
func settleUntil(deadline func() time.Time, try func() answer, each func(answer)) answer {
	for {
		a := try()
		if each != nil {
			each(a)
		}
		if !a.retry() || time.Now().After(deadline()) {
			return a
		}
		time.Sleep(retryPause)
	}
}

// contractViolation returns what is wrong with an answer whatever the
// scenario, or "" when nothing is: only 503 among 5xx, and 503 always as
// `unavailable` with Retry-After.
func contractViolation(a answer) string {
	switch {
	case a.Err != nil:
		return a.String()
	case a.Status >= 500 && a.Status != 503:
		return fmt.Sprintf("got %s, want no 5xx but 503", a)
	case a.Status == 503 && a.Code != "unavailable":
		return fmt.Sprintf("got 503 with code %q, want unavailable", a.Code)
	case a.Status == 503 && a.RetryAfter == "":
		return "got 503 without Retry-After"
	}
	return ""
}

// sale is one idempotency key and its final answer.
type sale struct {
	Buyer, Key string
	Qty        int
	Final      answer
}

// ledger collects what buyers saw.
type ledger struct {
	mu     sync.Mutex
	counts map[string]int
	bad    []string
	sales  []sale
}

func (l *ledger) see(a answer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		l.counts = map[string]int{}
	}
	l.counts[a.String()]++
	if v := contractViolation(a); v != "" && len(l.bad) < 20 {
		l.bad = append(l.bad, v)
	}
}

func (l *ledger) settled(s sale) {
	l.mu.Lock()
	l.sales = append(l.sales, s)
	l.mu.Unlock()
}

// report logs the answer counts and fails on contract violations.
func (l *ledger) report(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("answers: %v", l.counts)
	for _, b := range l.bad {
		t.Errorf("purchase answer: %s", b)
	}
}

// sold sums the units of keys whose final answer was a 201, each key once.
func (l *ledger) sold() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, s := range l.sales {
		if s.Final.Status == 201 && s.Final.Err == nil {
			n += int64(s.Final.Receipt.Quantity)
		}
	}
	return n
}

func (l *ledger) snapshot() []sale {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sale(nil), l.sales...)
}

// openDB connects to the test database directly, not through any proxy the
// origin uses, so checks work whatever state the origin is in.
func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// dbState is a sku in the database of record.
type dbState struct {
	Stock, Sold, Orders int64
}

func readDB(t *testing.T, db *sql.DB, sku string) dbState {
	t.Helper()
	var s dbState
	if err := db.QueryRow("SELECT stock, sold FROM products WHERE sku = ?", sku).Scan(&s.Stock, &s.Sold); err != nil {
		t.Fatalf("product %s: %v", sku, err)
	}
	if err := db.QueryRow("SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE sku = ?", sku).Scan(&s.Orders); err != nil {
		t.Fatalf("orders of %s: %v", sku, err)
	}
	return s
}

// orderRow is an order as the database holds it.
type orderRow struct {
	ID, Buyer, Key string
	Qty            int
}

func ordersOf(t *testing.T, db *sql.DB, sku string) map[[2]string]orderRow {
	t.Helper()
	rows, err := db.Query("SELECT id, buyer_id, idempotency_key, quantity FROM orders WHERE sku = ?", sku)
	if err != nil {
		t.Fatalf("orders of %s: %v", sku, err)
	}
	defer rows.Close()
	out := map[[2]string]orderRow{}
	for rows.Next() {
		var o orderRow
		if err := rows.Scan(&o.ID, &o.Buyer, &o.Key, &o.Qty); err != nil {
			t.Fatalf("orders of %s: %v", sku, err)
		}
		out[[2]string{o.Buyer, o.Key}] = o
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("orders of %s: %v", sku, err)
	}
	return out
}

// checkSalesMatchOrders compares the buyers' final answers with the order
// rows: every 201 is an order with its id and quantity, and every order was
// answered 201, except keys listed in unsettled, whose buyers never learned
// the outcome. It returns how many unsettled keys have an order.
func checkSalesMatchOrders(t *testing.T, db *sql.DB, sku string, sales []sale, unsettled map[[2]string]bool) int {
	t.Helper()
	orders := ordersOf(t, db, sku)
	answered := map[[2]string]bool{}
	for _, s := range sales {
		k := [2]string{s.Buyer, s.Key}
		if s.Final.Status != 201 || s.Final.Err != nil {
			continue
		}
		answered[k] = true
		o, ok := orders[k]
		switch {
		case !ok:
			t.Errorf("buyer %s key %s: answered 201 (order %s) but no order row", s.Buyer, s.Key, s.Final.Receipt.OrderID)
		case o.ID != s.Final.Receipt.OrderID || o.Qty != s.Final.Receipt.Quantity:
			t.Errorf("buyer %s key %s: answered order %s x%d, database holds %s x%d",
				s.Buyer, s.Key, s.Final.Receipt.OrderID, s.Final.Receipt.Quantity, o.ID, o.Qty)
		}
	}
	landed := 0
	for k, o := range orders {
		switch {
		case answered[k]:
		case unsettled[k]:
			landed++
		default:
			t.Errorf("order %s (buyer %s key %s x%d) is in the database but its buyer got no 201", o.ID, o.Buyer, o.Key, o.Qty)
		}
	}
	return landed
}

// sellOut buys sku from workers goroutines, each with fresh buyers holding
// at most perBuyer units, until the origin answers sold_out, and returns
// the units sold in 201 answers.
func sellOut(t *testing.T, e *origintest.Env, l *ledger, sku, prefix string, workers, perBuyer int, deadline time.Time) int64 {
	t.Helper()
	var sold atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buyerN, held, qty := 0, 0, min(3, perBuyer)
			for n := 0; time.Now().Before(deadline); n++ {
				buyer := fmt.Sprintf("%s-%d-%d", prefix, w, buyerN)
				key := fmt.Sprintf("%s-%d-%d", prefix, w, n)
				a := settle(deadline, func() answer { return buy(e, buyer, key, sku, qty) }, l.see)
				l.settled(sale{Buyer: buyer, Key: key, Qty: qty, Final: a})
				switch {
				case a.Status == 201 && a.Err == nil:
					sold.Add(int64(a.Receipt.Quantity))
					held += a.Receipt.Quantity
				case a.Code == "sold_out":
					return
				case a.Code == "insufficient_stock":
					qty = 1
				case a.Code == "purchase_limit_exceeded":
					held = perBuyer
				default:
					t.Errorf("selling out %s: unexpected answer %s", sku, a)
					return
				}
				if held+qty > perBuyer {
					buyerN, held = buyerN+1, 0
				}
			}
			t.Errorf("selling out %s: not sold out by the deadline", sku)
		}()
	}
	wg.Wait()
	return sold.Load()
}

// proxiedOrigin starts an origin whose MySQL connections go through a fault
// proxy; it returns the direct DSN for checks.
func proxiedOrigin(t *testing.T, tweak func(*app.Config)) (*origintest.Env, *faultproxy.Proxy, string) {
	t.Helper()
	dsn := origintest.Database(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	proxy, err := faultproxy.Start(cfg.Addr)
	if err != nil {
		t.Fatalf("fault proxy: %v", err)
	}
	t.Cleanup(func() { proxy.Close() })
	cfg.Addr = proxy.Addr()
	e := origintest.Start(t, origintest.Options{MySQLDSN: cfg.FormatDSN(), Tweak: tweak})
	return e, proxy, dsn
}

// waitFor polls cond every 5 ms until it holds or limit passes.
func waitFor(limit time.Duration, cond func() bool) bool {
	end := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMySQLOutage cuts MySQL off in the middle of a stream of purchases of
// one sku, as a dead server (cut) and as a partition (blackhole).
func TestMySQLOutage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(*faultproxy.Proxy)
	}{
		{"cut", (*faultproxy.Proxy).Cut},
		{"blackhole", (*faultproxy.Proxy).Blackhole},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each has its own origin, database, prefix and proxy
			mysqlOutage(t, tc.fault)
		})
	}
}

func mysqlOutage(t *testing.T, fault func(*faultproxy.Proxy)) {
	const (
		sku     = "OUT1"
		units   = 2000
		workers = 16
		// failFast bounds a purchase answered while the breaker is open:
		// it touches neither Redis nor MySQL. Generous for -race.
		failFast = 100 * time.Millisecond
		// openWithin bounds how long the breaker may take to open.
		openWithin = 30 * time.Second
	)
	e, proxy, dsn := proxiedOrigin(t, nil)
	db := openDB(t, dsn)
	e.SetUpLive("OUTAGE", "", origintest.Product{SKU: sku, Stock: units, PerBuyerLimit: 10000, LowStockThreshold: 10})
	guard := e.Server.Deps().DB.Guard()

	var l ledger
	var fastMu sync.Mutex
	var fast []time.Duration // purchases made and answered while the breaker was open
	var faulted atomic.Bool
	var settleBy atomic.Int64 // unix ns: buyers give up retrying a key after this
	settleBy.Store(time.Now().Add(time.Minute).UnixNano())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buyer := fmt.Sprintf("buyer-%d", w)
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("k-%d-%d", w, n)
				try := func() answer {
					openBefore := guard.Open()
					a := buy(e, buyer, key, sku, 1)
					if openBefore && guard.Open() && faulted.Load() {
						fastMu.Lock()
						fast = append(fast, a.Latency)
						fastMu.Unlock()
						if a.Status != 503 {
							l.mu.Lock()
							l.bad = append(l.bad, fmt.Sprintf("breaker open: got %s, want 503 unavailable", a))
							l.mu.Unlock()
						}
					}
					return a
				}
				a := settleUntil(func() time.Time { return time.Unix(0, settleBy.Load()) }, try, l.see)
				l.settled(sale{Buyer: buyer, Key: key, Qty: 1, Final: a})
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}

	time.Sleep(300 * time.Millisecond)
	if l.sold() == 0 {
		t.Errorf("no purchase succeeded before the fault")
	}
	faultAt := time.Now()
	faulted.Store(true)
	fault(proxy)
	if !waitFor(openWithin, guard.Open) {
		t.Errorf("the MySQL breaker did not open within %v of the fault", openWithin)
	}
	t.Logf("breaker opened %v after the fault", time.Since(faultAt).Round(time.Millisecond))
	// Purchases keep coming while the breaker is open; then the database
	// comes back.
	time.Sleep(1500 * time.Millisecond)
	proxy.Restore()
	restoredAt := time.Now()
	settleBy.Store(restoredAt.Add(10 * time.Second).UnixNano())
	close(stop)
	wg.Wait()
	t.Logf("buyers settled %v after the restore", time.Since(restoredAt).Round(time.Millisecond))

	// Ready again, and purchases work again once the breaker closes.
	if !waitFor(10*time.Second, func() bool {
		r, err := e.Do("GET", "/readyz", nil)
		return err == nil && r.Status == 200
	}) {
		t.Fatalf("/readyz not 200 within 10s of the restore")
	}
	after := settle(time.Now().Add(10*time.Second), func() answer { return buy(e, "after", "after-1", sku, 1) }, l.see)
	if after.Status != 201 {
		t.Fatalf("purchase after the restore: got %s, want 201", after)
	}
	l.settled(sale{Buyer: "after", Key: "after-1", Qty: 1, Final: after})

	l.report(t)
	fastMu.Lock()
	var slowest time.Duration
	slow := 0
	for _, d := range fast {
		slowest = max(slowest, d)
		if d > failFast {
			slow++
		}
	}
	t.Logf("%d purchases while the breaker was open, slowest %v", len(fast), slowest)
	if len(fast) < 10 {
		t.Errorf("only %d purchases were made while the breaker was open, want at least 10", len(fast))
	}
	if slow > 0 {
		t.Errorf("%d of %d purchases took over %v with the breaker open (slowest %v): want fail-fast", slow, len(fast), failFast, slowest)
	}
	fastMu.Unlock()
	if l.counts["503 unavailable"] == 0 {
		t.Errorf("no purchase answered 503 unavailable during the outage")
	}

	// Keys whose outcome the buyers could not learn within the bound: the
	// order landed or not; the database says which.
	sales := l.snapshot()
	unsettled := map[[2]string]bool{}
	for _, s := range sales {
		if s.Final.retry() {
			unsettled[[2]string{s.Buyer, s.Key}] = true
		}
	}
	landed := checkSalesMatchOrders(t, db, sku, sales, unsettled)
	if len(unsettled) > 0 {
		t.Logf("%d keys still pending 10s after the restore (outcome unknown at commit); %d of them have an order", len(unsettled), landed)
	}

	// Every failed batch gave its units back: unless an outcome stayed
	// unknown, Redis agrees with the database even before reconcile.
	before := readDB(t, db, sku)
	if rem, ok := e.RedisRemaining(sku); len(unsettled) == 0 && (!ok || rem != before.Stock-before.Sold) {
		t.Errorf("redis remaining after the outage, before reconcile: got %d (loaded %v), want the database's %d: units were lost",
			rem, ok, before.Stock-before.Sold)
	}
	// Reconcile, then Redis agrees with the database and nothing is lost.
	repairAndCompare(t, e, sku)
	s := readDB(t, db, sku)
	if s.Sold != s.Orders {
		t.Errorf("products.sold %d, order rows sum %d: want equal", s.Sold, s.Orders)
	}
	if got := l.sold() + int64(landed); got != s.Orders {
		t.Errorf("units in 201 answers (+%d pending keys that landed): got %d, want the order rows' %d", landed, got, s.Orders)
	}

	// The rest sells out, exactly.
	left := s.Stock - s.Sold
	var rest ledger
	got := sellOut(t, e, &rest, sku, "late", workers, 10000, time.Now().Add(15*time.Second))
	rest.report(t)
	if got != left {
		t.Errorf("sell-out after recovery: 201 answers sold %d, want the %d remaining", got, left)
	}
	s = readDB(t, db, sku)
	if s.Sold != units || s.Orders != units {
		t.Errorf("after sell-out: products.sold %d, order rows %d; want %d and %d", s.Sold, s.Orders, units, units)
	}
	if rem, ok := e.RedisRemaining(sku); !ok || rem != 0 {
		t.Errorf("redis remaining after sell-out: got %d (loaded %v), want 0", rem, ok)
	}
}

// TestRedisFlushMidRun deletes the origin's Redis keys, counters and
// idempotency records alike, several times while buyers are buying.
func TestRedisFlushMidRun(t *testing.T) {
	const (
		sku     = "FLUSH1"
		units   = 300
		limit   = 3
		early   = 20
		buyers  = 80 // at most 240 units with the early 20: the run leaves stock
		flushes = 3
	)
	e := origintest.Start(t, origintest.Options{})
	e.SetUpLive("FLUSH", "", origintest.Product{SKU: sku, Stock: units, PerBuyerLimit: limit, LowStockThreshold: 10})
	var l ledger
	deadline := time.Now().Add(15 * time.Second)

	// Orders committed before any flush.
	for b := 0; b < early; b++ {
		buyer, key := fmt.Sprintf("early-%d", b), fmt.Sprintf("early-key-%d", b)
		a := settle(deadline, func() answer { return buy(e, buyer, key, sku, 1) }, l.see)
		if a.Status != 201 {
			t.Fatalf("purchase before the flush: got %s, want 201", a)
		}
		l.settled(sale{Buyer: buyer, Key: key, Qty: 1, Final: a})
	}
	earlySales := l.snapshot()

	start := make(chan struct{})
	var wg sync.WaitGroup
	for b := 0; b < buyers; b++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			buyer := fmt.Sprintf("buyer-%d", b)
			for i := 0; i < 3; i++ {
				time.Sleep(time.Duration((b*7+i*13)%40) * time.Millisecond)
				key := fmt.Sprintf("key-%d-%d", b, i)
				qty := 1 + (b+i)%2
				a := settle(deadline, func() answer { return buy(e, buyer, key, sku, qty) }, l.see)
				l.settled(sale{Buyer: buyer, Key: key, Qty: qty, Final: a})
			}
		}()
	}
	close(start)
	for i := 0; i < flushes; i++ {
		time.Sleep(40 * time.Millisecond)
		if err := origintest.DeleteKeys(context.Background(), e.Redis, e.Prefix); err != nil {
			t.Fatalf("flush: %v", err)
		}
	}
	wg.Wait()
	l.report(t)

	db := e.DB
	s := readDB(t, db, sku)
	t.Logf("after the flushes: sold %d of %d", s.Sold, s.Stock)
	if s.Sold > s.Stock {
		t.Errorf("oversold: products.sold %d > stock %d", s.Sold, s.Stock)
	}
	if s.Orders != s.Sold {
		t.Errorf("order rows sum %d, products.sold %d: want equal", s.Orders, s.Sold)
	}
	if m := e.MaxHeldPerBuyer(sku); m > limit {
		t.Errorf("a buyer holds %d units, limit is %d", m, limit)
	}
	checkSalesMatchOrders(t, db, sku, l.snapshot(), nil)

	// Counters are rebuilt on the next read.
	if r := e.MustDo("GET", "/v1/products/"+sku+"/stock", nil); r.Status != 200 {
		t.Errorf("stock read after the flushes: got %d %s, want 200", r.Status, r.Body)
	}
	if _, ok := e.RedisRemaining(sku); !ok {
		t.Errorf("sku not loaded in Redis after a read")
	}

	// A key committed before the flushes replays its order: the database's
	// unique key settles it.
	for _, s := range earlySales {
		a := settle(deadline, func() answer { return buy(e, s.Buyer, s.Key, sku, 1) }, nil)
		if a.Status != 201 || a.Receipt.OrderID != s.Final.Receipt.OrderID || !a.Replayed {
			t.Errorf("replay of %s (committed before the flushes, order %s): got %s order %q replayed=%v; want 201, the same order, Idempotent-Replayed",
				s.Key, s.Final.Receipt.OrderID, a, a.Receipt.OrderID, a.Replayed)
		}
	}
	// So does every key answered 201 during the run, whenever it met a
	// flush. Failures are grouped by answer; TestReplayAfterRedisFlush and
	// TestRedisFlushBetweenAdmissionAndCommit pin the causes down.
	failed := map[string][]string{}
	replayed := 0
	for _, s := range l.snapshot()[early:] {
		if s.Final.Status != 201 {
			continue
		}
		replayed++
		a := settle(deadline, func() answer { return buy(e, s.Buyer, s.Key, sku, s.Qty) }, nil)
		if a.Status != 201 || a.Receipt.OrderID != s.Final.Receipt.OrderID {
			failed[a.String()] = append(failed[a.String()], s.Buyer+"/"+s.Key)
		}
	}
	for got, keys := range failed {
		t.Errorf("replays of keys answered 201 during the flushes: %d of %d got %s, want 201 with the same order (e.g. %v)",
			len(keys), replayed, got, keys[:min(3, len(keys))])
	}

	// The rest sells out, exactly.
	var rest ledger
	late := sellOut(t, e, &rest, sku, "late", 16, limit, deadline)
	rest.report(t)
	s = readDB(t, db, sku)
	if s.Sold != units || s.Orders != units {
		t.Errorf("after sell-out: products.sold %d, order rows %d; want %d and %d", s.Sold, s.Orders, units, units)
	}
	if got := l.sold() + late; got != units {
		t.Errorf("units in 201 answers: got %d, want %d", got, units)
	}
	if m := e.MaxHeldPerBuyer(sku); m > limit {
		t.Errorf("a buyer holds %d units, limit is %d", m, limit)
	}
	// Purchases in flight during a flush commit after the rebuild read the
	// database: Redis may lag behind it until reconcile.
	rem, _ := e.RedisRemaining(sku)
	t.Logf("redis remaining after sell-out, before reconcile: %d", rem)
	repairAndCompare(t, e, sku)
}

// repairAndCompare runs reconcile with repair and checks that Redis then
// agrees with the database.
func repairAndCompare(t *testing.T, e *origintest.Env, sku string) reconcile.Report {
	t.Helper()
	rep := runReconcile(t, e)
	for _, f := range rep.Findings {
		t.Logf("reconcile: %s", f)
	}
	counter, _ := e.SoldInDB(sku)
	var total int64
	if err := e.DB.QueryRow("SELECT stock FROM products WHERE sku = ?", sku).Scan(&total); err != nil {
		t.Fatalf("stock of %s: %v", sku, err)
	}
	if rem, ok := e.RedisRemaining(sku); !ok || rem != total-counter {
		t.Errorf("redis remaining after reconcile: got %d (loaded %v), want the database's %d", rem, ok, total-counter)
	}
	return rep
}

// runReconcile runs a repairing reconcile of every sku of e, with a short
// pause between the looks (the tests make no purchase meanwhile).
func runReconcile(t *testing.T, e *origintest.Env) reconcile.Report {
	t.Helper()
	d := e.Server.Deps()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rep, err := reconcile.Run(ctx, d.DB, d.Stock, d.Publisher, true, 100*time.Millisecond)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return rep
}

// TestReplayAfterRedisFlush replays keys whose orders were committed
// before Redis lost its idempotency records. The contract promises the
// first answer again whatever happened since: sold out, the buyer at the
// limit, or a replay already answered once.
func TestReplayAfterRedisFlush(t *testing.T) {
	const sku = "REPLAY1"
	e := origintest.Start(t, origintest.Options{})
	// 15 units, 5 per buyer: b1 buys 1, b2 buys 5 (its limit), b3 buys 4
	// and b4 the last 5.
	e.SetUpLive("REPLAY", "", origintest.Product{SKU: sku, Stock: 15, PerBuyerLimit: 5, LowStockThreshold: 1})
	flush := func() {
		t.Helper()
		if err := origintest.DeleteKeys(context.Background(), e.Redis, e.Prefix); err != nil {
			t.Fatalf("flush: %v", err)
		}
	}
	first := func(buyer, key string, qty int) answer {
		t.Helper()
		a := buy(e, buyer, key, sku, qty)
		if a.Status != 201 {
			t.Fatalf("%s buys %d: got %s, want 201", buyer, qty, a)
		}
		return a
	}
	replay := func(t *testing.T, buyer, key string, qty int, want answer) {
		t.Helper()
		a := buy(e, buyer, key, sku, qty)
		if a.Status != 201 || a.Receipt.OrderID != want.Receipt.OrderID || !a.Replayed {
			// What Redis holds for the key tells why.
			rec := e.Redis.HGetAll(context.Background(), fmt.Sprintf("%sidem:%d:%s:%s", e.Prefix, len(buyer), buyer, key)).Val()
			delete(rec, "resp")
			t.Errorf("replay of %s/%s: got %s order %q replayed=%v; want 201 with order %s, Idempotent-Replayed: true (idempotency record in Redis without resp: %v)",
				buyer, key, a, a.Receipt.OrderID, a.Replayed, want.Receipt.OrderID, rec)
		}
	}

	o1 := first("b1", "k1", 1)
	flush()
	t.Run("stock remains", func(t *testing.T) { replay(t, "b1", "k1", 1, o1) })
	t.Run("second replay", func(t *testing.T) { replay(t, "b1", "k1", 1, o1) })

	o2 := first("b2", "k2", 5)
	flush()
	t.Run("buyer at limit", func(t *testing.T) { replay(t, "b2", "k2", 5, o2) })

	o3 := first("b3", "k3", 4)
	first("b4", "k4", 5)
	flush()
	t.Run("sold out", func(t *testing.T) { replay(t, "b3", "k3", 4, o3) })

	if counter, orders := e.SoldInDB(sku); counter != 15 || orders != 15 {
		t.Errorf("database: sold %d, order rows %d; want 15 and 15", counter, orders)
	}
	if rem, ok := e.RedisRemaining(sku); ok && rem != 0 {
		t.Errorf("redis remaining: got %d, want 0: a replay left a reservation behind", rem)
	}

	// A flush during traffic rebuilds the counters from a database read
	// that can miss orders still being committed (TestRedisFlushMidRun
	// sees it): Redis then holds fewer units for the buyer and fewer sold
	// than the database. A replay of such an order is admitted by Redis
	// and reaches the database, which must answer with the order, not
	// refuse it against bounds that the order itself fills.
	missed := func(t *testing.T, sku, buyer string, qty int) {
		t.Helper()
		flush()
		if r := e.MustDo("GET", "/v1/products/"+sku+"/stock", nil); r.Status != 200 {
			t.Fatalf("read to rebuild %s: %d %s", sku, r.Status, r.Body)
		}
		ctx := context.Background()
		if err := e.Redis.HIncrBy(ctx, e.Keys.SKU(sku), "sold", int64(-qty)).Err(); err != nil {
			t.Fatal(err)
		}
		if err := e.Redis.HDel(ctx, e.Keys.Held(sku), buyer).Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("counters missed the order, buyer at limit", func(t *testing.T) {
		const sku = "REPLAY2"
		e.SetUpLive("REPLAY", "", origintest.Product{SKU: sku, Stock: 10, PerBuyerLimit: 3, LowStockThreshold: 1})
		a := buy(e, "c1", "kc1", sku, 3)
		if a.Status != 201 {
			t.Fatalf("c1 buys 3: got %s, want 201", a)
		}
		missed(t, sku, "c1", 3)
		r := buy(e, "c1", "kc1", sku, 3)
		if r.Status != 201 || r.Receipt.OrderID != a.Receipt.OrderID {
			t.Errorf("replay of c1/kc1: got %s order %q; want 201 with order %s (the database refused it against the per-buyer limit the order itself fills)",
				r, r.Receipt.OrderID, a.Receipt.OrderID)
		}
		if counter, orders := e.SoldInDB(sku); counter != 3 || orders != 3 {
			t.Errorf("database: sold %d, order rows %d; want 3 and 3", counter, orders)
		}
	})
	t.Run("counters missed the order, sold out", func(t *testing.T) {
		const sku = "REPLAY3"
		e.SetUpLive("REPLAY", "", origintest.Product{SKU: sku, Stock: 6, PerBuyerLimit: 3, LowStockThreshold: 1})
		a := buy(e, "d1", "kd1", sku, 3)
		if a.Status != 201 {
			t.Fatalf("d1 buys 3: got %s, want 201", a)
		}
		if b := buy(e, "d2", "kd2", sku, 3); b.Status != 201 {
			t.Fatalf("d2 buys the last 3: got %s, want 201", b)
		}
		missed(t, sku, "d1", 3)
		r := buy(e, "d1", "kd1", sku, 3)
		if r.Status != 201 || r.Receipt.OrderID != a.Receipt.OrderID {
			t.Errorf("replay of d1/kd1: got %s order %q; want 201 with order %s (the database refused it as sold out, a state the order itself helped reach)",
				r, r.Receipt.OrderID, a.Receipt.OrderID)
		}
		if counter, orders := e.SoldInDB(sku); counter != 6 || orders != 6 {
			t.Errorf("database: sold %d, order rows %d; want 6 and 6", counter, orders)
		}
	})
}

// TestRedisFlushBetweenAdmissionAndCommit makes the flush land exactly
// while an admitted purchase waits for the database: the purchase commits
// after its idempotency record is gone, and replays of the key must still
// answer with its order.
func TestRedisFlushBetweenAdmissionAndCommit(t *testing.T) {
	const sku = "FLUSH2"
	e, proxy, dsn := proxiedOrigin(t, func(c *app.Config) { c.PurchaseTimeout = 10 * time.Second })
	db := openDB(t, dsn)
	e.SetUpLive("FLUSH2", "", origintest.Product{SKU: sku, Stock: 10, PerBuyerLimit: 5, LowStockThreshold: 1})
	if a := buy(e, "warm", "warm-1", sku, 1); a.Status != 201 {
		t.Fatalf("first purchase: got %s, want 201", a)
	}

	proxy.Blackhole()
	done := make(chan answer, 1)
	go func() { done <- buy(e, "b1", "held-key", sku, 2) }()
	if !waitFor(3*time.Second, func() bool { rem, _ := e.RedisRemaining(sku); return rem == 7 }) {
		proxy.Restore()
		t.Fatalf("the purchase was not admitted in Redis")
	}
	if err := origintest.DeleteKeys(context.Background(), e.Redis, e.Prefix); err != nil {
		t.Fatalf("flush: %v", err)
	}
	proxy.Restore()
	first := <-done
	if first.Status != 201 {
		t.Fatalf("purchase across the flush: got %s, want 201", first)
	}
	for i := 1; i <= 2; i++ {
		a := buy(e, "b1", "held-key", sku, 2)
		if a.Status != 201 || a.Receipt.OrderID != first.Receipt.OrderID {
			t.Errorf("replay %d of a key committed across a flush: got %s order %q; want 201 with order %s (same key, same body)",
				i, a, a.Receipt.OrderID, first.Receipt.OrderID)
		}
	}
	if s := readDB(t, db, sku); s.Sold != 3 || s.Orders != 3 {
		t.Errorf("database: sold %d, order rows %d; want 3 and 3", s.Sold, s.Orders)
	}
}

// TestShutdownFinishesInFlightPurchases shuts the origin down while buyers
// are buying.
func TestShutdownFinishesInFlightPurchases(t *testing.T) {
	const (
		sku     = "SHUT1"
		units   = 100000
		workers = 16
	)
	// The subject is the order of shutdown, not the purchase timeout: on
	// a loaded machine (the whole suite runs packages in parallel) a
	// purchase may wait past the 2 s default and answer "outcome pending".
	e := origintest.Start(t, origintest.Options{Tweak: func(c *app.Config) { c.PurchaseTimeout = 10 * time.Second }})
	e.SetUpLive("SHUT", "", origintest.Product{SKU: sku, Stock: units, PerBuyerLimit: 10000, LowStockThreshold: 10})
	db := openDB(t, e.Config.MySQLDSN)
	rdb := redis.NewClient(&redis.Options{Addr: origintest.RedisAddr()})
	t.Cleanup(func() { rdb.Close() })

	var stopping atomic.Bool // Shutdown has been called
	var shutDown atomic.Bool // Shutdown has returned
	type attempt struct {
		buyer, key string
		a          answer
		inFlight   bool // sent before Shutdown was called, answered after
		afterStop  bool // sent after Shutdown returned
	}
	var mu sync.Mutex
	var attempts []attempt
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buyer := fmt.Sprintf("buyer-%d", w)
			failuresAfter := 0
			for n := 0; n < 2000 && failuresAfter < 5; n++ {
				key := fmt.Sprintf("k-%d-%d", w, n)
				before, after := !stopping.Load(), shutDown.Load()
				a := buy(e, buyer, key, sku, 1)
				mu.Lock()
				attempts = append(attempts, attempt{buyer, key, a, before && stopping.Load(), after})
				mu.Unlock()
				if after {
					failuresAfter++
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	began := time.Now()
	stopping.Store(true)
	if err := e.Server.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	shutDown.Store(true)
	t.Logf("shutdown took %v", time.Since(began).Round(time.Millisecond))
	wg.Wait()

	orders := ordersOf(t, db, sku)
	counts := map[string]int{}
	var confirmed int64
	lost, inFlight := 0, map[string]int{}
	for _, at := range attempts {
		a := at.a
		if at.inFlight {
			inFlight[a.String()]++
		}
		key := a.String()
		if a.Err != nil {
			key = "transport error"
		}
		counts[key]++
		k := [2]string{at.buyer, at.key}
		switch {
		case at.afterStop && a.Err == nil && a.Status != 503:
			t.Errorf("purchase sent after shutdown: got %s, want a transport error or 503", a)
		case a.Status == 201 && a.Err == nil:
			confirmed += int64(a.Receipt.Quantity)
			if o, ok := orders[k]; !ok || o.ID != a.Receipt.OrderID {
				t.Errorf("%s/%s answered 201 (order %s) but the database holds %+v", at.buyer, at.key, a.Receipt.OrderID, o)
			}
		case a.Err == nil && a.Status != 503:
			t.Errorf("purchase during shutdown: got %s, want 201 or 503", a)
		default:
			if v := contractViolation(a); v != "" && a.Err == nil {
				t.Errorf("purchase during shutdown: %s", v)
			}
			if o, ok := orders[k]; ok {
				if lost++; lost <= 5 {
					t.Errorf("%s/%s: order %s is in the database but its buyer got %s: a graceful shutdown must answer in-flight purchases", at.buyer, at.key, o.ID, a)
				}
			}
		}
	}
	t.Logf("answers: %v; purchases in flight when Shutdown was called: %v", counts, inFlight)
	if inFlight["201"] == 0 {
		t.Errorf("no purchase in flight when Shutdown was called was answered 201: want in-flight purchases finished")
	}
	if counts["201"] == 0 {
		t.Errorf("no purchase succeeded before the shutdown")
	}
	s := readDB(t, db, sku)
	if s.Sold != s.Orders {
		t.Errorf("products.sold %d, order rows %d: want equal (nothing half-written)", s.Sold, s.Orders)
	}
	if confirmed != s.Orders {
		t.Errorf("units in 201 answers %d, order rows %d: want equal", confirmed, s.Orders)
	}
	v, err := rdb.HMGet(context.Background(), e.Keys.SKU(sku), "total", "sold").Result()
	if err != nil || v[0] == nil {
		t.Fatalf("redis counters after shutdown: %v %v", v, err)
	}
	total, _ := strconv.ParseInt(v[0].(string), 10, 64)
	rsold, _ := strconv.ParseInt(v[1].(string), 10, 64)
	if total-rsold != s.Stock-s.Sold {
		t.Errorf("redis remaining after shutdown %d, database %d: a reservation was stranded", total-rsold, s.Stock-s.Sold)
	}
}

// TestNATSOutageNeverFailsAPurchase starts the origin with nothing
// listening at its NATS address.
func TestNATSOutageNeverFailsAPurchase(t *testing.T) {
	const sku = "NATS1"
	e := origintest.Start(t, origintest.Options{Tweak: func(c *app.Config) { c.NATSURL = "nats://127.0.0.1:1" }})
	e.SetUpLive("NONATS", "", origintest.Product{SKU: sku, Stock: 100, PerBuyerLimit: 10, LowStockThreshold: 5})
	var l ledger
	var wg sync.WaitGroup
	for b := 0; b < 20; b++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buyer := fmt.Sprintf("buyer-%d", b)
			for i := 0; i < 2; i++ {
				key := fmt.Sprintf("k-%d-%d", b, i)
				a := buy(e, buyer, key, sku, 1)
				l.see(a)
				l.settled(sale{Buyer: buyer, Key: key, Qty: 1, Final: a})
				if a.Status != 201 {
					t.Errorf("purchase with NATS down: got %s, want 201", a)
				}
			}
		}()
	}
	wg.Wait()
	l.report(t)
	counter, orders := e.SoldInDB(sku)
	if counter != 40 || orders != 40 {
		t.Errorf("database: sold %d, order rows %d; want 40 and 40", counter, orders)
	}
	if rem, ok := e.RedisRemaining(sku); !ok || rem != 60 {
		t.Errorf("redis remaining: got %d (loaded %v), want 60", rem, ok)
	}
}

// TestStockEventsFollowPurchases listens on NATS to the sku's subject while
// buyers buy.
func TestStockEventsFollowPurchases(t *testing.T) {
	suffix := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	live, sku := "EVL"+suffix, "EVS"+suffix // the NATS server is shared
	e := origintest.Start(t, origintest.Options{})
	e.SetUpLive(live, "", origintest.Product{SKU: sku, Stock: 500, PerBuyerLimit: 100, LowStockThreshold: 10})

	nc, err := nats.Connect(origintest.NATSURL())
	if err != nil {
		t.Fatalf("nats: %v", err)
	}
	t.Cleanup(nc.Close)
	msgs := make(chan *nats.Msg, 10000)
	sub, err := nc.ChanSubscribe(stock.Subject(live, sku), msgs)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatalf("nats flush: %v", err)
	}

	var mu sync.Mutex
	versions := map[int64]int64{} // version -> remaining, from 201 answers
	var wg sync.WaitGroup
	for b := 0; b < 12; b++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buyer := fmt.Sprintf("buyer-%d", b)
			for i := 0; i < 10; i++ {
				a := buy(e, buyer, fmt.Sprintf("k-%d-%d", b, i), sku, 1+i%2)
				if a.Status != 201 || a.Err != nil {
					t.Errorf("purchase: got %s, want 201", a)
					continue
				}
				mu.Lock()
				versions[a.Receipt.Version] = a.Receipt.Remaining
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var last int64
	first := int64(math.MaxInt64)
	for v := range versions {
		last = max(last, v)
		first = min(first, v)
	}

	var events []stock.Event
	timeout := time.After(5 * time.Second)
collect:
	for {
		select {
		case m := <-msgs:
			ev, err := stock.DecodeEvent(m.Data)
			if err != nil {
				t.Errorf("event %q: %v", m.Data, err)
				continue
			}
			if ev.Version < first {
				// The product's creation (version 1), published by the
				// upsert before any purchase: on a busy machine it can
				// reach this subscriber after SetUpLive returned.
				continue
			}
			events = append(events, ev)
			if ev.Version >= last {
				// Anything newer would have to come right behind.
				timeout = time.After(300 * time.Millisecond)
			}
		case <-timeout:
			break collect
		}
	}
	t.Logf("%d purchases, %d events", len(versions), len(events))
	if len(events) == 0 {
		t.Fatalf("no stock event arrived")
	}
	for i, ev := range events {
		if ev.SKU != sku || ev.LiveID != live {
			t.Errorf("event %d is for %s/%s, want %s/%s", i, ev.LiveID, ev.SKU, live, sku)
		}
		if i > 0 && ev.Version <= events[i-1].Version {
			t.Errorf("event %d has version %d after %d: want increasing", i, ev.Version, events[i-1].Version)
		}
		rem, ok := versions[ev.Version]
		switch {
		case !ok:
			t.Errorf("event version %d was not the version of any 201 answer", ev.Version)
		case rem != ev.Remaining:
			t.Errorf("event version %d says remaining %d, the 201 with that version said %d", ev.Version, ev.Remaining, rem)
		}
	}
	end := events[len(events)-1]
	if end.Version != last {
		t.Errorf("last event version: got %d, want the last 201's %d", end.Version, last)
	}
	if rem, ok := e.RedisRemaining(sku); !ok || rem != end.Remaining {
		t.Errorf("last event remaining %d, redis remaining %d (loaded %v): want equal", end.Remaining, rem, ok)
	}
}

// TestCommitOutcomeUnknown breaks the connection exactly during a batch's
// COMMIT and keeps MySQL away until the committer gives up asking whether
// it landed. The buyer was told "outcome not known yet; retry with the same
// Idempotency-Key"; once MySQL is back, such a retry must settle: the order
// if it landed, a purchase or a clean refusal if it did not, and no unit
// may stay reserved in Redis for an order that does not exist.
func TestCommitOutcomeUnknown(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode commitFault
	}{
		{"landed", lateCommit},
		{"lost", dropCommit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const sku = "UNKNOWN1"
			e, tap, db := tappedOrigin(t, nil)
			e.SetUpLive("UNKNOWN", "", origintest.Product{SKU: sku, Stock: 10, PerBuyerLimit: 5, LowStockThreshold: 1})
			if a := buy(e, "warm", "warm-1", sku, 1); a.Status != 201 {
				t.Fatalf("first purchase: got %s, want 201", a)
			}

			sprung := tap.armThenDown(tc.mode)
			first := buy(e, "b1", "k1", sku, 2)
			select {
			case <-sprung:
			case <-time.After(5 * time.Second):
				t.Fatalf("no COMMIT went through the trap (purchase answered %s)", first)
			}
			sprungAt := time.Now()
			if first.Status != 503 || first.RetryAfter == "" {
				t.Errorf("purchase whose COMMIT broke: got %s (Retry-After %q), want 503 unavailable with Retry-After", first, first.RetryAfter)
			}
			// The committer asks for about 3 s whether the batch landed;
			// MySQL stays away longer, so it has to give up.
			time.Sleep(4*time.Second - time.Since(sprungAt))
			tap.restore()
			if !waitFor(5*time.Second, func() bool {
				r, err := e.Do("GET", "/readyz", nil)
				return err == nil && r.Status == 200
			}) {
				t.Fatalf("/readyz not 200 after MySQL came back")
			}

			var o orderRow
			landed := db.QueryRow("SELECT id, quantity FROM orders WHERE buyer_id = 'b1' AND idempotency_key = 'k1'").Scan(&o.ID, &o.Qty) == nil
			if landed != (tc.mode == lateCommit) {
				t.Fatalf("order in the database: %v, want %v (the tap did not work as meant)", landed, tc.mode == lateCommit)
			}
			// The buyer retries the same key, as told, for 10 s.
			began := time.Now()
			var seen []string
			a := settle(time.Now().Add(10*time.Second), func() answer { return buy(e, "b1", "k1", sku, 2) }, func(a answer) {
				if len(seen) == 0 || seen[len(seen)-1] != a.String() {
					seen = append(seen, a.String())
				}
			})
			t.Logf("retries with the same key over %v answered, in turn: %v", time.Since(began).Round(time.Millisecond), seen)
			switch {
			case landed && (a.Status != 201 || a.Receipt.OrderID != o.ID):
				t.Errorf("retry of a key whose order %s landed: still %s after 10s of retries with MySQL back; want 201 with that order (the key stays pending in Redis until its 2 min TTL)", o.ID, a)
			case !landed && a.retry():
				t.Errorf("retry of a key whose order did not land: still %s after 10s of retries with MySQL back; want a settled answer (the key stays pending in Redis until its 2 min TTL)", a)
			}
			s := readDB(t, db, sku)
			if rem, ok := e.RedisRemaining(sku); !ok || rem != s.Stock-s.Sold {
				t.Errorf("redis remaining %d (loaded %v), database %d: the uncertain reservation is still held in Redis (undersell until `origin reconcile`)", rem, ok, s.Stock-s.Sold)
			}
		})
	}
}
