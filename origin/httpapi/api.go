// Package httpapi is the origin's HTTP edge: routes, authentication, rate
// limits, request validation, cache headers, and the one mapping from
// errors to the contract's codes.
package httpapi

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/prometheus/client_golang/prometheus"

	"livecommerce/internal/buyertoken"
	"livecommerce/internal/clientip"
	"livecommerce/internal/fibermetrics"
	"livecommerce/internal/ratelimit"
	"livecommerce/origin/catalog"
	"livecommerce/origin/mysqlstore"
	"livecommerce/origin/purchase"
	"livecommerce/origin/stockread"
)

// Limits on request bodies.
const (
	MaxPurchaseBody = 4 << 10
	MaxAdminBody    = 4 << 20
)

// Pinger is a dependency /readyz checks.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config holds what the API needs besides its dependencies.
type Config struct {
	PurchaseTimeout time.Duration
	// Per client IP and per buyer, requests per second and burst; zero
	// rate disables the limit.
	IPRate, BuyerRate   float64
	IPBurst, BuyerBurst int
	// TrustedProxies may set X-Forwarded-For (the local edge, a CDN).
	TrustedProxies []string
}

// Deps are the services behind the routes.
type Deps struct {
	Reads     *stockread.Cache
	Purchases *purchase.Service
	Catalog   *catalog.Service
	DB        *mysqlstore.Store
	Verifier  *buyertoken.Verifier
	Ready     map[string]Pinger
	Registry  *prometheus.Registry
	Log       *slog.Logger
}

// API is the origin's HTTP application.
type API struct {
	Deps
	cfg        Config
	app        *fiber.App
	ipLimit    *ratelimit.Limiter
	buyerLimit *ratelimit.Limiter
	trusted    clientip.Proxies
	inFlight   atomic.Int64
}

// New builds the Fiber app with every route.
func New(cfg Config, d Deps) (*API, error) {
	a := &API{
		Deps:       d,
		cfg:        cfg,
		ipLimit:    ratelimit.New(cfg.IPRate, cfg.IPBurst),
		buyerLimit: ratelimit.New(cfg.BuyerRate, cfg.BuyerBurst),
	}
	if a.cfg.PurchaseTimeout <= 0 {
		a.cfg.PurchaseTimeout = 2 * time.Second
	}
	trusted, err := clientip.ParseProxies(strings.Join(cfg.TrustedProxies, ","))
	if err != nil {
		return nil, badRequest("TRUSTED_PROXIES: " + err.Error())
	}
	a.trusted = trusted
	a.app = fiber.New(fiber.Config{
		AppName:               "origin",
		BodyLimit:             MaxAdminBody,
		ErrorHandler:          a.errorHandler,
		DisableStartupMessage: true,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		ReadBufferSize:        8 << 10,
	})
	metrics := fibermetrics.New(d.Registry, "origin")
	a.app.Use(func(c *fiber.Ctx) error {
		a.inFlight.Add(1)
		defer a.inFlight.Add(-1)
		return c.Next()
	})
	a.app.Use(recover.New())
	a.app.Use(requestid.New())
	a.app.Use(a.accessLog)
	a.app.Use(metrics.Middleware())

	a.app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	a.app.Get("/readyz", a.readyz)
	a.app.Get("/metrics", fibermetrics.Handler(d.Registry))

	a.app.Get("/v1/products/:sku/stock", a.skuStock)
	a.app.Get("/v1/lives/:live_id/stock", a.liveStock)
	a.app.Post("/v1/purchases", a.limitIP, a.purchase)
	a.app.Get("/v1/orders/:order_id", a.limitIP, a.order)

	admin := a.app.Group("/admin/v1", a.limitIP, a.merchantAuth)
	admin.Get("/lives", a.lives)
	admin.Put("/lives/:live_id", a.putLive)
	admin.Put("/lives/:live_id/products", a.putProducts)
	admin.Post("/products/:sku/stock-adjustments", a.adjustStock)
	admin.Get("/lives/:live_id/report", a.report)
	return a, nil
}

// App exposes the Fiber app (tests call app.Test; main listens).
func (a *API) App() *fiber.App { return a.app }

// Listener serves on ln until Shutdown.
func (a *API) Listener(ln net.Listener) error { return a.app.Listener(ln) }

// accessLog writes one line per request, only when debug logging is on:
// at thousands of requests a second the check is all that runs.
func (a *API) accessLog(c *fiber.Ctx) error {
	if !a.Log.Enabled(c.UserContext(), slog.LevelDebug) {
		return c.Next()
	}
	start := time.Now()
	err := c.Next()
	a.Log.Debug("request", slog.String("request_id", requestID(c)), slog.String("method", c.Method()),
		slog.String("route", c.Route().Path), slog.Int("status", c.Response().StatusCode()),
		slog.Duration("took", time.Since(start)))
	return err
}

// InFlight is the number of requests being handled.
func (a *API) InFlight() int64 { return a.inFlight.Load() }

// Shutdown stops accepting and waits for in-flight requests, up to the
// context's deadline.
func (a *API) Shutdown(ctx context.Context) error {
	return a.app.ShutdownWithContext(ctx)
}

func (a *API) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 500*time.Millisecond)
	defer cancel()
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(a.Ready))
	for name, p := range a.Ready {
		go func() { results <- result{name, p.Ping(ctx)} }()
	}
	status := fiber.Map{}
	var down []string
	for range a.Ready {
		r := <-results
		if r.err != nil {
			status[r.name] = "down"
			down = append(down, r.name)
		} else {
			status[r.name] = "ok"
		}
	}
	if len(down) > 0 {
		c.Set(fiber.HeaderCacheControl, "no-store")
		c.Set(fiber.HeaderRetryAfter, "1")
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": fiber.Map{
			"code": "unavailable", "message": "not ready: " + strings.Join(down, ", ") + " unreachable",
		}, "checks": status})
	}
	return c.JSON(fiber.Map{"status": "ok", "checks": status})
}

// clientIP is the address rate limits key on. Behind a trusted proxy it is
// the last address that proxy appended to X-Forwarded-For; anything before
// it came from the client and may be forged.
func (a *API) clientIP(c *fiber.Ctx) string {
	remote, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	return a.trusted.Of(remote, c.Get(fiber.HeaderXForwardedFor))
}

func (a *API) limitIP(c *fiber.Ctx) error {
	if ok, wait := a.ipLimit.Allow(a.clientIP(c), time.Now()); !ok {
		return rateLimited{seconds: ceilSeconds(wait)}
	}
	return c.Next()
}

func ceilSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
