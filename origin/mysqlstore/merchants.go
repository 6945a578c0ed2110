package mysqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"livecommerce/internal/stock"
	"livecommerce/origin/apikey"
	"livecommerce/origin/shop"
)

// ErrBadAPIKey: the key is malformed, unknown or revoked.
var ErrBadAPIKey = errors.New("mysqlstore: invalid API key")

// CreateMerchant adds a merchant with a first API key and returns the
// merchant's id and the key in plain text (shown once, stored hashed).
func (s *Store) CreateMerchant(ctx context.Context, name string, now time.Time) (id, key string, err error) {
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", fmt.Errorf("mysqlstore: merchant id: %w", err)
	}
	id = "m_" + hex.EncodeToString(raw[:])
	k, err := apikey.Generate()
	if err != nil {
		return "", "", fmt.Errorf("mysqlstore: api key: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", "", fmt.Errorf("mysqlstore: create merchant: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "INSERT INTO merchants (id, name, created_at) VALUES (?, ?, ?)", id, name, now); err != nil {
		return "", "", fmt.Errorf("mysqlstore: create merchant: %w", err)
	}
	if err := insertKey(ctx, tx, k, id, now); err != nil {
		return "", "", err
	}
	if err := tx.Commit(); err != nil {
		return "", "", fmt.Errorf("mysqlstore: create merchant: %w", err)
	}
	return id, k.Plain, nil
}

// MerchantByAPIKey returns the merchant a live key belongs to, or
// ErrBadAPIKey. It is one primary-key lookup per request, never cached, so
// a revoked key is refused from the next request on. The key id is public;
// only the secret's hash is compared, in constant time.
func (s *Store) MerchantByAPIKey(ctx context.Context, plain string) (string, error) {
	id, hash, err := apikey.Parse(plain)
	if err != nil {
		return "", ErrBadAPIKey
	}
	var merchant string
	var stored []byte
	err = s.admin.Do(func() error {
		err := s.db.QueryRowContext(ctx,
			"SELECT merchant_id, secret_hash FROM merchant_api_keys WHERE id = ? AND revoked_at IS NULL", id).Scan(&merchant, &stored)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("mysqlstore: look up api key: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if merchant == "" || !apikey.Equal(stored, hash[:]) {
		return "", ErrBadAPIKey
	}
	return merchant, nil
}

func nullTime(t time.Time) sql.NullTime { return sql.NullTime{Time: t, Valid: !t.IsZero()} }

// UpsertLive creates or updates a live of merchantID. A live that belongs
// to another merchant is stock.ErrNotFound. It returns the stored live,
// whether it was created, and its skus (whose sale window just changed).
func (s *Store) UpsertLive(ctx context.Context, l shop.Live, now time.Time) (out shop.Live, created bool, skus []string, err error) {
	err = s.admin.Do(func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("mysqlstore: upsert live: %w", err)
		}
		defer tx.Rollback()
		var owner string
		var createdAt time.Time
		err = tx.QueryRowContext(ctx, "SELECT merchant_id, created_at FROM lives WHERE id = ? FOR UPDATE", l.ID).Scan(&owner, &createdAt)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created = true
			createdAt = now
			_, err = tx.ExecContext(ctx, `INSERT INTO lives (id, merchant_id, title, sale_starts_at, sale_ends_at, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?)`, l.ID, l.MerchantID, l.Title, nullTime(l.SaleStart), nullTime(l.SaleEnd), now, now)
		case err != nil:
		case owner != l.MerchantID:
			return nil // reported as not found below, changing nothing
		default:
			_, err = tx.ExecContext(ctx, "UPDATE lives SET title = ?, sale_starts_at = ?, sale_ends_at = ?, updated_at = ? WHERE id = ?",
				l.Title, nullTime(l.SaleStart), nullTime(l.SaleEnd), now, l.ID)
		}
		if err != nil {
			return fmt.Errorf("mysqlstore: upsert live %s: %w", l.ID, err)
		}
		rows, err := tx.QueryContext(ctx, "SELECT sku FROM products WHERE live_id = ? ORDER BY sku", l.ID)
		if err != nil {
			return fmt.Errorf("mysqlstore: skus of %s: %w", l.ID, err)
		}
		for rows.Next() {
			var sku string
			if err := rows.Scan(&sku); err != nil {
				rows.Close()
				return fmt.Errorf("mysqlstore: skus of %s: %w", l.ID, err)
			}
			skus = append(skus, sku)
		}
		rows.Close()
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("mysqlstore: upsert live %s: %w", l.ID, err)
		}
		out = l
		out.CreatedAt, out.UpdatedAt = createdAt, now
		return nil
	})
	if err == nil && out.ID == "" {
		return shop.Live{}, false, nil, stock.ErrNotFound
	}
	return out, created, skus, err
}
