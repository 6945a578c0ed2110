package cacherules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cloudflare/cloudflare-go"

	"livecommerce/internal/cfapi"
)

// DefaultAPIURL is Cloudflare's API.
const DefaultAPIURL = cfapi.DefaultURL

// ErrInvalidConfig wraps every configuration error, all of them found
// before any request is made.
var ErrInvalidConfig = errors.New("invalid configuration")

// Config says which zone to manage and how to reach the API.
type Config struct {
	Token  string // API token with Zone > Cache Rules > Edit (never printed)
	ZoneID string
	APIURL string // DefaultAPIURL when empty
	// Retries of a request that failed with 429 or 5xx, RetryDelay apart
	// at first and doubling (cloudflare-go counts whole seconds).
	Retries    int
	RetryDelay time.Duration
	// RequestsPerSecond limits the client (cloudflare-go's 4 when zero).
	RequestsPerSecond float64
	HTTPClient        *http.Client // http.DefaultClient when nil
}

// Client reads and writes a zone's cache-settings entrypoint ruleset.
type Client struct {
	api  *cloudflare.API
	path string
}

// CheckZoneID accepts a Cloudflare zone id (see cfapi.CheckZoneID).
func CheckZoneID(id string) error {
	if err := cfapi.CheckZoneID(id); err != nil {
		return fmt.Errorf("%w: zone id %w", ErrInvalidConfig, err)
	}
	return nil
}

// CheckToken accepts an API token (see cfapi.CheckToken); the message
// never repeats the token.
func CheckToken(token string) error {
	if err := cfapi.CheckToken(token); err != nil {
		return fmt.Errorf("%w: API token %w", ErrInvalidConfig, err)
	}
	return nil
}

// CheckAPIURL accepts the API's base URL (see cfapi.CheckURL) and returns
// it without a trailing slash.
func CheckAPIURL(raw string) (string, error) {
	base, err := cfapi.CheckURL(raw)
	if err != nil {
		return "", fmt.Errorf("%w: API URL %w", ErrInvalidConfig, err)
	}
	return base, nil
}

// New checks c and returns a client. It makes no request.
func New(c Config) (*Client, error) {
	if err := CheckToken(c.Token); err != nil {
		return nil, err
	}
	if err := CheckZoneID(c.ZoneID); err != nil {
		return nil, err
	}
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	base, err := CheckAPIURL(c.APIURL)
	if err != nil {
		return nil, err
	}
	if c.Retries < 0 || c.RetryDelay < 0 || c.RequestsPerSecond < 0 {
		return nil, fmt.Errorf("%w: retries, retry delay and request rate cannot be negative", ErrInvalidConfig)
	}
	delay := int(c.RetryDelay / time.Second)
	opts := []cloudflare.Option{
		cloudflare.BaseURL(base),
		cloudflare.UsingRetryPolicy(c.Retries, delay, max(delay, 30)),
		cloudflare.UserAgent("livecommerce-cdn-config"),
	}
	if c.RequestsPerSecond > 0 {
		opts = append(opts, cloudflare.UsingRateLimit(c.RequestsPerSecond))
	}
	if c.HTTPClient != nil {
		opts = append(opts, cloudflare.HTTPClient(c.HTTPClient))
	}
	api, err := cloudflare.NewWithAPIToken(c.Token, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return &Client{
		api:  api,
		path: "/zones/" + c.ZoneID + "/rulesets/phases/" + Phase + "/entrypoint",
	}, nil
}

// wireRuleset is the ruleset as the API sends it.
type wireRuleset struct {
	Name        string             `json:"name"`
	Description string             `json:"description"`
	Phase       string             `json:"phase"`
	Rules       *[]json.RawMessage `json:"rules"`
}

// Entrypoint reads the zone's cache-settings ruleset. A zone without one
// yet gives a Ruleset with Exists false.
//
// It goes through cloudflare-go's Raw rather than GetEntrypointRuleset so
// that rules of others keep the fields the SDK's types do not know.
func (c *Client) Entrypoint(ctx context.Context) (Ruleset, error) {
	res, err := c.api.Raw(ctx, http.MethodGet, c.path, nil, nil)
	var notFound *cloudflare.NotFoundError
	if errors.As(err, &notFound) {
		return Ruleset{}, nil
	}
	if err != nil {
		return Ruleset{}, fmt.Errorf("cacherules: read the %s ruleset: %w", Phase, err)
	}
	return decodeResult("read the "+Phase+" ruleset", res)
}

// Write replaces the rules of the entrypoint ruleset (creating it if need
// be) and returns what Cloudflare stored.
func (c *Client) Write(ctx context.Context, name, description string, rules []json.RawMessage) (Ruleset, error) {
	if rules == nil {
		rules = []json.RawMessage{} // "rules": null would be rejected
	}
	body, err := json.Marshal(struct {
		Name        string            `json:"name,omitempty"`
		Description string            `json:"description,omitempty"`
		Rules       []json.RawMessage `json:"rules"`
	}{name, description, rules})
	if err != nil {
		return Ruleset{}, fmt.Errorf("cacherules: encode the %s ruleset: %w", Phase, err)
	}
	res, err := c.api.Raw(ctx, http.MethodPut, c.path, body, nil)
	if err != nil {
		return Ruleset{}, fmt.Errorf("cacherules: write the %s ruleset: %w", Phase, err)
	}
	return decodeResult("write the "+Phase+" ruleset", res)
}

func decodeResult(op string, res cloudflare.RawResponse) (Ruleset, error) {
	if !res.Success {
		msgs := make([]string, 0, len(res.Errors))
		for _, e := range res.Errors {
			msgs = append(msgs, fmt.Sprintf("%s (%d)", e.Message, e.Code))
		}
		return Ruleset{}, fmt.Errorf("cacherules: %s: API answered success=false: %s", op, strings.Join(msgs, ", "))
	}
	if r := strings.TrimSpace(string(res.Result)); r == "" || r == "null" {
		return Ruleset{}, fmt.Errorf("cacherules: %s: the API answered without a result", op)
	}
	var w wireRuleset
	if err := json.Unmarshal(res.Result, &w); err != nil {
		return Ruleset{}, fmt.Errorf("cacherules: %s: unexpected result: %w", op, err)
	}
	if w.Rules == nil {
		// An entrypoint with no rules is sent without "rules".
		w.Rules = &[]json.RawMessage{}
	}
	if w.Phase != "" && w.Phase != Phase {
		return Ruleset{}, fmt.Errorf("cacherules: %s: got a ruleset of phase %q", op, w.Phase)
	}
	return Ruleset{Exists: true, Name: w.Name, Description: w.Description, Rules: *w.Rules}, nil
}
