package natstest_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livecommerce/internal/natstest"
)

// TestStartWithCreds: the server admits the creds' user, with JetStream,
// and nobody else.
func TestStartWithCreds(t *testing.T) {
	ns, creds := natstest.StartWithCreds(t)
	if nc, err := nats.Connect(ns.URL, nats.Timeout(2*time.Second)); err == nil {
		nc.Close()
		t.Error("without creds: got a connection, want it refused")
	}
	nc, err := nats.Connect(ns.URL, nats.UserCredentials(creds))
	if err != nil {
		t.Fatalf("with creds: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatalf("JetStream with creds: %v", err)
	}
	// A restart keeps admitting the same user.
	ns.Stop()
	ns.Start()
	if err := nc.FlushTimeout(10 * time.Second); err != nil {
		t.Errorf("after a restart: got %v, want the connection back", err)
	}
}
