package fibermetrics

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	fiberrecover "github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/valyala/fasthttp"
)

var errSoldOut = errors.New("stock: sold out")

// newTestApp builds an app shaped like the origin: metrics first, another
// middleware after it, plain and grouped routes, a custom error handler.
func newTestApp(t *testing.T) (*fiber.App, *prometheus.Registry, *Metrics) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := New(reg, "origin")
	app := fiber.New(fiber.Config{
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			if errors.Is(err, errSoldOut) {
				return c.Status(fiber.StatusConflict).JSON(fiber.Map{"error": fiber.Map{"code": "sold_out"}})
			}
			if err.Error() == "handler cannot cope" {
				return errors.New("error handler failed too")
			}
			return fiber.DefaultErrorHandler(c, err)
		},
	})
	app.Use(m.Middleware())
	app.Use(fiberrecover.New())
	app.Get("/metrics", Handler(reg))
	app.Get("/v1/products/:sku/stock", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"sku": c.Params("sku")})
	})
	app.Get("/v1/lives/:live_id/stock", func(c *fiber.Ctx) error {
		return fiber.NewError(fiber.StatusNotFound, "live not found")
	})
	app.Post("/v1/purchases", func(c *fiber.Ctx) error {
		return fmt.Errorf("purchase: %w", errSoldOut)
	})
	app.Get("/boom", func(c *fiber.Ctx) error { return errors.New("unexpected") })
	app.Get("/panic", func(c *fiber.Ctx) error { panic("handler bug") })
	app.Get("/double-fault", func(c *fiber.Ctx) error { return errors.New("handler cannot cope") })
	app.Get("/created", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusCreated) })
	admin := app.Group("/admin/v1")
	admin.Put("/lives/:live_id", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusNoContent) })
	return app, reg, m
}

// do sends one request through app and returns the status code.
func do(t *testing.T, app *fiber.App, method, target string) int {
	t.Helper()
	resp, err := app.Test(httptest.NewRequest(method, target, nil), -1)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// series maps "method route code" to the observation count of each
// http_request_duration_seconds series.
func series(t *testing.T, g prometheus.Gatherer) map[string]uint64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]uint64{}
	for _, f := range families {
		if f.GetName() != "http_request_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := labels(m)
			if l["service"] != "origin" {
				t.Errorf("service label: got %q, want origin", l["service"])
			}
			out[l["method"]+" "+l["route"]+" "+l["code"]] = m.GetHistogram().GetSampleCount()
		}
	}
	return out
}

func labels(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

func TestRouteAndCodeLabels(t *testing.T) {
	app, reg, _ := newTestApp(t)
	requests := []struct {
		method, target string
		wantStatus     int
	}{
		{"GET", "/v1/products/A1/stock", 200},
		{"GET", "/v1/products/B2/stock", 200},
		{"GET", "/v1/products/C3/stock?x=1", 200},
		{"HEAD", "/v1/products/A1/stock", 200},
		{"GET", "/v1/lives/L1/stock", 404},
		{"POST", "/v1/purchases", 409},
		{"GET", "/boom", 500},
		{"GET", "/panic", 500},
		{"GET", "/double-fault", 500},
		{"GET", "/created", 201},
		{"PUT", "/admin/v1/lives/L9", 204},
		{"GET", "/no/such/route", 404},
		{"GET", "/v1/products/A1/stock/extra", 404},
		{"DELETE", "/v1/purchases", 405},
	}
	for _, r := range requests {
		if got := do(t, app, r.method, r.target); got != r.wantStatus {
			t.Errorf("%s %s: got status %d, want %d", r.method, r.target, got, r.wantStatus)
		}
	}
	want := map[string]uint64{
		"GET /v1/products/:sku/stock 200":  3,
		"HEAD /v1/products/:sku/stock 200": 1,
		"GET /v1/lives/:live_id/stock 404": 1,
		"POST /v1/purchases 409":           1,
		"GET /boom 500":                    1,
		"GET /panic 500":                   1,
		"GET /double-fault 500":            1,
		"GET /created 201":                 1,
		"PUT /admin/v1/lives/:live_id 204": 1,
		"GET unmatched 404":                2,
		"DELETE unmatched 405":             1,
	}
	got := series(t, reg)
	for k, n := range want {
		if got[k] != n {
			t.Errorf("series %q: got %d observations, want %d", k, got[k], n)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected series %q (all series: %v)", k, keys(got))
		}
	}
}

func keys(m map[string]uint64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestHostilePathsDoNotAddSeries sends many distinct paths, the way a
// scanner or an attacker would, and checks the series count stays put.
func TestHostilePathsDoNotAddSeries(t *testing.T) {
	app, reg, _ := newTestApp(t)
	for i := range 500 {
		do(t, app, "GET", fmt.Sprintf("/v1/products/sku%d/stock", i))
		do(t, app, "GET", fmt.Sprintf("/wp-admin/%d.php", i))
		do(t, app, "GET", fmt.Sprintf("/v1/products/%%2e%%2e%%2f%d", i))
		do(t, app, "POST", fmt.Sprintf("/v1/lives/%d/stock", i))
	}
	got := series(t, reg)
	if len(got) > 4 {
		t.Errorf("series after 2000 distinct paths: got %d (%v), want at most 4", len(got), keys(got))
	}
	if n := got["GET /v1/products/:sku/stock 200"]; n != 500 {
		t.Errorf("GET /v1/products/:sku/stock 200: got %d observations, want 500", n)
	}
}

func TestMetricsEndpointParses(t *testing.T) {
	app, _, _ := newTestApp(t)
	do(t, app, "GET", "/v1/products/A1/stock")
	do(t, app, "POST", "/v1/purchases")

	resp, err := app.Test(httptest.NewRequest("GET", "/metrics", nil), -1)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: got status %d, want 200", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type: got %q, want text/plain...", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	h, ok := families["http_request_duration_seconds"]
	if !ok {
		t.Fatalf("/metrics has no http_request_duration_seconds (families: %d)", len(families))
	}
	if got, want := h.GetType(), dto.MetricType_HISTOGRAM; got != want {
		t.Errorf("type: got %v, want %v", got, want)
	}
	var found bool
	for _, m := range h.GetMetric() {
		l := labels(m)
		if l["route"] == "/v1/products/:sku/stock" && l["code"] == "200" && l["method"] == "GET" && l["service"] == "origin" {
			found = true
			// The text format lists +Inf as a bucket of its own.
			if got, want := len(m.GetHistogram().GetBucket()), len(latencyBuckets())+1; got != want {
				t.Errorf("buckets: got %d, want %d", got, want)
			}
		}
	}
	if !found {
		t.Errorf("no series for GET /v1/products/:sku/stock 200 in /metrics")
	}
	if _, ok := families["http_requests_in_flight"]; !ok {
		t.Errorf("/metrics has no http_requests_in_flight")
	}
}

func TestInFlight(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "origin")
	app := fiber.New()
	app.Use(m.Middleware())
	entered := make(chan struct{})
	release := make(chan struct{})
	app.Get("/slow", func(c *fiber.Ctx) error {
		entered <- struct{}{}
		<-release
		return c.SendString("done")
	})

	done := make(chan int)
	for range 3 {
		go func() {
			resp, err := app.Test(httptest.NewRequest("GET", "/slow", nil), -1)
			if err != nil {
				done <- -1
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
	}
	for range 3 {
		<-entered
	}
	if got := gaugeValue(t, m.inFlight); got != 3 {
		t.Errorf("in flight while 3 requests block: got %v, want 3", got)
	}
	close(release)
	for range 3 {
		if code := <-done; code != 200 {
			t.Errorf("slow request: got status %d, want 200", code)
		}
	}
	if got := gaugeValue(t, m.inFlight); got != 0 {
		t.Errorf("in flight after all returned: got %v, want 0", got)
	}
}

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var out dto.Metric
	if err := g.Write(&out); err != nil {
		t.Fatalf("read gauge: %v", err)
	}
	return out.GetGauge().GetValue()
}

func TestDurationIsObserved(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "origin")
	app := fiber.New()
	app.Use(m.Middleware())
	app.Get("/sleep", func(c *fiber.Ctx) error {
		time.Sleep(20 * time.Millisecond)
		return nil
	})
	do(t, app, "GET", "/sleep")
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != "http_request_duration_seconds" {
			continue
		}
		sum := f.GetMetric()[0].GetHistogram().GetSampleSum()
		if sum < 0.02 || sum > 5 {
			t.Errorf("observed duration: got %vs, want about 0.02s", sum)
		}
		return
	}
	t.Fatal("no http_request_duration_seconds after a request")
}

func TestNewTwiceOnOneRegistryPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, "origin")
	defer func() {
		if recover() == nil {
			t.Error("second New on the same registry: got no panic, want one")
		}
	}()
	New(reg, "origin")
}

func TestTwoServicesShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, "origin")
	New(reg, "stockfeed") // distinct service label: must not collide
	if _, err := reg.Gather(); err != nil {
		t.Errorf("gather: %v", err)
	}
}

func TestMethodLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"GET", "GET"}, {"HEAD", "HEAD"}, {"POST", "POST"}, {"PUT", "PUT"},
		{"PATCH", "PATCH"}, {"DELETE", "DELETE"}, {"OPTIONS", "OPTIONS"},
		{"CONNECT", "CONNECT"}, {"TRACE", "TRACE"},
		{"get", "OTHER"}, {"PROPFIND", "OTHER"}, {"", "OTHER"}, {strings.Repeat("X", 1000), "OTHER"},
	}
	for _, tt := range tests {
		if got := methodLabel(tt.in); got != tt.want {
			t.Errorf("methodLabel(%.20q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func BenchmarkMiddleware(b *testing.B) {
	reg := prometheus.NewRegistry()
	m := New(reg, "origin")
	app := fiber.New()
	app.Use(m.Middleware())
	app.Get("/v1/products/:sku/stock", func(c *fiber.Ctx) error { return c.SendStatus(200) })
	h := app.Handler()
	var rc fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		rc.Request.Reset()
		rc.Response.Reset()
		rc.Request.Header.SetMethod(fiber.MethodGet)
		rc.Request.SetRequestURI("/v1/products/A1/stock")
		h(&rc)
	}
}
