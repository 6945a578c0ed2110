// Package naiveorigin is the baseline the load generator measures the origin
// against: the design most teams start with. Every purchase is one MySQL
// transaction that takes stock with a conditional UPDATE, checks the buyer's
// limit while it holds that row's lock and inserts the order. There is no
// Redis, no batching and no cache, so all purchases of one sku queue on one
// row lock; that queue is what the comparison is there to show.
//
// Naive is not wrong: the baseline never oversells, enforces the per-buyer
// limit, honours Idempotency-Key and answers with the contract's errors. It
// also does the per-request work the origin does (JWT verification, JSON
// parsing, the idempotency lookup), so the ratios the load generator reports
// measure the design rather than skipped work.
package naiveorigin

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"livecommerce/internal/stock"
)

// Product is one sku on sale in the baseline.
type Product struct {
	SKU, LiveID   string
	Stock         int // units on sale
	PerBuyerLimit int
	Price         int64 // minor units
	Currency      string
}

func (p Product) validate() error {
	switch {
	case !stock.ValidID(p.SKU):
		return fmt.Errorf("sku %q: want 1 to 64 of A-Z a-z 0-9 _ -", p.SKU)
	case !stock.ValidID(p.LiveID):
		return fmt.Errorf("sku %s: live id %q: want 1 to 64 of A-Z a-z 0-9 _ -", p.SKU, p.LiveID)
	case p.Stock < 0 || p.Stock > math.MaxInt32:
		return fmt.Errorf("sku %s: stock %d: want 0 to %d", p.SKU, p.Stock, math.MaxInt32)
	case p.PerBuyerLimit < 1 || p.PerBuyerLimit > math.MaxInt32:
		return fmt.Errorf("sku %s: per-buyer limit %d: want 1 to %d", p.SKU, p.PerBuyerLimit, math.MaxInt32)
	case p.Price < 0:
		return fmt.Errorf("sku %s: price %d: must not be negative", p.SKU, p.Price)
	case p.Currency != "JPY" && p.Currency != "USD":
		return fmt.Errorf("sku %s: currency %q: want JPY or USD", p.SKU, p.Currency)
	}
	return nil
}

// The tables live next to the origin's own, with a prefix of their own, so
// one database serves both sides of a comparison. Identifiers are ASCII with
// binary collation, as in the origin's schema: "a1" and "A1" are two skus and
// idempotency keys compare byte for byte. Constraint names are unique in the
// whole database because MySQL 8 requires it.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS naive_products (
  sku              VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  live_id          VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  initial_stock    INT         NOT NULL,
  stock            INT         NOT NULL,
  per_buyer_limit  INT         NOT NULL,
  price            BIGINT      NOT NULL,
  currency         CHAR(3)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  version          BIGINT      NOT NULL DEFAULT 0,
  updated_at       DATETIME(6) NOT NULL,
  PRIMARY KEY (sku),
  CONSTRAINT naive_products_stock_nonnegative CHECK (stock >= 0),
  CONSTRAINT naive_products_limit_positive CHECK (per_buyer_limit >= 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS naive_orders (
  id               CHAR(26)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  buyer_id         VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  idempotency_key  VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  sku              VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  quantity         INT          NOT NULL,
  unit_price       BIGINT       NOT NULL,
  currency         CHAR(3)      CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_at       DATETIME(6)  NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY naive_orders_buyer_idempotency (buyer_id, idempotency_key),
  KEY naive_orders_sku_buyer (sku, buyer_id),
  CONSTRAINT naive_orders_quantity_positive CHECK (quantity >= 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
}

// CreateSchema creates the baseline's tables unless they exist.
func CreateSchema(ctx context.Context, db *sql.DB) error {
	for _, stmt := range schema {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("naiveorigin: create schema: %w", err)
		}
	}
	return nil
}

// seedChunk bounds the placeholders of one DELETE ... IN (...).
const seedChunk = 500

// Seed puts products on sale: it removes the rows of those skus, their
// orders included, and inserts the products with all their stock remaining,
// in one transaction. Every product is checked before anything is written.
func Seed(ctx context.Context, db *sql.DB, products []Product) error {
	seen := make(map[string]bool, len(products))
	skus := make([]any, 0, len(products))
	for i, p := range products {
		if err := p.validate(); err != nil {
			return fmt.Errorf("naiveorigin: seed: product %d: %w", i, err)
		}
		if seen[p.SKU] {
			return fmt.Errorf("naiveorigin: seed: product %d: sku %s appears twice", i, p.SKU)
		}
		seen[p.SKU] = true
		skus = append(skus, p.SKU)
	}
	if len(products) == 0 {
		return nil
	}

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("naiveorigin: seed: begin: %w", err)
	}
	defer tx.Rollback()
	for start := 0; start < len(skus); start += seedChunk {
		chunk := skus[start:min(start+seedChunk, len(skus))]
		in := strings.Repeat("?,", len(chunk)-1) + "?"
		if _, err := tx.ExecContext(ctx, "DELETE FROM naive_orders WHERE sku IN ("+in+")", chunk...); err != nil {
			return fmt.Errorf("naiveorigin: seed: delete orders: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM naive_products WHERE sku IN ("+in+")", chunk...); err != nil {
			return fmt.Errorf("naiveorigin: seed: delete products: %w", err)
		}
	}
	insert, err := tx.PrepareContext(ctx, `INSERT INTO naive_products
  (sku, live_id, initial_stock, stock, per_buyer_limit, price, currency, version, updated_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)`)
	if err != nil {
		return fmt.Errorf("naiveorigin: seed: prepare insert: %w", err)
	}
	defer insert.Close()
	now := time.Now().UTC()
	for _, p := range products {
		if _, err := insert.ExecContext(ctx, p.SKU, p.LiveID, p.Stock, p.Stock, p.PerBuyerLimit, p.Price, p.Currency, now); err != nil {
			return fmt.Errorf("naiveorigin: seed: insert %s: %w", p.SKU, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("naiveorigin: seed: commit: %w", err)
	}
	return nil
}
