// Package fibermetrics records Prometheus request metrics for Fiber v2 apps
// and serves them in the Prometheus text format.
//
// Requests are labelled by the route pattern that matched
// ("/v1/products/:sku/stock"), never by the raw path, and methods outside a
// fixed set collapse into "OTHER": label values come from registered routes,
// not from clients, so no client can grow the number of series.
package fibermetrics

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Unmatched is the route label of requests that matched no route.
const Unmatched = "unmatched"

// latencyBuckets are the histogram's upper bounds in seconds, from 0.5 ms
// (a cached stock read) to 2 s (a purchase stuck behind a slow database);
// anything slower lands in +Inf, which is all an alert needs to know. A
// function rather than a variable, so no caller can change them.
func latencyBuckets() []float64 {
	return []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2}
}

// Metrics holds the request collectors of one service.
type Metrics struct {
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

// New creates the collectors and registers them with reg. It panics if they
// are already registered there, as prometheus.MustRegister does: that is a
// wiring mistake to catch at start, not a condition to handle.
func New(reg prometheus.Registerer, service string) *Metrics {
	m := &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "http_request_duration_seconds",
			Help:        "Time from receiving a request to having its response ready, by route pattern and status code.",
			Buckets:     latencyBuckets(),
			ConstLabels: prometheus.Labels{"service": service},
		}, []string{"method", "route", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "http_requests_in_flight",
			Help:        "Requests currently being handled.",
			ConstLabels: prometheus.Labels{"service": service},
		}),
	}
	reg.MustRegister(m.duration, m.inFlight)
	return m
}

// Middleware returns a handler that times every request passing through it.
// Register it first (app.Use before any route or other middleware) so it
// times everything and sees every request, including those matching no route.
//
// When the rest of the chain returns an error, the middleware hands it to the
// app's ErrorHandler itself, as Fiber's own logger does, and returns nil.
// That way the recorded code is the status the client actually receives,
// even when a custom ErrorHandler maps domain errors to 409 or 503; guessing
// from the error value would record 500 for all of them. If the ErrorHandler
// itself fails, the response becomes a 500, which is what is recorded.
func (m *Metrics) Middleware() fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		m.inFlight.Inc()
		// Deferred so a panic that escapes the chain still leaves the gauge
		// right.
		defer m.inFlight.Dec()

		// Fiber points c.Route() at the last route that matched. Remember
		// our own (the Use route of this middleware): if it is still the
		// current one afterwards, nothing further matched.
		own := c.Route()
		err := c.Next()
		route := routeLabel(own, c.Route(), err)
		if err != nil {
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
		}
		code := c.Response().StatusCode()

		m.duration.WithLabelValues(methodLabel(c.Method()), route, strconv.Itoa(code)).
			Observe(time.Since(start).Seconds())
		return nil
	}
}

// routeLabel picks the route label. Fiber's router reports a request that no
// route matched with a fresh 404 error reading "Cannot METHOD path" (or with
// ErrMethodNotAllowed when only the method is wrong); c.Route() then still
// points at the last middleware, whose prefix would be a misleading label.
// A catch-all app.Use handler that answers such requests itself is labelled
// with its own prefix: still a registered pattern, so still bounded.
func routeLabel(own, last *fiber.Route, err error) string {
	if last == nil || last == own {
		return Unmatched
	}
	if errors.Is(err, fiber.ErrMethodNotAllowed) {
		return Unmatched
	}
	var fe *fiber.Error
	if errors.As(err, &fe) && fe.Code == fiber.StatusNotFound && strings.HasPrefix(fe.Message, "Cannot ") {
		return Unmatched
	}
	return last.Path
}

// methodLabels maps each standard method onto itself. Looking the label
// up here, rather than using c.Method(), bounds the label set and yields
// the constant string: c.Method() may point into a buffer fasthttp reuses,
// and a label value is kept for the life of the process.
var methodLabels = map[string]string{
	fiber.MethodGet: fiber.MethodGet, fiber.MethodHead: fiber.MethodHead, fiber.MethodPost: fiber.MethodPost,
	fiber.MethodPut: fiber.MethodPut, fiber.MethodPatch: fiber.MethodPatch, fiber.MethodDelete: fiber.MethodDelete,
	fiber.MethodOptions: fiber.MethodOptions, fiber.MethodConnect: fiber.MethodConnect, fiber.MethodTrace: fiber.MethodTrace,
}

func methodLabel(m string) string {
	if l, ok := methodLabels[m]; ok {
		return l
	}
	return "OTHER"
}

// Handler serves the metrics gathered by g in the Prometheus text format.
// Errors while gathering are reported in the response rather than failing
// the scrape, so one broken collector does not blind the dashboard.
func Handler(g prometheus.Gatherer) fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	}))
}
