package mysqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"livecommerce/internal/stock"
	"livecommerce/origin/shop"
)

// ErrOutcomeUnknown means the connection failed during COMMIT and the
// database could not be asked afterwards whether the batch landed. The
// reservations must then be neither confirmed nor released: the
// idempotency keys settle them later.
var ErrOutcomeUnknown = errors.New("mysqlstore: commit outcome unknown")

const orderColumns = "id, buyer_id, idempotency_key, sku, live_id, quantity, unit_price, currency, status, created_at"

// CommitOrders makes a batch of admitted purchases durable in one
// transaction of two round trips (see commitOnce). The database enforces the
// bounds itself: the product rows are locked, each order is admitted against
// stock - sold and the buyer's holdings, and the products' CHECK refuses a
// sold count past the stock, so even a Redis that lost writes cannot cause
// an oversell. One UPDATE per sku per batch keeps a hot sku far below the
// row-change rate Galera can certify.
//
// The returned results are in the order of reqs. An error means nothing was
// committed, except ErrOutcomeUnknown, which comes with the results the
// batch would have if it landed; BatchLanded tells later whether it did.
func (s *Store) CommitOrders(ctx context.Context, reqs []shop.OrderRequest, now time.Time) ([]shop.Result, error) {
	var results []shop.Result
	err := s.orders.Do(func() error {
		checkDuplicates := false
		return withRetry(ctx, 6, func() error {
			r, err := s.commitOnce(ctx, reqs, now, checkDuplicates)
			if mysqlErrNo(err) == errDupEntry && !checkDuplicates {
				// Rare: Redis lost an idempotency key. Look the
				// existing orders up and leave them out.
				checkDuplicates = true
				r, err = s.commitOnce(ctx, reqs, now, true)
			}
			results = r
			return err
		})
	})
	if err != nil && !errors.Is(err, ErrOutcomeUnknown) {
		return nil, err
	}
	return results, err
}

// commitOnce is one attempt at a batch, in two round trips to the
// database however many orders and skus it holds: the first starts the
// transaction, locks the product rows and reads everything the decisions
// need (sale windows, the buyers' holdings, and on a retry the orders that
// already exist); the second writes and commits. The writes rely on the
// products table's CHECK (sold within stock) rather than a conditional
// UPDATE: a statement that fails stops the rest of the round trip before
// its COMMIT, so an overrun can never be committed.
func (s *Store) commitOnce(ctx context.Context, reqs []shop.OrderRequest, now time.Time, checkDuplicates bool) ([]shop.Result, error) {
	conn, err := s.batch.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: order batch: %w", err)
	}
	defer conn.Close()
	// Until a COMMIT has answered, a transaction may be open on conn: it
	// is ended before the connection goes back to the pool.
	committed := false
	defer func() {
		if !committed {
			endTransaction(conn)
		}
	}()

	skus, buyers := distinct(reqs)
	st, err := readBatch(ctx, conn, reqs, skus, buyers, checkDuplicates)
	if err != nil {
		return nil, err
	}
	results, w := decide(reqs, st, now)
	if len(w.insert) == 0 {
		return results, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mysqlstore: write order batch: %w", err)
	}
	query, args := w.statements(skus, now)
	_, err = conn.ExecContext(ctx, query, args...)
	switch {
	case err == nil:
		committed = true
		return results, nil
	case refusedBeforeCommit(err), errors.Is(err, driver.ErrBadConn):
		// A statement before COMMIT was refused, which stops the packet
		// there, or COMMIT failed certification; or the driver wrote
		// nothing (it says ErrBadConn only then). Nothing was committed.
		return nil, fmt.Errorf("mysqlstore: write order batch: %w", err)
	}
	// The connection failed with the COMMIT possibly sent, or the server
	// answered with an error that does not say which statement it ended
	// (a killed connection, a shutdown, a Galera node leaving the primary
	// component): the batch may or may not have landed. BatchLanded
	// settles it.
	return results, fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
}

// refusedBeforeCommit recognises the server errors of a batch's write
// packet that leave nothing committed: a statement refused (a duplicate
// key, a lock wait, the CHECK on sold) or a deadlock or certification
// conflict, which rolls the whole transaction back.
func refusedBeforeCommit(err error) bool {
	switch mysqlErrNo(err) {
	case errDupEntry, errLockWaitTimeout, errDeadlock, errCheckMariaDB, errCheckMySQL:
		return true
	}
	return false
}

// endTransaction rolls back whatever a batch left open on conn, or makes
// the pool discard the connection when it cannot.
func endTransaction(conn *sql.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}

// batchState is what a batch reads under its product locks.
type batchState struct {
	products map[string]productRow
	windows  map[string]saleWindow
	held     map[string]int64 // units per sku+"\x00"+buyer
	existing map[[2]string]shop.Order
}

// readBatch starts the batch's transaction and reads its state in one
// round trip. The product rows are locked first; the reads after them are
// plain reads of a snapshot taken once the locks are held, so no other
// batch for these skus can add orders unseen. The lives are not locked:
// that would serialize every batch of a live.
func readBatch(ctx context.Context, conn *sql.Conn, reqs []shop.OrderRequest, skus, buyers []string, checkDuplicates bool) (batchState, error) {
	var q strings.Builder
	args := make([]any, 0, 3*len(skus)+len(buyers)+2*len(reqs))
	skuList := placeholders(len(skus))
	addSKUs := func() {
		for _, sku := range skus {
			args = append(args, sku)
		}
	}
	q.WriteString("START TRANSACTION; SELECT sku, live_id, price, currency, stock, sold, per_buyer_limit FROM products WHERE sku IN (" + skuList + ") ORDER BY sku FOR UPDATE")
	addSKUs()
	q.WriteString("; SELECT id, sale_starts_at, sale_ends_at FROM lives WHERE id IN (SELECT live_id FROM products WHERE sku IN (" + skuList + "))")
	addSKUs()
	q.WriteString("; SELECT sku, buyer_id, SUM(quantity) FROM orders WHERE sku IN (" + skuList + ") AND buyer_id IN (" + placeholders(len(buyers)) + ") GROUP BY sku, buyer_id")
	addSKUs()
	for _, b := range buyers {
		args = append(args, b)
	}
	if checkDuplicates {
		q.WriteString("; SELECT " + orderColumns + " FROM orders WHERE (buyer_id, idempotency_key) IN (" +
			strings.TrimSuffix(strings.Repeat("(?, ?), ", len(reqs)), ", ") + ")")
		for _, r := range reqs {
			args = append(args, r.BuyerID, r.IdempotencyKey)
		}
	}

	st := batchState{
		products: make(map[string]productRow, len(skus)),
		windows:  map[string]saleWindow{},
		held:     map[string]int64{},
		existing: map[[2]string]shop.Order{},
	}
	rows, err := conn.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return st, fmt.Errorf("mysqlstore: lock products: %w", err)
	}
	defer rows.Close()
	sets := []struct {
		what string
		scan func() error
	}{
		{"lock products", func() error {
			var sku string
			var p productRow
			err := rows.Scan(&sku, &p.live, &p.price, &p.currency, &p.stock, &p.sold, &p.limit)
			st.products[sku] = p
			return err
		}},
		{"read sale windows", func() error {
			var id string
			var w saleWindow
			err := rows.Scan(&id, &w.start, &w.end)
			st.windows[id] = w
			return err
		}},
		{"read holdings", func() error {
			var sku, buyer string
			var n int64
			err := rows.Scan(&sku, &buyer, &n)
			st.held[sku+"\x00"+buyer] = n
			return err
		}},
		{"find duplicate orders", func() error {
			o, err := scanOrder(rows)
			st.existing[[2]string{o.BuyerID, o.IdempotencyKey}] = o
			return err
		}},
	}
	if !checkDuplicates {
		sets = sets[:3]
	}
	for i, set := range sets {
		if i > 0 && !rows.NextResultSet() {
			if err := rows.Err(); err != nil {
				return st, fmt.Errorf("mysqlstore: %s: %w", set.what, err)
			}
			return st, fmt.Errorf("mysqlstore: %s: no result", set.what)
		}
		for rows.Next() {
			if err := set.scan(); err != nil {
				return st, fmt.Errorf("mysqlstore: %s: %w", set.what, err)
			}
		}
		if err := rows.Err(); err != nil {
			return st, fmt.Errorf("mysqlstore: %s: %w", set.what, err)
		}
	}
	return st, nil
}

// batchWrites is what a batch's decisions leave to write.
type batchWrites struct {
	added      map[string]int64 // units sold per sku
	maxVersion map[string]int64
	insert     []shop.Order
}

// decide admits or refuses each request of a batch against the state read
// under the locks, in order, counting what the earlier ones took.
func decide(reqs []shop.OrderRequest, st batchState, now time.Time) ([]shop.Result, batchWrites) {
	results := make([]shop.Result, len(reqs))
	w := batchWrites{added: map[string]int64{}, maxVersion: map[string]int64{}}
	held := st.held
	inBatch := map[[2]string]bool{}
	for i, r := range reqs {
		key := [2]string{r.BuyerID, r.IdempotencyKey}
		if o, ok := st.existing[key]; ok {
			results[i] = shop.Result{Verdict: shop.Duplicate, Order: o}
			continue
		}
		if inBatch[key] {
			results[i] = shop.Result{Verdict: shop.InProgress}
			continue
		}
		inBatch[key] = true
		p, ok := st.products[r.SKU]
		if !ok {
			results[i] = shop.Result{Verdict: shop.RejectedNotFound}
			continue
		}
		remaining := p.stock - p.sold - w.added[r.SKU]
		hk := r.SKU + "\x00" + r.BuyerID
		switch {
		case !st.windows[p.live].open(now):
			// Redis enforces the window too; this holds even when Redis
			// missed a change of it.
			results[i] = shop.Result{Verdict: shop.RejectedNotOpen}
			continue
		case remaining <= 0:
			results[i] = shop.Result{Verdict: shop.RejectedSoldOut}
			continue
		case int64(r.Quantity) > remaining:
			results[i] = shop.Result{Verdict: shop.RejectedInsufficient}
			continue
		case held[hk]+int64(r.Quantity) > p.limit:
			results[i] = shop.Result{Verdict: shop.RejectedLimit}
			continue
		}
		w.added[r.SKU] += int64(r.Quantity)
		held[hk] += int64(r.Quantity)
		w.maxVersion[r.SKU] = max(w.maxVersion[r.SKU], r.Version)
		o := shop.Order{
			ID: r.ID, BuyerID: r.BuyerID, IdempotencyKey: r.IdempotencyKey, SKU: r.SKU,
			LiveID: p.live, Quantity: r.Quantity, UnitPrice: p.price, Currency: p.currency,
			Status: "confirmed", CreatedAt: now,
		}
		results[i] = shop.Result{Verdict: shop.Committed, Order: o}
		w.insert = append(w.insert, o)
	}
	return results, w
}

// statements is the batch's second round trip: one UPDATE per sku sold,
// one INSERT of every order, and COMMIT. The products' CHECK refuses an
// UPDATE past the stock, which stops the round trip before COMMIT; the
// rows cannot be gone, since the batch holds their locks.
func (w batchWrites) statements(skus []string, now time.Time) (string, []any) {
	var q strings.Builder
	args := make([]any, 0, 4*len(skus)+10*len(w.insert))
	for _, sku := range skus {
		n := w.added[sku]
		if n == 0 {
			continue
		}
		q.WriteString("UPDATE products SET sold = sold + ?, version = GREATEST(version, ?), updated_at = ? WHERE sku = ?; ")
		args = append(args, n, w.maxVersion[sku], now, sku)
	}
	q.WriteString("INSERT INTO orders (" + orderColumns + ") VALUES ")
	q.WriteString(strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ", len(w.insert)), ", "))
	for _, o := range w.insert {
		args = append(args, o.ID, o.BuyerID, o.IdempotencyKey, o.SKU, o.LiveID, o.Quantity, o.UnitPrice, o.Currency, o.Status, o.CreatedAt)
	}
	q.WriteString("; COMMIT")
	return q.String(), args
}

// BatchLanded reports whether the batch with these results was committed.
// The batch is one transaction, so one of its committed orders answers for
// all of them. The probe first locks the batch's product rows: while the
// original transaction is still alive (its COMMIT slow or lost on the way)
// that waits for it to end, so "not landed" is never said too early; a
// lock wait that runs out is an error, to be asked again later. On Galera
// it also waits for this node to apply what the cluster already certified.
// It goes through no breaker, on purpose: it must be able to settle a
// batch while the purchase path's breaker is open.
func (s *Store) BatchLanded(ctx context.Context, results []shop.Result) (bool, error) {
	var probe string
	var skus []any
	seen := map[string]bool{}
	for _, r := range results {
		if r.Verdict != shop.Committed {
			continue
		}
		if probe == "" {
			probe = r.Order.ID
		}
		if !seen[r.Order.SKU] {
			seen[r.Order.SKU] = true
			skus = append(skus, r.Order.SKU)
		}
	}
	if probe == "" {
		return false, nil
	}
	conn, err := s.batch.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("mysqlstore: settle batch: %w", err)
	}
	defer conn.Close()
	const unknownVariable = 1193 // plain MySQL has no wsrep_sync_wait
	if _, err := conn.ExecContext(ctx, "SET SESSION wsrep_sync_wait = 1"); err != nil && mysqlErrNo(err) != unknownVariable {
		return false, fmt.Errorf("mysqlstore: settle batch: %w", err)
	}
	defer func() {
		// A session left with causal reads on would slow every later
		// batch on it: if the reset fails, the connection is discarded.
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "SET SESSION wsrep_sync_wait = DEFAULT"); err != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("mysqlstore: settle batch: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, "SELECT sku FROM products WHERE sku IN ("+placeholders(len(skus))+") ORDER BY sku FOR UPDATE", skus...)
	if err != nil {
		return false, fmt.Errorf("mysqlstore: settle batch: wait for the original transaction: %w", err)
	}
	rows.Close()
	var one int
	err = tx.QueryRowContext(ctx, "SELECT 1 FROM orders WHERE id = ?", probe).Scan(&one)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	}
	return false, fmt.Errorf("mysqlstore: look up order %s: %w", probe, err)
}

type saleWindow struct{ start, end sql.NullTime }

func (w saleWindow) open(now time.Time) bool {
	return (!w.start.Valid || !now.Before(w.start.Time)) && (!w.end.Valid || now.Before(w.end.Time))
}

type productRow struct {
	live, currency            string
	price, stock, sold, limit int64
}

type scanner interface{ Scan(dest ...any) error }

func scanOrder(sc scanner) (shop.Order, error) {
	var o shop.Order
	err := sc.Scan(&o.ID, &o.BuyerID, &o.IdempotencyKey, &o.SKU, &o.LiveID, &o.Quantity, &o.UnitPrice, &o.Currency, &o.Status, &o.CreatedAt)
	return o, err
}

func distinct(reqs []shop.OrderRequest) (skus, buyers []string) {
	seenSKU, seenBuyer := map[string]bool{}, map[string]bool{}
	for _, r := range reqs {
		if !seenSKU[r.SKU] {
			seenSKU[r.SKU] = true
			skus = append(skus, r.SKU)
		}
		if !seenBuyer[r.BuyerID] {
			seenBuyer[r.BuyerID] = true
			buyers = append(buyers, r.BuyerID)
		}
	}
	return skus, buyers
}

// Order returns one order; stock.ErrNotFound when there is none.
func (s *Store) Order(ctx context.Context, id string) (shop.Order, error) {
	var o shop.Order
	err := s.reads.Do(func() error {
		var err error
		o, err = scanOrder(s.db.QueryRowContext(ctx, "SELECT "+orderColumns+" FROM orders WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("mysqlstore: order %s: %w", id, err)
		}
		return nil
	})
	if err == nil && o.ID == "" {
		return shop.Order{}, stock.ErrNotFound
	}
	return o, err
}

// OrderByKey returns the buyer's order made under an idempotency key;
// stock.ErrNotFound when there is none.
func (s *Store) OrderByKey(ctx context.Context, buyerID, key string) (shop.Order, error) {
	var o shop.Order
	err := s.orders.Do(func() error {
		var err error
		o, err = scanOrder(s.db.QueryRowContext(ctx,
			"SELECT "+orderColumns+" FROM orders WHERE buyer_id = ? AND idempotency_key = ?", buyerID, key))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("mysqlstore: order by key: %w", err)
		}
		return nil
	})
	if err == nil && o.ID == "" {
		return shop.Order{}, stock.ErrNotFound
	}
	return o, err
}
