package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"livecommerce/internal/redisconn"
	"livecommerce/origin/app"
	"livecommerce/origin/origintest"
)

// TestConnectionSettingsRejected: bad NATS and Redis connection settings
// stop every origin command at start, naming the setting and never
// repeating a password.
func TestConnectionSettingsRejected(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"malformed NATS URL with a password", map[string]string{"NATS_URL": "nats://origin:hunter2@[::1"}, "NATS_URL: not a URL"},
		{"NATS URL with a bad port", map[string]string{"NATS_URL": "nats://origin:hunter2@nats.example:99999"}, "NATS_URL: port must be 1 to 65535"},
		{"NATS URL of another scheme", map[string]string{"NATS_URL": "http://origin:hunter2@nats.example"}, "NATS_URL: must start with nats:// or tls://"},
		{"missing NATS creds", map[string]string{"NATS_CREDS": filepath.Join(dir, "origin.creds")}, "NATS_CREDS: cannot read a user JWT from " + dir},
		{"NATS creds that are not", map[string]string{"NATS_CREDS": garbage}, "NATS_CREDS: " + garbage + " holds no user JWT"},
		{"Redis user without password", map[string]string{"REDIS_USERNAME": "origin"}, "REDIS_USERNAME: set, but no password"},
		{"Redis password with a newline", map[string]string{"REDIS_PASSWORD": "hunter2\n"}, "REDIS_PASSWORD: must be one line"},
		{"missing Redis password file", map[string]string{"REDIS_PASSWORD_FILE": filepath.Join(dir, "pw")}, "REDIS_PASSWORD_FILE: open " + dir},
		{"Redis CA that is not", map[string]string{"REDIS_TLS": "true", "REDIS_TLS_CA_FILE": garbage}, "REDIS_TLS_CA_FILE: " + garbage + " holds no PEM certificate"},
		{"Redis CA without TLS", map[string]string{"REDIS_TLS_CA_FILE": garbage}, "REDIS_TLS_CA_FILE: set, but REDIS_TLS is off"},
		{"Redis TLS not a bool", map[string]string{"REDIS_TLS": "yes please"}, "REDIS_TLS: \"yes please\" is not true or false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errServe := app.LoadServe(nil, getenv(tc.env))
			_, errCommon := app.LoadCommon("origin migrate", nil, getenv(tc.env), nil)
			for name, err := range map[string]error{"LoadServe": errServe, "LoadCommon": errCommon} {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: got %v, want an error saying %q", name, err, tc.want)
				}
				if err != nil && strings.Contains(err.Error(), "hunter2") {
					t.Errorf("%s: error %q repeats a secret", name, err)
				}
			}
		})
	}
}

// aclUser creates a Redis ACL user limited to the test prefixes, deleted
// when the test ends.
func aclUser(t *testing.T, password string) string {
	t.Helper()
	admin := redis.NewClient(&redis.Options{Addr: origintest.RedisAddr()})
	t.Cleanup(func() { admin.Close() })
	b := make([]byte, 6)
	rand.Read(b)
	user := "lctest-" + hex.EncodeToString(b)
	ctx := context.Background()
	if err := admin.Do(ctx, "ACL", "SETUSER", user, "on", ">"+password, "~lctest:*", "+@all").Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	t.Cleanup(func() { admin.Do(context.Background(), "ACL", "DELUSER", user) })
	return user
}

// TestRedisACLUser: the origin signs in to Redis as an ACL user, sells
// through it, and refuses to start with a wrong password.
func TestRedisACLUser(t *testing.T) {
	const pass = "origin-pass-hunter2"
	user := aclUser(t, pass)

	cfg, err := app.LoadCommon("origin migrate", nil, getenv(map[string]string{
		"REDIS_ADDR": origintest.RedisAddr(), "REDIS_USERNAME": user, "REDIS_PASSWORD": "wrong-pass-hunter3",
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = app.Connect(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if !errors.Is(err, redisconn.ErrRefused) || !strings.Contains(err.Error(), "REDIS_PASSWORD") {
		t.Errorf("Connect with a wrong password: got %v, want ErrRefused naming REDIS_PASSWORD", err)
	}
	if err != nil && strings.Contains(err.Error(), "hunter") {
		t.Errorf("error %q shows the password", err)
	}

	e := origintest.Start(t, origintest.Options{Tweak: func(c *app.Config) {
		c.Redis = redisconn.Settings{Username: user, Password: pass}
	}})
	live := "ACL" + hex.EncodeToString([]byte(user[len(user)-4:]))
	e.SetUpLive(live, "", origintest.Product{SKU: "ACL1", Stock: 3, PerBuyerLimit: 2})
	r, err := e.Purchase("buyer-acl", "k1", "ACL1", 1)
	if err != nil || r.Status != 201 {
		t.Fatalf("purchase as the ACL user: got %v %d %s, want 201", err, r.Status, r.Body)
	}
	if remaining, ok := e.RedisRemaining("ACL1"); !ok || remaining != 2 {
		t.Errorf("remaining in Redis: got %d %v, want 2", remaining, ok)
	}
}
