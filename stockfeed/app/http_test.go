package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livecommerce/internal/sseclient"
	"livecommerce/internal/stock"
	"livecommerce/stockfeed/app"
	"livecommerce/stockfeed/feedtest"
)

// slack is the time given to anything that should happen "soon": the
// machine is small and shared, so it is seconds, not milliseconds.
const slack = 10 * time.Second

// httpFeed is a feed on its own NATS server, with live L1 holding A1 at
// versions 1 then 2 (so A1:1 is a resumable position), and the requests
// these tests make of it.
type httpFeed struct {
	t    *testing.T
	nats *feedtest.NATS
	pub  *feedtest.Publisher
	*feedtest.Feed
	// client shows redirects as they are.
	client *http.Client
}

func newHTTPFeed(t *testing.T, tweak func(*app.Config)) *httpFeed {
	t.Helper()
	n := feedtest.StartNATS(t)
	f := &httpFeed{t: t, nats: n, Feed: feedtest.Start(t, n.URL, tweak), pub: feedtest.NewPublisher(t, n.URL),
		client: &http.Client{
			Timeout:       slack,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
	f.pub.Level(feedtest.Level("L1", "A1", 10, 1))
	f.pub.Level(feedtest.Level("L1", "A1", 9, 2))
	return f
}

// do sends a short request and returns the response with its body read.
func (f *httpFeed) do(method, path string, header http.Header) (*http.Response, []byte) {
	f.t.Helper()
	return f.request(f.URL, method, path, header)
}

// ops is do on the ops listener.
func (f *httpFeed) ops(method, path string) (*http.Response, []byte) {
	f.t.Helper()
	return f.request(f.OpsURL, method, path, nil)
}

func (f *httpFeed) request(base, method, path string, header http.Header) (*http.Response, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, body
}

// raw writes a GET exactly as given, for what net/http's client refuses
// to send (control bytes, unencoded paths), and returns the response with
// its body read (unless it is an event stream).
func (f *httpFeed) raw(target string, headerLines ...string) (*http.Response, []byte) {
	f.t.Helper()
	conn, err := net.Dial("tcp", f.Addr())
	if err != nil {
		f.t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(slack))
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: feed\r\nConnection: close\r\n", target)
	for _, h := range headerLines {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		f.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		f.t.Fatalf("GET %.100q: %v", target, err)
	}
	if resp.Header.Get("Content-Type") == "text/event-stream" {
		return resp, nil // a stream: it would not end
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// open requests L1's stream with header; any status is returned.
func (f *httpFeed) open(header http.Header) *feedtest.Stream {
	f.t.Helper()
	return f.openLive("L1", "", header)
}

func (f *httpFeed) openLive(live, lastEventID string, header http.Header) *feedtest.Stream {
	f.t.Helper()
	s, err := feedtest.Open(f.t, f.URL, live, lastEventID, header)
	if err != nil {
		f.t.Fatalf("open stream of %s: %v", live, err)
	}
	return s
}

// dial opens L1's stream, which must be admitted.
func (f *httpFeed) dial(lastEventID string) *feedtest.Stream {
	f.t.Helper()
	return feedtest.Dial(f.t, f.URL, "L1", lastEventID)
}

// admitted opens L1's stream until it is admitted, failing after slack.
func (f *httpFeed) admitted(header http.Header) *feedtest.Stream {
	f.t.Helper()
	var s *feedtest.Stream
	f.until(slack, "a stream admitted", func() bool {
		s = f.open(header)
		if s.Resp.StatusCode == http.StatusOK {
			return true
		}
		s.Close()
		return false
	})
	return s
}

// until polls cond until it holds, failing the test after timeout.
func (f *httpFeed) until(timeout time.Duration, what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// series reads one series from /metrics, e.g.
// stockfeed_events_in_total{result="malformed"}.
func (f *httpFeed) series(name string) float64 {
	f.t.Helper()
	resp, body := f.ops(http.MethodGet, "/metrics")
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("/metrics: %s", resp.Status)
	}
	for line := range strings.Lines(string(body)) {
		n, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && n == name {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				f.t.Fatalf("/metrics: %q: %v", line, err)
			}
			return v
		}
	}
	f.t.Fatalf("/metrics has no series %s", name)
	return 0
}

// jetStream connects to the feed's NATS server.
func (f *httpFeed) jetStream() jetstream.JetStream {
	f.t.Helper()
	nc, err := nats.Connect(f.nats.URL)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		f.t.Fatal(err)
	}
	return js
}

// snapshot decodes a snapshot event's data.
func (f *httpFeed) snapshot(data string) feedtest.Snapshot {
	f.t.Helper()
	var s feedtest.Snapshot
	if err := json.Unmarshal([]byte(data), &s); err != nil {
		f.t.Fatalf("snapshot %q: %v", data, err)
	}
	return s
}

// errorBody is the contract's error body.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// wantAPIError fails unless resp is the contract's JSON error with this
// status and code.
func wantAPIError(t *testing.T, what string, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s: status %d, want %d (body %.200s)", what, resp.StatusCode, status, body)
		return
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", what, resp.Header.Get("Content-Type"))
	}
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Errorf("%s: body %q is not the error JSON: %v", what, body, err)
		return
	}
	if e.Error.Code != code || e.Error.Message == "" {
		t.Errorf("%s: error %+v, want code %q and a message", what, e.Error, code)
	}
}

// wantRefused is wantAPIError for a stream that was not admitted.
func wantRefused(t *testing.T, what string, s *feedtest.Stream, status int, code string) {
	t.Helper()
	body, _ := io.ReadAll(s.Resp.Body)
	wantAPIError(t, what, s.Resp, body, status, code)
}

// wantRetryAfter returns the Retry-After seconds, failing unless there
// is one.
func wantRetryAfter(t *testing.T, what string, resp *http.Response) int {
	t.Helper()
	n, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || n < 1 {
		t.Errorf("%s: Retry-After %q, want a positive number of seconds", what, resp.Header.Get("Retry-After"))
	}
	return n
}

// firstData skips the retry hint and returns the first event with data.
func firstData(t *testing.T, s *feedtest.Stream) sseclient.Block {
	t.Helper()
	b, err := s.NextEvent(slack)
	if err != nil {
		t.Fatalf("first event: %v", err)
	}
	return b
}

// TestInvalidLiveIDs: a live id that is not ^[A-Za-z0-9_-]{1,64}$ never
// reaches NATS. The mux itself redirects paths with dot segments or an
// empty segment to their cleaned form, which is not the events route, so
// those never reach the handler at all.
func TestInvalidLiveIDs(t *testing.T) {
	f := newHTTPFeed(t, nil)
	rejected := []string{
		strings.Repeat("L", 65),
		strings.Repeat("L", 1000),
		"%2e%2e",
		"%2E%2E",
		"%2e",
		"L1%2e",
		"..%2F..%2Fetc",
		"a%2Fb",
		"a.b",
		"L1.%3E",
		"*",
		">",
		"%2A",
		"%3E",
		"L1:1",
		"~",
		"a+b",
		"%20",
		"L%201",
		"%C3%A9",       // é
		"%EF%BC%A1",    // fullwidth A
		"%D0%901",      // Cyrillic A, then 1
		"%F0%9F%99%82", // emoji
		"%FF",          // not UTF-8
		"%00",
		"L1%00",
		"%0A",
		"L1%0D%0AX-Evil:%201",
		"%25",
		"%2500",
	}
	for _, id := range rejected {
		resp, body := f.raw("/v1/lives/" + id + "/events")
		wantAPIError(t, "live id "+id, resp, body, http.StatusBadRequest, "invalid_request")
	}

	// Cleaned by the mux: a redirect to a path that is no stream.
	for _, path := range []string{"/v1/lives/../events", "/v1/lives/./events", "/v1/lives//events", "/v1/lives/L1/../../events"} {
		resp, _ := f.raw(path)
		loc := resp.Header.Get("Location")
		if resp.StatusCode/100 != 3 || loc == "" || strings.Contains(loc, "..") || strings.Contains(loc, "//") {
			t.Errorf("GET %s: %d Location %q, want a redirect to the cleaned path", path, resp.StatusCode, loc)
			continue
		}
		resp, body := f.do(http.MethodGet, loc, nil)
		wantAPIError(t, "GET "+loc, resp, body, http.StatusNotFound, "not_found")
	}

	// What net/http cannot parse as a request is refused before routing.
	for _, target := range []string{"/v1/lives/L\x001/events", "/v1/lives/L 1/events"} {
		resp, _ := f.raw(target)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %q: %d, want 400", target, resp.StatusCode)
		}
	}
	// Unencoded UTF-8 in the path is read as the id "é", and refused.
	resp, body := f.raw("/v1/lives/\xc3\xa9/events")
	wantAPIError(t, "raw UTF-8 live id", resp, body, http.StatusBadRequest, "invalid_request")

	if got := f.Following(); got != 0 {
		t.Errorf("after invalid ids the feed follows %d lives, want 0", got)
	}
	// And the feed still serves.
	s := f.dial("")
	if b := firstData(t, s); b.Type != "snapshot" {
		t.Errorf("after hostile ids: first event %+v, want the snapshot", b)
	}
}

// TestHostileLastEventID: a Last-Event-ID the feed did not write gets a
// fresh snapshot, never an error.
func TestHostileLastEventID(t *testing.T) {
	f := newHTTPFeed(t, nil)

	// The control: a position the feed knows resumes (no snapshot), so a
	// hostile id read as a known one would show.
	s := f.dial("A1:1")
	if b := firstData(t, s); b.Type != "stock" || b.LastEventID != "A1:2" {
		t.Fatalf("resume from A1:1: first event %+v, want stock A1:2", b)
	}
	s.Close()

	hostile := []string{
		"garbage",
		"A1:0",
		"A1:-1",
		"A1:01",
		"A1:+1",
		"A1: 1",
		"A1:0x1",
		"A1:1e0",
		"A1:1.0",
		"A1:99999999999999999999",
		"A1:9223372036854775808",
		"A1:3", // a version never published
		"a1:1", // ids are case-sensitive
		"B9:1", // a sku the live does not have
		"A1:1:1",
		"A1",
		":",
		"::",
		":1",
		"../x:1",
		"../../A1:1",
		"%41%31:1",
		"ＡＢ:1",
		"A1:１",
		"\xff\xfe:1",
		"A1:1\t2",
		strings.Repeat("A", 10<<10),
		strings.Repeat("A", 10<<10) + ":1",
		"A1:" + strings.Repeat("9", 10<<10),
		strings.Repeat("A1:1,", 2000),
	}
	for _, id := range hostile {
		s := f.openLive("L1", id, nil)
		if s.Resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(s.Resp.Body)
			t.Errorf("Last-Event-ID %.40q: %s %s, want 200", id, s.Resp.Status, body)
			continue
		}
		b := firstData(t, s)
		if b.Type != "snapshot" || b.LastEventID != "A1:2" {
			t.Errorf("Last-Event-ID %.40q: first event %+v, want the snapshot with id A1:2", id, b)
		} else if snap := f.snapshot(b.Data); len(snap.Products) != 1 || snap.Products[0].Version != 2 {
			t.Errorf("Last-Event-ID %.40q: snapshot %+v, want A1 at version 2", id, snap)
		}
		s.Close()
	}

	// Control bytes are not valid in a header value: net/http refuses the
	// request before the handler sees it.
	for _, h := range []string{"Last-Event-ID: A1:1\x00", "Last-Event-ID: \x00", "Last-Event-ID: A1:1\x7f"} {
		resp, _ := f.raw("/v1/lives/L1/events", h)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: %d, want 400", h, resp.StatusCode)
		}
	}
	s = f.dial("")
	if b := firstData(t, s); b.Type != "snapshot" {
		t.Errorf("after hostile ids: first event %+v, want the snapshot", b)
	}
}

// TestLargeHeaders: a request with oversized headers is refused with 431,
// and the feed carries on. MaxHeaderBytes is 16 KB; net/http reads 4 KB
// beyond it before refusing, so the sizes here are over 20 KB.
func TestLargeHeaders(t *testing.T) {
	f := newHTTPFeed(t, nil)
	for _, h := range []string{
		"X-Padding: " + strings.Repeat("x", 20<<10),
		"Last-Event-ID: " + strings.Repeat("A", 21<<10),
		"X-Forwarded-For: " + strings.Repeat("1.2.3.4, ", 3000),
	} {
		resp, _ := f.raw("/v1/lives/L1/events", h)
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%.30q (%d bytes): %d, want 431", h, len(h), resp.StatusCode)
		}
	}
	many := make([]string, 1000)
	for i := range many {
		many[i] = fmt.Sprintf("X-H%d: %s", i, strings.Repeat("y", 20))
	}
	resp, _ := f.raw("/v1/lives/L1/events", many...)
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("1000 headers: %d, want 431", resp.StatusCode)
	}
	if resp, _ := f.do(http.MethodGet, "/readyz", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz after large headers: %d", resp.StatusCode)
	}
	f.dial("")
}

// TestMalformedPayloads: whatever arrives on a live's subject, the stream
// stays up, nothing malformed reaches a viewer, and it is counted.
func TestMalformedPayloads(t *testing.T) {
	f := newHTTPFeed(t, nil)
	s := f.dial("")
	if b := firstData(t, s); b.Type != "snapshot" {
		t.Fatalf("first event %+v, want the snapshot", b)
	}
	const malformed = `stockfeed_events_in_total{result="malformed"}`
	before := f.series(malformed)

	event := func(mutate func(m map[string]any)) []byte {
		l := feedtest.Level("L1", "A1", 5, 50)
		b, err := json.Marshal(stock.NewEvent(l))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		mutate(m)
		b, err = json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	subject := stock.Subject("L1", "A1")
	bad := []struct {
		name string
		data []byte
	}{
		{"not JSON", []byte("stock changed!")},
		{"wrong schema", event(func(m map[string]any) { m["schema"] = 2 })},
		{"negative remaining", event(func(m map[string]any) { m["remaining"] = -1 })},
		{"live_id not the subject's", event(func(m map[string]any) { m["live_id"] = "L2" })},
		{"sku not the subject's", event(func(m map[string]any) { m["sku"] = "B2" })},
		{"empty", nil},
	}
	for _, b := range bad {
		f.pub.Raw(subject, b.data)
	}
	// Over the stream's 4 KB message limit: JetStream refuses to store it,
	// so the feed never reads it (and does not count it). Published the
	// way the origin publishes, without waiting for the stream.
	nc := f.pub.Conn()
	if err := nc.Publish(subject, append(event(func(map[string]any) {}), make([]byte, 5<<10)...)); err != nil {
		t.Fatal(err)
	}
	if err := nc.FlushTimeout(slack); err != nil {
		t.Fatal(err)
	}

	f.pub.Level(feedtest.Level("L1", "A1", 8, 3))
	b, err := s.NextEvent(slack)
	if err != nil || b.Type != "stock" || b.LastEventID != "A1:3" {
		t.Fatalf("after malformed payloads: %+v, %v; want the valid change A1:3 next", b, err)
	}
	var l stock.Level
	if err := json.Unmarshal([]byte(b.Data), &l); err != nil || l.Remaining != 8 || l.LiveID != "L1" {
		t.Errorf("delivered %+v, want A1 with 8 remaining", l)
	}
	// The source delivers in stream order, so by now every bad message
	// has been read.
	if got := f.series(malformed) - before; got != float64(len(bad)) {
		t.Errorf("%s rose by %v, want %d", malformed, got, len(bad))
	}
	// Nothing malformed is queued behind it: the next event is the next
	// valid change.
	f.pub.Level(feedtest.Level("L1", "A1", 7, 4))
	if b, err := s.NextEvent(slack); err != nil || b.LastEventID != "A1:4" {
		t.Errorf("next event %+v, %v; want A1:4", b, err)
	}
	// A new viewer's snapshot holds only valid state.
	s2 := f.dial("")
	snap := f.snapshot(firstData(t, s2).Data)
	if len(snap.Products) != 1 || snap.Products[0].SKU != "A1" || snap.Products[0].Version != 4 {
		t.Errorf("snapshot after malformed payloads = %+v, want only A1 at version 4", snap)
	}
}

// TestUnknownLive: a live the stream knows nothing of is a 404, and the
// feed stops following it at once.
func TestUnknownLive(t *testing.T) {
	// Ten made-up lives from one address are its whole burst of new
	// lives (TestNewLivesPerClient); this test is about what each costs.
	f := newHTTPFeed(t, func(c *app.Config) { c.NewLivesPerClient = 100 })
	for i := range 10 {
		live := fmt.Sprintf("NOPE%d", i)
		s := f.openLive(live, "", nil)
		wantRefused(t, "live "+live, s, http.StatusNotFound, "not_found")
		if got := f.Following(); got != 0 {
			t.Fatalf("after a 404 for %s the feed follows %d lives, want 0", live, got)
		}
	}
	if got := f.series("stockfeed_lives_followed"); got != 0 {
		t.Errorf("stockfeed_lives_followed = %v, want 0", got)
	}
	// A known live still works.
	s := f.dial("")
	if b := firstData(t, s); b.Type != "snapshot" {
		t.Errorf("first event %+v, want the snapshot", b)
	}
}

// TestUnknownLiveLeavesNoConsumer: following a live costs a JetStream
// consumer; a made-up live must not leave one behind on the server.
func TestUnknownLiveLeavesNoConsumer(t *testing.T) {
	f := newHTTPFeed(t, nil)
	for i := range 5 {
		wantRefused(t, "unknown live", f.openLive(fmt.Sprintf("NOPE%d", i), "", nil), http.StatusNotFound, "not_found")
	}
	js := f.jetStream()
	f.until(slack, "consumers of unknown lives deleted", func() bool {
		s, err := js.Stream(context.Background(), "STOCK")
		return err == nil && s.CachedInfo().State.Consumers == 0
	})
}

// TestPerIPCap: the third stream from one address is a 429, and a closed
// stream makes room.
func TestPerIPCap(t *testing.T) {
	f := newHTTPFeed(t, func(c *app.Config) { c.MaxConnsPerIP = 2 })
	a := f.dial("")
	f.dial("")
	s := f.open(nil)
	wantRefused(t, "third stream", s, http.StatusTooManyRequests, "rate_limited")
	if n := wantRetryAfter(t, "429", s.Resp); n > 3 {
		t.Errorf("Retry-After %d, want at most Retry+RetryJitter (3s)", n)
	}
	a.Close()
	f.admitted(nil)
}

// TestMaxConns: the instance's cap is a 503 that sends the viewer
// elsewhere.
func TestMaxConns(t *testing.T) {
	f := newHTTPFeed(t, func(c *app.Config) { c.MaxConns = 2 })
	a := f.dial("")
	f.dial("")
	for _, xff := range []string{"", "198.51.100.1"} { // another address does not help
		s := f.open(http.Header{"X-Forwarded-For": {xff}})
		wantRefused(t, "third stream", s, http.StatusServiceUnavailable, "unavailable")
		wantRetryAfter(t, "503", s.Resp)
	}
	a.Close()
	f.admitted(nil)
}

// TestTrustedProxy: behind a trusted proxy each forwarded client has its
// own allowance, and only the proxy's own entry counts.
func TestTrustedProxy(t *testing.T) {
	f := newHTTPFeed(t, func(c *app.Config) {
		c.MaxConnsPerIP = 2
		c.TrustedProxies = "127.0.0.1"
	})
	xff := func(v ...string) http.Header { return http.Header{"X-Forwarded-For": v} }
	for _, client := range []string{"203.0.113.1", "203.0.113.2"} {
		for i := range 2 {
			if s := f.open(xff(client)); s.Resp.StatusCode != http.StatusOK {
				t.Fatalf("stream %d of %s: %s, want 200", i+1, client, s.Resp.Status)
			}
		}
	}
	// A third stream of 203.0.113.1 however the client dresses it up: the
	// proxy appends the address it saw, and that is what counts.
	for _, h := range []http.Header{
		xff("203.0.113.1"),
		xff("198.51.100.7, 203.0.113.1"),
		xff("203.0.113.2,203.0.113.1"),
		xff("::ffff:203.0.113.1"),
		xff("198.51.100.7", "203.0.113.1"), // the proxy added a line of its own
	} {
		s := f.open(h)
		wantRefused(t, fmt.Sprintf("X-Forwarded-For %q", h.Values("X-Forwarded-For")), s, http.StatusTooManyRequests, "rate_limited")
	}
	// A garbled header counts against the proxy itself.
	garbled := []string{"garbage", "203.0.113.1, garbage", "203.0.113.1,", "fe80::1%eth0", "203.0.113.1:443", "[::1]", "\xff"}
	for i, v := range garbled {
		s := f.open(xff(v))
		want := http.StatusOK
		if i >= 2 {
			want = http.StatusTooManyRequests
		}
		if s.Resp.StatusCode != want {
			t.Errorf("X-Forwarded-For %q: %s, want %d (counted against 127.0.0.1)", v, s.Resp.Status, want)
		}
	}
}

// TestUntrustedXFF: a client not on a trusted address cannot pick its own
// address with X-Forwarded-For.
func TestUntrustedXFF(t *testing.T) {
	for _, trusted := range []string{"", "10.0.0.0/8"} {
		t.Run("trusted="+trusted, func(t *testing.T) {
			f := newHTTPFeed(t, func(c *app.Config) {
				c.MaxConnsPerIP = 2
				c.TrustedProxies = trusted
			})
			values := []string{"203.0.113.1", "203.0.113.2", "203.0.113.3", "198.51.100.1, 10.0.0.1", "::1", "127.0.0.2", "garbage", ""}
			for i, v := range values {
				s := f.open(http.Header{"X-Forwarded-For": {v}})
				if i < 2 {
					if s.Resp.StatusCode != http.StatusOK {
						t.Fatalf("stream %d: %s, want 200", i+1, s.Resp.Status)
					}
					continue
				}
				wantRefused(t, fmt.Sprintf("stream %d with X-Forwarded-For %q", i+1, v), s, http.StatusTooManyRequests, "rate_limited")
			}
		})
	}
}

// TestCORS: live pages on other origins may read the stream.
func TestCORS(t *testing.T) {
	f := newHTTPFeed(t, nil)
	origin := http.Header{"Origin": {"https://shop.example"}}
	s := f.dial("")
	s.Close()
	s = f.open(origin)
	if s.Resp.StatusCode != http.StatusOK {
		t.Fatalf("GET with Origin: %s", s.Resp.Status)
	}
	if got := s.Resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Access-Control-Allow-Origin = %q, want *", got)
	}
	s.Close()

	// A page sending Last-Event-ID from script (a polyfill) preflights.
	resp, _ := f.do(http.MethodOptions, "/v1/lives/L1/events", http.Header{
		"Origin":                         {"https://shop.example"},
		"Access-Control-Request-Method":  {"GET"},
		"Access-Control-Request-Headers": {"last-event-id"},
	})
	if resp.StatusCode/100 != 2 {
		t.Errorf("preflight: %s, want 2xx", resp.Status)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("preflight Access-Control-Allow-Origin = %q, want *", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "GET") {
		t.Errorf("preflight Access-Control-Allow-Methods = %q, want GET", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(strings.ToLower(got), "last-event-id") {
		t.Errorf("preflight Access-Control-Allow-Headers = %q, want last-event-id", got)
	}
	// Only what the stream needs is allowed.
	for _, h := range []http.Header{
		{"Access-Control-Request-Method": {"POST"}},
		{"Access-Control-Request-Method": {"GET"}, "Access-Control-Request-Headers": {"authorization"}},
	} {
		h.Set("Origin", "https://shop.example")
		resp, _ := f.do(http.MethodOptions, "/v1/lives/L1/events", h)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("preflight %v: Access-Control-Allow-Origin %q, want none", h, got)
		}
	}

	t.Run("listed origins only", func(t *testing.T) {
		f := newHTTPFeed(t, func(c *app.Config) { c.CORSOrigins = "https://a.example" })
		s := f.open(http.Header{"Origin": {"https://b.example"}})
		if got := s.Resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("Origin b.example: Access-Control-Allow-Origin = %q, want none", got)
		}
		s.Close()
		s = f.open(http.Header{"Origin": {"https://a.example"}})
		if got := s.Resp.Header.Get("Access-Control-Allow-Origin"); got != "https://a.example" {
			t.Errorf("Origin a.example: Access-Control-Allow-Origin = %q, want https://a.example", got)
		}
		if got := s.Resp.Header.Values("Vary"); !strings.Contains(strings.Join(got, ","), "Origin") {
			t.Errorf("Vary = %q, want Origin (the answer depends on it)", got)
		}
		resp, _ := f.do(http.MethodOptions, "/v1/lives/L1/events", http.Header{
			"Origin": {"https://b.example"}, "Access-Control-Request-Method": {"GET"},
		})
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("preflight from b.example: Access-Control-Allow-Origin = %q, want none", got)
		}
	})
}

// TestRoutes: the stream's headers, and the JSON answers of everything
// around it.
func TestRoutes(t *testing.T) {
	f := newHTTPFeed(t, nil)
	s := f.dial("")
	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-store",
		"X-Accel-Buffering": "no",
	} {
		if got := s.Resp.Header.Get(k); got != want {
			t.Errorf("stream %s = %q, want %q", k, got, want)
		}
	}
	s.Close()

	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead} {
		resp, body := f.do(m, "/v1/lives/L1/events", nil)
		switch {
		case m == http.MethodHead && resp.StatusCode != http.StatusMethodNotAllowed: // no body to read
			t.Errorf("HEAD events: %d, want 405", resp.StatusCode)
		case m != http.MethodHead:
			wantAPIError(t, m+" events", resp, body, http.StatusMethodNotAllowed, "invalid_request")
		}
		if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "GET") {
			t.Errorf("%s events: Allow %q, want GET in it", m, allow)
		}
	}
	for name, do := range map[string]func(method, path string) (*http.Response, []byte){
		"public": func(method, path string) (*http.Response, []byte) { return f.do(method, path, nil) },
		"ops":    f.ops,
	} {
		path := "/readyz"
		if name == "ops" {
			path = "/healthz"
		}
		resp, body := do(http.MethodPost, path)
		wantAPIError(t, name+": POST "+path, resp, body, http.StatusMethodNotAllowed, "invalid_request")
		if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "GET") {
			t.Errorf("%s: POST %s: Allow %q, want GET in it", name, path, allow)
		}
	}

	// The ops routes are not on the public listener, whatever the
	// spelling; only the bare readiness probe is.
	for _, path := range []string{"/", "/nope", "/v1/lives/L1", "/v1/lives/L1/events/", "/v1/lives/L1/events/x", "/v2/lives/L1/events", "/V1/lives/L1/events",
		"/metrics", "/healthz", "/METRICS", "/metrics/", "/Healthz", "/debug/pprof/"} {
		resp, body := f.do(http.MethodGet, path, nil)
		wantAPIError(t, "GET "+path, resp, body, http.StatusNotFound, "not_found")
	}
	resp, body := f.do(http.MethodGet, "/readyz", nil)
	if resp.StatusCode != http.StatusOK || string(body) != `{"status":"ok"}`+"\n" {
		t.Errorf("public /readyz: %d %q, want 200 and the status alone", resp.StatusCode, body)
	}

	resp, body = f.ops(http.MethodGet, "/healthz")
	if resp.StatusCode != http.StatusOK || !json.Valid(body) {
		t.Errorf("/healthz: %d %s", resp.StatusCode, body)
	}
	resp, body = f.ops(http.MethodGet, "/readyz")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"nats":"ok"`) {
		t.Errorf("ops /readyz: %d %s, want 200 with the checks", resp.StatusCode, body)
	}
	resp, body = f.ops(http.MethodGet, "/metrics")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "stockfeed_clients ") ||
		!strings.Contains(string(body), `http_request_duration_seconds_bucket{code="200",method="get",route="/v1/lives/{live_id}/events"`) {
		t.Errorf("/metrics: %d, want the feed's series and a latency histogram per route", resp.StatusCode)
	}
}

// TestReadyz follows NATS going away and coming back.
func TestReadyz(t *testing.T) {
	f := newHTTPFeed(t, nil)
	ready := func() (*http.Response, []byte) { return f.do(http.MethodGet, "/readyz", nil) }
	if resp, body := ready(); resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz: %d %s, want 200", resp.StatusCode, body)
	}

	f.nats.Stop()
	var resp *http.Response
	var body []byte
	f.until(2*slack, "/readyz 503 with NATS down", func() bool {
		resp, body = ready()
		return resp.StatusCode != http.StatusOK
	})
	wantAPIError(t, "/readyz with NATS down", resp, body, http.StatusServiceUnavailable, "unavailable")
	wantRetryAfter(t, "/readyz", resp)
	if strings.Contains(string(body), "nats") {
		t.Errorf("public /readyz with NATS down: %s, want no dependency named", body)
	}
	resp, body = f.ops(http.MethodGet, "/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"nats":"down"`) {
		t.Errorf("ops /readyz with NATS down: %d %s, want 503 naming nats", resp.StatusCode, body)
	}
	if resp, _ := f.ops(http.MethodGet, "/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz with NATS down: %d, want 200 (the process is alive)", resp.StatusCode)
	}

	f.nats.Start()
	f.until(2*slack, "/readyz 200 with NATS back", func() bool {
		resp, _ := ready()
		return resp.StatusCode == http.StatusOK
	})
	if b := firstData(t, f.dial("")); b.Type != "snapshot" {
		t.Errorf("with NATS back: first event %+v, want the snapshot", b)
	}
}

// TestHeartbeat: an idle stream carries a comment line every Heartbeat.
func TestHeartbeat(t *testing.T) {
	f := newHTTPFeed(t, func(c *app.Config) { c.Heartbeat = 200 * time.Millisecond })
	s := f.dial("")
	firstData(t, s)
	heartbeats := func(k int) {
		t.Helper()
		for i := range k {
			b, err := s.Next(slack)
			if err != nil {
				t.Fatalf("heartbeat %d: %v", i+1, err)
			}
			if b.Comments == 0 || b.Type != "" {
				t.Fatalf("heartbeat %d: %+v, want a comment-only block", i+1, b)
			}
		}
	}
	heartbeats(3)
	f.pub.Level(feedtest.Level("L1", "A1", 1, 3))
	if b, err := s.NextEvent(slack); err != nil || b.LastEventID != "A1:3" {
		t.Fatalf("event between heartbeats: %+v, %v", b, err)
	}
	heartbeats(2)
}

// TestRetryHint: the stream opens with a reconnection delay in
// [Retry, Retry+RetryJitter], spread across viewers.
func TestRetryHint(t *testing.T) {
	const retry, jitter = 500 * time.Millisecond, time.Second
	f := newHTTPFeed(t, func(c *app.Config) { c.Retry, c.RetryJitter = retry, jitter })
	seen := map[time.Duration]bool{}
	for range 6 {
		s := f.dial("")
		b, err := s.Next(slack)
		if err != nil {
			t.Fatal(err)
		}
		if b.Type != "" || b.Retry < retry || b.Retry > retry+jitter {
			t.Errorf("first block %+v, want a retry hint within [%s, %s]", b, retry, retry+jitter)
		}
		seen[b.Retry] = true
		s.Close()
	}
	if len(seen) < 2 {
		t.Errorf("6 viewers all got retry %v: no jitter", seen)
	}

	t.Run("no jitter", func(t *testing.T) {
		f := newHTTPFeed(t, func(c *app.Config) { c.Retry, c.RetryJitter = retry, 0 })
		b, err := f.dial("").Next(slack)
		if err != nil || b.Retry != retry {
			t.Errorf("first block %+v, %v; want retry %s", b, err, retry)
		}
	})
}

// waitListenerClosed waits until a connection to the feed is refused:
// Shutdown has closed the listener. A probe accepted meanwhile is closed
// at once, so it does not hold Shutdown up.
func (f *httpFeed) waitListenerClosed() {
	f.t.Helper()
	f.until(slack, "the listener closed", func() bool {
		conn, err := net.Dial("tcp", f.Addr())
		switch {
		case err == nil:
			conn.Close()
			return false
		case errors.Is(err, syscall.ECONNRESET):
			return false // queued as the listener closed
		case !errors.Is(err, syscall.ECONNREFUSED):
			f.t.Fatalf("dial during shutdown: %v, want the connection refused", err)
		}
		return true
	})
}

type goodbye struct {
	at       time.Time
	block    sseclient.Block
	retry    bool  // a retry hint came with it
	afterErr error // what ended the stream after it
	err      error
}

// awaitGoodbye reads s until its disconnect event.
func awaitGoodbye(s *feedtest.Stream) goodbye {
	retry := false
	for {
		b, err := s.Next(2 * slack)
		if err != nil {
			return goodbye{err: err}
		}
		if b.Retry > 0 {
			retry = true
		}
		if b.Type == "disconnect" {
			g := goodbye{at: time.Now(), block: b, retry: retry}
			_, g.afterErr = s.Next(slack)
			return g
		}
	}
}

// TestGracefulShutdown: every viewer is told to reconnect, at moments
// spread over the drain window, and new viewers are refused a connection
// (so that they retry, elsewhere).
func TestGracefulShutdown(t *testing.T) {
	const streams, window = 20, time.Second
	f := newHTTPFeed(t, func(c *app.Config) {
		c.DrainWindow = window
		c.ShutdownAfter = 10 * time.Second
	})
	results := make(chan goodbye, streams)
	for range streams {
		s := f.dial("")
		firstData(t, s)
		go func() { results <- awaitGoodbye(s) }()
	}
	f.until(slack, "every stream tracked", func() bool { return f.Streams() == streams })

	type outcome struct {
		err     error
		elapsed time.Duration
	}
	done := make(chan outcome, 1)
	start := time.Now()
	go func() {
		err := f.Shutdown(context.Background())
		done <- outcome{err, time.Since(start)}
	}()

	// Shutdown stops listening before it ends any stream: a viewer
	// coming during the drain is refused at the TCP level, which an
	// EventSource retries, rather than answered 503, which ends it.
	f.waitListenerClosed()
	if s, err := feedtest.Open(t, f.URL, "L1", "", nil); !errors.Is(err, syscall.ECONNREFUSED) {
		status := ""
		if s != nil {
			status = s.Resp.Status
		}
		t.Errorf("stream during the drain: %q, %v; want the connection refused", status, err)
	}

	var first, last time.Time
	for i := range streams {
		g := <-results
		if g.err != nil {
			t.Errorf("stream %d: %v before a disconnect event", i, g.err)
			continue
		}
		var data struct{ Reason, Message string }
		if err := json.Unmarshal([]byte(g.block.Data), &data); err != nil || data.Reason != "shutdown" || data.Message == "" {
			t.Errorf("disconnect data %q (%v), want reason shutdown and a message", g.block.Data, err)
		}
		if !g.retry {
			t.Errorf("stream %d: no retry hint with the disconnect", i)
		}
		if !errors.Is(g.afterErr, io.EOF) {
			t.Errorf("stream %d after the disconnect event: %v, want the end of the stream", i, g.afterErr)
		}
		if first.IsZero() || g.at.Before(first) {
			first = g.at
		}
		if g.at.After(last) {
			last = g.at
		}
	}
	// Twenty moments drawn over 1s all fall within 200ms with odds of
	// about 1 in 10^12.
	if spread := last.Sub(first); spread < window/5 {
		t.Errorf("streams ended within %s of each other, want them spread over the %s window", spread, window)
	}

	select {
	case o := <-done:
		if o.err != nil {
			t.Errorf("Shutdown = %v", o.err)
		}
		if o.elapsed > f.Config.ShutdownAfter {
			t.Errorf("Shutdown took %s, more than ShutdownAfter %s", o.elapsed, f.Config.ShutdownAfter)
		}
	case <-time.After(f.Config.ShutdownAfter + slack):
		t.Fatalf("Shutdown did not return within ShutdownAfter (%s) and %s more", f.Config.ShutdownAfter, slack)
	}
	if n := f.Streams(); n != 0 {
		t.Errorf("%d streams open after Shutdown", n)
	}
}

// TestShutdownRefusesWaitingViewer: a stream request already being served
// when shutdown begins (waiting for its live's history) is answered 503,
// so the viewer goes elsewhere, rather than given a stream that the drain
// would end at once. (net/http itself drops a request whose headers it
// finishes reading after Shutdown began.)
func TestShutdownRefusesWaitingViewer(t *testing.T) {
	f := newHTTPFeed(t, func(c *app.Config) { c.JoinTimeout = 8 * time.Second })
	// With NATS away, the first viewer of L1 waits in the handler for the
	// live's history.
	f.nats.Stop()
	type result struct {
		s   *feedtest.Stream
		err error
	}
	opened := make(chan result, 1)
	go func() {
		s, err := feedtest.Open(t, f.URL, "L1", "", nil)
		opened <- result{s, err}
	}()
	f.until(slack, "the viewer waiting for L1", func() bool { return f.Following() == 1 })

	done := make(chan error, 1)
	go func() { done <- f.Shutdown(context.Background()) }()
	f.waitListenerClosed()
	// The history can now be read: the viewer could join, but the feed is
	// shutting down.
	f.nats.Start()
	var r result
	select {
	case r = <-opened:
	case <-time.After(2 * slack):
		t.Fatal("the waiting viewer got no answer")
	}
	if r.err != nil {
		t.Fatalf("waiting viewer: %v, want a 503", r.err)
	}
	body, _ := io.ReadAll(r.s.Resp.Body)
	wantAPIError(t, "waiting viewer", r.s.Resp, body, http.StatusServiceUnavailable, "unavailable")
	wantRetryAfter(t, "waiting viewer", r.s.Resp)
	if !strings.Contains(string(body), "shutting down") {
		t.Errorf("waiting viewer: body %s, want it told the feed is shutting down", body)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown = %v", err)
		}
	case <-time.After(f.Config.ShutdownAfter + slack):
		t.Fatal("Shutdown did not return")
	}
}

// TestShutdownDeadline: a drain window longer than the shutdown budget
// does not hold the process: Shutdown ends every stream by its deadline.
func TestShutdownDeadline(t *testing.T) {
	f := newHTTPFeed(t, func(c *app.Config) {
		c.DrainWindow = 10 * time.Minute
		c.ShutdownAfter = time.Second
	})
	results := make(chan goodbye, 3)
	for range 3 {
		s := f.dial("")
		firstData(t, s)
		go func() { results <- awaitGoodbye(s) }()
	}
	f.until(slack, "every stream tracked", func() bool { return f.Streams() == 3 })
	start := time.Now()
	done := make(chan struct{})
	go func() {
		f.Shutdown(context.Background())
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(f.Config.ShutdownAfter + slack):
		t.Fatalf("Shutdown did not return within ShutdownAfter (%s) and %s more", f.Config.ShutdownAfter, slack)
	}
	for range 3 {
		g := <-results
		if g.err != nil {
			t.Errorf("stream ended without a disconnect event (%v), %s after Shutdown began", g.err, time.Since(start))
		}
	}
}

// TestNewLivesPerClient: one address asking for made-up lives is refused
// new lives once its burst is spent, while another address can still
// bring in a real live, and joining a live already followed costs nothing.
func TestNewLivesPerClient(t *testing.T) {
	f := newHTTPFeed(t, func(c *app.Config) {
		c.TrustedProxies = "127.0.0.1"
		c.NewLivesPerClient = 2 // a burst of 10
	})
	from := func(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }
	const prober, viewer = "203.0.113.66", "198.51.100.7"

	notFound := 0
	var refused *feedtest.Stream
	for i := 0; refused == nil; i++ {
		if i == 100 {
			t.Fatalf("%d made-up lives from one address all answered, want a 503 after its burst", i)
		}
		s := f.openLive(fmt.Sprintf("MADEUP%d", i), "", from(prober))
		switch s.Resp.StatusCode {
		case http.StatusNotFound:
			notFound++
			s.Close()
		case http.StatusServiceUnavailable:
			refused = s
		default:
			t.Fatalf("made-up live %d: %s, want 404 or 503", i, s.Resp.Status)
		}
	}
	// The burst is 5 seconds' worth; refills only add to it.
	if notFound < 10 {
		t.Errorf("%d made-up lives answered before the first 503, want at least the burst of 10", notFound)
	}
	wantRefused(t, "made-up live past the burst", refused, http.StatusServiceUnavailable, "unavailable")
	wantRetryAfter(t, "made-up live past the burst", refused.Resp)

	// Another address brings in a real live.
	s := f.openLive("L1", "", from(viewer))
	if s.Resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(s.Resp.Body)
		t.Fatalf("real live from another address: %s %s, want 200", s.Resp.Status, body)
	}
	if b := firstData(t, s); b.Type != "snapshot" {
		t.Errorf("real live from another address: first event %+v, want the snapshot", b)
	}
	// L1 is followed now: the prober joining it starts nothing new.
	s = f.openLive("L1", "", from(prober))
	if s.Resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(s.Resp.Body)
		t.Errorf("followed live from the limited address: %s %s, want 200", s.Resp.Status, body)
	}
}

// TestMaxLivesEvictsLingering: at MaxLives, a live that only lingers (no
// viewers) makes room for a live with a viewer; lives that all have
// viewers do not.
func TestMaxLivesEvictsLingering(t *testing.T) {
	f := newHTTPFeed(t, func(c *app.Config) {
		c.MaxLives = 2
		c.Linger = time.Minute
	})
	for _, live := range []string{"L2", "L3", "L4"} {
		f.pub.Level(feedtest.Level(live, "A1", 5, 1))
	}
	s := f.dial("") // L1
	firstData(t, s)
	s.Close()
	f.until(slack, "L1's viewer gone", func() bool { return f.Streams() == 0 })
	if got := f.Following(); got != 1 {
		t.Fatalf("following %d lives with L1 lingering, want 1", got)
	}
	firstData(t, feedtest.Dial(t, f.URL, "L2", ""))
	if got := f.Following(); got != 2 {
		t.Fatalf("following %d lives, want 2 (L1 lingering, L2 watched)", got)
	}

	// Full: L1, lingering, is dropped for L3. (Its stream's end is seen
	// a moment before the viewer's slot on L1 is given back: poll.)
	var s3 *feedtest.Stream
	f.until(slack, "L3 admitted at MaxLives with L1 lingering", func() bool {
		s3 = f.openLive("L3", "", nil)
		if s3.Resp.StatusCode == http.StatusOK {
			return true
		}
		s3.Close()
		return false
	})
	firstData(t, s3)
	if got := f.Following(); got != 2 {
		t.Errorf("following %d lives after L3 came in, want 2", got)
	}
	if got := f.series("stockfeed_lives_followed"); got != 2 {
		t.Errorf("stockfeed_lives_followed = %v, want 2", got)
	}

	// Full with viewers on both: a third live is refused.
	s4 := f.openLive("L4", "", nil)
	wantRefused(t, "L4 with every followed live watched", s4, http.StatusServiceUnavailable, "unavailable")
	wantRetryAfter(t, "L4 with every followed live watched", s4.Resp)
	if got := f.Following(); got != 2 {
		t.Errorf("following %d lives after L4 was refused, want 2", got)
	}
}

// TestMethodLabel: made-up methods on the event route cannot mint
// latency series: they all count as "unknown".
func TestMethodLabel(t *testing.T) {
	f := newHTTPFeed(t, nil)
	for _, m := range []string{"FOO1", "FOO2", "foo3", "PATCH"} {
		resp, body := f.do(m, "/v1/lives/L1/events", nil)
		wantAPIError(t, m+" events", resp, body, http.StatusMethodNotAllowed, "invalid_request")
	}
	_, body := f.ops(http.MethodGet, "/metrics")
	var unknown bool
	for line := range strings.Lines(string(body)) {
		if !strings.HasPrefix(line, "http_request_duration_seconds") {
			continue
		}
		if strings.Contains(strings.ToLower(line), "foo") || strings.Contains(strings.ToLower(line), `method="patch"`) {
			t.Errorf("/metrics: %s: a series for a client's made-up method", strings.TrimSpace(line))
		}
		if strings.HasPrefix(line, "http_request_duration_seconds_count{") && strings.Contains(line, `method="unknown"`) &&
			strings.Contains(line, `route="/v1/lives/{live_id}/events"`) && strings.Contains(line, `code="405"`) {
			unknown = true
			if n, _ := strconv.ParseFloat(strings.Fields(line)[1], 64); n != 4 {
				t.Errorf("/metrics: %s, want a count of 4", strings.TrimSpace(line))
			}
		}
	}
	if !unknown {
		t.Error(`/metrics has no 405 series of the event route with method="unknown"`)
	}
}

// TestHTTP10Client: an HTTP/1.0 client cannot read chunked encoding, so
// it gets the raw event stream, ended by closing the connection; an
// HTTP/1.1 client gets the same stream in chunks.
func TestHTTP10Client(t *testing.T) {
	f := newHTTPFeed(t, func(c *app.Config) { c.RetryJitter = 0 })
	type head struct {
		status string
		header textproto.MIMEHeader
		body   *bufio.Reader
	}
	request := func(proto string) head {
		t.Helper()
		conn, err := net.Dial("tcp", f.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetDeadline(time.Now().Add(slack))
		if _, err := fmt.Fprintf(conn, "GET /v1/lives/L1/events %s\r\nHost: feed\r\n\r\n", proto); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		tp := textproto.NewReader(br)
		status, err := tp.ReadLine()
		if err != nil {
			t.Fatalf("%s: status line: %v", proto, err)
		}
		header, err := tp.ReadMIMEHeader()
		if err != nil {
			t.Fatalf("%s: header: %v", proto, err)
		}
		return head{status, header, br}
	}
	// The first two blocks: the retry hint and the snapshot.
	blocks := func(proto string, body io.Reader) []sseclient.Block {
		t.Helper()
		r := sseclient.NewReader(body)
		var out []sseclient.Block
		for range 2 {
			b, err := r.Next()
			if err != nil {
				t.Fatalf("%s: block %d: %v", proto, len(out)+1, err)
			}
			out = append(out, b)
		}
		return out
	}

	h10 := request("HTTP/1.0")
	if h10.status != "HTTP/1.1 200 OK" {
		t.Errorf("HTTP/1.0: status line %q, want HTTP/1.1 200 OK", h10.status)
	}
	if te := h10.header.Values("Transfer-Encoding"); len(te) != 0 {
		t.Errorf("HTTP/1.0: Transfer-Encoding %q, want none", te)
	}
	if ct := h10.header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("HTTP/1.0: Content-Type %q", ct)
	}
	// The body starts with the retry line itself, not a chunk size.
	if line, err := h10.body.Peek(len("retry: ")); err != nil || string(line) != "retry: " {
		t.Fatalf("HTTP/1.0: body starts %q, %v; want the retry line", line, err)
	}
	raw := blocks("HTTP/1.0", h10.body)

	h11 := request("HTTP/1.1")
	if h11.status != "HTTP/1.1 200 OK" {
		t.Errorf("HTTP/1.1: status line %q, want HTTP/1.1 200 OK", h11.status)
	}
	if te := h11.header.Get("Transfer-Encoding"); te != "chunked" {
		t.Errorf("HTTP/1.1: Transfer-Encoding %q, want chunked", te)
	}
	chunked := blocks("HTTP/1.1", httputil.NewChunkedReader(h11.body))

	if raw[0].Retry != f.Config.Retry || raw[0].Type != "" {
		t.Errorf("HTTP/1.0: first block %+v, want the retry hint %s", raw[0], f.Config.Retry)
	}
	if raw[1].Type != "snapshot" || raw[1].LastEventID != "A1:2" {
		t.Errorf("HTTP/1.0: second block %+v, want the snapshot A1:2", raw[1])
	}
	for i := range raw {
		if raw[i] != chunked[i] {
			t.Errorf("block %d: HTTP/1.0 %+v, HTTP/1.1 %+v; want the same stream", i+1, raw[i], chunked[i])
		}
	}
}

// TestConsumerDeletedAfterLinger: following a live costs a JetStream
// consumer; once its last viewer has left and the linger has passed, the
// consumer is gone from the server.
func TestConsumerDeletedAfterLinger(t *testing.T) {
	f := newHTTPFeed(t, func(c *app.Config) { c.Linger = 300 * time.Millisecond })
	js := f.jetStream()
	consumers := func() int {
		s, err := js.Stream(context.Background(), "STOCK")
		if err != nil {
			t.Fatalf("stream info: %v", err)
		}
		return s.CachedInfo().State.Consumers
	}
	s := f.dial("")
	firstData(t, s)
	if got := consumers(); got != 1 {
		t.Fatalf("%d consumers with L1 watched, want 1", got)
	}
	s.Close()
	f.until(slack, "L1 no longer followed", func() bool { return f.Following() == 0 })
	f.until(slack, "L1's consumer deleted", func() bool { return consumers() == 0 })
}
