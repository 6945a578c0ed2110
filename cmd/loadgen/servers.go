package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"livecommerce/internal/applog"
	"livecommerce/internal/buyertoken"
	"livecommerce/internal/envflag"
	"livecommerce/internal/stock"
	"livecommerce/loadtest/naiveorigin"
	"livecommerce/origin/mysqlstore"
)

// checkLoopbackAddr accepts host:port on loopback.
func checkLoopbackAddr(name, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: %q is not host:port", name, addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%s: %q has no valid port", name, addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s: %q is not on loopback", name, addr)
	}
	return nil
}

// listen serves app on addr until ctx ends, then shuts it down gracefully.
func listen(ctx context.Context, app *fiber.App, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Listener(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = app.ShutdownWithContext(sctx)
	// A stop that came before Fiber reached its accept loop finds no
	// server to shut down; closing the listener ends that loop either way.
	ln.Close()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// serveNaive runs the naive baseline origin.
func serveNaive(ctx context.Context, args []string, getenv func(string) string) error {
	var addr, dsn, secret, level string
	var conns int
	fs := flag.NewFlagSet("loadgen naive-origin", flag.ContinueOnError)
	s := envflag.New(fs, getenv)
	s.String(&addr, "addr", "NAIVE_ADDR", "127.0.0.1:18090", "listen address (loopback)")
	s.String(&dsn, "mysql-dsn", "MYSQL_DSN", "root@tcp(127.0.0.1:3306)/lc_bench?parseTime=true", "database holding the baseline's tables")
	s.String(&secret, "jwt-secret", "BUYER_JWT_SECRET", "", fmt.Sprintf("HS256 secret of buyer tokens (required, at least %d bytes)", buyertoken.MinSecretLen))
	s.Int(&conns, "mysql-max-conns", "MYSQL_MAX_CONNS", 32, "MySQL connection pool size, as the real origin's")
	s.String(&level, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	err := s.Parse(args)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if err := checkLoopbackAddr("NAIVE_ADDR", addr); err != nil {
		errs = append(errs, err)
	}
	if c, err := mysql.ParseDSN(dsn); err != nil {
		errs = append(errs, fmt.Errorf("MYSQL_DSN: %w", err))
	} else if c.DBName == "" {
		errs = append(errs, errors.New("MYSQL_DSN: must name a database"))
	} else if err := mysqlstore.CheckDSN(dsn); err != nil {
		// The baseline interpolates arguments as the origin does (below),
		// so the same character sets are unsafe.
		errs = append(errs, fmt.Errorf("MYSQL_DSN: %w", err))
	}
	if len(secret) < buyertoken.MinSecretLen {
		errs = append(errs, fmt.Errorf("BUYER_JWT_SECRET: required, at least %d bytes", buyertoken.MinSecretLen))
	}
	if conns < 1 || conns > 1000 {
		errs = append(errs, errors.New("MYSQL_MAX_CONNS: must be between 1 and 1000"))
	}
	if err := applog.CheckLevel(level); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	log := applog.New(level)
	// The same driver settings as the origin's (mysqlstore.Open): one round
	// trip per statement. With server-side prepared statements the naive
	// design would hold its row lock three times as long, and the
	// comparison would measure the driver.
	dcfg, _ := mysql.ParseDSN(dsn)
	dcfg.InterpolateParams = true
	dcfg.ParseTime = true
	db, err := sql.Open("mysql", dcfg.FormatDSN())
	if err != nil {
		return fmt.Errorf("open MySQL: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	if err := naiveorigin.CreateSchema(ctx, db); err != nil {
		return err
	}
	app, err := naiveorigin.NewApp(db, []byte(secret), log)
	if err != nil {
		return err
	}
	log.Info("naive baseline origin listening", "addr", addr)
	return listen(ctx, app, addr)
}

var staticSKU = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// serveStatic answers every stock read with a stock object held in
// memory: no Redis, no cache lookup, no work but HTTP. It is the ceiling a
// stock read can reach on this machine.
func serveStatic(ctx context.Context, args []string, getenv func(string) string) error {
	var addr string
	fs := flag.NewFlagSet("loadgen static-json", flag.ContinueOnError)
	s := envflag.New(fs, getenv)
	s.String(&addr, "addr", "STATIC_ADDR", "127.0.0.1:18091", "listen address (loopback)")
	if err := s.Parse(args); err != nil {
		return usageError{err}
	}
	if err := checkLoopbackAddr("STATIC_ADDR", addr); err != nil {
		return usageError{err}
	}
	return listen(ctx, staticApp(), addr)
}

// staticApp is the static JSON server: the same body and headers as an
// origin's stock read, built once per sku and kept.
func staticApp() *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	bodies := newBodyCache(100_000)
	app.Get("/v1/products/:sku/stock", func(c *fiber.Ctx) error {
		// Fiber's values point into the request's buffer, which the next
		// request reuses: copy before keeping.
		sku := utils.CopyString(c.Params("sku"))
		if !staticSKU.MatchString(sku) {
			return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": fiber.Map{"code": "invalid_request", "message": "sku must match ^[A-Za-z0-9_-]{1,64}$"}})
		}
		b := bodies.get(sku)
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		c.Set(fiber.HeaderCacheControl, "public, max-age=1, stale-while-revalidate=5, stale-if-error=60")
		c.Set("CDN-Cache-Control", "public, max-age=1, stale-while-revalidate=5, stale-if-error=60")
		c.Set(fiber.HeaderETag, `"static-1"`)
		return c.Send(b)
	})
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	app.Get("/readyz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	return app
}

// bodyCache keeps rendered stock bodies, at most max of them; past that
// a body is rendered per request, so hostile skus cannot grow memory.
type bodyCache struct {
	mu     sync.RWMutex
	bodies map[string][]byte
	max    int
}

func newBodyCache(max int) *bodyCache { return &bodyCache{bodies: map[string][]byte{}, max: max} }

func (bc *bodyCache) get(sku string) []byte {
	bc.mu.RLock()
	b, ok := bc.bodies[sku]
	bc.mu.RUnlock()
	if ok {
		return b
	}
	b, _ = json.Marshal(stock.Level{SKU: sku, LiveID: "static", Remaining: 100, Status: stock.InStock, Version: 1, UpdatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	bc.mu.Lock()
	if len(bc.bodies) < bc.max {
		bc.bodies[sku] = b
	}
	bc.mu.Unlock()
	return b
}
