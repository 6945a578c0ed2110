package app

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"livecommerce/internal/applog"
	"livecommerce/internal/clientip"
	"livecommerce/internal/envflag"
	"livecommerce/internal/natsconn"
)

// Config is every setting of the stockfeed.
type Config struct {
	Addr              string
	OpsAddr           string
	NATSURL           string
	NATSCreds         string // a .creds file; "" = none
	StreamReplicas    int
	StreamCheck       time.Duration
	CORSOrigins       string
	TrustedProxies    string
	MaxConns          int
	MaxConnsPerIP     int
	MaxLives          int
	NewLivesPerSecond float64
	NewLivesPerClient float64
	Window            time.Duration
	QueueLen          int
	Heartbeat         time.Duration
	WriteTimeout      time.Duration
	Retry             time.Duration
	RetryJitter       time.Duration
	Linger            time.Duration
	JoinTimeout       time.Duration
	DrainWindow       time.Duration
	ShutdownAfter     time.Duration
	LogLevel          string
}

// Load reads flags and environment.
func Load(args []string, getenv func(string) string) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("stockfeed", flag.ContinueOnError)
	s := envflag.New(fs, getenv)
	s.String(&c.Addr, "addr", "STOCKFEED_ADDR", ":8081", "listen address")
	s.String(&c.OpsAddr, "ops-addr", "OPS_ADDR", "127.0.0.1:9103", "listen address of /healthz, /readyz and /metrics (never behind the edge)")
	s.String(&c.NATSURL, "nats-url", "NATS_URL", "nats://127.0.0.1:4222", "NATS server URL (JetStream enabled)")
	s.String(&c.NATSCreds, "nats-creds", "NATS_CREDS", "", "NATS .creds file (user JWT and seed) to sign in with (empty: none)")
	s.Int(&c.StreamReplicas, "stream-replicas", "STOCK_STREAM_REPLICAS", 1, "replicas of the STOCK stream (3 on a NATS cluster)")
	s.Duration(&c.StreamCheck, "stream-check", "STOCKFEED_STREAM_CHECK", 10*time.Second, "how often each followed live checks that the STOCK stream was not replaced")
	s.String(&c.CORSOrigins, "cors-origins", "CORS_ORIGINS", "*", "comma-separated origins of live pages allowed to read the stream, or *")
	s.String(&c.TrustedProxies, "trusted-proxies", "TRUSTED_PROXIES", "127.0.0.1,::1", "comma-separated addresses or CIDRs allowed to set X-Forwarded-For")
	s.Int(&c.MaxConns, "max-conns", "STOCKFEED_MAX_CONNS", 20000, "event streams this instance holds at most (503 beyond)")
	s.Int(&c.MaxConnsPerIP, "max-conns-per-ip", "STOCKFEED_MAX_CONNS_PER_IP", 100, "event streams per client address, an IPv6 /64 counting as one (429 beyond)")
	s.Int(&c.MaxLives, "max-lives", "STOCKFEED_MAX_LIVES", 1000, "lives followed at once (503 beyond)")
	s.Float(&c.NewLivesPerSecond, "new-lives-per-second", "STOCKFEED_NEW_LIVES_PER_SECOND", 100, "lives this instance may start following per second")
	s.Float(&c.NewLivesPerClient, "new-lives-per-client", "STOCKFEED_NEW_LIVES_PER_CLIENT", 2, "lives one client address (an IPv6 /64) may start this instance following per second (burst 5x)")
	s.Duration(&c.Window, "coalesce-window", "STOCKFEED_COALESCE_WINDOW", 50*time.Millisecond, "changes of one sku within this window are sent once, newest version")
	s.Int(&c.QueueLen, "client-queue", "STOCKFEED_CLIENT_QUEUE", 64, "windows of changes a client may fall behind before it is cut")
	s.Duration(&c.Heartbeat, "heartbeat", "STOCKFEED_HEARTBEAT", 10*time.Second, "longest silence on a stream before a comment line (at most 15s)")
	s.Duration(&c.WriteTimeout, "write-timeout", "STOCKFEED_WRITE_TIMEOUT", 10*time.Second, "longest one write to a client may block")
	s.Duration(&c.Retry, "retry", "STOCKFEED_RETRY", time.Second, "reconnection delay hinted to clients")
	s.Duration(&c.RetryJitter, "retry-jitter", "STOCKFEED_RETRY_JITTER", 2*time.Second, "random extra added to each client's reconnection delay")
	s.Duration(&c.Linger, "live-linger", "STOCKFEED_LIVE_LINGER", 30*time.Second, "how long a live stays followed after its last viewer left")
	s.Duration(&c.JoinTimeout, "join-timeout", "STOCKFEED_JOIN_TIMEOUT", 5*time.Second, "longest a new viewer waits for a live's stock to be read from NATS")
	s.Duration(&c.DrainWindow, "drain-window", "STOCKFEED_DRAIN_WINDOW", 5*time.Second, "on shutdown, streams are ended at random moments over this window")
	s.Duration(&c.ShutdownAfter, "shutdown-timeout", "SHUTDOWN_TIMEOUT", 15*time.Second, "longest a graceful shutdown takes")
	s.String(&c.LogLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	return c, errors.Join(s.Parse(args), c.validate())
}

func (c Config) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Addr == "" {
		bad("STOCKFEED_ADDR: required")
	}
	switch {
	case c.OpsAddr == "":
		bad("OPS_ADDR: required")
	case c.OpsAddr == c.Addr && !strings.HasSuffix(c.Addr, ":0"):
		bad("OPS_ADDR: must differ from STOCKFEED_ADDR: the ops routes stay off the public listener")
	}
	// Not echoed: NATS_URL may carry a password.
	if err := natsconn.Check(c.NATSURL, c.NATSCreds); err != nil {
		errs = append(errs, err)
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		bad("STOCK_STREAM_REPLICAS: must be between 1 and 5")
	}
	if c.StreamCheck < 100*time.Millisecond || c.StreamCheck > 10*time.Minute {
		bad("STOCKFEED_STREAM_CHECK: must be between 100ms and 10m")
	}
	if _, err := c.corsOrigins(); err != nil {
		bad("CORS_ORIGINS: %v", err)
	}
	if _, err := clientip.ParseProxies(c.TrustedProxies); err != nil {
		bad("TRUSTED_PROXIES: %v", err)
	}
	if c.MaxConns < 1 || c.MaxConns > 1_000_000 {
		bad("STOCKFEED_MAX_CONNS: must be between 1 and 1000000")
	}
	// Above STOCKFEED_MAX_CONNS it is harmless (the instance cap bites
	// first), so lowering the instance cap alone is not an error.
	if c.MaxConnsPerIP < 1 || c.MaxConnsPerIP > 1_000_000 {
		bad("STOCKFEED_MAX_CONNS_PER_IP: must be between 1 and 1000000")
	}
	if c.MaxLives < 1 || c.MaxLives > 100_000 {
		bad("STOCKFEED_MAX_LIVES: must be between 1 and 100000")
	}
	// Written as a range test so that NaN, which fails every comparison,
	// is rejected too.
	if !(c.NewLivesPerSecond > 0 && c.NewLivesPerSecond <= 10_000) {
		bad("STOCKFEED_NEW_LIVES_PER_SECOND: must be above 0 and at most 10000")
	}
	if !(c.NewLivesPerClient > 0 && c.NewLivesPerClient <= 10_000) {
		bad("STOCKFEED_NEW_LIVES_PER_CLIENT: must be above 0 and at most 10000")
	}
	if c.Window < time.Millisecond || c.Window > time.Second {
		bad("STOCKFEED_COALESCE_WINDOW: must be between 1ms and 1s")
	}
	if c.QueueLen < 4 || c.QueueLen > 4096 {
		bad("STOCKFEED_CLIENT_QUEUE: must be between 4 and 4096")
	}
	if c.Heartbeat < 100*time.Millisecond || c.Heartbeat > 15*time.Second {
		bad("STOCKFEED_HEARTBEAT: must be between 100ms and 15s (the contract promises one at least every 15s)")
	}
	if c.WriteTimeout < 100*time.Millisecond || c.WriteTimeout > time.Minute {
		bad("STOCKFEED_WRITE_TIMEOUT: must be between 100ms and 1m")
	}
	if c.Retry < 100*time.Millisecond || c.Retry > time.Minute {
		bad("STOCKFEED_RETRY: must be between 100ms and 1m")
	}
	if c.RetryJitter < 0 || c.RetryJitter > time.Minute {
		bad("STOCKFEED_RETRY_JITTER: must be between 0 and 1m")
	}
	if c.Linger < 0 || c.Linger > time.Hour {
		bad("STOCKFEED_LIVE_LINGER: must be between 0 and 1h")
	}
	if c.JoinTimeout < 100*time.Millisecond || c.JoinTimeout > time.Minute {
		bad("STOCKFEED_JOIN_TIMEOUT: must be between 100ms and 1m")
	}
	if c.DrainWindow < 0 || c.DrainWindow > 10*time.Minute {
		bad("STOCKFEED_DRAIN_WINDOW: must be between 0 and 10m")
	}
	if c.ShutdownAfter < time.Second || c.ShutdownAfter > 10*time.Minute {
		bad("SHUTDOWN_TIMEOUT: must be between 1s and 10m")
	}
	if err := applog.CheckLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// corsOrigins parses CORS_ORIGINS: "*" or a list of origins such as
// https://shop.example (scheme, host and optional port; nothing else).
func (c Config) corsOrigins() ([]string, error) {
	var out []string
	for _, o := range strings.Split(c.CORSOrigins, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if o != "*" {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
				u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") {
				return nil, fmt.Errorf("%q is not an origin such as https://shop.example", o)
			}
		}
		out = append(out, o)
	}
	if len(out) == 0 {
		return nil, errors.New("empty; use * to allow every origin")
	}
	return out, nil
}
