// Package natstest runs a real NATS server with JetStream inside a test
// process: on a random loopback port, with a store of its own, and able to
// stop and start again on the same port and store, as a restarted server
// would.
package natstest

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is an in-process NATS server with JetStream.
type Server struct {
	t    testing.TB
	opts *server.Options
	srv  *server.Server
	URL  string
}

// Start starts a server on a random loopback port; it stops when the
// test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	n := &Server{t: t, opts: &server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true,
	}}
	n.start()
	// Later starts reuse the port, so clients reconnect to the same URL.
	n.opts.Port = n.srv.Addr().(*net.TCPAddr).Port
	n.URL = n.srv.ClientURL()
	t.Cleanup(n.Stop)
	return n
}

func (n *Server) start() {
	n.t.Helper()
	// A copy: NewServer fills in options (trusted keys from operators)
	// that a second NewServer would refuse as conflicting.
	opts := *n.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		n.t.Fatalf("nats server: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("nats server did not start")
	}
	n.srv = srv
}

// Stop shuts the server down (its store stays for Start).
func (n *Server) Stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

// Start starts a stopped server again on the same port and store.
func (n *Server) Start() {
	n.t.Helper()
	if n.srv == nil {
		n.start()
	}
}
