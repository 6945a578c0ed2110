package mysqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"livecommerce/internal/stock"
)

// Product is a merchant's row in a product upsert, already validated.
type Product struct {
	SKU, Name, Currency string
	Price, Stock        int64
	Limit, Low          int64
}

// RowError explains why one row of an upsert was refused. Row counts from 1.
type RowError struct {
	Row    int    `json:"row"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// RowsRejectedError is an upsert refused as a whole because of these rows.
type RowsRejectedError struct{ Rows []RowError }

func (e *RowsRejectedError) Error() string {
	return fmt.Sprintf("mysqlstore: %d rows rejected", len(e.Rows))
}

// Applied is a product as committed, for loading into Redis.
type Applied struct {
	SKU, LiveID        string
	Stock, Limit, Low  int64
	Version            int64
	SaleStart, SaleEnd time.Time
}

const upsertChunk = 500

// UpsertProducts applies a live's product rows all-or-nothing. A sku owned
// by another live, or stock lowered below the units already sold, rejects
// the whole upsert with the offending rows. Every change of stock is
// recorded as an adjustment with reason.
func (s *Store) UpsertProducts(ctx context.Context, merchantID, liveID string, ps []Product, reason string, now time.Time) ([]Applied, error) {
	var applied []Applied
	var rejected *RowsRejectedError
	err := s.guard.Do(func() error {
		err := withRetry(ctx, 4, func() error {
			var err error
			applied, err = s.upsertProductsOnce(ctx, merchantID, liveID, ps, reason, now)
			return err
		})
		if errors.As(err, &rejected) {
			return nil // the merchant's mistake, not the database's failure
		}
		return err
	})
	if rejected != nil {
		return nil, rejected
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

func (s *Store) upsertProductsOnce(ctx context.Context, merchantID, liveID string, ps []Product, reason string, now time.Time) ([]Applied, error) {
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

	var rejected []RowError
	for i, p := range ps {
		e, ok := existing[p.SKU]
		switch {
		case !ok:
		case e.merchant != merchantID || e.live != liveID:
			rejected = append(rejected, RowError{Row: i + 1, Field: "sku", Reason: "sku is already used by another live"})
		case p.Stock < e.sold:
			rejected = append(rejected, RowError{Row: i + 1, Field: "stock", Reason: fmt.Sprintf("below the %d units already sold", e.sold)})
		}
	}
	if len(rejected) > 0 {
		return nil, &RowsRejectedError{Rows: rejected}
	}

	applied := make([]Applied, 0, len(ps))
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
		applied = append(applied, Applied{
			SKU: p.SKU, LiveID: liveID, Stock: p.Stock, Limit: p.Limit, Low: p.Low, Version: version,
			SaleStart: start.Time, SaleEnd: end.Time,
		})
		if delta != 0 {
			adjustments = append(adjustments, ulid.MustNew(ulid.Timestamp(now), rand.Reader).String(), p.SKU, merchantID, delta, p.Stock, reason, now)
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
