// Package sse serves a live's stock as a server-sent event stream:
// GET /v1/lives/{live_id}/events.
//
// A stream is a long-lived response that mostly waits, and an instance
// holds ten thousand of them, so each costs as little as it can: the
// handler validates the request and joins the live on net/http as usual,
// then takes the connection over (Hijack) and hands it to one small
// goroutine of its own, which writes the response in HTTP/1.1 chunked
// encoding straight to the socket. The live's fan-out (package hub) writes
// each window to every viewer that keeps up, through the same socket,
// without waiting; the stream's goroutine writes the rest.
// net/http's goroutine and its read and write buffers for the connection
// are released; fasthttp's stream writer would keep a worker, a pipe and
// buffers per stream (see docs/performance.md). Nothing reads the
// connection after the request but a tiny watcher that notices the viewer
// hanging up (an EventSource sends nothing more). A viewer whose socket
// is full is written by its own goroutine, under a deadline, so it stalls
// only itself; the hub cuts it once its queue is full.
package sse

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"livecommerce/internal/clientip"
	"livecommerce/internal/stock"
	"livecommerce/stockfeed/hub"
)

// Joiner adds viewers to lives (hub.Lives).
type Joiner interface {
	Join(ctx context.Context, liveID, lastEventID, from string) (*hub.Client, error)
}

// Config tunes the streams. Zero values take the defaults in parentheses.
type Config struct {
	MaxConns      int           // streams on this instance (20000)
	MaxConnsPerIP int           // streams per client address (100)
	Heartbeat     time.Duration // longest silence before a comment line (10s)
	WriteTimeout  time.Duration // longest one write may block (10s)
	Retry         time.Duration // reconnection delay hinted to clients (1s)
	RetryJitter   time.Duration // random extra on top of Retry (2s)
	Proxies       clientip.Proxies
}

func (c *Config) defaults() {
	if c.MaxConns <= 0 {
		c.MaxConns = 20000
	}
	if c.MaxConnsPerIP <= 0 {
		c.MaxConnsPerIP = 100
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.Retry <= 0 {
		c.Retry = time.Second
	}
	if c.RetryJitter < 0 {
		c.RetryJitter = 0
	}
}

// Streams is the event-stream handler and the set of open streams.
type Streams struct {
	cfg     Config
	lives   Joiner
	metrics *hub.Metrics
	log     *slog.Logger

	mu       sync.Mutex
	open     map[*hub.Client]struct{}
	perIP    map[string]int
	total    int
	draining bool
	drained  chan struct{} // closed when draining and the last stream ends
}

// New returns the handler.
func New(cfg Config, lives Joiner, m *hub.Metrics, log *slog.Logger) *Streams {
	cfg.defaults()
	return &Streams{cfg: cfg, lives: lives, metrics: m, log: log,
		open: map[*hub.Client]struct{}{}, perIP: map[string]int{}, drained: make(chan struct{})}
}

var (
	errDraining = errors.New("shutting down")
	errFull     = errors.New("too many streams on this instance")
	errPerIP    = errors.New("too many streams from this address")
)

// admit counts a stream against the caps; release undoes it.
func (s *Streams) admit(ip string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.draining:
		return nil, errDraining
	case s.total >= s.cfg.MaxConns:
		return nil, errFull
	case s.perIP[ip] >= s.cfg.MaxConnsPerIP:
		return nil, errPerIP
	}
	s.total++
	s.perIP[ip]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.total--
		if s.perIP[ip]--; s.perIP[ip] <= 0 {
			delete(s.perIP, ip)
		}
	}, nil
}

// clientKey is what the per-address cap and the hub's per-client limit on
// new lives count a viewer under: its address, or its IPv6 /64, since a
// single host can take any address of its /64 and would otherwise never
// reach either limit.
func (s *Streams) clientKey(remote, xff string) string {
	return clientip.LimitKey(s.cfg.Proxies.OfHostPort(remote, xff))
}

// ServeHTTP serves GET /v1/lives/{live_id}/events.
func (s *Streams) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, OPTIONS")
		WriteError(w, http.StatusMethodNotAllowed, "invalid_request", "only GET is allowed here", 0)
		return
	}
	liveID := r.PathValue("live_id")
	if !stock.ValidID(liveID) {
		WriteError(w, http.StatusBadRequest, "invalid_request", "live_id must match ^[A-Za-z0-9_-]{1,64}$", 0)
		return
	}
	// A proxy may append its own X-Forwarded-For line rather than extend
	// the client's: the lines together are one list, the last entry the
	// proxy's (Header.Get would return the client's own, forgeable line).
	xff := strings.Join(r.Header.Values("X-Forwarded-For"), ",")
	from := s.clientKey(r.RemoteAddr, xff)
	release, err := s.admit(from)
	switch {
	case errors.Is(err, errPerIP):
		WriteError(w, http.StatusTooManyRequests, "rate_limited", err.Error(), s.retryAfter())
		return
	case err != nil:
		WriteError(w, http.StatusServiceUnavailable, "unavailable", err.Error()+"; reconnect to another instance", s.retryAfter())
		return
	}
	defer func() { release() }()

	c, err := s.lives.Join(r.Context(), liveID, r.Header.Get("Last-Event-ID"), from)
	switch {
	case errors.Is(err, hub.ErrUnknownLive):
		WriteError(w, http.StatusNotFound, "not_found", "no stock is known for live "+liveID, 0)
		return
	case errors.Is(err, hub.ErrBusy):
		WriteError(w, http.StatusServiceUnavailable, "unavailable", "this instance follows too many lives; retry later", s.retryAfter())
		return
	case r.Context().Err() != nil:
		return // the viewer left while the live's history was being read
	case err != nil:
		WriteError(w, http.StatusServiceUnavailable, "unavailable", "stock events are unavailable; retry later", s.retryAfter())
		return
	}
	if !s.track(c) {
		c.Leave()
		WriteError(w, http.StatusServiceUnavailable, "unavailable", errDraining.Error(), s.retryAfter())
		return
	}
	wire, err := hijack(w, r)
	if err != nil {
		s.untrack(c)
		c.Leave()
		WriteError(w, http.StatusInternalServerError, "internal", "this connection cannot carry an event stream", 0)
		return
	}
	// From here the stream has a goroutine of its own and net/http's
	// goroutine and buffers for this connection are released.
	held := release
	release = func() {}
	go func() {
		defer held()
		defer c.Leave()
		defer s.untrack(c)
		defer wire.close()
		s.pump(wire, c)
	}()
}

func (s *Streams) track(c *hub.Client) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.open[c] = struct{}{}
	return true
}

func (s *Streams) untrack(c *hub.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.open, c)
	if s.draining && len(s.open) == 0 {
		select {
		case <-s.drained:
		default:
			close(s.drained)
		}
	}
}

// pump writes until the viewer goes away, falls behind, or the instance
// drains. It writes the first frame, then hands the connection to the
// live's fan-out, and writes only what the fan-out could not: windows
// queued while the viewer's socket was full (all that wait in one write),
// heartbeats, and the goodbye.
func (s *Streams) pump(w *wire, c *hub.Client) {
	defer func() {
		if c.Close() != nil {
			w.broken = true // a chunk was left half written
		}
	}()
	if err := w.write(s.cfg.WriteTimeout, s.retryLine(), c.First.Data); err != nil {
		return
	}
	c.Wrote(time.Now())
	s.metrics.Caught(c.First)
	c.Attach(w, w.chunked)

	heartbeat := time.NewTimer(s.cfg.Heartbeat)
	defer heartbeat.Stop()
	var batch [8]*hub.Frame
	var parts [8][]byte
	for {
		// Whatever waits is written, several windows to a write, before
		// the connection goes back to the fan-out.
		for {
			n, off, err := c.Take(batch[:])
			if err != nil {
				return // the fan-out's write failed
			}
			if n == 0 {
				break
			}
			for i, f := range batch[:n] {
				parts[i] = f.Bytes(w.chunked)
			}
			parts[0] = parts[0][off:]
			err = w.send(s.cfg.WriteTimeout, parts[:n]...)
			now := time.Now()
			for i := range n {
				if err == nil {
					s.metrics.Delivered(batch[i], now)
				}
				batch[i], parts[i] = nil, nil // frames are shared; do not pin them
			}
			if err != nil {
				return
			}
			c.Wrote(now)
		}
		select {
		case <-c.Wake():
		case <-heartbeat.C:
			// Only after a silence: the fan-out's writes count too.
			if idle := time.Since(c.LastWrite()); idle < s.cfg.Heartbeat {
				heartbeat.Reset(s.cfg.Heartbeat - idle)
				continue
			}
			heartbeat.Reset(s.cfg.Heartbeat)
			if !c.Hold() {
				continue // windows wait: they are written instead
			}
			if err := w.write(s.cfg.WriteTimeout, heartbeatLine); err != nil {
				return
			}
			c.Wrote(time.Now())
		case <-c.Cut():
			// Best effort: a viewer cut for being slow is probably not
			// reading, so this gets one short chance. A window the fan-out
			// left half written is finished first, so the chunks stay whole;
			// if it cannot be, nothing more can be written.
			if err := w.send(time.Second, c.Close()); err != nil {
				return
			}
			_ = w.write(time.Second, s.retryLine(), goodbye(c.Reason()))
			return
		case <-w.gone:
			return
		}
	}
}

var heartbeatLine = []byte(":\n\n")

// retryLine hints a reconnection delay with jitter, so viewers cut at the
// same moment do not all come back at the same moment.
func (s *Streams) retryLine() []byte {
	d := s.cfg.Retry
	if s.cfg.RetryJitter > 0 {
		d += rand.N(s.cfg.RetryJitter)
	}
	return []byte("retry: " + strconv.FormatInt(d.Milliseconds(), 10) + "\n\n")
}

func (s *Streams) retryAfter() int {
	return max(1, int((s.cfg.Retry+s.cfg.RetryJitter+time.Second-1)/time.Second))
}

var goodbyeMessages = map[string]string{
	hub.ReasonSlow:     "this client fell too far behind the stream; reconnect to get a fresh snapshot",
	hub.ReasonShutdown: "this instance is shutting down; reconnect",
	hub.ReasonResync:   "the stock history was replaced; reconnect for a fresh snapshot",
}

func goodbye(reason string) []byte {
	body, _ := json.Marshal(map[string]string{"reason": reason, "message": goodbyeMessages[reason]})
	return []byte("event: disconnect\ndata: " + string(body) + "\n\n")
}

// Refuse makes every later request for a stream a 503. Drain calls it;
// the server calls it first, before it stops listening.
func (s *Streams) Refuse() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
}

// Refusing reports whether Refuse has been called.
func (s *Streams) Refusing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// Drain ends every stream, spread at random over window so that viewers
// reconnect elsewhere a few at a time, and refuses new ones. It returns
// once every stream has ended (its goodbye written) or ctx ends.
func (s *Streams) Drain(ctx context.Context, window time.Duration) {
	s.mu.Lock()
	s.draining = true
	clients := make([]*hub.Client, 0, len(s.open))
	for c := range s.open {
		clients = append(clients, c)
	}
	if len(s.open) == 0 {
		select {
		case <-s.drained:
		default:
			close(s.drained)
		}
	}
	s.mu.Unlock()
	if len(clients) > 0 {
		s.log.Info("draining event streams", slog.Int("streams", len(clients)), slog.Duration("over", window))
	}
	var timers []*time.Timer
	for _, c := range clients {
		var at time.Duration
		if window > 0 {
			at = rand.N(window)
		}
		timers = append(timers, time.AfterFunc(at, func() { c.Disconnect(hub.ReasonShutdown) }))
	}
	defer func() {
		for _, t := range timers {
			t.Stop()
		}
	}()
	select {
	case <-s.drained:
	case <-ctx.Done():
		for _, c := range clients {
			c.Disconnect(hub.ReasonShutdown)
		}
	}
}

// Open reports the number of open streams.
func (s *Streams) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

// WriteError writes the contract's error body; retryAfter > 0 adds a
// Retry-After header.
func WriteError(w http.ResponseWriter, status int, code, message string, retryAfter int) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfter))
	}
	w.WriteHeader(status)
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": message}})
	w.Write(body)
}
