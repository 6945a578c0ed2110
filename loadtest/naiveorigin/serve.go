package naiveorigin

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"

	"github.com/go-sql-driver/mysql"

	"livecommerce/internal/applog"
	"livecommerce/internal/buyertoken"
	"livecommerce/internal/envflag"
	"livecommerce/internal/program"
	"livecommerce/loadtest/loopback"
	"livecommerce/origin/mysqlstore"
)

// ServerConfig is the command line of `loadgen naive-origin`.
type ServerConfig struct {
	Addr      string // loopback host:port
	MySQLDSN  string // the database holding the baseline's tables
	JWTSecret string // HS256 secret of buyer tokens
	MaxConns  int    // MySQL connection pool size
	LogLevel  string
}

// LoadServerConfig reads the flags and environment of `loadgen
// naive-origin`; its errors are usage errors (program.Usage), each
// naming its setting.
func LoadServerConfig(args []string, getenv func(string) string) (ServerConfig, error) {
	var c ServerConfig
	fs := flag.NewFlagSet("loadgen naive-origin", flag.ContinueOnError)
	s := envflag.New(fs, getenv)
	s.String(&c.Addr, "addr", "NAIVE_ADDR", "127.0.0.1:18090", "listen address (loopback)")
	s.String(&c.MySQLDSN, "mysql-dsn", "MYSQL_DSN", "root@tcp(127.0.0.1:3306)/lc_bench?parseTime=true", "database holding the baseline's tables")
	s.String(&c.JWTSecret, "jwt-secret", "BUYER_JWT_SECRET", "", fmt.Sprintf("HS256 secret of buyer tokens (required, at least %d bytes)", buyertoken.MinSecretLen))
	s.Int(&c.MaxConns, "mysql-max-conns", "MYSQL_MAX_CONNS", 32, "MySQL connection pool size, as the real origin's")
	s.String(&c.LogLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	var errs []error
	if err := s.Parse(args); err != nil {
		errs = append(errs, err)
	}
	if err := loopback.CheckAddr("NAIVE_ADDR", c.Addr); err != nil {
		errs = append(errs, err)
	}
	if dc, err := mysql.ParseDSN(c.MySQLDSN); err != nil {
		errs = append(errs, fmt.Errorf("MYSQL_DSN: %w", err))
	} else if dc.DBName == "" {
		errs = append(errs, errors.New("MYSQL_DSN: must name a database"))
	} else if err := mysqlstore.CheckDSN(c.MySQLDSN); err != nil {
		// The baseline interpolates arguments as the origin does (below),
		// so the same character sets are unsafe.
		errs = append(errs, fmt.Errorf("MYSQL_DSN: %w", err))
	}
	if len(c.JWTSecret) < buyertoken.MinSecretLen {
		errs = append(errs, fmt.Errorf("BUYER_JWT_SECRET: required, at least %d bytes", buyertoken.MinSecretLen))
	}
	if c.MaxConns < 1 || c.MaxConns > 1000 {
		errs = append(errs, errors.New("MYSQL_MAX_CONNS: must be between 1 and 1000"))
	}
	if err := applog.CheckLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	return c, program.Usage(errors.Join(errs...))
}

// Serve runs the baseline origin until ctx ends.
func Serve(ctx context.Context, c ServerConfig, log *slog.Logger) error {
	// The same driver settings as the origin's (mysqlstore.Open): one round
	// trip per statement. With server-side prepared statements the naive
	// design would hold its row lock three times as long, and the
	// comparison would measure the driver.
	dcfg, err := mysql.ParseDSN(c.MySQLDSN)
	if err != nil {
		return fmt.Errorf("MYSQL_DSN: %w", err)
	}
	dcfg.InterpolateParams = true
	dcfg.ParseTime = true
	db, err := sql.Open("mysql", dcfg.FormatDSN())
	if err != nil {
		return fmt.Errorf("open MySQL: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(c.MaxConns)
	db.SetMaxIdleConns(c.MaxConns)
	if err := CreateSchema(ctx, db); err != nil {
		return err
	}
	app, err := NewApp(db, []byte(c.JWTSecret), log)
	if err != nil {
		return err
	}
	log.Info("naive baseline origin listening", "addr", c.Addr)
	return loopback.Serve(ctx, app, c.Addr)
}
