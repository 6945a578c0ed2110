package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livecommerce/edge-invalidator/app"
	"livecommerce/internal/natstest"
	"livecommerce/internal/stock"
)

// TestLoadNATSSettings: a bad NATS_URL or NATS_CREDS stops the invalidator
// at start, naming the setting and never repeating a password.
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
		{"malformed URL with a password", map[string]string{"NATS_URL": "nats://edge:hunter2@[::1"}, "NATS_URL: not a URL"},
		{"no scheme", map[string]string{"NATS_URL": "edge:hunter2@127.0.0.1:4222"}, "NATS_URL: must start with nats:// or tls://"},
		{"bad port with a token", map[string]string{"NATS_URL": "nats://hunter2@127.0.0.1:70000"}, "NATS_URL: port must be 1 to 65535"},
		{"missing creds", map[string]string{"NATS_CREDS": filepath.Join(dir, "edge.creds")}, "NATS_CREDS: cannot read a user JWT from " + dir},
		{"creds that are not", map[string]string{"NATS_CREDS": garbage}, "NATS_CREDS: " + garbage + " holds no user JWT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := app.Load(nil, env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q repeats a secret", err)
			}
		})
	}
	// Run checks them too, for settings that did not come from Load.
	err := app.Run(context.Background(), app.Config{Backend: app.BackendVarnish, VarnishURLs: []string{"http://127.0.0.1:8001"},
		CallTimeout: time.Second, NATSURL: "nats://edge:hunter2@[::1", Addr: freeAddr(t)}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "NATS_URL: not a URL") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Run: got %v, want an error naming NATS_URL without the password", err)
	}
}

// TestRunWithNATSCreds: with NATS_CREDS the invalidator signs in to a NATS
// that admits only its users, gets ready and purges.
func TestRunWithNATSCreds(t *testing.T) {
	ns, creds := natstest.StartWithCreds(t)
	edge := &fakeEdge{}
	edgeSrv := httptest.NewServer(edge)
	t.Cleanup(edgeSrv.Close)
	addr := freeAddr(t)
	cfg, err := app.Load(nil, env(map[string]string{
		"NATS_URL":              ns.URL,
		"NATS_CREDS":            creds,
		"EDGE_INVALIDATOR_ADDR": addr,
		"VARNISH_PURGE_URLS":    edgeSrv.URL,
		"PURGE_WINDOW":          "250ms",
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	until(t, 10*time.Second, "/readyz", func() bool { code, _ := get("http://" + addr + "/readyz"); return code == http.StatusOK })

	nc, err := nats.Connect(ns.URL, nats.UserCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := json.Marshal(stock.NewEvent(stock.Level{SKU: "C1", LiveID: "LC", Remaining: 0,
		Status: stock.SoldOut, Version: 1, UpdatedAt: time.Now()}))
	pctx, pcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer pcancel()
	if _, err := js.Publish(pctx, stock.StatusSubject("LC", "C1"), ev); err != nil {
		t.Fatal(err)
	}
	until(t, 5*time.Second, "a purge at the edge", func() bool { return len(edge.got()) > 0 })
	if got, want := edge.got(), []string{"sku-C1 live-LC"}; !slices.Equal(got, want) {
		t.Errorf("edge got xkey %q, want %q", got, want)
	}
}
