package naiveorigin

import (
	"strings"
	"testing"

	"livecommerce/internal/program"
)

// serverEnv is a getenv over valid settings of `loadgen naive-origin`,
// with kv (name, value pairs) replacing some.
func serverEnv(kv ...string) func(string) string {
	env := map[string]string{
		"NAIVE_ADDR":       "127.0.0.1:0",
		"MYSQL_DSN":        "root@tcp(127.0.0.1:3306)/lc_bench_servers_test",
		"BUYER_JWT_SECRET": "servers-test-secret-0123456789abcdef",
		"LOG_LEVEL":        "info",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return func(k string) string { return env[k] }
}

// refuses checks that the settings are refused, before anything starts,
// with a usage error naming every setting in names.
func refuses(t *testing.T, getenv func(string) string, names ...string) {
	t.Helper()
	_, err := LoadServerConfig(nil, getenv)
	if program.Code(err) != program.BadUsage {
		t.Fatalf("got %v, want a usage error", err)
	}
	for _, name := range names {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestLoadServerConfigRefusesBadSettings(t *testing.T) {
	tests := []struct{ env, value string }{
		{"NAIVE_ADDR", "0.0.0.0:18090"},
		{"NAIVE_ADDR", "10.0.0.1:18090"},
		{"NAIVE_ADDR", "127.0.0.1"},
		{"BUYER_JWT_SECRET", "short"},
		{"BUYER_JWT_SECRET", "0123456789abcdef"},
		{"BUYER_JWT_SECRET", "0123456789abcdef0123456789abcde"},
		{"MYSQL_DSN", "not a dsn"},
		{"MYSQL_DSN", "root@tcp(127.0.0.1:3306)/lc_bench?charset=gbk"},
		{"MYSQL_DSN", "root@tcp(127.0.0.1:3306)/lc_bench?charset=utf8mb4,sjis"},
		{"MYSQL_DSN", "root@tcp(127.0.0.1:3306)/lc_bench?collation=big5_chinese_ci"},
		{"MYSQL_DSN", "root@tcp(127.0.0.1:3306)/lc_bench?character_set_client=cp932"},
		{"MYSQL_DSN", "root@tcp(127.0.0.1:3306)/"},
		{"LOG_LEVEL", "verbose"},
		{"MYSQL_MAX_CONNS", "0"},
		{"MYSQL_MAX_CONNS", "many"},
	}
	for _, tc := range tests {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			refuses(t, serverEnv(tc.env, tc.value), tc.env)
		})
	}
	t.Run("all at once", func(t *testing.T) {
		refuses(t, serverEnv("NAIVE_ADDR", "0.0.0.0:1", "BUYER_JWT_SECRET", "x", "LOG_LEVEL", "loud"),
			"NAIVE_ADDR", "BUYER_JWT_SECRET", "LOG_LEVEL")
	})
}

func TestLoadServerConfigDefaults(t *testing.T) {
	c, err := LoadServerConfig(nil, serverEnv())
	if err != nil {
		t.Fatalf("LoadServerConfig: %v", err)
	}
	if c.Addr != "127.0.0.1:0" || c.MaxConns != 32 || c.LogLevel != "info" {
		t.Errorf("got %+v, want the environment's address, 32 connections and level info", c)
	}
}
