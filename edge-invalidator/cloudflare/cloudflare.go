// Package cloudflare purges Cloudflare's cache by cache tag
// (POST /zones/{zone}/purge_cache with {"tags":[...]}).
//
// It makes exactly one request per call and reports what the caller needs to
// decide what to do next: the status, Retry-After on 429, and whether the
// failure is worth retrying. Retries, rate limiting and the circuit breaker
// live in the caller (edge-invalidator/purge), which is why this is plain
// net/http rather than cloudflare-go: the SDK retries 429 and 5xx on its own
// schedule, rate-limits on its own, and drops Retry-After from its errors.
package cloudflare

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"livecommerce/internal/cfapi"
)

// DefaultAPIURL is Cloudflare's API.
const DefaultAPIURL = cfapi.DefaultURL

// MaxTags is the most tags one purge call may carry.
const MaxTags = 100

// ErrInvalidConfig wraps every configuration error; all are found before
// any request is made.
var ErrInvalidConfig = errors.New("invalid configuration")

// Config says which zone to purge and how to reach the API.
type Config struct {
	Token      string // API token with Zone > Cache Purge (never printed)
	ZoneID     string // 32 lowercase hex characters
	APIURL     string // DefaultAPIURL when empty
	HTTPClient *http.Client
}

// Client purges one zone.
type Client struct {
	token    string
	endpoint string
	http     *http.Client
}

// Error is a failed purge call.
type Error struct {
	Status     int           // HTTP status; 0 when no answer came back
	RetryAfter time.Duration // from a 429's Retry-After; 0 when absent
	Message    string        // Cloudflare's messages, or the transport error
	err        error
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return "cloudflare: purge: " + e.Message
	}
	return fmt.Sprintf("cloudflare: purge: HTTP %d: %s", e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.err }

// Temporary reports whether the same call may succeed later: no answer, a
// 408, 429 or 5xx, or a 401/403 (a token an operator can still fix; its
// purges are kept meanwhile). Any other answer refuses this batch for good.
func (e *Error) Temporary() bool {
	switch {
	case e.Status == 0, e.Status >= 500:
		return true
	}
	switch e.Status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusUnauthorized, http.StatusForbidden:
		return true
	}
	return false
}

// Wait is how long the server asked to be left alone (429 Retry-After).
func (e *Error) Wait() time.Duration { return e.RetryAfter }

// CheckZoneID accepts a Cloudflare zone id (see cfapi.CheckZoneID).
func CheckZoneID(id string) error {
	if err := cfapi.CheckZoneID(id); err != nil {
		return fmt.Errorf("%w: CLOUDFLARE_ZONE_ID %w", ErrInvalidConfig, err)
	}
	return nil
}

// New checks c and returns a client. It makes no request.
func New(c Config) (*Client, error) {
	if c.Token == "" {
		return nil, fmt.Errorf("%w: CLOUDFLARE_API_TOKEN is not set (a token with Zone > Cache Purge is required)", ErrInvalidConfig)
	}
	if err := cfapi.CheckToken(c.Token); err != nil {
		return nil, fmt.Errorf("%w: CLOUDFLARE_API_TOKEN %w", ErrInvalidConfig, err)
	}
	if err := CheckZoneID(c.ZoneID); err != nil {
		return nil, err
	}
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	base, err := cfapi.CheckURL(c.APIURL)
	if err != nil {
		return nil, fmt.Errorf("%w: CLOUDFLARE_API_URL %w", ErrInvalidConfig, err)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	return &Client{
		token:    c.Token,
		endpoint: base + "/zones/" + c.ZoneID + "/purge_cache",
		http:     hc,
	}, nil
}

type response struct {
	Success bool `json:"success"`
	Errors  []struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

// Purge asks Cloudflare to drop every cached response carrying one of tags.
// It makes one request; a failure is an *Error.
func (c *Client) Purge(ctx context.Context, tags []string) error {
	if len(tags) == 0 {
		return nil
	}
	if len(tags) > MaxTags {
		return &Error{Message: fmt.Sprintf("%d tags, at most %d per call", len(tags), MaxTags)}
	}
	body, err := json.Marshal(struct {
		Tags []string `json:"tags"`
	}{tags})
	if err != nil {
		return &Error{Message: err.Error(), err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return &Error{Message: err.Error(), err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "livecommerce-edge-invalidator")
	res, err := c.http.Do(req)
	if err != nil {
		return &Error{Message: err.Error(), err: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return &Error{Status: res.StatusCode, Message: "reading the answer: " + err.Error(), err: err}
	}
	var r response
	decodeErr := json.Unmarshal(raw, &r)
	if res.StatusCode/100 == 2 && decodeErr == nil && r.Success {
		return nil
	}
	e := &Error{Status: res.StatusCode}
	if res.StatusCode == http.StatusTooManyRequests {
		e.RetryAfter = retryAfter(res.Header.Get("Retry-After"), time.Now())
	}
	var msgs []string
	for _, x := range r.Errors {
		msgs = append(msgs, fmt.Sprintf("%d %s", x.Code, x.Message))
	}
	switch {
	case len(msgs) > 0:
		e.Message = strings.Join(msgs, "; ")
	case decodeErr != nil:
		e.Message = "answer is not the API's JSON"
	default:
		e.Message = "success is false"
	}
	if res.StatusCode/100 == 2 {
		// A 2xx that does not say success: treat as a server fault.
		e.Status = http.StatusBadGateway
	}
	return e
}

// retryAfter reads delay-seconds or an HTTP date; it is capped at 10
// minutes so a bogus header cannot stall purging for good.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, 10*time.Minute))
}
