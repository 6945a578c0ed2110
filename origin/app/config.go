package app

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"livecommerce/internal/applog"
	"livecommerce/internal/buyertoken"
	"livecommerce/internal/clientip"
	"livecommerce/internal/envflag"
	"livecommerce/internal/natsconn"
	"livecommerce/internal/redisconn"
	"livecommerce/origin/inventory"
	"livecommerce/origin/mysqlstore"
	"livecommerce/origin/shop"
	"livecommerce/origin/stockread"
)

// Config is every setting of `origin serve`.
type Config struct {
	Addr            string
	RedisAddr       string
	RedisPrefix     string
	Redis           redisconn.Settings // ACL user, password, TLS
	MySQLDSN        string
	MySQLMaxConns   int
	NATSURL         string
	NATSCreds       string // a .creds file; "" = none
	StreamReplicas  int
	JWTSecret       string
	JWTIssuer       string        // "": iss not checked
	JWTAudience     string        // "": tokens with an aud refused
	JWTMaxTTL       time.Duration // longest lifetime a buyer token may have left
	MicroCacheTTL   time.Duration
	PurchaseTimeout time.Duration
	BatchWindow     time.Duration
	BatchShards     int
	BatchBusyRate   float64
	CommitTimeout   time.Duration
	ReconcileEvery  time.Duration
	IdempotencyTTL  time.Duration
	IPRate          float64
	IPBurst         int
	BuyerRate       float64
	BuyerBurst      int
	TrustedProxies  string
	ShutdownAfter   time.Duration
	LogLevel        string
	// OpsAddr serves /healthz, /readyz and /metrics, off the public
	// listener.
	OpsAddr         string
	ReadMissRate    float64
	ReadMissBurst   int
	UnknownTTL      time.Duration
	UploadMaxRows   int
	ProductsPerLive int
	LivesListed     int
}

// DefaultMySQLDSN is the contract's development default.
const DefaultMySQLDSN = "root@tcp(127.0.0.1:3306)/livecommerce?parseTime=true"

// BindCommon binds the settings every origin command shares.
func BindCommon(s *envflag.Set, c *Config) {
	s.String(&c.RedisAddr, "redis-addr", "REDIS_ADDR", "127.0.0.1:6379", "Redis address")
	s.String(&c.RedisPrefix, "redis-prefix", "REDIS_PREFIX", "lc:", "prefix of every Redis key")
	redisconn.Bind(s, &c.Redis)
	s.String(&c.MySQLDSN, "mysql-dsn", "MYSQL_DSN", DefaultMySQLDSN, "MySQL DSN of the database of record")
	s.String(&c.NATSURL, "nats-url", "NATS_URL", "nats://127.0.0.1:4222", "NATS server URL")
	s.String(&c.NATSCreds, "nats-creds", "NATS_CREDS", "", "NATS .creds file (user JWT and seed) to sign in with (empty: none)")
	s.Int(&c.StreamReplicas, "stream-replicas", "STOCK_STREAM_REPLICAS", 1, "replicas of the STOCK stream (3 on a NATS cluster)")
	s.String(&c.LogLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
}

// LoadServe reads flags and environment for `origin serve`.
func LoadServe(args []string, getenv func(string) string) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("origin serve", flag.ContinueOnError)
	s := envflag.New(fs, getenv)
	BindCommon(s, &c)
	s.String(&c.Addr, "addr", "ORIGIN_ADDR", ":8080", "listen address")
	BindBuyerToken(s, &c)
	s.Int(&c.MySQLMaxConns, "mysql-max-conns", "MYSQL_MAX_CONNS", 32, "MySQL connection pool size")
	s.Duration(&c.MicroCacheTTL, "microcache-ttl", "MICROCACHE_TTL", 200*time.Millisecond, "how long a stock read is reused in process (at most 250ms)")
	s.Duration(&c.PurchaseTimeout, "purchase-timeout", "PURCHASE_TIMEOUT", 2*time.Second, "longest a buyer waits for a purchase's outcome")
	s.Duration(&c.BatchWindow, "order-batch-window", "ORDER_BATCH_WINDOW", 20*time.Millisecond, "shortest time between the starts of two commits of a busy writer loop (see ORDER_BATCH_BUSY_RATE): its batch is what queued meanwhile (also caps a hot sku's row updates; 0: commits back to back)")
	s.Float(&c.BatchBusyRate, "order-batch-busy-rate", "ORDER_BATCH_BUSY_RATE", 200, "purchases/s reaching a writer loop from which it waits for company, up to the batch window; below it a purchase is committed at once (0: always wait)")
	s.Int(&c.BatchShards, "order-shards", "ORDER_SHARDS", 1, "order writer loops (a sku always uses the same one)")
	s.Duration(&c.CommitTimeout, "order-commit-timeout", "ORDER_COMMIT_TIMEOUT", 1500*time.Millisecond, "longest one order batch transaction may take, retries included")
	s.Duration(&c.IdempotencyTTL, "idempotency-ttl", "IDEMPOTENCY_TTL", 24*time.Hour, "how long Redis keeps a finished purchase's answer for replays (the database remembers the key forever)")
	s.Duration(&c.ReconcileEvery, "reconcile-interval", "RECONCILE_INTERVAL", time.Minute, "how often every sku's Redis counters are compared with the database (0 = only when drift is seen)")
	s.Float(&c.IPRate, "rate-limit-ip", "RATE_LIMIT_IP", 50, "purchases and order reads per second per client IP (0 = off)")
	s.Int(&c.IPBurst, "rate-limit-ip-burst", "RATE_LIMIT_IP_BURST", 100, "burst per client IP")
	s.Float(&c.BuyerRate, "rate-limit-buyer", "RATE_LIMIT_BUYER", 5, "purchases and order reads per second per buyer (0 = off)")
	s.Int(&c.BuyerBurst, "rate-limit-buyer-burst", "RATE_LIMIT_BUYER_BURST", 10, "burst per buyer")
	s.String(&c.TrustedProxies, "trusted-proxies", "TRUSTED_PROXIES", "127.0.0.1,::1", "comma-separated addresses or CIDRs allowed to set X-Forwarded-For")
	s.Duration(&c.ShutdownAfter, "shutdown-timeout", "SHUTDOWN_TIMEOUT", 15*time.Second, "longest a graceful shutdown waits for in-flight requests")
	s.String(&c.OpsAddr, "ops-addr", "OPS_ADDR", "127.0.0.1:9101", "listen address of /healthz, /readyz and /metrics (never behind the edge)")
	s.Float(&c.ReadMissRate, "rate-limit-read-miss", "RATE_LIMIT_READ_MISS", 10, "stock reads per second per client address that need the database (an id Redis does not hold: unknown, or not loaded); past it they are answered 429, reads Redis answers never are (0 = off)")
	s.Int(&c.ReadMissBurst, "rate-limit-read-miss-burst", "RATE_LIMIT_READ_MISS_BURST", 50, "burst of stock reads that need the database, per client address")
	s.Duration(&c.UnknownTTL, "unknown-id-ttl", "UNKNOWN_ID_TTL", inventory.DefaultUnknownTTL, "how long a sku or live the database does not know is remembered as unknown (creating it ends that at once)")
	s.Int(&c.UploadMaxRows, "upload-max-rows", "UPLOAD_MAX_ROWS", shop.DefaultLimits.RowsPerRequest, fmt.Sprintf("product rows one upsert request may carry (at most %d)", shop.MaxProducts))
	s.Int(&c.LivesListed, "max-lives-listed", "MAX_LIVES_LISTED", shop.DefaultLimits.LivesListed, "lives one GET /admin/v1/lives shows, newest first")
	s.Int(&c.ProductsPerLive, "max-products-per-live", "MAX_PRODUCTS_PER_LIVE", shop.DefaultLimits.ProductsPerLive, "products one live may hold (bounds a live's stock read and each viewer's snapshot)")
	// Report bad values and missing settings together, so one start shows
	// everything to fix.
	return c, errors.Join(s.Parse(args), c.validateServe())
}

func (c Config) validateCommon() error {
	var errs []error
	if c.RedisAddr == "" {
		errs = append(errs, errors.New("REDIS_ADDR: required"))
	}
	if _, err := mysql.ParseDSN(c.MySQLDSN); err != nil {
		errs = append(errs, fmt.Errorf("MYSQL_DSN: %w", err))
	} else if cfg, _ := mysql.ParseDSN(c.MySQLDSN); cfg.DBName == "" {
		errs = append(errs, errors.New("MYSQL_DSN: must name a database"))
	} else if err := mysqlstore.CheckDSN(c.MySQLDSN); err != nil {
		// Not echoed: the DSN may carry a password.
		errs = append(errs, fmt.Errorf("MYSQL_DSN: %w", err))
	}
	if err := c.Redis.Check(); err != nil {
		errs = append(errs, err)
	}
	// Neither echoes NATS_URL, which may carry a password.
	if err := natsconn.Check(c.NATSURL, c.NATSCreds); err != nil {
		errs = append(errs, err)
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		errs = append(errs, errors.New("STOCK_STREAM_REPLICAS: must be between 1 and 5"))
	}
	if err := applog.CheckLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c Config) validateServe() error {
	errs := []error{c.validateCommon(), c.ValidateBuyerToken()}
	if c.MicroCacheTTL <= 0 || c.MicroCacheTTL > stockread.MaxTTL {
		errs = append(errs, fmt.Errorf("MICROCACHE_TTL: must be above 0 and at most %s", stockread.MaxTTL))
	}
	if c.PurchaseTimeout < 100*time.Millisecond || c.PurchaseTimeout > time.Minute {
		errs = append(errs, errors.New("PURCHASE_TIMEOUT: must be between 100ms and 1m"))
	}
	if c.BatchWindow < 0 || c.BatchWindow > time.Second {
		errs = append(errs, errors.New("ORDER_BATCH_WINDOW: must be between 0 and 1s"))
	}
	if _, err := clientip.ParseProxies(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("TRUSTED_PROXIES: %w", err))
	}
	if c.CommitTimeout < 100*time.Millisecond || c.CommitTimeout > time.Minute {
		errs = append(errs, errors.New("ORDER_COMMIT_TIMEOUT: must be between 100ms and 1m"))
	}
	if c.ReconcileEvery < 0 || (c.ReconcileEvery > 0 && c.ReconcileEvery < time.Second) {
		errs = append(errs, errors.New("RECONCILE_INTERVAL: must be 0 (off) or at least 1s"))
	}
	if c.IdempotencyTTL < time.Minute || c.IdempotencyTTL > 30*24*time.Hour {
		errs = append(errs, errors.New("IDEMPOTENCY_TTL: must be between 1m and 720h"))
	}
	if !(c.BatchBusyRate >= 0 && c.BatchBusyRate <= 1e6) {
		errs = append(errs, errors.New("ORDER_BATCH_BUSY_RATE: must be between 0 and 1000000"))
	}
	if c.BatchShards < 1 || c.BatchShards > 64 {
		errs = append(errs, errors.New("ORDER_SHARDS: must be between 1 and 64"))
	}
	if c.MySQLMaxConns < 2 || c.MySQLMaxConns > 1000 {
		errs = append(errs, errors.New("MYSQL_MAX_CONNS: must be between 2 and 1000"))
	}
	if c.IPRate < 0 || c.BuyerRate < 0 || c.IPBurst < 1 || c.BuyerBurst < 1 {
		errs = append(errs, errors.New("RATE_LIMIT_*: rates must be 0 or more and bursts at least 1"))
	}
	if c.ShutdownAfter <= 0 {
		errs = append(errs, errors.New("SHUTDOWN_TIMEOUT: must be positive"))
	}
	if c.Addr == "" {
		errs = append(errs, errors.New("ORIGIN_ADDR: required"))
	}
	if c.OpsAddr == "" {
		errs = append(errs, errors.New("OPS_ADDR: required"))
	} else if c.OpsAddr == c.Addr && !strings.HasSuffix(c.Addr, ":0") {
		errs = append(errs, errors.New("OPS_ADDR: must differ from ORIGIN_ADDR: the ops routes stay off the public listener"))
	}
	if c.ReadMissRate < 0 || c.ReadMissBurst < 1 {
		errs = append(errs, errors.New("RATE_LIMIT_READ_MISS: must be 0 or more, with a burst of at least 1"))
	}
	if c.UnknownTTL < time.Second || c.UnknownTTL > time.Hour {
		errs = append(errs, errors.New("UNKNOWN_ID_TTL: must be between 1s and 1h"))
	}
	if c.UploadMaxRows < 1 || c.UploadMaxRows > shop.MaxProducts {
		errs = append(errs, fmt.Errorf("UPLOAD_MAX_ROWS: must be between 1 and %d", shop.MaxProducts))
	}
	if c.LivesListed < 1 || c.LivesListed > 10_000 {
		errs = append(errs, errors.New("MAX_LIVES_LISTED: must be between 1 and 10000"))
	}
	if c.ProductsPerLive < 1 || c.ProductsPerLive > 100_000 {
		errs = append(errs, errors.New("MAX_PRODUCTS_PER_LIVE: must be between 1 and 100000"))
	}
	return errors.Join(errs...)
}

// BindBuyerToken binds the buyer-token settings, which `origin serve`
// verifies with and `origin token` issues with.
func BindBuyerToken(s *envflag.Set, c *Config) {
	s.String(&c.JWTSecret, "jwt-secret", "BUYER_JWT_SECRET", "", fmt.Sprintf("HS256 secret of buyer tokens (required, at least %d bytes)", buyertoken.MinSecretLen))
	s.String(&c.JWTIssuer, "jwt-issuer", "BUYER_JWT_ISSUER", "", "iss a buyer token must carry, exactly (empty: iss is not checked)")
	s.String(&c.JWTAudience, "jwt-audience", "BUYER_JWT_AUDIENCE", "", "aud a buyer token must list (empty: a token with any aud is refused, as minted for another service)")
	s.Duration(&c.JWTMaxTTL, "jwt-max-ttl", "BUYER_JWT_MAX_TTL", buyertoken.DefaultMaxTTL, "longest a buyer token may still have to live, 1m to 720h; a token expiring later is refused")
}

// ValidateBuyerToken checks the settings BindBuyerToken binds.
func (c Config) ValidateBuyerToken() error {
	var errs []error
	if len(c.JWTSecret) < buyertoken.MinSecretLen {
		errs = append(errs, fmt.Errorf("BUYER_JWT_SECRET: required, at least %d bytes", buyertoken.MinSecretLen))
	}
	// Neither value is echoed: a mistyped variable may hold a secret.
	if c.JWTIssuer != "" && !buyertoken.ValidClaimValue(c.JWTIssuer) {
		errs = append(errs, fmt.Errorf("BUYER_JWT_ISSUER: at most %d printable ASCII characters without spaces", buyertoken.MaxClaimValueLen))
	}
	if c.JWTAudience != "" && !buyertoken.ValidClaimValue(c.JWTAudience) {
		errs = append(errs, fmt.Errorf("BUYER_JWT_AUDIENCE: at most %d printable ASCII characters without spaces", buyertoken.MaxClaimValueLen))
	}
	if c.JWTMaxTTL < buyertoken.ShortestMaxTTL || c.JWTMaxTTL > buyertoken.LongestMaxTTL {
		errs = append(errs, errors.New("BUYER_JWT_MAX_TTL: must be between 1m and 720h"))
	}
	return errors.Join(errs...)
}

// BuyerTokenOptions are the issuer, audience and maximum lifetime of buyer
// tokens, for buyertoken.Issue and buyertoken.NewVerifier alike.
func (c Config) BuyerTokenOptions() []buyertoken.Option {
	return []buyertoken.Option{
		buyertoken.WithIssuer(c.JWTIssuer),
		buyertoken.WithAudience(c.JWTAudience),
		buyertoken.WithMaxTTL(c.JWTMaxTTL),
	}
}

// LoadCommon reads the shared settings for the operator commands.
func LoadCommon(name string, args []string, getenv func(string) string, extra func(*envflag.Set)) (Config, error) {
	var c Config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	s := envflag.New(fs, getenv)
	BindCommon(s, &c)
	if extra != nil {
		extra(s)
	}
	if err := s.Parse(args); err != nil {
		return c, err
	}
	return c, c.validateCommon()
}

// LoadCommand is LoadCommon for a command whose own flags name what it acts
// on (a merchant, a key). bind adds those as plain flags with no
// environment variable: a variable left set in a shell must never choose
// which key is revoked. A stray argument is refused rather than ignored, as
// "revoke lck_..." without --key would otherwise do nothing silently.
func LoadCommand(name string, args []string, getenv func(string) string, bind func(*flag.FlagSet)) (Config, error) {
	var c Config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	s := envflag.New(fs, getenv)
	BindCommon(s, &c)
	bind(fs)
	if err := s.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		// Not echoed: it may be a whole API key, secret included.
		return c, fmt.Errorf("%s: unexpected argument after the flags (%d of them); every value goes with its flag, see -h", name, fs.NArg())
	}
	return c, c.validateCommon()
}

func (c Config) proxies() []string {
	var out []string
	for _, p := range strings.Split(c.TrustedProxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
