// Package adminclient is the HTTP client of the origin's admin API
// (/admin/v1). Idempotent requests (every PUT and GET) are retried on
// timeouts, 5xx and 429 with backoff, honouring Retry-After; a POST is
// retried only on a 429, the one answer that says nothing was done (a 503
// may be the edge giving up on an origin that still commits).
// The API key is sent in the Authorization header and appears in no
// error or message. Redirects are never followed: the key would go
// with the request to wherever the answer points.
package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"livecommerce/internal/retryafter"
	"livecommerce/origin/adminapi"
)

// MaxResponse bounds a response body read into memory.
const MaxResponse = 16 << 20

// Client talks to one origin (or the edge in front of it) as one merchant.
type Client struct {
	base string
	key  string
	http *http.Client
	// Attempts is how many times an idempotent request is tried.
	Attempts int
	// Backoff is the first wait between attempts when the server names
	// none; it doubles each time up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// MaxRetryAfter caps a server's Retry-After.
	MaxRetryAfter time.Duration
	// OnRetry, if set, hears about each retry.
	OnRetry func(attempt int, wait time.Duration, err error)
}

// New returns a client for base (scheme://host[:port][/path]) with a
// timeout per attempt.
func New(base, key string, timeout time.Duration) *Client {
	return &Client{
		base: strings.TrimRight(base, "/"),
		key:  key,
		http: &http.Client{
			Timeout: timeout,
			// The 3xx comes back to once, which refuses it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Attempts:      5,
		Backoff:       250 * time.Millisecond,
		MaxBackoff:    8 * time.Second,
		MaxRetryAfter: 60 * time.Second,
	}
}

// Error is a non-2xx answer in the contract's error shape.
type Error struct {
	Status     int
	Code       string
	Message    string
	Details    []adminapi.RowError
	RetryAfter time.Duration // 0 when the server named none: back off as usual
	// Location is where a 3xx answer pointed, for the message only: shortened,
	// without user name or password; "" when it named nowhere.
	Location string
}

func (e *Error) Error() string {
	if e.Redirect() {
		to := e.Location
		if to == "" {
			to = "nowhere (no Location header)"
		}
		return fmt.Sprintf("HTTP %d redirect to %s, not followed: the API key goes only to the configured origin", e.Status, to)
	}
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d from the server", e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// Redirect reports a 3xx answer, which the client does not follow.
func (e *Error) Redirect() bool { return e.Status/100 == 3 }

// Unauthorized reports a refused API key.
func (e *Error) Unauthorized() bool { return e.Status == http.StatusUnauthorized }

func (e *Error) retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// Sentinel errors, for errors.Is.
var (
	// ErrGaveUp wraps the last error once every attempt has failed.
	ErrGaveUp = errors.New("gave up after retries")
	// ErrNoAnswer is a request that got no HTTP answer: refused, reset,
	// timed out.
	ErrNoAnswer = errors.New("no answer from the server")
)

type request struct {
	method, path string
	body         []byte
	idempotent   bool
}

// do sends r, retrying as the package comment says, and returns the body
// of a 2xx answer.
func (c *Client) do(ctx context.Context, r request) (int, []byte, error) {
	var last error
	attempts := max(c.Attempts, 1)
	for attempt := 1; ; attempt++ {
		status, body, err := c.once(ctx, r)
		if err == nil {
			return status, body, nil
		}
		last = err
		var apiErr *Error
		isAPI := errors.As(err, &apiErr)
		switch {
		case ctx.Err() != nil:
			return 0, nil, err
		case isAPI && !apiErr.retryable():
			return 0, nil, err
		case isAPI && !r.idempotent && apiErr.Status != http.StatusTooManyRequests:
			// Only a 429 says for sure that nothing was done: a 503 may be
			// the edge giving up on an origin that still commits.
			return 0, nil, err
		case !isAPI && !r.idempotent:
			// The request may have been applied; only the caller can tell.
			return 0, nil, err
		}
		if attempt >= attempts {
			return 0, nil, fmt.Errorf("%w (%d attempts): %w", ErrGaveUp, attempt, last)
		}
		wait := c.backoff(attempt)
		if isAPI && apiErr.RetryAfter > 0 {
			wait = min(apiErr.RetryAfter, c.MaxRetryAfter)
		}
		if c.OnRetry != nil {
			c.OnRetry(attempt, wait, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, nil, fmt.Errorf("%w (interrupted while waiting to retry)", last)
		case <-t.C:
		}
	}
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.Backoff << (attempt - 1)
	if d > c.MaxBackoff || d <= 0 {
		d = c.MaxBackoff
	}
	// Full jitter in the upper half keeps many clients from retrying in step.
	return d/2 + rand.N(d/2+1)
}

func (c *Client) once(ctx context.Context, r request) (int, []byte, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.base+r.path, body)
	if err != nil {
		return 0, nil, fmt.Errorf("adminclient: %s %s: %w", r.method, r.path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "merchantctl")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w: %w", r.method, r.path, ErrNoAnswer, scrub(err))
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, MaxResponse+1))
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w: reading the answer: %w", r.method, r.path, ErrNoAnswer, scrub(err))
	}
	if len(b) > MaxResponse {
		return 0, nil, fmt.Errorf("%s %s: answer larger than %d MiB", r.method, r.path, MaxResponse>>20)
	}
	if res.StatusCode/100 == 2 {
		return res.StatusCode, b, nil
	}
	e := decodeError(res, b)
	if e.Redirect() {
		e.Location = location(req.URL, res.Header.Get("Location"))
	}
	return 0, nil, e
}

// maxLocation bounds how much of a Location header a message repeats.
const maxLocation = 200

// location is a redirect's target for a message: resolved against the
// request, without user name or password, and quoted when it holds
// anything a terminal might act on.
func location(from *url.URL, raw string) string {
	if raw == "" {
		return ""
	}
	u, err := from.Parse(raw)
	if err != nil {
		return "an unreadable Location"
	}
	u.User = nil
	s := u.String()
	if len(s) > maxLocation {
		s = s[:maxLocation] + "..."
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x21 || r >= 0x7f }) {
		return fmt.Sprintf("%q", s)
	}
	return s
}

// scrub drops the *url.Error wrapper, whose text repeats the whole URL,
// for a shorter message; the key is never in the URL.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("timed out: %w", ue.Err)
		}
		return ue.Err
	}
	return err
}

func decodeError(res *http.Response, b []byte) *Error {
	e := &Error{Status: res.StatusCode, RetryAfter: retryafter.Parse(res.Header.Get("Retry-After"), time.Now())}
	var body adminapi.Error
	if json.Unmarshal(b, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message, e.Details = body.Error.Code, body.Error.Message, body.Error.Details
	}
	return e
}

// PutLive creates or updates a live; created is true for a new one.
func (c *Client) PutLive(ctx context.Context, live string, in adminapi.LiveBody) (created bool, err error) {
	body, err := json.Marshal(in)
	if err != nil {
		return false, err
	}
	status, _, err := c.do(ctx, request{method: http.MethodPut, path: "/admin/v1/lives/" + url.PathEscape(live), body: body, idempotent: true})
	return status == http.StatusCreated, err
}

// PutProducts upserts rows into a live, all-or-nothing. The upsert is
// idempotent, so it is retried like a GET.
func (c *Client) PutProducts(ctx context.Context, live string, body []byte) ([]adminapi.AppliedProduct, error) {
	_, b, err := c.do(ctx, request{method: http.MethodPut, path: "/admin/v1/lives/" + url.PathEscape(live) + "/products", body: body, idempotent: true})
	if err != nil {
		return nil, err
	}
	var out adminapi.ProductsApplied
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("adminclient: put products: unexpected answer: %w", err)
	}
	return out.Products, nil
}

// EncodeProducts is the request body for PutProducts.
func EncodeProducts(rows []adminapi.ProductRow) ([]byte, error) {
	return json.Marshal(rows)
}

// AdjustStock adds delta (negative to remove) units to a sku.
func (c *Client) AdjustStock(ctx context.Context, sku string, delta int64, reason string) (adminapi.Adjustment, error) {
	body, err := json.Marshal(adminapi.AdjustmentBody{Delta: &delta, Reason: &reason})
	if err != nil {
		return adminapi.Adjustment{}, err
	}
	_, b, err := c.do(ctx, request{method: http.MethodPost, path: "/admin/v1/products/" + url.PathEscape(sku) + "/stock-adjustments", body: body})
	if err != nil {
		return adminapi.Adjustment{}, err
	}
	var a adminapi.Adjustment
	if err := json.Unmarshal(b, &a); err != nil {
		return adminapi.Adjustment{}, fmt.Errorf("adminclient: stock adjustment: unexpected answer: %w", err)
	}
	return a, nil
}

// Report fetches a live's sales report and the raw JSON it came in.
func (c *Client) Report(ctx context.Context, live string) (adminapi.Report, []byte, error) {
	_, b, err := c.do(ctx, request{method: http.MethodGet, path: "/admin/v1/lives/" + url.PathEscape(live) + "/report", idempotent: true})
	if err != nil {
		return adminapi.Report{}, nil, err
	}
	var r adminapi.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return adminapi.Report{}, nil, fmt.Errorf("adminclient: report: unexpected answer: %w", err)
	}
	return r, b, nil
}

// Lives lists the merchant's lives, newest first, and the raw JSON.
func (c *Client) Lives(ctx context.Context) ([]adminapi.LiveSummary, []byte, error) {
	_, b, err := c.do(ctx, request{method: http.MethodGet, path: "/admin/v1/lives", idempotent: true})
	if err != nil {
		return nil, nil, err
	}
	var out adminapi.Lives
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, nil, fmt.Errorf("adminclient: lives: unexpected answer: %w", err)
	}
	return out.Lives, b, nil
}
