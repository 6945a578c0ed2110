package naiveorigin

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/go-sql-driver/mysql"

	"livecommerce/internal/stock"
	"livecommerce/origin/shop"
)

// purchase is one validated request.
type purchase struct {
	buyer, key, sku string
	quantity        int
}

// receipt is the 201 body; replayed says it answers an earlier request.
type receipt struct {
	OrderID   string `json:"order_id"`
	SKU       string `json:"sku"`
	Quantity  int    `json:"quantity"`
	Remaining int64  `json:"remaining"`
	Version   int64  `json:"version"`
	Status    string `json:"status"`
	replayed  bool
}

// errDuplicateKey: the order insert hit (buyer_id, idempotency_key) of an
// order that another request committed first.
var errDuplicateKey = errors.New("naiveorigin: idempotency key already used")

// MySQL error numbers the purchase reacts to.
const (
	errDupEntry        = 1062
	errTooManyConns    = 1040
	errUnknownCommand  = 1047 // a Galera node that is not part of the primary component
	errServerShutdown  = 1053
	errLockWaitTimeout = 1205
	errDeadlock        = 1213 // also Galera's certification failure at commit
	errQueryKilled     = 1317
	errConnKilled      = 1927 // MariaDB
)

func mysqlErrNo(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// transient reports whether err says the database is busy or out of reach
// rather than that the request or the SQL is wrong. Either way the
// transaction was rolled back (or, for a lost COMMIT, the client's retry
// with the same Idempotency-Key finds the order), so the client may retry.
func transient(err error) bool {
	switch mysqlErrNo(err) {
	case errTooManyConns, errUnknownCommand, errServerShutdown, errLockWaitTimeout,
		errDeadlock, errQueryKilled, errConnKilled:
		return true
	}
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, sql.ErrConnDone) || errors.As(err, &ne)
}

// dbError names the failed step and marks transient failures as
// stock.ErrUnavailable, which the HTTP edge answers with 503.
func dbError(op string, err error) error {
	if transient(err) {
		return fmt.Errorf("%w: naiveorigin: %s: %w", stock.ErrUnavailable, op, err)
	}
	return fmt.Errorf("naiveorigin: %s: %w", op, err)
}

// queryRower is what a replay lookup needs: a pool or a transaction.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// replay finds the order an earlier request of this buyer with this key
// created. It answers that order for the same sku and quantity, and
// stock.ErrIdempotencyKeyReused for another body; found is false when the
// key is new. Remaining and version are the product's current ones.
func replay(ctx context.Context, q queryRower, p purchase) (r receipt, found bool, err error) {
	err = q.QueryRowContext(ctx, `SELECT o.id, o.sku, o.quantity, COALESCE(p.stock, 0), COALESCE(p.version, 0)
FROM naive_orders o LEFT JOIN naive_products p ON p.sku = o.sku
WHERE o.buyer_id = ? AND o.idempotency_key = ?`, p.buyer, p.key).
		Scan(&r.OrderID, &r.SKU, &r.Quantity, &r.Remaining, &r.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return receipt{}, false, nil
	}
	if err != nil {
		return receipt{}, false, dbError("look up idempotency key", err)
	}
	if r.SKU != p.sku || r.Quantity != p.quantity {
		return receipt{}, true, stock.ErrIdempotencyKeyReused
	}
	r.Status, r.replayed = "confirmed", true
	return r, true, nil
}

// buy answers a purchase: the earlier order when the key was used before,
// else the outcome of one transaction.
func (s *server) buy(ctx context.Context, p purchase) (receipt, error) {
	if r, found, err := replay(ctx, s.db, p); err != nil || found {
		return r, err
	}
	r, err := s.buyOnce(ctx, p)
	switch {
	case err == nil:
		return r, nil
	case errors.Is(err, errDuplicateKey), errors.Is(err, stock.ErrSoldOut),
		errors.Is(err, stock.ErrInsufficientStock), errors.Is(err, stock.ErrLimitExceeded):
		// A concurrent request with the same key may have committed while
		// this one waited for the row lock. Its order is the answer, not
		// this refusal: the lock wait made the first look-up stale.
		if prior, found, perr := replay(ctx, s.db, p); perr != nil || found {
			return prior, perr
		}
		if errors.Is(err, errDuplicateKey) {
			// Only the primary key is left, and ULIDs do not collide.
			return receipt{}, fmt.Errorf("naiveorigin: insert order: duplicate but no order found: %w", err)
		}
	}
	return receipt{}, err
}

// buyOnce is the naive purchase: one READ COMMITTED transaction that holds
// the sku's row lock from the stock update to the commit. Every order of a
// sku is inserted under that lock, so once this transaction holds it, the
// committed orders it reads are all the orders of the sku: the per-buyer
// sum cannot miss one in flight. Any early return rolls back.
func (s *server) buyOnce(ctx context.Context, p purchase) (receipt, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return receipt{}, dbError("begin", err)
	}
	defer tx.Rollback()

	now := time.Now().UTC()
	res, err := tx.ExecContext(ctx, `UPDATE naive_products SET stock = stock - ?, version = version + 1, updated_at = ?
WHERE sku = ? AND stock >= ?`, p.quantity, now, p.sku, p.quantity)
	if err != nil {
		return receipt{}, dbError("take stock", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return receipt{}, dbError("take stock", err)
	}
	if n == 0 {
		return receipt{}, refusal(ctx, tx, p)
	}

	// One round trip for the level after the update, the price to record
	// and what the buyer already holds: the lock is held while it runs.
	var (
		r        = receipt{SKU: p.sku, Quantity: p.quantity, Status: "confirmed"}
		price    int64
		currency string
		limit    int64
		held     int64
	)
	err = tx.QueryRowContext(ctx, `SELECT p.stock, p.version, p.price, p.currency, p.per_buyer_limit,
  (SELECT COALESCE(SUM(o.quantity), 0) FROM naive_orders o WHERE o.sku = p.sku AND o.buyer_id = ?)
FROM naive_products p WHERE p.sku = ?`, p.buyer, p.sku).
		Scan(&r.Remaining, &r.Version, &price, &currency, &limit, &held)
	if err != nil {
		return receipt{}, dbError("read product", err)
	}
	if held+int64(p.quantity) > limit {
		return receipt{}, stock.ErrLimitExceeded
	}

	// crypto/rand, as the origin's ids: not a time-seeded, incrementing source.
	r.OrderID = shop.NewID(time.Now())
	_, err = tx.ExecContext(ctx, `INSERT INTO naive_orders
  (id, buyer_id, idempotency_key, sku, quantity, unit_price, currency, created_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.OrderID, p.buyer, p.key, p.sku, p.quantity, price, currency, now)
	if mysqlErrNo(err) == errDupEntry {
		return receipt{}, errDuplicateKey
	}
	if err != nil {
		return receipt{}, dbError("insert order", err)
	}
	if err := tx.Commit(); err != nil {
		// The COMMIT may have landed before the connection failed, so
		// this is no 503 (which promises nothing was sold): a 500, whose
		// outcome the client settles by retrying with the same key.
		return receipt{}, fmt.Errorf("naiveorigin: commit: %w", err)
	}
	return r, nil
}

// refusal explains an update that matched no row: no such sku, none left,
// or fewer left than asked for.
func refusal(ctx context.Context, q queryRower, p purchase) error {
	var remaining int64
	err := q.QueryRowContext(ctx, "SELECT stock FROM naive_products WHERE sku = ?", p.sku).Scan(&remaining)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return stock.ErrNotFound
	case err != nil:
		return dbError("read stock", err)
	case remaining <= 0:
		return stock.ErrSoldOut
	}
	return stock.ErrInsufficientStock
}
