package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"

	"livecommerce/origin/apikey"
)

// Errors of the operator's key commands.
var (
	// ErrUnknownMerchant: no merchant has this id.
	ErrUnknownMerchant = errors.New("mysqlstore: no such merchant")
	// ErrUnknownAPIKey: no key has this id.
	ErrUnknownAPIKey = errors.New("mysqlstore: no such API key")
	// ErrTooManyKeys: the merchant already has MaxActiveKeys active keys.
	ErrTooManyKeys = errors.New("mysqlstore: too many active API keys")
)

// MaxActiveKeys bounds the active keys of one merchant. A rotation needs
// two for as long as the old key is still in use; a handful more covers
// several clients being moved over one by one, while keys nobody revoked
// pile up visibly instead of without end.
const MaxActiveKeys = 5

var merchantIDFormat = regexp.MustCompile(`^m_[0-9a-f]{16}$`)

// ValidMerchantID reports whether id has the shape CreateMerchant gives
// merchant ids: "m_" and 16 lowercase hex digits.
func ValidMerchantID(id string) bool { return merchantIDFormat.MatchString(id) }

// APIKey describes a stored key. It never holds the secret or its hash.
type APIKey struct {
	MerchantID   string
	MerchantName string
	ID           string    // the public id; "" for a merchant that has no key at all
	CreatedAt    time.Time // zero when ID is ""
	RevokedAt    time.Time // zero while the key is active
}

// Active reports whether the key still authenticates.
func (k APIKey) Active() bool { return k.ID != "" && k.RevokedAt.IsZero() }

// APIKeys lists the keys of one merchant, or of every merchant when
// merchantID is "", revoked ones included, oldest first. A merchant with no
// key is listed once with an empty ID.
func (s *Store) APIKeys(ctx context.Context, merchantID string) ([]APIKey, error) {
	q := `SELECT m.id, m.name, k.id, k.created_at, k.revoked_at
FROM merchants m LEFT JOIN merchant_api_keys k ON k.merchant_id = m.id`
	var args []any
	if merchantID != "" {
		q += " WHERE m.id = ?"
		args = append(args, merchantID)
	}
	q += " ORDER BY m.created_at, m.id, k.created_at, k.id"
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: list api keys: %w", err)
	}
	defer rows.Close()
	var out []APIKey
	for rows.Next() {
		var k APIKey
		var id sql.NullString
		var created, revoked sql.NullTime
		if err := rows.Scan(&k.MerchantID, &k.MerchantName, &id, &created, &revoked); err != nil {
			return nil, fmt.Errorf("mysqlstore: list api keys: %w", err)
		}
		k.ID, k.CreatedAt, k.RevokedAt = id.String, created.Time, revoked.Time
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysqlstore: list api keys: %w", err)
	}
	if merchantID != "" && len(out) == 0 {
		return nil, ErrUnknownMerchant
	}
	return out, nil
}

// Rotation is the outcome of RotateAPIKey.
type Rotation struct {
	Key     string   // the new key in plain text, shown once
	KeyID   string   // its public id
	Revoked []string // ids of the keys this rotation revoked
	Active  []string // ids of the merchant's other keys that still work
}

// RotateAPIKey gives a merchant a new key. The merchant's other active keys
// keep working (so clients can be moved over before the old key is
// revoked) unless revokeOthers is set, which revokes them in the same
// transaction: the new key is then the only one that works. Without
// revokeOthers a merchant that already has MaxActiveKeys active keys is
// ErrTooManyKeys and nothing changes.
func (s *Store) RotateAPIKey(ctx context.Context, merchantID string, revokeOthers bool, now time.Time) (Rotation, error) {
	k, err := apikey.Generate()
	if err != nil {
		return Rotation{}, fmt.Errorf("mysqlstore: api key: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Rotation{}, fmt.Errorf("mysqlstore: rotate api key: %w", err)
	}
	defer tx.Rollback()
	// Locking the merchant row serialises rotations and revocations of one
	// merchant, so two at once cannot both pass the MaxActiveKeys check.
	if err := lockMerchant(ctx, tx, merchantID); err != nil {
		return Rotation{}, err
	}
	active, err := activeKeys(ctx, tx, merchantID)
	if err != nil {
		return Rotation{}, err
	}
	r := Rotation{Key: k.Plain, KeyID: k.ID}
	switch {
	case revokeOthers && len(active) > 0:
		if err := revokeActive(ctx, tx, merchantID, now); err != nil {
			return Rotation{}, err
		}
		r.Revoked = active
	case !revokeOthers && len(active) >= MaxActiveKeys:
		return Rotation{}, ErrTooManyKeys
	case !revokeOthers:
		r.Active = active
	}
	if err := insertKey(ctx, tx, k, merchantID, now); err != nil {
		return Rotation{}, err
	}
	if err := tx.Commit(); err != nil {
		return Rotation{}, fmt.Errorf("mysqlstore: rotate api key: %w", err)
	}
	return r, nil
}

// Revocation is the outcome of RevokeAPIKey and RevokeMerchantKeys.
type Revocation struct {
	MerchantID string
	Revoked    []string  // ids of the keys this call revoked
	RevokedAt  time.Time // for RevokeAPIKey on a key revoked before: when it was
	ActiveLeft int       // active keys the merchant still has
}

// RevokeAPIKey revokes one key. Revoking a key that is already revoked
// changes nothing and reports when it was revoked. The admin API looks the
// key up in the database on every request (there is no cache), so it stops
// working with the commit; on a Galera cluster, on the other nodes once
// they have applied the write set, normally within milliseconds.
func (s *Store) RevokeAPIKey(ctx context.Context, keyID string, now time.Time) (Revocation, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Revocation{}, fmt.Errorf("mysqlstore: revoke api key: %w", err)
	}
	defer tx.Rollback()
	var r Revocation
	err = tx.QueryRowContext(ctx, "SELECT merchant_id FROM merchant_api_keys WHERE id = ?", keyID).Scan(&r.MerchantID)
	if errors.Is(err, sql.ErrNoRows) {
		return Revocation{}, ErrUnknownAPIKey
	}
	if err != nil {
		return Revocation{}, fmt.Errorf("mysqlstore: revoke api key: %w", err)
	}
	// The same lock order as RotateAPIKey: the merchant first, then its keys.
	if err := lockMerchant(ctx, tx, r.MerchantID); err != nil {
		return Revocation{}, err
	}
	var revoked sql.NullTime
	if err := tx.QueryRowContext(ctx, "SELECT revoked_at FROM merchant_api_keys WHERE id = ? FOR UPDATE", keyID).Scan(&revoked); err != nil {
		return Revocation{}, fmt.Errorf("mysqlstore: revoke api key: %w", err)
	}
	if revoked.Valid {
		r.RevokedAt = revoked.Time
	} else {
		if _, err := tx.ExecContext(ctx, "UPDATE merchant_api_keys SET revoked_at = ? WHERE id = ?", now, keyID); err != nil {
			return Revocation{}, fmt.Errorf("mysqlstore: revoke api key: %w", err)
		}
		r.Revoked = []string{keyID}
	}
	active, err := activeKeys(ctx, tx, r.MerchantID)
	if err != nil {
		return Revocation{}, err
	}
	r.ActiveLeft = len(active)
	if err := tx.Commit(); err != nil {
		return Revocation{}, fmt.Errorf("mysqlstore: revoke api key: %w", err)
	}
	return r, nil
}

// RevokeMerchantKeys revokes every active key of a merchant: it can no
// longer use the admin API until it is given a new key.
func (s *Store) RevokeMerchantKeys(ctx context.Context, merchantID string, now time.Time) (Revocation, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Revocation{}, fmt.Errorf("mysqlstore: revoke api keys: %w", err)
	}
	defer tx.Rollback()
	if err := lockMerchant(ctx, tx, merchantID); err != nil {
		return Revocation{}, err
	}
	active, err := activeKeys(ctx, tx, merchantID)
	if err != nil {
		return Revocation{}, err
	}
	if err := revokeActive(ctx, tx, merchantID, now); err != nil {
		return Revocation{}, err
	}
	if err := tx.Commit(); err != nil {
		return Revocation{}, fmt.Errorf("mysqlstore: revoke api keys of %s: %w", merchantID, err)
	}
	return Revocation{MerchantID: merchantID, Revoked: active}, nil
}

// insertKey stores a new key of a merchant: its id and the hash of its
// secret, never the secret.
func insertKey(ctx context.Context, tx *sql.Tx, k apikey.Key, merchantID string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, "INSERT INTO merchant_api_keys (id, merchant_id, secret_hash, created_at) VALUES (?, ?, ?, ?)",
		k.ID, merchantID, k.Hash[:], now); err != nil {
		return fmt.Errorf("mysqlstore: create api key: %w", err)
	}
	return nil
}

// revokeActive revokes every active key of a merchant.
func revokeActive(ctx context.Context, tx *sql.Tx, merchantID string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, "UPDATE merchant_api_keys SET revoked_at = ? WHERE merchant_id = ? AND revoked_at IS NULL",
		now, merchantID); err != nil {
		return fmt.Errorf("mysqlstore: revoke api keys of %s: %w", merchantID, err)
	}
	return nil
}

func lockMerchant(ctx context.Context, tx *sql.Tx, merchantID string) error {
	var id string
	err := tx.QueryRowContext(ctx, "SELECT id FROM merchants WHERE id = ? FOR UPDATE", merchantID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrUnknownMerchant
	}
	if err != nil {
		return fmt.Errorf("mysqlstore: lock merchant %s: %w", merchantID, err)
	}
	return nil
}

// activeKeys returns the ids of a merchant's active keys, oldest first,
// locking them.
func activeKeys(ctx context.Context, tx *sql.Tx, merchantID string) ([]string, error) {
	rows, err := tx.QueryContext(ctx,
		"SELECT id FROM merchant_api_keys WHERE merchant_id = ? AND revoked_at IS NULL ORDER BY created_at, id FOR UPDATE", merchantID)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: api keys of %s: %w", merchantID, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("mysqlstore: api keys of %s: %w", merchantID, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysqlstore: api keys of %s: %w", merchantID, err)
	}
	return ids, nil
}
