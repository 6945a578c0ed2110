package app_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"livecommerce/edge-invalidator/app"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// cloudflareEnv is a complete Cloudflare setup.
var cloudflareEnv = map[string]string{
	"PURGE_BACKEND":        "cloudflare",
	"CLOUDFLARE_API_TOKEN": "secret-tok",
	"CLOUDFLARE_ZONE_ID":   "023e105f4ecef8ad9ca31a8372d0c353",
}

// with returns base with k set to v.
func with(base map[string]string, kv ...string) map[string]string {
	m := make(map[string]string, len(base)+len(kv)/2)
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestLoadRefusesWithoutToken(t *testing.T) {
	_, err := app.Load(nil, env(map[string]string{"PURGE_BACKEND": "cloudflare", "CLOUDFLARE_ZONE_ID": "023e105f4ecef8ad9ca31a8372d0c353"}))
	if err == nil || !strings.Contains(err.Error(), "CLOUDFLARE_API_TOKEN") {
		t.Fatalf("got %v, want an error naming CLOUDFLARE_API_TOKEN", err)
	}
}

func TestLoad(t *testing.T) {
	base := cloudflareEnv
	cfg, err := app.Load(nil, env(base))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rate != 5.0/60 || cfg.Burst != 5 || cfg.CFToken != "secret-tok" {
		t.Errorf("got rate %v burst %d, want the Free preset 0.0833/5 and the token", cfg.Rate, cfg.Burst)
	}
	cfg, err = app.Load([]string{"-rate", "50", "-burst", "50"}, env(base))
	if err != nil || cfg.Rate != 50 || cfg.Burst != 50 {
		t.Errorf("got %v %d %v, want the Enterprise preset from flags", cfg.Rate, cfg.Burst, err)
	}
	for _, tt := range []struct{ key, val, want string }{
		{"CLOUDFLARE_ZONE_ID", "nothex", "CLOUDFLARE_ZONE_ID"},
		{"PURGE_RATE", "0", "PURGE_RATE"},
		{"PURGE_RATE", "fast", "PURGE_RATE"},
		{"PURGE_BURST", "0", "PURGE_BURST"},
		{"PURGE_WINDOW", "-1s", "PURGE_WINDOW"},
		{"PURGE_WINDOW", "100ms", "PURGE_WINDOW"},
		{"PURGE_WINDOW", "2m", "PURGE_WINDOW"},
		{"PURGE_CONSUMER", "edge.invalidator", "PURGE_CONSUMER"},
		{"PURGE_CONSUMER", "a b", "PURGE_CONSUMER"},
		{"PURGE_CONSUMER", "stock.>", "PURGE_CONSUMER"},
		{"PURGE_CONSUMER", strings.Repeat("c", 65), "PURGE_CONSUMER"},
		{"LOG_LEVEL", "loud", "LOG_LEVEL"},
	} {
		_, err := app.Load(nil, env(with(base, tt.key, tt.val)))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s=%s: got %v, want an error naming %s", tt.key, tt.val, err, tt.want)
		} else if strings.Contains(err.Error(), "secret-tok") {
			t.Errorf("%s=%s: error %q repeats the token", tt.key, tt.val, err)
		}
	}
}

func TestLoadVarnishDefaults(t *testing.T) {
	// The local edge needs no Cloudflare setting at all.
	cfg, err := app.Load(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Backend != app.BackendVarnish || !slices.Equal(cfg.VarnishURLs, []string{"http://127.0.0.1:8001"}) ||
		cfg.CallTimeout != 10*time.Second {
		t.Errorf("got backend %q urls %q timeout %v, want varnish at http://127.0.0.1:8001 within 10s", cfg.Backend, cfg.VarnishURLs, cfg.CallTimeout)
	}
	if cfg.Rate != 50 || cfg.Burst != 50 {
		t.Errorf("got rate %v burst %d, want 50/50 for the local edge", cfg.Rate, cfg.Burst)
	}

	cfg, err = app.Load(nil, env(map[string]string{
		"VARNISH_PURGE_URLS": " http://10.0.0.1:8001 , https://edge-2:6081/", "PURGE_CALL_TIMEOUT": "2s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"http://10.0.0.1:8001", "https://edge-2:6081/"}; !slices.Equal(cfg.VarnishURLs, want) || cfg.CallTimeout != 2*time.Second {
		t.Errorf("got urls %q timeout %v, want %q and 2s", cfg.VarnishURLs, cfg.CallTimeout, want)
	}

	// An explicit rate or burst wins over the local edge's defaults.
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		rate  float64
		burst int
	}{
		{"env rate", map[string]string{"PURGE_RATE": "2"}, nil, 2, 50},
		{"env burst", map[string]string{"PURGE_BURST": "3"}, nil, 50, 3},
		{"flag rate", nil, []string{"-rate", "0.5"}, 0.5, 50},
		{"flag burst equal to the cloudflare default", nil, []string{"-burst", "5"}, 50, 5},
		{"both", map[string]string{"PURGE_RATE": "7"}, []string{"-burst", "9"}, 7, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := app.Load(tt.args, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Rate != tt.rate || cfg.Burst != tt.burst {
				t.Errorf("got rate %v burst %d, want %v %d", cfg.Rate, cfg.Burst, tt.rate, tt.burst)
			}
		})
	}
}

func TestLoadCloudflarePurgeByURL(t *testing.T) {
	cfg, err := app.Load(nil, env(with(cloudflareEnv, "CLOUDFLARE_PURGE_BY", "urls", "CLOUDFLARE_SITE_URL", "https://shop.example.com")))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CFPurgeBy != "urls" || cfg.CFSiteURL != "https://shop.example.com" {
		t.Errorf("got purge by %q site %q, want urls at https://shop.example.com", cfg.CFPurgeBy, cfg.CFSiteURL)
	}
}

func TestLoadRefusesBadNewSettings(t *testing.T) {
	long := strings.Repeat("x", 10<<10)
	urls := with(cloudflareEnv, "CLOUDFLARE_PURGE_BY", "urls")
	tests := []struct {
		name string
		env  map[string]string
		want string // the variable the error must name
	}{
		{"backend unknown", map[string]string{"PURGE_BACKEND": "fastly"}, "PURGE_BACKEND"},
		{"backend case", map[string]string{"PURGE_BACKEND": "Varnish"}, "PURGE_BACKEND"},
		{"backend newline", map[string]string{"PURGE_BACKEND": "varnish\n"}, "PURGE_BACKEND"},
		{"backend 10 KB", map[string]string{"PURGE_BACKEND": long}, "PURGE_BACKEND"},
		{"cloudflare without token", map[string]string{"PURGE_BACKEND": "cloudflare"}, "CLOUDFLARE_API_TOKEN"},
		{"cloudflare without zone", with(cloudflareEnv, "CLOUDFLARE_ZONE_ID", ""), "CLOUDFLARE_ZONE_ID"},
		{"token with newline", with(cloudflareEnv, "CLOUDFLARE_API_TOKEN", "secret-tok\nX-Evil: 1"), "CLOUDFLARE_API_TOKEN"},
		{"varnish ftp", map[string]string{"VARNISH_PURGE_URLS": "ftp://edge:8001"}, "VARNISH_PURGE_URLS"},
		{"varnish userinfo", map[string]string{"VARNISH_PURGE_URLS": "http://admin:hunter2@edge:8001"}, "VARNISH_PURGE_URLS"},
		{"varnish javascript", map[string]string{"VARNISH_PURGE_URLS": "javascript:alert(1)"}, "VARNISH_PURGE_URLS"},
		{"varnish newline", map[string]string{"VARNISH_PURGE_URLS": "http://edge:8001/\r\nX-Evil: 1"}, "VARNISH_PURGE_URLS"},
		{"varnish query", map[string]string{"VARNISH_PURGE_URLS": "http://edge:8001/?all=1"}, "VARNISH_PURGE_URLS"},
		{"varnish path", map[string]string{"VARNISH_PURGE_URLS": "http://edge:8001/purge"}, "VARNISH_PURGE_URLS"},
		{"varnish empty entry", map[string]string{"VARNISH_PURGE_URLS": "http://a:8001,,http://b:8001"}, "VARNISH_PURGE_URLS"},
		{"varnish trailing comma", map[string]string{"VARNISH_PURGE_URLS": "http://a:8001,"}, "VARNISH_PURGE_URLS"},
		{"varnish 10 KB", map[string]string{"VARNISH_PURGE_URLS": "http://" + long}, "VARNISH_PURGE_URLS"},
		{"varnish too many", map[string]string{"VARNISH_PURGE_URLS": strings.Repeat("http://e:1,", 40) + "http://e:1"}, "VARNISH_PURGE_URLS"},
		{"purge by unknown", with(cloudflareEnv, "CLOUDFLARE_PURGE_BY", "files"), "CLOUDFLARE_PURGE_BY"},
		{"purge by case", with(cloudflareEnv, "CLOUDFLARE_PURGE_BY", "URLS"), "CLOUDFLARE_PURGE_BY"},
		{"purge by 10 KB", with(cloudflareEnv, "CLOUDFLARE_PURGE_BY", long), "CLOUDFLARE_PURGE_BY"},
		{"urls without site", urls, "CLOUDFLARE_SITE_URL"},
		{"site userinfo", with(urls, "CLOUDFLARE_SITE_URL", "https://admin:hunter2@shop.example.com"), "CLOUDFLARE_SITE_URL"},
		{"site javascript", with(urls, "CLOUDFLARE_SITE_URL", "javascript:alert(1)"), "CLOUDFLARE_SITE_URL"},
		{"site newline", with(urls, "CLOUDFLARE_SITE_URL", "https://shop.example.com\nX-Evil: 1"), "CLOUDFLARE_SITE_URL"},
		{"site path", with(urls, "CLOUDFLARE_SITE_URL", "https://shop.example.com/v1"), "CLOUDFLARE_SITE_URL"},
		{"site fragment", with(urls, "CLOUDFLARE_SITE_URL", "https://shop.example.com#"), "CLOUDFLARE_SITE_URL"},
		{"site no scheme", with(urls, "CLOUDFLARE_SITE_URL", "shop.example.com"), "CLOUDFLARE_SITE_URL"},
		{"site 10 KB", with(urls, "CLOUDFLARE_SITE_URL", "https://"+long), "CLOUDFLARE_SITE_URL"},
		{"site bad even by tags", with(cloudflareEnv, "CLOUDFLARE_SITE_URL", "ftp://shop"), "CLOUDFLARE_SITE_URL"},
		{"timeout zero", map[string]string{"PURGE_CALL_TIMEOUT": "0s"}, "PURGE_CALL_TIMEOUT"},
		{"timeout negative", map[string]string{"PURGE_CALL_TIMEOUT": "-1s"}, "PURGE_CALL_TIMEOUT"},
		{"timeout huge", map[string]string{"PURGE_CALL_TIMEOUT": "1h"}, "PURGE_CALL_TIMEOUT"},
		{"timeout unit", map[string]string{"PURGE_CALL_TIMEOUT": "10"}, "PURGE_CALL_TIMEOUT"},
		{"timeout 10 KB", map[string]string{"PURGE_CALL_TIMEOUT": long}, "PURGE_CALL_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := app.Load(nil, env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %s", err, tt.want)
			}
			msg := err.Error()
			if strings.Contains(msg, "secret-tok") || strings.Contains(msg, "hunter2") {
				t.Errorf("error %q repeats a secret", msg)
			}
			// envflag quotes a value it cannot parse; our own checks never
			// repeat a long one.
			if !strings.HasPrefix(tt.name, "timeout") && len(msg) > 500 {
				t.Errorf("error is %d bytes long, want the value left out", len(msg))
			}
		})
	}
}
