package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"livecommerce/internal/redisconn"
	"livecommerce/origin/origintest"
)

// TestLoadRunRedisSettings: the Redis user, password and TLS settings are
// the origins' own, checked at start without repeating a password.
func TestLoadRunRedisSettings(t *testing.T) {
	c, err := LoadRun(nil, runEnv("REDIS_USERNAME", "bench", "REDIS_PASSWORD", "hunter2", "REDIS_TLS", "true"))
	if err != nil {
		t.Fatalf("LoadRun: %v", err)
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
		_, err := LoadRun(nil, runEnv(tc.kv...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadRun(%q): got %v, want an error saying %q", tc.kv, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("LoadRun(%q): error %q repeats the password", tc.kv, err)
		}
	}
}

// TestResetAsACLUser: reset signs in as the given ACL user, and with a
// wrong password stops before it drops anything.
func TestResetAsACLUser(t *testing.T) {
	f := newBenchFixture(t, 3)
	user := "lctest-" + randomHex(t)
	ctx := context.Background()
	if err := f.rdb.Do(ctx, "ACL", "SETUSER", user, "on", ">bench-pass-hunter2", "~lcbench:*", "+@all").Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	t.Cleanup(func() { f.rdb.Do(context.Background(), "ACL", "DELUSER", user) })
	args := []string{"--mysql-dsn=" + f.dsn(f.name), "--redis-prefix=" + f.prefix, "--redis-addr=" + origintest.RedisAddr(), "--redis-username=" + user}

	var out bytes.Buffer
	err := reset(ctx, args, &out, func(k string) string {
		if k == "REDIS_PASSWORD" {
			return "wrong-pass-hunter3"
		}
		return ""
	})
	if !errors.Is(err, redisconn.ErrRefused) || strings.Contains(err.Error(), "hunter") {
		t.Errorf("wrong password: got %v, want ErrRefused without the password", err)
	}
	if !f.databaseExists(t) || countKeys(t, f.rdb, f.prefix) != 3 {
		t.Errorf("wrong password: the database or keys went, want both kept")
	}

	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("bench-pass-hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := reset(ctx, append(args, "--redis-password-file="+pw), &out, func(string) string { return "" }); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if f.databaseExists(t) || countKeys(t, f.rdb, f.prefix) != 0 {
		t.Errorf("right password: got the database or keys left, want both gone")
	}
}
