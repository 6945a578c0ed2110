// Package staticjson is the load test's ceiling for stock reads: a server
// that answers every stock read with a stock object held in memory, with
// the origin's body and headers. No Redis, no cache lookup, no work but
// HTTP: no stock read can be faster on this machine.
package staticjson

import (
	"context"
	"encoding/json"
	"flag"
	"regexp"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"livecommerce/internal/envflag"
	"livecommerce/internal/program"
	"livecommerce/internal/stock"
	"livecommerce/loadtest/loopback"
)

// Config is the command line of `loadgen static-json`.
type Config struct {
	Addr string // loopback host:port
}

// Load reads the flags and environment of `loadgen static-json`; its
// errors are usage errors (program.Usage).
func Load(args []string, getenv func(string) string) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("loadgen static-json", flag.ContinueOnError)
	s := envflag.New(fs, getenv)
	s.String(&c.Addr, "addr", "STATIC_ADDR", "127.0.0.1:18091", "listen address (loopback)")
	if err := s.Parse(args); err != nil {
		return c, program.Usage(err)
	}
	return c, program.Usage(loopback.CheckAddr("STATIC_ADDR", c.Addr))
}

// Serve serves the static JSON server until ctx ends.
func Serve(ctx context.Context, c Config) error {
	return loopback.Serve(ctx, NewApp(), c.Addr)
}

var validSKU = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// NewApp is the static JSON server: the same body and headers as an
// origin's stock read, built once per sku and kept.
func NewApp() *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	bodies := newBodyCache(100_000)
	app.Get("/v1/products/:sku/stock", func(c *fiber.Ctx) error {
		// Fiber's values point into the request's buffer, which the next
		// request reuses: copy before keeping.
		sku := utils.CopyString(c.Params("sku"))
		if !validSKU.MatchString(sku) {
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
