package transport

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"time"

	"github.com/gofiber/fiber/v2"

	"livecommerce/internal/program"
)

// ServerCommand is the hidden command "feedbench transport" runs its own
// binary as, to serve one transport; the binary's main hands it to Serve.
const ServerCommand = "transport-server"

// The transports compared. Each serves GET /events as the smallest SSE
// stream it can: status and headers, one event, flushed, then nothing
// until the server stops. Anything more would measure the handler, not
// the transport.
const (
	kindNetHTTP = "net/http"
	kindFiber   = "fiber"
	// kindHijack is net/http with the connection taken over after the
	// request and handed to a goroutine of its own. Not a transport of
	// its own, but what the feed could save while staying on net/http.
	kindHijack = "net/http-hijacked"
)

// firstEvent is what both servers send on each stream.
const firstEvent = "retry: 1000\n\ndata: hello\n\n"

// serverStats is the child's own view of its memory, after a forced GC so
// that it counts what the streams hold rather than garbage that happens
// not to be collected yet.
type serverStats struct {
	Goroutines int   `json:"goroutines"`
	HeapInuse  int64 `json:"heap_inuse"`
	StackInuse int64 `json:"stack_inuse"`
}

// Serve serves one transport until ctx ends, plus a stats endpoint on a
// second listener (plain net/http, the same for both kinds, so it costs
// both the same). It writes "ready STREAM_ADDR STATS_ADDR" to out once
// both listen.
func Serve(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet(ServerCommand, flag.ContinueOnError)
	kind := fs.String("kind", kindNetHTTP, "the server: "+kindNetHTTP+", "+kindFiber+" or "+kindHijack)
	if err := fs.Parse(args); err != nil {
		return program.Usage(err)
	}
	streamLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("transport server: listen: %w", err)
	}
	statsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("transport server: listen for stats: %w", err)
	}
	stats := &http.Server{Handler: http.HandlerFunc(serveStats), ReadHeaderTimeout: 5 * time.Second}
	go stats.Serve(statsLn)
	defer stats.Close()

	// done ends every stream; the streams never end otherwise.
	done := make(chan struct{})
	var serve func() error
	var shutdown func()
	switch *kind {
	case kindNetHTTP:
		serve, shutdown = netHTTPStreams(streamLn, done)
	case kindFiber:
		serve, shutdown = fiberStreams(streamLn, done)
	case kindHijack:
		serve, shutdown = hijackedStreams(streamLn, done)
	default:
		return program.Usage(fmt.Errorf("-kind %q is not %s, %s or %s", *kind, kindNetHTTP, kindFiber, kindHijack))
	}
	served := make(chan error, 1)
	go func() { served <- serve() }()
	fmt.Fprintf(out, "ready %s %s\n", streamLn.Addr(), statsLn.Addr())

	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("transport server %s: %w", *kind, err)
	}
	close(done)
	shutdown()
	return nil
}

func serveStats(w http.ResponseWriter, _ *http.Request) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(serverStats{
		Goroutines: runtime.NumGoroutine(), HeapInuse: int64(m.HeapInuse), StackInuse: int64(m.StackInuse),
	})
}

// netHTTPStreams is how the stockfeed streams: the connection's goroutine
// runs the handler, which blocks.
func netHTTPStreams(ln net.Listener, done <-chan struct{}) (serve func() error, shutdown func()) {
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		if _, err := io.WriteString(w, firstEvent); err != nil {
			return
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
		case <-done:
		}
	})}
	return serveHTTP(srv, ln)
}

// hijackedStreams takes the connection over once the request is read,
// writes a response delimited by the connection's end, and hands the
// connection to a goroutine of its own while the handler returns: nothing
// of net/http (buffers, request, background read goroutine, the serving
// goroutine's deep stack) stays with the stream. The price: the server
// notices a viewer leaving only when a write fails (the feed's heartbeats
// bound that), and Shutdown no longer waits for the stream.
func hijackedStreams(ln net.Listener, done <-chan struct{}) (serve func() error, shutdown func()) {
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		// The bufio.ReadWriter Hijack returns is dropped: a GET has no
		// body left to read, and writes go straight to the socket.
		const head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
		go func() {
			defer conn.Close()
			if _, err := io.WriteString(conn, head+firstEvent); err != nil {
				return
			}
			<-done
		}()
	})}
	return serveHTTP(srv, ln)
}

func serveHTTP(srv *http.Server, ln net.Listener) (serve func() error, shutdown func()) {
	return func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		}, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		}
}

// fiberStreams is the way Fiber v2 streams a response: fasthttp runs the
// stream writer in a goroutine of its own, feeding a pipe that the
// connection's worker copies to the socket.
func fiberStreams(ln net.Listener, done <-chan struct{}) (serve func() error, shutdown func()) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/events", func(c *fiber.Ctx) error {
		c.Set("Content-Type", "text/event-stream")
		c.Set("Cache-Control", "no-store")
		c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
			if _, err := w.WriteString(firstEvent); err != nil {
				return
			}
			if err := w.Flush(); err != nil {
				return
			}
			// A stream writer learns that the viewer left only when a
			// write fails; an idle one waits for the server to stop.
			<-done
		})
		return nil
	})
	return func() error { return app.Listener(ln) },
		func() { _ = app.ShutdownWithTimeout(5 * time.Second) }
}
