// Package feedtest boots the real stockfeed for tests, with a real NATS
// server: an in-process nats-server with JetStream on a random port and a
// store of its own (so a test can restart it), or the machine's server at
// NATS_URL. Nothing is faked.
package feedtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livecommerce/internal/natstest"
	"livecommerce/internal/sseclient"
	"livecommerce/internal/stock"
	"livecommerce/stockfeed/app"
)

// MachineNATSURL is the machine's NATS server (NATS_URL, or the default).
func MachineNATSURL() string {
	if v := os.Getenv("NATS_URL"); v != "" {
		return v
	}
	return "nats://127.0.0.1:4222"
}

// NATS is an in-process NATS server with JetStream.
type NATS = natstest.Server

// StartNATS starts one; see natstest.Start.
func StartNATS(t testing.TB) *NATS { return natstest.Start(t) }

// Feed is a running stockfeed.
type Feed struct {
	*app.Server
	URL    string
	OpsURL string // /healthz, /readyz, /metrics
	Config app.Config
}

// Start boots a stockfeed on 127.0.0.1:0 against natsURL, with tweak
// applied to its settings, and waits until it is ready. It shuts down when
// the test ends.
func Start(t testing.TB, natsURL string, tweak func(*app.Config)) *Feed {
	t.Helper()
	cfg, err := app.Load(nil, func(k string) string {
		switch k {
		case "STOCKFEED_ADDR", "OPS_ADDR":
			return "127.0.0.1:0"
		case "NATS_URL":
			return natsURL
		case "STOCKFEED_DRAIN_WINDOW":
			return "0s"
		}
		return ""
	})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if tweak != nil {
		tweak(&cfg)
	}
	w := io.Discard
	if testing.Verbose() {
		w = os.Stderr
	}
	log := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := app.Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("start stockfeed: %v", err)
	}
	f := &Feed{Server: srv, URL: "http://" + srv.Addr(), OpsURL: "http://" + srv.OpsAddr(), Config: cfg}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(f.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return f
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("stockfeed not ready after 10s (last: %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Publisher sends stock events into the STOCK stream and waits for the
// stream to confirm each one, so a test that publishes and then opens a
// stream knows the feed can read what it sent.
type Publisher struct {
	t  testing.TB
	nc *nats.Conn
	js jetstream.JetStream
}

// NewPublisher connects to natsURL.
func NewPublisher(t testing.TB, natsURL string) *Publisher {
	t.Helper()
	nc, err := nats.Connect(natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("nats %s: %v", natsURL, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &Publisher{t: t, nc: nc, js: js}
}

// Conn is the publisher's connection.
func (p *Publisher) Conn() *nats.Conn { return p.nc }

// Level publishes l as a stock event, flushed.
func (p *Publisher) Level(l stock.Level) {
	p.t.Helper()
	body, err := json.Marshal(stock.NewEvent(l))
	if err != nil {
		p.t.Fatal(err)
	}
	p.Raw(stock.Subject(l.LiveID, l.SKU), body)
}

// Raw publishes any payload on any subject: confirmed by the stream when
// the subject is one the stream keeps, otherwise a plain flushed publish.
func (p *Publisher) Raw(subject string, data []byte) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := p.js.Publish(ctx, subject, data)
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		err = p.nc.Publish(subject, data)
		if err == nil {
			err = p.nc.FlushTimeout(5 * time.Second)
		}
	}
	if err != nil {
		p.t.Fatalf("publish %s: %v", subject, err)
	}
}

// Level is a stock level stamped now.
func Level(live, sku string, remaining, version int64) stock.Level {
	status := stock.InStock
	switch {
	case remaining == 0:
		status = stock.SoldOut
	case remaining <= 5:
		status = stock.LowStock
	}
	return stock.Level{SKU: sku, LiveID: live, Remaining: remaining, Status: status, Version: version, UpdatedAt: time.Now().UTC()}
}

// Stream is an open event stream. Read it from one goroutine.
type Stream struct {
	Resp   *http.Response
	blocks chan sseclient.Block
	// end is what ended the stream; the reader sets it before closing
	// blocks, so it may be read once blocks is closed.
	end    error
	cancel context.CancelFunc
	last   string
}

// Open requests a live's event stream (lastEventID "" for none) and
// returns the response whatever its status; a 200 starts reading blocks.
// It is closed when the test ends.
func Open(t testing.TB, feedURL, live, lastEventID string, header http.Header) (*Stream, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, feedURL+"/v1/lives/"+live+"/events", nil)
	if err != nil {
		cancel()
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &Stream{Resp: resp, blocks: make(chan sseclient.Block, 1024), cancel: cancel}
	t.Cleanup(s.Close)
	if resp.StatusCode != http.StatusOK {
		return s, nil
	}
	go s.read(ctx)
	return s, nil
}

// read feeds blocks until the stream ends or is closed. A test that stops
// reading leaves blocks full: Close must still end this goroutine.
func (s *Stream) read(ctx context.Context) {
	defer close(s.blocks)
	r := sseclient.NewReader(s.Resp.Body)
	for {
		b, err := r.Next()
		if err != nil {
			s.end = err
			return
		}
		select {
		case s.blocks <- b:
		case <-ctx.Done():
			s.end = ctx.Err()
			return
		}
	}
}

// Dial opens a stream and fails the test unless it is a 200.
func Dial(t testing.TB, feedURL, live, lastEventID string) *Stream {
	t.Helper()
	s, err := Open(t, feedURL, live, lastEventID, nil)
	if err != nil {
		t.Fatalf("open stream of %s: %v", live, err)
	}
	if s.Resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(s.Resp.Body)
		t.Fatalf("open stream of %s: %s %s", live, s.Resp.Status, body)
	}
	return s
}

// Close ends the stream.
func (s *Stream) Close() {
	s.cancel()
	s.Resp.Body.Close()
}

// Next returns the next block, or an error on timeout or the stream's end
// (io.EOF when the server ended it); once the stream has ended, every call
// returns that error at once.
func (s *Stream) Next(timeout time.Duration) (sseclient.Block, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case b, ok := <-s.blocks:
		if !ok {
			return sseclient.Block{}, s.end
		}
		s.last = b.LastEventID
		return b, nil
	case <-timer.C:
		return sseclient.Block{}, fmt.Errorf("no event within %s", timeout)
	}
}

// LastEventID is the id a browser would send on reconnecting, after the
// blocks read so far.
func (s *Stream) LastEventID() string { return s.last }

// NextEvent returns the next block that carries data (skipping retry hints
// and heartbeats).
func (s *Stream) NextEvent(timeout time.Duration) (sseclient.Block, error) {
	deadline := time.Now().Add(timeout)
	for {
		b, err := s.Next(time.Until(deadline))
		if err != nil || b.Type != "" {
			return b, err
		}
	}
}

// Snapshot is the data of a snapshot event.
type Snapshot struct {
	LiveID   string        `json:"live_id"`
	Products []stock.Level `json:"products"`
}
