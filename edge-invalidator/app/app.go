// Package app is the edge invalidator's wiring: settings, NATS, the
// Cloudflare backend, the purge pipeline and the ops HTTP server
// (/healthz, /readyz, /metrics).
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"livecommerce/edge-invalidator/cloudflare"
	"livecommerce/edge-invalidator/purge"
	"livecommerce/internal/applog"
	"livecommerce/internal/depguard"
	"livecommerce/internal/envflag"
	"livecommerce/internal/stockstream"
)

// Config is every setting.
type Config struct {
	Addr           string
	NATSURL        string
	StreamReplicas int
	CFToken        string // env only, never printed
	CFZoneID       string
	CFAPIURL       string
	Window         time.Duration
	Rate           float64
	Burst          int
	MaxBackoff     time.Duration
	BreakerFails   int
	BreakerOpenFor time.Duration
	AckWait        time.Duration
	MaxAckPending  int
	DrainTimeout   time.Duration
	LogLevel       string
}

// Load reads flags and the environment and checks them; errors name the
// setting.
func Load(args []string, getenv func(string) string) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("edge-invalidator", flag.ContinueOnError)
	s := envflag.New(fs, getenv)
	s.String(&c.Addr, "addr", "EDGE_INVALIDATOR_ADDR", ":9102", "ops HTTP address (/healthz, /readyz, /metrics)")
	s.String(&c.NATSURL, "nats-url", "NATS_URL", nats.DefaultURL, "NATS server URL")
	s.Int(&c.StreamReplicas, "stream-replicas", "STOCK_STREAM_REPLICAS", 1, "replicas of the STOCK stream")
	s.String(&c.CFZoneID, "zone-id", "CLOUDFLARE_ZONE_ID", "", "Cloudflare zone id (32 hex)")
	s.String(&c.CFAPIURL, "api-url", "CLOUDFLARE_API_URL", cloudflare.DefaultAPIURL, "Cloudflare API base URL")
	s.Duration(&c.Window, "window", "PURGE_WINDOW", 200*time.Millisecond, "time tags are gathered before a purge call")
	s.Float(&c.Rate, "rate", "PURGE_RATE", 5.0/60, "purge calls per second (Free 0.0833, Enterprise 50)")
	s.Int(&c.Burst, "burst", "PURGE_BURST", 5, "purge calls allowed at once (Free 5, Enterprise 50)")
	s.Duration(&c.MaxBackoff, "max-backoff", "PURGE_MAX_BACKOFF", 30*time.Second, "longest wait between retries after errors")
	s.Int(&c.BreakerFails, "breaker-failures", "PURGE_BREAKER_FAILURES", 5, "consecutive failed calls that open the breaker")
	s.Duration(&c.BreakerOpenFor, "breaker-open-for", "PURGE_BREAKER_OPEN_FOR", 10*time.Second, "how long the breaker stays open before probing")
	s.Duration(&c.AckWait, "ack-wait", "PURGE_ACK_WAIT", 30*time.Second, "JetStream ack wait of the consumer")
	s.Int(&c.MaxAckPending, "max-ack-pending", "PURGE_MAX_ACK_PENDING", 1000, "events that may wait for a purge")
	s.Duration(&c.DrainTimeout, "drain-timeout", "PURGE_DRAIN_TIMEOUT", 5*time.Second, "time to send waiting purges on shutdown")
	s.String(&c.LogLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	if err := s.Parse(args); err != nil {
		return c, err
	}
	// The token has no flag: it would land in shell history and ps.
	c.CFToken = getenv("CLOUDFLARE_API_TOKEN")
	var errs []error
	if c.CFToken == "" {
		errs = append(errs, errors.New("CLOUDFLARE_API_TOKEN is not set: the edge invalidator needs a token with Zone > Cache Purge"))
	}
	if err := cloudflare.CheckZoneID(c.CFZoneID); err != nil {
		errs = append(errs, err)
	}
	if c.Rate <= 0 || c.Rate > 1000 {
		errs = append(errs, fmt.Errorf("PURGE_RATE: %v is not in (0, 1000] calls per second", c.Rate))
	}
	if c.Burst < 1 {
		errs = append(errs, fmt.Errorf("PURGE_BURST: %d is below 1", c.Burst))
	}
	if c.Window <= 0 || c.Window > time.Minute {
		errs = append(errs, fmt.Errorf("PURGE_WINDOW: %v is not in (0, 1m]", c.Window))
	}
	if c.BreakerFails < 1 || c.BreakerOpenFor <= 0 || c.MaxBackoff <= 0 {
		errs = append(errs, errors.New("PURGE_BREAKER_FAILURES, PURGE_BREAKER_OPEN_FOR and PURGE_MAX_BACKOFF must be positive"))
	}
	if c.AckWait < time.Second || c.MaxAckPending < 1 || c.DrainTimeout <= 0 {
		errs = append(errs, errors.New("PURGE_ACK_WAIT (at least 1s), PURGE_MAX_ACK_PENDING and PURGE_DRAIN_TIMEOUT must be positive"))
	}
	if err := applog.CheckLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// Run purges until ctx ends, then shuts down in order. Settings errors
// come back before anything starts.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	cf, err := cloudflare.New(cloudflare.Config{Token: cfg.CFToken, ZoneID: cfg.CFZoneID, APIURL: cfg.CFAPIURL})
	if err != nil {
		return err
	}
	nc, err := nats.Connect(cfg.NATSURL, nats.Name("edge-invalidator"), nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("nats disconnected", slog.Any("error", err)) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", slog.String("url", nc.ConnectedUrl())) }))
	if err != nil {
		return fmt.Errorf("NATS_URL: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("EDGE_INVALIDATOR_ADDR: listen on %s: %w", cfg.Addr, err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	q := purge.NewQueue()
	inv := purge.New(purge.Config{
		Sender: purge.SenderConfig{
			Window: cfg.Window, Rate: cfg.Rate, Burst: cfg.Burst, MaxBackoff: cfg.MaxBackoff,
			Breaker: depguard.Settings{ConsecutiveFailures: uint32(cfg.BreakerFails), OpenFor: cfg.BreakerOpenFor},
		},
		AckWait: cfg.AckWait, MaxAckPending: cfg.MaxAckPending, DrainTimeout: cfg.DrainTimeout,
	}, js, cf, q, purge.NewMetrics(reg, q), log)

	upkeep, stopUpkeep := context.WithCancel(context.WithoutCancel(ctx))
	defer stopUpkeep()
	go stockstream.Maintain(upkeep, js, cfg.StreamReplicas, 30*time.Second, log, nil)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !nc.IsConnected() || !inv.Ready() {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("edge invalidator started", slog.String("addr", ln.Addr().String()),
		slog.Float64("purge_rate", cfg.Rate), slog.Int("purge_burst", cfg.Burst))

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go func() {
		// A dead ops server is not worth purging without: stop.
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("ops server stopped", slog.Any("error", err))
			stopRun()
		}
	}()
	inv.Run(runCtx) // returns after the drain: no more acks after this
	log.Info("edge invalidator stopped")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
