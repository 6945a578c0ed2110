// Package cloudflare purges Cloudflare's cache through cloudflare-go
// (POST /zones/{zone}/purge_cache), by cache tag ({"tags":[...]}) or, on
// plans without tag purge, by the URLs the tags stand for
// ({"files":[...]}).
//
// It makes exactly one request per call and reports what the caller needs to
// decide what to do next: the status, Retry-After on 429, and whether the
// failure is worth retrying. Retries, rate limiting and the circuit breaker
// live in the caller (edge-invalidator/purge), so the SDK is set to make one
// attempt and not to pace calls, and the Retry-After it drops from its
// errors is read at the transport (see transport.go).
package cloudflare

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	cf "github.com/cloudflare/cloudflare-go"
	"golang.org/x/time/rate"

	"livecommerce/internal/baseurl"
	"livecommerce/internal/cfapi"
	"livecommerce/internal/stock"
)

// DefaultAPIURL is Cloudflare's API.
const DefaultAPIURL = cfapi.DefaultURL

// MaxTags is the most tags one purge call may carry.
const MaxTags = 100

// MaxURLs is the most URLs one purge call may carry: Cloudflare documents
// 30 per call on the Free, Pro and Business plans (500 on Enterprise,
// which has tag purge anyway).
const MaxURLs = 30

// DefaultTimeout bounds a call when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Mode is what a purge call names: cache tags or URLs.
type Mode string

const (
	ByTags Mode = "tags" // Cache-Tag purge, the default
	ByURLs Mode = "urls" // single-file purge, for plans without tag purge
)

// ErrInvalidConfig wraps every configuration error; all are found before
// any request is made.
var ErrInvalidConfig = errors.New("cloudflare: invalid configuration")

// ErrInvalidTags refuses a batch before any request: a tag that is not
// sku-{id} or live-{id}, or too many of them.
var ErrInvalidTags = errors.New("invalid tags")

// Config says which zone to purge and how to reach the API.
type Config struct {
	Token  string // API token with Zone > Cache Purge (never printed)
	ZoneID string // 32 lowercase hex characters
	APIURL string // DefaultAPIURL when empty
	// PurgeBy is ByTags (when empty) or ByURLs (CLOUDFLARE_PURGE_BY).
	PurgeBy Mode
	// SiteURL is the public site, such as https://shop.example.com, whose
	// URLs ByURLs purges (CLOUDFLARE_SITE_URL).
	SiteURL string
	// Timeout bounds one call (DefaultTimeout when zero).
	Timeout    time.Duration
	HTTPClient *http.Client // its Transport is wrapped, not changed
}

// Client purges one zone.
type Client struct {
	api     *cf.API
	zoneID  string
	mode    Mode
	site    string
	timeout time.Duration
}

// CheckZoneID accepts a Cloudflare zone id (see cfapi.CheckZoneID).
func CheckZoneID(id string) error {
	if err := cfapi.CheckZoneID(id); err != nil {
		return fmt.Errorf("%w: CLOUDFLARE_ZONE_ID %w", ErrInvalidConfig, err)
	}
	return nil
}

// New checks c and returns a client. It makes no request. Every bad
// setting is reported at once.
func New(c Config) (*Client, error) {
	var errs []error
	if c.Token == "" {
		errs = append(errs, fmt.Errorf("%w: CLOUDFLARE_API_TOKEN is not set (a token with Zone > Cache Purge is required)", ErrInvalidConfig))
	} else if err := cfapi.CheckToken(c.Token); err != nil {
		errs = append(errs, fmt.Errorf("%w: CLOUDFLARE_API_TOKEN %w", ErrInvalidConfig, err))
	}
	if err := CheckZoneID(c.ZoneID); err != nil {
		errs = append(errs, err)
	}
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	base, err := cfapi.CheckURL(c.APIURL)
	if err != nil {
		errs = append(errs, fmt.Errorf("%w: CLOUDFLARE_API_URL %w", ErrInvalidConfig, err))
	}
	switch c.PurgeBy {
	case "":
		c.PurgeBy = ByTags
	case ByTags, ByURLs:
	default:
		errs = append(errs, fmt.Errorf("%w: CLOUDFLARE_PURGE_BY %.40q is neither %q nor %q", ErrInvalidConfig, c.PurgeBy, ByTags, ByURLs))
	}
	var site string
	if c.SiteURL != "" {
		if site, err = CheckSiteURL(c.SiteURL); err != nil {
			errs = append(errs, err)
		}
	} else if c.PurgeBy == ByURLs {
		errs = append(errs, fmt.Errorf("%w: CLOUDFLARE_SITE_URL is not set: purging by URL needs the public site, such as https://shop.example.com", ErrInvalidConfig))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%w: PURGE_CALL_TIMEOUT %v is negative", ErrInvalidConfig, c.Timeout))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	var hc http.Client
	if c.HTTPClient != nil {
		hc = *c.HTTPClient
	}
	hc.Transport = recorder{next: hc.Transport}
	api, err := cf.NewWithAPIToken(c.Token,
		cf.BaseURL(base),
		cf.HTTPClient(&hc),
		cf.UserAgent("livecommerce-edge-invalidator"),
		// No retries: the SDK runs attempts 0..MaxRetries, so 0 is exactly
		// one request; the purge sender retries on its own schedule.
		cf.UsingRetryPolicy(0, 0, 0),
		// No pacing either: the sender's token bucket follows the plan's
		// purge allowance; a second limiter would only add delay.
		cf.UsingRateLimit(float64(rate.Inf)),
	)
	if err != nil {
		return nil, fmt.Errorf("cloudflare: api client: %w", err)
	}
	return &Client{api: api, zoneID: c.ZoneID, mode: c.PurgeBy, site: site, timeout: c.Timeout}, nil
}

// CheckSiteURL accepts http(s)://host[:port] with at most a "/" path and
// returns it without the slash. The error never repeats the value: it may
// carry a password.
func CheckSiteURL(raw string) (string, error) {
	site, err := baseurl.Check(raw, false)
	if err != nil {
		return "", fmt.Errorf("%w: CLOUDFLARE_SITE_URL %w (want https://host[:port]; the stock reads live at /v1/...)", ErrInvalidConfig, err)
	}
	return site, nil
}

// MaxTags is the most tags one call may carry in this client's mode: each
// tag becomes one URL when purging by URL.
func (c *Client) MaxTags() int {
	if c.mode == ByURLs {
		return MaxURLs
	}
	return MaxTags
}

// request builds the API request for tags, refusing any tag that is not
// sku-{id} or live-{id}: in URL mode it becomes part of a URL, and in
// either mode the purge pipeline builds nothing else.
func (c *Client) request(tags []string) (cf.PurgeCacheRequest, error) {
	if len(tags) > c.MaxTags() {
		return cf.PurgeCacheRequest{}, fmt.Errorf("%w: %d tags, at most %d per call", ErrInvalidTags, len(tags), c.MaxTags())
	}
	var files []string
	for _, tag := range tags {
		path, ok := tagPath(tag)
		if !ok {
			return cf.PurgeCacheRequest{}, fmt.Errorf("%w: %.80q is not sku-{id} or live-{id}", ErrInvalidTags, tag)
		}
		if c.mode == ByURLs {
			files = append(files, c.site+path)
		}
	}
	if c.mode == ByURLs {
		return cf.PurgeCacheRequest{Files: files}, nil
	}
	return cf.PurgeCacheRequest{Tags: tags}, nil
}

// tagPath is the path of the stock read that carries tag. The edge's cache
// key ignores the query string, so purging the bare URL covers every
// cached variant. Ids are [A-Za-z0-9_-]: nothing to escape.
func tagPath(tag string) (string, bool) {
	sku, live, ok := stock.ParseTag(tag)
	switch {
	case !ok:
		return "", false
	case sku != "":
		return "/v1/products/" + sku + "/stock", true
	}
	return "/v1/lives/" + live + "/stock", true
}

// Purge asks Cloudflare to drop every cached response carrying one of tags
// (or at the URLs they stand for). It makes one request, bounded by the
// configured timeout; a failure is an *Error.
func (c *Client) Purge(ctx context.Context, tags []string) error {
	if len(tags) == 0 {
		return nil
	}
	req, err := c.request(tags)
	if err != nil {
		return &Error{Message: err.Error(), err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ans := new(answer)
	res, err := c.api.PurgeCache(context.WithValue(ctx, answerKey{}, ans), c.zoneID, req)
	if err == nil && res.Success {
		return nil
	}
	return failure(ans, res, err)
}

// failure maps what the SDK and the transport saw to an *Error.
func failure(ans *answer, res cf.PurgeCacheResponse, err error) *Error {
	e := &Error{Status: ans.status, RetryAfter: ans.retryAfter, err: err}
	var apiErr *cf.Error
	switch {
	case err == nil:
		// A 2xx whose body does not say success.
		e.Message = messages(res.Errors, "success is false")
	case errors.As(err, &apiErr):
		// A 4xx other than 429 that the SDK decoded (RequestError,
		// AuthenticationError, AuthorizationError, NotFoundError): its
		// messages are the API's. With no retries left, a 429 or 5xx never
		// becomes a RatelimitError or ServiceError.
		e.Status = apiErr.StatusCode
		e.Message = messages(apiErr.Errors, err.Error())
	case ans.body != nil:
		// A 429 or 5xx on the last allowed attempt: the SDK reports only
		// "please try again later", the body kept at the transport has the
		// API's messages.
		e.Message = messages(decodeErrors(ans.body), err.Error())
	default:
		// No answer (status 0), or one the SDK could not read.
		e.Message = err.Error()
	}
	if e.Status/100 == 2 {
		// A 2xx that does not say success: treat as a server fault.
		e.Status = http.StatusBadGateway
	}
	return e
}

func messages(infos []cf.ResponseInfo, fallback string) string {
	if len(infos) == 0 {
		return fallback
	}
	msgs := make([]string, len(infos))
	for i, x := range infos {
		msgs[i] = fmt.Sprintf("%d %s", x.Code, x.Message)
	}
	return strings.Join(msgs, "; ")
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
// purges are kept meanwhile). Any other answer, or a batch refused before
// sending (ErrInvalidTags), refuses this batch for good.
func (e *Error) Temporary() bool {
	if errors.Is(e.err, ErrInvalidTags) {
		return false
	}
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
