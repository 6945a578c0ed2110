package naiveorigin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Finding is one broken invariant of one sku.
type Finding struct {
	SKU, Problem string
}

// String reads "sku A1: <problem>".
func (f Finding) String() string { return "sku " + f.SKU + ": " + f.Problem }

// Check verifies, for each sku, that the units sold (initial stock minus
// remaining) equal the units in its orders, that nothing remains below zero
// and that no buyer holds more than the per-buyer limit. It returns nil
// findings when all hold. It reads one consistent snapshot, so it may run
// while purchases are still coming in.
func Check(ctx context.Context, db *sql.DB, skus []string) ([]Finding, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("naiveorigin: check: begin: %w", err)
	}
	defer tx.Rollback()
	var findings []Finding
	for _, sku := range skus {
		f, err := checkSKU(ctx, tx, sku)
		if err != nil {
			return nil, fmt.Errorf("naiveorigin: check %s: %w", sku, err)
		}
		findings = append(findings, f...)
	}
	return findings, nil
}

func checkSKU(ctx context.Context, tx *sql.Tx, sku string) ([]Finding, error) {
	var initial, remaining, limit int64
	err := tx.QueryRowContext(ctx, "SELECT initial_stock, stock, per_buyer_limit FROM naive_products WHERE sku = ?", sku).
		Scan(&initial, &remaining, &limit)
	if errors.Is(err, sql.ErrNoRows) {
		return []Finding{{sku, "no such product"}}, nil
	}
	if err != nil {
		return nil, err
	}
	var ordered int64
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(SUM(quantity), 0) FROM naive_orders WHERE sku = ?", sku).Scan(&ordered); err != nil {
		return nil, err
	}

	var findings []Finding
	add := func(format string, args ...any) {
		findings = append(findings, Finding{sku, fmt.Sprintf(format, args...)})
	}
	if remaining < 0 {
		add("remaining is %d, below zero", remaining)
	}
	if sold := initial - remaining; sold != ordered {
		add("%d units sold (initial %d - remaining %d) but orders hold %d", sold, initial, remaining, ordered)
	}
	if ordered > initial {
		add("oversold: orders hold %d units of the %d on sale", ordered, initial)
	}

	rows, err := tx.QueryContext(ctx, `SELECT buyer_id, SUM(quantity) FROM naive_orders WHERE sku = ?
GROUP BY buyer_id HAVING SUM(quantity) > ? ORDER BY buyer_id`, sku, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var buyer string
		var held int64
		if err := rows.Scan(&buyer, &held); err != nil {
			return nil, err
		}
		add("buyer %s holds %d units, over the limit of %d", buyer, held, limit)
	}
	return findings, rows.Err()
}
