package scenario

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"livecommerce/internal/redisconn"
)

// requiredRunEnv is the least environment `loadgen run` starts with.
var requiredRunEnv = map[string]string{
	"BUYER_JWT_SECRET": "config-test-secret-0123456789abcdef",
	"MERCHANT_API_KEY": "mk_config_test",
}

// runEnv is a getenv over the required settings plus kv (name, value
// pairs); a later pair overrides an earlier one.
func runEnv(kv ...string) func(string) string {
	env := map[string]string{}
	for k, v := range requiredRunEnv {
		env[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return func(k string) string { return env[k] }
}

// defaultRunConfig is the configuration of `loadgen run` with nothing set
// but the required secrets.
func defaultRunConfig(t *testing.T) Config {
	t.Helper()
	c, err := Load(nil, runEnv())
	if err != nil {
		t.Fatalf("Load with the defaults: %v", err)
	}
	return c
}

func TestLoadDefaults(t *testing.T) {
	c := defaultRunConfig(t)
	if c.EdgeURL != "http://127.0.0.1:18000" {
		t.Errorf("EdgeURL: got %q, want http://127.0.0.1:18000", c.EdgeURL)
	}
	if want := []string{"http://127.0.0.1:18080", "http://127.0.0.1:18082"}; !slices.Equal(c.OriginURLs, want) {
		t.Errorf("OriginURLs: got %q, want %q", c.OriginURLs, want)
	}
	if c.PurchaseVia != "origins" {
		t.Errorf("PurchaseVia: got %q, want origins", c.PurchaseVia)
	}
	if c.PurchaseRate != 1000 || c.ReadRate != 20000 {
		t.Errorf("rates: got %g purchases/s and %g reads/s, want 1000 and 20000", c.PurchaseRate, c.ReadRate)
	}
	if c.Duration != time.Minute || c.Warmup != 10*time.Second || c.Timeout != 5*time.Second {
		t.Errorf("durations: got %s after %s, timeout %s; want 1m0s after 10s, timeout 5s", c.Duration, c.Warmup, c.Timeout)
	}
	for name, rates := range map[string][]float64{"StepRates": c.StepRates, "StepReadRates": c.StepReadRates} {
		if len(rates) == 0 {
			t.Errorf("%s: got none, want rising rates", name)
		}
		for i := 1; i < len(rates); i++ {
			if rates[i] <= rates[i-1] {
				t.Errorf("%s: got %v, want rising rates", name, rates)
				break
			}
		}
	}
	if c.Seed != 1 {
		t.Errorf("Seed: got %d, want 1", c.Seed)
	}
	if c.Targets != DefaultTargets {
		t.Errorf("Targets: got %+v, want %+v", c.Targets, DefaultTargets)
	}
	if c.JWTSecret != requiredRunEnv["BUYER_JWT_SECRET"] || c.MerchantKey != requiredRunEnv["MERCHANT_API_KEY"] {
		t.Errorf("secrets: got %q and %q, want the environment's", c.JWTSecret, c.MerchantKey)
	}
}

func TestLoadRequiresSecrets(t *testing.T) {
	_, err := Load(nil, func(string) string { return "" })
	if err == nil {
		t.Fatal("Load without BUYER_JWT_SECRET and MERCHANT_API_KEY: got no error")
	}
	for _, name := range []string{"BUYER_JWT_SECRET", "MERCHANT_API_KEY"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestLoadFlagsWinOverEnvironment(t *testing.T) {
	env := runEnv(
		"LOADGEN_PURCHASE_RATE", "100",
		"LOADGEN_EDGE_URL", "http://127.0.0.1:1111",
		"LOADGEN_DURATION", "5s",
		"LOADGEN_READ_RATE", "300",
	)
	c, err := Load([]string{"--purchase-rate=250", "--edge-url", "http://localhost:2222/", "--duration=7s", "--naive-url="}, env)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.PurchaseRate != 250 {
		t.Errorf("PurchaseRate: got %g, want the flag's 250", c.PurchaseRate)
	}
	if c.EdgeURL != "http://localhost:2222" {
		t.Errorf("EdgeURL: got %q, want the flag's, without its trailing slash", c.EdgeURL)
	}
	if c.Duration != 7*time.Second {
		t.Errorf("Duration: got %s, want the flag's 7s", c.Duration)
	}
	if c.ReadRate != 300 {
		t.Errorf("ReadRate: got %g, want the environment's 300", c.ReadRate)
	}
	if c.NaiveURL != "" {
		t.Errorf("NaiveURL: got %q, want empty (the baseline skipped)", c.NaiveURL)
	}
}

func TestLoadAcceptsLoopbackForms(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:1", "http://127.0.0.2:80/", "http://[::1]:8080", "http://localhost:9"} {
		c, err := Load(nil, runEnv("LOADGEN_EDGE_URL", u, "LOADGEN_ORIGIN_URLS", u+" , "+u))
		if err != nil {
			t.Errorf("Load with %q: %v", u, err)
			continue
		}
		if len(c.OriginURLs) != 2 || strings.HasSuffix(c.EdgeURL, "/") {
			t.Errorf("Load with %q: got edge %q and origins %q", u, c.EdgeURL, c.OriginURLs)
		}
	}
	c, err := Load(nil, runEnv("LOADGEN_WAIT_URLS", "http://127.0.0.1:1/readyz,http://localhost:2/health/ready"))
	if err != nil {
		t.Fatalf("wait URLs with paths: %v", err)
	}
	if len(c.WaitURLs) != 2 {
		t.Errorf("WaitURLs: got %q, want 2", c.WaitURLs)
	}
}

func TestLoadRefusesBadValues(t *testing.T) {
	// One more rising rate than a search may hold.
	tooMany := make([]string, maxStepRates+1)
	for i := range tooMany {
		tooMany[i] = strconv.Itoa(100 * (i + 1))
	}
	tests := []struct {
		env, value string
	}{
		{"LOADGEN_EDGE_URL", "http://10.0.0.1:80"},
		{"LOADGEN_EDGE_URL", "http://example.com:80"},
		{"LOADGEN_EDGE_URL", "https://127.0.0.1:443"},
		{"LOADGEN_EDGE_URL", "http://u:p@127.0.0.1:1"},
		{"LOADGEN_EDGE_URL", "http://127.0.0.1:1/api"},
		{"LOADGEN_EDGE_URL", "http://127.0.0.1:1/?x=1"},
		{"LOADGEN_EDGE_URL", "http://127.0.0.1:1/#top"},
		{"LOADGEN_EDGE_URL", "127.0.0.1:1"},
		{"LOADGEN_EDGE_URL", "http://localhost.example.com:1"},
		{"LOADGEN_EDGE_URL", "http://0.0.0.0:1"},
		{"LOADGEN_FEED_URL", "http://192.168.1.1:8081"},
		{"LOADGEN_NAIVE_URL", "http://[2001:db8::1]:80"},
		{"LOADGEN_STATIC_URL", "ftp://127.0.0.1:21"},
		{"LOADGEN_ORIGIN_URLS", "http://127.0.0.1:1,http://10.0.0.2:1"},
		{"LOADGEN_ORIGIN_URLS", " , "},
		{"LOADGEN_ORIGIN_URLS", strings.Repeat("http://127.0.0.1:1,", 17)},
		{"LOADGEN_WAIT_URLS", "http://10.0.0.1:1/readyz"},
		{"LOADGEN_WAIT_URLS", "http://127.0.0.1:1/readyz?probe=1"},
		{"LOADGEN_WAIT_URLS", strings.Repeat("http://127.0.0.1:1/readyz,", 17)},
		{"LOADGEN_PURCHASE_RATE", "NaN"},
		{"LOADGEN_PURCHASE_RATE", "-1"},
		{"LOADGEN_PURCHASE_RATE", "1e9"},
		{"LOADGEN_PURCHASE_RATE", "+Inf"},
		{"LOADGEN_PURCHASE_RATE", "fast"},
		{"LOADGEN_READ_RATE", "200001"},
		{"LOADGEN_HOT_SHARE", "1.01"},
		{"LOADGEN_HOT_SHARE", "NaN"},
		{"LOADGEN_EDGE_READ_SHARE", "-0.1"},
		{"LOADGEN_MAX_ERROR_RATE", "2"},
		{"LOADGEN_RETRY_SHARE", "0.47"}, // with the default greedy and flash shares: 0.52
		{"LOADGEN_FLASH_SHARE", "NaN"},
		{"LOADGEN_SSE_CLIENTS", "-1"},
		{"LOADGEN_SSE_CLIENTS", "50001"},
		{"LOADGEN_LIVES", "0"},
		{"LOADGEN_LIVES", "1001"},
		{"LOADGEN_SKUS_PER_LIVE", "1"},
		{"LOADGEN_HOT_SKUS_PER_LIVE", "4"},
		{"LOADGEN_DURATION", "0s"},
		{"LOADGEN_DURATION", "31m"},
		{"LOADGEN_DURATION", "forever"},
		{"LOADGEN_WARMUP", "-1s"},
		{"LOADGEN_BASELINE_DURATION", "500ms"},
		{"LOADGEN_STEP_DURATION", "1h"},
		{"LOADGEN_TIMEOUT", "50ms"},
		{"LOADGEN_TIMEOUT", "2m"},
		{"LOADGEN_CONNECTIONS", "0"},
		{"LOADGEN_CONNECTIONS", "10001"},
		{"LOADGEN_PURCHASE_CONNECTIONS", "0"},
		{"LOADGEN_MAX_IN_FLIGHT", "0"},
		{"LOADGEN_STEP_RATES", "1000,500"},
		{"LOADGEN_STEP_RATES", "500,500"},
		{"LOADGEN_STEP_RATES", "500,abc"},
		{"LOADGEN_STEP_RATES", "0,100"},
		{"LOADGEN_STEP_RATES", "-5"},
		{"LOADGEN_STEP_RATES", "NaN"},
		{"LOADGEN_STEP_RATES", "1e9"},
		{"LOADGEN_STEP_RATES", strings.Join(tooMany, ",")},
		{"LOADGEN_STEP_READ_RATES", "5000,2500"},
		{"LOADGEN_STEP_READ_RATES", "0"},
		{"REDIS_PREFIX", "lc*"},
		{"REDIS_PREFIX", "lc bench:"},
		{"REDIS_PREFIX", "lc[ab]:"},
		{"REDIS_PREFIX", strings.Repeat("p", 65)},
		{"MERCHANT_API_KEY", "mk_1\r\nX-Injected: yes"},
		{"MERCHANT_API_KEY", "two words"},
		{"MERCHANT_API_KEY", strings.Repeat("k", 257)},
		{"BUYER_JWT_SECRET", "short"},
		{"BUYER_JWT_SECRET", "0123456789abcdef"},
		{"BUYER_JWT_SECRET", "0123456789abcdef0123456789abcde"},
		{"LOADGEN_MACHINE", "2 cores\nand more"},
		{"LOADGEN_MACHINE", "2 cores | 4 GiB"},
		{"LOADGEN_MACHINE", strings.Repeat("m", 201)},
		{"LOADGEN_OUT", "/"},
		{"LOADGEN_OUT", "//"},
		{"LOADGEN_OUT", "/tmp/.."},
		{"LOADGEN_PURCHASE_VIA", "ftp"},
		{"LOADGEN_PURCHASE_VIA", "Edge"},
		{"LOADGEN_SEED", "-1"},
		{"LOADGEN_SEED", "1.5"},
		{"LOADGEN_STEP", "maybe"},
		{"MYSQL_DSN", "root@tcp(127.0.0.1:3306)/"},
		{"MYSQL_DSN", "not a dsn"},
		{"LOADGEN_OPS_URLS", "origin-1=http://10.0.0.1:19101"},
		{"LOADGEN_OPS_URLS", "origin-1=http://example.com:19101"},
		{"LOADGEN_OPS_URLS", "origin-1=https://127.0.0.1:19101"},
		{"LOADGEN_OPS_URLS", "origin-1=http://127.0.0.1:19101/debug/pprof/profile"},
		{"LOADGEN_OPS_URLS", "origin-1=http://127.0.0.1:19101/?seconds=600"},
		{"LOADGEN_OPS_URLS", "origin-1=http://u:p@127.0.0.1:19101"},
		{"LOADGEN_OPS_URLS", "origin-1=http://127.0.0.1:0"},
		{"LOADGEN_OPS_URLS", "http://127.0.0.1:19101"},
		{"LOADGEN_OPS_URLS", "=http://127.0.0.1:19101"},
		{"LOADGEN_OPS_URLS", "../../etc=http://127.0.0.1:19101"},
		{"LOADGEN_OPS_URLS", "a/b=http://127.0.0.1:19101"},
		{"LOADGEN_OPS_URLS", "Origin=http://127.0.0.1:19101"},
		{"LOADGEN_OPS_URLS", "-x=http://127.0.0.1:19101"},
		{"LOADGEN_OPS_URLS", "two words=http://127.0.0.1:19101"},
		{"LOADGEN_OPS_URLS", "x\r\ny=http://127.0.0.1:19101"},
		{"LOADGEN_OPS_URLS", strings.Repeat("n", 33) + "=http://127.0.0.1:19101"},
		{"LOADGEN_OPS_URLS", "a=http://127.0.0.1:1,a=http://127.0.0.1:2"},
		{"LOADGEN_OPS_URLS", "a==http://127.0.0.1:1"},
		{"LOADGEN_OPS_URLS", strings.Repeat("a=http://127.0.0.1:1,", 17)},
		{"LOADGEN_PROFILE", "perhaps"},
	}
	for _, tc := range tests {
		_, err := Load(nil, runEnv(tc.env, tc.value))
		if err == nil {
			t.Errorf("%s=%q: got no error", tc.env, tc.value)
			continue
		}
		if !strings.Contains(err.Error(), tc.env) {
			t.Errorf("%s=%q: error %q does not name the setting", tc.env, tc.value, err)
		}
	}
	// REDIS_ADDR and REDIS_PREFIX fall back to their defaults when the
	// variable is empty; the flag can still empty them.
	for _, tc := range []struct{ flag, env string }{{"--redis-addr=", "REDIS_ADDR"}, {"--redis-prefix=", "REDIS_PREFIX"}, {"--step-rates=", "LOADGEN_STEP_RATES"}} {
		_, err := Load([]string{tc.flag}, runEnv())
		if err == nil || !strings.Contains(err.Error(), tc.env) {
			t.Errorf("%s: got error %v, want one naming %s", tc.flag, err, tc.env)
		}
	}
}

func TestLoadOpsURLs(t *testing.T) {
	c := defaultRunConfig(t)
	want := []OpsListener{
		{"origin-1", "http://127.0.0.1:19101"}, {"origin-2", "http://127.0.0.1:19104"},
		{"stockfeed", "http://127.0.0.1:19103"}, {"edge-invalidator", "http://127.0.0.1:19102"},
	}
	if !slices.Equal(c.OpsURLs, want) || c.Profile {
		t.Errorf("defaults: got %v, profile %v; want scripts/bench.sh's %v, profile off", c.OpsURLs, c.Profile, want)
	}
	c, err := Load([]string{"--profile"}, runEnv("LOADGEN_OPS_URLS", " a=http://localhost:1/ , b-2=http://[::1]:2 "))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want = []OpsListener{{"a", "http://localhost:1"}, {"b-2", "http://[::1]:2"}}
	if !slices.Equal(c.OpsURLs, want) || !c.Profile {
		t.Errorf("got %v, profile %v; want %v, profile on", c.OpsURLs, c.Profile, want)
	}
	// No ops listener is fine, unless profiles are asked for.
	if _, err := Load(nil, runEnv("LOADGEN_OPS_URLS", " , ")); err != nil {
		t.Errorf("no ops listeners without --profile: %v", err)
	}
	if _, err := Load([]string{"--ops-urls=", "--profile"}, runEnv()); err == nil || !strings.Contains(err.Error(), "LOADGEN_OPS_URLS") {
		t.Errorf("--profile without ops listeners: got %v, want an error naming LOADGEN_OPS_URLS", err)
	}
}

func FuzzParseOps(f *testing.F) {
	for _, seed := range []string{DefaultOpsURLs, "", "a=http://127.0.0.1:1", "a=b=c", "=,=,", "x=http://[::1]:65535/", "é=http://127.0.0.1:1"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ops, err := parseOps(s)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, o := range ops {
			// A name becomes part of a file name in the report folder.
			if !opsName.MatchString(o.Name) || seen[o.Name] || strings.ContainsAny(o.Name, "/.\\") {
				t.Errorf("parseOps(%q): accepted name %q", s, o.Name)
			}
			seen[o.Name] = true
			if !strings.HasPrefix(o.URL, "http://") || strings.HasSuffix(o.URL, "/") {
				t.Errorf("parseOps(%q): accepted URL %q", s, o.URL)
			}
		}
	})
}

func TestLoadOutDefaultsToANewFolder(t *testing.T) {
	cfg, err := Load([]string{"--out="}, runEnv())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.OutDir, filepath.Join(".run", "bench")+string(filepath.Separator)) || strings.HasSuffix(cfg.OutDir, "latest") {
		t.Errorf("OutDir = %q, want a timestamped folder under .run/bench", cfg.OutDir)
	}
}

func TestLoadRefusesPositionalArguments(t *testing.T) {
	_, err := Load([]string{"--duration=5s", "extra"}, runEnv())
	if err == nil || !strings.Contains(err.Error(), "extra") {
		t.Errorf("got %v, want an error naming the unexpected argument", err)
	}
}

func TestLoadReportsEveryBadValue(t *testing.T) {
	_, err := Load(nil, runEnv(
		"LOADGEN_PURCHASE_RATE", "-1",
		"REDIS_PREFIX", "a b",
		"LOADGEN_OUT", "/",
		"LOADGEN_SEED", "-3",
		"LOADGEN_STEP_RATES", "2,1",
		"LOADGEN_EDGE_URL", "http://10.1.2.3:80",
		"LOADGEN_TIMEOUT", "soon",
	))
	if err == nil {
		t.Fatal("got no error")
	}
	for _, name := range []string{"LOADGEN_PURCHASE_RATE", "REDIS_PREFIX", "LOADGEN_OUT", "LOADGEN_SEED", "LOADGEN_STEP_RATES", "LOADGEN_EDGE_URL", "LOADGEN_TIMEOUT"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

func TestLoadKeepsSecretsOutOfErrors(t *testing.T) {
	key := "mk_secret_value with space"
	secret := "tiny-secret"
	_, err := Load(nil, runEnv("MERCHANT_API_KEY", key, "BUYER_JWT_SECRET", secret))
	if err == nil {
		t.Fatal("got no error")
	}
	if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), secret) {
		t.Errorf("error repeats a secret: %v", err)
	}
}

// TestLoadRedisSettings: the Redis user, password and TLS settings are
// the origins' own, checked at start without repeating a password.
func TestLoadRedisSettings(t *testing.T) {
	c, err := Load(nil, runEnv("REDIS_USERNAME", "bench", "REDIS_PASSWORD", "hunter2", "REDIS_TLS", "true"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := (redisconn.Settings{Username: "bench", Password: "hunter2", TLS: true}); c.Redis != want {
		t.Errorf("got %+v, want %+v", c.Redis, want)
	}
	missing := filepath.Join(t.TempDir(), "ca.pem")
	for _, tc := range []struct {
		kv   []string
		want string
	}{
		{[]string{"REDIS_USERNAME", "bench"}, "REDIS_USERNAME: set, but no password"},
		{[]string{"REDIS_PASSWORD", "hunter2\r\n"}, "REDIS_PASSWORD: must be one line"},
		{[]string{"REDIS_TLS", "true", "REDIS_TLS_CA_FILE", missing}, "REDIS_TLS_CA_FILE: open " + missing},
		{[]string{"REDIS_TLS_CA_FILE", missing}, "REDIS_TLS_CA_FILE: set, but REDIS_TLS is off"},
	} {
		_, err := Load(nil, runEnv(tc.kv...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%q): got %v, want an error saying %q", tc.kv, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Load(%q): error %q repeats the password", tc.kv, err)
		}
	}
}

func TestReadyURLs(t *testing.T) {
	c, err := Load([]string{"--static-url="}, runEnv())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"http://127.0.0.1:18080/readyz", "http://127.0.0.1:18082/readyz", "http://127.0.0.1:18090/readyz",
		"http://127.0.0.1:18081/readyz", "http://127.0.0.1:19102/readyz",
	}
	if got := c.ReadyURLs(); !slices.Equal(got, want) {
		t.Errorf("ReadyURLs: got %q, want %q (the edge apart, no static server)", got, want)
	}
	if got := c.EdgeProbeURL(); got != "http://127.0.0.1:18000/readyz" {
		t.Errorf("EdgeProbeURL: got %q", got)
	}
	if got := c.PurchaseURLs(); !slices.Equal(got, c.OriginURLs) {
		t.Errorf("PurchaseURLs via origins: got %q", got)
	}
	c.PurchaseVia = "edge"
	if got := c.PurchaseURLs(); !slices.Equal(got, []string{c.EdgeURL}) {
		t.Errorf("PurchaseURLs via the edge: got %q", got)
	}
}
