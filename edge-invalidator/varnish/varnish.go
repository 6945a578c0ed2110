// Package varnish purges the local edge cache: one or more Varnish servers
// with vmod xkey, whose VCL answers
//
//	PURGE /
//	xkey: sku-A1 live-L1
//
// on its purge listener with 200 and {"purged":N} (N objects removed), 400
// when the xkey header is missing, 403 when the caller is not allowed, and
// 5xx on trouble.
//
// Like the Cloudflare backend it makes one attempt per call and leaves
// retries, pacing and the circuit breaker to edge-invalidator/purge.
package varnish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"livecommerce/internal/baseurl"
	"livecommerce/internal/retryafter"
	"livecommerce/internal/stock"
)

// MaxTags is the most tags one call carries: the VCL's contract, and it
// keeps the xkey header far below Varnish's header size limit.
const MaxTags = 100

// MaxEdges bounds the list of edges, so a malformed setting cannot fan a
// call out to thousands of requests.
const MaxEdges = 32

// DefaultTimeout bounds a call when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// ErrInvalidConfig wraps every configuration error; all are found before
// any request is made.
var ErrInvalidConfig = errors.New("varnish: invalid configuration")

// ErrInvalidTags refuses a batch before any request: a tag the xkey header
// cannot carry, or too many of them.
var ErrInvalidTags = errors.New("invalid tags")

// Config lists the edges and bounds the calls.
type Config struct {
	// URLs are the base URLs of the edges' purge listeners, such as
	// http://127.0.0.1:8001 (VARNISH_PURGE_URLS).
	URLs []string
	// Timeout bounds a whole call, every edge included (DefaultTimeout
	// when zero).
	Timeout time.Duration
}

// Client purges every configured edge.
type Client struct {
	edges   []string // "{scheme}://{host}/" of each edge
	timeout time.Duration
	http    *http.Client
}

// New checks c and returns a client. It makes no request.
func New(c Config) (*Client, error) {
	if len(c.URLs) == 0 {
		return nil, fmt.Errorf("%w: VARNISH_PURGE_URLS is empty: list at least one edge", ErrInvalidConfig)
	}
	if len(c.URLs) > MaxEdges {
		return nil, fmt.Errorf("%w: VARNISH_PURGE_URLS lists %d edges, at most %d", ErrInvalidConfig, len(c.URLs), MaxEdges)
	}
	if c.Timeout < 0 {
		return nil, fmt.Errorf("%w: PURGE_CALL_TIMEOUT %v is negative", ErrInvalidConfig, c.Timeout)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	edges := make([]string, len(c.URLs))
	var errs []error
	for i, raw := range c.URLs {
		u, err := checkURL(raw)
		if err != nil {
			// The value is not repeated: it may carry a password.
			errs = append(errs, fmt.Errorf("%w: VARNISH_PURGE_URLS entry %d %w", ErrInvalidConfig, i+1, err))
		}
		edges[i] = u
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Edges are reached directly: through a proxy the edge would see the
	// proxy as the caller, and its purge ACL would refuse it.
	tr.Proxy = nil
	tr.MaxIdleConnsPerHost = 4
	return &Client{
		edges:   edges,
		timeout: c.Timeout,
		http: &http.Client{
			Transport: tr,
			// A purge listener never redirects; following one would send
			// the purge somewhere nobody configured.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// checkURL accepts http(s)://host[:port] with at most a "/" path, and
// returns the URL a purge is sent to.
func checkURL(raw string) (string, error) {
	u, err := baseurl.Check(raw, false)
	if err != nil {
		return "", err
	}
	return u + "/", nil
}

// Purge asks every edge, concurrently, to drop the objects carrying one of
// tags. It succeeds only when every edge accepted; a failure is an *Error.
// Resending to all edges on a retry is harmless: a purge is idempotent.
func (c *Client) Purge(ctx context.Context, tags []string) error {
	if len(tags) == 0 {
		return nil
	}
	if err := checkTags(tags); err != nil {
		return &Error{Edges: len(c.edges), err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	xkey := strings.Join(tags, " ")
	failures := make([]*EdgeError, len(c.edges))
	var wg sync.WaitGroup
	for i, edge := range c.edges {
		wg.Go(func() { failures[i] = c.purgeOne(ctx, edge, xkey) })
	}
	wg.Wait()
	e := &Error{Edges: len(c.edges)}
	for _, f := range failures {
		if f != nil {
			e.Failed = append(e.Failed, *f)
		}
	}
	if len(e.Failed) == 0 {
		return nil
	}
	return e
}

// checkTags refuses what would break the space-separated header or the
// edge's xkey rule: the purge pipeline only builds tags from validated ids,
// so this is a guard against a bug, not input handling.
func checkTags(tags []string) error {
	if len(tags) > MaxTags {
		return fmt.Errorf("%w: %d tags, at most %d per call", ErrInvalidTags, len(tags), MaxTags)
	}
	for _, t := range tags {
		if _, _, ok := stock.ParseTag(t); !ok {
			return fmt.Errorf("%w: %q is not sku-{id} or live-{id}", ErrInvalidTags, truncate(t, 80))
		}
	}
	return nil
}

func (c *Client) purgeOne(ctx context.Context, edge, xkey string) *EdgeError {
	req, err := http.NewRequestWithContext(ctx, "PURGE", edge, nil)
	if err != nil {
		return &EdgeError{URL: edge, Message: err.Error(), Err: err}
	}
	req.Header.Set("xkey", xkey)
	req.Header.Set("User-Agent", "livecommerce-edge-invalidator")
	res, err := c.http.Do(req)
	if err != nil {
		return &EdgeError{URL: edge, Message: err.Error(), Err: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	if err != nil {
		return &EdgeError{URL: edge, Status: res.StatusCode, Message: "reading the answer: " + err.Error(), Err: err}
	}
	if res.StatusCode == http.StatusOK {
		var ans struct {
			Purged *int64 `json:"purged"`
		}
		if json.Unmarshal(raw, &ans) == nil && ans.Purged != nil {
			return nil
		}
		// A 200 without the contract's body is not the purge VCL talking
		// (a purge passed to the origin, say): count it as a server fault
		// so the purge is kept and retried, not believed done.
		return &EdgeError{URL: edge, Status: http.StatusBadGateway,
			Message: fmt.Sprintf("200 without {\"purged\":N}: %q", truncate(string(raw), 200))}
	}
	e := &EdgeError{URL: edge, Status: res.StatusCode, Message: fmt.Sprintf("%q", truncate(strings.TrimSpace(string(raw)), 200))}
	if res.StatusCode == http.StatusTooManyRequests {
		e.RetryAfter = retryafter.Parse(res.Header.Get("Retry-After"), time.Now())
	}
	return e
}

func truncate(s string, n int) string {
	if len(s) > n {
		s = s[:n] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// EdgeError is one edge's refusal or silence.
type EdgeError struct {
	URL        string        // the purge URL of the edge
	Status     int           // HTTP status; 0 when no answer came back
	RetryAfter time.Duration // from a 429's Retry-After; 0 when absent
	Message    string        // the edge's answer, or the transport error
	Err        error         // the transport error, if any
}

// Temporary reports whether the edge may accept the same call later: no
// answer (network error, timeout), a 408, 429 or 5xx, and also a 401, 403,
// 404 or 405: those say the invalidator is pointed at the wrong listener or
// refused by the edge's ACL, which an operator fixes, and dropping the
// purges meanwhile would lose them for good. Only a 400 (or another 4xx)
// refuses this batch itself.
func (e EdgeError) Temporary() bool {
	switch e.Status {
	case 0, http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed:
		return true
	}
	return e.Status >= 500
}

func (e EdgeError) String() string {
	if e.Status == 0 {
		return e.URL + ": " + e.Message
	}
	return fmt.Sprintf("%s: HTTP %d: %s", e.URL, e.Status, e.Message)
}

// Error is a purge call that not every edge accepted, or a batch refused
// before any request.
type Error struct {
	Edges  int         // edges the call was for
	Failed []EdgeError // the edges that did not accept it
	err    error       // wraps ErrInvalidTags when nothing was sent
}

func (e *Error) Error() string {
	if e.err != nil {
		return "varnish: purge: " + e.err.Error()
	}
	msgs := make([]string, len(e.Failed))
	for i, f := range e.Failed {
		msgs[i] = f.String()
	}
	return fmt.Sprintf("varnish: purge: %d of %d edges did not accept it: %s", len(e.Failed), e.Edges, strings.Join(msgs, "; "))
}

// Unwrap exposes the transport errors (context.DeadlineExceeded on a
// timeout) and ErrInvalidTags.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.err != nil {
		errs = append(errs, e.err)
	}
	for _, f := range e.Failed {
		if f.Err != nil {
			errs = append(errs, f.Err)
		}
	}
	return errs
}

// Temporary reports whether sending the same call again may succeed: only
// when every failing edge failed temporarily. One edge refusing for good
// means the call can never succeed everywhere, and retrying it would hold
// every later purge back.
func (e *Error) Temporary() bool {
	if e.err != nil || len(e.Failed) == 0 {
		return false
	}
	for _, f := range e.Failed {
		if !f.Temporary() {
			return false
		}
	}
	return true
}

// Wait is the longest Retry-After among the edges that answered 429.
func (e *Error) Wait() time.Duration {
	var d time.Duration
	for _, f := range e.Failed {
		d = max(d, f.RetryAfter)
	}
	return d
}
