// Package mysqlstore is the database of record: merchants, lives, products,
// orders and stock adjustments in MySQL (Percona XtraDB Cluster in
// production, MariaDB with Galera in development). Every statement here runs
// on both.
package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/go-sql-driver/mysql"

	"livecommerce/internal/depguard"
)

// Store is the MySQL adapter. One concrete type, one file per entity.
type Store struct {
	db *sql.DB
	// batch is a small pool for order batches only. Its I/O deadlines and
	// session settings bound every step of a batch, COMMIT included (the
	// driver does not watch a context during COMMIT), and a transaction
	// whose client vanished releases its row locks within wait_timeout.
	batch *sql.DB
	// One breaker per purpose, so that failures of one kind of work never
	// refuse another: orders guards the purchase path, reads the public
	// reads, order lookups and maintenance, admin the merchants' API and
	// the operator commands. An anonymous flood of reads can open reads,
	// never orders.
	orders, reads, admin *depguard.Guard
}

type openOptions struct {
	readGuard    *depguard.Guard
	adminGuard   *depguard.Guard
	logger       mysql.Logger
	batchTimeout time.Duration
	ioTimeout    time.Duration
}

// Option adjusts Open.
type Option func(*openOptions)

// WithLogger sends the driver's own messages (mostly a dropped connection
// it is about to retry) to log at debug level instead of stderr.
func WithLogger(log *slog.Logger) Option {
	return func(o *openOptions) { o.logger = driverLogger{log} }
}

// WithReadGuard sets the breaker of the read path (default: one named
// "mysql-reads").
func WithReadGuard(g *depguard.Guard) Option {
	return func(o *openOptions) { o.readGuard = g }
}

// WithAdminGuard sets the breaker of the merchants' API and the operator
// commands (default: one named "mysql-admin").
func WithAdminGuard(g *depguard.Guard) Option {
	return func(o *openOptions) { o.adminGuard = g }
}

// WithIOTimeout bounds each network read or write of the general pool, so
// a hanging server cannot hold a connection forever (default: none, for
// commands such as migrate whose statements may run long).
func WithIOTimeout(d time.Duration) Option {
	return func(o *openOptions) { o.ioTimeout = d }
}

// WithBatchTimeout bounds each network read or write of an order batch,
// and its lock waits (default 2s).
func WithBatchTimeout(d time.Duration) Option {
	return func(o *openOptions) { o.batchTimeout = d }
}

type driverLogger struct{ log *slog.Logger }

func (d driverLogger) Print(v ...any) {
	d.log.Debug("mysql driver", slog.String("msg", fmt.Sprint(v...)))
}

// Open connects with dsn and checks the connection. guard is the breaker
// of the purchase path (default: one named "mysql"); the other purposes'
// breakers come from WithReadGuard and WithAdminGuard. The DSN must carry
// parseTime=true; Open adds it when missing, turns on client-side
// parameter interpolation, and adds a short dial timeout
// so an unreachable server fails fast, and I/O deadlines so a hanging one
// cannot hold a connection forever.
func Open(ctx context.Context, dsn string, maxConns int, guard *depguard.Guard, opts ...Option) (*Store, error) {
	o := openOptions{batchTimeout: 2 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	// Arguments are interpolated client-side (below), which is safe only
	// with the character sets CheckDSN allows.
	if err := CheckDSN(dsn); err != nil {
		return nil, fmt.Errorf("mysqlstore: MYSQL_DSN: %w", err)
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: parse MYSQL_DSN: %w", err)
	}
	if cfg.DBName == "" {
		return nil, errors.New("mysqlstore: MYSQL_DSN names no database")
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	// Arguments are escaped by the driver rather than sent with a
	// server-side prepared statement: one round trip per statement instead
	// of three (prepare, execute, close). An order batch runs five or six
	// statements while it holds its product rows locked, so this shortens
	// the locks as much as it saves the server's CPU.
	cfg.InterpolateParams = true
	if o.logger != nil {
		cfg.Logger = o.logger
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = o.ioTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = o.ioTimeout
	}
	if maxConns <= 0 {
		maxConns = 32
	}
	db, err := openPool(cfg, maxConns, 5*time.Minute)
	if err != nil {
		return nil, err
	}

	bc := cfg.Clone()
	// A lock wait ends first (a retryable 1205), a network read a second
	// after the batch's own deadline (a COMMIT lost on the way).
	bc.ReadTimeout, bc.WriteTimeout = o.batchTimeout+time.Second, o.batchTimeout+time.Second
	if bc.Params == nil {
		bc.Params = map[string]string{}
	}
	bc.Params["innodb_lock_wait_timeout"] = fmt.Sprint(max(1, int(o.batchTimeout/time.Second)))
	bc.Params["wait_timeout"] = "30"
	// Idle connections are dropped before the server's 30 s wait_timeout
	// closes them under our feet.
	batch, err := openPool(bc, min(maxConns, 16), 20*time.Second)
	if err != nil {
		db.Close()
		return nil, err
	}

	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, p := range []*sql.DB{db, batch} {
		if err := p.PingContext(pctx); err != nil {
			db.Close()
			batch.Close()
			return nil, fmt.Errorf("mysqlstore: connect: %w", err)
		}
	}
	if guard == nil {
		guard = depguard.New("mysql", depguard.Settings{})
	}
	if o.readGuard == nil {
		o.readGuard = depguard.New("mysql-reads", depguard.Settings{})
	}
	if o.adminGuard == nil {
		o.adminGuard = depguard.New("mysql-admin", depguard.Settings{})
	}
	return &Store{db: db, batch: batch, orders: guard, reads: o.readGuard, admin: o.adminGuard}, nil
}

func openPool(cfg *mysql.Config, maxConns int, maxIdle time.Duration) (*sql.DB, error) {
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: connector: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxLifetime(30 * time.Minute)
	db.SetConnMaxIdleTime(maxIdle)
	return db, nil
}

// DB exposes the pool for migrations and tests.
func (s *Store) DB() *sql.DB { return s.db }

// BatchDB exposes the order-batch pool, for tests that inspect its
// sessions.
func (s *Store) BatchDB() *sql.DB { return s.batch }

// Guard is the breaker of the purchase path: while it is open a purchase
// is refused before anything is reserved.
func (s *Store) Guard() *depguard.Guard { return s.orders }

// Purpose says which breaker a call that both purchases and reads make
// (rebuilding a sku, reading its totals) counts toward. It is a parameter,
// never a context value, so every call site says what it serves.
type Purpose int

// The purposes of shared calls.
const (
	// ForReads: stock reads, the merchants' loads, maintenance.
	ForReads Purpose = iota
	// ForPurchases: a purchase, or the committer settling one.
	ForPurchases
)

func (s *Store) guardFor(p Purpose) *depguard.Guard {
	if p == ForPurchases {
		return s.orders
	}
	return s.reads
}

// Close closes the pools.
func (s *Store) Close() error { return errors.Join(s.batch.Close(), s.db.Close()) }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("mysqlstore: ping: %w", err)
	}
	return nil
}

// MySQL error numbers this package reacts to.
const (
	errDupEntry        = 1062
	errLockWaitTimeout = 1205
	errDeadlock        = 1213 // also Galera's certification failure at commit
)

func mysqlErrNo(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// retryable reports whether a whole transaction may simply run again:
// deadlocks and Galera certification conflicts roll it back entirely; a
// lock wait timeout ends only the statement, and the caller rolls the
// rest back before running it again.
func retryable(err error) bool {
	n := mysqlErrNo(err)
	return n == errDeadlock || n == errLockWaitTimeout
}

// withRetry runs fn, a whole transaction, again after conflicts, with
// jittered exponential backoff so that nodes that collided do not collide
// again in lockstep.
func withRetry(ctx context.Context, attempts int, fn func() error) error {
	backoff := 2 * time.Millisecond
	for i := 1; ; i++ {
		err := fn()
		if err == nil || !retryable(err) || i == attempts {
			return err
		}
		sleep := backoff/2 + rand.N(backoff)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (after conflict: %w)", ctx.Err(), err)
		case <-time.After(sleep):
		}
		backoff *= 2
	}
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	b := make([]byte, 0, 3*n)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '?')
	}
	return string(b)
}
