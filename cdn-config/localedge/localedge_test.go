package localedge_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"livecommerce/cdn-config/localedge"
)

// fakeOrigin plays an origin instance: stock reads with the headers the
// contract gives them, a purchase route, /readyz, and switches to make it
// slow, failing or unready. It counts what reaches it.
type fakeOrigin struct {
	srv      *httptest.Server
	policy   atomic.Value // Cache-Control and CDN-Cache-Control of stock reads
	body     atomic.Value // body of stock reads
	delay    atomic.Int64 // nanoseconds before a stock read answers
	failing  atomic.Bool  // stock reads answer 500
	unready  atomic.Bool  // /readyz answers 503
	reads    atomic.Int64
	other    atomic.Int64
	lastPath atomic.Value
	lastXFF  atomic.Value
}

const contractPolicy = "public, max-age=1, stale-while-revalidate=5, stale-if-error=60"

func newFakeOrigin(t *testing.T) *fakeOrigin {
	t.Helper()
	o := &fakeOrigin{}
	o.policy.Store(contractPolicy)
	o.body.Store(`{"sku":"A1","remaining":5,"status":"in_stock","version":1}`)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if o.unready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready")
	})
	stockRead := func(w http.ResponseWriter, r *http.Request) {
		o.reads.Add(1)
		o.lastPath.Store(r.URL.RequestURI())
		o.lastXFF.Store(r.Header.Get("X-Forwarded-For"))
		if d := o.delay.Load(); d > 0 {
			select {
			case <-time.After(time.Duration(d)):
			case <-r.Context().Done():
				return
			}
		}
		if o.failing.Load() {
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, `{"error":{"code":"unavailable","message":"down"}}`, http.StatusServiceUnavailable)
			return
		}
		policy := o.policy.Load().(string)
		w.Header().Set("Cache-Control", policy)
		w.Header().Set("CDN-Cache-Control", policy)
		sku := r.PathValue("sku")
		w.Header().Set("xkey", "sku-"+sku+" live-L1")
		w.Header().Set("Cache-Tag", "sku-"+sku+",live-L1")
		w.Header().Set("ETag", fmt.Sprintf(`"%d"`, len(o.body.Load().(string))))
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, o.body.Load().(string))
	}
	mux.HandleFunc("GET /v1/products/{sku}/stock", stockRead)
	mux.HandleFunc("GET /v1/lives/{live}/stock", stockRead)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		o.other.Add(1)
		o.lastPath.Store(r.URL.RequestURI())
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"method":%q,"auth":%q}`, r.Method, r.Header.Get("Authorization"))
	})
	o.srv = httptest.NewServer(mux)
	t.Cleanup(o.srv.Close)
	return o
}

func (o *fakeOrigin) addr() string { return o.srv.Listener.Addr().String() }

// startEdge runs a real varnishd in front of the given origins and feeds.
func startEdge(t testing.TB, origins, feeds []string) *localedge.Edge {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logf, err := os.Create(t.TempDir() + "/varnishd.log")
	if err != nil {
		t.Fatal(err)
	}
	e, err := localedge.Start(ctx, localedge.Config{
		Addr: "127.0.0.1:0", PurgeAddr: "127.0.0.1:0",
		Origins: origins, Feeds: feeds,
		WorkDir: t.TempDir(), CacheSize: "32m", ProbeInterval: 200 * time.Millisecond,
	}, logf)
	if err != nil {
		b, _ := os.ReadFile(logf.Name())
		t.Fatalf("start edge: %v\n%s", err, b)
	}
	t.Cleanup(func() {
		cancel()
		if err := e.Stop(10 * time.Second); err != nil {
			t.Error(err)
		}
		logf.Close()
	})
	return e
}

type answer struct {
	status int
	header http.Header
	body   string
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

func do(t testing.TB, method, url string, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, url, err)
	}
	return answer{res.StatusCode, res.Header, string(b)}
}

// waitFor polls cond every 20ms for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting after %v for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStockReadsCachedForTheOriginsTTL(t *testing.T) {
	o := newFakeOrigin(t)
	e := startEdge(t, []string{o.addr()}, nil)

	first := do(t, "GET", e.URL()+"/v1/products/A1/stock")
	if first.status != 200 || first.body != o.body.Load().(string) {
		t.Fatalf("got %d %q, want the origin's answer", first.status, first.body)
	}
	// The cache key is the path: query strings, cookies, credentials and
	// the host name do not split it.
	for _, h := range [][]string{
		{},
		{"Cookie", "session=abc"},
		{"Authorization", "Bearer x"},
		{"Host", "LOCALHOST"},
	} {
		a := do(t, "GET", e.URL()+"/v1/products/A1/stock?utm_source=tv&_=123", h...)
		if a.status != 200 || a.header.Get("X-Cache") != "HIT" {
			t.Errorf("with %v: got %d X-Cache %q, want a cached 200", h, a.status, a.header.Get("X-Cache"))
		}
		if a.header.Get("Age") == "" {
			t.Errorf("with %v: no Age header", h)
		}
		if a.header.Get("xkey") != "" || a.header.Get("Cache-Tag") != "" {
			t.Errorf("with %v: tags %q %q leaked to the client", h, a.header.Get("xkey"), a.header.Get("Cache-Tag"))
		}
	}
	if n := o.reads.Load(); n != 1 {
		t.Fatalf("origin got %d stock reads, want 1", n)
	}
	if p := o.lastPath.Load(); p != "/v1/products/A1/stock" {
		t.Errorf("origin was asked for %q, want the path without its query", p)
	}
	if xff, _ := o.lastXFF.Load().(string); !strings.HasPrefix(xff, "127.0.0.1") {
		t.Errorf("X-Forwarded-For at the origin %q, want the client's address", xff)
	}
	// Conditional requests are answered by the edge.
	if a := do(t, "GET", e.URL()+"/v1/products/A1/stock", "If-None-Match", first.header.Get("ETag")); a.status != 304 {
		t.Errorf("If-None-Match: got %d, want 304", a.status)
	}

	// After the 1 s TTL the stale copy is served at once and refreshed in
	// the background (stale-while-revalidate).
	o.body.Store(`{"sku":"A1","remaining":4,"status":"in_stock","version":2}`)
	time.Sleep(1100 * time.Millisecond)
	if a := do(t, "GET", e.URL()+"/v1/products/A1/stock"); !strings.Contains(a.body, `"version":1`) {
		t.Errorf("just past the TTL: got %s, want the stale copy while it revalidates", a.body)
	}
	waitFor(t, 2*time.Second, "the background refresh", func() bool {
		return strings.Contains(do(t, "GET", e.URL()+"/v1/products/A1/stock").body, `"version":2`)
	})
	if n := o.reads.Load(); n != 2 {
		t.Errorf("origin got %d stock reads, want 2", n)
	}
}

func TestUncacheableAnswersAreNotCached(t *testing.T) {
	o := newFakeOrigin(t)
	e := startEdge(t, []string{o.addr()}, nil)
	for _, policy := range []string{"no-store", "private, max-age=5", "public", "max-age=x", ""} {
		o.policy.Store(policy)
		before := o.reads.Load()
		url := e.URL() + "/v1/products/P" + fmt.Sprint(len(policy)) + "/stock"
		do(t, "GET", url)
		do(t, "GET", url)
		if n := o.reads.Load() - before; n != 2 {
			t.Errorf("policy %q: origin got %d of 2 reads, want both (not cacheable)", policy, n)
		}
	}
}

func TestConcurrentMissesCollapseIntoOneOriginRequest(t *testing.T) {
	o := newFakeOrigin(t)
	o.delay.Store(int64(300 * time.Millisecond))
	e := startEdge(t, []string{o.addr()}, nil)
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a := do(t, "GET", e.URL()+"/v1/lives/L1/stock"); a.status != 200 {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.Errorf("%d of 200 reads failed", bad.Load())
	}
	if n := o.reads.Load(); n != 1 {
		t.Errorf("origin got %d reads for 200 concurrent misses, want 1", n)
	}
}

// shortPolicy makes stale-while-revalidate end quickly, so the test can
// reach the stale-if-error part of an object's life.
const shortPolicy = "public, max-age=1, stale-while-revalidate=1, stale-if-error=60"

func TestStaleServedWhileTheOriginFails(t *testing.T) {
	t.Run("origin answers 5xx", func(t *testing.T) {
		o := newFakeOrigin(t)
		o.policy.Store(shortPolicy)
		e := startEdge(t, []string{o.addr()}, nil)
		want := do(t, "GET", e.URL()+"/v1/products/A1/stock").body
		o.failing.Store(true)
		time.Sleep(2200 * time.Millisecond) // past max-age and stale-while-revalidate
		for i := range 5 {
			a := do(t, "GET", e.URL()+"/v1/products/A1/stock")
			if a.status != 200 || a.body != want {
				t.Fatalf("read %d: got %d %q, want the stale copy", i, a.status, a.body)
			}
		}
		if o.reads.Load() < 2 {
			t.Errorf("origin got %d reads, want the edge to have tried it again", o.reads.Load())
		}
		// A sku never cached has no stale copy: the error passes through.
		if a := do(t, "GET", e.URL()+"/v1/products/B2/stock"); a.status != 503 {
			t.Errorf("uncached sku: got %d, want 503", a.status)
		}
	})
	t.Run("origin hangs while its probe passes", func(t *testing.T) {
		o := newFakeOrigin(t)
		o.policy.Store(shortPolicy)
		e := startEdge(t, []string{o.addr()}, nil)
		want := do(t, "GET", e.URL()+"/v1/products/A1/stock").body
		time.Sleep(2200 * time.Millisecond)
		o.delay.Store(int64(time.Minute))
		defer o.srv.CloseClientConnections()
		start := time.Now()
		var wg sync.WaitGroup
		var bad atomic.Int64
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if a := do(t, "GET", e.URL()+"/v1/products/A1/stock"); a.status != 200 || a.body != want {
					bad.Add(1)
				}
			}()
		}
		wg.Wait()
		if bad.Load() > 0 {
			t.Errorf("%d of 20 readers did not get the stale copy", bad.Load())
		}
		// Readers wait for one short-timed fetch, not in a line of long ones.
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("20 readers took %v to get the stale copy, want a few seconds at most", took)
		}
	})
	t.Run("origin gone", func(t *testing.T) {
		o := newFakeOrigin(t)
		o.policy.Store(shortPolicy)
		e := startEdge(t, []string{o.addr()}, nil)
		want := do(t, "GET", e.URL()+"/v1/products/A1/stock").body
		time.Sleep(2200 * time.Millisecond)
		o.srv.CloseClientConnections()
		o.srv.Listener.Close()
		// At once (before the probes notice) and later (marked sick).
		for i := range 20 {
			a := do(t, "GET", e.URL()+"/v1/products/A1/stock")
			if a.status != 200 || a.body != want {
				t.Fatalf("read %d: got %d %q, want the stale copy", i, a.status, a.body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		a := do(t, "GET", e.URL()+"/v1/products/B2/stock")
		if a.status != 503 || !strings.Contains(a.body, `"code":"unavailable"`) || a.header.Get("Retry-After") == "" {
			t.Errorf("uncached sku: got %d %q Retry-After %q, want the contract's 503",
				a.status, a.body, a.header.Get("Retry-After"))
		}
	})
}

func TestPastStaleWhileRevalidateAHealthyOriginIsAskedFirst(t *testing.T) {
	o := newFakeOrigin(t)
	o.policy.Store(shortPolicy)
	e := startEdge(t, []string{o.addr()}, nil)
	do(t, "GET", e.URL()+"/v1/products/A1/stock")
	o.body.Store(`{"sku":"A1","remaining":0,"status":"sold_out","version":9}`)
	time.Sleep(2200 * time.Millisecond)
	if a := do(t, "GET", e.URL()+"/v1/products/A1/stock"); !strings.Contains(a.body, "sold_out") {
		t.Errorf("got %s, want the fresh answer: a copy past stale-while-revalidate is not served while the origin is healthy", a.body)
	}
}

func TestPurgeByTag(t *testing.T) {
	o := newFakeOrigin(t)
	e := startEdge(t, []string{o.addr()}, nil)
	purge := func(xkey string, base string) answer {
		t.Helper()
		if xkey == "\x00none" {
			return do(t, "PURGE", base+"/")
		}
		return do(t, "PURGE", base+"/", "xkey", xkey)
	}
	do(t, "GET", e.URL()+"/v1/products/A1/stock")
	do(t, "GET", e.URL()+"/v1/products/B1/stock")
	reads := o.reads.Load()

	// Hostile or malformed purges change nothing.
	for _, x := range []string{"\x00none", "", " ", "*", ".*", "sku-A1  live-L1", "sku-A1,sku-B1", "sku-A1\tx",
		strings.Repeat("a", 71), strings.TrimSpace(strings.Repeat("t ", 101)), "<script>"} {
		if a := purge(x, e.PurgeURL()); a.status != 400 || !strings.Contains(a.body, `"code":"invalid_request"`) {
			t.Errorf("xkey %q: got %d %s, want 400 invalid_request", x, a.status, a.body)
		}
	}
	if a := purge("sku-A1", e.URL()); a.status != 403 || !strings.Contains(a.body, `"code":"forbidden"`) {
		t.Errorf("PURGE on the public listener: got %d %s, want 403 forbidden", a.status, a.body)
	}
	if a := do(t, "GET", e.PurgeURL()+"/v1/products/A1/stock"); a.status != 405 {
		t.Errorf("GET on the purge listener: got %d, want 405", a.status)
	}
	if a := do(t, "GET", e.PurgeURL()+"/healthz", "X-Edge-Purged", `1,"evil":true`); a.body != `{"status":"ok"}` {
		t.Errorf("a client's X-Edge-Purged reached the answer: %s", a.body)
	}
	do(t, "GET", e.URL()+"/v1/products/A1/stock")
	do(t, "GET", e.URL()+"/v1/products/B1/stock")
	if n := o.reads.Load(); n != reads {
		t.Fatalf("refused purges still purged: origin got %d more reads", n-reads)
	}

	a := purge("sku-A1", e.PurgeURL())
	if a.status != 200 || a.body != `{"purged":1}` {
		t.Fatalf("purge sku-A1: got %d %s, want 200 {\"purged\":1}", a.status, a.body)
	}
	do(t, "GET", e.URL()+"/v1/products/A1/stock")
	do(t, "GET", e.URL()+"/v1/products/B1/stock")
	if n := o.reads.Load() - reads; n != 1 {
		t.Errorf("after purging sku-A1 the origin got %d reads, want 1 (A1 only)", n)
	}
	if a := purge("live-L1 sku-unknown", e.PurgeURL()); a.body != `{"purged":2}` {
		t.Errorf("purge live-L1: got %s, want both skus purged", a.body)
	}
}

func TestEverythingButStockReadsPasses(t *testing.T) {
	o := newFakeOrigin(t)
	e := startEdge(t, []string{o.addr()}, nil)
	for _, r := range []struct{ method, path string }{
		{"POST", "/v1/purchases"},
		{"GET", "/v1/orders/01J0"},
		{"PUT", "/admin/v1/lives/L1"},
		{"GET", "/admin/v1/lives/L1/report"},
		{"GET", "/v1/products/bad.sku/stock"},
		{"POST", "/v1/products/A1/stock"},
	} {
		before := o.other.Load() + o.reads.Load()
		for range 2 {
			a := do(t, r.method, e.URL()+r.path, "Authorization", "Bearer tok-1")
			if a.status != 200 {
				t.Fatalf("%s %s: got %d %s", r.method, r.path, a.status, a.body)
			}
			if r.method != "GET" && !strings.Contains(a.body, `"auth":"Bearer tok-1"`) {
				t.Errorf("%s %s: origin saw %s, want the Authorization header passed on", r.method, r.path, a.body)
			}
		}
		if n := o.other.Load() + o.reads.Load() - before; n != 2 {
			t.Errorf("%s %s: origin got %d of 2 requests, want both (never cached)", r.method, r.path, n)
		}
	}
}

func TestOriginsBalancedAndSickOnesSkipped(t *testing.T) {
	a, b := newFakeOrigin(t), newFakeOrigin(t)
	e := startEdge(t, []string{a.addr(), b.addr()}, nil)
	for range 10 {
		do(t, "POST", e.URL()+"/v1/purchases")
	}
	if a.other.Load() != 5 || b.other.Load() != 5 {
		t.Errorf("got %d and %d requests, want 5 each (round robin)", a.other.Load(), b.other.Load())
	}
	b.unready.Store(true)
	time.Sleep(time.Second) // two failed probes at 200ms
	before := a.other.Load()
	for range 10 {
		do(t, "POST", e.URL()+"/v1/purchases")
	}
	if n := a.other.Load() - before; n != 10 {
		t.Errorf("with b unready, a got %d of 10, want all", n)
	}
	b.unready.Store(false)
	time.Sleep(time.Second)
	// A read that one origin fails is retried on the other one.
	a.failing.Store(true)
	for i := range 4 {
		if r := do(t, "GET", e.URL()+fmt.Sprintf("/v1/products/F%d/stock", i)); r.status != 200 {
			t.Errorf("read %d with one origin failing: got %d, want 200 from the other", i, r.status)
		}
	}
	a.failing.Store(false)
	// A read that finds its origin gone is retried on the other one.
	b.srv.CloseClientConnections()
	b.srv.Listener.Close()
	for i := range 6 {
		if r := do(t, "GET", e.URL()+fmt.Sprintf("/v1/products/R%d/stock", i)); r.status != 200 {
			t.Errorf("read %d with one origin gone: got %d, want 200 from the other", i, r.status)
		}
	}
}

func TestEventStreamPipedUnbuffered(t *testing.T) {
	o := newFakeOrigin(t)
	release := make(chan struct{})
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("X-Accel-Buffering", "no")
		fmt.Fprintf(w, "retry: 1000\n\nevent: snapshot\ndata: {\"xff\":%q}\n\n", r.Header.Get("X-Forwarded-For"))
		w.(http.Flusher).Flush()
		select { // hold the stream open: the edge must not wait for its end
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(feed.Close)
	t.Cleanup(func() { close(release) })
	e := startEdge(t, []string{o.addr()}, []string{feed.Listener.Addr().String()})

	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(e.URL(), "http://"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /v1/lives/L1/events HTTP/1.1\r\nHost: edge\r\nAccept: text/event-stream\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	br := bufio.NewReader(conn)
	var got strings.Builder
	for !strings.Contains(got.String(), "event: snapshot") {
		line, err := br.ReadString('\n')
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("no event within 3s through the edge (buffered?); got %q", got.String())
			}
			t.Fatalf("read: %v; got %q", err, got.String())
		}
		got.WriteString(line)
	}
	if !strings.Contains(got.String(), "text/event-stream") {
		t.Errorf("response %q lacks the event-stream content type", got.String())
	}
	line, _ := br.ReadString('\n')
	if !strings.Contains(line, `"xff":"127.0.0.1`) {
		t.Errorf("feed saw %q, want X-Forwarded-For naming the client", line)
	}
	if n := o.other.Load() + o.reads.Load(); n != 0 {
		t.Errorf("origin got %d requests for the event stream, want 0", n)
	}
}

func TestEventStreamWithNoFeedIsTheContractsError(t *testing.T) {
	o := newFakeOrigin(t)
	gone := httptest.NewServer(http.NotFoundHandler())
	feedAddr := gone.Listener.Addr().String()
	gone.Close()
	e := startEdge(t, []string{o.addr()}, []string{feedAddr})
	waitFor(t, 5*time.Second, "a 503 once the probes mark the feed sick", func() bool {
		req, _ := http.NewRequest("GET", e.URL()+"/v1/lives/L1/events", nil)
		res, err := client.Do(req)
		if err != nil {
			return false // an empty reply while the feed still counts as healthy
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode == 503 && strings.Contains(string(b), `"code":"unavailable"`) && res.Header.Get("Retry-After") != ""
	})
}

func TestConfigRefusesBadValues(t *testing.T) {
	good := localedge.Config{Addr: "127.0.0.1:8000", PurgeAddr: "127.0.0.1:8001", Origins: []string{"127.0.0.1:8080"}}
	if _, err := localedge.RenderVCL(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	many := make([]string, 65)
	for i := range many {
		many[i] = fmt.Sprintf("127.0.0.1:%d", 9000+i)
	}
	for _, tt := range []struct {
		name string
		edit func(*localedge.Config)
	}{
		{"no origins", func(c *localedge.Config) { c.Origins = nil }},
		{"too many origins", func(c *localedge.Config) { c.Origins = many }},
		{"origin without port", func(c *localedge.Config) { c.Origins = []string{"127.0.0.1"} }},
		{"origin port 0", func(c *localedge.Config) { c.Origins = []string{"127.0.0.1:0"} }},
		{"origin port too big", func(c *localedge.Config) { c.Origins = []string{"127.0.0.1:65536"} }},
		{"origin port with sign", func(c *localedge.Config) { c.Origins = []string{"127.0.0.1:+80"} }},
		{"VCL injection in host", func(c *localedge.Config) { c.Origins = []string{`x"; } backend evil { .host = "1.2.3.4:80`} }},
		{"newline in host", func(c *localedge.Config) { c.Origins = []string{"a\nb:80"} }},
		{"host too long", func(c *localedge.Config) { c.Origins = []string{strings.Repeat("a", 300) + ":80"} }},
		{"bad IPv6", func(c *localedge.Config) { c.Feeds = []string{"[fe80::1::2]:80"} }},
		{"listen address garbage", func(c *localedge.Config) { c.Addr = "eight thousand" }},
		{"purge address empty", func(c *localedge.Config) { c.PurgeAddr = "" }},
		{"cache size", func(c *localedge.Config) { c.CacheSize = "lots" }},
		{"cache size injection", func(c *localedge.Config) { c.CacheSize = "1m -p x=1" }},
		{"probe too fast", func(c *localedge.Config) { c.ProbeInterval = time.Millisecond }},
	} {
		c := good
		tt.edit(&c)
		if _, err := localedge.RenderVCL(c); !errors.Is(err, localedge.ErrInvalidConfig) {
			t.Errorf("%s: got %v, want ErrInvalidConfig", tt.name, err)
		}
	}
	ok := good
	ok.Origins = []string{"[::1]:8080", "origin-2.internal:8080"}
	vcl, err := localedge.RenderVCL(ok)
	if err != nil {
		t.Fatalf("IPv6 and host name: %v", err)
	}
	for _, want := range []string{`.host = "::1";`, `.host = "origin-2.internal";`, `origins.add_backend(origin_1);`} {
		if !strings.Contains(string(vcl), want) {
			t.Errorf("VCL lacks %q", want)
		}
	}
}

// TestSecondEdgeOnOneWorkDirRefused: a varnishd already running on the
// work dir answers health checks; the second start must not take it for
// its own.
func TestSecondEdgeOnOneWorkDirRefused(t *testing.T) {
	o := newFakeOrigin(t)
	dir := t.TempDir()
	cfg := localedge.Config{Addr: "127.0.0.1:0", PurgeAddr: "127.0.0.1:0", Origins: []string{o.addr()}, WorkDir: dir, CacheSize: "16m"}
	first, err := localedge.Start(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Stop(10 * time.Second)
	second, err := localedge.Start(context.Background(), cfg, io.Discard)
	if err == nil {
		second.Stop(10 * time.Second)
		t.Fatalf("second edge on %s started (%s), want it refused", dir, second.URL())
	}
	if a := do(t, "GET", first.PurgeURL()+"/healthz"); a.status != 200 {
		t.Errorf("the first edge stopped answering: %d", a.status)
	}
}
