// Package app wires the stockfeed together: NATS and the STOCK stream, the
// hubs, the event-stream handler and the operational routes. Tests boot
// the real program through it on a random port.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/cors"

	"livecommerce/internal/clientip"
	"livecommerce/internal/natsconn"
	"livecommerce/internal/opsserver"
	"livecommerce/internal/stockstream"
	"livecommerce/stockfeed/hub"
	"livecommerce/stockfeed/sse"
	"livecommerce/stockfeed/stocksource"
)

// EventsRoute is the pattern of the event stream.
const EventsRoute = "/v1/lives/{live_id}/events"

// Server is a running stockfeed.
type Server struct {
	cfg     Config
	log     *slog.Logger
	nc      *nats.Conn
	js      jetstream.JetStream
	lives   *hub.Lives
	streams *sse.Streams
	http    *http.Server
	ln      net.Listener
	ops     *opsserver.Server
	served  chan error
	stop    context.CancelFunc // ends the stream-ensuring loop

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start connects to NATS, listens on cfg.Addr and serves in the
// background. NATS may be down at start: the connection keeps retrying,
// and viewers get 503 until it is back.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	proxies, err := clientip.ParseProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	origins, err := cfg.corsOrigins()
	if err != nil {
		return nil, fmt.Errorf("CORS_ORIGINS: %w", err)
	}
	nc, err := natsconn.Connect(cfg.NATSURL, "stockfeed", natsconn.Options{Creds: cfg.NATSCreds}, log)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("STOCKFEED_ADDR: listen on %s: %w", cfg.Addr, err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := hub.NewMetrics(reg)
	// runCtx ends background work (the stream's upkeep) on shutdown.
	runCtx, stop := context.WithCancel(context.Background())
	lives := hub.NewLives(stocksource.New(runCtx, js, cfg.StreamCheck, log), hub.Options{
		Window: cfg.Window, QueueLen: cfg.QueueLen, Linger: cfg.Linger, JoinTimeout: cfg.JoinTimeout,
		MaxLives: cfg.MaxLives, NewLivesPerSecond: cfg.NewLivesPerSecond, NewLivesPerClient: cfg.NewLivesPerClient,
	}, metrics, log)
	streams := sse.New(sse.Config{
		MaxConns: cfg.MaxConns, MaxConnsPerIP: cfg.MaxConnsPerIP, Heartbeat: cfg.Heartbeat,
		WriteTimeout: cfg.WriteTimeout, Retry: cfg.Retry, RetryJitter: cfg.RetryJitter, Proxies: proxies,
	}, lives, metrics, log)

	ops, err := opsserver.Listen(cfg.OpsAddr, "OPS_ADDR", log)
	if err != nil {
		stop()
		lives.Close()
		ln.Close()
		nc.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, nc: nc, js: js, lives: lives, streams: streams, ln: ln, ops: ops,
		served: make(chan error, 1), stop: stop}
	ops.Serve(opsserver.Handler(reg, s.readiness))
	s.http = &http.Server{
		Handler:           s.routes(reg, origins),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go stockstream.Maintain(runCtx, js, cfg.StreamReplicas, 30*time.Second, log, nil)
	go func() {
		err := s.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.served <- err
	}()
	log.Info("stockfeed listening", slog.String("addr", ln.Addr().String()))
	return s, nil
}

func (s *Server) routes(reg *prometheus.Registry, origins []string) http.Handler {
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:        "http_request_duration_seconds",
		Help:        "Time to a complete response by route; for the event stream, time until the stream runs (it then lasts as long as the viewer stays).",
		Buckets:     []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5},
		ConstLabels: prometheus.Labels{"service": "stockfeed"},
	}, []string{"method", "route", "code"})
	reg.MustRegister(duration)
	timed := func(route string, h http.Handler) http.Handler {
		return promhttp.InstrumentHandlerDuration(duration.MustCurryWith(prometheus.Labels{"route": route}), h)
	}
	corsed := cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet},
		AllowedHeaders: []string{"Last-Event-ID", "Cache-Control"},
		MaxAge:         600,
	})

	mux := http.NewServeMux()
	mux.Handle(EventsRoute, timedStream(duration.MustCurryWith(prometheus.Labels{"route": EventsRoute}), corsed.Handler(s.streams)))
	// Only the load balancer's probe: whether this instance takes streams,
	// and nothing about what it depends on (that is on the ops listener).
	mux.Handle("/readyz", timed("/readyz", getOnly(http.HandlerFunc(s.probe))))
	mux.Handle("/", timed("unmatched", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sse.WriteError(w, http.StatusNotFound, "not_found", "no such route", 0)
	})))
	return mux
}

// timedStream times the event route. Its handler returns as soon as the
// stream runs on its own goroutine (or has been refused), so this is the
// time to a stream's start, labelled like promhttp's; a stream taken over
// from net/http never sets a status, and counts as the 200 it sent.
func timedStream(obs prometheus.ObserverVec, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		obs.With(prometheus.Labels{"method": methodLabel(r.Method), "code": strconv.Itoa(rec.status)}).
			Observe(time.Since(start).Seconds())
	})
}

// methodLabel keeps the method label to a fixed set, as promhttp does:
// net/http accepts any token as a method, and a client must not be able to
// mint metric series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPost, http.MethodPut, http.MethodDelete:
		return strings.ToLower(m)
	}
	return "unknown"
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach Hijack and Flush.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func getOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			sse.WriteError(w, http.StatusMethodNotAllowed, "invalid_request", "only GET is allowed here", 0)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// readiness is ready when NATS is connected, the STOCK stream answers and
// the instance is not shutting down.
func (s *Server) readiness(ctx context.Context) opsserver.Report {
	rep := opsserver.Report{Checks: map[string]string{"nats": "ok", "stream": "ok"}}
	if s.streams.Refusing() {
		rep.Problem = "shutting down"
		return rep
	}
	if !s.nc.IsConnected() {
		rep.Checks["nats"], rep.Checks["stream"] = "down", "down"
		rep.Problem = "not ready: nats unreachable"
		return rep
	}
	if _, err := s.js.Stream(ctx, stockstream.Name); err != nil {
		rep.Checks["stream"] = "down"
		rep.Problem = "not ready: stream " + stockstream.Name + " unreachable"
	}
	return rep
}

// probe answers the load balancer: 200 while this instance takes streams,
// 503 otherwise, and nothing more.
func (s *Server) probe(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if s.readiness(ctx).Problem != "" {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": map[string]string{
			"code": "unavailable", "message": "not ready",
		}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// OpsAddr is the address of the ops listener (/healthz, /readyz,
// /metrics).
func (s *Server) OpsAddr() string { return s.ops.Addr() }

// Done reports the server stopping on its own (a listener failure).
func (s *Server) Done() <-chan error { return s.served }

// Following reports how many lives this instance follows on NATS.
func (s *Server) Following() int { return s.lives.Following() }

// Streams reports how many event streams are open.
func (s *Server) Streams() int { return s.streams.Open() }

// Shutdown ends every stream, spread over the drain window so viewers
// reconnect to other instances a few at a time, then stops listening,
// stops following lives and closes NATS.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownAfter)
	defer cancel()
	s.stop()
	// Stop listening before ending any stream. A viewer that reconnects to
	// this instance must be refused at the TCP level, which an EventSource
	// retries (elsewhere, once the load balancer sees /readyz gone). A 503
	// would end its EventSource for good. Requests already accepted are
	// answered 503 (Refuse); streams run on goroutines of their own and do
	// not hold this up.
	s.streams.Refuse()
	err := s.http.Shutdown(ctx)
	if err != nil {
		s.http.Close()
	}
	// The drain gives up a little before the deadline, so the streams it
	// then cuts all at once still get time to write their goodbye. Their
	// ends are spread over the window, or over most of the time there is:
	// a longer window would cut the rest all at once at the deadline.
	deadline, _ := ctx.Deadline()
	dctx, dcancel := context.WithDeadline(ctx, deadline.Add(-min(time.Until(deadline)/4, time.Second)))
	dl, _ := dctx.Deadline()
	s.streams.Drain(dctx, min(s.cfg.DrainWindow, time.Until(dl)*3/4))
	dcancel()
	s.lives.Close()
	if derr := s.nc.Drain(); derr != nil {
		s.nc.Close()
	}
	// Last, so that metrics stay readable while the streams drain.
	oerr := s.ops.Shutdown(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("stockfeed: shutdown: %w", err)
	}
	return oerr
}
