package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"livecommerce/origin/origintest"
)

func counter(b *testing.B, e *origintest.Env, name string) float64 {
	b.Helper()
	mfs, err := e.Server.Deps().Registry.Gather()
	if err != nil {
		b.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			total += metricValue(m)
		}
	}
	return total
}

func metricValue(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return 0
}

// BenchmarkPurchase buys one unit of one hot sku per operation through
// HTTP, from many buyers at once: the whole path, Redis script, batched
// MySQL commit, confirmation and event included.
func BenchmarkPurchase(b *testing.B) {
	e := origintest.Start(b, origintest.Options{})
	e.SetUpLive("BENCH", "", origintest.Product{SKU: "HOT", Stock: 50_000_000, PerBuyerLimit: 10_000})
	const buyers = 256
	tokens := make([]string, buyers)
	for i := range tokens {
		tokens[i] = e.Token(fmt.Sprintf("bench-buyer-%d", i))
	}
	rowsBefore := counter(b, e, "purchase_product_row_updates_total")
	origintest.Hammer(b, e.Client, 201, func(n int64) *http.Request {
		req, _ := http.NewRequest("POST", e.URL+"/v1/purchases", strings.NewReader(`{"sku":"HOT","quantity":1}`))
		req.Header.Set("Authorization", "Bearer "+tokens[n%buyers])
		req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d", n))
		return req
	})
	rows := counter(b, e, "purchase_product_row_updates_total") - rowsBefore
	b.ReportMetric(rows/float64(b.N), "row-updates/purchase")
}

// BenchmarkStockRead reads one sku's stock from many clients at once: the
// herd the micro-cache and request collapsing are for.
func BenchmarkStockRead(b *testing.B) {
	e := origintest.Start(b, origintest.Options{})
	e.SetUpLive("BENCHR", "", origintest.Product{SKU: "READ", Stock: 1000, PerBuyerLimit: 2})
	origintest.Hammer(b, e.Client, 200, func(int64) *http.Request {
		req, _ := http.NewRequest("GET", e.URL+"/v1/products/READ/stock", nil)
		return req
	})
}
