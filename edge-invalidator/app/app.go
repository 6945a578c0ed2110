// Package app is the edge invalidator's wiring: settings, NATS, the purge
// backend (the local Varnish edge or Cloudflare), the purge pipeline and
// the ops HTTP server (/healthz, /readyz, /metrics, /debug/pprof/).
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"livecommerce/edge-invalidator/cloudflare"
	"livecommerce/edge-invalidator/purge"
	"livecommerce/edge-invalidator/varnish"
	"livecommerce/internal/applog"
	"livecommerce/internal/depguard"
	"livecommerce/internal/envflag"
	"livecommerce/internal/natsconn"
	"livecommerce/internal/opsserver"
	"livecommerce/internal/stock"
	"livecommerce/internal/stockstream"
)

// Purge backends (PURGE_BACKEND).
const (
	BackendVarnish    = "varnish"    // the local edge, used by make run
	BackendCloudflare = "cloudflare" // the CDN in production
)

// consumerName is what JetStream accepts as a durable name, kept to the
// characters of our identifiers.
var consumerName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Config is every setting.
type Config struct {
	Addr           string
	NATSURL        string
	NATSCreds      string // a .creds file; "" = none
	StreamReplicas int
	Backend        string
	Consumer       string
	VarnishURLs    []string
	CFToken        string // env only, never printed
	CFZoneID       string
	CFAPIURL       string
	CFPurgeBy      string
	CFSiteURL      string
	CallTimeout    time.Duration
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
	var varnishURLs string
	fs := flag.NewFlagSet("edge-invalidator", flag.ContinueOnError)
	s := envflag.New(fs, getenv)
	s.String(&c.Addr, "addr", "EDGE_INVALIDATOR_ADDR", "127.0.0.1:9102", "ops HTTP address (/healthz, /readyz, /metrics, /debug/pprof); loopback by default (:9102 in a pod)")
	s.String(&c.NATSURL, "nats-url", "NATS_URL", nats.DefaultURL, "NATS server URL")
	s.String(&c.NATSCreds, "nats-creds", "NATS_CREDS", "", "NATS .creds file (user JWT and seed) to sign in with (empty: none)")
	s.Int(&c.StreamReplicas, "stream-replicas", "STOCK_STREAM_REPLICAS", 1, "replicas of the STOCK stream")
	s.String(&c.Backend, "backend", "PURGE_BACKEND", BackendVarnish, "where to purge: varnish (the local edge) or cloudflare")
	s.String(&c.Consumer, "consumer", "PURGE_CONSUMER", purge.ConsumerName, "durable JetStream consumer of this edge's invalidator")
	s.String(&varnishURLs, "varnish-urls", "VARNISH_PURGE_URLS", "http://127.0.0.1:8001", "comma-separated purge listeners of the Varnish edges")
	s.String(&c.CFZoneID, "zone-id", "CLOUDFLARE_ZONE_ID", "", "Cloudflare zone id (32 hex)")
	s.String(&c.CFAPIURL, "api-url", "CLOUDFLARE_API_URL", cloudflare.DefaultAPIURL, "Cloudflare API base URL")
	s.String(&c.CFPurgeBy, "purge-by", "CLOUDFLARE_PURGE_BY", string(cloudflare.ByTags), "purge Cloudflare by tags, or by urls on plans without tag purge")
	s.String(&c.CFSiteURL, "site-url", "CLOUDFLARE_SITE_URL", "", "public site whose URLs are purged by urls, such as https://shop.example.com")
	s.Duration(&c.CallTimeout, "call-timeout", "PURGE_CALL_TIMEOUT", 10*time.Second, "longest wait for one purge call")
	s.Duration(&c.Window, "window", "PURGE_WINDOW", 300*time.Millisecond, "how long a tag waits after its last change before it is purged (at least the origins' 250ms micro-cache)")
	s.Float(&c.Rate, "rate", "PURGE_RATE", 5.0/60, "purge calls per second (cloudflare Free 0.0833, Enterprise 50; varnish defaults to 50)")
	s.Int(&c.Burst, "burst", "PURGE_BURST", 5, "purge calls allowed at once (cloudflare Free 5, Enterprise 50; varnish defaults to 50)")
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
	for _, u := range strings.Split(varnishURLs, ",") {
		c.VarnishURLs = append(c.VarnishURLs, strings.TrimSpace(u))
	}
	if c.Backend == BackendVarnish {
		// The local edge has no purge allowance to respect; the Cloudflare
		// Free preset would only slow it down. A rate or burst given
		// explicitly still wins.
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		if !given["rate"] && getenv("PURGE_RATE") == "" {
			c.Rate = 50
		}
		if !given["burst"] && getenv("PURGE_BURST") == "" {
			c.Burst = 50
		}
	}
	var errs []error
	// Not echoed: NATS_URL may carry a password.
	if err := natsconn.Check(c.NATSURL, c.NATSCreds); err != nil {
		errs = append(errs, err)
	}
	// Building the backend checks its settings; it makes no request.
	if _, _, err := c.newBackend(); err != nil {
		errs = append(errs, err)
	}
	if !consumerName.MatchString(c.Consumer) {
		errs = append(errs, fmt.Errorf("PURGE_CONSUMER: %.40q is not 1 to 64 of A-Z a-z 0-9 _ -", c.Consumer))
	}
	if c.CallTimeout <= 0 || c.CallTimeout > 2*time.Minute {
		errs = append(errs, fmt.Errorf("PURGE_CALL_TIMEOUT: %v is not in (0, 2m]", c.CallTimeout))
	}
	if c.Rate <= 0 || c.Rate > 1000 {
		errs = append(errs, fmt.Errorf("PURGE_RATE: %v is not in (0, 1000] calls per second", c.Rate))
	}
	if c.Burst < 1 {
		errs = append(errs, fmt.Errorf("PURGE_BURST: %d is below 1", c.Burst))
	}
	if c.Window < stock.MaxOriginCache || c.Window > time.Minute {
		// Sooner, the edge could refetch an answer an origin cached from
		// before the change, and keep the old status for a whole TTL.
		errs = append(errs, fmt.Errorf("PURGE_WINDOW: %v is not in [%v, 1m]: it must be at least the origins' micro-cache", c.Window, stock.MaxOriginCache))
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

// newBackend builds the configured purge backend and says how many tags one of
// its calls may carry. Only the chosen backend's settings are looked at:
// the local edge needs no Cloudflare token.
func (c Config) newBackend() (purge.Backend, int, error) {
	switch c.Backend {
	case BackendVarnish:
		v, err := varnish.New(varnish.Config{URLs: c.VarnishURLs, Timeout: c.CallTimeout})
		if err != nil {
			return nil, 0, err
		}
		return v, varnish.MaxTags, nil
	case BackendCloudflare:
		cf, err := cloudflare.New(cloudflare.Config{Token: c.CFToken, ZoneID: c.CFZoneID, APIURL: c.CFAPIURL,
			PurgeBy: cloudflare.Mode(c.CFPurgeBy), SiteURL: c.CFSiteURL, Timeout: c.CallTimeout})
		if err != nil {
			return nil, 0, err
		}
		return cf, cf.MaxTags(), nil
	}
	return nil, 0, fmt.Errorf("PURGE_BACKEND: %.40q is neither %s nor %s", c.Backend, BackendVarnish, BackendCloudflare)
}

// Run purges until ctx ends, then shuts down in order. Settings errors
// come back before anything starts.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	backend, maxTags, err := cfg.newBackend()
	if err != nil {
		return err
	}
	nc, err := natsconn.Connect(cfg.NATSURL, "edge-invalidator", natsconn.Options{Creds: cfg.NATSCreds}, log)
	if err != nil {
		return err
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
			Window: cfg.Window, MaxTags: maxTags, Rate: cfg.Rate, Burst: cfg.Burst, MaxBackoff: cfg.MaxBackoff,
			Breaker: depguard.Settings{ConsecutiveFailures: uint32(cfg.BreakerFails), OpenFor: cfg.BreakerOpenFor},
		},
		Consumer: cfg.Consumer, AckWait: cfg.AckWait, MaxAckPending: cfg.MaxAckPending, DrainTimeout: cfg.DrainTimeout,
	}, js, backend, q, purge.NewMetrics(reg, q), log)

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
	// This listener is the invalidator's ops listener: it has no public one.
	mux.Handle(opsserver.ProfilerPath, opsserver.Profiler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("edge invalidator started", slog.String("addr", ln.Addr().String()), slog.String("backend", cfg.Backend),
		slog.Float64("purge_rate", cfg.Rate), slog.Int("purge_burst", cfg.Burst), slog.Int("max_tags", maxTags))

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
