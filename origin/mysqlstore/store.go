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
	db    *sql.DB
	guard *depguard.Guard
}

// Open connects with dsn and checks the connection. The DSN must carry
// parseTime=true; Open adds it when missing, along with a short dial timeout
// so an unreachable server fails fast.
func Open(ctx context.Context, dsn string, maxConns int, guard *depguard.Guard, opts ...Option) (*Store, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: parse MYSQL_DSN: %w", err)
	}
	for _, o := range opts {
		o(cfg)
	}
	if cfg.DBName == "" {
		return nil, errors.New("mysqlstore: MYSQL_DSN names no database")
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: connector: %w", err)
	}
	db := sql.OpenDB(connector)
	if maxConns <= 0 {
		maxConns = 32
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxLifetime(30 * time.Minute)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysqlstore: connect: %w", err)
	}
	if guard == nil {
		guard = depguard.New("mysql", depguard.Settings{})
	}
	return &Store{db: db, guard: guard}, nil
}

// DB exposes the pool for migrations and tests.
func (s *Store) DB() *sql.DB { return s.db }

// Guard is the breaker in front of MySQL.
func (s *Store) Guard() *depguard.Guard { return s.guard }

// Close closes the pool.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("mysqlstore: ping: %w", err)
	}
	return nil
}

// Option adjusts the connection.
type Option func(*mysql.Config)

// WithLogger sends the driver's own messages (mostly a dropped connection
// it is about to retry) to log at debug level instead of stderr.
func WithLogger(log *slog.Logger) Option {
	return func(c *mysql.Config) { c.Logger = driverLogger{log} }
}

type driverLogger struct{ log *slog.Logger }

func (d driverLogger) Print(v ...any) {
	d.log.Debug("mysql driver", slog.String("msg", fmt.Sprint(v...)))
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
// deadlocks, Galera certification conflicts and lock wait timeouts roll
// the transaction back entirely.
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
