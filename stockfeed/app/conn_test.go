package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livecommerce/internal/natstest"
	"livecommerce/internal/stock"
	"livecommerce/stockfeed/app"
	"livecommerce/stockfeed/feedtest"
)

// TestLoadNATSSettings: a bad NATS_URL or NATS_CREDS stops the feed at
// start, naming the setting and never repeating a password.
func TestLoadNATSSettings(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.creds")
	if err := os.WriteFile(garbage, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"malformed URL with a password", map[string]string{"NATS_URL": "nats://feed:hunter2@[::1"}, "NATS_URL: not a URL"},
		{"bad port with a password", map[string]string{"NATS_URL": "tls://feed:hunter2@nats.example:0"}, "NATS_URL: port must be 1 to 65535"},
		{"token in a bad list", map[string]string{"NATS_URL": "nats://hunter2@a:4222,nats://hunter2@b c:4222"}, "NATS_URL: server 2 of 2: not a URL"},
		{"missing creds", map[string]string{"NATS_CREDS": filepath.Join(dir, "feed.creds")}, "NATS_CREDS: cannot read a user JWT from " + dir},
		{"creds that are not", nil, "NATS_CREDS: " + garbage + " holds no user JWT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string(nil)
			if tc.env == nil {
				args = []string{"--nats-creds", garbage}
			}
			_, err := app.Load(args, envOf(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q repeats a secret", err)
			}
		})
	}
}

// TestNATSCreds: with NATS_CREDS the feed signs in to a NATS that admits
// only its users, and serves what is published there.
func TestNATSCreds(t *testing.T) {
	ns, creds := natstest.StartWithCreds(t)
	feed := feedtest.Start(t, ns.URL, func(c *app.Config) { c.NATSCreds = creds })

	nc, err := nats.Connect(ns.URL, nats.UserCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(stock.NewEvent(feedtest.Level("CREDS", "CR1", 7, 1)))
	// The feed creates the STOCK stream in the background: wait for it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.Publish(ctx, stock.Subject("CREDS", "CR1"), body)
		cancel()
		if err == nil {
			break
		}
		if !errors.Is(err, jetstream.ErrNoStreamResponse) || time.Now().After(deadline) {
			t.Fatalf("publish: %v", err)
		}
	}
	s := feedtest.Dial(t, feed.URL, "CREDS", "")
	first, err := s.NextEvent(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	snap := decodeSnapshot(t, first.Data)
	if len(snap.Products) != 1 || snap.Products[0].SKU != "CR1" || snap.Products[0].Remaining != 7 {
		t.Errorf("snapshot: got %+v, want CR1 with 7 remaining", snap.Products)
	}
}
