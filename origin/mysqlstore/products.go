package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"livecommerce/internal/stock"
	"livecommerce/origin/shop"
)

// ProductState reads one sku; stock.ErrNotFound when it does not exist.
func (s *Store) ProductState(ctx context.Context, purpose Purpose, sku string) (shop.ProductState, error) {
	var ps shop.ProductState
	err := s.guardFor(purpose).Do(func() error {
		tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return fmt.Errorf("mysqlstore: product state %s: %w", sku, err)
		}
		defer tx.Rollback()
		var start, end sql.NullTime
		err = tx.QueryRowContext(ctx, `SELECT p.sku, p.live_id, p.merchant_id, p.stock, p.sold, p.per_buyer_limit,
  p.low_stock_threshold, p.version, p.updated_at, l.sale_starts_at, l.sale_ends_at
FROM products p JOIN lives l ON l.id = p.live_id WHERE p.sku = ?`, sku).Scan(
			&ps.SKU, &ps.LiveID, &ps.MerchantID, &ps.Stock, &ps.Sold, &ps.Limit, &ps.Low, &ps.Version, &ps.UpdatedAt, &start, &end)
		if errors.Is(err, sql.ErrNoRows) {
			ps = shop.ProductState{}
			return nil
		}
		if err != nil {
			return fmt.Errorf("mysqlstore: product state %s: %w", sku, err)
		}
		ps.SaleStart, ps.SaleEnd = start.Time, end.Time
		rows, err := tx.QueryContext(ctx, "SELECT buyer_id, SUM(quantity) FROM orders WHERE sku = ? GROUP BY buyer_id", sku)
		if err != nil {
			return fmt.Errorf("mysqlstore: holdings of %s: %w", sku, err)
		}
		defer rows.Close()
		ps.Held = map[string]int64{}
		for rows.Next() {
			var b string
			var n int64
			if err := rows.Scan(&b, &n); err != nil {
				return fmt.Errorf("mysqlstore: holdings of %s: %w", sku, err)
			}
			ps.Held[b] = n
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("mysqlstore: holdings of %s: %w", sku, err)
		}
		return nil
	})
	if err == nil && ps.SKU == "" {
		return shop.ProductState{}, stock.ErrNotFound
	}
	return ps, err
}

// UnsoldStates reads the skus that have sold nothing yet, several hundred
// per query, without holdings (there are none). Skus that do not exist or
// have sales are left out: the caller rebuilds those one by one.
func (s *Store) UnsoldStates(ctx context.Context, skus []string) (map[string]shop.ProductState, error) {
	out := make(map[string]shop.ProductState, len(skus))
	err := s.admin.Do(func() error {
		for lo := 0; lo < len(skus); lo += upsertChunk {
			chunk := skus[lo:min(lo+upsertChunk, len(skus))]
			args := make([]any, len(chunk))
			for i, sku := range chunk {
				args[i] = sku
			}
			rows, err := s.db.QueryContext(ctx, `SELECT p.sku, p.live_id, p.merchant_id, p.stock, p.sold, p.per_buyer_limit,
  p.low_stock_threshold, p.version, p.updated_at, l.sale_starts_at, l.sale_ends_at
FROM products p JOIN lives l ON l.id = p.live_id WHERE p.sold = 0 AND p.sku IN (`+placeholders(len(chunk))+")", args...)
			if err != nil {
				return fmt.Errorf("mysqlstore: unsold product states: %w", err)
			}
			for rows.Next() {
				var ps shop.ProductState
				var start, end sql.NullTime
				if err := rows.Scan(&ps.SKU, &ps.LiveID, &ps.MerchantID, &ps.Stock, &ps.Sold, &ps.Limit, &ps.Low,
					&ps.Version, &ps.UpdatedAt, &start, &end); err != nil {
					rows.Close()
					return fmt.Errorf("mysqlstore: unsold product states: %w", err)
				}
				ps.SaleStart, ps.SaleEnd = start.Time, end.Time
				out[ps.SKU] = ps
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("mysqlstore: unsold product states: %w", err)
			}
		}
		return nil
	})
	return out, err
}

// SaleWindow returns the sale window of a sku's live (zero times when
// open-ended).
func (s *Store) SaleWindow(ctx context.Context, sku string) (start, end time.Time, err error) {
	err = s.orders.Do(func() error {
		var st, en sql.NullTime
		err := s.db.QueryRowContext(ctx,
			"SELECT l.sale_starts_at, l.sale_ends_at FROM products p JOIN lives l ON l.id = p.live_id WHERE p.sku = ?", sku).Scan(&st, &en)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("mysqlstore: sale window of %s: %w", sku, err)
		}
		start, end = st.Time, en.Time
		return nil
	})
	return start, end, err
}

// RaiseVersion lifts a sku's version floor to at least v.
func (s *Store) RaiseVersion(ctx context.Context, purpose Purpose, sku string, v int64) error {
	return s.guardFor(purpose).Do(func() error {
		if _, err := s.db.ExecContext(ctx, "UPDATE products SET version = GREATEST(version, ?) WHERE sku = ?", v, sku); err != nil {
			return fmt.Errorf("mysqlstore: raise version of %s: %w", sku, err)
		}
		return nil
	})
}

// LiveIDs lists every live, for operator commands that walk them all.
func (s *Store) LiveIDs(ctx context.Context) ([]string, error) {
	var ids []string
	err := s.reads.Do(func() error {
		rows, err := s.db.QueryContext(ctx, "SELECT id FROM lives ORDER BY id")
		if err != nil {
			return fmt.Errorf("mysqlstore: lives: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return fmt.Errorf("mysqlstore: lives: %w", err)
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	return ids, err
}

// LiveSKUs lists the skus of a live; stock.ErrNotFound when the live does
// not exist.
func (s *Store) LiveSKUs(ctx context.Context, liveID string) ([]string, error) {
	var skus []string
	found := false
	err := s.reads.Do(func() error {
		var one int
		err := s.db.QueryRowContext(ctx, "SELECT 1 FROM lives WHERE id = ?", liveID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("mysqlstore: live %s: %w", liveID, err)
		}
		found = true
		rows, err := s.db.QueryContext(ctx, "SELECT sku FROM products WHERE live_id = ? ORDER BY sku", liveID)
		if err != nil {
			return fmt.Errorf("mysqlstore: skus of %s: %w", liveID, err)
		}
		defer rows.Close()
		for rows.Next() {
			var sku string
			if err := rows.Scan(&sku); err != nil {
				return fmt.Errorf("mysqlstore: skus of %s: %w", liveID, err)
			}
			skus = append(skus, sku)
		}
		return rows.Err()
	})
	if err == nil && !found {
		return nil, stock.ErrNotFound
	}
	return skus, err
}

// Totals reads units on sale and units sold of each sku, for reconcile's
// cheap first comparison.
func (s *Store) Totals(ctx context.Context, purpose Purpose, skus []string) (map[string][2]int64, error) {
	out := make(map[string][2]int64, len(skus))
	if len(skus) == 0 {
		return out, nil
	}
	args := make([]any, len(skus))
	for i, sku := range skus {
		args[i] = sku
	}
	err := s.guardFor(purpose).Do(func() error {
		rows, err := s.db.QueryContext(ctx, "SELECT sku, stock, sold FROM products WHERE sku IN ("+placeholders(len(skus))+")", args...)
		if err != nil {
			return fmt.Errorf("mysqlstore: totals: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var sku string
			var t [2]int64
			if err := rows.Scan(&sku, &t[0], &t[1]); err != nil {
				return fmt.Errorf("mysqlstore: totals: %w", err)
			}
			out[sku] = t
		}
		return rows.Err()
	})
	return out, err
}

// AllSKUs lists every sku, for reconcile.
func (s *Store) AllSKUs(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT sku FROM products ORDER BY sku")
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: list skus: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var sku string
		if err := rows.Scan(&sku); err != nil {
			return nil, fmt.Errorf("mysqlstore: list skus: %w", err)
		}
		out = append(out, sku)
	}
	return out, rows.Err()
}
