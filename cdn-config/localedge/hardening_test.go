package localedge_test

import (
	"fmt"
	"strings"
	"testing"

	"livecommerce/origin/app"
	"livecommerce/origin/origintest"
)

// TestOpsRoutesAreNotPublic: through the edge, no spelling of an
// operational route reaches an origin, while the edge's own probes of
// /readyz keep the origin in service.
func TestOpsRoutesAreNotPublic(t *testing.T) {
	o := origintest.Start(t, origintest.Options{})
	o.SetUpLive("LOPS", "", origintest.Product{SKU: "OPS1", Stock: 3, PerBuyerLimit: 1})
	e := startEdge(t, []string{strings.TrimPrefix(o.URL, "http://")}, nil)
	want404 := func(path string) {
		t.Helper()
		a := do(t, "GET", e.URL()+path)
		if a.status != 404 || !strings.Contains(a.body, `"not_found"`) {
			t.Errorf("GET %s through the edge: got %d %.100s, want the contract's 404", path, a.status, a.body)
		}
		if strings.Contains(a.body, "go_") || strings.Contains(a.body, "mysql") || strings.Contains(a.body, "redis") {
			t.Errorf("GET %s through the edge: %.200s, want nothing of the origin's insides", path, a.body)
		}
	}
	// The origin answers most of these 404 itself: what shows that the
	// edge refused them is that none reached the origin.
	before := originRequests(t, o)
	for _, path := range []string{
		"/metrics", "/healthz", "/readyz", "/METRICS", "/Readyz", "/metrics/", "//metrics", "/readyz?x=1",
		"/healthz;x", "/debug/pprof/",
	} {
		want404(path)
	}
	if n := originRequests(t, o) - before; n != 0 {
		t.Errorf("%d of the operational paths reached the origin, want none", n)
	}
	// Other spellings of a public route pass to the origin, whose strict
	// routing refuses them.
	for _, path := range []string{"/V1/products/OPS1/stock", "/v1/products/OPS1/stock/"} {
		want404(path)
	}
	if a := do(t, "GET", e.URL()+"/v1/products/OPS1/stock"); a.status != 200 {
		t.Errorf("a stock read through the edge: got %d %s, want 200 (the origin probed healthy)", a.status, a.body)
	}
}

// TestMadeUpLiveIDsThroughTheEdge: distinct made-up live ids from one
// viewer reach the origin's database only up to that viewer's budget of
// unknown ids; the rest are refused without a query.
func TestMadeUpLiveIDsThroughTheEdge(t *testing.T) {
	o := origintest.Start(t, origintest.Options{Tweak: func(c *app.Config) { c.ReadMissRate, c.ReadMissBurst = 0.5, 10 }})
	e := startEdge(t, []string{strings.TrimPrefix(o.URL, "http://")}, nil)
	statuses := map[int]int{}
	for i := range 100 {
		a := do(t, "GET", fmt.Sprintf("%s/v1/lives/MADEUP%d/stock", e.URL(), i))
		statuses[a.status]++
	}
	// The edge is the only client the origin sees here, as one viewer
	// behind a CDN would be with its own address.
	if statuses[404] > 12 || statuses[404]+statuses[429] != 100 {
		t.Errorf("100 made-up live ids through the edge: %v, want at most the budget of 10 (and a refill or two) answered 404, the rest 429", statuses)
	}
}
