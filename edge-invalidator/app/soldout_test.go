package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livecommerce/cdn-config/localedge"
	"livecommerce/edge-invalidator/app"
	"livecommerce/internal/stockstream"
	"livecommerce/origin/origintest"
)

// TestSoldOutReachesTheEdgeWithinASecond runs the whole edge tier for
// real: an origin (Redis, MariaDB, the machine's NATS), the local edge
// (varnishd) in front of it, and this invalidator purging that edge. A
// viewer polls a sku through the edge every 10 ms while a buyer takes its
// last units; the edge must answer sold_out within 1 s of the purchase's
// 201, every time, over 20 tries. Purchases land at different moments of
// the 1 s TTL, so the lags spread over what a viewer can meet.
func TestSoldOutReachesTheEdgeWithinASecond(t *testing.T) {
	const tries = 20
	o := origintest.Start(t, origintest.Options{})
	edgeLog, err := os.Create(t.TempDir() + "/varnishd.log")
	if err != nil {
		t.Fatal(err)
	}
	defer edgeLog.Close()
	edge, err := localedge.Start(context.Background(), localedge.Config{
		Addr: "127.0.0.1:0", PurgeAddr: "127.0.0.1:0", Origins: []string{strings.TrimPrefix(o.URL, "http://")},
		WorkDir: t.TempDir(), CacheSize: "16m",
	}, edgeLog)
	if err != nil {
		t.Fatalf("start the edge: %v", err)
	}
	t.Cleanup(func() { edge.Stop(10 * time.Second) })

	// Its own durable consumer on the machine's STOCK stream, removed at
	// the end, so that nothing else sharing that NATS is disturbed.
	consumer := fmt.Sprintf("edge-invalidator-test-%d", time.Now().UnixNano())
	cfg, err := app.Load(nil, env(map[string]string{
		"PURGE_BACKEND": "varnish", "VARNISH_PURGE_URLS": edge.PurgeURL(), "PURGE_CONSUMER": consumer,
		"NATS_URL": origintest.NATSURL(), "EDGE_INVALIDATOR_ADDR": freeAddr(t),
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- app.Run(ctx, cfg, testLogger())
	}()
	t.Cleanup(func() {
		stop()
		if err := <-ran; err != nil {
			t.Errorf("run: %v", err)
		}
		deleteConsumer(t, consumer)
	})
	until(t, 10*time.Second, "the invalidator ready", func() bool {
		code, _ := get("http://" + cfg.Addr + "/readyz")
		return code == http.StatusOK
	})

	// Names of this run's own: the STOCK stream drops an event whose id
	// (live, sku, version) it saw in the last two minutes.
	run := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	products := make([]origintest.Product, tries)
	for i := range products {
		products[i] = origintest.Product{SKU: fmt.Sprintf("SOLD%s-%02d", run, i), Stock: 2, PerBuyerLimit: 2}
	}
	o.SetUpLive("LSOLD"+run, "", products...)

	var lags []time.Duration
	for i, p := range products {
		url := edge.URL() + "/v1/products/" + p.SKU + "/stock"
		if st := edgeStatus(t, url); st != "in_stock" {
			t.Fatalf("%s before the sale: status %q at the edge, want in_stock", p.SKU, st)
		}
		// Land the purchase at a different point of the TTL each time,
		// with the viewer's polls keeping the edge's copy warm meanwhile.
		for end := time.Now().Add(time.Duration(i%10) * 100 * time.Millisecond); time.Now().Before(end); {
			edgeStatus(t, url)
			time.Sleep(10 * time.Millisecond)
		}
		res, err := o.Purchase("buyer-"+p.SKU, "k-"+p.SKU, p.SKU, 2)
		if err != nil || res.Status != http.StatusCreated {
			t.Fatalf("%s: purchase got %d %s %v, want 201", p.SKU, res.Status, res.Body, err)
		}
		sold := time.Now()
		for edgeStatus(t, url) != "sold_out" {
			if time.Since(sold) > 3*time.Second {
				t.Fatalf("%s: edge still not sold_out 3 s after the purchase", p.SKU)
			}
			time.Sleep(10 * time.Millisecond)
		}
		lags = append(lags, time.Since(sold))
	}
	slices.Sort(lags)
	t.Logf("sold_out at the edge after the 201, %d tries: min %v, p50 %v, p90 %v, max %v", len(lags),
		lags[0].Round(time.Millisecond), lags[len(lags)/2].Round(time.Millisecond),
		lags[len(lags)*9/10].Round(time.Millisecond), lags[len(lags)-1].Round(time.Millisecond))
	if worst := lags[len(lags)-1]; worst >= time.Second {
		t.Errorf("worst lag %v, want every try under 1 s", worst)
	}
	// The purges did it, not the TTL: every sale was a transition that the
	// invalidator queued (20 more came with the catalog), and its calls
	// reached the edge.
	_, metrics := get("http://" + cfg.Addr + "/metrics")
	if got := metricValue(t, metrics, `edge_invalidator_events_total{result="transition"}`); got < 2*tries {
		t.Errorf("%v transitions counted, want at least %d", got, 2*tries)
	}
	if got := metricValue(t, metrics, "edge_invalidator_purge_calls_total"); got < 2 {
		t.Errorf("%v purge calls counted, want the catalog's and the sales'", got)
	}
}

// metricValue finds one sample in Prometheus text.
func metricValue(t *testing.T, text, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in the metrics", series)
	return 0
}

// edgeStatus reads a sku's status through the edge.
func edgeStatus(t *testing.T, url string) string {
	t.Helper()
	code, body := get(url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	var s struct{ Status string }
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
	return s.Status
}

func deleteConsumer(t *testing.T, name string) {
	nc, err := nats.Connect(origintest.NATSURL())
	if err != nil {
		t.Errorf("delete consumer %s: %v", name, err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Errorf("delete consumer %s: %v", name, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := js.DeleteConsumer(ctx, stockstream.Name, name); err != nil {
		t.Errorf("delete consumer %s: %v", name, err)
	}
}

// testLogger shows the invalidator's log with -v only.
func testLogger() *slog.Logger {
	var w io.Writer = io.Discard
	if testing.Verbose() {
		w = os.Stderr
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}
