// Package scenario is what a load test plays: every setting of a run
// (the system under test, the rates and shares of the sale, the targets
// it is judged by) and the plan derived from them, the catalog on sale and
// who buys and watches what.
package scenario

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"livecommerce/internal/buyertoken"
	"livecommerce/internal/envflag"
	"livecommerce/internal/program"
	"livecommerce/internal/redisconn"
	"livecommerce/loadtest/loopback"
)

// Config is every setting of `loadgen run`.
type Config struct {
	// Where the system under test listens. Every address must be on
	// loopback: the tool must never load a machine it was not meant to.
	EdgeURL    string   // viewers' reads and the buyers' purchases go through the edge
	OriginURLs []string // reads straight from each origin, and the admin API of the first
	FeedURL    string   // live pages' event streams
	NaiveURL   string   // the naive baseline's purchase API ("" skips it)
	StaticURL  string   // the static JSON server ("" skips it)
	WaitURLs   []string // more readiness URLs to wait for before the load (the feed's, the invalidator's)
	// OpsURLs are the ops listeners of the services under test, each
	// named for the files of its profiles.
	OpsURLs []OpsListener
	Profile bool // take a CPU profile of every ops listener over each measured window of the system

	MySQLDSN    string // the database of record of the system under test (and the baseline's tables)
	RedisAddr   string
	RedisPrefix string
	Redis       redisconn.Settings // ACL user, password, TLS: the origins'
	JWTSecret   string
	MerchantKey string

	PurchaseVia         string // "edge" or "origins"
	PurchaseRate        float64
	ReadRate            float64
	EdgeReadShare       float64
	SSEClients          int
	Lives               int
	SKUsPerLive         int
	HotSKUsPerLive      int
	HotShare            float64 // of purchases and reads that go to hot skus
	RetryShare          float64 // of purchases that resend an earlier purchase
	GreedyShare         float64 // of purchases by the few buyers who run into their limit
	FlashShare          float64 // of purchases of the one sku that sells out
	Warmup              time.Duration
	Duration            time.Duration
	BaselineDuration    time.Duration
	Timeout             time.Duration
	Connections         int // reads' connections per server, like wrk2's: requests beyond them wait their turn, late from their due time
	PurchaseConnections int // purchases' connections per server
	MaxInFlight         int
	MaxErrorRate        float64

	Step          bool
	StepRates     []float64 // purchase rates of the capacity search
	StepReadRates []float64 // stock read rates of the capacity search
	StepDuration  time.Duration
	StepSettle    time.Duration // load before each step's measured window

	Targets    Targets
	OutDir     string
	Seed       uint64
	Machine    string // what the report says the figures ran on ("" = read from this machine)
	CPUProfile string // where to write the tool's own CPU profile ("" = none)
}

// OpsListener is one service's ops listener.
type OpsListener struct {
	Name string // the service, as profile file names show it: origin-1
	URL  string // http://host:port, on loopback
}

// Targets are the p99 bounds a run is judged by: the brief's and the
// team's own.
type Targets struct {
	BriefPurchaseP99, BriefReadP99 time.Duration
	OursPurchaseP99, OursReadP99   time.Duration
}

// DefaultTargets are the brief's (purchase p99 < 300 ms, read p99 < 100
// ms) and ours (< 50 ms, < 10 ms) on a 2-core machine, load generator
// included.
var DefaultTargets = Targets{
	BriefPurchaseP99: 300 * time.Millisecond, BriefReadP99: 100 * time.Millisecond,
	OursPurchaseP99: 50 * time.Millisecond, OursReadP99: 10 * time.Millisecond,
}

// Upper bounds on the load: a typo must not become a runaway loop.
const (
	maxRate       = 200_000
	maxSSEClients = 50_000
	maxDuration   = 30 * time.Minute
	maxLives      = 1000
	maxSKUsLive   = 100
	maxInFlight   = 100_000
	maxStepRates  = 30
	maxOps        = 16
)

// DefaultOpsURLs are scripts/bench.sh's ops listeners.
const DefaultOpsURLs = "origin-1=http://127.0.0.1:19101,origin-2=http://127.0.0.1:19104,stockfeed=http://127.0.0.1:19103,edge-invalidator=http://127.0.0.1:19102"

// Load reads the flags and environment of `loadgen run`; its errors are
// usage errors (program.Usage), each naming its setting.
func Load(args []string, getenv func(string) string) (Config, error) {
	var c Config
	var origins, steps, readSteps, waits, ops string
	var seed int
	fs := flag.NewFlagSet("loadgen run", flag.ContinueOnError)
	s := envflag.New(fs, getenv)
	s.String(&c.EdgeURL, "edge-url", "LOADGEN_EDGE_URL", "http://127.0.0.1:18000", "the edge: viewers' reads and buyers' purchases")
	s.String(&origins, "origin-urls", "LOADGEN_ORIGIN_URLS", "http://127.0.0.1:18080,http://127.0.0.1:18082", "origins, comma-separated: direct reads, and the admin API of the first")
	s.String(&c.FeedURL, "feed-url", "LOADGEN_FEED_URL", "http://127.0.0.1:18081", "where live pages open their event streams (the stockfeed; the edge only relays them)")
	s.String(&c.NaiveURL, "naive-url", "LOADGEN_NAIVE_URL", "http://127.0.0.1:18090", "the naive MySQL-only baseline (empty: skip it)")
	s.String(&c.StaticURL, "static-url", "LOADGEN_STATIC_URL", "http://127.0.0.1:18091", "the static JSON server, the ceiling for reads (empty: skip it)")
	s.String(&waits, "wait-urls", "LOADGEN_WAIT_URLS", "http://127.0.0.1:18081/readyz,http://127.0.0.1:19102/readyz", "readiness URLs to wait for besides the origins', the edge's and the baselines' (empty: none)")
	s.String(&ops, "ops-urls", "LOADGEN_OPS_URLS", DefaultOpsURLs, "ops listeners of the services under test, as name=http://host:port, comma-separated: where --profile takes its CPU profiles")
	s.Bool(&c.Profile, "profile", "LOADGEN_PROFILE", false, "take a CPU profile of every service of LOADGEN_OPS_URLS over each measured window of the system, into the report's profiles/")
	s.String(&c.MySQLDSN, "mysql-dsn", "MYSQL_DSN", "root@tcp(127.0.0.1:3306)/lc_bench?parseTime=true", "database of record of the system under test, for the invariant check")
	s.String(&c.RedisAddr, "redis-addr", "REDIS_ADDR", "127.0.0.1:6379", "Redis of the system under test")
	redisconn.Bind(s, &c.Redis)
	s.String(&c.RedisPrefix, "redis-prefix", "REDIS_PREFIX", "lcbench:", "the origins' Redis key prefix")
	s.String(&c.JWTSecret, "jwt-secret", "BUYER_JWT_SECRET", "", "HS256 secret the origins check buyer tokens with (required)")
	s.String(&c.MerchantKey, "merchant-key", "MERCHANT_API_KEY", "", "API key of the merchant whose lives the run creates (required)")
	s.String(&c.PurchaseVia, "purchase-via", "LOADGEN_PURCHASE_VIA", "origins", "where buyers send purchases: origins (round robin, as the load balancer behind the CDN would), or edge")
	s.Float(&c.PurchaseRate, "purchase-rate", "LOADGEN_PURCHASE_RATE", 1000, "purchases per second")
	s.Float(&c.ReadRate, "read-rate", "LOADGEN_READ_RATE", 20000, "stock reads per second")
	s.Float(&c.EdgeReadShare, "edge-read-share", "LOADGEN_EDGE_READ_SHARE", 0.75, "share of reads through the edge; the rest go straight to the origins")
	s.Int(&c.SSEClients, "sse-clients", "LOADGEN_SSE_CLIENTS", 5000, "live pages holding an event stream")
	s.Int(&c.Lives, "lives", "LOADGEN_LIVES", 50, "lives on sale")
	s.Int(&c.SKUsPerLive, "skus-per-live", "LOADGEN_SKUS_PER_LIVE", 4, "products per live")
	s.Int(&c.HotSKUsPerLive, "hot-skus-per-live", "LOADGEN_HOT_SKUS_PER_LIVE", 1, "of which hot")
	s.Float(&c.HotShare, "hot-share", "LOADGEN_HOT_SHARE", 0.8, "share of purchases and reads on hot skus")
	s.Float(&c.RetryShare, "retry-share", "LOADGEN_RETRY_SHARE", 0.05, "share of purchases that resend an earlier purchase with its idempotency key")
	s.Float(&c.GreedyShare, "greedy-share", "LOADGEN_GREEDY_SHARE", 0.03, "share of purchases by buyers who keep buying past their limit")
	s.Float(&c.FlashShare, "flash-share", "LOADGEN_FLASH_SHARE", 0.02, "share of purchases of the one sku that sells out early")
	s.Duration(&c.Warmup, "warmup", "LOADGEN_WARMUP", 10*time.Second, "load before measuring")
	s.Duration(&c.Duration, "duration", "LOADGEN_DURATION", 60*time.Second, "measured load")
	s.Duration(&c.BaselineDuration, "baseline-duration", "LOADGEN_BASELINE_DURATION", 30*time.Second, "measured load of each baseline")
	s.Duration(&c.Timeout, "timeout", "LOADGEN_TIMEOUT", 5*time.Second, "longest wait for one answer")
	s.Int(&c.Connections, "connections", "LOADGEN_CONNECTIONS", 64, "keep-alive connections per server for reads; a read that finds them all busy waits, and the wait counts in its latency")
	s.Int(&c.PurchaseConnections, "purchase-connections", "LOADGEN_PURCHASE_CONNECTIONS", 256, "keep-alive connections per server for purchases, likewise")
	s.Int(&c.MaxInFlight, "max-in-flight", "LOADGEN_MAX_IN_FLIGHT", 20000, "requests waiting for an answer at most, per kind; past it the run falls behind its schedule")
	s.Float(&c.MaxErrorRate, "max-error-rate", "LOADGEN_MAX_ERROR_RATE", 0.001, "share of unexpected errors (not sold_out, limit or key-in-use) a run may see and pass")
	s.Bool(&c.Step, "step", "LOADGEN_STEP", false, "capacity search: raise the purchase rate step by step until p99 breaks")
	s.String(&steps, "step-rates", "LOADGEN_STEP_RATES", "250,500,750,1000,1250,1500,2000,2500,3000,4000", "purchase rates of the capacity search, ascending")
	s.String(&readSteps, "step-read-rates", "LOADGEN_STEP_READ_RATES", "2500,5000,7500,10000,15000,20000,25000,30000,40000", "stock read rates of the capacity search, ascending")
	s.Duration(&c.StepDuration, "step-duration", "LOADGEN_STEP_DURATION", 10*time.Second, "measured load of each step (after its settle)")
	s.Duration(&c.StepSettle, "step-settle", "LOADGEN_STEP_SETTLE", 3*time.Second, "load before each step's measured window (the rate rises over its first half)")
	s.String(&c.OutDir, "out", "LOADGEN_OUT", "", "report folder (default: .run/bench/ and the UTC time)")
	s.Int(&seed, "seed", "LOADGEN_SEED", 1, "seed of the run's random choices")
	s.String(&c.Machine, "machine", "LOADGEN_MACHINE", "", "what the report says the run ran on (default: read from this machine)")
	s.String(&c.CPUProfile, "cpuprofile", "LOADGEN_CPUPROFILE", "", "write the load generator's own CPU profile to this file")
	err := s.Parse(args)
	c.OriginURLs, c.WaitURLs = splitList(origins), splitList(waits)
	var opsErr error
	c.OpsURLs, opsErr = parseOps(ops)
	if c.OutDir == "" {
		// A new folder per run: a report is never written over another.
		c.OutDir = filepath.Join(".run", "bench", time.Now().UTC().Format("20060102T150405Z"))
	}
	c.Seed = uint64(max(seed, 0))
	var stepErr error
	if c.StepRates, stepErr = parseRates(steps); stepErr != nil {
		stepErr = fmt.Errorf("LOADGEN_STEP_RATES: %w", stepErr)
	}
	var readStepErr error
	if c.StepReadRates, readStepErr = parseRates(readSteps); readStepErr != nil {
		stepErr = errors.Join(stepErr, fmt.Errorf("LOADGEN_STEP_READ_RATES: %w", readStepErr))
	}
	c.Targets = DefaultTargets
	if fs.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if seed < 0 {
		stepErr = errors.Join(stepErr, errors.New("LOADGEN_SEED: must not be negative"))
	}
	return c, program.Usage(errors.Join(err, stepErr, opsErr, c.validate()))
}

// opsName is what a service's name may be: it becomes part of a file's.
var opsName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// parseOps reads LOADGEN_OPS_URLS: name=http://host:port pairs on
// loopback, names unique.
func parseOps(s string) ([]OpsListener, error) {
	parts := splitList(s)
	if len(parts) > maxOps {
		return nil, fmt.Errorf("LOADGEN_OPS_URLS: at most %d", maxOps)
	}
	var out []OpsListener
	var errs []error
	for _, p := range parts {
		name, u, ok := strings.Cut(p, "=")
		name, u = strings.TrimSpace(name), strings.TrimSpace(u)
		if !ok || !opsName.MatchString(name) {
			errs = append(errs, fmt.Errorf("LOADGEN_OPS_URLS: %.80q is not name=http://host:port with a name of a-z 0-9 - (at most 32)", p))
			continue
		}
		if err := loopback.CheckURL("LOADGEN_OPS_URLS", u); err != nil {
			errs = append(errs, err)
			continue
		}
		if slices.ContainsFunc(out, func(o OpsListener) bool { return o.Name == name }) {
			errs = append(errs, fmt.Errorf("LOADGEN_OPS_URLS: %q named twice", name))
			continue
		}
		out = append(out, OpsListener{Name: name, URL: strings.TrimSuffix(u, "/")})
	}
	return out, errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseRates(s string) ([]float64, error) {
	parts := splitList(s)
	if len(parts) == 0 || len(parts) > maxStepRates {
		return nil, fmt.Errorf("need 1 to %d rates", maxStepRates)
	}
	rates := make([]float64, 0, len(parts))
	for _, p := range parts {
		r, err := strconv.ParseFloat(p, 64)
		if err != nil || !(r > 0 && r <= maxRate) {
			return nil, fmt.Errorf("%q is not a rate above 0 and at most %d", p, maxRate)
		}
		if len(rates) > 0 && r <= rates[len(rates)-1] {
			return nil, fmt.Errorf("rates must rise: %q after %g", p, rates[len(rates)-1])
		}
		rates = append(rates, r)
	}
	return rates, nil
}

func (c *Config) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	for _, u := range []struct{ name, url string }{{"LOADGEN_EDGE_URL", c.EdgeURL}, {"LOADGEN_FEED_URL", c.FeedURL}} {
		if err := loopback.CheckURL(u.name, u.url); err != nil {
			errs = append(errs, err)
		}
	}
	for _, u := range []struct{ name, url string }{{"LOADGEN_NAIVE_URL", c.NaiveURL}, {"LOADGEN_STATIC_URL", c.StaticURL}} {
		if u.url == "" {
			continue
		}
		if err := loopback.CheckURL(u.name, u.url); err != nil {
			errs = append(errs, err)
		}
	}
	check(len(c.WaitURLs) <= 16, "LOADGEN_WAIT_URLS: at most 16")
	for _, w := range c.WaitURLs {
		if err := loopback.CheckURLWithPath("LOADGEN_WAIT_URLS", w); err != nil {
			errs = append(errs, err)
		}
	}
	check(len(c.OriginURLs) >= 1 && len(c.OriginURLs) <= 16, "LOADGEN_ORIGIN_URLS: need 1 to 16 origins")
	for _, o := range c.OriginURLs {
		if err := loopback.CheckURL("LOADGEN_ORIGIN_URLS", o); err != nil {
			errs = append(errs, err)
		}
	}
	c.EdgeURL, c.FeedURL = strings.TrimSuffix(c.EdgeURL, "/"), strings.TrimSuffix(c.FeedURL, "/")
	c.NaiveURL, c.StaticURL = strings.TrimSuffix(c.NaiveURL, "/"), strings.TrimSuffix(c.StaticURL, "/")
	for i := range c.OriginURLs {
		c.OriginURLs[i] = strings.TrimSuffix(c.OriginURLs[i], "/")
	}
	if cfg, err := mysql.ParseDSN(c.MySQLDSN); err != nil {
		errs = append(errs, fmt.Errorf("MYSQL_DSN: %w", err))
	} else {
		check(cfg.DBName != "", "MYSQL_DSN: must name a database")
	}
	check(c.PurchaseVia == "edge" || c.PurchaseVia == "origins", "LOADGEN_PURCHASE_VIA: edge or origins")
	check(c.RedisAddr != "", "REDIS_ADDR: required")
	if err := c.Redis.Check(); err != nil {
		errs = append(errs, err)
	}
	check(c.RedisPrefix != "" && len(c.RedisPrefix) <= 64 && !strings.ContainsAny(c.RedisPrefix, "*?[]\\ \r\n"), "REDIS_PREFIX: 1 to 64 characters, no spaces or glob characters")
	check(len(c.JWTSecret) >= buyertoken.MinSecretLen, "BUYER_JWT_SECRET: required, at least %d bytes", buyertoken.MinSecretLen)
	check(c.MerchantKey != "" && len(c.MerchantKey) <= 256 && !strings.ContainsAny(c.MerchantKey, " \r\n"), "MERCHANT_API_KEY: required, one word")
	rate := func(name string, v float64, min float64) {
		check(!math.IsNaN(v) && v >= min && v <= maxRate, "%s: must be between %g and %d", name, min, maxRate)
	}
	rate("LOADGEN_PURCHASE_RATE", c.PurchaseRate, 0)
	rate("LOADGEN_READ_RATE", c.ReadRate, 0)
	share := func(name string, v float64) {
		check(!math.IsNaN(v) && v >= 0 && v <= 1, "%s: must be between 0 and 1", name)
	}
	share("LOADGEN_EDGE_READ_SHARE", c.EdgeReadShare)
	share("LOADGEN_HOT_SHARE", c.HotShare)
	share("LOADGEN_RETRY_SHARE", c.RetryShare)
	share("LOADGEN_GREEDY_SHARE", c.GreedyShare)
	share("LOADGEN_FLASH_SHARE", c.FlashShare)
	share("LOADGEN_MAX_ERROR_RATE", c.MaxErrorRate)
	check(c.RetryShare+c.GreedyShare+c.FlashShare <= 0.5, "LOADGEN_RETRY_SHARE, LOADGEN_GREEDY_SHARE and LOADGEN_FLASH_SHARE: together at most 0.5")
	check(c.SSEClients >= 0 && c.SSEClients <= maxSSEClients, "LOADGEN_SSE_CLIENTS: must be between 0 and %d", maxSSEClients)
	check(c.Lives >= 1 && c.Lives <= maxLives, "LOADGEN_LIVES: must be between 1 and %d", maxLives)
	check(c.SKUsPerLive >= 2 && c.SKUsPerLive <= maxSKUsLive, "LOADGEN_SKUS_PER_LIVE: must be between 2 and %d", maxSKUsLive)
	check(c.HotSKUsPerLive >= 1 && c.HotSKUsPerLive < c.SKUsPerLive, "LOADGEN_HOT_SKUS_PER_LIVE: must be at least 1 and below LOADGEN_SKUS_PER_LIVE")
	dur := func(name string, v, min time.Duration) {
		check(v >= min && v <= maxDuration, "%s: must be between %s and %s", name, min, maxDuration)
	}
	dur("LOADGEN_WARMUP", c.Warmup, 0)
	dur("LOADGEN_DURATION", c.Duration, time.Second)
	dur("LOADGEN_BASELINE_DURATION", c.BaselineDuration, time.Second)
	dur("LOADGEN_STEP_DURATION", c.StepDuration, time.Second)
	dur("LOADGEN_STEP_SETTLE", c.StepSettle, 0)
	check(c.Timeout >= 100*time.Millisecond && c.Timeout <= time.Minute, "LOADGEN_TIMEOUT: must be between 100ms and 1m")
	check(c.Connections >= 1 && c.Connections <= 10_000, "LOADGEN_CONNECTIONS: must be between 1 and 10000")
	check(c.PurchaseConnections >= 1 && c.PurchaseConnections <= 10_000, "LOADGEN_PURCHASE_CONNECTIONS: must be between 1 and 10000")
	check(c.MaxInFlight >= 1 && c.MaxInFlight <= maxInFlight, "LOADGEN_MAX_IN_FLIGHT: must be between 1 and %d", maxInFlight)
	check(c.OutDir != "" && !strings.ContainsRune(c.OutDir, 0) && filepath.Clean(c.OutDir) != "/", "LOADGEN_OUT: a folder other than /")
	check(!c.Profile || len(c.OpsURLs) > 0, "LOADGEN_OPS_URLS: LOADGEN_PROFILE needs at least one ops listener")
	check(len(c.Machine) <= 200 && !strings.ContainsAny(c.Machine, "\r\n|"), "LOADGEN_MACHINE: one line of at most 200 bytes, no |")
	return errors.Join(errs...)
}

// PurchaseURLs are where buyers send purchases: the edge, or the origins
// round robin (a load balancer's part).
func (c Config) PurchaseURLs() []string {
	if c.PurchaseVia == "origins" {
		return c.OriginURLs
	}
	return []string{c.EdgeURL}
}

// ReadyURLs are what must answer 200 before the load starts. The edge is
// not among them: it keeps operational routes from the public (see
// EdgeProbeURL).
func (c Config) ReadyURLs() []string {
	var urls []string
	for _, o := range c.OriginURLs {
		urls = append(urls, o+"/readyz")
	}
	for _, b := range []string{c.NaiveURL, c.StaticURL} {
		if b != "" {
			urls = append(urls, b+"/readyz")
		}
	}
	return append(urls, c.WaitURLs...)
}

// EdgeProbeURL is what tells that the edge is up: its /readyz, which an
// edge that keeps operational routes from the public (the local edge)
// answers itself with 404, and one that passes it to an origin with 200.
func (c Config) EdgeProbeURL() string { return c.EdgeURL + "/readyz" }
