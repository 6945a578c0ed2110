// Package feedclient is a live page as a load tool sees it: an event
// stream of the stockfeed opened with a minimal HTTP/1.1 client, and the
// stock changes read from it. The feed's own benchmark (stockfeed/feedbench)
// and the system's load generator (origin/loadgen) both use it, so every
// measurement of the feed meets the same client.
package feedclient

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"livecommerce/internal/sseclient"
)

// Stream is one open event stream: a connection, one request, and the
// response body read by the caller's goroutine. net/http's client would add
// a read and a write goroutine per connection, which at thousands of
// streams costs the tool memory and CPU it would rather leave to the
// servers it measures.
type Stream struct {
	conn net.Conn
	r    *sseclient.Reader
}

// Open connects to addr, requests path with the extra header fields (a
// load tool's X-Forwarded-For, say) and checks for a 200 text/event-stream
// response. The whole exchange, and whatever the caller reads before
// calling Ready, is bounded by timeout.
func Open(ctx context.Context, addr, path string, header http.Header, timeout time.Duration) (*Stream, error) {
	var extra strings.Builder
	for k, vs := range header {
		for _, v := range vs {
			// A CR or LF would let a value start a header or request of its own.
			if strings.ContainsAny(k, "\r\n: ") || strings.ContainsAny(v, "\r\n") {
				return nil, fmt.Errorf("header %q: name or value holds a line break", k)
			}
			extra.WriteString(k + ": " + v + "\r\n")
		}
	}
	if strings.ContainsAny(path, "\r\n ") || !strings.HasPrefix(path, "/") {
		return nil, errors.New("path must start with / and hold no spaces or line breaks")
	}
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
		"\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\nUser-Agent: livecommerce-feedclient\r\n" +
		extra.String() + "\r\n"
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
	return &Stream{conn: conn, r: sseclient.NewReader(resp.Body)}, nil
}

// Ready lifts the connect timeout: from now on the stream may stay quiet
// for as long as the server likes.
func (s *Stream) Ready() error {
	if err := s.conn.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("clear deadline: %w", err)
	}
	return nil
}

// CloseOn closes the stream when ctx ends, which ends a blocked read; the
// returned function stops that.
func (s *Stream) CloseOn(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, func() { s.conn.Close() })
}

// Close closes the connection.
func (s *Stream) Close() error { return s.conn.Close() }

// Next returns the next block, heartbeats and retry hints included.
func (s *Stream) Next() (sseclient.Block, error) { return s.r.Next() }

// NextEvent returns the next block that carries data, skipping retry hints
// and heartbeat comments.
func (s *Stream) NextEvent() (sseclient.Block, error) {
	for {
		b, err := s.r.Next()
		if err != nil || b.Type != "" {
			return b, err
		}
	}
}

// Ramp opens n streams with at most conc connecting at a time; open(i)
// returns once stream i is connected (or failed), leaving a goroutine to
// read it. It returns each stream's error, nil for those that connected.
func Ramp(ctx context.Context, n, conc int, open func(ctx context.Context, i int) error) []error {
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
