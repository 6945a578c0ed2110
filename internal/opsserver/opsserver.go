// Package opsserver serves a service's operational routes (/healthz,
// /readyz with every dependency's state, /metrics, and Go's profiler under
// /debug/pprof/) on a listener of its own. Kept off the public listener,
// they never answer through the edge or the CDN: the counters, breaker
// states, dependency names and profiles they carry are for operators,
// Prometheus, the orchestrator's probes and the load test only.
package opsserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Report is one readiness check: each dependency's state, and why the
// service is not ready (empty when it is).
type Report struct {
	Checks  map[string]string
	Problem string
}

// Ready reports whether the service can serve.
type Ready func(ctx context.Context) Report

// checkTimeout bounds one readiness check.
const checkTimeout = time.Second

// Handler routes /healthz, /readyz, /metrics and the profiler
// (Profiler); anything else is 404, and any method but GET and HEAD is 405.
func Handler(reg *prometheus.Registry, ready Ready) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/healthz", getOnly(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	mux.Handle("/readyz", getOnly(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
		defer cancel()
		rep := ready(ctx)
		if rep.Problem != "" {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{
				"error":  map[string]string{"code": "unavailable", "message": rep.Problem},
				"checks": rep.Checks,
			})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "checks": rep.Checks})
	}))
	mux.Handle("/metrics", getOnly(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP))
	mux.Handle(ProfilerPath, Profiler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "the ops listener serves /healthz, /readyz, /metrics and /debug/pprof/")
	})
	return mux
}

// ProfilerPath is where Profiler is mounted.
const ProfilerPath = "/debug/pprof/"

// Profiler serves Go's profiles under ProfilerPath: the index, profile
// (CPU, ?seconds=N, 30 by default), trace, symbol, and the named profiles
// (heap, allocs, goroutine, block, mutex, threadcreate). It belongs on an
// ops listener only: a profile shows the code's hot paths and a heap
// profile can hold pieces of requests. The handlers are mounted one by
// one rather than through the package's registration on
// http.DefaultServeMux, which no server of this module serves. cmdline is
// left out: a flag such as --mysql-dsn may carry a password. A CPU profile
// may run longer than the listener's WriteTimeout: the handler moves its
// own write deadline.
func Profiler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(ProfilerPath, getOnly(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == ProfilerPath+"cmdline" {
			writeError(w, http.StatusNotFound, "not_found", "cmdline is not served: flags may carry secrets")
			return
		}
		pprof.Index(w, r)
	}))
	mux.Handle(ProfilerPath+"profile", getOnly(pprof.Profile))
	mux.Handle(ProfilerPath+"trace", getOnly(pprof.Trace))
	// Symbol takes the addresses to look up in a POST body.
	mux.HandleFunc(ProfilerPath+"symbol", pprof.Symbol)
	return mux
}

func getOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "invalid_request", "only GET is allowed here")
			return
		}
		h(w, r)
	})
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Server is a running ops listener.
type Server struct {
	http   *http.Server
	ln     net.Listener
	served chan error
	log    *slog.Logger
}

// Listen opens the ops listener on addr; Serve starts serving on it.
// setting names the address's setting in errors. Opening first lets a
// service fail at start on a taken port before it builds the handler.
func Listen(addr, setting string, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", setting, addr, err)
	}
	return &Server{
		// Timeouts on every step, so no client can hold a connection, or
		// the shutdown that waits for it, for long.
		http: &http.Server{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
			IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)},
		ln: ln, served: make(chan error, 1), log: log,
	}, nil
}

// Serve serves h in the background until Shutdown.
func (s *Server) Serve(h http.Handler) {
	s.http.Handler = h
	go func() {
		err := s.http.Serve(s.ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.served <- err
	}()
	s.log.Info("ops listener up", slog.String("addr", s.ln.Addr().String()))
}

// Addr is the address the ops routes are served on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Done reports the listener stopping on its own.
func (s *Server) Done() <-chan error { return s.served }

// shutdownFor bounds the wait for the ops requests in flight at shutdown.
const shutdownFor = 2 * time.Second

// Shutdown stops the listener, served or not, waiting at most a couple of
// seconds (less if ctx says so) for requests in flight; connections still
// open then are closed. It goes last in a service's shutdown, so that
// metrics stay readable while the service drains, when ctx may already
// have run out: the wait has a budget of its own.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.http.Handler == nil {
		return s.ln.Close()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownFor)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		s.http.Close()
		return fmt.Errorf("opsserver: shutdown: %w", err)
	}
	return nil
}
