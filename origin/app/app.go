// Package app wires the origin together: it builds every component from a
// Config, serves until told to stop, and shuts down in order. Tests boot the
// real program through it on a random port.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"livecommerce/internal/buyertoken"
	"livecommerce/internal/depguard"
	"livecommerce/internal/natsconn"
	"livecommerce/internal/opsserver"
	"livecommerce/internal/redisconn"
	"livecommerce/internal/stockstream"
	"livecommerce/origin/catalog"
	"livecommerce/origin/httpapi"
	"livecommerce/origin/inventory"
	"livecommerce/origin/mysqlstore"
	"livecommerce/origin/purchase"
	"livecommerce/origin/reconcile"
	"livecommerce/origin/redisstock"
	"livecommerce/origin/shop"
	"livecommerce/origin/stockevents"
	"livecommerce/origin/stockread"
)

// Deps are the connections shared by the server and operator commands.
type Deps struct {
	Redis     *redis.Client
	RedisCB   *depguard.Guard
	Stock     *redisstock.Store
	DB        *mysqlstore.Store
	NATS      *nats.Conn
	Publisher *stockevents.Publisher
	Inventory *inventory.Inventory
	Registry  *prometheus.Registry

	js         jetstream.JetStream
	replicas   int
	stopStream context.CancelFunc
}

// EnsureStream makes sure the STOCK stream exists now (operator commands
// that publish must not race the background check).
func (d *Deps) EnsureStream(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := stockstream.Ensure(ctx, d.js, d.replicas)
	return err
}

// Connect opens Redis, MySQL and NATS. NATS may be down: the connection
// keeps retrying in the background and publishing buffers meanwhile.
func Connect(ctx context.Context, c Config, log *slog.Logger) (*Deps, error) {
	d := &Deps{Registry: prometheus.NewRegistry()}
	d.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	breakerState := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dependency_breaker_open", Help: "1 while the circuit breaker in front of a dependency is open.",
	}, []string{"dependency"})
	d.Registry.MustRegister(breakerState)
	onChange := func(name string, from, to gobreaker.State) {
		log.Warn("circuit breaker changed state", slog.String("dependency", name), slog.String("from", from.String()), slog.String("to", to.String()))
		v := 0.0
		if to == gobreaker.StateOpen {
			v = 1
		}
		breakerState.WithLabelValues(name).Set(v)
	}
	d.RedisCB = depguard.New("redis", depguard.Settings{OnStateChange: onChange})
	// Three failed order batches in a row open the database's breaker: a
	// hanging database is only seen through batches running out of time,
	// so waiting for more would hold buyers for seconds.
	dbGuard := depguard.New("mysql", depguard.Settings{ConsecutiveFailures: 3, OnStateChange: onChange})

	ro, err := c.Redis.Options(c.RedisAddr)
	if err != nil {
		return nil, err
	}
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout = 500*time.Millisecond, 500*time.Millisecond, 500*time.Millisecond
	ro.PoolSize, ro.MinIdleConns, ro.PoolTimeout = 128, 8, time.Second
	// A password or certificate Redis refuses stops the start; Redis
	// being down does not (the breaker and /readyz deal with that).
	if err := redisconn.Verify(ctx, ro); err != nil {
		return nil, fmt.Errorf("app: redis: %w", err)
	}
	d.Redis = redis.NewClient(ro)
	// The read path and the merchants' API have breakers of their own:
	// their failures (a flood of made-up ids, a huge upload timing out)
	// must never refuse purchases.
	d.DB, err = mysqlstore.Open(ctx, c.MySQLDSN, c.MySQLMaxConns, dbGuard, mysqlstore.WithLogger(log), mysqlstore.WithBatchTimeout(c.CommitTimeout), mysqlstore.WithIOTimeout(30*time.Second),
		mysqlstore.WithReadGuard(depguard.New("mysql-reads", depguard.Settings{OnStateChange: onChange})),
		mysqlstore.WithAdminGuard(depguard.New("mysql-admin", depguard.Settings{OnStateChange: onChange})))
	if err != nil {
		d.Redis.Close()
		return nil, err
	}
	d.NATS, err = natsconn.Connect(c.NATSURL, "origin", natsconn.Options{Creds: c.NATSCreds, ReconnectBufSize: 16 << 20}, log)
	if err != nil {
		d.Redis.Close()
		d.DB.Close()
		return nil, fmt.Errorf("app: nats: %w", err)
	}
	// The STOCK stream captures what the publisher sends; it must exist
	// before the first event that a stockfeed or the edge invalidator
	// should be able to read back.
	js, err := jetstream.New(d.NATS)
	if err != nil {
		d.Redis.Close()
		d.DB.Close()
		d.NATS.Close()
		return nil, fmt.Errorf("app: jetstream: %w", err)
	}
	d.js, d.replicas = js, c.StreamReplicas
	streamCtx, stopStream := context.WithCancel(context.Background())
	d.stopStream = stopStream
	go stockstream.Maintain(streamCtx, js, c.StreamReplicas, 30*time.Second, log, nil)
	d.Stock = redisstock.New(d.Redis, d.RedisCB, redisstock.Options{Prefix: c.RedisPrefix, DoneTTL: c.IdempotencyTTL})
	d.Publisher, err = stockevents.New(d.NATS, d.Registry, log)
	if err != nil {
		stopStream()
		d.Redis.Close()
		d.DB.Close()
		d.NATS.Close()
		return nil, err
	}
	d.Inventory = inventory.New(d.Stock, d.DB, d.Publisher, log, inventory.WithUnknownTTL(c.UnknownTTL))
	return d, nil
}

// Close closes the connections.
func (d *Deps) Close() {
	d.stopStream()
	d.Publisher.Close()
	if err := d.NATS.Drain(); err != nil {
		d.NATS.Close()
	}
	d.Redis.Close()
	d.DB.Close()
}

// Server is a running origin.
type Server struct {
	cfg       Config
	log       *slog.Logger
	deps      *Deps
	api       *httpapi.API
	ops       *opsserver.Server
	committer *purchase.Committer
	auto      *reconcile.Auto
	ln        *trackingListener
	served    chan error

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start connects, listens on cfg.Addr and serves in the background.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	verifier, err := buyertoken.NewVerifier([]byte(cfg.JWTSecret), cfg.BuyerTokenOptions()...)
	if err != nil {
		return nil, fmt.Errorf("BUYER_JWT_*: %w", err)
	}
	d, err := Connect(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	// A purchase stays between reservation and commit for at most a batch
	// window plus a commit with its retries; reconcile looks twice further
	// apart than that, so it never mistakes one for drift.
	settle := cfg.BatchWindow + 2*cfg.CommitTimeout + 500*time.Millisecond
	auto := reconcile.NewAuto(d.DB, d.Stock, d.Publisher, log, cfg.ReconcileEvery, settle)
	committer := purchase.NewCommitter(d.DB, d.Stock, d.Publisher, auto, d.Registry, log, purchase.CommitterOptions{
		Shards: cfg.BatchShards, Window: cfg.BatchWindow, BusyRate: cfg.BatchBusyRate, CommitTimeout: cfg.CommitTimeout,
	})
	api, err := httpapi.New(httpapi.Config{
		PurchaseTimeout: cfg.PurchaseTimeout,
		IPRate:          cfg.IPRate, IPBurst: cfg.IPBurst,
		BuyerRate: cfg.BuyerRate, BuyerBurst: cfg.BuyerBurst,
		ReadMissRate: cfg.ReadMissRate, ReadMissBurst: cfg.ReadMissBurst,
		TrustedProxies: cfg.proxies(),
	}, httpapi.Deps{
		Reads:     stockread.New(d.Inventory, cfg.MicroCacheTTL),
		Purchases: purchase.NewService(d.Stock, d.Inventory, d.DB.Guard(), d.DB, committer),
		Catalog: catalog.New(shop.Limits{RowsPerRequest: cfg.UploadMaxRows, ProductsPerLive: cfg.ProductsPerLive, LivesListed: cfg.LivesListed},
			d.DB, d.Stock, d.Inventory, d.Publisher, log),
		DB:       d.DB,
		Verifier: verifier,
		Ready:    map[string]httpapi.Pinger{"redis": d.Stock, "mysql": d.DB},
		Log:      log,
	}, d.Registry)
	if err != nil {
		committer.Close()
		auto.Close()
		d.Close()
		return nil, err
	}
	ops, err := opsserver.Listen(cfg.OpsAddr, "OPS_ADDR", log)
	if err != nil {
		committer.Close()
		auto.Close()
		d.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		ops.Shutdown(context.Background())
		committer.Close()
		auto.Close()
		d.Close()
		return nil, fmt.Errorf("ORIGIN_ADDR: listen on %s: %w", cfg.Addr, err)
	}
	tl := &trackingListener{Listener: ln, conns: map[net.Conn]struct{}{}}
	s := &Server{cfg: cfg, log: log, deps: d, api: api, ops: ops, committer: committer, auto: auto, ln: tl, served: make(chan error, 1)}
	ops.Serve(opsserver.Handler(d.Registry, api.Ready))
	go func() { s.served <- api.Listener(tl) }()
	log.Info("origin listening", slog.String("addr", ln.Addr().String()))
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// OpsAddr is the address of the ops listener (/healthz, /readyz,
// /metrics).
func (s *Server) OpsAddr() string { return s.ops.Addr() }

// Deps exposes the connections (tests inspect Redis and MySQL through them).
func (s *Server) Deps() *Deps { return s.deps }

// Done reports the server stopping on its own (a listener failure).
func (s *Server) Done() <-chan error { return s.served }

// Shutdown stops in order: no new connections, in-flight requests finish
// (a purchase in flight completes its commit), queued order batches drain,
// then the connections close.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownAfter)
	defer cancel()
	// fasthttp waits for keep-alive connections to time out on their own;
	// once no request is in flight, close them so shutdown takes
	// milliseconds, not the read timeout.
	stopped := make(chan error, 1)
	go func() { stopped <- s.api.Shutdown(ctx) }()
	var err error
	quiet := 0
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case err = <-stopped:
			break wait
		case <-tick.C:
			// Quiet on two ticks in a row: the last response has been
			// written, not just handed to the server.
			if s.api.InFlight() == 0 {
				if quiet++; quiet >= 2 {
					s.ln.closeConns()
				}
			} else {
				quiet = 0
			}
		}
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("app: http shutdown: %w", err)
	}
	s.committer.Close()
	s.auto.Close()
	s.deps.Close()
	// Last, so that metrics stay readable while the origin drains.
	if oerr := s.ops.Shutdown(ctx); oerr != nil && err == nil {
		err = oerr
	}
	s.log.Info("origin stopped")
	return err
}

// trackingListener remembers open connections so shutdown can close the
// idle ones.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	return tc, nil
}

func (l *trackingListener) closeConns() {
	l.mu.Lock()
	conns := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}
