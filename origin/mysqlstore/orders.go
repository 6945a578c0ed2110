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
// transaction. The database enforces the bounds itself: the product rows are
// locked, each order is admitted against stock - sold and the buyer's
// holdings, and sold is raised with a conditional update, so even a Redis
// that lost writes cannot cause an oversell. One UPDATE per sku per batch
// keeps a hot sku far below the row-change rate Galera can certify.
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

func (s *Store) commitOnce(ctx context.Context, reqs []shop.OrderRequest, now time.Time, checkDuplicates bool) ([]shop.Result, error) {
	tx, err := s.batch.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: begin order batch: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()

	skus, buyers := distinct(reqs)
	products, err := lockProducts(ctx, tx, skus)
	if err != nil {
		return nil, err
	}
	held, err := holdings(ctx, tx, skus, buyers)
	if err != nil {
		return nil, err
	}
	windows, err := saleWindows(ctx, tx, products)
	if err != nil {
		return nil, err
	}
	var existing map[[2]string]shop.Order
	if checkDuplicates {
		if existing, err = ordersByKeys(ctx, tx, reqs); err != nil {
			return nil, err
		}
	}

	results := make([]shop.Result, len(reqs))
	added := map[string]int64{}
	maxVersion := map[string]int64{}
	inBatch := map[[2]string]bool{}
	var insert []shop.Order
	for i, r := range reqs {
		key := [2]string{r.BuyerID, r.IdempotencyKey}
		if o, ok := existing[key]; ok {
			results[i] = shop.Result{Verdict: shop.Duplicate, Order: o}
			continue
		}
		if inBatch[key] {
			results[i] = shop.Result{Verdict: shop.InProgress}
			continue
		}
		inBatch[key] = true
		p, ok := products[r.SKU]
		if !ok {
			results[i] = shop.Result{Verdict: shop.RejectedNotFound}
			continue
		}
		remaining := p.stock - p.sold - added[r.SKU]
		hk := r.SKU + "\x00" + r.BuyerID
		switch {
		case !windows[p.live].open(now):
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
		added[r.SKU] += int64(r.Quantity)
		held[hk] += int64(r.Quantity)
		maxVersion[r.SKU] = max(maxVersion[r.SKU], r.Version)
		o := shop.Order{
			ID: r.ID, BuyerID: r.BuyerID, IdempotencyKey: r.IdempotencyKey, SKU: r.SKU,
			LiveID: p.live, Quantity: r.Quantity, UnitPrice: p.price, Currency: p.currency,
			Status: "confirmed", CreatedAt: now,
		}
		results[i] = shop.Result{Verdict: shop.Committed, Order: o}
		insert = append(insert, o)
	}
	if len(insert) == 0 {
		return results, nil
	}

	for _, sku := range skus {
		n := added[sku]
		if n == 0 {
			continue
		}
		res, err := tx.ExecContext(ctx,
			"UPDATE products SET sold = sold + ?, version = GREATEST(version, ?), updated_at = ? WHERE sku = ? AND sold + ? <= stock",
			n, maxVersion[sku], now, sku, n)
		if err != nil {
			return nil, fmt.Errorf("mysqlstore: raise sold of %s: %w", sku, err)
		}
		if rows, err := res.RowsAffected(); err != nil || rows != 1 {
			return nil, fmt.Errorf("mysqlstore: raise sold of %s: bound check refused under lock (rows %d, %v)", sku, rows, err)
		}
	}

	args := make([]any, 0, 10*len(insert))
	for _, o := range insert {
		args = append(args, o.ID, o.BuyerID, o.IdempotencyKey, o.SKU, o.LiveID, o.Quantity, o.UnitPrice, o.Currency, o.Status, o.CreatedAt)
	}
	rowsSQL := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ", len(insert)), ", ")
	if _, err := tx.ExecContext(ctx, "INSERT INTO orders ("+orderColumns+") VALUES "+rowsSQL, args...); err != nil {
		return nil, fmt.Errorf("mysqlstore: insert %d orders: %w", len(insert), err)
	}

	if err := tx.Commit(); err != nil {
		committed = true // nothing left to roll back either way
		if commitNeverSent(err) || mysqlErrNo(err) != 0 {
			// Either COMMIT never left, or the server answered: the
			// transaction is rolled back.
			return nil, fmt.Errorf("mysqlstore: commit order batch: %w", err)
		}
		// The connection failed with COMMIT sent: it may or may not
		// have landed. BatchLanded settles it.
		return results, fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	committed = true
	return results, nil
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

// commitNeverSent recognises COMMIT errors raised before anything reached
// the server: database/sql refuses a transaction whose context ended or
// that is already over, and the driver says ErrBadConn only when it wrote
// nothing.
func commitNeverSent(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, sql.ErrTxDone) || errors.Is(err, driver.ErrBadConn)
}

type saleWindow struct{ start, end sql.NullTime }

func (w saleWindow) open(now time.Time) bool {
	return (!w.start.Valid || !now.Before(w.start.Time)) && (!w.end.Valid || now.Before(w.end.Time))
}

// saleWindows reads the windows of the lives of the locked products. A
// plain read: locking the live rows would serialize every batch of a live.
func saleWindows(ctx context.Context, tx *sql.Tx, products map[string]productRow) (map[string]saleWindow, error) {
	var lives []any
	seen := map[string]bool{}
	for _, p := range products {
		if !seen[p.live] {
			seen[p.live] = true
			lives = append(lives, p.live)
		}
	}
	out := make(map[string]saleWindow, len(lives))
	if len(lives) == 0 {
		return out, nil
	}
	rows, err := tx.QueryContext(ctx, "SELECT id, sale_starts_at, sale_ends_at FROM lives WHERE id IN ("+placeholders(len(lives))+")", lives...)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: read sale windows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var w saleWindow
		if err := rows.Scan(&id, &w.start, &w.end); err != nil {
			return nil, fmt.Errorf("mysqlstore: read sale windows: %w", err)
		}
		out[id] = w
	}
	return out, rows.Err()
}

type productRow struct {
	live, currency            string
	price, stock, sold, limit int64
}

func lockProducts(ctx context.Context, tx *sql.Tx, skus []string) (map[string]productRow, error) {
	args := make([]any, len(skus))
	for i, s := range skus {
		args[i] = s
	}
	rows, err := tx.QueryContext(ctx,
		"SELECT sku, live_id, price, currency, stock, sold, per_buyer_limit FROM products WHERE sku IN ("+
			placeholders(len(skus))+") ORDER BY sku FOR UPDATE", args...)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: lock products: %w", err)
	}
	defer rows.Close()
	out := make(map[string]productRow, len(skus))
	for rows.Next() {
		var sku string
		var p productRow
		if err := rows.Scan(&sku, &p.live, &p.price, &p.currency, &p.stock, &p.sold, &p.limit); err != nil {
			return nil, fmt.Errorf("mysqlstore: lock products: %w", err)
		}
		out[sku] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysqlstore: lock products: %w", err)
	}
	return out, nil
}

// holdings returns units per sku+"\x00"+buyer for the buyers of a batch.
// It runs after the product rows are locked, so no other batch for these
// skus can add orders while it reads.
func holdings(ctx context.Context, tx *sql.Tx, skus, buyers []string) (map[string]int64, error) {
	args := make([]any, 0, len(skus)+len(buyers))
	for _, s := range skus {
		args = append(args, s)
	}
	for _, b := range buyers {
		args = append(args, b)
	}
	rows, err := tx.QueryContext(ctx,
		"SELECT sku, buyer_id, SUM(quantity) FROM orders WHERE sku IN ("+placeholders(len(skus))+
			") AND buyer_id IN ("+placeholders(len(buyers))+") GROUP BY sku, buyer_id", args...)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: read holdings: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var sku, buyer string
		var n int64
		if err := rows.Scan(&sku, &buyer, &n); err != nil {
			return nil, fmt.Errorf("mysqlstore: read holdings: %w", err)
		}
		out[sku+"\x00"+buyer] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysqlstore: read holdings: %w", err)
	}
	return out, nil
}

func ordersByKeys(ctx context.Context, tx *sql.Tx, reqs []shop.OrderRequest) (map[[2]string]shop.Order, error) {
	args := make([]any, 0, 2*len(reqs))
	for _, r := range reqs {
		args = append(args, r.BuyerID, r.IdempotencyKey)
	}
	pairs := strings.TrimSuffix(strings.Repeat("(?, ?), ", len(reqs)), ", ")
	rows, err := tx.QueryContext(ctx,
		"SELECT "+orderColumns+" FROM orders WHERE (buyer_id, idempotency_key) IN ("+pairs+")", args...)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: find duplicate orders: %w", err)
	}
	defer rows.Close()
	out := map[[2]string]shop.Order{}
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("mysqlstore: find duplicate orders: %w", err)
		}
		out[[2]string{o.BuyerID, o.IdempotencyKey}] = o
	}
	return out, rows.Err()
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
