package app_test

import (
	"strings"
	"testing"

	"livecommerce/edge-invalidator/app"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadRefusesWithoutToken(t *testing.T) {
	_, err := app.Load(nil, env(map[string]string{"CLOUDFLARE_ZONE_ID": "023e105f4ecef8ad9ca31a8372d0c353"}))
	if err == nil || !strings.Contains(err.Error(), "CLOUDFLARE_API_TOKEN") {
		t.Fatalf("got %v, want an error naming CLOUDFLARE_API_TOKEN", err)
	}
}

func TestLoad(t *testing.T) {
	base := map[string]string{"CLOUDFLARE_API_TOKEN": "secret-tok", "CLOUDFLARE_ZONE_ID": "023e105f4ecef8ad9ca31a8372d0c353"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for x, y := range base {
			if x != k {
				m[x] = y
			}
		}
		return m
	}
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
		{"LOG_LEVEL", "loud", "LOG_LEVEL"},
	} {
		_, err := app.Load(nil, env(with(tt.key, tt.val)))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s=%s: got %v, want an error naming %s", tt.key, tt.val, err, tt.want)
		} else if strings.Contains(err.Error(), "secret-tok") {
			t.Errorf("%s=%s: error %q repeats the token", tt.key, tt.val, err)
		}
	}
}
