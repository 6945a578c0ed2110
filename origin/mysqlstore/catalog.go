package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"livecommerce/internal/stock"
	"livecommerce/origin/shop"
)

const upsertChunk = 500

// UpsertProducts applies a live's product rows all-or-nothing. A sku owned
// by another live, or stock lowered below the units already sold, rejects
// the whole upsert with the offending rows; so does a live that would hold
// more than maxPerLive products (a *LiveFullError). Every change of stock
// is recorded as an adjustment with reason.
func (s *Store) UpsertProducts(ctx context.Context, merchantID, liveID string, ps []shop.Product, maxPerLive int, reason string, now time.Time) ([]shop.Applied, error) {
	var applied []shop.Applied
	var rejected *shop.RowsRejectedError
	var full *shop.LiveFullError
	err := s.admin.Do(func() error {
		err := withRetry(ctx, 4, func() error {
			var err error
			applied, err = s.upsertProductsOnce(ctx, merchantID, liveID, ps, maxPerLive, reason, now)
			return err
		})
		if errors.As(err, &rejected) || errors.As(err, &full) {
			return nil // the merchant's mistake, not the database's failure
		}
		return err
	})
	if rejected != nil {
		return nil, rejected
	}
	if full != nil {
		return nil, full
	}
	if err == nil && applied == nil {
		return nil, stock.ErrNotFound
	}
	return applied, err
}

type existingProduct struct {
	live, merchant string
	stock, sold    int64
	version        int64
}

func (s *Store) upsertProductsOnce(ctx context.Context, merchantID, liveID string, ps []shop.Product, maxPerLive int, reason string, now time.Time) ([]shop.Applied, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: upsert products: %w", err)
	}
	defer tx.Rollback()

	var owner string
	var start, end sql.NullTime
	err = tx.QueryRowContext(ctx, "SELECT merchant_id, sale_starts_at, sale_ends_at FROM lives WHERE id = ? FOR UPDATE", liveID).Scan(&owner, &start, &end)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && owner != merchantID) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: lock live %s: %w", liveID, err)
	}

	existing := map[string]existingProduct{}
	for lo := 0; lo < len(ps); lo += upsertChunk {
		chunk := ps[lo:min(lo+upsertChunk, len(ps))]
		args := make([]any, len(chunk))
		for i, p := range chunk {
			args[i] = p.SKU
		}
		rows, err := tx.QueryContext(ctx, "SELECT sku, live_id, merchant_id, stock, sold, version FROM products WHERE sku IN ("+
			placeholders(len(chunk))+") ORDER BY sku FOR UPDATE", args...)
		if err != nil {
			return nil, fmt.Errorf("mysqlstore: lock products: %w", err)
		}
		for rows.Next() {
			var sku string
			var e existingProduct
			if err := rows.Scan(&sku, &e.live, &e.merchant, &e.stock, &e.sold, &e.version); err != nil {
				rows.Close()
				return nil, fmt.Errorf("mysqlstore: lock products: %w", err)
			}
			existing[sku] = e
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("mysqlstore: lock products: %w", err)
		}
	}

	var rejected []shop.RowError
	for i, p := range ps {
		e, ok := existing[p.SKU]
		switch {
		case !ok:
		case e.merchant != merchantID || e.live != liveID:
			rejected = append(rejected, shop.RowError{Row: i + 1, Field: "sku", Reason: "sku is already used by another live"})
		case p.Stock < e.sold:
			rejected = append(rejected, shop.RowError{Row: i + 1, Field: "stock", Reason: fmt.Sprintf("below the %d units already sold", e.sold)})
		}
	}
	if len(rejected) > 0 {
		return nil, &shop.RowsRejectedError{Rows: rejected}
	}
	if adding := len(ps) - len(existing); adding > 0 {
		// The live's row lock above orders this count with every other
		// upsert of the live on this server. On a Galera cluster two nodes
		// may each count before the other commits: the cap can then be
		// passed by one request's rows, never without bound.
		var have int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM products WHERE live_id = ?", liveID).Scan(&have); err != nil {
			return nil, fmt.Errorf("mysqlstore: count products of %s: %w", liveID, err)
		}
		if have+adding > maxPerLive {
			return nil, &shop.LiveFullError{Max: maxPerLive, Have: have, Adding: adding}
		}
	}

	applied := make([]shop.Applied, 0, len(ps))
	var adjustments []any
	for lo := 0; lo < len(ps); lo += upsertChunk {
		chunk := ps[lo:min(lo+upsertChunk, len(ps))]
		args := make([]any, 0, 12*len(chunk))
		for _, p := range chunk {
			args = append(args, p.SKU, liveID, merchantID, p.Name, p.Price, p.Currency, p.Stock, p.Limit, p.Low, 1, now, now)
		}
		values := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?), ", len(chunk)), ", ")
		_, err := tx.ExecContext(ctx, `INSERT INTO products
  (sku, live_id, merchant_id, name, price, currency, stock, sold, per_buyer_limit, low_stock_threshold, version, created_at, updated_at)
VALUES `+values+`
ON DUPLICATE KEY UPDATE name = VALUES(name), price = VALUES(price), currency = VALUES(currency), stock = VALUES(stock),
  per_buyer_limit = VALUES(per_buyer_limit), low_stock_threshold = VALUES(low_stock_threshold),
  version = version + 1, updated_at = VALUES(updated_at)`, args...)
		if err != nil {
			return nil, fmt.Errorf("mysqlstore: upsert products: %w", err)
		}
	}
	for _, p := range ps {
		e, ok := existing[p.SKU]
		version, delta := int64(1), p.Stock
		if ok {
			version, delta = e.version+1, p.Stock-e.stock
		}
		applied = append(applied, shop.Applied{
			SKU: p.SKU, LiveID: liveID, Stock: p.Stock, Limit: p.Limit, Low: p.Low, Version: version,
			SaleStart: start.Time, SaleEnd: end.Time, Created: !ok,
		})
		if delta != 0 {
			adjustments = append(adjustments, shop.NewID(now), p.SKU, merchantID, delta, p.Stock, reason, now)
		}
	}
	const perRow = 7
	for lo := 0; lo < len(adjustments); lo += upsertChunk * perRow {
		chunk := adjustments[lo:min(lo+upsertChunk*perRow, len(adjustments))]
		values := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?), ", len(chunk)/perRow), ", ")
		if _, err := tx.ExecContext(ctx, "INSERT INTO stock_adjustments (id, sku, merchant_id, delta, stock_after, reason, created_at) VALUES "+values, chunk...); err != nil {
			return nil, fmt.Errorf("mysqlstore: record stock adjustments: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("mysqlstore: upsert products: %w", err)
	}
	return applied, nil
}

// AdjustStock adds delta (negative to remove) to a sku's units on sale and
// records the adjustment with its reason. A sku of another merchant is
// stock.ErrNotFound. The row lock serializes the change with order batches,
// so lowering stock while purchases run cannot oversell.
func (s *Store) AdjustStock(ctx context.Context, merchantID, sku string, delta int64, reason string, maxStock int64, now time.Time) (shop.Applied, error) {
	var a shop.Applied
	var below, tooHigh bool
	err := s.admin.Do(func() error {
		return withRetry(ctx, 4, func() error {
			below, tooHigh, a = false, false, shop.Applied{}
			tx, err := s.db.BeginTx(ctx, nil)
			if err != nil {
				return fmt.Errorf("mysqlstore: adjust stock: %w", err)
			}
			defer tx.Rollback()
			var owner string
			var stockNow, sold, version int64
			var start, end sql.NullTime
			err = tx.QueryRowContext(ctx, `SELECT p.live_id, p.merchant_id, p.stock, p.sold, p.version, p.per_buyer_limit,
  p.low_stock_threshold, l.sale_starts_at, l.sale_ends_at
FROM products p JOIN lives l ON l.id = p.live_id WHERE p.sku = ? FOR UPDATE`, sku).Scan(
				&a.LiveID, &owner, &stockNow, &sold, &version, &a.Limit, &a.Low, &start, &end)
			if errors.Is(err, sql.ErrNoRows) || (err == nil && owner != merchantID) {
				a = shop.Applied{}
				return nil
			}
			if err != nil {
				return fmt.Errorf("mysqlstore: adjust stock of %s: %w", sku, err)
			}
			after := stockNow + delta
			if after < sold {
				below = true
				return nil
			}
			if after > maxStock {
				tooHigh = true
				return nil
			}
			if _, err := tx.ExecContext(ctx, "UPDATE products SET stock = ?, version = version + 1, updated_at = ? WHERE sku = ?", after, now, sku); err != nil {
				return fmt.Errorf("mysqlstore: adjust stock of %s: %w", sku, err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO stock_adjustments (id, sku, merchant_id, delta, stock_after, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
				shop.NewID(now), sku, merchantID, delta, after, reason, now); err != nil {
				return fmt.Errorf("mysqlstore: record adjustment of %s: %w", sku, err)
			}
			if err := tx.Commit(); err != nil {
				return fmt.Errorf("mysqlstore: adjust stock of %s: %w", sku, err)
			}
			a.SKU, a.Stock, a.Version, a.SaleStart, a.SaleEnd = sku, after, version+1, start.Time, end.Time
			return nil
		})
	})
	switch {
	case err != nil:
		return shop.Applied{}, err
	case below:
		return shop.Applied{}, shop.ErrBelowSold
	case tooHigh:
		return shop.Applied{}, shop.ErrStockTooHigh
	case a.SKU == "":
		return shop.Applied{}, stock.ErrNotFound
	}
	return a, nil
}

// Report sums a live's sales per sku from the orders themselves; a live of
// another merchant is stock.ErrNotFound.
func (s *Store) Report(ctx context.Context, merchantID, liveID string) ([]shop.ReportLine, error) {
	var lines []shop.ReportLine
	found := false
	err := s.admin.Do(func() error {
		var owner string
		err := s.db.QueryRowContext(ctx, "SELECT merchant_id FROM lives WHERE id = ?", liveID).Scan(&owner)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && owner != merchantID) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("mysqlstore: report of %s: %w", liveID, err)
		}
		found = true
		rows, err := s.db.QueryContext(ctx, `SELECT p.sku, p.name, p.currency, p.stock,
  COALESCE(SUM(o.quantity), 0), COALESCE(SUM(o.quantity * o.unit_price), 0), COUNT(o.id)
FROM products p LEFT JOIN orders o ON o.sku = p.sku
WHERE p.live_id = ? GROUP BY p.sku, p.name, p.currency, p.stock ORDER BY p.sku`, liveID)
		if err != nil {
			return fmt.Errorf("mysqlstore: report of %s: %w", liveID, err)
		}
		defer rows.Close()
		for rows.Next() {
			var l shop.ReportLine
			if err := rows.Scan(&l.SKU, &l.Name, &l.Currency, &l.Stock, &l.UnitsSold, &l.Revenue, &l.Orders); err != nil {
				return fmt.Errorf("mysqlstore: report of %s: %w", liveID, err)
			}
			l.Remaining = max(l.Stock-l.UnitsSold, 0)
			lines = append(lines, l)
		}
		return rows.Err()
	})
	if err == nil && !found {
		return nil, stock.ErrNotFound
	}
	if lines == nil && err == nil {
		lines = []shop.ReportLine{}
	}
	return lines, err
}

// Lives lists a merchant's lives, newest first, at most limit of them.
func (s *Store) Lives(ctx context.Context, merchantID string, limit int) ([]shop.LiveSummary, error) {
	var out []shop.LiveSummary
	err := s.admin.Do(func() error {
		out = out[:0]
		rows, err := s.db.QueryContext(ctx, `SELECT l.id, l.title, l.sale_starts_at, l.sale_ends_at, l.created_at, l.updated_at,
  (SELECT COUNT(*) FROM products p WHERE p.live_id = l.id)
FROM lives l WHERE l.merchant_id = ? ORDER BY l.created_at DESC, l.id LIMIT ?`, merchantID, limit)
		if err != nil {
			return fmt.Errorf("mysqlstore: lives of %s: %w", merchantID, err)
		}
		defer rows.Close()
		for rows.Next() {
			var l shop.LiveSummary
			var start, end sql.NullTime
			if err := rows.Scan(&l.ID, &l.Title, &start, &end, &l.CreatedAt, &l.UpdatedAt, &l.Products); err != nil {
				return fmt.Errorf("mysqlstore: lives of %s: %w", merchantID, err)
			}
			l.MerchantID, l.SaleStart, l.SaleEnd = merchantID, start.Time.UTC(), end.Time.UTC()
			l.CreatedAt, l.UpdatedAt = l.CreatedAt.UTC(), l.UpdatedAt.UTC()
			out = append(out, l)
		}
		return rows.Err()
	})
	return out, err
}
