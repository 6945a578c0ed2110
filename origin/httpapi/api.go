// Package httpapi is the origin's HTTP edge: routes, authentication, rate
// limits, request validation, cache headers, and the one mapping from
// errors to the contract's codes.
package httpapi

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"livecommerce/internal/buyertoken"
	"livecommerce/internal/clientip"
	"livecommerce/internal/fibermetrics"
	"livecommerce/internal/opsserver"
	"livecommerce/internal/ratelimit"
	"livecommerce/origin/catalog"
	"livecommerce/origin/mysqlstore"
	"livecommerce/origin/purchase"
	"livecommerce/origin/stockread"
)

// Limits on request bodies. A body is read only up to its route's limit
// (bodyLimit): a purchase of 4 MiB is refused after 4 KiB, not read whole.
const (
	MaxPurchaseBody = 4 << 10
	MaxAdminBody    = 4 << 20 // a product upsert
	// maxOtherBody covers every other route: a purchase, a live, a stock
	// adjustment, and the routes that take no body.
	maxOtherBody = MaxPurchaseBody
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
	// Per client address, stock reads that miss the micro-cache and ask
	// for an id the origin does not know, per second and burst; zero rate
	// disables the limit.
	ReadMissRate  float64
	ReadMissBurst int
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
	Log       *slog.Logger
}

// API is the origin's HTTP application.
type API struct {
	Deps
	cfg        Config
	app        *fiber.App
	ipLimit    *ratelimit.Limiter
	buyerLimit *ratelimit.Limiter
	missLimit  *ratelimit.Limiter
	trusted    clientip.Proxies
	inFlight   atomic.Int64
	draining   atomic.Bool
}

// New builds the Fiber app with every public route; its metrics go to
// reg. The operational routes are served elsewhere (Ready, opsserver).
func New(cfg Config, d Deps, reg *prometheus.Registry) (*API, error) {
	a := &API{
		Deps:       d,
		cfg:        cfg,
		ipLimit:    ratelimit.New(cfg.IPRate, cfg.IPBurst),
		buyerLimit: ratelimit.New(cfg.BuyerRate, cfg.BuyerBurst),
		missLimit:  ratelimit.New(cfg.ReadMissRate, cfg.ReadMissBurst),
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
		// One spelling per route: the edge and the CDN rules match paths
		// as written, so /V1/... or a trailing slash must not reach a
		// route they did not mean to cache or to refuse.
		CaseSensitive: true,
		StrictRouting: true,
	})
	a.app.Server().HeaderReceived = bodyLimit
	metrics := fibermetrics.New(reg, "origin")
	a.app.Use(func(c *fiber.Ctx) error {
		a.inFlight.Add(1)
		defer a.inFlight.Add(-1)
		return c.Next()
	})
	a.app.Use(recover.New())
	a.app.Use(requestid.New(requestid.Config{Generator: newRequestID}), keepRequestID)
	a.app.Use(a.accessLog)
	a.app.Use(metrics.Middleware())

	// Only the load balancer's probe: whether this origin can serve, and
	// nothing about what it depends on (that is on the ops listener).
	a.app.Get("/readyz", a.probe)

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
	a.draining.Store(true)
	return a.app.ShutdownWithContext(ctx)
}

// Ready checks every dependency, for the ops listener's /readyz.
func (a *API) Ready(ctx context.Context) opsserver.Report {
	if a.draining.Load() {
		return opsserver.Report{Checks: map[string]string{}, Problem: "shutting down"}
	}
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(a.Deps.Ready))
	for name, p := range a.Deps.Ready {
		go func() { results <- result{name, p.Ping(ctx)} }()
	}
	rep := opsserver.Report{Checks: map[string]string{}}
	var down []string
	for range a.Deps.Ready {
		r := <-results
		if r.err != nil {
			rep.Checks[r.name] = "down"
			down = append(down, r.name)
		} else {
			rep.Checks[r.name] = "ok"
		}
	}
	if len(down) > 0 {
		sort.Strings(down)
		rep.Problem = "not ready: " + strings.Join(down, ", ") + " unreachable"
	}
	return rep
}

func (a *API) probe(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 500*time.Millisecond)
	defer cancel()
	c.Set(fiber.HeaderCacheControl, "no-store")
	if a.Ready(ctx).Problem != "" {
		c.Set(fiber.HeaderRetryAfter, "1")
		return c.Status(fiber.StatusServiceUnavailable).JSON(errorJSON("unavailable", "not ready"))
	}
	return c.JSON(fiber.Map{"status": "ok"})
}

// bodyLimit bounds each request's body by its route before the body is
// read: fasthttp refuses a longer one (413) without reading it, and a
// chunked one as soon as it passes the limit. Only a product upsert that
// carries a credential may send MaxAdminBody; everything else, the admin
// API's other routes included, at most maxOtherBody. The headers are all
// there is to go by: authentication runs after the body is read.
func bodyLimit(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	path := h.RequestURI()
	// An absolute-form target (PUT http://host/path) routes like its path.
	if i := bytes.Index(path, []byte("://")); i >= 0 {
		rest := path[i+3:]
		if j := bytes.IndexByte(rest, '/'); j >= 0 {
			path = rest[j:]
		}
	}
	auth := h.Peek(fiber.HeaderAuthorization)
	if bytes.Equal(h.Method(), []byte(fiber.MethodPut)) && productsPath.Match(path) &&
		len(auth) > len("Bearer ") && bytes.EqualFold(auth[:len("Bearer ")], []byte("Bearer ")) {
		return fasthttp.RequestConfig{MaxRequestBodySize: MaxAdminBody}
	}
	return fasthttp.RequestConfig{MaxRequestBodySize: maxOtherBody}
}

// productsPath is the product upsert's route, query string allowed.
var productsPath = regexp.MustCompile(`^/admin/v1/lives/[A-Za-z0-9_-]{1,64}/products(\?.*)?$`)

// newRequestID makes the id of a request that brought none (or an unfit
// one): 96 random bits, so it reveals nothing of the origin or its
// traffic. It needs to be unique, not unguessable, so it comes from the
// runtime's fast generator rather than the system's: it is made for every
// request.
func newRequestID() string {
	var b [24]byte
	hex.Encode(b[:16], binary.BigEndian.AppendUint64(nil, rand.Uint64()))
	hex.Encode(b[16:], binary.BigEndian.AppendUint32(nil, rand.Uint32()))
	return string(b[:])
}

// keepRequestID keeps a client's X-Request-Id only when it is 1 to 64 of
// A-Z a-z 0-9 . _ : -, and replaces it otherwise: the id is echoed in the
// answer and written to the logs, where control bytes or a long value
// would forge or flood lines.
func keepRequestID(c *fiber.Ctx) error {
	if id, _ := c.Locals("requestid").(string); !validRequestID(id) {
		id = newRequestID()
		c.Locals("requestid", id)
		c.Set(fiber.HeaderXRequestID, id)
	}
	return c.Next()
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch ch := id[i]; {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9', ch == '.', ch == '_', ch == ':', ch == '-':
		default:
			return false
		}
	}
	return true
}

// clientIP is the address rate limits key on. Behind a trusted proxy it is
// the last address that proxy appended to X-Forwarded-For; anything before
// it came from the client and may be forged.
func (a *API) clientIP(c *fiber.Ctx) string {
	remote, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	return a.trusted.Of(remote, c.Get(fiber.HeaderXForwardedFor))
}

// limitKey is the key of a client's per-address limits: its address, or
// for IPv6 its /64, which one subscriber usually holds whole.
func (a *API) limitKey(c *fiber.Ctx) string {
	return clientip.LimitKey(a.clientIP(c))
}

func (a *API) limitIP(c *fiber.Ctx) error {
	if ok, wait := a.ipLimit.Allow(a.limitKey(c), time.Now()); !ok {
		return rateLimited{seconds: ceilSeconds(wait)}
	}
	return c.Next()
}

func ceilSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
