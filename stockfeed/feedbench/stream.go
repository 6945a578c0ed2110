package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"livecommerce/internal/sseclient"
)

// stream is one event stream opened with a minimal HTTP/1.1 client: a
// connection, one request, and the response body read by the caller's
// goroutine. net/http's client would add a read and a write goroutine per
// connection, which at 10,000 streams costs the bench memory and CPU that
// it would rather leave to the server it measures. Both the feed run and
// the transport comparison use it, so both servers meet the same client.
type stream struct {
	conn net.Conn
	r    *sseclient.Reader
}

// openStream connects to addr, requests path and checks for a 200
// text/event-stream response. The whole exchange, and whatever the caller
// reads before calling ready, is bounded by timeout.
func openStream(ctx context.Context, addr, path string, timeout time.Duration) (*stream, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("set deadline: %w", err)
	}
	// What a browser's EventSource sends, less the cookies.
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr +
		"\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\nUser-Agent: feedbench\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, fmt.Errorf("send request: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 4096), nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		conn.Close()
		return nil, fmt.Errorf("status %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		conn.Close()
		return nil, fmt.Errorf("content type %q, want text/event-stream", ct)
	}
	return &stream{conn: conn, r: sseclient.NewReader(resp.Body)}, nil
}

// ready lifts the connect timeout: from now on the stream may stay quiet
// for as long as the server likes.
func (s *stream) ready() error {
	if err := s.conn.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("clear deadline: %w", err)
	}
	return nil
}

// closeOn closes the stream when ctx ends, which ends a blocked read; the
// returned function stops that.
func (s *stream) closeOn(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, func() { s.conn.Close() })
}

// nextEvent returns the next block that carries data, skipping retry hints
// and heartbeat comments.
func (s *stream) nextEvent() (sseclient.Block, error) {
	for {
		b, err := s.r.Next()
		if err != nil || b.Type != "" {
			return b, err
		}
	}
}

// ramp opens n streams with at most conc connecting at a time; open(i)
// returns once stream i is connected (or failed), leaving a goroutine to
// read it. It returns each stream's error, nil for those that connected.
func ramp(ctx context.Context, n, conc int, open func(ctx context.Context, i int) error) []error {
	errs := make([]error, n)
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			for j := i; j < n; j++ {
				errs[j] = ctx.Err()
			}
			wg.Wait()
			return errs
		}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = open(ctx, i)
		})
	}
	wg.Wait()
	return errs
}
