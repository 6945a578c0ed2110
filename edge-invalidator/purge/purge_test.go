package purge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sony/gobreaker/v2"

	"livecommerce/edge-invalidator/purge"
	"livecommerce/internal/depguard"
	"livecommerce/internal/natstest"
	"livecommerce/internal/stock"
	"livecommerce/internal/stockstream"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type env struct {
	t       *testing.T
	js      jetstream.JetStream
	cf      *fakeCF
	lastSeq uint64 // stream sequence of the last event published
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stockstream.Ensure(context.Background(), js, 1); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, js: js, cf: newFakeCF(t)}
}

func fastConfig() purge.Config {
	return purge.Config{
		Sender: purge.SenderConfig{
			Window: 20 * time.Millisecond, Rate: 1000, Burst: 1000,
			MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
			Breaker: depguard.Settings{ConsecutiveFailures: 1000},
		},
		AckWait:      2 * time.Second,
		DrainTimeout: 200 * time.Millisecond,
	}
}

// start runs an invalidator until the returned stop is called (or the
// test ends); stop waits for its shutdown.
func (e *env) start(cfg purge.Config) (stop func()) {
	e.t.Helper()
	return e.startWith(cfg, e.cf)
}

// startWith runs an invalidator against fake f.
func (e *env) startWith(cfg purge.Config, f *fakeCF) (stop func()) {
	e.t.Helper()
	return e.startBackend(cfg, f.client(e.t, 0))
}

// startBackend runs an invalidator purging through backend.
func (e *env) startBackend(cfg purge.Config, backend purge.Backend) (stop func()) {
	e.t.Helper()
	inv := purge.New(cfg, e.js, backend, purge.NewQueue(), nil, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		inv.Run(ctx)
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	e.t.Cleanup(stop)
	// DeliverNew: events published before the consumer exists are not read.
	until(e.t, 5*time.Second, "the consumer", inv.Ready)
	return stop
}

var version int64

func (e *env) publish(live, sku string, status stock.Status) {
	e.t.Helper()
	version++
	b, err := json.Marshal(stock.NewEvent(stock.Level{SKU: sku, LiveID: live, Remaining: 3, Status: status,
		Version: version, UpdatedAt: time.Now()}))
	if err != nil {
		e.t.Fatal(err)
	}
	e.publishRaw(stock.StatusSubject(live, sku), b)
}

func (e *env) publishRaw(subject string, body []byte) {
	e.t.Helper()
	ack, err := e.js.Publish(context.Background(), subject, body)
	if err != nil {
		e.t.Fatalf("publish %s: %v", subject, err)
	}
	e.lastSeq = ack.Sequence
}

// settled reports whether the consumer has read and acked everything,
// up to the last event published: right after a publish the consumer's
// counts may not include it yet, and would look settled.
func (e *env) settled() bool {
	c, err := e.js.Consumer(context.Background(), stockstream.Name, purge.ConsumerName)
	if err != nil {
		return false
	}
	info, err := c.Info(context.Background())
	return err == nil && info.AckFloor.Stream >= e.lastSeq &&
		info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0
}

func sentTags(calls []call) []string {
	var all []string
	for _, c := range calls {
		all = append(all, c.tags...)
	}
	sort.Strings(all)
	return all
}

func TestTransitionsOnly(t *testing.T) {
	e := newEnv(t)
	e.start(fastConfig())
	steps := []struct {
		status stock.Status
		purge  bool
	}{
		{stock.InStock, true}, // first seen
		{stock.InStock, false},
		{stock.InStock, false},
		{stock.LowStock, true},
		{stock.LowStock, false},
		{stock.SoldOut, true},
		{stock.SoldOut, false},
		{stock.InStock, true}, // restock
	}
	want := 0
	for i, s := range steps {
		e.publish("L1", "A1", s.status)
		if s.purge {
			want++
		}
		until(t, 5*time.Second, "the event acked", e.settled)
		if got := len(e.cf.Calls()); got != want {
			t.Fatalf("after step %d (%s): %d purge calls, want %d", i, s.status, got, want)
		}
	}
	for _, c := range e.cf.Calls() {
		if got := fmt.Sprint(c.tags); got != "[sku-A1 live-L1]" {
			t.Errorf("purged %s, want [sku-A1 live-L1]", got)
		}
	}
}

func TestBatchingAndDedupe(t *testing.T) {
	e := newEnv(t)
	cfg := fastConfig()
	cfg.Sender.Window = 300 * time.Millisecond
	e.start(cfg)
	const skus = 150
	for i := range skus {
		e.publish("L1", fmt.Sprintf("S%d", i), stock.InStock)
	}
	until(t, 5*time.Second, "every event acked", e.settled)
	calls := e.cf.Calls()
	var want []string
	for i := range skus {
		want = append(want, fmt.Sprintf("sku-S%d", i))
	}
	sort.Strings(want)
	var skuTags []string
	lives := 0
	for _, tag := range sentTags(calls) {
		if tag == "live-L1" {
			lives++
		} else {
			skuTags = append(skuTags, tag)
		}
	}
	if !slices.Equal(skuTags, want) {
		t.Errorf("sent %d sku tags, want the %d distinct ones once each", len(skuTags), len(want))
	}
	// The live's tag goes out once per call at most: once in the first, and
	// again only for changes that came after that call was taken.
	if lives < 1 || lives > len(calls) {
		t.Errorf("live-L1 sent %d times in %d calls", lives, len(calls))
	}
	if len(calls) < 2 || len(calls) > 4 {
		t.Errorf("%d calls for %d events, want 2 to 4", len(calls), skus)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	e := newEnv(t)
	e.cf.setAnswer(func(n int) (int, string) {
		if n == 0 {
			return http.StatusTooManyRequests, "1"
		}
		return http.StatusOK, ""
	})
	e.start(fastConfig())
	e.publish("L1", "A1", stock.SoldOut)
	until(t, 5*time.Second, "the purge acked", e.settled)
	calls := e.cf.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want a 429 then a success", len(calls))
	}
	if gap := calls[1].at.Sub(calls[0].at); gap < 950*time.Millisecond {
		t.Errorf("retried %v after a 429 with Retry-After: 1, want at least 1s", gap)
	}
}

func TestServerErrorsRetried(t *testing.T) {
	e := newEnv(t)
	e.cf.setAnswer(func(n int) (int, string) {
		if n < 3 {
			return []int{500, 502, 503}[n], ""
		}
		return http.StatusOK, ""
	})
	e.start(fastConfig())
	e.publish("L1", "A1", stock.SoldOut)
	until(t, 5*time.Second, "the purge acked", e.settled)
	calls := e.cf.Calls()
	if len(calls) != 4 {
		t.Fatalf("%d calls, want 3 failures and a success", len(calls))
	}
	for _, c := range calls {
		if got := fmt.Sprint(c.tags); got != "[sku-A1 live-L1]" {
			t.Errorf("call with %s, want the same batch each time", got)
		}
	}
}

func TestHangingAPIRetried(t *testing.T) {
	e := newEnv(t)
	// The first two calls are accepted and never answered.
	e.cf.setAnswer(func(n int) (int, string) {
		if n < 2 {
			return hang, ""
		}
		return http.StatusOK, ""
	})
	const timeout = 150 * time.Millisecond
	e.startBackend(fastConfig(), e.cf.client(t, timeout))
	e.publish("L1", "A1", stock.SoldOut)
	until(t, 5*time.Second, "the purge acked", e.settled)
	calls := e.cf.Calls()
	if len(calls) != 3 {
		t.Fatalf("%d calls, want two unanswered and a success", len(calls))
	}
	for i, c := range calls {
		if got := fmt.Sprint(c.tags); got != "[sku-A1 live-L1]" {
			t.Errorf("call %d with %s, want the same batch each time", i, got)
		}
		if i > 0 {
			// Arrival times at the server: allow for scheduling on a busy box.
			if gap := c.at.Sub(calls[i-1].at); gap < timeout*9/10 {
				t.Errorf("call %d came %v after the previous one, want the %v timeout first", i, gap, timeout)
			}
		}
	}
}

func TestRejectedBatchDropped(t *testing.T) {
	e := newEnv(t)
	e.cf.setAnswer(func(n int) (int, string) {
		if n == 0 {
			return http.StatusBadRequest, ""
		}
		return http.StatusOK, ""
	})
	e.start(fastConfig())
	e.publish("L1", "A1", stock.SoldOut)
	until(t, 5*time.Second, "the refused purge acked", e.settled)
	if got := len(e.cf.Calls()); got != 1 {
		t.Errorf("%d calls, want one refused call and no retry", got)
	}
}

func TestRestartKeepsPendingPurges(t *testing.T) {
	e := newEnv(t)
	// The first process only ever meets a failing CDN (a fake of its own,
	// so a call it abandons at shutdown cannot be mistaken for the second
	// process's).
	down := newFakeCF(t)
	down.setAnswer(func(int) (int, string) { return http.StatusServiceUnavailable, "" })
	stop := e.startWith(fastConfig(), down)
	e.publish("L1", "A1", stock.InStock)
	e.publish("L1", "A1", stock.InStock) // no change: acked at once
	e.publish("L2", "B7", stock.SoldOut)
	until(t, 5*time.Second, "failing purge calls", func() bool { return len(down.Calls()) >= 2 })
	stop() // the CDN never accepted: nothing may be acked

	e.start(fastConfig())
	until(t, 5*time.Second, "the pending events acked", e.settled)
	got := sentTags(e.cf.Calls())
	want := []string{"live-L1", "live-L2", "sku-A1", "sku-B7"}
	if !slices.Equal(got, want) {
		t.Errorf("after restart purged %v, want %v exactly", got, want)
	}
}

func TestMalformedEventsNeverReachTheAPI(t *testing.T) {
	e := newEnv(t)
	e.start(fastConfig())
	valid := func(live, sku string) []byte {
		b, _ := json.Marshal(stock.NewEvent(stock.Level{SKU: sku, LiveID: live, Remaining: 0,
			Status: stock.SoldOut, Version: 1, UpdatedAt: time.Now()}))
		return b
	}
	bad := []struct {
		subject string
		body    []byte
	}{
		{"stockstatus.L1.A1", []byte("not json")},
		{"stockstatus.L1.A1", []byte(`{"schema":1,"sku":"A1\"],\"purge_everything\":true","live_id":"L1","remaining":0,"status":"sold_out","version":1,"updated_at":"2024-01-01T00:00:00Z"}`)},
		{"stockstatus.L1.A1", []byte(`{"schema":1,"sku":"A1","live_id":"L1","remaining":0,"status":"gone","version":1,"updated_at":"2024-01-01T00:00:00Z"}`)},
		{"stockstatus.L1.X9", valid("L1", "A1")},       // subject and body disagree
		{"stockstatus.L1.A1.extra", valid("L1", "A1")}, // deeper subject
		{"stockstatus.evil.A1", valid("L1", "A1")},
	}
	for _, b := range bad {
		e.publishRaw(b.subject, b.body)
	}
	e.publishRaw("stockstatus.L9.OK", valid("L9", "OK"))
	until(t, 5*time.Second, "every event settled", e.settled)
	if got, want := sentTags(e.cf.Calls()), []string{"live-L9", "sku-OK"}; !slices.Equal(got, want) {
		t.Errorf("purged %v, want only %v", got, want)
	}
}

// fakeMsg is an Acker counting what it was told.
type fakeMsg struct {
	mu         sync.Mutex
	acks, naks int
}

func (m *fakeMsg) Ack() error        { m.mu.Lock(); m.acks++; m.mu.Unlock(); return nil }
func (m *fakeMsg) Nak() error        { m.mu.Lock(); m.naks++; m.mu.Unlock(); return nil }
func (m *fakeMsg) InProgress() error { return nil }

func (m *fakeMsg) acked() bool { m.mu.Lock(); defer m.mu.Unlock(); return m.acks > 0 }

// runSender runs a sender over q against the fake until the test ends.
func runSender(t *testing.T, f *fakeCF, cfg purge.SenderConfig, q *purge.Queue) {
	t.Helper()
	s := purge.NewSender(cfg, f.client(t, 0), q, purge.NewMetrics(nil, nil), quiet)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestTokenBucketSpacesCalls(t *testing.T) {
	f := newFakeCF(t)
	q := purge.NewQueue()
	// One tag per call and 10 calls a second with a bucket of 1: five
	// batches take at least 400ms however fast the fake answers.
	runSender(t, f, purge.SenderConfig{Window: time.Millisecond, MaxTags: 1, Rate: 10, Burst: 1}, q)
	msgs := make([]*fakeMsg, 5)
	for i := range msgs {
		msgs[i] = &fakeMsg{}
		q.Add(uint64(i+1), msgs[i], []string{fmt.Sprintf("sku-S%d", i)}, time.Now(), time.Now())
	}
	until(t, 5*time.Second, "five calls", func() bool { return len(f.Calls()) == 5 })
	calls := f.Calls()
	if span := calls[4].at.Sub(calls[0].at); span < 350*time.Millisecond {
		t.Errorf("5 calls within %v, want the limiter to space them 100ms apart", span)
	}
	for i := 1; i < len(calls); i++ {
		if gap := calls[i].at.Sub(calls[i-1].at); gap < 60*time.Millisecond {
			t.Errorf("calls %d and %d %v apart, want about 100ms", i-1, i, gap)
		}
	}
	until(t, time.Second, "every message acked", func() bool {
		for _, m := range msgs {
			if !m.acked() {
				return false
			}
		}
		return true
	})
}

func TestBreakerOpensAndCloses(t *testing.T) {
	f := newFakeCF(t)
	var mu sync.Mutex
	var states []string
	var failing = true
	f.setAnswer(func(int) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return http.StatusInternalServerError, ""
		}
		return http.StatusOK, ""
	})
	q := purge.NewQueue()
	runSender(t, f, purge.SenderConfig{
		Window: time.Millisecond, Rate: 1000, Burst: 1000,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		Breaker: depguard.Settings{ConsecutiveFailures: 3, OpenFor: 150 * time.Millisecond,
			OnStateChange: func(_ string, _, to gobreaker.State) {
				mu.Lock()
				states = append(states, to.String())
				mu.Unlock()
			}},
	}, q)
	state := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(states) }

	first := &fakeMsg{}
	q.Add(1, first, []string{"sku-A1"}, time.Now(), time.Now())
	until(t, 5*time.Second, "the breaker open", func() bool { return slices.Contains(state(), "open") })
	openedAfter := len(f.Calls())
	if openedAfter != 3 {
		t.Errorf("breaker opened after %d calls, want 3", openedAfter)
	}
	time.Sleep(50 * time.Millisecond) // well inside OpenFor
	if got := len(f.Calls()); got != openedAfter {
		t.Errorf("%d calls while the breaker was open, want none", got-openedAfter)
	}

	mu.Lock()
	failing = false
	mu.Unlock()
	until(t, 5*time.Second, "the first purge through", first.acked)
	// Half-open needs a few successes to close: give it more batches.
	for i := 2; !slices.Contains(state(), "closed"); i++ {
		if i > 50 {
			t.Fatalf("breaker states %v, want it closed again", state())
		}
		m := &fakeMsg{}
		q.Add(uint64(i), m, []string{fmt.Sprintf("sku-B%d", i)}, time.Now(), time.Now())
		until(t, 5*time.Second, "a purge through", m.acked)
	}
	if got, want := state(), []string{"open", "half-open", "closed"}; !slices.Equal(got, want) {
		t.Errorf("breaker states %v, want %v", got, want)
	}
}

// TestPurgeWaitsOutTheOriginsMicroCache: a call goes out no sooner than a
// window after the newest change it carries, even when that change joined
// a tag that was already waiting, because an origin may answer from before
// the change until then.
func TestPurgeWaitsOutTheOriginsMicroCache(t *testing.T) {
	f := newFakeCF(t)
	q := purge.NewQueue()
	const window = 600 * time.Millisecond
	runSender(t, f, purge.SenderConfig{Window: window, Rate: 1000, Burst: 1000}, q)
	first, second := &fakeMsg{}, &fakeMsg{}
	q.Add(1, first, []string{"sku-A1", "live-L1"}, time.Now(), time.Now())
	time.Sleep(300 * time.Millisecond) // well inside the first one's window
	joined := time.Now()
	q.Add(2, second, []string{"sku-A1", "live-L1"}, time.Now(), joined)
	until(t, 5*time.Second, "both acked", func() bool { return first.acked() && second.acked() })
	calls := f.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls, want 1 carrying both changes", len(calls))
	}
	if early := joined.Add(window).Sub(calls[0].at); early > 0 {
		t.Errorf("call went out %v before the newest change had settled", early)
	}
}

// TestShutdownAcksOnlySettledChanges: at shutdown what waits is sent at
// once, but a change younger than the window stays unacked, for the next
// process to purge again once it has settled.
func TestShutdownAcksOnlySettledChanges(t *testing.T) {
	f := newFakeCF(t)
	q := purge.NewQueue()
	s := purge.NewSender(purge.SenderConfig{Window: time.Second, MaxTags: 100, Rate: 1000, Burst: 1000},
		f.client(t, 0), q, purge.NewMetrics(nil, nil), quiet)
	old, young := &fakeMsg{}, &fakeMsg{}
	q.Add(1, old, []string{"sku-A1"}, time.Now(), time.Now().Add(-2*time.Second))
	q.Add(2, young, []string{"sku-B1"}, time.Now(), time.Now())
	stop := make(chan struct{})
	close(stop)
	s.Run(context.Background(), stop)
	if got := sentTags(f.Calls()); !slices.Equal(got, []string{"sku-A1", "sku-B1"}) {
		t.Errorf("sent %v at shutdown, want both tags", got)
	}
	if !old.acked() {
		t.Error("the settled change was not acked")
	}
	if young.acked() {
		t.Error("the change younger than the window was acked; the next process would not purge it again")
	}
	if n := q.NakAll(); n != 1 {
		t.Errorf("NakAll handed back %d messages, want the young one", n)
	}
}

// TestOlderConsumerBroughtToStatusSubjects: the durable consumer left by
// an invalidator that read every event (filter stock.>) is made to read
// the status subjects only, whether NATS updates it in place or refuses
// the update (as a server before 2.10 does a filter change, simulated here
// with a deliver policy, which no server changes in place).
func TestOlderConsumerBroughtToStatusSubjects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy jetstream.DeliverPolicy
	}{
		{"updated in place", jetstream.DeliverNewPolicy},
		{"update refused", jetstream.DeliverAllPolicy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			old := purge.ConsumerConfig(purge.ConsumerName, 2*time.Second, 1000)
			old.FilterSubject = stock.SubjectPrefix + ".>"
			old.DeliverPolicy = tc.policy
			if _, err := e.js.CreateOrUpdateConsumer(ctx, stockstream.Name, old); err != nil {
				t.Fatal(err)
			}
			e.start(fastConfig())
			c, err := e.js.Consumer(ctx, stockstream.Name, purge.ConsumerName)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := c.CachedInfo().Config.FilterSubject, stock.StatusSubjectPrefix+".>"; got != want {
				t.Errorf("filter subject = %q, want %q", got, want)
			}
			e.publish("L1", "A1", stock.SoldOut)
			until(t, 5*time.Second, "the event acked", e.settled)
			if got, want := sentTags(e.cf.Calls()), []string{"live-L1", "sku-A1"}; !slices.Equal(got, want) {
				t.Errorf("purged %v, want %v", got, want)
			}
		})
	}
}
