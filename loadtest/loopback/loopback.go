// Package loopback holds the load tools to this machine: the addresses
// they load and the baselines they serve must be on loopback, so that a
// typo never points a load test at a machine it was not meant for.
package loopback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
)

// CheckAddr accepts host:port on loopback; name is the setting, for the
// error.
func CheckAddr(name, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: %q is not host:port", name, addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%s: %q has no valid port", name, addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s: %q is not on loopback", name, addr)
	}
	return nil
}

// CheckURL accepts an http://host:port URL on loopback, with no path.
func CheckURL(name, raw string) error { return checkURL(name, raw, false) }

// CheckURLWithPath accepts an http URL on loopback with a path, such as a
// readiness URL.
func CheckURLWithPath(name, raw string) error { return checkURL(name, raw, true) }

func checkURL(name, raw string, allowPath bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil || (!allowPath && u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s: %q is not an http://host:port URL", name, raw)
	}
	if p, err := strconv.Atoi(u.Port()); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%s: %q names no port (1-65535)", name, raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s: %q is not on loopback; the load generator only loads this machine", name, raw)
	}
	return nil
}

// Serve serves app on addr until ctx ends, then shuts it down gracefully.
func Serve(ctx context.Context, app *fiber.App, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Listener(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = app.ShutdownWithContext(sctx)
	// A stop that came before Fiber reached its accept loop finds no
	// server to shut down; closing the listener ends that loop either way.
	ln.Close()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}
